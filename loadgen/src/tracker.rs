//! The one task that owns every transaction's record: when it was meant to
//! be sent, when it was, to which node, what the RPC answered, and its fate
//! from the event streams of every node (final on the first node, final on
//! all, rejected with the reason's kind, conflicted, lost, timed out).
//!
//! Everything reaches it through one bounded inbox, in order: the sender
//! registers a transaction before its RPC is issued, so no event about it
//! can arrive first. It feeds the [`Recorder`], gives coins back to the
//! pool once a fate is known, and watches the conflicting pairs live.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot};

use protocol::TxId;
use protocol::rpc::{StreamEvent, TxState};
use protocol::validate::TxRejection;

use crate::nodes::NodeSet;
use crate::pool::{Coin, SharedPool};
use crate::recorder::{NONE, Recorder, micros};
use crate::streams;

/// A transaction's fate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fate {
    /// Not known yet.
    Pending,
    /// Final on at least one node.
    Final,
    /// Rejected (by the RPC or an event), `reason` says why.
    Rejected,
    /// No quorum possible for it.
    Conflicted,
    /// A conflicting transaction is final.
    Lost,
    /// No fate within the timeout.
    TimedOut,
}

impl Role {
    /// The name in the history file.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Regular => "regular",
            Role::PairFirst => "pair_first",
            Role::PairSecond => "pair_second",
        }
    }
}

impl Fate {
    /// The name in the history file.
    pub fn as_str(self) -> &'static str {
        match self {
            Fate::Pending => "pending",
            Fate::Final => "final",
            Fate::Rejected => "rejected",
            Fate::Conflicted => "conflicted",
            Fate::Lost => "lost",
            Fate::TimedOut => "timed_out",
        }
    }
}

/// A transaction's part in the workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// An ordinary transaction.
    Regular,
    /// The first of a conflicting pair (its partner is the next record).
    PairFirst,
    /// The second of a conflicting pair (its partner is the previous record).
    PairSecond,
}

/// What the sender tells the tracker about a transaction it is sending.
#[derive(Debug)]
pub struct SentTx {
    /// Its index in the run (0, 1, ...), in send order.
    pub seq: u32,
    /// Its id.
    pub txid: TxId,
    /// Intended send time, µs since the origin.
    pub intended_us: u64,
    /// Actual send time, µs.
    pub sent_us: u64,
    /// The node sent to.
    pub node: u8,
    /// False for the warm-up.
    pub measured: bool,
    /// Regular or part of a pair.
    pub role: Role,
    /// Coins spent.
    pub inputs: Vec<Coin>,
    /// Coins created.
    pub outputs: Vec<Coin>,
    /// The in-flight slot it holds (closed-loop mode), freed with its fate.
    pub permit: Option<OwnedSemaphorePermit>,
}

/// What `sendrawtransaction` answered.
#[derive(Debug)]
pub enum SendOutcome {
    /// Accepted (any state).
    Accepted,
    /// Refused: the rejection's kind, or `busy`, `unreachable`, `rpc_<code>`.
    Rejected(Box<str>),
    /// No answer (a timeout, a reset): the fate comes from the streams.
    Failed(Box<str>),
}

/// The tracker's inbox.
#[derive(Debug)]
pub enum TrackerMsg {
    /// A transaction is being sent.
    Sent(Box<SentTx>),
    /// The RPC answered.
    Answer {
        /// The transaction.
        seq: u32,
        /// The node that answered (another than the one chosen when that one
        /// refused the connection).
        node: u8,
        /// When, µs.
        at_us: u64,
        /// What.
        outcome: SendOutcome,
    },
    /// A transaction or block event of a node.
    Event {
        /// The node.
        node: u8,
        /// When it arrived, µs.
        at_us: u64,
        /// The event.
        event: StreamEvent,
    },
    /// A node's stream may have missed events.
    StreamLagged {
        /// The node.
        node: u8,
        /// When, µs.
        at_us: u64,
        /// Why.
        reason: String,
    },
    /// Something about a node's stream worth reporting.
    StreamTrouble {
        /// The node.
        node: u8,
        /// When, µs.
        at_us: u64,
        /// What.
        what: String,
    },
    /// A state learned with `gettransactionfinality`.
    Resolved {
        /// The node.
        node: u8,
        /// When, µs.
        at_us: u64,
        /// The transaction.
        txid: TxId,
        /// Its state there.
        state: TxState,
        /// For rejected: why.
        rejection: Option<TxRejection>,
    },
    /// A resolution of a node finished.
    ResolveDone {
        /// The node.
        node: u8,
    },
    /// Resolve, on every node that has not reported it final, each
    /// transaction final somewhere; acknowledged once the resolutions are
    /// started (then [`LiveStats::resolving`] counts them down).
    ResolveMissing(oneshot::Sender<()>),
    /// Acknowledged once every earlier message is handled (the inbox is
    /// in order): after it, [`LiveStats::pending`] counts every send.
    Flush(oneshot::Sender<()>),
    /// Stop and hand over the records.
    Finish(oneshot::Sender<TrackerReport>),
}

/// One transaction's record.
#[derive(Debug)]
pub struct TxRecord {
    /// Its id.
    pub txid: TxId,
    /// Intended send time, µs since the origin.
    pub intended_us: u64,
    /// Actual send time, µs.
    pub sent_us: u64,
    /// RPC acceptance, µs ([`NONE`] if never).
    pub accepted_us: u64,
    /// Final on the first node, µs.
    pub final_first_us: u64,
    /// Final on every node, µs.
    pub final_all_us: u64,
    /// The node sent to.
    pub node: u8,
    /// Nodes that reported it final (bit per node).
    pub final_mask: u64,
    /// Nodes that reported it lost or rejected.
    pub negative_mask: u64,
    /// Its fate for the statistics.
    pub fate: Fate,
    /// A fate learned after it timed out (coins only, not statistics).
    pub late_fate: Option<Fate>,
    /// Why (rejections, failures).
    pub reason: Option<Box<str>>,
    /// False for the warm-up.
    pub measured: bool,
    /// Regular or part of a pair.
    pub role: Role,
    coins: Option<Box<(Vec<Coin>, Vec<Coin>)>>,
    permit: Option<OwnedSemaphorePermit>,
}

#[cfg(test)]
impl TxRecord {
    /// A settled record, for tests of what reads records.
    pub(crate) fn settled(
        fate: Fate,
        role: Role,
        measured: bool,
        final_mask: u64,
        reason: Option<&str>,
    ) -> TxRecord {
        TxRecord {
            txid: TxId([0; 32]),
            intended_us: 0,
            sent_us: 0,
            accepted_us: NONE,
            final_first_us: if final_mask != 0 { 1 } else { NONE },
            final_all_us: NONE,
            node: 0,
            final_mask,
            negative_mask: 0,
            fate,
            late_fate: None,
            reason: reason.map(Into::into),
            measured,
            role,
            coins: None,
            permit: None,
        }
    }
}

/// Something that happened during the run worth showing in the report.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RunEvent {
    /// When, ms since the origin.
    pub at_ms: u64,
    /// The node concerned, if one.
    pub node: Option<String>,
    /// What.
    pub what: String,
}

/// Live counters for the progress line and the drain.
#[derive(Debug, Default)]
pub struct LiveStats {
    /// Transactions registered as sent.
    pub sent: AtomicU64,
    /// Accepted by the RPC.
    pub accepted: AtomicU64,
    /// Final on a first node.
    pub finals: AtomicU64,
    /// Rejected, lost or conflicted.
    pub failed: AtomicU64,
    /// Timed out.
    pub timed_out: AtomicU64,
    /// Without a fate.
    pub pending: AtomicU64,
    /// Final somewhere, not yet everywhere.
    pub awaiting_all: AtomicU64,
    /// Resolutions running.
    pub resolving: AtomicU64,
    /// p99 final-first latency of the last complete second, µs.
    pub last_p99_us: AtomicU64,
    /// Latest send lag, µs.
    pub lag_us: AtomicU64,
    /// Safety violations seen.
    pub violations: AtomicU64,
}

/// What the tracker hands over at the end.
#[derive(Debug)]
pub struct TrackerReport {
    /// Every transaction, in send order.
    pub records: Vec<TxRecord>,
    /// Histograms and series.
    pub recorder: Recorder,
    /// Longest time without a new block, µs (from block events).
    pub max_no_block_us: Option<u64>,
    /// Longest time without a finality while sending, µs.
    pub max_no_final_us: Option<u64>,
    /// Stream troubles, lags, equivocations.
    pub events: Vec<RunEvent>,
    /// Safety violations seen live.
    pub violations: Vec<String>,
}

/// The tracker's state.
#[derive(Debug)]
pub struct Tracker {
    origin: Instant,
    names: Vec<String>,
    nodes: Arc<NodeSet>,
    all_mask: u64,
    timeout_us: u64,
    measure_start_us: u64,
    last_slot_us: u64,
    records: Vec<TxRecord>,
    by_txid: HashMap<TxId, u32>,
    outstanding: VecDeque<u32>,
    recorder: Recorder,
    pool: Arc<SharedPool>,
    live: Arc<LiveStats>,
    inbox: mpsc::Sender<TrackerMsg>,
    top_height: u64,
    last_block_us: u64,
    max_no_block_us: Option<u64>,
    last_final_us: u64,
    max_no_final_us: Option<u64>,
    events: Vec<RunEvent>,
    violations: Vec<String>,
    reported_second: usize,
    probe_cursor: usize,
    probed: u64,
    on_violation: Option<ViolationHook>,
}

/// Called with each safety violation as it is seen.
struct ViolationHook(Box<dyn Fn(&str) + Send>);

impl std::fmt::Debug for ViolationHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ViolationHook")
    }
}

/// How the tracker is set up.
#[derive(Debug)]
pub struct TrackerSetup {
    /// The run's time origin.
    pub origin: Instant,
    /// The nodes (for resolutions).
    pub nodes: Arc<NodeSet>,
    /// Per-transaction timeout, µs.
    pub timeout_us: u64,
    /// Start of the measured part, µs.
    pub measure_start_us: u64,
    /// Intended time of the last slot, µs.
    pub last_slot_us: u64,
    /// The coin pool.
    pub pool: Arc<SharedPool>,
    /// Live counters.
    pub live: Arc<LiveStats>,
}

/// Rejection reasons after which a transaction's inputs are known unspent
/// and can be used again.
fn inputs_unspent_after(reason: &str) -> bool {
    matches!(
        reason,
        "busy"
            | "unreachable"
            | "node_unavailable"
            | "fee_too_low"
            | "too_large"
            | "dust"
            | "expired"
            | "too_many_inputs"
    )
}

/// The kind of a rejection, for the breakdown (`expired` when the node gave
/// none: it waited too long for a parent).
pub fn rejection_kind(rejection: Option<&TxRejection>) -> &'static str {
    rejection.map_or("expired", TxRejection::kind)
}

impl Tracker {
    /// A tracker; `inbox` is its own inbox's sending end (for resolutions).
    pub fn new(setup: TrackerSetup, inbox: mpsc::Sender<TrackerMsg>) -> Tracker {
        let n = setup.nodes.len();
        Tracker {
            origin: setup.origin,
            all_mask: if n >= 64 { u64::MAX } else { (1u64 << n) - 1 },
            names: setup.nodes.names().to_vec(),
            nodes: setup.nodes,
            timeout_us: setup.timeout_us,
            measure_start_us: setup.measure_start_us,
            last_slot_us: setup.last_slot_us,
            records: Vec::new(),
            by_txid: HashMap::new(),
            outstanding: VecDeque::new(),
            recorder: Recorder::new(),
            pool: setup.pool,
            live: setup.live,
            inbox,
            top_height: 0,
            last_block_us: 0,
            max_no_block_us: None,
            last_final_us: setup.measure_start_us,
            max_no_final_us: None,
            events: Vec::new(),
            violations: Vec::new(),
            reported_second: 0,
            probe_cursor: 0,
            probed: 0,
            on_violation: None,
        }
    }

    /// Calls `f` with each safety violation as it is seen (the progress
    /// line prints it).
    pub fn on_violation(&mut self, f: impl Fn(&str) + Send + 'static) {
        self.on_violation = Some(ViolationHook(Box::new(f)));
    }

    /// Runs until [`TrackerMsg::Finish`].
    pub async fn run(mut self, mut inbox: mpsc::Receiver<TrackerMsg>) {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(50));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                msg = inbox.recv() => match msg {
                    Some(TrackerMsg::Finish(reply)) => {
                        let _ = reply.send(self.finish());
                        return;
                    }
                    Some(msg) => self.handle(msg),
                    None => return,
                },
                _ = tick.tick() => self.on_tick(micros(self.origin.elapsed())),
            }
        }
    }

    fn node_name(&self, node: u8) -> String {
        self.names.get(usize::from(node)).cloned().unwrap_or_else(|| format!("node#{node}"))
    }

    fn event(&mut self, at_us: u64, node: Option<u8>, what: String) {
        // Streams that keep failing would flood the report: keep the first
        // few hundred.
        if self.events.len() < 500 {
            let node = node.map(|n| self.node_name(n));
            self.events.push(RunEvent { at_ms: at_us / 1_000, node, what });
        }
    }

    /// Handles one message.
    pub fn handle(&mut self, msg: TrackerMsg) {
        match msg {
            TrackerMsg::Sent(sent) => self.on_sent(*sent),
            TrackerMsg::Answer { seq, at_us, node, outcome } => {
                if let Some(record) = self.records.get_mut(seq as usize) {
                    record.node = node;
                }
                self.on_answer(seq, at_us, outcome);
            }
            TrackerMsg::Event { node, at_us, event } => match event {
                StreamEvent::Tx { txid, state, rejection, .. } => {
                    self.on_state(node, at_us, &txid, state, rejection.as_ref());
                }
                StreamEvent::Block { height, .. } => self.on_block(height, at_us),
                _ => {}
            },
            TrackerMsg::Resolved { node, at_us, txid, state, rejection } => {
                self.on_state(node, at_us, &txid, state, rejection.as_ref());
            }
            TrackerMsg::StreamLagged { node, at_us, reason } => {
                self.event(
                    at_us,
                    Some(node),
                    format!(
                        "event stream lagged ({reason}); resolving with gettransactionfinality"
                    ),
                );
                self.resolve_on(node, |r, bit| {
                    r.final_mask & bit == 0
                        && r.negative_mask & bit == 0
                        && r.fate != Fate::Rejected
                });
            }
            TrackerMsg::StreamTrouble { node, at_us, what } => self.event(at_us, Some(node), what),
            TrackerMsg::ResolveDone { .. } => {
                self.live.resolving.fetch_sub(1, Ordering::Relaxed);
            }
            TrackerMsg::ResolveMissing(ack) => {
                for node in 0..self.names.len() as u8 {
                    self.resolve_on(node, |r, bit| r.final_mask != 0 && r.final_mask & bit == 0);
                }
                let _ = ack.send(());
            }
            TrackerMsg::Flush(ack) => {
                let _ = ack.send(());
            }
            TrackerMsg::Finish(_) => {}
        }
    }

    fn resolve_on(&mut self, node: u8, wanted: impl Fn(&TxRecord, u64) -> bool) {
        let bit = 1u64 << node;
        let txids: Vec<TxId> =
            self.records.iter().filter(|r| wanted(r, bit)).map(|r| r.txid).collect();
        let Some(client) = self.nodes.client(usize::from(node)) else { return };
        if txids.is_empty() {
            return;
        }
        self.spawn_resolve(node, client, txids);
    }

    fn on_sent(&mut self, sent: SentTx) {
        tracing::trace!(seq = sent.seq, txid = %sent.txid, "sent");
        let seq = self.records.len() as u32;
        debug_assert_eq!(seq, sent.seq, "the sender registers in order");
        self.by_txid.insert(sent.txid, seq);
        self.recorder.record_sent(sent.intended_us, sent.sent_us, sent.measured);
        if sent.role != Role::PairSecond {
            self.recorder.record_offered(sent.intended_us);
        }
        self.live.lag_us.store(sent.sent_us.saturating_sub(sent.intended_us), Ordering::Relaxed);
        self.live.sent.fetch_add(1, Ordering::Relaxed);
        self.live.pending.fetch_add(1, Ordering::Relaxed);
        self.records.push(TxRecord {
            txid: sent.txid,
            intended_us: sent.intended_us,
            sent_us: sent.sent_us,
            accepted_us: NONE,
            final_first_us: NONE,
            final_all_us: NONE,
            node: sent.node,
            final_mask: 0,
            negative_mask: 0,
            fate: Fate::Pending,
            late_fate: None,
            reason: None,
            measured: sent.measured,
            role: sent.role,
            coins: Some(Box::new((sent.inputs, sent.outputs))),
            permit: sent.permit,
        });
        self.outstanding.push_back(seq);
    }

    fn on_answer(&mut self, seq: u32, at_us: u64, outcome: SendOutcome) {
        tracing::trace!(seq, ?outcome, "answer");
        let Some(record) = self.records.get_mut(seq as usize) else { return };
        match outcome {
            SendOutcome::Accepted => {
                if record.accepted_us == NONE {
                    record.accepted_us = at_us;
                    self.recorder.record_stage_accepted(record.intended_us, at_us, record.measured);
                    self.live.accepted.fetch_add(1, Ordering::Relaxed);
                }
            }
            SendOutcome::Rejected(reason) => self.settle(seq, Fate::Rejected, Some(reason), at_us),
            SendOutcome::Failed(reason) => {
                if record.reason.is_none() {
                    record.reason = Some(reason);
                }
            }
        }
    }

    fn on_state(
        &mut self,
        node: u8,
        at_us: u64,
        txid: &TxId,
        state: TxState,
        rejection: Option<&TxRejection>,
    ) {
        let Some(&seq) = self.by_txid.get(txid) else {
            tracing::debug!(%txid, %state, node, "event for a transaction this run did not send");
            return;
        };
        tracing::trace!(%txid, %state, node, seq, "state");
        let bit = 1u64 << node;
        match state {
            TxState::Final | TxState::Committed => self.on_final(seq, bit, at_us),
            TxState::Rejected => {
                self.records[seq as usize].negative_mask |= bit;
                let kind = rejection_kind(rejection);
                self.settle(seq, Fate::Rejected, Some(kind.into()), at_us);
            }
            TxState::Lost => {
                self.records[seq as usize].negative_mask |= bit;
                self.settle(seq, Fate::Lost, None, at_us);
            }
            TxState::Conflicted => self.settle(seq, Fate::Conflicted, None, at_us),
            TxState::Pending | TxState::WaitingForParent | TxState::Contested => {}
        }
    }

    fn on_final(&mut self, seq: u32, bit: u64, at_us: u64) {
        let index = seq as usize;
        let record = &mut self.records[index];
        let first = record.final_mask == 0;
        record.final_mask |= bit;
        if first {
            match record.fate {
                Fate::Pending | Fate::Conflicted | Fate::Rejected => {
                    let was = record.fate;
                    record.fate = Fate::Final;
                    record.final_first_us = at_us;
                    record.permit = None;
                    let (intended, measured) = (record.intended_us, record.measured);
                    match was {
                        Fate::Pending => {
                            self.live.pending.fetch_sub(1, Ordering::Relaxed);
                        }
                        _ => {
                            self.live.failed.fetch_sub(1, Ordering::Relaxed);
                        }
                    }
                    self.live.finals.fetch_add(1, Ordering::Relaxed);
                    self.live.awaiting_all.fetch_add(1, Ordering::Relaxed);
                    self.recorder.record_final_first(intended, at_us, measured);
                    if at_us >= self.measure_start_us
                        && at_us <= self.last_slot_us.max(self.measure_start_us)
                    {
                        let gap = at_us.saturating_sub(self.last_final_us);
                        self.max_no_final_us = Some(self.max_no_final_us.unwrap_or(0).max(gap));
                        self.last_final_us = self.last_final_us.max(at_us);
                    }
                    self.release_coins(index, Fate::Final);
                    self.check_pair(index);
                }
                Fate::TimedOut => {
                    let record = &mut self.records[index];
                    record.late_fate = Some(Fate::Final);
                    self.release_coins(index, Fate::Final);
                    self.check_pair(index);
                }
                Fate::Lost => {
                    let txid = record.txid;
                    self.violation(format!(
                        "{txid} was reported lost by a node and final by another"
                    ));
                    self.check_pair(index);
                }
                Fate::Final => {}
            }
        }
        let record = &mut self.records[index];
        if record.final_mask & self.all_mask == self.all_mask && record.final_all_us == NONE {
            record.final_all_us = at_us;
            if record.fate == Fate::Final {
                self.live.awaiting_all.fetch_sub(1, Ordering::Relaxed);
                let (intended, measured) = (record.intended_us, record.measured);
                self.recorder.record_final_all(intended, at_us, measured);
            }
        }
    }

    fn check_pair(&mut self, index: usize) {
        let partner = match self.records[index].role {
            Role::Regular => return,
            Role::PairFirst => index + 1,
            Role::PairSecond => index.wrapping_sub(1),
        };
        let Some(other) = self.records.get(partner) else { return };
        if other.final_mask != 0 {
            let (a, b) = (self.records[index].txid, other.txid);
            self.violation(format!("conflicting pair both final: {a} and {b}"));
        }
    }

    fn violation(&mut self, what: String) {
        self.live.violations.fetch_add(1, Ordering::Relaxed);
        if let Some(hook) = &self.on_violation {
            (hook.0)(&what);
        }
        tracing::error!(%what, "safety violation");
        self.violations.push(what);
    }

    /// Sets a fate (if the transaction has none) and frees what it held.
    fn settle(&mut self, seq: u32, fate: Fate, reason: Option<Box<str>>, at_us: u64) {
        let index = seq as usize;
        let record = &mut self.records[index];
        match (record.fate, fate) {
            (Fate::Pending, _) => {}
            // A node's later word refines "conflicted" into "lost".
            (Fate::Conflicted, Fate::Lost) => {
                record.fate = Fate::Lost;
                return;
            }
            (Fate::TimedOut, late) if record.late_fate.is_none() && late != Fate::TimedOut => {
                record.late_fate = Some(late);
                if let Some(reason) = reason {
                    record.reason.get_or_insert(reason);
                }
                self.release_coins(index, late);
                return;
            }
            _ => return,
        }
        record.fate = fate;
        if let Some(reason) = reason {
            record.reason = Some(reason);
        }
        record.permit = None;
        self.live.pending.fetch_sub(1, Ordering::Relaxed);
        if fate == Fate::TimedOut {
            self.live.timed_out.fetch_add(1, Ordering::Relaxed);
        } else {
            self.live.failed.fetch_add(1, Ordering::Relaxed);
            if fate == Fate::Rejected {
                self.recorder.record_rejected(at_us);
            }
        }
        self.release_coins(index, fate);
    }

    /// Gives back what a fate frees: outputs of a final transaction, inputs
    /// of one rejected for a reason that leaves them unspent; a timed-out
    /// one's coins stay quarantined in its record until its fate is known.
    fn release_coins(&mut self, index: usize, fate: Fate) {
        let record = &mut self.records[index];
        if fate == Fate::TimedOut {
            if let Some(coins) = &record.coins {
                self.pool.stats.quarantined.fetch_add(coins.0.len() as u64, Ordering::Relaxed);
            }
            return;
        }
        let Some(coins) = record.coins.take() else { return };
        let (inputs, outputs) = *coins;
        if record.fate == Fate::TimedOut {
            self.pool.stats.quarantined.fetch_sub(inputs.len() as u64, Ordering::Relaxed);
        }
        match fate {
            Fate::Final => self.pool.give_back(outputs),
            Fate::Rejected
                if record.role == Role::Regular
                    && record.reason.as_deref().is_some_and(inputs_unspent_after) =>
            {
                self.pool.give_back(inputs);
            }
            _ => {}
        }
    }

    fn on_block(&mut self, height: u64, at_us: u64) {
        if height <= self.top_height {
            return;
        }
        let gap = at_us.saturating_sub(self.last_block_us);
        self.max_no_block_us = Some(self.max_no_block_us.unwrap_or(0).max(gap));
        self.top_height = height;
        self.last_block_us = at_us;
    }

    fn on_tick(&mut self, now_us: u64) {
        while let Some(&seq) = self.outstanding.front() {
            let record = &self.records[seq as usize];
            if record.fate != Fate::Pending {
                self.outstanding.pop_front();
                continue;
            }
            if record.intended_us.saturating_add(self.timeout_us) > now_us {
                break;
            }
            self.outstanding.pop_front();
            self.settle(seq, Fate::TimedOut, None, now_us);
        }
        // The p99 of the last complete second, for the progress line.
        let current = (now_us / 1_000_000) as usize;
        if current > self.reported_second && current >= 1 {
            self.reported_second = current;
            self.probe_stale(now_us);
            if let Some(second) = self.recorder.seconds().get(current - 1)
                && !second.final_first.is_empty()
            {
                self.live
                    .last_p99_us
                    .store(second.final_first.value_at_quantile(0.99), Ordering::Relaxed);
            }
        }
    }

    /// Asks the node each transaction was sent to about those still
    /// without a fate well after their send (once each): a node that
    /// dropped an event without saying so must not turn a final
    /// transaction into a timed-out one.
    fn probe_stale(&mut self, now_us: u64) {
        let stale_us = (self.timeout_us / 4).max(2_000_000).min(self.timeout_us / 2);
        let mut by_node: Vec<Vec<TxId>> = vec![Vec::new(); self.names.len()];
        while let Some(record) = self.records.get(self.probe_cursor) {
            if record.intended_us.saturating_add(stale_us) > now_us {
                break;
            }
            if record.fate == Fate::Pending
                && let Some(list) = by_node.get_mut(usize::from(record.node))
            {
                list.push(record.txid);
            }
            self.probe_cursor += 1;
        }
        for (node, txids) in by_node.into_iter().enumerate() {
            let Some(client) = self.nodes.client(node) else { continue };
            if txids.is_empty() {
                continue;
            }
            self.probed += txids.len() as u64;
            self.spawn_resolve(node as u8, client, txids);
        }
    }

    fn spawn_resolve(&self, node: u8, client: client::RpcClient, txids: Vec<TxId>) {
        // Outside a runtime (unit tests of the bookkeeping) there is no one
        // to ask.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        self.live.resolving.fetch_add(1, Ordering::Relaxed);
        runtime.spawn(streams::resolve(node, client, txids, self.inbox.clone(), self.origin));
    }

    fn finish(mut self) -> TrackerReport {
        let now = micros(self.origin.elapsed());
        // The time since the last block (or since the start, when none
        // came) counts too: a stall at the end is a stall.
        let gap = now.saturating_sub(self.last_block_us);
        self.max_no_block_us = Some(self.max_no_block_us.unwrap_or(0).max(gap));
        if self.last_slot_us > self.last_final_us
            && self
                .records
                .iter()
                .any(|r| r.measured && r.intended_us > self.last_final_us && r.fate != Fate::Final)
        {
            let gap = self.last_slot_us - self.last_final_us;
            self.max_no_final_us = Some(self.max_no_final_us.unwrap_or(0).max(gap));
        }
        if self.probed > 0 {
            self.events.push(RunEvent {
                at_ms: now / 1_000,
                node: None,
                what: format!(
                    "{} transactions without a fate after a while were asked about with gettransactionfinality",
                    self.probed
                ),
            });
        }
        for record in &mut self.records {
            record.permit = None;
            // Still without a fate when the run ends (it was cut short):
            // timed out, as far as this run can tell.
            if record.fate == Fate::Pending {
                record.fate = Fate::TimedOut;
            }
        }
        TrackerReport {
            records: self.records,
            recorder: self.recorder,
            max_no_block_us: self.max_no_block_us,
            max_no_final_us: self.max_no_final_us,
            events: self.events,
            violations: self.violations,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::CoinPool;
    use protocol::OutPoint;

    fn tracker(nodes: usize) -> (Tracker, Arc<SharedPool>, mpsc::Receiver<TrackerMsg>) {
        let pool = Arc::new(SharedPool::new(CoinPool::new(2, 1)));
        let (inbox, receiver) = mpsc::channel(16);
        let nodes = (1..=nodes)
            .map(|i| crate::target::Node {
                name: format!("node{i}"),
                url: "http://127.0.0.1:9".into(),
                client: client::RpcClient::new("http://127.0.0.1:9", client::RpcAuth::None)
                    .unwrap(),
                data_dir: None,
            })
            .collect::<Vec<_>>();
        let setup = TrackerSetup {
            origin: Instant::now(),
            nodes: NodeSet::new(&nodes, client::ClientOptions::default()),
            timeout_us: 1_000_000,
            measure_start_us: 0,
            last_slot_us: 10_000_000,
            pool: pool.clone(),
            live: Arc::new(LiveStats::default()),
        };
        (Tracker::new(setup, inbox), pool, receiver)
    }

    fn coin(n: u8, key: u16) -> Coin {
        Coin { outpoint: OutPoint { txid: TxId([n; 32]), vout: 0 }, value: 10_000, key }
    }

    fn sent(seq: u32, role: Role) -> TrackerMsg {
        TrackerMsg::Sent(Box::new(SentTx {
            seq,
            txid: TxId([seq as u8 + 100; 32]),
            intended_us: u64::from(seq) * 1_000,
            sent_us: u64::from(seq) * 1_000 + 10,
            node: 0,
            measured: true,
            role,
            inputs: vec![coin(seq as u8, 0)],
            outputs: vec![coin(seq as u8 + 50, 1)],
            permit: None,
        }))
    }

    fn tx_event(node: u8, at_us: u64, seq: u32, state: TxState) -> TrackerMsg {
        TrackerMsg::Event {
            node,
            at_us,
            event: StreamEvent::Tx {
                id: 1,
                at_ms: 0,
                txid: TxId([seq as u8 + 100; 32]),
                state,
                weight: 0,
                rejection: None,
            },
        }
    }

    #[test]
    fn fates_from_events_and_latencies_from_intended_times() {
        let (mut t, pool, _inbox) = tracker(2);
        t.handle(sent(0, Role::Regular));
        t.handle(sent(1, Role::Regular));
        t.handle(sent(2, Role::Regular));
        t.handle(TrackerMsg::Answer {
            seq: 0,
            at_us: 2_000,
            node: 0,
            outcome: SendOutcome::Accepted,
        });
        t.handle(tx_event(1, 5_000, 0, TxState::Final));
        t.handle(tx_event(0, 7_000, 0, TxState::Final));
        t.handle(TrackerMsg::Answer {
            seq: 1,
            at_us: 2_000,
            node: 0,
            outcome: SendOutcome::Rejected("busy".into()),
        });
        t.on_tick(10_000_000);
        let report = t.finish();
        let r = &report.records;
        assert_eq!(r[0].fate, Fate::Final);
        assert_eq!((r[0].final_first_us, r[0].final_all_us), (5_000, 7_000));
        assert_eq!(r[1].fate, Fate::Rejected);
        assert_eq!(r[1].reason.as_deref(), Some("busy"));
        assert_eq!(r[2].fate, Fate::TimedOut);
        let (first, all) = (report.recorder.final_first(), report.recorder.final_all());
        assert!(first.equivalent(first.max(), 5_000), "measured from the intended time 0");
        assert!(all.equivalent(all.max(), 7_000));
        // The final's output and the busy rejection's input are back.
        assert_eq!(pool.available(), 2);
        assert_eq!(pool.stats.quarantined.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_timed_out_transaction_stays_timed_out_but_frees_its_coins_when_final() {
        let (mut t, pool, _inbox) = tracker(1);
        t.handle(sent(0, Role::Regular));
        t.on_tick(5_000_000);
        t.handle(tx_event(0, 6_000_000, 0, TxState::Final));
        let report = t.finish();
        assert_eq!(report.records[0].fate, Fate::TimedOut);
        assert_eq!(report.records[0].late_fate, Some(Fate::Final));
        assert!(report.recorder.final_first().is_empty());
        assert_eq!(pool.available(), 1, "its output came back");
        assert_eq!(pool.stats.quarantined.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn both_sides_of_a_pair_final_is_a_violation() {
        let (mut t, _pool, _inbox) = tracker(1);
        t.handle(sent(0, Role::PairFirst));
        t.handle(sent(1, Role::PairSecond));
        t.handle(tx_event(0, 5_000, 0, TxState::Final));
        t.handle(tx_event(0, 6_000, 1, TxState::Lost));
        assert!(t.violations.is_empty());
        t.handle(tx_event(0, 7_000, 1, TxState::Final));
        assert!(
            t.violations.iter().any(|v| v.contains("conflicting pair both final")),
            "{:?}",
            t.violations
        );
    }
}
