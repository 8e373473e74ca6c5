//! The seeded simulator: N cores in one process over an in-memory network
//! that drops, delays, duplicates and reorders messages, partitions and
//! heals, and crashes and restarts nodes from what they persisted (including
//! right after a persist, before the messages that follow it are sent).
//! Actors: honest clients (multi-input, multi-key transactions, sometimes a
//! child before its parent is final), a double-spending client, and at most
//! one Byzantine masternode.
//!
//! Everything random comes from one ChaCha8 stream seeded by
//! [`SimConfig::seed`], so a failing seed replays exactly.
//!
//! Invariants checked after every step (a [`Violation`] names the first one
//! broken): no two conflicting transactions final at honest nodes; at most
//! one block per height; no honest double vote (one txid per outpoint and one
//! value per (height, round, step), across crashes); nothing reported final
//! is later lost; committed value = allocations + height × reward.
//!
//! | concern | file |
//! |---|---|
//! | configuration, the simulation's state, building it | `mod.rs` |
//! | what a scenario does and asks; running | `control.rs` |
//! | the event loop and the network | `network.rs` |
//! | the simulated clients | `clients.rs` |
//! | the invariants and the simulator's own chain | `invariants.rs` |
//! | the Byzantine member | `adversary.rs` |

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::Arc;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use protocol::bft::{CommitCertificate, VoteKind};
use protocol::finality::FinalityCertificate;
use protocol::genesis::{Allocation, GenesisMasternode};
use protocol::{
    Address, AddressPayload, Amount, Block, BlockHash, ChainId, ConsensusParams, Genesis, Network,
    NodeId, OutPoint, SecretKey, Tier, Transaction, TxId, TxOut,
};

use crate::byzantine::Adversary;
use crate::index::MemoryIndex;
use crate::io::{Millis, SubmitOutcome, Timer};
use crate::message::Message;
use crate::restore::Restored;
use crate::{Core, CoreConfig};

mod adversary;
mod clients;
mod control;
mod invariants;
mod network;

pub use adversary::Byzantine;

/// Which property a run checks at its end (safety is checked at every step
/// in both modes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Faults at random, always healing.
    Safety,
    /// At most f faulty, everything else healed by `heal_at_ms`: every honest
    /// transaction must be final on every live honest node and heights must
    /// advance by the end.
    Liveness,
}

/// A simulation run's parameters.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The seed of everything random.
    pub seed: u64,
    /// Committee size.
    pub nodes: usize,
    /// Which end-of-run property to check.
    pub mode: Mode,
    /// A Byzantine masternode, if any.
    pub byzantine: Option<Byzantine>,
    /// Which node is Byzantine (committee order of the sim's nodes).
    pub byzantine_index: usize,
    /// A hostile observer sends messages with extreme fields and replays.
    pub observer: bool,
    /// Random crashes and restarts.
    pub crashes: bool,
    /// Random partitions.
    pub partitions: bool,
    /// Probability a message is dropped.
    pub drop_rate: f64,
    /// Probability a message is delivered twice.
    pub dup_rate: f64,
    /// Message delay range (reordering comes from the spread).
    pub min_delay_ms: u64,
    /// See `min_delay_ms`.
    pub max_delay_ms: u64,
    /// Simulated duration.
    pub duration_ms: u64,
    /// Faults stop and everything heals at this time.
    pub heal_at_ms: u64,
    /// Honest client transactions to send (spread over the run until heal).
    pub client_txs: usize,
    /// Double-spend pairs to send.
    pub double_spends: usize,
    /// Genesis block interval.
    pub block_interval_ms: u64,
}

impl SimConfig {
    /// A scenario run: `nodes` masternodes, a clean network with 1-10 ms
    /// delays, no random faults or clients (the test drives everything).
    pub fn quiet(nodes: usize, seed: u64) -> SimConfig {
        SimConfig {
            seed,
            nodes,
            mode: Mode::Safety,
            byzantine: None,
            byzantine_index: nodes - 1,
            observer: false,
            crashes: false,
            partitions: false,
            drop_rate: 0.0,
            dup_rate: 0.0,
            min_delay_ms: 1,
            max_delay_ms: 10,
            duration_ms: 30_000,
            heal_at_ms: 0,
            client_txs: 0,
            double_spends: 0,
            block_interval_ms: 200,
        }
    }

    /// A run of `mode` with random faults, decided by the seed.
    pub fn random(seed: u64, mode: Mode) -> SimConfig {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
        // Committees of 4 to 7 (f = 1 or 2; the adversary is one member).
        let nodes = rng.random_range(4..=7);
        let modes = Byzantine::ALL.len();
        let byzantine = match rng.random_range(0..modes + 2) {
            k if k < modes => Some(Byzantine::ALL[k]),
            _ => None,
        };
        SimConfig {
            seed,
            nodes,
            mode,
            byzantine,
            byzantine_index: rng.random_range(0..nodes),
            observer: rng.random_bool(0.5),
            // In liveness mode the Byzantine node is the one fault allowed.
            crashes: mode == Mode::Safety || byzantine.is_none(),
            partitions: true,
            drop_rate: rng.random_range(0.0..0.1),
            dup_rate: rng.random_range(0.0..0.05),
            min_delay_ms: 1,
            max_delay_ms: rng.random_range(5..60),
            duration_ms: 9_000,
            heal_at_ms: 4_000,
            client_txs: rng.random_range(4..14),
            double_spends: rng.random_range(0..3),
            block_interval_ms: 200,
        }
    }
}

/// An invariant broke.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The run's seed.
    pub seed: u64,
    /// The mode.
    pub mode: Mode,
    /// Simulated time.
    pub at: Millis,
    /// What broke.
    pub what: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.mode {
            Mode::Safety => "safety",
            Mode::Liveness => "liveness",
        };
        write!(
            f,
            "seed {} ({mode} mode) at {} ms: {}\nreplay: SIM_SEED={} SIM_MODE={mode} make sim",
            self.seed, self.at, self.what, self.seed
        )
    }
}

/// A scheduled happening.
#[derive(Clone)]
enum Happening {
    Deliver { to: usize, from: usize, message: Message },
    Timer { node: usize, epoch: u64, timer: Timer },
    Client,
    Resubmit,
    DoubleSpend,
    Crash(usize),
    Restart(usize),
    Partition,
    Heal,
    Observer,
}

impl fmt::Debug for Happening {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Happening::Deliver { to, from, message } => {
                write!(f, "deliver {} {from}->{to}", message.kind())
            }
            Happening::Timer { node, timer, .. } => write!(f, "timer {timer:?} at {node}"),
            Happening::Client => f.write_str("client"),
            Happening::Resubmit => f.write_str("resubmit"),
            Happening::DoubleSpend => f.write_str("double-spend"),
            Happening::Crash(i) => write!(f, "crash {i}"),
            Happening::Restart(i) => write!(f, "restart {i}"),
            Happening::Partition => f.write_str("partition"),
            Happening::Heal => f.write_str("heal"),
            Happening::Observer => f.write_str("observer"),
        }
    }
}

/// One simulated masternode.
struct SimNode {
    id: NodeId,
    seed: [u8; 32],
    core: Option<Core>,
    store: Restored,
    /// The durable txid index beside the store (it survives crashes too).
    index: MemoryIndex,
    blocks: Vec<(Block, CommitCertificate)>,
    epoch: u64,
    byzantine: Option<Byzantine>,
    adversary: Option<Adversary>,
}

/// A key with coins, as a client holds it.
struct ClientKey {
    key: SecretKey,
    payload: AddressPayload,
}

/// The simulation.
pub struct Sim {
    config: SimConfig,
    rng: ChaCha8Rng,
    now: Millis,
    seq: u64,
    queue: BinaryHeap<Reverse<(Millis, u64)>>,
    happenings: HashMap<u64, Happening>,
    genesis: Genesis,
    nodes: Vec<SimNode>,
    /// partition[i] = group of node i; messages cross groups only when equal.
    partition: Vec<u8>,
    core_config: CoreConfig,
    // clients
    client_keys: Vec<ClientKey>,
    /// Client coins: output, owner key, and the nodes where it is final.
    coins: BTreeMap<OutPoint, (TxOut, usize, BTreeSet<usize>)>,
    client_spent: HashSet<OutPoint>,
    spender_keys: Vec<ClientKey>,
    spender_coins: Vec<(OutPoint, TxOut, usize)>,
    sent_honest: Vec<(TxId, Millis, usize)>,
    honest_pending: BTreeMap<TxId, (Transaction, BTreeSet<usize>)>,
    client_sent: usize,
    double_sent: usize,
    // observations
    bodies: HashMap<TxId, Transaction>,
    final_spends: HashMap<OutPoint, TxId>,
    final_anywhere: HashSet<TxId>,
    blocks_at: BTreeMap<u64, BlockHash>,
    honest_tx_votes: HashMap<(NodeId, OutPoint), TxId>,
    honest_batch_seqs: HashMap<(NodeId, u64), Vec<TxId>>,
    honest_block_votes: HashMap<(NodeId, u64, u32, VoteKind), Option<BlockHash>>,
    final_at: Vec<HashSet<TxId>>,
    total_allocated: u64,
    violation: Option<Violation>,
    crash_mid_outputs: bool,
    crash_after_votes: Option<usize>,
    spent_by_child: HashSet<OutPoint>,
    /// Certificates honest nodes persisted (what an observer can replay).
    certificates: HashMap<TxId, FinalityCertificate>,
    /// (Byzantine node, its twin) when the Byzantine mode is Twins.
    twin: Option<(usize, usize)>,
    /// A test is delivering a message of its own making ([`Sim::inject`]),
    /// perhaps in an honest member's name: charges are not checked.
    injecting: bool,
    /// Some consensus messages delivered, for replays.
    overheard: VecDeque<Message>,
    /// Messages honest nodes sent to ids outside the simulation (the
    /// observer), newest last, bounded.
    outsider_inbox: Vec<Message>,
    /// The independent account of the committed chain.
    chain: invariants::Chain,
    trace_count: u64,
    /// (recipient, message kind) pairs the network drops (`Sim::mute`).
    muted: HashSet<(usize, &'static str)>,
    /// Messages sent between simulated nodes, by (sender, recipient, kind).
    sent: HashMap<(usize, usize, &'static str), usize>,
    /// What each node answered its clients, in order.
    replies: Vec<(usize, SubmitOutcome)>,
}

const CHAIN: ChainId = ChainId(0x51u32);

impl fmt::Debug for Sim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sim")
            .field("config", &self.config)
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

/// The genesis a simulation uses: `nodes` Free masternodes (equal weights)
/// with keys from fixed seeds, and coins for clients.
fn sim_genesis(
    nodes: &[(NodeId, [u8; 32])],
    allocations: Vec<Allocation>,
    block_interval_ms: u64,
) -> Genesis {
    let mut committee: Vec<GenesisMasternode> = nodes
        .iter()
        .map(|(id, _)| GenesisMasternode {
            id: *id,
            p2p_address: "sim".into(),
            tier: Tier::Free,
            reward_address: AddressPayload::from_public_key(&id.public_key())
                .to_address(Network::Dev),
        })
        .collect();
    committee.sort_by_key(|m| m.id);
    let params = ConsensusParams {
        block_interval_ms,
        propose_timeout_ms: 300,
        prevote_timeout_ms: 200,
        precommit_timeout_ms: 200,
        timeout_delta_ms: 100,
        max_future_block_ms: 1_000,
        ..ConsensusParams::default()
    };
    Genesis {
        chain_id: CHAIN,
        network: Network::Dev,
        timestamp_ms: 0,
        committee,
        min_masternodes: nodes.len().min(3) as u32,
        params,
        allocations,
    }
}

impl Sim {
    /// Builds the committee, clients and genesis; schedules the run.
    pub fn new(config: SimConfig) -> Sim {
        Sim::with_core_config(config, CoreConfig { tick_interval_ms: 250, ..CoreConfig::default() })
    }

    /// [`Sim::new`] with the cores' local limits and pacing given.
    pub fn with_core_config(config: SimConfig, core_config: CoreConfig) -> Sim {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let mut node_keys = Vec::new();
        for i in 0..config.nodes {
            let mut seed = [0u8; 32];
            seed[0] = 0xa0;
            seed[1] = i as u8;
            node_keys.push((NodeId::from(SecretKey::from_seed(seed).public()), seed));
        }
        let key = |tag: u8, i: usize| {
            let mut seed = [0u8; 32];
            seed[0] = tag;
            seed[1] = i as u8;
            let key = SecretKey::from_seed(seed);
            let payload = AddressPayload::from_public_key(&key.public());
            ClientKey { key, payload }
        };
        let client_keys: Vec<ClientKey> = (0..6).map(|i| key(0xc0, i)).collect();
        let spender_keys: Vec<ClientKey> = (0..2).map(|i| key(0xd0, i)).collect();
        let coin_value = Amount::from_sat(1_000_000);
        let mut allocations = Vec::new();
        for k in &client_keys {
            for _ in 0..6 {
                allocations.push(Allocation {
                    address: k.payload.to_address(Network::Dev),
                    value: coin_value,
                });
            }
        }
        for k in &spender_keys {
            for _ in 0..4 {
                allocations.push(Allocation {
                    address: k.payload.to_address(Network::Dev),
                    value: coin_value,
                });
            }
        }
        let genesis = sim_genesis(&node_keys, allocations, config.block_interval_ms);
        let alloc_txid = genesis.allocation_tx().txid(CHAIN);
        let mut coins = BTreeMap::new();
        let mut spender_coins = Vec::new();
        let per_client = 6;
        for (i, alloc) in genesis.allocations.iter().enumerate() {
            let outpoint = OutPoint { txid: alloc_txid, vout: i as u32 };
            let output = TxOut { value: alloc.value, address: alloc.address.payload };
            if i < client_keys.len() * per_client {
                coins.insert(outpoint, (output, i / per_client, (0..config.nodes).collect()));
            } else {
                spender_coins.push((outpoint, output, (i - client_keys.len() * per_client) / 4));
            }
        }
        let total_allocated = genesis.allocations.iter().map(|a| a.value.sat()).sum();
        let byz_index = config.byzantine_index.min(config.nodes - 1);
        let mut nodes: Vec<SimNode> = node_keys
            .iter()
            .enumerate()
            .map(|(i, (id, seed))| SimNode {
                id: *id,
                seed: *seed,
                core: None,
                store: Restored::genesis(&genesis),
                index: MemoryIndex::new(&genesis),
                blocks: Vec::new(),
                epoch: 0,
                byzantine: if i == byz_index { config.byzantine } else { None },
                adversary: None,
            })
            .collect();
        // Twins: a second process with the Byzantine node's key and store
        // of its own.
        let twin = (config.byzantine == Some(Byzantine::Twins)).then(|| {
            let (id, seed) = node_keys[byz_index];
            nodes.push(SimNode {
                id,
                seed,
                core: None,
                store: Restored::genesis(&genesis),
                index: MemoryIndex::new(&genesis),
                blocks: Vec::new(),
                epoch: 0,
                byzantine: Some(Byzantine::Twins),
                adversary: None,
            });
            (byz_index, nodes.len() - 1)
        });
        if let Some(mode) = config.byzantine.and_then(Byzantine::mode) {
            let committee = protocol::Committee::from_genesis(&genesis);
            let (id, seed) = node_keys[byz_index];
            let me = committee.index_of(&id).unwrap_or(0);
            let key = SecretKey::from_seed(seed);
            nodes[byz_index].adversary = Some(Adversary::new(mode, key, CHAIN, me, rng.random()));
        }
        let n = nodes.len();
        let mut sim = Sim {
            rng: ChaCha8Rng::seed_from_u64(rng.random()),
            config,
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            happenings: HashMap::new(),
            genesis,
            nodes,
            partition: vec![0; n],
            core_config,
            client_keys,
            coins,
            spender_keys,
            spender_coins,
            sent_honest: Vec::new(),
            honest_pending: BTreeMap::new(),
            client_sent: 0,
            double_sent: 0,
            client_spent: HashSet::new(),
            bodies: HashMap::new(),
            final_spends: HashMap::new(),
            final_anywhere: HashSet::new(),
            blocks_at: BTreeMap::new(),
            honest_tx_votes: HashMap::new(),
            honest_batch_seqs: HashMap::new(),
            honest_block_votes: HashMap::new(),
            final_at: vec![HashSet::new(); n],
            total_allocated,
            violation: None,
            crash_mid_outputs: false,
            crash_after_votes: None,
            spent_by_child: HashSet::new(),
            certificates: HashMap::new(),
            twin,
            injecting: false,
            overheard: VecDeque::new(),
            outsider_inbox: Vec::new(),
            chain: invariants::Chain::default(),
            trace_count: 0,
            muted: HashSet::new(),
            sent: HashMap::new(),
            replies: Vec::new(),
        };
        for i in 0..n {
            sim.boot(i);
        }
        sim
    }

    /// A simulation with clients and faults scheduled as the config says.
    pub fn random(config: SimConfig) -> Sim {
        let mut sim = Sim::new(config);
        sim.crash_mid_outputs = sim.config.crashes;
        let heal = sim.config.heal_at_ms;
        let spacing = heal / (sim.config.client_txs as u64 + 1).max(1);
        for i in 0..sim.config.client_txs {
            let at = 100 + spacing * i as u64 + sim.rng.random_range(0..spacing.max(1));
            sim.schedule(at, Happening::Client);
        }
        for _ in 0..sim.config.double_spends {
            let at = sim.rng.random_range(100..heal.max(101));
            sim.schedule(at, Happening::DoubleSpend);
        }
        if sim.config.crashes {
            for _ in 0..sim.rng.random_range(1..4) {
                let at = sim.rng.random_range(200..heal.max(201));
                // Any node may crash; each is back by heal time.
                let node = sim.rng.random_range(0..sim.config.nodes);
                sim.schedule(at, Happening::Crash(node));
                let back = (at + sim.rng.random_range(100..2_000)).min(heal);
                sim.schedule(back, Happening::Restart(node));
            }
        }
        if sim.config.partitions {
            for _ in 0..sim.rng.random_range(0..3) {
                let at = sim.rng.random_range(200..heal.max(201));
                sim.schedule(at, Happening::Partition);
                let back = (at + sim.rng.random_range(200..2_500)).min(heal);
                sim.schedule(back, Happening::Heal);
            }
        }
        sim.schedule(heal, Happening::Heal);
        if sim.config.observer {
            // It never stops: liveness must hold while it talks.
            let mut at = sim.rng.random_range(20..80);
            while at < sim.config.duration_ms {
                sim.schedule(at, Happening::Observer);
                at += sim.rng.random_range(20..80);
            }
        }
        let mut at = heal + 100;
        while at + 2_000 < sim.config.duration_ms {
            sim.schedule(at, Happening::Resubmit);
            at += 700;
        }
        for node in 0..sim.config.nodes {
            sim.schedule(heal, Happening::Restart(node));
        }
        sim
    }

    fn schedule(&mut self, at: Millis, happening: Happening) {
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq)));
        self.happenings.insert(self.seq, happening);
    }

    fn boot(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        node.epoch += 1;
        let key = SecretKey::from_seed(node.seed);
        let index = Arc::new(node.index.clone());
        let mut core =
            Core::new(self.core_config.clone(), &self.genesis, key, node.store.clone(), index);
        let outputs = core.start(self.now);
        node.core = Some(core);
        self.perform(i, outputs);
    }

    fn is_honest(&self, i: usize) -> bool {
        self.nodes[i].byzantine.is_none()
    }
}

/// What a finished run saw.
#[derive(Clone, Debug)]
pub struct SimReport {
    /// Committed height per node at the end.
    pub heights: Vec<u64>,
    /// Honest transactions sent.
    pub honest_txs: usize,
    /// Transactions final somewhere.
    pub final_txs: usize,
}

/// The Byzantine node's address (used by tests that pick a node).
pub fn address_of(id: &NodeId) -> Address {
    AddressPayload::from_public_key(&id.public_key()).to_address(Network::Dev)
}
