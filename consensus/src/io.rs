//! What goes into the core and what comes out.
//!
//! The core never performs I/O. The driver (the node, or the simulator) feeds
//! it [`Input`]s with the current time and carries out the [`Output`]s **in
//! order**, with one rule: every [`Output::Persist`] must be durable before
//! any later [`Output::Send`], [`Output::Broadcast`], [`Output::Event`] or
//! [`Output::Reply`] is performed. A driver may gather the persists of many
//! inputs into one flush (group commit) as long as it holds back the visible
//! outputs until that flush is done.

use serde::{Deserialize, Serialize};

use protocol::bft::{BlockVote, CommitCertificate, Proposal};
use protocol::finality::{FinalityCertificate, VoteBatch};
use protocol::validate::TxRejection;
use protocol::{Block, BlockHash, Hash256, NodeId, OutPoint, Transaction, TxId, TxOut};

use crate::message::Message;

/// Milliseconds since the Unix epoch (simulated time in the simulator).
pub type Millis = u64;

/// Who handed the core a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A client over RPC; the answer is an [`Output::Reply`] with this id.
    Client(u64),
    /// A peer's gossip.
    Peer(NodeId),
}

/// An input to the core.
#[derive(Clone, Debug)]
pub enum Input {
    /// A transaction to consider.
    SubmitTx {
        /// The transaction.
        tx: Transaction,
        /// Where it came from.
        origin: Origin,
    },
    /// A message from a peer (already authenticated as coming from `from`;
    /// its own signatures are still checked).
    Message {
        /// The sending peer.
        from: NodeId,
        /// The message.
        message: Message,
    },
    /// A timer the core set has fired.
    Timer(Timer),
    /// A peer connected: start anti-entropy with it.
    PeerUp(NodeId),
    /// A peer disconnected.
    PeerDown(NodeId),
}

/// The timers the core sets. Stale timers (for a past height or round) are
/// ignored when they fire, so the driver never needs to cancel one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// Start this height (the block interval after the previous commit).
    StartHeight(u64),
    /// Tendermint timeoutPropose(height, round).
    Propose(u64, u32),
    /// Tendermint timeoutPrevote(height, round).
    Prevote(u64, u32),
    /// Tendermint timeoutPrecommit(height, round).
    Precommit(u64, u32),
    /// Periodic housekeeping: anti-entropy status, re-sends, orphan expiry.
    Tick,
    /// Own votes waiting to be sealed into a batch are due.
    Seal,
}

/// A state change the driver must make durable (one atomic batch per
/// output) before performing any later visible output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PersistOp {
    /// Transactions this node locked inputs for, and its own vote batch for
    /// them: the locks and the batch are one atomic write (group commit).
    OwnVotes {
        /// The transactions whose inputs are now locked to them.
        locked: Vec<Transaction>,
        /// The signed batch (seq is the new highest own seq).
        batch: VoteBatch,
    },
    /// Transactions became final (not yet in a block).
    Final(Vec<(Transaction, FinalityCertificate)>),
    /// Transactions this node gives up on: lost to a final conflicting
    /// one, or conflicted for good. Their bodies leave the store; the
    /// outpoints this node locked for them stay frozen (it voted on them,
    /// so it never votes for another spender).
    Abandon(Vec<TxId>),
    /// A block was committed: store it, apply its UTXO changes, drop its
    /// transactions from the final-not-in-block set, all in one batch.
    Commit(Box<CommittedBlock>),
    /// This node's own proposal, durable before it is sent.
    OwnProposal(Box<Proposal>),
    /// This node's own prevote or precommit, durable before it is sent.
    OwnBlockVote(BlockVote),
}

/// Everything a block commit changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommittedBlock {
    /// The block.
    pub block: Block,
    /// Its hash.
    pub hash: BlockHash,
    /// The precommits that committed it.
    pub certificate: CommitCertificate,
    /// Outputs created.
    pub created: Vec<(OutPoint, TxOut)>,
    /// Outputs spent.
    pub spent: Vec<OutPoint>,
    /// The UTXO commitment after the block (the header's).
    pub utxo_commitment: Hash256,
}

pub use protocol::rpc::TxState;

/// Something observers (RPC, the event stream, metrics) learn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A transaction changed state.
    TxState {
        /// The transaction.
        txid: TxId,
        /// Its new state.
        state: TxState,
        /// For `rejected`: why.
        rejection: Option<TxRejection>,
        /// Weight of the votes seen for it.
        weight: u64,
    },
    /// A block was committed.
    BlockCommitted {
        /// Its height.
        height: u64,
        /// Its hash.
        hash: BlockHash,
        /// Its round.
        round: u32,
        /// The transactions it carries (coinbase first).
        txids: Vec<TxId>,
    },
    /// A masternode signed two conflicting things.
    Equivocation(Evidence),
    /// The core fell behind and is catching up, or finished doing so.
    Syncing(bool),
    /// A proposed block failed validity here (this node prevotes nil).
    ProposalRejected {
        /// Its height.
        height: u64,
        /// Its round.
        round: u32,
        /// Why.
        reason: String,
    },
}

/// Proof that a masternode equivocated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Evidence {
    /// Two vote batches with conflicting content: the same seq with different
    /// txids, or votes for two transactions spending one outpoint.
    VoteBatches(Box<VoteBatch>, Box<VoteBatch>),
    /// Two prevotes or precommits for different blocks at one
    /// (height, round, step).
    BlockVotes(Box<BlockVote>, Box<BlockVote>),
}

/// The answer to a client's [`Input::SubmitTx`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// Accepted (or already known) with this state.
    Accepted {
        /// The txid.
        txid: TxId,
        /// Its state now.
        state: TxState,
        /// True when the node already knew it.
        already_known: bool,
    },
    /// Invalid.
    Rejected {
        /// The txid.
        txid: TxId,
        /// Why.
        rejection: TxRejection,
    },
    /// The node is full right now; try again later.
    Busy {
        /// The txid.
        txid: TxId,
        /// Which limit.
        reason: String,
    },
}

/// An output of the core, performed in order by the driver.
#[derive(Clone, Debug)]
pub enum Output {
    /// Make this durable before any later visible output.
    Persist(PersistOp),
    /// Send to one peer.
    Send {
        /// The peer.
        to: NodeId,
        /// The message.
        message: Message,
    },
    /// Send to every connected committee member.
    Broadcast(Message),
    /// Fire `timer` at time `at` (or right away if `at` has passed).
    SetTimer {
        /// Which.
        timer: Timer,
        /// When.
        at: Millis,
    },
    /// Tell observers.
    Event(Event),
    /// A peer's message (or part of it) was refused; the core counted it.
    /// The driver charges the peer when [`Refusal::is_offence`].
    Refused {
        /// The sender.
        peer: NodeId,
        /// Why.
        reason: Refusal,
    },
    /// Answer a client.
    Reply {
        /// The id from [`Origin::Client`].
        request: u64,
        /// The answer.
        outcome: SubmitOutcome,
    },
}

/// Why the core refused (part of) a peer's message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Refusal {
    /// A vote batch, proposal or block vote from outside the committee, or
    /// about a voter outside it.
    NotMember,
    /// A field out of range: an empty or reversed seq range, seq 0, more
    /// items than a message may carry, a status for another committee.
    BadRange,
    /// A signature, certificate or proof that does not verify.
    BadSignature,
    /// A reply to nothing this node asked that peer (or a late one).
    Unsolicited,
    /// A proposal or vote for a round or height too far ahead to keep.
    TooFarAhead,
    /// A request repeated faster than it is served.
    RateLimited,
    /// More state than this node keeps for one voter or peer.
    OverLimit,
}

impl Refusal {
    /// Every reason, for metrics.
    pub const ALL: [Refusal; 7] = [
        Refusal::NotMember,
        Refusal::BadRange,
        Refusal::BadSignature,
        Refusal::Unsolicited,
        Refusal::TooFarAhead,
        Refusal::RateLimited,
        Refusal::OverLimit,
    ];

    /// The name used in metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::NotMember => "not_member",
            Refusal::BadRange => "bad_range",
            Refusal::BadSignature => "bad_signature",
            Refusal::Unsolicited => "unsolicited",
            Refusal::TooFarAhead => "too_far_ahead",
            Refusal::RateLimited => "rate_limited",
            Refusal::OverLimit => "over_limit",
        }
    }

    /// True when an honest peer never causes it: the sender is charged.
    /// (Unsolicited replies can be late honest ones; far-ahead messages and
    /// limits can be an honest peer's bad luck.)
    pub fn is_offence(self) -> bool {
        matches!(self, Refusal::NotMember | Refusal::BadRange | Refusal::BadSignature)
    }
}
