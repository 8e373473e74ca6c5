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
//!
//! | concern | file |
//! |---|---|
//! | settings, the handle RPC uses, stats, starting a node | `mod.rs` |
//! | the driver's loop, inputs, what it does with visible outputs | `driver.rs` |
//! | signatures and commitment elements verified ahead of the core | `ahead.rs` |
//! | persistence in flight: queued persists, held outputs | `pipeline.rs` |

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, info};

use consensus::{
    ConsensusInfo, Core, CoreConfig, Event, MempoolInfo, Message, Millis, Output, SubmitOutcome,
    Timer, TxStatus,
};
use net::cpu::{CpuCounter, metered};
use protocol::{AddressPayload, Genesis, NodeId, OutPoint, SecretKey, Transaction, TxId, TxOut};

use crate::config::Config;
use crate::store::{Store, StoreConfig, StoreError};

mod ahead;
mod driver;
mod pipeline;

use pipeline::Pipeline;

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

impl NodeSettings {
    /// The node `config` describes, on the chain `genesis`, as the
    /// masternode `key` (none: an observer).
    pub fn from_config(config: &Config, genesis: Genesis, key: Option<SecretKey>) -> NodeSettings {
        NodeSettings {
            data_dir: config.storage.data_dir.clone(),
            genesis,
            key,
            p2p_listen: config.network.listen_address,
            peers: config.network.peers.clone(),
            bootstrap: config.network.bootstrap_peers.clone(),
            peer_exchange: config.network.enable_peer_discovery,
            net_limits: config.net_limits(),
            core: config.core_config(),
            store: StoreConfig {
                cache_size_mb: (config.storage.cache_bytes >> 20).max(1),
                min_free_mb: config.storage.min_free_mb,
                ..StoreConfig::default()
            },
            verify_threads: config.node.verify_threads,
            byzantine: None,
        }
    }
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
        tracing::warn!(
            offset_ms = sign * crate::byzantine::CLOCK_SKEW_MS,
            "wall clock skewed (test build)"
        );
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
            tracing::warn!(mode = %mode, "running as a BYZANTINE masternode (test build)");
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
