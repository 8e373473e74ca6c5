//! The node: one task (the driver) owns the consensus core and the store;
//! everything else talks to it over bounded channels.
//!
//! Each driver cycle gathers every input that is ready (client commands,
//! peer messages, due timers), feeds them to the core, seals this node's
//! votes and hands the cycle's persists to the store; the cycle's visible
//! outputs (sends, events, replies, answers) wait until that write is
//! durable. So a lock is on disk before its vote leaves, and a transaction is
//! final on disk before anyone is told (PROTOCOL.md §4, §5).
//!
//! The driver never waits on the disk itself: one write (one atomic batch,
//! one flush) is in flight at a time while the driver goes on admitting,
//! verifying and tallying; the persists of the cycles that run meanwhile
//! queue up and become the next write (group commit across cycles). Visible
//! outputs are released strictly in cycle order, each once every persist
//! issued up to its cycle is durable.
//!
//! The single-masternode dev chain and an N-node cluster run this same code:
//! with a committee of one, the node's own vote batch is a quorum.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, error, info, warn};

use consensus::message::MAX_BLOCKS_PER_MESSAGE;
use consensus::{
    ConsensusInfo, Core, CoreConfig, Event, Input, MempoolInfo, Message, Millis, Origin, Output,
    PersistOp, SubmitOutcome, Timer, TxStatus,
};
use net::cpu::{CpuCounter, metered};
use protocol::commitment::Element;
use protocol::finality::PendingVote;
use protocol::{AddressPayload, Genesis, NodeId, OutPoint, SecretKey, Transaction, TxId, TxOut};

use crate::store::{Store, StoreConfig, StoreError};

/// Everything a node needs to run (built from the config file and flags).
#[derive(Debug)]
pub struct NodeSettings {
    /// The data directory.
    pub data_dir: PathBuf,
    /// The chain.
    pub genesis: Genesis,
    /// The masternode key; `None` runs an observer that follows but never votes.
    pub key: Option<SecretKey>,
    /// P2P listen address (port 0 allowed).
    pub p2p_listen: SocketAddr,
    /// Per-peer dial addresses.
    pub peers: Vec<net::PeerAddress>,
    /// Bootstrap addresses.
    pub bootstrap: Vec<String>,
    /// Peer exchange on/off.
    pub peer_exchange: bool,
    /// Transport limits.
    pub net_limits: net::NetLimits,
    /// Local consensus limits and pacing.
    pub core: CoreConfig,
    /// Storage tuning.
    pub store: StoreConfig,
    /// Threads that verify a cycle's input signatures (0: one per core).
    pub verify_threads: usize,
    /// Test builds only: misbehave as this Byzantine mode (see
    /// `consensus::byzantine`); needs the cargo feature `byzantine`.
    pub byzantine: Option<String>,
}

/// Why the node could not start.
#[derive(Debug, Error)]
pub enum NodeError {
    /// The store refused the data dir.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The P2P endpoint could not start.
    #[error("p2p: {0}")]
    Net(String),
    /// The genesis is not usable.
    #[error("genesis: {0}")]
    Genesis(String),
    /// A startup task failed.
    #[error("startup task failed: {0}")]
    Task(String),
    /// `--byzantine` is not usable here.
    #[error("--byzantine: {0}")]
    Byzantine(String),
}

/// An event as observers see it: the core's event, numbered.
#[derive(Clone, Debug)]
pub struct NodeEvent {
    /// Increasing, also across restarts: a run's ids start at its start time
    /// in ms × 1,000 (exact in JSON numbers until the year 2255), so a
    /// resume id from an earlier run is never mistaken for a current one.
    pub id: u64,
    /// Milliseconds since the Unix epoch when it was published.
    pub at: Millis,
    /// What happened.
    pub event: Event,
    /// For a transaction becoming final: ms since this node first saw it.
    pub latency_ms: Option<u64>,
}

/// A read-only question for the driver.
#[derive(Debug)]
pub enum Query {
    /// What the core knows about a transaction.
    TxStatus(TxId, oneshot::Sender<Option<TxStatus>>),
    /// A transaction held in the pool.
    PoolTx(TxId, oneshot::Sender<Option<Transaction>>),
    /// The pool's txids with their states.
    PoolTxids(oneshot::Sender<Vec<(TxId, consensus::TxState)>>),
    /// Consensus snapshot.
    Info(oneshot::Sender<ConsensusInfo>),
    /// Pool sizes.
    Mempool(oneshot::Sender<MempoolInfo>),
    /// Spendable outputs of an address (committed and final).
    Spendable(AddressPayload, oneshot::Sender<Vec<(OutPoint, TxOut, bool)>>),
}

/// A command for the driver.
#[derive(Debug)]
enum Command {
    Submit(Transaction, oneshot::Sender<SubmitOutcome>),
    Query(Query),
}

/// Counters the driver keeps for metrics (read with relaxed loads).
#[derive(Debug, Default)]
pub struct NodeStats {
    /// Driver cycles run.
    pub cycles: AtomicU64,
    /// Store flushes.
    pub flushes: AtomicU64,
    /// Total flush time, microseconds.
    pub flush_micros: AtomicU64,
    /// Longest flush, microseconds.
    pub flush_max_micros: AtomicU64,
    /// Total time of whole persists (building and applying the batch, and
    /// the flush), microseconds.
    pub persist_micros: AtomicU64,
    /// Driver cycles that ran while a write was in flight (the driver did
    /// not wait for the disk).
    pub cycles_during_write: AtomicU64,
    /// Store errors (the node stops on one).
    pub store_errors: AtomicU64,
    /// Why the node stopped on its own, if it did (the binary exits
    /// non-zero with it).
    pub fatal: std::sync::Mutex<Option<String>>,
    /// Blocks served to catching-up peers.
    pub blocks_served: AtomicU64,
    /// Input signatures verified ahead of the core, in cycle batches.
    pub signatures_verified: AtomicU64,
    /// Signatures of received vote batches verified ahead, in the same
    /// batches.
    pub vote_signatures_verified: AtomicU64,
    /// CPU time by component.
    pub cpu: CpuUse,
}

/// CPU time by component, from the threads' CPU clocks ([`net::cpu`]):
/// what `timed_cpu_seconds_total` reports and `make bench` breaks down.
#[derive(Debug, Default)]
pub struct CpuUse {
    /// The driver task (the core: admission, votes, blocks, sync; sealing,
    /// sending), less the verification and commitment work it did inline.
    driver: Arc<CpuCounter>,
    /// Input signature verification ahead of the core.
    verify: CpuCounter,
    /// Commitment elements of new outputs, computed ahead of the core.
    commitment: CpuCounter,
    /// Store writes: building the batch, sled's apply and flush.
    store: CpuCounter,
    /// RPC connections: HTTP, JSON, the methods, the event stream.
    pub(crate) rpc: Arc<CpuCounter>,
    /// Verification and commitment work done inside the driver's polls
    /// (charged above, so not to the driver).
    inline: CpuCounter,
}

impl CpuUse {
    /// `(component, CPU time)` of every component, given the network
    /// layer's (`p2p`), with `other` (the runtime, sled's threads, the
    /// allocator) as what the process used beyond them.
    pub fn breakdown(&self, p2p: Duration) -> Vec<(&'static str, Duration)> {
        let mut parts = vec![
            ("verify", self.verify.total()),
            ("commitment", self.commitment.total()),
            ("store", self.store.total()),
            ("rpc", self.rpc.total()),
            ("p2p", p2p),
            ("driver", self.driver.total().saturating_sub(self.inline.total())),
        ];
        let counted: Duration = parts.iter().map(|(_, spent)| *spent).sum();
        parts.push(("other", net::cpu::process_time().saturating_sub(counted)));
        parts
    }
}

/// What the node publishes about itself once its listeners are bound.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Published {
    /// The node's id.
    pub node_id: NodeId,
    /// The bound P2P address.
    pub p2p_address: SocketAddr,
}

/// A running node: its handle for RPC and the binary.
#[derive(Clone, Debug)]
pub struct NodeHandle {
    command_sender: mpsc::Sender<Command>,
    events: broadcast::Sender<NodeEvent>,
    store: Store,
    net: net::NetHandle<Wire>,
    stats: Arc<NodeStats>,
    shutdown: CancellationToken,
    genesis: Arc<Genesis>,
    committee: Arc<protocol::Committee>,
    node_id: NodeId,
    masternode: bool,
    started: Instant,
}

/// The node's wire message: the consensus message, as the transport needs it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Wire(pub Message);

impl net::WireMessage for Wire {
    fn is_consensus(&self) -> bool {
        self.0.is_consensus()
    }

    fn is_urgent(&self) -> bool {
        self.0.is_urgent()
    }
}

/// The error a caller gets when the node has stopped.
#[derive(Debug, Clone, Copy, Error, PartialEq, Eq)]
#[error("the node is shutting down")]
pub struct Stopped;

/// Milliseconds since the Unix epoch (the node's one wall clock; a test
/// build's `--byzantine clock-ahead|clock-behind` skews it).
pub fn now_millis() -> Millis {
    let now: Millis = hostio::now_ms();
    #[cfg(feature = "byzantine")]
    let now = now.saturating_add_signed(crate::byzantine::clock_offset());
    now
}

impl NodeHandle {
    /// Submits a transaction; answers once the node has decided.
    pub async fn submit(&self, tx: Transaction) -> Result<SubmitOutcome, Stopped> {
        let (reply, answer) = oneshot::channel();
        self.command_sender.send(Command::Submit(tx, reply)).await.map_err(|_| Stopped)?;
        answer.await.map_err(|_| Stopped)
    }

    /// Asks the driver a question.
    pub async fn query<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Query,
    ) -> Result<T, Stopped> {
        let (reply, answer) = oneshot::channel();
        self.command_sender.send(Command::Query(make(reply))).await.map_err(|_| Stopped)?;
        answer.await.map_err(|_| Stopped)
    }

    /// Subscribes to events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        self.events.subscribe()
    }

    /// The store (read-only queries from any task).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The P2P endpoint (peer info and statistics).
    pub fn net(&self) -> &net::NetHandle<Wire> {
        &self.net
    }

    /// Driver statistics.
    pub fn stats(&self) -> &NodeStats {
        &self.stats
    }

    /// The genesis.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// The committee the genesis names (built once).
    pub fn committee(&self) -> &protocol::Committee {
        &self.committee
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// True when it runs with a committee key.
    pub fn is_masternode(&self) -> bool {
        self.masternode
    }

    /// How long it has run.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Asks the node to stop.
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    /// The token that stops everything.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }
}

/// Starts the node: opens the store (refusing another chain's data dir),
/// restores the core, starts the P2P endpoint and the driver. Every task is
/// spawned on `tracker` and stops when `shutdown` is cancelled.
pub async fn start(
    settings: NodeSettings,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) -> Result<(NodeHandle, Published), NodeError> {
    settings.genesis.validate().map_err(|e| NodeError::Genesis(e.to_string()))?;
    let store = {
        let dir = settings.data_dir.clone();
        let genesis = settings.genesis.clone();
        let config = settings.store.clone();
        tokio::task::spawn_blocking(move || Store::open(&dir, &genesis, &config))
            .await
            .map_err(|e| NodeError::Task(e.to_string()))??
    };
    let restored = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || store.load())
            .await
            .map_err(|e| NodeError::Task(e.to_string()))??
    };
    let masternode = settings.key.is_some();
    // An observer still needs an identity for the transport; it never signs
    // consensus messages with it (the core only votes as a committee member).
    let key = match settings.key {
        Some(key) => key,
        None => SecretKey::generate(&mut rand::rng()),
    };
    let node_id = NodeId::from(key.public());
    let transport_key = SecretKey::from_seed(key.seed());
    let genesis = settings.genesis;
    let committee: Vec<NodeId> = genesis.committee.iter().map(|m| m.id).collect();
    let is_member = committee.contains(&node_id);
    let max_frame_bytes = settings.net_limits.max_frame_bytes;
    let net_config = net::NetConfig {
        listen: settings.p2p_listen,
        chain_id: genesis.chain_id,
        genesis_hash: genesis.hash(),
        protocol_version: protocol::PROTOCOL_VERSION,
        role: if is_member { net::Role::Masternode } else { net::Role::Observer },
        committee,
        peers: settings.peers,
        bootstrap: settings.bootstrap,
        peer_exchange: settings.peer_exchange,
        limits: settings.net_limits,
    };
    let (net_handle, net_events) = net::start::<Wire>(net_config, transport_key, shutdown.clone())
        .await
        .map_err(|e| NodeError::Net(e.to_string()))?;
    let published = Published { node_id, p2p_address: net_handle.local_addr() };
    // A reply must fit in one frame, with room for the envelope.
    let mut core_config = settings.core;
    core_config.max_reply_bytes = core_config.max_reply_bytes.min(max_frame_bytes / 2);
    let reply_budget = core_config.max_reply_bytes;
    let index = Arc::new(store.clone());
    #[cfg(feature = "byzantine")]
    let byzantine_key = SecretKey::from_seed(key.seed());
    let mut core = Core::new(core_config, &genesis, key, restored, index);
    #[cfg(feature = "byzantine")]
    let panic_at = (settings.byzantine.as_deref() == Some(crate::byzantine::PANIC))
        .then(|| Instant::now() + crate::byzantine::PANIC_AFTER);
    #[cfg(feature = "byzantine")]
    let slow_disk = settings.byzantine.as_deref() == Some(crate::byzantine::SLOW_DISK);
    #[cfg(feature = "byzantine")]
    if let Some(mode @ (crate::byzantine::CLOCK_AHEAD | crate::byzantine::CLOCK_BEHIND)) =
        settings.byzantine.as_deref()
    {
        let sign = if mode == crate::byzantine::CLOCK_AHEAD { 1 } else { -1 };
        crate::byzantine::set_clock_offset(sign * crate::byzantine::CLOCK_SKEW_MS);
        warn!(offset_ms = sign * crate::byzantine::CLOCK_SKEW_MS, "wall clock skewed (test build)");
    }
    #[cfg(feature = "byzantine")]
    let byzantine = match settings.byzantine.as_deref() {
        None
        | Some(
            crate::byzantine::PANIC
            | crate::byzantine::SLOW_DISK
            | crate::byzantine::CLOCK_AHEAD
            | crate::byzantine::CLOCK_BEHIND,
        ) => None,
        Some(name) => {
            let mode: consensus::byzantine::Mode = name.parse().map_err(NodeError::Byzantine)?;
            let byzantine = crate::byzantine::Byzantine::new(mode, &core, byzantine_key)
                .ok_or_else(|| {
                    NodeError::Byzantine("only a committee member can be Byzantine".into())
                })?;
            warn!(mode = %mode, "running as a BYZANTINE masternode (test build)");
            Some(byzantine)
        }
    };
    #[cfg(not(feature = "byzantine"))]
    if settings.byzantine.is_some() {
        return Err(NodeError::Byzantine(
            "this timed was built without the `byzantine` feature (test builds only)".into(),
        ));
    }
    let (command_sender, command_inbox) = mpsc::channel(4_096);
    let (events, _) = broadcast::channel(16_384);
    let stats = Arc::new(NodeStats::default());
    let handle = NodeHandle {
        command_sender,
        events: events.clone(),
        store: store.clone(),
        net: net_handle.clone(),
        stats: stats.clone(),
        shutdown: shutdown.clone(),
        committee: Arc::new(protocol::Committee::from_genesis(&genesis)),
        genesis: Arc::new(genesis),
        node_id,
        masternode: masternode && is_member,
        started: Instant::now(),
    };
    info!(
        node = %node_id.short(),
        p2p = %published.p2p_address,
        height = core.ledger().height(),
        masternode = handle.masternode,
        "node started"
    );
    let first = core.start(now_millis());
    let mut driver = Driver {
        core,
        store,
        net: net_handle,
        events,
        stats,
        timers: BTreeMap::new(),
        replies: BTreeMap::new(),
        next_request: 1,
        next_event: now_millis() * 1_000 + 1,
        next_timer: 0,
        pending: Vec::new(),
        queries: Vec::new(),
        pipeline: Pipeline::default(),
        blocks_served_at: HashMap::new(),
        reply_budget,
        equivocations_by: HashMap::new(),
        verify_threads: match settings.verify_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        },
        #[cfg(feature = "byzantine")]
        byzantine,
        #[cfg(feature = "byzantine")]
        panic_at,
        #[cfg(feature = "byzantine")]
        slow_disk,
    };
    driver.pending.extend(first);
    let token = shutdown.clone();
    let span = tracing::info_span!("driver", node = %node_id.short());
    let driver_cpu = driver.stats.cpu.driver.clone();
    tracker
        .spawn(metered(driver_cpu, driver.run(command_inbox, net_events, token)).instrument(span));
    Ok((handle, published))
}

/// The task that owns the core and the store.
struct Driver {
    core: Core,
    store: Store,
    net: net::NetHandle<Wire>,
    events: broadcast::Sender<NodeEvent>,
    stats: Arc<NodeStats>,
    /// Due time → timers (the core never cancels; stale ones are ignored).
    timers: BTreeMap<(Millis, u64), Timer>,
    replies: BTreeMap<u64, oneshot::Sender<SubmitOutcome>>,
    next_request: u64,
    next_event: u64,
    next_timer: u64,
    /// Outputs of the current cycle.
    pending: Vec<Output>,
    /// Questions of this cycle: answered from the state at the cycle's end,
    /// and the answer held until the cycle is durable (an answer must never
    /// report what a crash could still undo).
    queries: Vec<Query>,
    /// Writes in flight and the visible outputs waiting for them.
    pipeline: Pipeline,
    /// When each peer was last served blocks (catch-up reads the disk).
    blocks_served_at: HashMap<NodeId, Instant>,
    /// Most bytes in one reply.
    reply_budget: usize,
    /// Threads verifying a cycle's input signatures.
    verify_threads: usize,
    /// Equivocations seen per voter, for a log that a Byzantine member
    /// cannot flood (at most one entry per committee member).
    equivocations_by: HashMap<String, u64>,
    /// Test builds: the Byzantine behaviour this node runs, if any.
    #[cfg(feature = "byzantine")]
    byzantine: Option<crate::byzantine::Byzantine>,
    /// Test builds (`--byzantine panic`): when the driver panics.
    #[cfg(feature = "byzantine")]
    panic_at: Option<Instant>,
    /// Test builds (`--byzantine slow-disk`): every persist takes longer.
    #[cfg(feature = "byzantine")]
    slow_disk: bool,
}

/// A peer is served blocks at most this often.
const BLOCK_SERVE_INTERVAL: Duration = Duration::from_millis(100);

/// A driver cycle could not be made durable.
#[derive(Debug)]
struct CycleFailed;

/// An input the driver took for a cycle, before the core sees it.
#[expect(
    clippy::large_enum_variant,
    reason = "lives only in one cycle's list; boxing would allocate per peer message"
)]
enum Taken {
    Command(Command),
    Net(net::NetEvent<Wire>),
}

/// A verifying thread gets at least this many signatures (fewer batch
/// badly and do not pay for the hand-off).
const MIN_SIGNATURES_PER_THREAD: usize = 16;

/// What the stage ahead of the core found: the first bad input of each
/// transaction, the commitment elements of the outputs of those whose
/// signatures all verify, and whether each vote batch signature verifies.
type Checked = (Vec<Option<usize>>, Vec<(OutPoint, Element)>, Vec<bool>);

/// Most outputs per input whose commitment elements are computed ahead. A
/// signature buys no more element work than this: conflicting variants of
/// one signed spend are verified but never committed, and an element costs
/// about a third of a verification. Elements of larger fan-outs are
/// computed when their block commits, by then known to be needed.
const ELEMENTS_AHEAD_PER_INPUT: usize = 2;

/// Checks the input signatures of `txs` and the vote batch signatures
/// `votes` as one batch (PROTOCOL.md §9) and computes the commitment
/// elements of the outputs of the transactions that pass (see
/// [`ELEMENTS_AHEAD_PER_INPUT`]), charging each part to its component.
fn check_ahead(
    chain: protocol::ChainId,
    txs: &[(Transaction, TxId)],
    votes: &[PendingVote],
    cpu: &CpuUse,
) -> Checked {
    let refs: Vec<(&Transaction, TxId)> = txs.iter().map(|(tx, txid)| (tx, *txid)).collect();
    let vote_checks: Vec<_> = votes.iter().map(PendingVote::check).collect();
    let (first_bad, votes_ok) = cpu.verify.measure(|| {
        protocol::validate::SigVerifier::default().first_bad_inputs_and(chain, &refs, &vote_checks)
    });
    let elements = cpu.commitment.measure(|| {
        txs.iter()
            .zip(&first_bad)
            .filter(|((tx, _), bad)| {
                bad.is_none() && tx.outputs.len() <= ELEMENTS_AHEAD_PER_INPUT * tx.inputs.len()
            })
            .flat_map(|((tx, txid), _)| {
                (0u32..).zip(&tx.outputs).map(|(vout, output)| {
                    let outpoint = OutPoint { txid: *txid, vout };
                    (outpoint, Element::of(&outpoint, output))
                })
            })
            .collect()
    });
    (first_bad, elements, votes_ok)
}

/// An answer to a question, computed at the end of its cycle, sent once the
/// cycle is durable.
type Answer = Box<dyn FnOnce() + Send>;

/// A cycle's visible outputs and answers, waiting for `generation`.
struct Held {
    generation: u64,
    outputs: Vec<Output>,
    answers: Vec<Answer>,
}

/// The write in flight: the generation it makes durable, when it started.
type Writing = (u64, Instant, JoinHandle<Result<Duration, StoreError>>);

/// Persistence in flight. Every cycle with persists is one generation; a
/// write makes every generation up to its own durable.
#[derive(Default)]
struct Pipeline {
    /// Persists of cycles not yet handed to the store, in order.
    queued: Vec<PersistOp>,
    /// The newest generation issued.
    issued: u64,
    /// Every generation up to this one is durable.
    durable: u64,
    /// The write in flight (at most one, so writes stay in order).
    writing: Option<Writing>,
    /// Visible outputs of cycles in order, each waiting for its generation.
    held: VecDeque<Held>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("queued", &self.queued.len())
            .field("issued", &self.issued)
            .field("durable", &self.durable)
            .field("writing", &self.writing.as_ref().map(|(generation, ..)| *generation))
            .field("held", &self.held.len())
            .finish()
    }
}

/// Waits for the write in flight (never resolves when there is none).
async fn write_done(
    writing: &mut Option<Writing>,
) -> Result<Result<Duration, StoreError>, tokio::task::JoinError> {
    match writing {
        Some((_, _, handle)) => handle.await,
        None => std::future::pending().await,
    }
}

/// Most cycles whose outputs may wait for the disk before the driver stops
/// taking inputs (bounds what a slow disk makes the node hold).
const MAX_HELD_CYCLES: usize = 512;

/// How many ready inputs one cycle takes before it seals and flushes
/// (bounds the latency a long queue adds to the first input's vote).
const MAX_INPUTS_PER_CYCLE: usize = 2_048;

impl Driver {
    async fn run(
        mut self,
        mut command_inbox: mpsc::Receiver<Command>,
        mut net_events: net::NetEvents<Wire>,
        shutdown: CancellationToken,
    ) {
        // Outputs of `start` (timers, re-announced votes).
        self.finish_cycle();
        loop {
            let next_due = self.timers.keys().next().map(|(at, _)| *at);
            let sleep = async {
                match next_due {
                    Some(at) => {
                        let wait = at.saturating_sub(now_millis());
                        tokio::time::sleep(Duration::from_millis(wait)).await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            // A disk far behind stops the intake until it catches up.
            let accepting = self.pipeline.held.len() < MAX_HELD_CYCLES;
            let mut taken = Vec::new();
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                written = write_done(&mut self.pipeline.writing) => {
                    if self.written(written).is_err() {
                        // A store that cannot persist must not let the node vote on.
                        error!("stopping: the store failed to persist");
                        shutdown.cancel();
                        break;
                    }
                }
                command = command_inbox.recv(), if accepting => match command {
                    Some(command) => taken.push(Taken::Command(command)),
                    None => break,
                },
                event = net_events.recv(), if accepting => match event {
                    Some(event) => taken.push(Taken::Net(event)),
                    None => break,
                },
                () = sleep => {}
            }
            // Take whatever else is ready now: that is the group commit.
            while accepting && taken.len() < MAX_INPUTS_PER_CYCLE {
                let mut progressed = false;
                if let Ok(command) = command_inbox.try_recv() {
                    taken.push(Taken::Command(command));
                    progressed = true;
                }
                if let Some(event) = net_events.try_recv() {
                    taken.push(Taken::Net(event));
                    progressed = true;
                }
                if !progressed {
                    break;
                }
            }
            self.verify_ahead(&taken).await;
            for input in taken {
                match input {
                    Taken::Command(command) => self.command(command),
                    Taken::Net(event) => self.net_event(event),
                }
            }
            self.fire_due_timers();
            #[cfg(feature = "byzantine")]
            if self.panic_at.is_some_and(|at| Instant::now() >= at) {
                panic!("--byzantine panic: the driver panics, as a bug would");
            }
            self.finish_cycle();
        }
        self.flush_on_shutdown().await;
    }

    /// Verifies the input signatures of the cycle's new transactions, and
    /// the signatures of the live vote batches it received (replies to
    /// `GetVoteBatches` are left to the core, which drops unsolicited
    /// ones unverified), in batches, on
    /// `verify_threads` threads, before the core sees them; the core then
    /// uses these decisions (the same rule one by one would give:
    /// PROTOCOL.md §9). Every masternode still verifies every signature;
    /// this only changes where and how many at once. The same threads
    /// compute the commitment elements of the new outputs, which the ledger
    /// keeps for the block that commits them.
    async fn verify_ahead(&mut self, taken: &[Taken]) {
        let messages = taken.iter().filter_map(|input| match input {
            Taken::Net(net::NetEvent::Message { msg: Wire(message), .. }) => Some(message),
            _ => None,
        });
        let txs = taken.iter().filter_map(|input| match input {
            Taken::Command(Command::Submit(tx, _)) => Some(tx),
            Taken::Net(net::NetEvent::Message { msg: Wire(Message::Tx(tx)), .. }) => Some(tx),
            _ => None,
        });
        let batches = messages.filter_map(|message| match message {
            Message::VoteBatch(batch) => Some(batch),
            _ => None,
        });
        let todo = self.core.unverified(txs);
        let votes = self.core.pending_votes(batches);
        if todo.is_empty() && votes.is_empty() {
            return;
        }
        let chain = self.core.chain();
        let inputs: usize = todo.iter().map(|(tx, _)| tx.inputs.len()).sum();
        // Chunks big enough to batch well; one per thread at most.
        let chunks =
            self.verify_threads.min((inputs + votes.len()) / MIN_SIGNATURES_PER_THREAD).max(1);
        let todo = Arc::new(todo);
        let votes = Arc::new(votes);
        let (results, elements, votes_ok) = if chunks == 1 {
            let cpu = &self.stats.cpu;
            cpu.inline.measure(|| check_ahead(chain, &todo, &votes, cpu))
        } else {
            let per_chunk = todo.len().div_ceil(chunks);
            let tasks: Vec<_> = (0..chunks)
                .map(|chunk| {
                    let (todo, votes, stats) = (todo.clone(), votes.clone(), self.stats.clone());
                    tokio::task::spawn_blocking(move || {
                        let end = ((chunk + 1) * per_chunk).min(todo.len());
                        let part = todo.get(chunk * per_chunk..end).unwrap_or_default();
                        // The votes go with the first chunk.
                        let votes = if chunk == 0 { votes.as_slice() } else { &[] };
                        check_ahead(chain, part, votes, &stats.cpu)
                    })
                })
                .collect();
            let mut results = Vec::with_capacity(todo.len());
            let mut elements = Vec::new();
            let mut votes_ok = Vec::new();
            for task in tasks {
                match task.await {
                    Ok((part, made, ok)) => {
                        results.extend(part);
                        elements.extend(made);
                        votes_ok.extend(ok);
                    }
                    // Not verified ahead: the core verifies them itself.
                    Err(e) => {
                        warn!("signature verification task failed: {e}");
                        return;
                    }
                }
            }
            (results, elements, votes_ok)
        };
        self.stats.signatures_verified.fetch_add(inputs as u64, Ordering::Relaxed);
        self.stats.vote_signatures_verified.fetch_add(votes.len() as u64, Ordering::Relaxed);
        self.core.remember_verified(todo.iter().zip(results));
        self.core.keep_elements(elements);
        self.core.remember_verified_votes(votes.iter().zip(votes_ok));
    }

    fn fire_due_timers(&mut self) {
        let now = now_millis();
        while let Some((&(at, id), _)) = self.timers.iter().next() {
            if at > now {
                break;
            }
            if let Some(timer) = self.timers.remove(&(at, id)) {
                let outputs = self.core.handle(now, Input::Timer(timer));
                self.pending.extend(outputs);
            }
        }
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Submit(tx, reply) => {
                #[cfg(feature = "byzantine")]
                if let Some(byzantine) = self.byzantine.as_mut() {
                    byzantine.on_tx(&tx, &self.core, &self.net);
                }
                let request = self.next_request;
                self.next_request += 1;
                self.replies.insert(request, reply);
                let outputs = self
                    .core
                    .handle(now_millis(), Input::SubmitTx { tx, origin: Origin::Client(request) });
                self.pending.extend(outputs);
            }
            Command::Query(query) => self.queries.push(query),
        }
    }

    /// The answer to `query` from the state now, to be sent once what
    /// this state rests on is durable.
    fn answer(&self, query: Query) -> Answer {
        // A dropped receiver just means the asker went away.
        fn reply<T: Send + 'static>(reply: oneshot::Sender<T>, value: T) -> Answer {
            Box::new(move || {
                let _ = reply.send(value);
            })
        }
        match query {
            Query::TxStatus(txid, sender) => reply(sender, self.core.tx_status(&txid)),
            Query::PoolTx(txid, sender) => reply(sender, self.core.pool_tx(&txid).cloned()),
            Query::PoolTxids(sender) => reply(sender, self.core.pool_txids()),
            Query::Info(sender) => reply(sender, self.core.info()),
            Query::Mempool(sender) => reply(sender, self.core.mempool_info()),
            Query::Spendable(address, sender) => reply(sender, self.core.spendable(&address)),
        }
    }

    fn net_event(&mut self, event: net::NetEvent<Wire>) {
        let now = now_millis();
        let input = match event {
            net::NetEvent::PeerUp { peer, .. } => Input::PeerUp(peer),
            net::NetEvent::PeerDown { peer, .. } => {
                self.blocks_served_at.remove(&peer);
                Input::PeerDown(peer)
            }
            net::NetEvent::Message { peer, msg: Wire(Message::GetBlocks { from }) } => {
                self.serve_blocks(peer, from);
                return;
            }
            net::NetEvent::Message { peer, msg: Wire(message) } => {
                #[cfg(feature = "byzantine")]
                if let Some(byzantine) = self.byzantine.as_mut() {
                    byzantine.heard(&message);
                    if let Message::Tx(tx) = &message {
                        byzantine.on_tx(tx, &self.core, &self.net);
                    }
                }
                Input::Message { from: peer, message }
            }
            // The core speaks only in messages; requests are not used.
            net::NetEvent::Request { peer, msg: Wire(message), .. } => {
                Input::Message { from: peer, message }
            }
        };
        let outputs = self.core.handle(now, input);
        self.pending.extend(outputs);
    }

    /// Catch-up is served from the store, not the core (io.rs): at most one
    /// reply per peer per interval, each within one frame.
    fn serve_blocks(&mut self, peer: NodeId, from: u64) {
        let now = Instant::now();
        if self.blocks_served_at.get(&peer).is_some_and(|at| now < *at + BLOCK_SERVE_INTERVAL) {
            debug!(peer = %peer.short(), "block request ignored: asked again too soon");
            return;
        }
        self.blocks_served_at.insert(peer, now);
        match self.store.blocks_from(from, MAX_BLOCKS_PER_MESSAGE, self.reply_budget) {
            Ok(blocks) if !blocks.is_empty() => {
                self.stats.blocks_served.fetch_add(blocks.len() as u64, Ordering::Relaxed);
                self.send(Some(peer), Message::Blocks(blocks));
            }
            Ok(_) => {}
            Err(e) => warn!("reading blocks for a peer failed: {e}"),
        }
    }

    /// Ends a cycle: seals votes, queues the cycle's persists for the next
    /// write, and holds its visible outputs and answers until every persist
    /// issued so far is durable (at once when nothing is outstanding).
    /// Timers and refusals are not visible and are carried out now.
    fn finish_cycle(&mut self) {
        self.stats.cycles.fetch_add(1, Ordering::Relaxed);
        if self.pipeline.writing.is_some() {
            self.stats.cycles_during_write.fetch_add(1, Ordering::Relaxed);
        }
        let sealed = self.core.seal(now_millis());
        self.pending.extend(sealed);
        let mut visible = Vec::new();
        let mut persisted = false;
        for output in std::mem::take(&mut self.pending) {
            match output {
                // Moved, not copied: commits carry whole blocks.
                Output::Persist(op) => {
                    self.pipeline.queued.push(op);
                    persisted = true;
                }
                Output::SetTimer { timer, at } => {
                    self.next_timer += 1;
                    self.timers.insert((at, self.next_timer), timer);
                }
                Output::Refused { peer, reason } => {
                    debug!(peer = %peer.short(), reason = reason.as_str(), "message refused");
                    if reason.is_offence() && self.net.penalize(&peer) {
                        warn!(peer = %peer.short(), reason = reason.as_str(), "peer banned");
                    }
                }
                other => visible.push(other),
            }
        }
        if persisted {
            self.pipeline.issued += 1;
        }
        let answers: Vec<Answer> =
            std::mem::take(&mut self.queries).into_iter().map(|q| self.answer(q)).collect();
        let generation = self.pipeline.issued;
        if generation <= self.pipeline.durable {
            self.perform(visible, answers);
        } else if !visible.is_empty() || !answers.is_empty() {
            match self.pipeline.held.back_mut() {
                Some(last) if last.generation == generation => {
                    last.outputs.extend(visible);
                    last.answers.extend(answers);
                }
                _ => self.pipeline.held.push_back(Held { generation, outputs: visible, answers }),
            }
        }
        self.start_write();
    }

    /// Hands every queued persist to the store as one write, unless a write
    /// is in flight (the next one starts when it is done).
    fn start_write(&mut self) {
        if self.pipeline.writing.is_some() || self.pipeline.queued.is_empty() {
            return;
        }
        let ops = std::mem::take(&mut self.pipeline.queued);
        let store = self.store.clone();
        #[cfg(feature = "byzantine")]
        let slow_disk = self.slow_disk;
        let stats = self.stats.clone();
        let handle = tokio::task::spawn_blocking(move || {
            // A slow disk is slow before anything reaches the store.
            #[cfg(feature = "byzantine")]
            if slow_disk {
                std::thread::sleep(crate::byzantine::SLOW_DISK_DELAY);
            }
            stats.cpu.store.measure(|| store.persist(&ops))
        });
        self.pipeline.writing = Some((self.pipeline.issued, Instant::now(), handle));
    }

    /// The write in flight finished: on success, releases every held cycle
    /// it made durable, in order, and starts the next write. An error means
    /// the store could not make the cycles durable (logged here).
    fn written(
        &mut self,
        result: Result<Result<Duration, StoreError>, tokio::task::JoinError>,
    ) -> Result<(), CycleFailed> {
        let Some((generation, started, _)) = self.pipeline.writing.take() else {
            return Ok(());
        };
        self.stats
            .persist_micros
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        match result {
            Ok(Ok(took)) => {
                let micros = took.as_micros() as u64;
                self.stats.flushes.fetch_add(1, Ordering::Relaxed);
                self.stats.flush_micros.fetch_add(micros, Ordering::Relaxed);
                self.stats.flush_max_micros.fetch_max(micros, Ordering::Relaxed);
            }
            Ok(Err(e)) => {
                self.fail(format!("persist failed: {e}"));
                return Err(CycleFailed);
            }
            Err(e) => {
                self.fail(format!("persist task failed: {e}"));
                return Err(CycleFailed);
            }
        }
        self.pipeline.durable = generation;
        self.core.mark_durable(self.store.height());
        while self.pipeline.held.front().is_some_and(|h| h.generation <= generation) {
            if let Some(held) = self.pipeline.held.pop_front() {
                self.perform(held.outputs, held.answers);
            }
        }
        self.start_write();
        Ok(())
    }

    /// Carries out a cycle's visible outputs, in order, then its answers.
    fn perform(&mut self, outputs: Vec<Output>, answers: Vec<Answer>) {
        for output in outputs {
            match output {
                Output::Send { to, message } => self.send(Some(to), message),
                Output::Broadcast(message) => self.send(None, message),
                Output::Event(event) => self.publish(event),
                Output::Reply { request, outcome } => {
                    if let Some(reply) = self.replies.remove(&request) {
                        let _ = reply.send(outcome);
                    }
                }
                // Carried out when the cycle ended.
                Output::Persist(_) | Output::SetTimer { .. } | Output::Refused { .. } => {}
            }
        }
        for answer in answers {
            answer();
        }
    }

    /// Sends to one peer, or to every connected one.
    fn send(&mut self, to: Option<NodeId>, message: Message) {
        #[cfg(feature = "byzantine")]
        if let Some(byzantine) = self.byzantine.as_mut() {
            byzantine.send(to, message, &self.core, &self.net);
            return;
        }
        match to {
            Some(to) => {
                if let Err(e) = self.net.send(&to, Wire(message)) {
                    debug!(peer = %to.short(), "send dropped: {e}");
                }
            }
            None => {
                self.net.broadcast(Wire(message));
            }
        }
    }

    /// Logs an equivocation in one short line: the first of each voter, then
    /// the 10th, 100th, ... (a Twin or a Byzantine member can cause
    /// thousands a minute; `getconsensusinfo` counts them all, and the event
    /// stream carries each with both signed messages).
    fn log_equivocation(&mut self, evidence: &consensus::Evidence) {
        let (voter, what) = match evidence {
            consensus::Evidence::VoteBatches(a, b) => {
                (a.voter.short(), format!("vote batches seq {} and {}", a.seq, b.seq))
            }
            consensus::Evidence::BlockVotes(a, b) => (
                format!("member {}", a.voter),
                format!("{:?}s at height {} round {}", a.kind, a.height, b.round),
            ),
        };
        let count = self.equivocations_by.entry(voter.clone()).or_insert(0);
        *count += 1;
        let n = *count;
        let mut rest = n;
        while rest.is_multiple_of(10) {
            rest /= 10;
        }
        if rest == 1 {
            warn!(voter, count = n, "equivocation: two conflicting signed {what}");
        } else {
            debug!(voter, count = n, "equivocation: two conflicting signed {what}");
        }
    }

    fn publish(&mut self, event: Event) {
        match &event {
            Event::BlockCommitted { height, txids, round, .. } => {
                debug!(height, round, txs = txids.len(), "block committed");
            }
            Event::Equivocation(evidence) => self.log_equivocation(evidence),
            Event::ProposalRejected { height, round, reason } => {
                // For the log only: it takes no stream id (ids must not skip).
                warn!(height, round, "proposal rejected: {reason}");
                return;
            }
            Event::Syncing(on) => info!(syncing = on, "catch-up"),
            Event::TxState { .. } => {}
        }
        let now = now_millis();
        let latency_ms = match &event {
            Event::TxState { txid, state: consensus::TxState::Final, .. } => self
                .core
                .tx_status(txid)
                .filter(|s| s.seen_at > 0)
                .map(|s| now.saturating_sub(s.seen_at)),
            _ => None,
        };
        let id = self.next_event;
        self.next_event += 1;
        // No subscriber is fine: events are for observers.
        let _ = self.events.send(NodeEvent { id, at: now, event, latency_ms });
    }

    /// A write failed: counted, logged, and kept as the reason the node
    /// stops (the first one).
    fn fail(&self, reason: String) {
        self.stats.store_errors.fetch_add(1, Ordering::Relaxed);
        error!("{reason}");
        let mut fatal = self.stats.fatal.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        fatal.get_or_insert(reason);
    }

    /// Lets the write in flight finish, writes what is queued, flushes,
    /// and then releases what waited for it (replies to clients).
    async fn flush_on_shutdown(&mut self) {
        while self.pipeline.writing.is_some() {
            let written = write_done(&mut self.pipeline.writing).await;
            if self.written(written).is_err() {
                return;
            }
        }
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || store.persist(&[])).await {
            Ok(Ok(_)) => info!("store flushed; driver stopped"),
            Ok(Err(e)) => error!("final flush failed: {e}"),
            Err(e) => error!("final flush task failed: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::tx::TX_VERSION;
    use protocol::{Amount, ChainId, Signature, TxIn};

    /// A transaction spending one made-up coin per key into `outputs`
    /// outputs, signed.
    fn signed(chain: ChainId, keys: &[SecretKey], outputs: usize) -> (Transaction, TxId) {
        let mut tx = Transaction {
            version: TX_VERSION,
            inputs: (0u32..)
                .zip(keys)
                .map(|(vout, key)| TxIn {
                    prev: OutPoint { txid: TxId([7; 32]), vout },
                    pubkey: key.public(),
                    signature: Signature::ZERO,
                })
                .collect(),
            outputs: (0..outputs)
                .map(|i| TxOut {
                    value: Amount::from_sat(1_000 + i as u64),
                    address: AddressPayload([i as u8; 20]),
                })
                .collect(),
            lock_time: 0,
            timestamp: 0,
        };
        for (index, key) in keys.iter().enumerate() {
            assert!(tx.sign_input(chain, index, key));
        }
        let txid = tx.txid(chain);
        (tx, txid)
    }

    #[test]
    fn elements_are_computed_ahead_only_for_a_bounded_fan_out() {
        let chain = ChainId(9);
        let keys = [SecretKey::from_seed([1; 32]), SecretKey::from_seed([2; 32])];
        let payment = signed(chain, &keys, 4);
        let fan_out = signed(chain, &keys[..1], 3);
        let (first_bad, elements, _) =
            check_ahead(chain, &[payment.clone(), fan_out.clone()], &[], &CpuUse::default());
        assert_eq!(first_bad, vec![None, None], "both verify");
        let txids: Vec<TxId> = elements.iter().map(|(outpoint, _)| outpoint.txid).collect();
        assert_eq!(txids, vec![payment.1; 4], "the payment's four outputs, none of the fan-out's");
        let (outpoint, element) = elements[3];
        assert_eq!(element, Element::of(&outpoint, &payment.0.outputs[3]));
    }
}
