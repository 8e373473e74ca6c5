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
    NodeId, OutPoint, SecretKey, Signature, Tier, Transaction, TxId, TxIn, TxOut,
};

use crate::byzantine::Adversary;
use crate::inbound::Refusal;
use crate::index::MemoryIndex;
use crate::io::{Event, Input, Millis, Origin, Output, PersistOp, SubmitOutcome, Timer, TxState};
use crate::message::{MAX_BLOCKS_PER_MESSAGE, Message};
use crate::restore::Restored;
use crate::{Core, CoreConfig};

mod adversary;
mod invariants;

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

    // ---- control (for scenario tests) ----

    /// Current simulated time.
    pub fn now(&self) -> Millis {
        self.now
    }

    /// The genesis.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// The id of node `i`.
    pub fn node_id(&self, i: usize) -> NodeId {
        self.nodes[i].id
    }

    /// The core of node `i`, if it is running.
    pub fn core(&self, i: usize) -> Option<&Core> {
        self.nodes[i].core.as_ref()
    }

    /// Splits the nodes into groups; messages only flow within a group.
    pub fn partition(&mut self, groups: &[&[usize]]) {
        for (g, members) in groups.iter().enumerate() {
            for &i in *members {
                self.partition[i] = g as u8;
            }
        }
    }

    /// Drops every message of `kind` ([`Message::kind`]) sent to node `to`
    /// from now on (a scenario's way to keep one kind of news from a node).
    pub fn mute(&mut self, to: usize, kind: &'static str) {
        self.muted.insert((to, kind));
    }

    /// What node `i` answered its clients so far, oldest first.
    pub fn replies(&self, i: usize) -> Vec<&SubmitOutcome> {
        self.replies.iter().filter(|(node, _)| *node == i).map(|(_, outcome)| outcome).collect()
    }

    /// How many messages of `kind` node `from` sent node `to` (those a
    /// partition, a mute or a drop stopped are not counted).
    pub fn sent_count(&self, from: usize, to: usize, kind: &'static str) -> usize {
        self.sent.get(&(from, to, kind)).copied().unwrap_or(0)
    }

    /// Node `i`'s prevote or precommit at (height, round), as it sent it:
    /// `Some(None)` is a nil vote, `None` no vote seen (honest nodes only).
    pub fn block_vote_of(
        &self,
        i: usize,
        height: u64,
        round: u32,
        kind: VoteKind,
    ) -> Option<Option<BlockHash>> {
        self.honest_block_votes.get(&(self.nodes[i].id, height, round, kind)).copied()
    }

    /// Ends every partition.
    pub fn heal(&mut self) {
        self.partition.iter_mut().for_each(|g| *g = 0);
    }

    /// Crashes node `i` (its unsent outputs are lost; its store survives).
    pub fn crash(&mut self, i: usize) {
        self.nodes[i].core = None;
    }

    /// Restarts node `i` from its store.
    pub fn restart(&mut self, i: usize) {
        if self.nodes[i].core.is_none() {
            self.boot(i);
        }
    }

    /// Makes node `i` crash right after its next persist of own votes, before
    /// the vote batch that follows it is sent.
    pub fn crash_after_next_own_votes(&mut self, i: usize) {
        self.crash_after_votes = Some(i);
    }

    /// A signed transaction spending `inputs` (genesis coins of client keys,
    /// by index of coin in [`Sim::client_coins`]) to `outputs`.
    pub fn client_coins(&self) -> Vec<(OutPoint, TxOut)> {
        self.coins.iter().map(|(o, (t, _, _))| (*o, *t)).collect()
    }

    /// Builds and signs a transaction spending `inputs` (which must pay to
    /// client or double-spender keys) and paying `pay` to client key `to`,
    /// the rest minus the minimum fee back to the first input's owner.
    pub fn build_tx(&self, inputs: &[(OutPoint, TxOut)], to: usize, pay: u64) -> Transaction {
        let keys: Vec<&ClientKey> = inputs
            .iter()
            .map(|(_, o)| {
                self.client_keys
                    .iter()
                    .chain(&self.spender_keys)
                    .find(|k| k.payload == o.address)
                    .expect("inputs pay to sim client keys")
            })
            .collect();
        let total: u64 = inputs.iter().map(|(_, o)| o.value.sat()).sum();
        let params = &self.genesis.params;
        let change_to = keys[0].payload;
        let mut outputs =
            vec![TxOut { value: Amount::from_sat(pay), address: self.client_keys[to].payload }];
        let fee_guess =
            params.required_fee(inputs.len(), Amount::from_sat(total)).map_or(0, |a| a.sat());
        let change = total.saturating_sub(pay).saturating_sub(fee_guess);
        if change >= params.dust_limit_sat {
            outputs.push(TxOut { value: Amount::from_sat(change), address: change_to });
        }
        let mut tx = Transaction {
            version: 1,
            inputs: inputs
                .iter()
                .zip(&keys)
                .map(|((op, _), k)| TxIn {
                    prev: *op,
                    pubkey: k.key.public(),
                    signature: Signature::ZERO,
                })
                .collect(),
            outputs,
            lock_time: 0,
            timestamp: self.now as i64,
        };
        for (i, k) in keys.iter().enumerate() {
            tx.sign_input(CHAIN, i, &k.key);
        }
        tx
    }

    /// Submits `tx` to node `i` as a client would.
    pub fn submit(&mut self, i: usize, tx: Transaction) -> TxId {
        let txid = tx.txid(CHAIN);
        if self.verbose() {
            eprintln!(
                "[{}] submit {} to node {i} (up={}) inputs {:?}",
                self.now,
                txid.short(),
                self.nodes[i].core.is_some(),
                tx.inputs
                    .iter()
                    .map(|x| format!("{}:{}", x.prev.txid.short(), x.prev.vout))
                    .collect::<Vec<_>>()
            );
        }
        self.bodies.insert(txid, tx.clone());
        self.deliver_input(i, Input::SubmitTx { tx, origin: Origin::Client(self.seq) });
        txid
    }

    /// Delivers `message` to node `i` now, as if peer `from` (any id, a
    /// committee member's or an observer's) had sent it.
    pub fn inject(&mut self, i: usize, from: NodeId, message: Message) {
        self.injecting = true;
        self.deliver_input(i, Input::Message { from, message });
        self.injecting = false;
    }

    /// Messages honest nodes sent to ids outside the simulation (the
    /// observer's inbox), oldest first.
    pub fn sent_to_outsiders(&self) -> &[Message] {
        &self.outsider_inbox
    }

    /// The finality certificate an honest node persisted for `txid`.
    pub fn certificate(&self, txid: &TxId) -> Option<FinalityCertificate> {
        self.certificates.get(txid).cloned()
    }

    /// The state of `txid` at node `i` (None if unknown or the node is down).
    pub fn state(&self, i: usize, txid: &TxId) -> Option<TxState> {
        self.nodes[i].core.as_ref()?.tx_status(txid).map(|s| s.state)
    }

    /// True when `txid` is final or committed at node `i` (committed blocks
    /// are looked up in the node's store, as timed's RPC does: the core only
    /// remembers recent blocks' txids).
    pub fn is_final(&self, i: usize, txid: &TxId) -> bool {
        matches!(self.state(i, txid), Some(TxState::Final | TxState::Committed))
            || self.nodes[i]
                .blocks
                .iter()
                .any(|(b, _)| b.txs.iter().any(|t| t.txid(CHAIN) == *txid))
    }

    /// The committed height of node `i` (its store's, if it is down).
    pub fn height(&self, i: usize) -> u64 {
        match &self.nodes[i].core {
            Some(core) => core.ledger().height(),
            None => self.nodes[i].store.tip_header.height,
        }
    }

    /// The block node `i` committed at `height` (block 0 is not stored).
    pub fn committed_block(&self, i: usize, height: u64) -> Option<&Block> {
        self.nodes[i].blocks.iter().map(|(b, _)| b).find(|b| b.header.height == height)
    }

    /// The block hash every honest node committed at `height`, if any did.
    pub fn block_hash(&self, height: u64) -> Option<BlockHash> {
        self.blocks_at.get(&height).copied()
    }

    /// A one-line account of `txid` at every node (for failure messages).
    pub fn describe(&self, txid: &TxId) -> String {
        (0..self.nodes.len())
            .map(|i| {
                let status = self.nodes[i].core.as_ref().and_then(|c| c.tx_status(txid));
                format!(
                    "node {i} h={} {:?} w={:?} rej={:?}",
                    self.height(i),
                    status.as_ref().map(|s| s.state),
                    status.as_ref().map(|s| s.weight),
                    status.as_ref().and_then(|s| s.rejection.clone())
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The first invariant broken, if any.
    pub fn violation(&self) -> Option<&Violation> {
        self.violation.as_ref()
    }

    /// Runs until simulated time `until` or a violation.
    pub fn run_until(&mut self, until: Millis) -> Result<(), Violation> {
        while let Some(Reverse((at, seq))) = self.queue.peek().copied() {
            if at > until {
                break;
            }
            self.queue.pop();
            self.now = self.now.max(at);
            if let Some(happening) = self.happenings.remove(&seq) {
                if std::env::var_os("SIM_TRACE").is_some() {
                    self.trace_count += 1;
                    if self.trace_count.is_multiple_of(20000) {
                        let kind = match &happening {
                            Happening::Deliver { message, .. } => message.kind(),
                            Happening::Timer { timer, .. } => match timer {
                                Timer::Tick => "tick",
                                Timer::StartHeight(_) => "start",
                                _ => "tm-timer",
                            },
                            _ => "other",
                        };
                        eprintln!(
                            "t={} steps={} queue={} kind={} heights={:?}",
                            self.now,
                            self.trace_count,
                            self.queue.len(),
                            kind,
                            (0..self.nodes.len()).map(|i| self.height(i)).collect::<Vec<_>>()
                        );
                    }
                }
                self.happen(happening);
            }
            if let Some(v) = &self.violation {
                return Err(v.clone());
            }
        }
        self.now = self.now.max(until);
        Ok(())
    }

    fn probe(&self) {
        let states: Vec<String> = self
            .nodes
            .iter()
            .map(|n| match &n.core {
                Some(c) => {
                    let info = c.info();
                    format!(
                        "h{}/r{}/{}{}",
                        info.current_height,
                        info.round,
                        info.step,
                        if info.syncing { "/sync" } else { "" }
                    )
                }
                None => "down".into(),
            })
            .collect();
        eprintln!("[{}] probe {states:?}", self.now);
        for (i, node) in self.nodes.iter().enumerate() {
            if let Some(core) = &node.core {
                eprintln!("    node {i}: {}", core.describe_height());
            }
        }
    }

    /// Runs until `condition` holds or `deadline` passes; true if it held.
    pub fn run_until_condition(
        &mut self,
        deadline: Millis,
        mut condition: impl FnMut(&Sim) -> bool,
    ) -> Result<bool, Violation> {
        while self.now < deadline {
            if condition(self) {
                return Ok(true);
            }
            let next = (self.now + 50).min(deadline);
            self.run_until(next)?;
        }
        Ok(condition(self))
    }

    /// Runs the whole configured simulation and checks the mode's
    /// end-of-run property.
    pub fn run(mut self) -> Result<SimReport, Violation> {
        let duration = self.config.duration_ms;
        let heal = self.config.heal_at_ms.min(duration);
        let mut at_heal = None;
        let step = if self.verbose() { 250 } else { duration };
        let mut t = 0;
        while t < duration {
            if at_heal.is_none() && t + step > heal {
                self.run_until(heal)?;
                at_heal = Some(self.highest_honest_height());
            }
            t = (t + step).min(duration);
            self.run_until(t)?;
            if self.verbose() {
                self.probe();
            }
        }
        if self.config.mode == Mode::Liveness {
            self.check_liveness(at_heal.unwrap_or(0))?;
        }
        Ok(SimReport {
            heights: (0..self.nodes.len()).map(|i| self.height(i)).collect(),
            honest_txs: self.sent_honest.len(),
            final_txs: self.final_anywhere.len(),
        })
    }

    fn fail(&mut self, what: String) {
        if self.violation.is_none() {
            self.violation = Some(Violation {
                seed: self.config.seed,
                mode: self.config.mode,
                at: self.now,
                what,
            });
        }
    }

    /// An honest node never charges an honest peer with an offence: a
    /// charge is a step toward a ban, and honest nodes banning each other
    /// is a partition nobody asked for. (Twins share a key, so their peers
    /// may rightly charge it.)
    fn check_charge(&mut self, i: usize, peer: &NodeId, reason: Refusal) {
        if !reason.is_offence() || self.twin.is_some() || self.injecting || !self.is_honest(i) {
            return;
        }
        if let Some(j) = self.nodes.iter().position(|n| n.id == *peer)
            && self.is_honest(j)
        {
            self.fail(format!("node {i} charged honest node {j} with {}", reason.as_str()));
        }
    }

    fn highest_honest_height(&self) -> u64 {
        (0..self.nodes.len())
            .filter(|i| self.is_honest(*i))
            .map(|i| self.height(i))
            .max()
            .unwrap_or(0)
    }

    /// Every honest transaction sent before the heal is final on every live
    /// honest node, and the chain grew after the heal: every live honest
    /// node is at least two blocks past the highest height at heal time.
    fn check_liveness(&mut self, at_heal: u64) -> Result<(), Violation> {
        let live_honest: Vec<usize> = (0..self.nodes.len())
            .filter(|i| self.is_honest(*i) && self.nodes[*i].core.is_some())
            .collect();
        let sent: Vec<(TxId, Millis, usize)> = self.sent_honest.clone();
        for (txid, at, _) in sent {
            if at > self.config.heal_at_ms {
                continue;
            }
            for &i in &live_honest {
                if !self.is_final(i, &txid) {
                    let state = self.state(i, &txid);
                    let all = self.describe(&txid);
                    self.fail(format!(
                        "liveness: honest transaction {txid} sent at {at} ms is {state:?} at node {i} at the end [{all}]"
                    ));
                    return Err(self.violation.clone().expect("just set"));
                }
            }
        }
        let min_height = live_honest.iter().map(|i| self.height(*i)).min().unwrap_or(0);
        let expected = at_heal + 2;
        if min_height < expected {
            self.fail(format!(
                "liveness: height only {min_height} at the end, {at_heal} at the heal (expected at least {expected})"
            ));
            return Err(self.violation.clone().expect("just set"));
        }
        Ok(())
    }

    // ---- the event loop ----

    fn verbose(&self) -> bool {
        std::env::var_os("SIM_VERBOSE").is_some()
    }

    fn happen(&mut self, happening: Happening) {
        if self.verbose()
            && !matches!(happening, Happening::Deliver { .. } | Happening::Timer { .. })
        {
            eprintln!(
                "[{}] {:?} partition={:?} up={:?}",
                self.now,
                happening,
                self.partition,
                self.nodes.iter().map(|n| n.core.is_some()).collect::<Vec<_>>()
            );
        }
        match happening {
            Happening::Deliver { to, from, message } => {
                if self.nodes[to].core.is_some() && self.partition[to] == self.partition[from] {
                    let from_id = self.nodes[from].id;
                    if let Some(adversary) = self.nodes[to].adversary.as_mut() {
                        adversary.heard(&message);
                    }
                    if message.is_consensus() && self.seq.is_multiple_of(16) {
                        if self.overheard.len() >= 256 {
                            self.overheard.pop_front();
                        }
                        self.overheard.push_back(message.clone());
                    }
                    self.deliver_input(to, Input::Message { from: from_id, message });
                }
            }
            Happening::Timer { node, epoch, timer } => {
                if self.nodes[node].epoch == epoch && self.nodes[node].core.is_some() {
                    self.deliver_input(node, Input::Timer(timer));
                }
            }
            Happening::Client => self.client_step(),
            Happening::Resubmit => self.resubmit_pending(),
            Happening::DoubleSpend => self.double_spend_step(),
            Happening::Crash(i) => {
                if self.config.mode == Mode::Liveness {
                    // Liveness allows f faults in total: the Byzantine node
                    // is one; crashes then only hit it.
                    let f = (self.nodes.len() - 1) / 3;
                    let down = self.nodes.iter().filter(|n| n.core.is_none()).count();
                    let byz = self.nodes.iter().filter(|n| n.byzantine.is_some()).count();
                    if down + byz >= f && self.is_honest(i) {
                        return;
                    }
                }
                self.crash(i);
            }
            Happening::Restart(i) => self.restart(i),
            Happening::Partition => {
                let n = self.nodes.len();
                let cut = self.rng.random_range(1..n);
                let mut order: Vec<usize> = (0..n).collect();
                for k in (1..n).rev() {
                    let j = self.rng.random_range(0..=k);
                    order.swap(k, j);
                }
                for (pos, &i) in order.iter().enumerate() {
                    self.partition[i] = u8::from(pos >= cut);
                }
            }
            Happening::Heal => self.heal(),
            Happening::Observer => self.observer_step(),
        }
    }

    fn deliver_input(&mut self, i: usize, input: Input) {
        let now = self.now;
        let Some(core) = self.nodes[i].core.as_mut() else { return };
        // The driver answers block requests from its store, as timed does.
        if let Input::Message { from, message: Message::GetBlocks { from: height } } = &input {
            let from = *from;
            let height = *height;
            let blocks: Vec<(Block, CommitCertificate)> = self.nodes[i]
                .blocks
                .iter()
                .filter(|(b, _)| b.header.height >= height)
                .take(MAX_BLOCKS_PER_MESSAGE)
                .cloned()
                .collect();
            if !blocks.is_empty()
                && let Some(to) = self.recipient(i, &from)
            {
                self.outgoing(i, to, Message::Blocks(blocks));
            }
            return;
        }
        let byz_tx = match &input {
            Input::SubmitTx { tx, .. } | Input::Message { message: Message::Tx(tx), .. } => {
                Some(tx.clone())
            }
            _ => None,
        };
        let mut outputs = core.handle(now, input);
        if let Some(core) = self.nodes[i].core.as_mut() {
            outputs.extend(core.seal(now));
        }
        if let Some(tx) = byz_tx {
            self.byzantine_vote(i, &tx);
        }
        self.perform(i, outputs);
        if self.is_honest(i) {
            self.check_bounds(i);
        }
    }

    /// Carries out a node's outputs in order; may crash it right after a
    /// persist (what was persisted survives, what follows is lost).
    fn perform(&mut self, i: usize, outputs: Vec<Output>) {
        for output in outputs {
            if self.nodes[i].core.is_none() {
                return;
            }
            match output {
                Output::Persist(op) => {
                    let own_votes = matches!(op, PersistOp::OwnVotes { .. });
                    if let PersistOp::Final(list) = &op
                        && self.is_honest(i)
                    {
                        for (_, certificate) in list {
                            self.certificates.insert(certificate.txid, certificate.clone());
                        }
                    }
                    if let PersistOp::Commit(committed) = &op {
                        if self.is_honest(i) {
                            self.check_commit(i, &committed.block);
                        }
                        self.nodes[i]
                            .blocks
                            .push((committed.block.clone(), committed.certificate.clone()));
                    }
                    self.nodes[i].store.apply(&op);
                    self.nodes[i].index.apply(&op, CHAIN);
                    let height = self.nodes[i].store.tip_header.height;
                    if let Some(core) = self.nodes[i].core.as_mut() {
                        core.mark_durable(height);
                    }
                    if own_votes && self.crash_after_votes == Some(i) {
                        self.crash_after_votes = None;
                        self.crash(i);
                        return;
                    }
                    if self.crash_mid_outputs
                        && self.now < self.config.heal_at_ms
                        && self.rng.random_bool(0.002)
                    {
                        self.crash(i);
                        let back = self.now + self.rng.random_range(50..800);
                        self.schedule(back.min(self.config.heal_at_ms), Happening::Restart(i));
                        return;
                    }
                }
                Output::Send { to, message } => match self.recipient(i, &to) {
                    Some(j) => self.outgoing(i, j, message),
                    None => {
                        if self.outsider_inbox.len() >= 4_096 {
                            self.outsider_inbox.remove(0);
                        }
                        self.outsider_inbox.push(message);
                    }
                },
                Output::Broadcast(message) => {
                    for j in 0..self.nodes.len() {
                        if j != i {
                            self.outgoing(i, j, message.clone());
                        }
                    }
                }
                Output::SetTimer { timer, at } => {
                    let epoch = self.nodes[i].epoch;
                    self.schedule(at.max(self.now), Happening::Timer { node: i, epoch, timer });
                }
                Output::Event(event) => self.observe(i, event),
                Output::Reply { outcome, .. } => self.replies.push((i, outcome)),
                Output::Refused { peer, reason } => self.check_charge(i, &peer, reason),
            }
        }
    }

    /// A message leaving node `i` for node `j`: honest nodes' signed
    /// messages are recorded for the double-vote check; the Byzantine node
    /// may alter or withhold.
    fn outgoing(&mut self, i: usize, j: usize, message: Message) {
        if self.is_honest(i) {
            self.record_honest_signature(i, &message);
            self.network_send(i, j, message);
        } else {
            for message in self.byzantine_filter(i, j, message) {
                self.network_send(i, j, message);
            }
        }
    }

    /// Which process gets what node `from` sends to `id`: with Twins, the
    /// twin serves the odd-numbered honest nodes, the original the others.
    fn recipient(&self, from: usize, id: &NodeId) -> Option<usize> {
        let j = self.nodes.iter().position(|n| n.id == *id)?;
        match self.twin {
            Some((original, twin)) if j == original && from % 2 == 1 => Some(twin),
            _ => Some(j),
        }
    }

    /// Whether a message from `from` reaches `to` at all (Twins: each twin
    /// talks only to its half of the honest nodes, never to the other twin).
    fn linked(&self, from: usize, to: usize) -> bool {
        let Some((original, twin)) = self.twin else { return true };
        let side = |k: usize| if k % 2 == 1 { twin } else { original };
        match (from == original || from == twin, to == original || to == twin) {
            (true, true) => false,
            (true, false) => side(to) == from,
            (false, true) => side(from) == to,
            (false, false) => true,
        }
    }

    fn network_send(&mut self, from: usize, to: usize, message: Message) {
        if !self.linked(from, to) || self.muted.contains(&(to, message.kind())) {
            return;
        }
        *self.sent.entry((from, to, message.kind())).or_default() += 1;
        if self.rng.random_bool(self.config.drop_rate.clamp(0.0, 1.0))
            && self.now < self.config.heal_at_ms
        {
            return;
        }
        let delay = self.rng.random_range(
            self.config.min_delay_ms..=self.config.max_delay_ms.max(self.config.min_delay_ms),
        );
        if self.rng.random_bool(self.config.dup_rate.clamp(0.0, 1.0)) {
            let again = delay + self.rng.random_range(1..50);
            self.schedule(
                self.now + again,
                Happening::Deliver { to, from, message: message.clone() },
            );
        }
        self.schedule(self.now + delay, Happening::Deliver { to, from, message });
    }

    // ---- invariants ----

    fn record_honest_signature(&mut self, i: usize, message: &Message) {
        let id = self.nodes[i].id;
        match message {
            Message::VoteBatch(batch) if batch.voter == id => {
                match self.honest_batch_seqs.get(&(id, batch.seq)) {
                    Some(txids) if *txids != batch.txids => {
                        self.fail(format!(
                            "honest node {i} signed two different batches with seq {}",
                            batch.seq
                        ));
                        return;
                    }
                    Some(_) => {}
                    None => {
                        self.honest_batch_seqs.insert((id, batch.seq), batch.txids.clone());
                    }
                }
                for txid in &batch.txids {
                    let Some(tx) = self.bodies.get(txid) else { continue };
                    let inputs: Vec<OutPoint> = tx.inputs.iter().map(|x| x.prev).collect();
                    for outpoint in inputs {
                        match self.honest_tx_votes.get(&(id, outpoint)) {
                            Some(other) if other != txid => {
                                self.fail(format!(
                                    "honest node {i} voted for {txid} and {other}, which both spend {outpoint}"
                                ));
                                return;
                            }
                            Some(_) => {}
                            None => {
                                self.honest_tx_votes.insert((id, outpoint), *txid);
                            }
                        }
                    }
                }
            }
            Message::BlockVote(vote) => {
                // Votes are relayed (proof-of-lock); attribute to the signer.
                let Some(signer) =
                    self.genesis.committee.get(usize::from(vote.voter)).map(|m| m.id)
                else {
                    return;
                };
                let Some(signer_node) = self.nodes.iter().position(|n| n.id == signer) else {
                    return;
                };
                if !self.is_honest(signer_node) {
                    return;
                }
                let i = signer_node;
                let key = (signer, vote.height, vote.round, vote.kind);
                match self.honest_block_votes.get(&key) {
                    Some(block) if *block != vote.block => {
                        self.fail(format!(
                            "honest node {i} cast two {:?}s at height {} round {}",
                            vote.kind, vote.height, vote.round
                        ));
                    }
                    Some(_) => {}
                    None => {
                        self.honest_block_votes.insert(key, vote.block);
                    }
                }
            }
            _ => {}
        }
    }

    fn observe(&mut self, i: usize, event: Event) {
        if !self.is_honest(i) {
            return;
        }
        if self.verbose() {
            match &event {
                Event::TxState { txid, state, rejection, weight } => eprintln!(
                    "[{}] node {i} tx {} -> {state:?} w={weight} {rejection:?}",
                    self.now,
                    txid.short()
                ),
                Event::Syncing(s) => eprintln!("[{}] node {i} syncing={s}", self.now),
                Event::ProposalRejected { height, round, reason } => eprintln!(
                    "[{}] node {i} rejects proposal h{height} r{round}: {reason}",
                    self.now
                ),
                Event::Equivocation(_) => eprintln!("[{}] node {i} saw equivocation", self.now),
                _ => {}
            }
        }
        match event {
            Event::TxState { txid, state: TxState::Final, .. } => {
                self.final_at[i].insert(txid);
                self.final_anywhere.insert(txid);
                self.honest_pending.remove(&txid);
                let Some(tx) = self.bodies.get(&txid).cloned() else { return };
                for input in &tx.inputs {
                    match self.final_spends.get(&input.prev) {
                        Some(other) if *other != txid => {
                            self.fail(format!(
                                "conflicting finality: {txid} and {other} both final, both spend {}",
                                input.prev
                            ));
                            return;
                        }
                        Some(_) => {}
                        None => {
                            self.final_spends.insert(input.prev, txid);
                        }
                    }
                }
                self.check_final_against_chain(i, txid);
                self.credit_client(&tx, txid, i);
            }
            Event::TxState { txid, state: TxState::Lost, .. }
                if self.final_anywhere.contains(&txid) =>
            {
                self.fail(format!(
                    "transaction {txid} was final somewhere but node {i} marked it lost"
                ));
            }
            Event::BlockCommitted { height, hash, txids, round } => {
                if self.verbose() {
                    eprintln!(
                        "[{}] node {i} committed height {height} round {round} txs {}",
                        self.now,
                        txids.len()
                    );
                }
                match self.blocks_at.get(&height) {
                    Some(other) if *other != hash => {
                        self.fail(format!(
                            "two blocks at height {height}: {other} and {hash} (node {i})"
                        ));
                        return;
                    }
                    Some(_) => {}
                    None => {
                        self.blocks_at.insert(height, hash);
                    }
                }
                for txid in txids.iter().skip(1) {
                    self.final_anywhere.insert(*txid);
                }
                self.check_ledger(i);
            }
            _ => {}
        }
    }

    // ---- clients ----

    /// A client learns its transaction is final at node `node`: its outputs
    /// become spendable there (a client only spends change where the parent
    /// is final, as loadgen does).
    fn credit_client(&mut self, tx: &Transaction, txid: TxId, node: usize) {
        for (vout, output) in tx.outputs.iter().enumerate() {
            let outpoint = OutPoint { txid, vout: vout as u32 };
            if self.client_spent.contains(&outpoint) || self.spent_by_child.contains(&outpoint) {
                continue;
            }
            if let Some(owner) = self.client_keys.iter().position(|k| k.payload == output.address) {
                self.coins
                    .entry(outpoint)
                    .or_insert((*output, owner, BTreeSet::new()))
                    .2
                    .insert(node);
            }
        }
    }

    fn pick_node(&mut self, candidates: &BTreeSet<usize>) -> Option<usize> {
        let live: Vec<usize> =
            candidates.iter().copied().filter(|i| self.nodes[*i].core.is_some()).collect();
        let pool: Vec<usize> =
            if live.is_empty() { candidates.iter().copied().collect() } else { live };
        if pool.is_empty() {
            return None;
        }
        Some(pool[self.rng.random_range(0..pool.len())])
    }

    /// Resubmits what has not finalized anywhere yet (a node may have
    /// crashed with it, or a partition dropped it): idempotent, as a wallet
    /// retries.
    fn resubmit_pending(&mut self) {
        let stale: Vec<(Transaction, BTreeSet<usize>)> =
            self.honest_pending.values().cloned().collect();
        for (tx, nodes) in stale {
            if let Some(node) = self.pick_node(&nodes) {
                self.submit(node, tx);
            }
        }
    }

    fn client_step(&mut self) {
        self.client_sent += 1;
        self.resubmit_pending();
        // Two coins of different keys, final at a common node.
        let entries: Vec<(OutPoint, TxOut, usize, BTreeSet<usize>)> =
            self.coins.iter().map(|(op, (o, owner, at))| (*op, *o, *owner, at.clone())).collect();
        let mut choice = None;
        let start = if entries.is_empty() { 0 } else { self.rng.random_range(0..entries.len()) };
        'outer: for k in 0..entries.len() {
            let a = &entries[(start + k) % entries.len()];
            for b in &entries {
                if b.2 != a.2 {
                    let common: BTreeSet<usize> = a.3.intersection(&b.3).copied().collect();
                    if !common.is_empty() {
                        choice = Some((a.clone(), b.clone(), common));
                        break 'outer;
                    }
                }
            }
        }
        let Some((first, second, common)) = choice else { return };
        let Some(node) = self.pick_node(&common) else { return };
        for op in [first.0, second.0] {
            self.coins.remove(&op);
            self.client_spent.insert(op);
        }
        let to = self.rng.random_range(0..self.client_keys.len());
        let pay = (first.1.value.sat() + second.1.value.sat()) / 2;
        let tx = self.build_tx(&[(first.0, first.1), (second.0, second.1)], to, pay);
        let txid = tx.txid(CHAIN);
        self.sent_honest.push((txid, self.now, node));
        self.honest_pending.insert(txid, (tx.clone(), common.clone()));
        self.submit(node, tx.clone());
        // Sometimes spend the new transaction's output at once: a child
        // sent before its parent is final waits, then finalizes.
        if self.rng.random_bool(0.25) {
            let output = tx.outputs[0];
            let child_input = (OutPoint { txid, vout: 0 }, output);
            let pay = output.value.sat() / 2;
            let child = self.build_tx(&[child_input], to, pay);
            let child_id = child.txid(CHAIN);
            // A client sends a child where it sent the parent; relays may
            // still deliver them out of order elsewhere.
            self.sent_honest.push((child_id, self.now, node));
            self.honest_pending.insert(child_id, (child.clone(), [node].into_iter().collect()));
            self.submit(node, child);
            // The child spends output 0; the client must not spend it again.
            self.spent_by_child.insert(OutPoint { txid, vout: 0 });
        }
    }

    fn double_spend_step(&mut self) {
        self.double_sent += 1;
        let Some((outpoint, output, owner)) = self.spender_coins.pop() else { return };
        let key = &self.spender_keys[owner];
        let make = |to: usize, sim: &Sim| {
            let mut tx = Transaction {
                version: 1,
                inputs: vec![TxIn {
                    prev: outpoint,
                    pubkey: key.key.public(),
                    signature: Signature::ZERO,
                }],
                outputs: vec![TxOut {
                    value: Amount::from_sat(output.value.sat() - 5_000 - to as u64),
                    address: sim.client_keys[to].payload,
                }],
                lock_time: 0,
                timestamp: sim.now as i64,
            };
            tx.sign_input(CHAIN, 0, &key.key);
            tx
        };
        let a = make(0, self);
        let b = make(1, self);
        let n = self.config.nodes;
        let i = self.rng.random_range(0..n);
        let j = (i + 1 + self.rng.random_range(0..n - 1)) % n;
        self.submit(i, a);
        self.submit(j, b);
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
