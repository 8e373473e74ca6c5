//! Vote-batch anti-entropy (PROTOCOL.md §4 and §6): what each voter's
//! batches look like here, asking a peer for the ones missing, serving
//! them, and forgetting those whose transactions are settled. A reply counts
//! only when asked for, and a claim never moves this node past what a
//! verified signature shows.

use std::collections::HashSet;

use protocol::finality::VoteBatch;
use protocol::{MemberIndex, NodeId, TxId};

use super::{Finality, VoterState};
use crate::ctx::Ctx;
use crate::inbound::VoteRequest;
use crate::io::Millis;
use crate::io::Refusal;
use crate::message::{MAX_ITEMS_PER_MESSAGE, Message, Status};

/// How long to wait before asking for one voter's batches again.
const VOTE_REQUEST_RETRY_MS: Millis = 300;

/// An upper bound of a vote batch's encoding.
fn batch_reply_bytes(batch: &VoteBatch) -> usize {
    128 + 32 * batch.txids.len()
}

impl Finality {
    /// Asks `peer` for `voter`'s batches `first..=last` (clamped to one
    /// reply), unless they were asked for less than the retry interval ago;
    /// `continuing` (the previous reply made progress) skips the pacing.
    pub(crate) fn ask_vote_batches(
        &mut self,
        cx: &mut Ctx,
        peer: NodeId,
        voter: MemberIndex,
        first: u64,
        last: u64,
        continuing: bool,
    ) {
        let per_reply = cx.config.batches_per_reply.max(1) as u64;
        let last = last.min(first.saturating_add(per_reply - 1));
        let now = cx.now;
        let Some(voter_id) = cx.committee.member(voter).map(|m| m.id) else { return };
        let Some(state) = self.voters.get_mut(usize::from(voter)) else { return };
        if first == 0 || first > last {
            return;
        }
        if !continuing && now < state.requested_at.saturating_add(VOTE_REQUEST_RETRY_MS) {
            return;
        }
        state.requested_at = now;
        cx.requests
            .vote_batches
            .insert((peer, voter), VoteRequest { from: first, to: last, at: now });
        cx.send(peer, Message::GetVoteBatches { voter: voter_id, from: first, to: last });
    }

    pub(crate) fn on_get_vote_batches(
        &mut self,
        cx: &mut Ctx,
        from: NodeId,
        voter: NodeId,
        first: u64,
        last: u64,
    ) {
        // The range is checked at the boundary (1 ≤ first ≤ last).
        let Some(index) = cx.committee.index_of(&voter) else { return };
        let per_reply = cx.config.batches_per_reply.max(1) as u64;
        let last = last.min(first.saturating_add(per_reply - 1));
        let budget = cx.config.max_reply_bytes;
        let mut bytes = 0;
        let mut take = |batch: &VoteBatch| {
            let cost = batch_reply_bytes(batch);
            let fits = bytes == 0 || bytes + cost <= budget;
            bytes += cost;
            fits
        };
        let (batches, pruned_below): (Vec<VoteBatch>, u64) = if Some(index) == cx.my_index {
            let batches =
                self.own_batches.range(first..=last).map(|(_, b)| b).take_while(|b| take(b));
            let batches = batches.cloned().collect();
            // Own batches absent from the map are settled.
            let lowest =
                self.own_batches.keys().next().copied().unwrap_or(self.own_seq.saturating_add(1));
            (batches, lowest)
        } else {
            let state = &self.voters[usize::from(index)];
            let batches =
                state.batches.range(first..=last).map(|(_, (b, _))| b).take_while(|b| take(b));
            (batches.cloned().collect(), state.pruned_below)
        };
        cx.send(from, Message::VoteBatches { voter, batches, pruned_below });
    }

    pub(crate) fn on_vote_batches(
        &mut self,
        cx: &mut Ctx,
        from: NodeId,
        voter: NodeId,
        batches: Vec<VoteBatch>,
        pruned_below: u64,
    ) {
        let Some(index) = cx.committee.index_of(&voter) else { return };
        if Some(index) == cx.my_index {
            return;
        }
        let Some(request) = cx.requests.take_vote_batches(from, index, cx.now) else {
            cx.refuse(from, Refusal::Unsolicited);
            return;
        };
        let before = self.voters[usize::from(index)].contiguous;
        let mut highest = 0;
        let (mut foreign, mut outside) = (false, false);
        for batch in batches {
            if batch.voter != voter {
                foreign = true;
                continue;
            }
            if batch.seq < request.from || batch.seq > request.to {
                outside = true;
                continue;
            }
            let seq = batch.seq;
            if self.on_vote_batch(cx, from, batch) {
                highest = highest.max(seq);
            }
        }
        // Another voter's batch in the reply is a lie. A seq outside the
        // range is what an honest peer's late reply to an earlier request
        // looks like (a retry to the same peer replaces the request it
        // answers), so it is dropped, not charged: charging it got honest
        // nodes banning each other after a partition healed under load.
        if foreign {
            cx.refuse(from, Refusal::BadRange);
        } else if outside {
            cx.refuse(from, Refusal::Unsolicited);
        }
        // Seqs the sender skipped (or pruned) carried only settled
        // transactions there (honest senders prune nothing else), so this
        // node learns them from blocks. A claim moves the gap detector only
        // within the range asked and never past the highest seq a verified
        // batch shows the voter reached.
        let state = &mut self.voters[usize::from(index)];
        let claimed = pruned_below.saturating_sub(1).min(request.to).min(state.verified_high);
        let reached = claimed.max(highest);
        if reached > state.contiguous {
            state.contiguous = reached;
            advance_contiguous(state);
        }
        // Ask for the next chunk only when this reply made progress, so two
        // nodes can never ping-pong empty replies.
        let (contiguous, highest_seen) = (state.contiguous, state.highest_seen);
        if contiguous > before && highest_seen > contiguous {
            self.ask_vote_batches(
                cx,
                from,
                index,
                contiguous.saturating_add(1),
                highest_seen,
                true,
            );
        }
    }

    /// Forgets vote batches whose transactions are all settled, or that are
    /// older than ten minutes.
    pub(super) fn prune_vote_batches(&mut self, cx: &mut Ctx) {
        let now = cx.now;
        for index in 0..self.voters.len() {
            while let Some((seq, (batch, at))) =
                self.voters[index].batches.first_key_value().map(|(s, b)| (*s, b.clone()))
            {
                // A committed transaction's tally went with its block.
                let settled = batch.txids.iter().all(|t| {
                    self.pool.settled.contains_key(t) || !self.pool.tallies.contains_key(t)
                });
                if !(settled || now > at + 600_000) {
                    break;
                }
                let voter = &mut self.voters[index];
                voter.batches.remove(&seq);
                voter.held_txids = voter.held_txids.saturating_sub(batch.txids.len());
                voter.pruned_below = voter.pruned_below.max(seq + 1);
                voter.contiguous = voter.contiguous.max(seq);
            }
        }
        let live: HashSet<TxId> = self.pool.entries.keys().copied().collect();
        self.own_batches.retain(|_, b| b.txids.iter().any(|t| live.contains(t)));
    }

    /// The highest contiguous vote-batch seq held per committee member
    /// (this node's own last seq for itself): what a status announces.
    pub(crate) fn vote_seqs(&self, cx: &Ctx) -> Vec<u64> {
        self.voters
            .iter()
            .enumerate()
            .map(|(i, v)| if Some(i as u16) == cx.my_index { self.own_seq } else { v.contiguous })
            .collect()
    }

    /// Some pending txids, for a status (peers fetch those they lack).
    pub(crate) fn pending_txids(&self, cx: &Ctx) -> Vec<TxId> {
        let mut pending: Vec<TxId> = self
            .pool
            .entries
            .iter()
            .filter(|(_, e)| !e.state.is_settled())
            .map(|(id, _)| *id)
            .collect();
        pending.sort();
        pending.truncate(cx.config.status_pending_max.min(MAX_ITEMS_PER_MESSAGE));
        pending
    }

    /// A member's status: ask it for the vote batches it holds beyond this
    /// node's, and for pending transactions never seen here.
    pub(crate) fn on_member_status(&mut self, cx: &mut Ctx, from: NodeId, status: &Status) {
        for (index, their_seq) in status.vote_seqs.iter().enumerate() {
            let index = index as MemberIndex;
            if Some(index) == cx.my_index {
                continue;
            }
            let Some(state) = self.voters.get_mut(usize::from(index)) else { continue };
            state.highest_seen = state.highest_seen.max(*their_seq);
            let first = state.contiguous.saturating_add(1);
            if *their_seq >= first {
                self.ask_vote_batches(cx, from, index, first, *their_seq, false);
            }
        }
        // Transactions the peer holds that this node has never seen.
        let unknown: Vec<TxId> = status
            .pending
            .iter()
            .filter(|t| self.tx_status(cx, t).is_none())
            .take(MAX_ITEMS_PER_MESSAGE)
            .copied()
            .collect();
        if !unknown.is_empty() {
            cx.request_bodies(from, unknown);
        }
    }
}

/// Moves a voter's `contiguous` over every batch held right after it.
pub(super) fn advance_contiguous(state: &mut VoterState) {
    while state.batches.contains_key(&state.contiguous.saturating_add(1)) {
        state.contiguous += 1;
    }
}
