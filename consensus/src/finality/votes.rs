//! Votes (PROTOCOL.md §4): first-seen locks, this node's vote batches
//! (group commit), tallies once per (voter, txid), certificates at weight
//! ≥ q, conflicts and equivocation, and giving up on what can never be final.

use std::collections::BTreeSet;

use protocol::finality::{CertVote, FinalityCertificate, VoteBatch, VoteError};

use protocol::{MemberIndex, NodeId, OutPoint, Transaction, TxId};

use super::Finality;
use super::batches::advance_contiguous;
use super::pool::TxEntry;
use crate::ctx::Ctx;
use crate::io::Refusal;
use crate::io::{Event, Evidence, Output, PersistOp, TxState};
use crate::message::Message;

/// Most txids one voter's unsettled batches may make this node hold. An
/// honest voter holds a few block intervals' worth; more is a flood.
const MAX_HELD_TXIDS_PER_VOTER: usize = 1 << 16;

impl Finality {
    /// First seen wins: lock every input to `txid` if none is locked to
    /// another transaction, and queue the vote for the next seal.
    pub(super) fn try_lock(&mut self, cx: &mut Ctx, txid: TxId) {
        if cx.my_index.is_none() {
            return;
        }
        if self.catching_up {
            self.deferred_votes.push(txid);
            return;
        }
        let Some(entry) = self.pool.entries.get(&txid) else { return };
        if entry.locked
            || !matches!(entry.state, TxState::Pending | TxState::Contested | TxState::Conflicted)
        {
            return;
        }
        let free = entry
            .tx
            .inputs
            .iter()
            .all(|i| self.pool.locks.get(&i.prev).is_none_or(|holder| *holder == txid));
        if !free {
            return;
        }
        let inputs: Vec<OutPoint> = entry.tx.inputs.iter().map(|i| i.prev).collect();
        for outpoint in inputs {
            self.pool.locks.insert(outpoint, txid);
        }
        if let Some(entry) = self.pool.entries.get_mut(&txid) {
            entry.locked = true;
        }
        self.own_pending.push(txid);
    }

    /// Retries locks deferred while the node was catching up.
    pub(crate) fn retry_deferred_votes(&mut self, cx: &mut Ctx) {
        for txid in std::mem::take(&mut self.deferred_votes) {
            self.try_lock(cx, txid);
        }
    }

    /// Group commit: the locks of the queued votes and the batch that carries
    /// them are persisted in one write, then the batch is broadcast and
    /// counted as this node's own votes.
    pub(crate) fn seal_own_votes(&mut self, cx: &mut Ctx) {
        let Some(me) = cx.my_index else {
            self.own_pending.clear();
            return;
        };
        let max = cx.params.max_vote_batch_txids as usize;
        while !self.own_pending.is_empty() {
            let take = self.own_pending.len().min(max);
            let chunk: Vec<TxId> = self.own_pending.drain(..take).collect();
            let txids: Vec<TxId> = chunk
                .into_iter()
                .filter(|t| self.pool.entries.get(t).is_some_and(|e| e.locked))
                .collect();
            if txids.is_empty() {
                continue;
            }
            self.own_seq += 1;
            let batch = VoteBatch::sign(cx.chain, &cx.key, self.own_seq, txids);
            let locked: Vec<Transaction> = batch
                .txids
                .iter()
                .filter_map(|t| self.pool.entries.get(t).map(|e| e.tx.clone()))
                .collect();
            cx.out.push(Output::Persist(PersistOp::OwnVotes { locked, batch: batch.clone() }));
            cx.broadcast(Message::VoteBatch(batch.clone()));
            self.own_batches.insert(batch.seq, batch.clone());
            for (txid, vote) in batch.cert_votes(me) {
                self.add_vote(cx, txid, me, vote);
            }
        }
    }

    /// A peer relayed a vote batch (or sent it in a reply). True when its
    /// signature verified and its votes were counted; a bad one is refused
    /// and charged to `from` (honest nodes relay only what verified).
    pub(crate) fn on_vote_batch(&mut self, cx: &mut Ctx, from: NodeId, batch: VoteBatch) -> bool {
        let max = cx.params.max_vote_batch_txids as usize;
        let voter = match batch.check(cx.chain, &cx.committee, max, &mut cx.verified_votes) {
            Ok(voter) => voter,
            Err(error) => {
                let reason = match error {
                    VoteError::NotMember(_) => Refusal::NotMember,
                    VoteError::BadSignature(_) => Refusal::BadSignature,
                    _ => Refusal::BadRange,
                };
                cx.refuse(from, reason);
                return false;
            }
        };
        if Some(voter) == cx.my_index {
            return false;
        }
        let seq = batch.seq;
        let now = cx.now;
        let state = &mut self.voters[usize::from(voter)];
        state.verified_high = state.verified_high.max(seq);
        if seq < state.pruned_below {
            return true;
        }
        let mut gap = None;
        if let Some((existing, _)) = state.batches.get(&seq) {
            if existing.txids == batch.txids {
                return true;
            }
            let evidence =
                Evidence::VoteBatches(Box::new(existing.clone()), Box::new(batch.clone()));
            self.equivocations += 1;
            cx.out.push(Output::Event(Event::Equivocation(evidence)));
        } else {
            let fills_gap = seq == state.contiguous.saturating_add(1);
            if state.held_txids + batch.txids.len() > MAX_HELD_TXIDS_PER_VOTER && !fills_gap {
                cx.refuse(from, Refusal::OverLimit);
                return false;
            }
            state.held_txids += batch.txids.len();
            state.batches.insert(seq, (batch.clone(), now));
            state.highest_seen = state.highest_seen.max(seq);
            advance_contiguous(state);
            if seq > state.contiguous.saturating_add(1) {
                gap = Some((state.contiguous.saturating_add(1), seq - 1));
            }
        }
        if let Some((first, last)) = gap {
            self.ask_vote_batches(cx, from, voter, first, last, false);
        }
        for (txid, vote) in batch.cert_votes(voter) {
            self.add_vote(cx, txid, voter, vote);
        }
        true
    }

    /// Counts one vote, once per (voter, txid).
    pub(crate) fn add_vote(
        &mut self,
        cx: &mut Ctx,
        txid: TxId,
        voter: MemberIndex,
        vote: CertVote,
    ) {
        if let Some(inputs) = self.pool.abandoned.get(&txid).cloned() {
            // Given up on here: the vote only weighs against the spenders
            // still held, which may now be conflicted too.
            let mut live = Vec::new();
            for outpoint in &inputs {
                self.pool.abandoned_voters.entry(*outpoint).or_default().insert(voter);
                live.extend(self.pool.spenders.get(outpoint).into_iter().flatten().copied());
            }
            for other in live {
                self.refresh_conflict_set(cx, &other);
            }
            return;
        }
        let weight = cx.committee.weight(voter);
        let tally = self.pool.tally(txid, cx.now);
        if tally.votes.contains_key(&voter) {
            return;
        }
        tally.votes.insert(voter, vote);
        tally.weight += weight;
        let reached = tally.weight >= cx.committee.quorum();
        let new_tally = tally.votes.len() == 1;
        if !self.pool.entries.contains_key(&txid) {
            if new_tally {
                self.track_bodiless(cx, txid);
            }
            if reached {
                if let Some(tx) = self.rejected_bodies.get(&txid).cloned() {
                    self.finalize_certified(cx, txid, tx, false);
                } else {
                    self.request_body(cx, txid);
                }
            }
            return;
        }
        self.check_vote_equivocation(cx, txid, voter);
        self.refresh_conflict_set(cx, &txid);
        if reached {
            self.finalize(cx, txid);
        }
    }

    pub(super) fn track_bodiless(&mut self, cx: &mut Ctx, txid: TxId) {
        self.pool.bodiless.push_back(txid);
        while self.pool.bodiless.len() > cx.config.max_bodiless {
            if let Some(old) = self.pool.bodiless.pop_front()
                && !self.pool.entries.contains_key(&old)
            {
                self.pool.tallies.remove(&old);
            }
        }
    }

    /// Asks a voter for the body of `txid` (rotating voters on retries).
    pub(super) fn request_body(&mut self, cx: &mut Ctx, txid: TxId) {
        let Some(tally) = self.pool.tallies.get_mut(&txid) else { return };
        tally.body_requested = true;
        let voters: Vec<MemberIndex> =
            tally.votes.keys().copied().filter(|v| Some(*v) != cx.my_index).collect();
        if voters.is_empty() {
            return;
        }
        let attempt = cx.requests.bodies.get(&txid).map_or(0, |(_, n)| *n);
        let voter = voters[attempt % voters.len()];
        if let Some(member) = cx.committee.member(voter) {
            let id = member.id;
            cx.request_bodies(id, vec![txid]);
        }
    }

    /// A voter voting for two transactions that spend one outpoint has
    /// equivocated: report both batches once.
    pub(super) fn check_vote_equivocation(&mut self, cx: &mut Ctx, txid: TxId, voter: MemberIndex) {
        let Some(entry) = self.pool.entries.get(&txid) else { return };
        let mut found: Vec<(OutPoint, TxId)> = Vec::new();
        for input in &entry.tx.inputs {
            if let Some(spenders) = self.pool.spenders.get(&input.prev) {
                for other in spenders {
                    if *other != txid
                        && self
                            .pool
                            .tallies
                            .get(other)
                            .is_some_and(|t| t.votes.contains_key(&voter))
                    {
                        found.push((input.prev, *other));
                    }
                }
            }
        }
        for (outpoint, other) in found {
            if !self.reported_equivocations.insert((voter, outpoint)) {
                continue;
            }
            self.equivocations += 1;
            let a = self.batch_of(cx, txid, voter);
            let b = self.batch_of(cx, other, voter);
            if let (Some(a), Some(b)) = (a, b) {
                let evidence = Evidence::VoteBatches(Box::new(a), Box::new(b));
                cx.out.push(Output::Event(Event::Equivocation(evidence)));
            }
        }
    }

    pub(super) fn batch_of(&self, cx: &Ctx, txid: TxId, voter: MemberIndex) -> Option<VoteBatch> {
        let seq = self.pool.tallies.get(&txid)?.votes.get(&voter)?.seq;
        if Some(voter) == cx.my_index {
            return self.own_batches.get(&seq).cloned();
        }
        self.voters.get(usize::from(voter))?.batches.get(&seq).map(|(b, _)| b.clone())
    }

    /// Re-derives pending / contested / conflicted for `txid` and every
    /// transaction it conflicts with; then gives up on those that are
    /// conflicted (all at once, so none is judged without the others).
    pub(super) fn refresh_conflict_set(&mut self, cx: &mut Ctx, txid: &TxId) {
        let Some(entry) = self.pool.entries.get(txid) else { return };
        let mut set = self.pool.conflicts_of(txid, &entry.tx);
        set.push(*txid);
        for id in &set {
            self.refresh_state(cx, id);
        }
        for id in set {
            if self.pool.entries.get(&id).is_some_and(|e| e.state == TxState::Conflicted) {
                self.abandon(id, TxState::Conflicted);
            }
        }
    }

    /// Recomputes the state of one unsettled, non-orphan transaction.
    pub(crate) fn refresh_state(&mut self, cx: &mut Ctx, txid: &TxId) {
        let Some(entry) = self.pool.entries.get(txid) else { return };
        if !matches!(entry.state, TxState::Pending | TxState::Contested | TxState::Conflicted) {
            return;
        }
        let conflicts = self.pool.conflicts_of(txid, &entry.tx);
        let max_faulty = cx.committee.max_faulty();
        let mine: BTreeSet<MemberIndex> = self
            .pool
            .tallies
            .get(txid)
            .map(|t| t.votes.keys().copied().collect())
            .unwrap_or_default();
        // Conflicted: for some input, voters who voted only for other
        // spenders (live ones, or ones given up on) weigh more than W − q,
        // so no quorum is possible for it unless someone equivocates.
        let mut conflicted = false;
        for input in &entry.tx.inputs {
            let mut others: BTreeSet<MemberIndex> = BTreeSet::new();
            if let Some(spenders) = self.pool.spenders.get(&input.prev) {
                for other in spenders.iter().filter(|o| *o != txid) {
                    if let Some(t) = self.pool.tallies.get(other) {
                        others.extend(t.votes.keys().filter(|v| !mine.contains(v)));
                    }
                }
            }
            if let Some(voters) = self.pool.abandoned_voters.get(&input.prev) {
                others.extend(voters.iter().filter(|v| !mine.contains(v)));
            }
            if cx.committee.weight_of(others.iter().copied()) > max_faulty {
                conflicted = true;
                break;
            }
        }
        let state = if conflicted {
            TxState::Conflicted
        } else if conflicts.is_empty() {
            TxState::Pending
        } else {
            TxState::Contested
        };
        if state != entry.state {
            if let Some(entry) = self.pool.entries.get_mut(txid) {
                entry.state = state;
            }
            self.event_state(cx, *txid, state);
        }
    }

    /// The certificate of a transaction whose tally reached q: votes in
    /// committee order until the weight reaches q.
    pub(super) fn build_certificate(&self, cx: &Ctx, txid: TxId) -> Option<FinalityCertificate> {
        let tally = self.pool.tallies.get(&txid)?;
        let mut votes = Vec::new();
        let mut weight = 0;
        for (voter, vote) in &tally.votes {
            if weight >= cx.committee.quorum() {
                break;
            }
            weight += cx.committee.weight(*voter);
            votes.push(vote.clone());
        }
        (weight >= cx.committee.quorum()).then_some(FinalityCertificate { txid, votes })
    }

    /// Votes of weight ≥ q exist for a transaction this node holds.
    pub(super) fn finalize(&mut self, cx: &mut Ctx, txid: TxId) {
        let Some(entry) = self.pool.entries.get(&txid) else { return };
        match entry.state {
            TxState::Final => return,
            TxState::Lost => {
                // A certificate for a transaction whose conflict is already
                // final: more than W − q weight equivocated. Keep the first.
                return;
            }
            _ => {}
        }
        let tx = entry.tx.clone();
        // Held entries passed validation or (orphans) their signature checks.
        self.finalize_certified(cx, txid, tx, true);
    }

    /// Marks `txid` final because a quorum voted for it, whatever this node
    /// thought of it: a valid certificate wins over local locks and views.
    /// `checked` says the body already passed its signature checks here;
    /// otherwise they run first (a body that fails them is not the one the
    /// voters saw, and is not kept).
    ///
    /// Never for a committed transaction, nor one whose input a committed
    /// transaction spent: both answers come from durable state (a replayed
    /// certificate must not put spent outputs back into the final overlay).
    pub(crate) fn finalize_certified(
        &mut self,
        cx: &mut Ctx,
        txid: TxId,
        tx: Transaction,
        checked: bool,
    ) {
        // The index read (a disk read on a node) only when memory cannot
        // tell: 4 % of a node's CPU at 1,000 tx/s when it was every time.
        if !self.provably_uncommitted(cx, &tx) {
            match cx.ledger.committed_height(&txid) {
                Ok(None) => {}
                Ok(Some(_)) | Err(_) => return,
            }
        }
        let spent_on_chain = tx.inputs.iter().any(|input| {
            !self.pool.final_outputs.contains_key(&input.prev)
                && cx.ledger.spent_on_chain(&input.prev).unwrap_or(true)
        });
        if spent_on_chain {
            return;
        }
        if !checked && self.body_checks(cx, &txid, &tx).is_err() {
            return;
        }
        let Some(certificate) = self.build_certificate(cx, txid) else { return };
        if let Some(entry) = self.pool.entries.get(&txid) {
            if entry.state == TxState::Final {
                return;
            }
            let entry = entry.clone();
            self.forget_unsettled(&txid, &entry);
        }
        self.insert_final_entry(cx, txid, tx.clone(), certificate.clone());
        self.pending_final.push((tx.clone(), certificate));
        for other in self.pool.conflicts_of(&txid, &tx) {
            self.mark_lost(other);
        }
        self.wake_orphans(cx, txid);
    }

    /// Files a final transaction: state, order, and the availability overlay.
    pub(crate) fn insert_final_entry(
        &mut self,
        cx: &mut Ctx,
        txid: TxId,
        tx: Transaction,
        certificate: FinalityCertificate,
    ) {
        let seq = self.pool.next_final_seq;
        self.pool.next_final_seq += 1;
        self.pool.final_order.insert(seq, txid);
        for input in &tx.inputs {
            self.pool.final_spent.insert(input.prev, txid);
            self.pool.locks.remove(&input.prev);
        }
        for (vout, output) in tx.outputs.iter().enumerate() {
            self.pool.final_outputs.insert(OutPoint { txid, vout: vout as u32 }, *output);
        }
        self.pool.index_spender(txid, &tx);
        let size = tx.size();
        self.pool.entries.insert(
            txid,
            TxEntry {
                certificate: Some(certificate),
                final_seq: Some(seq),
                ..TxEntry::new(tx, TxState::Final, size, cx.now)
            },
        );
    }

    /// Drops the accounting of an entry that was pending or an orphan.
    pub(super) fn forget_unsettled(&mut self, txid: &TxId, entry: &TxEntry) {
        match entry.state {
            TxState::Pending | TxState::Contested | TxState::Conflicted => {
                self.pool.pending_count = self.pool.pending_count.saturating_sub(1);
                self.pool.pending_bytes = self.pool.pending_bytes.saturating_sub(entry.size);
                self.pool.unindex_spender(txid, &entry.tx);
            }
            TxState::WaitingForParent => {
                self.pool.orphan_count = self.pool.orphan_count.saturating_sub(1);
                self.pool.orphan_bytes = self.pool.orphan_bytes.saturating_sub(entry.size);
                for parent in &entry.waiting_for {
                    if let Some(set) = self.pool.orphans_by_parent.get_mut(parent) {
                        set.remove(txid);
                        if set.is_empty() {
                            self.pool.orphans_by_parent.remove(parent);
                        }
                    }
                }
            }
            _ => {}
        }
        self.pool.release_locks(txid, &entry.tx);
        self.pool.entries.remove(txid);
    }

    /// A conflicting transaction is final (or committed): `loser` can never
    /// be.
    pub(crate) fn mark_lost(&mut self, loser: TxId) {
        if self.pool.entries.get(&loser).is_some_and(|e| e.state == TxState::Lost) {
            return;
        }
        self.abandon(loser, TxState::Lost);
    }

    /// Gives up on `txid`, which can never be final here: lost to a final
    /// conflict, or conflicted (no quorum possible without equivocation).
    /// Its body, slot and tally go; its locks do not: this node voted for
    /// it, so it never votes for another spender of those outpoints
    /// (PROTOCOL.md §4: at most one transaction per outpoint, ever). The
    /// double spender's other coins freeze. Its voters are remembered per
    /// outpoint, so the other spenders are still judged with them. Its
    /// orphans share its fate; a certificate that arrives later still wins
    /// (the body is kept with the rejected ones).
    pub(super) fn abandon(&mut self, txid: TxId, state: TxState) {
        let Some(entry) = self.pool.entries.get(&txid).cloned() else { return };
        if matches!(entry.state, TxState::Final | TxState::Lost) {
            return;
        }
        let locked_by_it: Vec<OutPoint> = entry
            .tx
            .inputs
            .iter()
            .map(|i| i.prev)
            .filter(|op| self.pool.locks.get(op) == Some(&txid))
            .collect();
        self.forget_unsettled(&txid, &entry);
        for outpoint in locked_by_it {
            self.pool.locks.insert(outpoint, txid);
        }
        let voters = self.pool.tallies.remove(&txid).map(|t| t.votes).unwrap_or_default();
        for input in &entry.tx.inputs {
            self.pool
                .abandoned_voters
                .entry(input.prev)
                .or_default()
                .extend(voters.keys().copied());
        }
        self.pool.abandoned.insert(txid, entry.tx.inputs.iter().map(|i| i.prev).collect());
        self.own_pending.retain(|t| *t != txid);
        self.pool.settle(txid, state, None);
        self.remember_rejected_body(txid, entry.tx);
        self.pending_abandon.push((txid, state));
        let children: Vec<TxId> = self
            .pool
            .orphans_by_parent
            .get(&txid)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        for child in children {
            self.abandon(child, state);
        }
    }
}
