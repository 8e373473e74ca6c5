//! What reaches the tracker and what it hands over: how it is set up,
//! the messages of its one inbox (from the sender, the stream followers,
//! the resolutions and the drain), and its report at the end.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, oneshot};

use protocol::TxId;
use protocol::rpc::{StreamEvent, TxState};
use protocol::validate::TxRejection;

use super::record::{LiveStats, Role, RunEvent, TxRecord};
use crate::nodes::NodeSet;
use crate::pool::{Coin, SharedPool};
use crate::recorder::Recorder;

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
