//! Read-only snapshots of a core, for RPC, metrics and the simulator.

use protocol::finality::FinalityCertificate;
use protocol::validate::TxRejection;
use protocol::{BlockHash, NodeId};

use crate::io::Refusal;
use crate::io::{Millis, TxState};

/// A snapshot for `getconsensusinfo` and metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsensusInfo {
    /// Committed height.
    pub height: u64,
    /// Tip hash.
    pub tip: BlockHash,
    /// Height being agreed.
    pub current_height: u64,
    /// Round at that height.
    pub round: u32,
    /// Step name.
    pub step: &'static str,
    /// Proposer of the current round.
    pub proposer: NodeId,
    /// (height, rounds used) of recent commits, newest last.
    pub recent_rounds: Vec<(u64, u32)>,
    /// Rounds beyond 0 started, in total.
    pub view_changes: u64,
    /// Highest contiguous vote-batch seq seen per committee member.
    pub votes_seen: Vec<(NodeId, u64)>,
    /// True while catching up.
    pub syncing: bool,
    /// The highest height a peer proved (a commit certificate or an
    /// applied block); 0 before any.
    pub best_peer_height: u64,
    /// Equivocations seen.
    pub equivocations: u64,
    /// Transactions that became final here since the core started.
    pub final_count: u64,
    /// When the last one did (0 if none yet).
    pub last_final_at: Millis,
    /// Peer messages refused, per reason.
    pub refusals: Vec<(Refusal, u64)>,
}

/// Pool sizes for `getmempoolinfo` and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MempoolInfo {
    /// Valid, not yet final.
    pub pending: usize,
    /// Their bytes.
    pub pending_bytes: usize,
    /// Waiting for a parent.
    pub orphans: usize,
    /// Their bytes.
    pub orphan_bytes: usize,
    /// Final, not yet in a block.
    pub final_not_in_block: usize,
    /// Txids with votes but no body.
    pub bodiless: usize,
}

/// How much a core holds of what peers can make it hold. The simulator
/// checks each against its bound after every step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Held {
    /// Block votes of rounds beyond the next one (always 0).
    pub votes_beyond_next_round: usize,
    /// Each voter's latest votes of far rounds (at most two per voter).
    pub far_votes: usize,
    /// Proposals of rounds beyond the next one (always 0).
    pub proposals_beyond_next_round: usize,
    /// Verified messages kept for the next height.
    pub future: usize,
    /// Txids asked for and not yet answered.
    pub body_requests: usize,
    /// Txids with votes but no body.
    pub bodiless: usize,
    /// The most txids one voter's held batches carry.
    pub max_voter_txids: usize,
}

/// What the core knows about one transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxStatus {
    /// Its state.
    pub state: TxState,
    /// Weight of the votes seen.
    pub weight: u64,
    /// For `rejected`: why.
    pub rejection: Option<TxRejection>,
    /// The block height that carries it, if committed recently.
    pub block_height: Option<u64>,
    /// Its certificate, when final and not yet in a block.
    pub certificate: Option<FinalityCertificate>,
    /// When this node first saw it (0 if unknown).
    pub seen_at: Millis,
}
