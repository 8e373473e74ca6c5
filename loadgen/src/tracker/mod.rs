//! The one task that owns every transaction's record: when it was meant to
//! be sent, when it was, to which node, what the RPC answered, and its fate
//! from the event streams of every node (final on the first node, final on
//! all, rejected with the reason's kind, conflicted, lost, timed out).
//!
//! Everything reaches it through one bounded inbox, in order: the sender
//! registers a transaction before its RPC is issued, so no event about it
//! can arrive first. It feeds the [`Recorder`], gives coins back to the
//! pool once a fate is known, and watches the conflicting pairs live.
//!
//! | concern | file |
//! |---|---|
//! | its setup, inbox messages and final report | `inbox.rs` |
//! | records, fates, roles, run events, live counters | `record.rs` |
//! | the fate table: sends, answers, states, coins, pairs | `fates.rs` |
//! | each node's events, lags, troubles and resolutions | `events.rs` |
//! | latencies, send lag, block and finality gaps | `latency.rs` |
//! | timeouts and probing what stays without a fate | `expiry.rs` |
//!
//! Each file adds to the one [`Tracker`] the state of which is defined
//! here; `fates` uses `latency`, `events` uses `fates` and `latency`,
//! `expiry` uses `fates` and `events`, none the other way round.

mod events;
mod expiry;
mod fates;
mod inbox;
mod latency;
mod record;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio::sync::mpsc;

use protocol::TxId;

use crate::nodes::NodeSet;
use crate::pool::SharedPool;
use crate::recorder::{Recorder, micros};

pub use fates::rejection_kind;
pub use inbox::{SendOutcome, SentTx, TrackerMsg, TrackerReport, TrackerSetup};
pub use record::{Fate, LiveStats, Role, RunEvent, TxRecord};

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
            TrackerMsg::Event { node, at_us, event } => self.on_event(node, at_us, event),
            TrackerMsg::Resolved { node, at_us, txid, state, rejection } => {
                self.on_state(node, at_us, &txid, state, rejection.as_ref());
            }
            TrackerMsg::StreamLagged { node, at_us, reason } => self.on_lagged(node, at_us, reason),
            TrackerMsg::StreamTrouble { node, at_us, what } => self.event(at_us, Some(node), what),
            TrackerMsg::ResolveDone { .. } => {
                self.live.resolving.fetch_sub(1, Ordering::Relaxed);
            }
            TrackerMsg::ResolveMissing(ack) => {
                self.resolve_missing();
                let _ = ack.send(());
            }
            TrackerMsg::Flush(ack) => {
                let _ = ack.send(());
            }
            TrackerMsg::Finish(_) => {}
        }
    }

    /// Every 50 ms (`now_us`): timeouts; at each new second, probing what
    /// stays without a fate and the p99 of the last complete second, for
    /// the progress line.
    fn on_tick(&mut self, now_us: u64) {
        self.expire(now_us);
        let current = (now_us / 1_000_000) as usize;
        if current > self.reported_second && current >= 1 {
            self.reported_second = current;
            self.probe_stale(now_us);
            self.publish_p99(current - 1);
        }
    }

    fn finish(mut self) -> TrackerReport {
        let now = micros(self.origin.elapsed());
        self.close_gaps(now);
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
    use crate::pool::{Coin, CoinPool};
    use protocol::OutPoint;
    use protocol::rpc::{StreamEvent, TxState};

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
