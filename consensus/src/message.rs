//! The messages masternodes exchange (what `net` carries).

use serde::{Deserialize, Serialize};

use protocol::bft::{BlockVote, CommitCertificate, Proposal};
use protocol::finality::{FinalityCertificate, VoteBatch};
use protocol::{Block, BlockHash, NodeId, Transaction, TxId};

/// The most items one request may ask for or one reply may carry.
pub const MAX_ITEMS_PER_MESSAGE: usize = 4_096;
/// The most blocks one catch-up reply carries.
pub const MAX_BLOCKS_PER_MESSAGE: usize = 16;

/// A consensus message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// A transaction, gossiped.
    Tx(Transaction),
    /// A masternode's vote batch (relayed as is).
    VoteBatch(VoteBatch),
    /// A block proposal.
    Proposal(Box<Proposal>),
    /// A prevote or precommit.
    BlockVote(BlockVote),
    /// Anti-entropy: what the sender has. Sent on connect and periodically.
    Status(Status),
    /// Asks for one voter's batches with seq in `from..=to`.
    GetVoteBatches {
        /// Whose batches.
        voter: NodeId,
        /// First seq wanted.
        from: u64,
        /// Last seq wanted.
        to: u64,
    },
    /// Batches answering [`Message::GetVoteBatches`]; `pruned_below` says the
    /// sender no longer has that voter's batches below this seq (all their
    /// transactions are in blocks).
    VoteBatches {
        /// Whose batches.
        voter: NodeId,
        /// The batches found, in seq order.
        batches: Vec<VoteBatch>,
        /// Seqs below this are gone (their transactions are committed).
        pruned_below: u64,
    },
    /// Asks for transaction bodies.
    GetTxs(Vec<TxId>),
    /// Transaction bodies, with a certificate when the sender has one.
    Txs(Vec<(Transaction, Option<FinalityCertificate>)>),
    /// Asks for committed blocks from `from` on.
    GetBlocks {
        /// First height wanted.
        from: u64,
    },
    /// Committed blocks with their commit certificates, in height order.
    Blocks(Vec<(Block, CommitCertificate)>),
    /// Asks for every final transaction not yet in a block.
    GetFinal,
    /// Final transactions not yet in a block, with certificates, in the
    /// order they became final at the sender.
    Final(Vec<(Transaction, FinalityCertificate)>),
}

impl Message {
    /// True for messages only committee members may originate (they are
    /// verified by their own signatures anyway; this lets the transport drop
    /// them early from observers).
    pub fn is_consensus(&self) -> bool {
        matches!(self, Message::VoteBatch(_) | Message::Proposal(_) | Message::BlockVote(_))
    }

    /// Block agreement: a node takes these before the bulk of transactions
    /// and vote batches waiting for it, so a loaded node's rounds do not
    /// time out behind its own queue.
    pub fn is_urgent(&self) -> bool {
        matches!(self, Message::Proposal(_) | Message::BlockVote(_))
    }

    /// A short name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Tx(_) => "tx",
            Message::VoteBatch(_) => "vote_batch",
            Message::Proposal(_) => "proposal",
            Message::BlockVote(_) => "block_vote",
            Message::Status(_) => "status",
            Message::GetVoteBatches { .. } => "get_vote_batches",
            Message::VoteBatches { .. } => "vote_batches",
            Message::GetTxs(_) => "get_txs",
            Message::Txs(_) => "txs",
            Message::GetBlocks { .. } => "get_blocks",
            Message::Blocks(_) => "blocks",
            Message::GetFinal => "get_final",
            Message::Final(_) => "final",
        }
    }
}

/// What a node has, for anti-entropy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// Its committed height.
    pub height: u64,
    /// Its last committed block.
    pub tip: BlockHash,
    /// The proof of `height`: the commit certificate of `tip` (none at
    /// height 0). A height without it is not believed.
    pub tip_certificate: Option<CommitCertificate>,
    /// The highest contiguous vote batch seq it holds per voter, in
    /// committee order.
    pub vote_seqs: Vec<u64>,
    /// Some transactions it holds that are not final yet (bounded), so a
    /// peer can fetch bodies it lacks.
    pub pending: Vec<TxId>,
}
