//! The boundary between the network and the core: every peer message is
//! range-checked here before any handler sees it, and a reply is taken only
//! when this node asked that peer for it.
//!
//! **An observer may ask, never tell.** A peer outside the committee may
//! send transactions and requests (`GetVoteBatches`, `GetTxs`, `GetBlocks`,
//! `GetFinal`) and a `Status` whose only believed field is a height proven
//! by the tip's commit certificate. Replies (`VoteBatches`, `Txs`, `Final`,
//! `Blocks`) count only when this node has an outstanding request to that
//! peer ([`Requests`]); committee members may also push `Blocks` (each one
//! carries its commit certificate). Vote batches, proposals and block votes
//! come only from members and are checked by their own signatures. The
//! table in docs/PROTOCOL.md ("What a peer may send") is the same rule.
//!
//! A refusal is data ([`Refusal`]): the core counts it per reason and
//! emits [`crate::Output::Refused`], so the driver can charge the sender
//! (penalty, then ban) when the reason is an offence.

use std::collections::HashMap;

use protocol::{Committee, MemberIndex, NodeId, TxId};

use crate::io::{Millis, Refusal};
use crate::message::{MAX_BLOCKS_PER_MESSAGE, MAX_ITEMS_PER_MESSAGE, Message};

/// How long an outstanding request waits for its reply.
pub(crate) const REQUEST_TTL_MS: Millis = 5_000;
/// Most outstanding body requests (txids asked for, not yet answered).
pub(crate) const MAX_BODY_REQUESTS: usize = 1 << 16;

/// One outstanding `GetVoteBatches`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct VoteRequest {
    pub(crate) from: u64,
    pub(crate) to: u64,
    pub(crate) at: Millis,
}

/// What this node asked which peer, so replies can be told from claims.
/// Bounded: entries are made only for requests this node sends (to members
/// for batches and bodies), expire after [`REQUEST_TTL_MS`], and a peer's go
/// when it disconnects.
#[derive(Debug, Default)]
pub(crate) struct Requests {
    pub(crate) vote_batches: HashMap<(NodeId, MemberIndex), VoteRequest>,
    /// Per peer: the first height asked for, and when.
    pub(crate) blocks: HashMap<NodeId, (u64, Millis)>,
    pub(crate) final_from: Option<(NodeId, Millis)>,
    /// Requests for the final set so far (each retry asks another member).
    pub(crate) final_attempts: usize,
    /// When each missing body was last asked for, and how many times.
    pub(crate) bodies: HashMap<TxId, (Millis, usize)>,
}

impl Requests {
    /// Forgets what `peer` was asked (it disconnected).
    pub(crate) fn forget_peer(&mut self, peer: &NodeId) {
        self.vote_batches.retain(|(p, _), _| p != peer);
        self.blocks.remove(peer);
        if self.final_from.is_some_and(|(p, _)| p == *peer) {
            self.final_from = None;
        }
    }

    /// Drops expired entries.
    pub(crate) fn expire(&mut self, now: Millis) {
        let fresh = |at: Millis| now < at.saturating_add(REQUEST_TTL_MS);
        self.vote_batches.retain(|_, r| fresh(r.at));
        self.blocks.retain(|_, (_, at)| fresh(*at));
        if self.final_from.is_some_and(|(_, at)| !fresh(at)) {
            self.final_from = None;
        }
        self.bodies.retain(|_, (at, _)| now < at.saturating_add(30_000));
    }

    /// True (and the entry consumed) when `peer` was asked for `voter`'s
    /// batches; returns the range asked.
    pub(crate) fn take_vote_batches(
        &mut self,
        peer: NodeId,
        voter: MemberIndex,
        now: Millis,
    ) -> Option<VoteRequest> {
        let request = self.vote_batches.remove(&(peer, voter))?;
        (now < request.at.saturating_add(REQUEST_TTL_MS)).then_some(request)
    }

    /// True when `peer` was asked for blocks recently.
    pub(crate) fn asked_blocks(&self, peer: &NodeId, now: Millis) -> bool {
        self.blocks.get(peer).is_some_and(|(_, at)| now < at.saturating_add(REQUEST_TTL_MS))
    }

    /// True when `peer` is the one asked for the final set.
    pub(crate) fn asked_final(&self, peer: &NodeId, now: Millis) -> bool {
        self.final_from.is_some_and(|(p, at)| p == *peer && now < at.saturating_add(REQUEST_TTL_MS))
    }
}

/// The range checks that need nothing but the message, the committee and
/// the most batches a reply may carry.
pub(crate) fn check(
    committee: &Committee,
    batches_per_reply: usize,
    from: &NodeId,
    message: &Message,
) -> Result<(), Refusal> {
    let member = |id: &NodeId| committee.index_of(id).is_some();
    let within = |len: usize, max: usize| if len <= max { Ok(()) } else { Err(Refusal::BadRange) };
    match message {
        Message::VoteBatch(_) | Message::Proposal(_) | Message::BlockVote(_) => {
            if member(from) {
                Ok(())
            } else {
                Err(Refusal::NotMember)
            }
        }
        Message::GetVoteBatches { voter, from: first, to } => {
            if !member(voter) {
                Err(Refusal::NotMember)
            } else if *first == 0 || first > to {
                Err(Refusal::BadRange)
            } else {
                Ok(())
            }
        }
        Message::VoteBatches { voter, batches, .. } => {
            if !member(voter) {
                return Err(Refusal::NotMember);
            }
            within(batches.len(), batches_per_reply)
        }
        Message::GetTxs(txids) => within(txids.len(), MAX_ITEMS_PER_MESSAGE),
        Message::Txs(list) => within(list.len(), MAX_ITEMS_PER_MESSAGE),
        Message::Final(list) => within(list.len(), MAX_ITEMS_PER_MESSAGE),
        Message::Blocks(blocks) => within(blocks.len(), MAX_BLOCKS_PER_MESSAGE),
        Message::Status(status) => {
            if status.vote_seqs.len() != committee.len() {
                return Err(Refusal::BadRange);
            }
            within(status.pending.len(), MAX_ITEMS_PER_MESSAGE)
        }
        Message::Tx(_) | Message::GetBlocks { .. } | Message::GetFinal => Ok(()),
    }
}
