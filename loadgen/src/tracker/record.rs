//! What the tracker keeps: every transaction's record with its fate and
//! role, the run's noteworthy events, and the live counters the progress
//! line and the drain read.

use std::sync::atomic::AtomicU64;

use tokio::sync::OwnedSemaphorePermit;

use protocol::TxId;

use crate::pool::Coin;

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

/// One transaction's record.
#[derive(Debug)]
pub struct TxRecord {
    /// Its id.
    pub txid: TxId,
    /// Intended send time, µs since the origin.
    pub intended_us: u64,
    /// Actual send time, µs.
    pub sent_us: u64,
    /// RPC acceptance, µs ([`NONE`](crate::recorder::NONE) if never).
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
    /// Its inputs and outputs until its fate frees them.
    pub(super) coins: Option<Box<(Vec<Coin>, Vec<Coin>)>>,
    /// Its in-flight slot until it has a fate.
    pub(super) permit: Option<OwnedSemaphorePermit>,
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
        use crate::recorder::NONE;
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
