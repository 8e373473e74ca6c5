//! Anti-entropy and catch-up (PROTOCOL.md §4 and §6): nothing may stay stuck
//! because a message was lost, and nothing a peer merely claims moves this
//! node.
//!
//! - Every tick and on connect, a node sends its status (height with the
//!   tip's commit certificate, highest contiguous vote-batch seq per voter,
//!   some pending txids). A member that holds more batches is asked for them;
//!   unknown pending txids are fetched from it.
//! - Heights are believed only with their proof: a status's certificate, or
//!   a block applied here. A node proven behind by more than a block fetches
//!   committed blocks with their commit certificates and applies them without
//!   consulting its locks; then it fetches the final transactions not yet in
//!   a block from a member; only then does it vote again.
//! - Replies count only when asked for (`inbound::Requests`); a reply's
//!   claims never move this node past what a verified signature shows.

use protocol::bft::CommitCertificate;
use protocol::finality::{FinalityCertificate, VoteBatch};
use protocol::{Block, MemberIndex, NodeId, Transaction, TxId};

use crate::core::Core;
use crate::inbound::{Refusal, VoteRequest};
use crate::io::{Event, Millis};
use crate::message::{MAX_ITEMS_PER_MESSAGE, Message, Status};
use crate::txs::{advance_contiguous, certificate_reply_bytes, tx_reply_bytes};

/// How long to wait before asking one peer for the same blocks again.
const BLOCK_REQUEST_RETRY_MS: Millis = 2_000;
/// How long to wait before asking for one voter's batches again.
const VOTE_REQUEST_RETRY_MS: Millis = 300;
/// A peer is served the final set at most this often.
const FINAL_SERVE_INTERVAL_MS: Millis = 1_000;

/// An upper bound of a vote batch's encoding.
fn batch_reply_bytes(batch: &VoteBatch) -> usize {
    128 + 32 * batch.txids.len()
}

impl Core {
    pub(crate) fn status(&self) -> Status {
        let vote_seqs = self
            .voters
            .iter()
            .enumerate()
            .map(|(i, v)| if Some(i as u16) == self.my_index { self.own_seq } else { v.contiguous })
            .collect();
        let mut pending: Vec<TxId> = self
            .pool
            .entries
            .iter()
            .filter(|(_, e)| !e.state.is_settled())
            .map(|(id, _)| *id)
            .collect();
        pending.sort();
        pending.truncate(self.config.status_pending_max.min(MAX_ITEMS_PER_MESSAGE));
        Status {
            height: self.ledger.height(),
            tip: self.ledger.tip(),
            tip_certificate: self.ledger.last_commit().map(|(_, c)| c.clone()),
            vote_seqs,
            pending,
        }
    }

    pub(crate) fn on_peer_up(&mut self, peer: NodeId) {
        let status = self.status();
        self.send(peer, Message::Status(status));
        self.send_round_to(peer);
    }

    pub(crate) fn on_tick(&mut self) {
        self.tx_tick();
        let now = self.now;
        self.requests.expire(now);
        self.final_served.retain(|_, at| now < at.saturating_add(FINAL_SERVE_INTERVAL_MS));
        let status = self.status();
        self.broadcast(Message::Status(status));
        self.rebroadcast_round();
        if !self.syncing {
            self.retry_deferred_votes();
        }
        self.maybe_finish_sync();
    }

    /// `peer` proved it committed `height` (a verified commit certificate,
    /// or a block applied from it).
    fn note_proven_height(&mut self, peer: NodeId, height: u64) {
        let entry = self.peer_heights.entry(peer).or_insert(0);
        *entry = (*entry).max(height);
        let ours = self.ledger.height();
        if height > ours {
            // More than one block behind: stop voting until caught up.
            if height > ours.saturating_add(1) && !self.syncing {
                self.syncing = true;
                self.requests.final_from = None;
                self.out.push(crate::io::Output::Event(Event::Syncing(true)));
            }
            self.ask_blocks(peer);
        }
    }

    /// Asks `peer` for the blocks after this node's tip, at most once per
    /// retry interval per peer for the same height.
    pub(crate) fn ask_blocks(&mut self, peer: NodeId) {
        let next = self.ledger.height().saturating_add(1);
        let now = self.now;
        let due = self.requests.blocks.get(&peer).is_none_or(|(asked_for, at)| {
            *asked_for != next || now >= at.saturating_add(BLOCK_REQUEST_RETRY_MS)
        });
        if due {
            self.requests.blocks.insert(peer, (next, now));
            self.send(peer, Message::GetBlocks { from: next });
        }
    }

    /// Asks `peer` for `voter`'s batches `first..=last` (clamped to one
    /// reply), unless they were asked for less than the retry interval ago;
    /// `continuing` (the previous reply made progress) skips the pacing.
    pub(crate) fn ask_vote_batches(
        &mut self,
        peer: NodeId,
        voter: MemberIndex,
        first: u64,
        last: u64,
        continuing: bool,
    ) {
        let per_reply = self.config.batches_per_reply.max(1) as u64;
        let last = last.min(first.saturating_add(per_reply - 1));
        let now = self.now;
        let Some(voter_id) = self.committee.member(voter).map(|m| m.id) else { return };
        let Some(state) = self.voters.get_mut(usize::from(voter)) else { return };
        if first == 0 || first > last {
            return;
        }
        if !continuing && now < state.requested_at.saturating_add(VOTE_REQUEST_RETRY_MS) {
            return;
        }
        state.requested_at = now;
        self.requests
            .vote_batches
            .insert((peer, voter), VoteRequest { from: first, to: last, at: now });
        self.send(peer, Message::GetVoteBatches { voter: voter_id, from: first, to: last });
    }

    pub(crate) fn on_status(&mut self, from: NodeId, status: Status) {
        self.check_claimed_height(from, &status);
        // What the rest claims is only a reason to ask, and only a member
        // is asked: an observer's claims cost nothing.
        if self.committee.index_of(&from).is_none() {
            return;
        }
        // A member at (or, it says, below) this height: a peer to ask for
        // the final set after a catch-up. Never above what is proven here.
        let at_least = status.height.min(self.ledger.height());
        let entry = self.peer_heights.entry(from).or_insert(at_least);
        *entry = (*entry).max(at_least);
        for (index, their_seq) in status.vote_seqs.iter().enumerate() {
            let index = index as MemberIndex;
            if Some(index) == self.my_index {
                continue;
            }
            let Some(state) = self.voters.get_mut(usize::from(index)) else { continue };
            state.highest_seen = state.highest_seen.max(*their_seq);
            let first = state.contiguous.saturating_add(1);
            if *their_seq >= first {
                self.ask_vote_batches(from, index, first, *their_seq, false);
            }
        }
        // Transactions the peer holds that this node has never seen.
        let unknown: Vec<TxId> = status
            .pending
            .iter()
            .filter(|t| self.tx_status(t).is_none())
            .take(MAX_ITEMS_PER_MESSAGE)
            .copied()
            .collect();
        if !unknown.is_empty() {
            self.request_bodies(from, unknown);
        }
        self.maybe_finish_sync();
    }

    /// A status height above this node's counts only with the tip's commit
    /// certificate, verified (once per new height per peer).
    fn check_claimed_height(&mut self, from: NodeId, status: &Status) {
        let ours = self.ledger.height();
        let known = self.peer_heights.get(&from).copied().unwrap_or(0);
        if status.height <= ours || status.height <= known {
            return;
        }
        let Some(certificate) = &status.tip_certificate else {
            // Every height above 0 has one: a claim without it is a lie.
            self.refuse(from, Refusal::BadRange);
            return;
        };
        if certificate.height != status.height || certificate.block != status.tip {
            self.refuse(from, Refusal::BadRange);
            return;
        }
        let proven = self.ledger.check_commit_certificate(
            &status.tip,
            status.height,
            certificate,
            &self.committee,
            &mut self.keys,
        );
        match proven {
            Ok(()) => {
                self.note_proven_height(from, status.height);
                self.absorb_commit(certificate);
            }
            Err(_) => self.refuse(from, Refusal::BadSignature),
        }
    }

    pub(crate) fn on_get_vote_batches(
        &mut self,
        from: NodeId,
        voter: NodeId,
        first: u64,
        last: u64,
    ) {
        // The range is checked at the boundary (1 ≤ first ≤ last).
        let Some(index) = self.committee.index_of(&voter) else { return };
        let per_reply = self.config.batches_per_reply.max(1) as u64;
        let last = last.min(first.saturating_add(per_reply - 1));
        let budget = self.config.max_reply_bytes;
        let mut bytes = 0;
        let mut take = |batch: &VoteBatch| {
            let cost = batch_reply_bytes(batch);
            let fits = bytes == 0 || bytes + cost <= budget;
            bytes += cost;
            fits
        };
        let (batches, pruned_below): (Vec<VoteBatch>, u64) = if Some(index) == self.my_index {
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
        self.send(from, Message::VoteBatches { voter, batches, pruned_below });
    }

    pub(crate) fn on_vote_batches(
        &mut self,
        from: NodeId,
        voter: NodeId,
        batches: Vec<VoteBatch>,
        pruned_below: u64,
    ) {
        let Some(index) = self.committee.index_of(&voter) else { return };
        if Some(index) == self.my_index {
            return;
        }
        let Some(request) = self.requests.take_vote_batches(from, index, self.now) else {
            self.refuse(from, Refusal::Unsolicited);
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
            if self.on_vote_batch(from, batch) {
                highest = highest.max(seq);
            }
        }
        // Another voter's batch in the reply is a lie. A seq outside the
        // range is what an honest peer's late reply to an earlier request
        // looks like (a retry to the same peer replaces the request it
        // answers), so it is dropped, not charged: charging it got honest
        // nodes banning each other after a partition healed under load.
        if foreign {
            self.refuse(from, Refusal::BadRange);
        } else if outside {
            self.refuse(from, Refusal::Unsolicited);
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
            self.ask_vote_batches(from, index, contiguous.saturating_add(1), highest_seen, true);
        }
    }

    /// Committed blocks from a peer: apply each certified block that extends
    /// the tip, without consulting local locks. Taken from a peer this node
    /// asked, or pushed by a member (each block proves itself, and the
    /// check costs the pusher a ban if it fails).
    pub(crate) fn on_blocks(&mut self, from: NodeId, blocks: Vec<(Block, CommitCertificate)>) {
        let member = self.committee.index_of(&from).is_some();
        if !member && !self.requests.asked_blocks(&from, self.now) {
            self.refuse(from, Refusal::Unsolicited);
            return;
        }
        let mut applied = false;
        for (block, certificate) in blocks {
            let height = block.header.height;
            if height <= self.ledger.height() {
                continue;
            }
            if height != self.ledger.height() + 1 {
                break;
            }
            let hash = block.hash(self.chain);
            if self
                .ledger
                .check_commit_certificate(
                    &hash,
                    height,
                    &certificate,
                    &self.committee,
                    &mut self.keys,
                )
                .is_err()
            {
                self.refuse(from, Refusal::BadSignature);
                break;
            }
            // This node's state must take the block (else it is the one
            // that is wrong: nothing to charge the sender with).
            let Ok(checked) = self.ledger.certified_changes(&block) else { break };
            // A commit certificate vouches for the header; the input
            // signatures it does not cover are checked here (a body held
            // here was checked when it arrived).
            let pool = &self.pool;
            let held =
                |txid: &TxId, tx: &Transaction| pool.entries.get(txid).is_some_and(|e| e.tx == *tx);
            if self.ledger.check_signatures(&block, &mut self.verifier, &held).is_err() {
                self.refuse(from, Refusal::BadSignature);
                break;
            }
            let round = certificate.round;
            self.commit_block(block, checked, certificate, round);
            let entry = self.peer_heights.entry(from).or_insert(0);
            *entry = (*entry).max(height);
            applied = true;
        }
        if applied {
            self.requests.blocks.remove(&from);
            let ours = self.ledger.height();
            let best = self.peer_heights.values().copied().max().unwrap_or(0);
            if best > ours {
                self.ask_blocks(from);
            }
        }
        self.maybe_finish_sync();
    }

    /// Caught up with every proven height: fetch the final transactions not
    /// yet in a block from a member, then vote again. The request is
    /// repeated until a reply arrives (it or its answer may be lost).
    fn maybe_finish_sync(&mut self) {
        if !self.syncing {
            return;
        }
        let ours = self.ledger.height();
        let best = self.peer_heights.values().copied().max().unwrap_or(0);
        if best > ours.saturating_add(1) {
            return;
        }
        if self
            .requests
            .final_from
            .is_some_and(|(_, at)| self.now < at.saturating_add(BLOCK_REQUEST_RETRY_MS))
        {
            return;
        }
        // Members at this height or above, highest first; each retry asks
        // the next one (one that never answers cannot hold the node back).
        let committee = &self.committee;
        let mut members: Vec<(u64, NodeId)> = self
            .peer_heights
            .iter()
            .filter(|(id, h)| committee.index_of(id).is_some() && **id != self.me && **h >= ours)
            .map(|(id, h)| (*h, *id))
            .collect();
        if members.is_empty() {
            return;
        }
        members.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let peer = members[self.requests.final_attempts % members.len()].1;
        self.requests.final_attempts = self.requests.final_attempts.wrapping_add(1);
        self.requests.final_from = Some((peer, self.now));
        self.send(peer, Message::GetFinal);
    }

    pub(crate) fn on_get_final(&mut self, from: NodeId) {
        if self.final_served.contains_key(&from) {
            self.refuse(from, Refusal::RateLimited);
            return;
        }
        self.final_served.insert(from, self.now);
        let budget = self.config.max_reply_bytes;
        let mut bytes = 0;
        let mut list: Vec<(Transaction, FinalityCertificate)> = Vec::new();
        for txid in self.pool.final_order.values() {
            let Some(entry) = self.pool.entries.get(txid) else { continue };
            let Some(certificate) = &entry.certificate else { continue };
            let cost = tx_reply_bytes(&entry.tx, None) + certificate_reply_bytes(certificate);
            if list.len() >= MAX_ITEMS_PER_MESSAGE || (!list.is_empty() && bytes + cost > budget) {
                break;
            }
            bytes += cost;
            list.push((entry.tx.clone(), certificate.clone()));
        }
        self.send(from, Message::Final(list));
    }

    pub(crate) fn on_final(&mut self, from: NodeId, list: Vec<(Transaction, FinalityCertificate)>) {
        if !self.requests.asked_final(&from, self.now) {
            self.refuse(from, Refusal::Unsolicited);
            return;
        }
        self.requests.final_from = None;
        let mut bad = false;
        for (tx, certificate) in list {
            let txid = tx.txid(self.chain);
            bad |= certificate.txid != txid || !self.absorb_certificate(txid, tx, &certificate);
        }
        if bad {
            self.refuse(from, Refusal::BadSignature);
        }
        if self.syncing {
            self.syncing = false;
            self.out.push(crate::io::Output::Event(Event::Syncing(false)));
            self.retry_deferred_votes();
        }
    }
}
