//! Anti-entropy and catch-up (PROTOCOL.md §4 and §6): nothing may stay stuck
//! because a message was lost.
//!
//! - Every tick and on connect, a node sends its status (height, highest
//!   contiguous vote-batch seq per voter, some pending txids). A peer that
//!   holds more batches is asked for them; unknown pending txids are fetched.
//! - A node behind by more than a block fetches committed blocks with their
//!   commit certificates and applies them without consulting its locks; then
//!   it fetches the final transactions not yet in a block, with their
//!   certificates; only then does it vote again.

use protocol::bft::CommitCertificate;
use protocol::finality::{FinalityCertificate, VoteBatch};
use protocol::{Block, NodeId, Transaction, TxId};

use crate::core::Core;
use crate::io::{Event, Millis};
use crate::message::{MAX_BLOCKS_PER_MESSAGE, MAX_ITEMS_PER_MESSAGE, Message, Status};

/// How long to wait before asking for the same blocks again.
const BLOCK_REQUEST_RETRY_MS: Millis = 2_000;

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
        pending.truncate(self.config.status_pending_max);
        Status { height: self.ledger.height(), tip: self.ledger.tip(), vote_seqs, pending }
    }

    pub(crate) fn on_peer_up(&mut self, peer: NodeId) {
        let status = self.status();
        self.send(peer, Message::Status(status));
        self.send_round_to(peer);
    }

    pub(crate) fn on_tick(&mut self) {
        self.tx_tick();
        let status = self.status();
        self.broadcast(Message::Status(status));
        self.rebroadcast_round();
        if !self.syncing {
            self.retry_deferred_votes();
        }
    }

    /// A peer says it has committed `height`.
    pub(crate) fn note_peer_height(&mut self, peer: NodeId, height: u64) {
        let entry = self.peer_heights.entry(peer).or_insert(0);
        *entry = (*entry).max(height);
        let ours = self.ledger.height();
        if height > ours {
            // More than one block behind: stop voting until caught up.
            if height > ours + 1 && !self.syncing {
                self.syncing = true;
                self.final_requested = false;
                self.out.push(crate::io::Output::Event(Event::Syncing(true)));
            }
            let (asked_for, asked_at) = self.blocks_requested;
            if asked_for != ours + 1 || self.now >= asked_at + BLOCK_REQUEST_RETRY_MS {
                self.blocks_requested = (ours + 1, self.now);
                self.send(peer, Message::GetBlocks { from: ours + 1 });
            }
        }
    }

    pub(crate) fn on_status(&mut self, from: NodeId, status: Status) {
        self.note_peer_height(from, status.height);
        // Vote batches the peer has and this node lacks.
        for (index, their_seq) in status.vote_seqs.iter().enumerate() {
            if Some(index as u16) == self.my_index {
                continue;
            }
            let Some(member) = self.committee.member(index as u16) else { continue };
            let voter_id = member.id;
            let per_reply = self.config.batches_per_reply as u64;
            let now = self.now;
            let Some(state) = self.voters.get_mut(index) else { continue };
            state.highest_seen = state.highest_seen.max(*their_seq);
            if *their_seq > state.contiguous && now >= state.requested_at + 500 {
                state.requested_at = now;
                let first = state.contiguous + 1;
                let last = (*their_seq).min(first + per_reply - 1);
                self.send(from, Message::GetVoteBatches { voter: voter_id, from: first, to: last });
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
        self.maybe_finish_sync(from);
    }

    pub(crate) fn on_get_vote_batches(
        &mut self,
        from: NodeId,
        voter: NodeId,
        first: u64,
        last: u64,
    ) {
        let Some(index) = self.committee.index_of(&voter) else { return };
        let last = last.min(first.saturating_add(self.config.batches_per_reply as u64 - 1));
        let (batches, pruned_below): (Vec<VoteBatch>, u64) = if Some(index) == self.my_index {
            let batches = self.own_batches.range(first..=last).map(|(_, b)| b.clone()).collect();
            // Own batches absent from the map are settled.
            let lowest = self.own_batches.keys().next().copied().unwrap_or(self.own_seq + 1);
            (batches, lowest)
        } else {
            let state = &self.voters[usize::from(index)];
            let batches = state.batches.range(first..=last).map(|(_, (b, _))| b.clone()).collect();
            (batches, state.pruned_below)
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
        // Batches below `pruned_below` carried only settled transactions at
        // the sender; a node that misses them learns those from blocks.
        {
            let state = &mut self.voters[usize::from(index)];
            if pruned_below > state.contiguous + 1 {
                state.contiguous = pruned_below - 1;
                state.pruned_below = state.pruned_below.max(pruned_below);
                while state.batches.contains_key(&(state.contiguous + 1)) {
                    state.contiguous += 1;
                }
            }
        }
        let before = self.voters[usize::from(index)].contiguous;
        let mut highest = 0;
        for batch in batches.into_iter().take(self.config.batches_per_reply) {
            if batch.voter == voter {
                highest = highest.max(batch.seq);
                self.on_vote_batch(from, batch);
            }
        }
        // A reply holds every batch the sender has up to its highest seq; a
        // seq it skipped carried only settled transactions there (honest
        // senders prune nothing else), so this node learns them from blocks.
        let state = &mut self.voters[usize::from(index)];
        if highest > state.contiguous {
            state.contiguous = highest;
            while state.batches.contains_key(&(state.contiguous + 1)) {
                state.contiguous += 1;
            }
        }
        // Ask for the next chunk only when this reply made progress, so two
        // nodes can never ping-pong empty replies.
        if state.contiguous > before && state.highest_seen > state.contiguous {
            let first = state.contiguous + 1;
            let last = state.highest_seen.min(first + self.config.batches_per_reply as u64 - 1);
            state.requested_at = self.now;
            self.send(from, Message::GetVoteBatches { voter, from: first, to: last });
        }
    }

    /// Committed blocks from a peer: apply each certified block that extends
    /// the tip, without consulting local locks.
    pub(crate) fn on_blocks(&mut self, from: NodeId, blocks: Vec<(Block, CommitCertificate)>) {
        let mut applied = false;
        for (block, certificate) in blocks.into_iter().take(MAX_BLOCKS_PER_MESSAGE) {
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
                break;
            }
            let Ok(checked) = self.ledger.certified_changes(&block) else { break };
            let round = certificate.round;
            self.note_peer_height(from, height);
            self.commit_block(block, checked, certificate, round);
            applied = true;
        }
        if applied {
            let ours = self.ledger.height();
            let best = self.peer_heights.values().copied().max().unwrap_or(0);
            if best > ours {
                self.blocks_requested = (ours + 1, self.now);
                self.send(from, Message::GetBlocks { from: ours + 1 });
            }
        }
        self.maybe_finish_sync(from);
    }

    /// Caught up with every peer's height: fetch the final transactions not
    /// yet in a block, then vote again. The request is repeated until a reply
    /// arrives (it or its answer may be lost).
    fn maybe_finish_sync(&mut self, from: NodeId) {
        if !self.syncing {
            return;
        }
        let ours = self.ledger.height();
        let best = self.peer_heights.values().copied().max().unwrap_or(0);
        if best > ours + 1 {
            return;
        }
        if !self.final_requested || self.now >= self.final_requested_at + BLOCK_REQUEST_RETRY_MS {
            self.final_requested = true;
            self.final_requested_at = self.now;
            self.send(from, Message::GetFinal);
        }
    }

    pub(crate) fn on_get_final(&mut self, from: NodeId) {
        let list: Vec<(Transaction, FinalityCertificate)> = self
            .pool
            .final_order
            .values()
            .filter_map(|txid| {
                let entry = self.pool.entries.get(txid)?;
                Some((entry.tx.clone(), entry.certificate.clone()?))
            })
            .take(MAX_ITEMS_PER_MESSAGE)
            .collect();
        self.send(from, Message::Final(list));
    }

    pub(crate) fn on_final(
        &mut self,
        _from: NodeId,
        list: Vec<(Transaction, FinalityCertificate)>,
    ) {
        for (tx, certificate) in list.into_iter().take(MAX_ITEMS_PER_MESSAGE) {
            let txid = tx.txid(self.chain);
            if certificate.txid == txid {
                self.absorb_certificate(txid, tx, &certificate);
            }
        }
        if self.syncing && self.final_requested {
            self.syncing = false;
            self.out.push(crate::io::Output::Event(Event::Syncing(false)));
            self.retry_deferred_votes();
        }
    }
}
