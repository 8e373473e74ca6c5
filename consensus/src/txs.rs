//! Instant finality (PROTOCOL.md §4): admission, first-seen locks, vote
//! batches, tallies, certificates, conflicts, orphans.

use std::collections::BTreeSet;

use protocol::finality::{CertVote, FinalityCertificate, VoteBatch, VoteError};
use protocol::validate::{Admission, TxRejection, check_shape, validate_transaction};
use protocol::{MemberIndex, NodeId, OutPoint, Transaction, TxId};

use crate::core::Core;
use crate::inbound::{MAX_BODY_REQUESTS, Refusal};
use crate::io::{Event, Evidence, Origin, Output, PersistOp, SubmitOutcome, TxState};
use crate::message::{MAX_ITEMS_PER_MESSAGE, Message};
use crate::pool::{AvailableView, TxEntry};

/// Bodies of rejected transactions kept in case a certificate for them
/// arrives (a node behind the others rejects what it cannot see yet).
const REJECTED_BODIES: usize = 10_000;
/// How long votes may wait for a body before this node asks a voter.
const BODY_WAIT_MS: u64 = 300;
/// How long before asking again for a body that did not arrive.
const BODY_RETRY_MS: u64 = 1_000;
/// Most txids one voter's unsettled batches may make this node hold. An
/// honest voter holds a few block intervals' worth; more is a flood.
const MAX_HELD_TXIDS_PER_VOTER: usize = 1 << 16;

/// A reply's share of `max_reply_bytes` for one transaction and its
/// certificate (an upper bound of their encoding).
pub(crate) fn tx_reply_bytes(tx: &Transaction, certificate: Option<&FinalityCertificate>) -> usize {
    tx.size() + 16 + certificate.map_or(0, certificate_reply_bytes)
}

/// An upper bound of a certificate's encoding.
pub(crate) fn certificate_reply_bytes(certificate: &FinalityCertificate) -> usize {
    40 + certificate.votes.iter().map(|v| 96 + 32 * v.proof.siblings.len()).sum::<usize>()
}

impl Core {
    /// A transaction arrived from a client or a peer.
    pub(crate) fn on_submit(&mut self, tx: Transaction, origin: Origin) {
        let txid = tx.txid(self.chain);
        let client = match origin {
            Origin::Client(request) => Some(request),
            Origin::Peer(_) => None,
        };
        if let Some(status) = self.tx_status_of(&tx, &txid) {
            if let Some(request) = client {
                let outcome = match status.rejection {
                    Some(rejection) => SubmitOutcome::Rejected { txid, rejection },
                    None => {
                        SubmitOutcome::Accepted { txid, state: status.state, already_known: true }
                    }
                };
                self.out.push(Output::Reply { request, outcome });
            }
            return;
        }
        if self.syncing && client.is_some() {
            self.busy(
                client,
                txid,
                "node is catching up with the chain; try another node or retry",
            );
            return;
        }
        let peer = match origin {
            Origin::Peer(peer) => Some(peer),
            Origin::Client(_) => None,
        };
        self.admit(txid, tx, client, peer, client.is_some());
    }

    fn busy(&mut self, client: Option<u64>, txid: TxId, reason: &str) {
        if let Some(request) = client {
            self.out.push(Output::Reply {
                request,
                outcome: SubmitOutcome::Busy { txid, reason: reason.to_string() },
            });
        }
    }

    /// The rules a body must pass to be held as final without validation
    /// against a UTXO view (a certificate vouches for the rest): its shape
    /// and every input signature. A certificate binds the txid, which
    /// excludes signatures, so the body it arrives with is checked here.
    fn body_checks(&mut self, txid: &TxId, tx: &Transaction) -> Result<(), TxRejection> {
        check_shape(tx, &self.params)?;
        match self.verifier.first_bad_input(self.chain, tx, txid) {
            Some(index) => Err(TxRejection::BadSignature { index }),
            None => Ok(()),
        }
    }

    /// The first input of `tx` that spends an outpoint frozen here: locked
    /// to a transaction this node gave up on (lost or conflicted).
    fn frozen_input(&self, txid: &TxId, tx: &Transaction) -> Option<(usize, OutPoint)> {
        tx.inputs.iter().enumerate().find_map(|(index, input)| {
            let holder = self.pool.locks.get(&input.prev)?;
            let live = self.pool.entries.get(holder).is_some_and(|e| !e.state.is_settled());
            (holder != txid && !live).then_some((index, input.prev))
        })
    }

    /// Validates and files a transaction this node does not hold yet.
    /// `peer` is who relayed it (to fetch a parent this node never saw).
    fn admit(
        &mut self,
        txid: TxId,
        tx: Transaction,
        client: Option<u64>,
        peer: Option<NodeId>,
        gossip: bool,
    ) {
        let size = tx.size();
        let has_votes = self.pool.tallies.contains_key(&txid);
        // Admission limits apply before a transaction is locked; one that
        // already has votes is never dropped for capacity (PROTOCOL.md §4).
        if !has_votes
            && (self.pool.pending_count >= self.config.mempool_max_txs
                || self.pool.pending_bytes + size > self.config.mempool_max_bytes)
        {
            self.busy(client, txid, "mempool full");
            return;
        }
        let frozen = if has_votes { None } else { self.frozen_input(&txid, &tx) };
        let result = match frozen {
            Some((index, outpoint)) => Err(TxRejection::InputFrozen { index, outpoint }),
            None => {
                let view = AvailableView { ledger: &self.ledger, pool: &self.pool };
                validate_transaction(
                    tx.clone(),
                    self.chain,
                    &self.params,
                    &view,
                    &mut self.verifier,
                )
            }
        };
        // Only a committee member's relay (or a parent becoming final) may
        // leave a transaction waiting for a parent nobody here has seen: an
        // observer's would be free to invent.
        let relayed_by_member = peer.is_none_or(|p| self.committee.index_of(&p).is_some());
        let result = match result {
            // Relayed transactions can overtake their parents (or this node
            // may be behind): a parent nobody here has seen is fetched from
            // the relaying peer while the child waits. A client gets the
            // rejection at once (it should send parents first).
            Err(TxRejection::UnknownInput { outpoint, .. })
                if client.is_none() && relayed_by_member =>
            {
                // Signatures need no parent: the orphan pool only holds
                // transactions their keys' owners signed.
                match self.body_checks(&txid, &tx) {
                    Err(rejection) => Err(rejection),
                    Ok(()) => {
                        if let Some(peer) = peer {
                            self.request_bodies(peer, vec![outpoint.txid]);
                        }
                        Ok(Admission::WaitingForParent { txid, missing: vec![outpoint] })
                    }
                }
            }
            other => other,
        };
        match result {
            Err(rejection) => {
                if self.certified(&txid) {
                    self.finalize_certified(txid, tx, false);
                    return;
                }
                self.remember_rejected_body(txid, tx);
                // An unknown input says what this node has seen, not what the
                // transaction is: a resubmission is validated again (its
                // parent may have arrived); a frozen input is this node's
                // choice, not the transaction's. Every other rejection is
                // final.
                if !matches!(
                    rejection,
                    TxRejection::UnknownInput { .. } | TxRejection::InputFrozen { .. }
                ) {
                    self.pool.settle(txid, TxState::Rejected, Some(rejection.clone()));
                }
                self.out.push(Output::Event(Event::TxState {
                    txid,
                    state: TxState::Rejected,
                    rejection: Some(rejection.clone()),
                    weight: 0,
                }));
                if let Some(request) = client {
                    self.out.push(Output::Reply {
                        request,
                        outcome: SubmitOutcome::Rejected { txid, rejection },
                    });
                }
            }
            Ok(Admission::WaitingForParent { missing, .. }) => {
                if !has_votes
                    && (self.pool.orphan_count >= self.config.orphan_max_txs
                        || self.pool.orphan_bytes + size > self.config.orphan_max_bytes)
                {
                    self.busy(
                        client,
                        txid,
                        "orphan pool full (too many transactions waiting for parents)",
                    );
                    return;
                }
                if gossip {
                    self.broadcast(Message::Tx(tx.clone()));
                }
                self.insert_orphan(txid, tx, &missing);
                if let Some(request) = client {
                    self.reply_accepted(request, txid);
                }
                if self.certified(&txid) {
                    let tx = self.pool.entries.get(&txid).map(|e| e.tx.clone());
                    if let Some(tx) = tx {
                        // Orphans are signature-checked before they are held.
                        self.finalize_certified(txid, tx, true);
                    }
                }
            }
            Ok(Admission::Valid(verified)) => {
                if gossip {
                    self.broadcast(Message::Tx(tx));
                }
                let tx = verified.into_tx();
                self.insert_valid(txid, tx, size);
                if let Some(request) = client {
                    self.reply_accepted(request, txid);
                }
            }
        }
    }

    fn reply_accepted(&mut self, request: u64, txid: TxId) {
        let state = self.pool.entries.get(&txid).map_or(TxState::Pending, |e| e.state);
        self.out.push(Output::Reply {
            request,
            outcome: SubmitOutcome::Accepted { txid, state, already_known: false },
        });
    }

    fn certified(&self, txid: &TxId) -> bool {
        self.pool.tallies.get(txid).is_some_and(|t| t.weight >= self.committee().quorum())
    }

    fn remember_rejected_body(&mut self, txid: TxId, tx: Transaction) {
        if self.rejected_bodies.insert(txid, tx).is_none() {
            self.rejected_order.push_back(txid);
            if self.rejected_order.len() > REJECTED_BODIES
                && let Some(old) = self.rejected_order.pop_front()
            {
                self.rejected_bodies.remove(&old);
            }
        }
    }

    fn insert_valid(&mut self, txid: TxId, tx: Transaction, size: usize) {
        self.pool.insert_pending(txid, tx, size, self.now, false);
        self.try_lock(txid);
        self.refresh_conflict_set(&txid);
        if self.certified(&txid) {
            self.finalize(txid);
        }
    }

    /// First seen wins: lock every input to `txid` if none is locked to
    /// another transaction, and queue the vote for the next seal.
    fn try_lock(&mut self, txid: TxId) {
        if self.my_index.is_none() {
            return;
        }
        if self.syncing {
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
    pub(crate) fn retry_deferred_votes(&mut self) {
        for txid in std::mem::take(&mut self.deferred_votes) {
            self.try_lock(txid);
        }
    }

    /// Group commit: the locks of the queued votes and the batch that carries
    /// them are persisted in one write, then the batch is broadcast and
    /// counted as this node's own votes.
    pub(crate) fn seal_own_votes(&mut self) {
        let Some(me) = self.my_index else {
            self.own_pending.clear();
            return;
        };
        let max = self.params.max_vote_batch_txids as usize;
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
            let batch = VoteBatch::sign(self.chain, &self.key, self.own_seq, txids);
            let locked: Vec<Transaction> = batch
                .txids
                .iter()
                .filter_map(|t| self.pool.entries.get(t).map(|e| e.tx.clone()))
                .collect();
            self.out.push(Output::Persist(PersistOp::OwnVotes { locked, batch: batch.clone() }));
            self.broadcast(Message::VoteBatch(batch.clone()));
            self.own_batches.insert(batch.seq, batch.clone());
            for (txid, vote) in batch.cert_votes(me) {
                self.add_vote(txid, me, vote);
            }
        }
    }

    /// A peer relayed a vote batch (or sent it in a reply). True when its
    /// signature verified and its votes were counted; a bad one is refused
    /// and charged to `from` (honest nodes relay only what verified).
    pub(crate) fn on_vote_batch(&mut self, from: NodeId, batch: VoteBatch) -> bool {
        let max = self.params.max_vote_batch_txids as usize;
        let voter = match batch.check(self.chain, &self.committee, max, &mut self.verified_votes) {
            Ok(voter) => voter,
            Err(error) => {
                let reason = match error {
                    VoteError::NotMember(_) => Refusal::NotMember,
                    VoteError::BadSignature(_) => Refusal::BadSignature,
                    _ => Refusal::BadRange,
                };
                self.refuse(from, reason);
                return false;
            }
        };
        if Some(voter) == self.my_index {
            return false;
        }
        let seq = batch.seq;
        let now = self.now;
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
            self.out.push(Output::Event(Event::Equivocation(evidence)));
        } else {
            let fills_gap = seq == state.contiguous.saturating_add(1);
            if state.held_txids + batch.txids.len() > MAX_HELD_TXIDS_PER_VOTER && !fills_gap {
                self.refuse(from, Refusal::OverLimit);
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
            self.ask_vote_batches(from, voter, first, last, false);
        }
        for (txid, vote) in batch.cert_votes(voter) {
            self.add_vote(txid, voter, vote);
        }
        true
    }

    /// Counts one vote, once per (voter, txid).
    pub(crate) fn add_vote(&mut self, txid: TxId, voter: MemberIndex, vote: CertVote) {
        if let Some(inputs) = self.pool.abandoned.get(&txid).cloned() {
            // Given up on here: the vote only weighs against the spenders
            // still held, which may now be conflicted too.
            let mut live = Vec::new();
            for outpoint in &inputs {
                self.pool.abandoned_voters.entry(*outpoint).or_default().insert(voter);
                live.extend(self.pool.spenders.get(outpoint).into_iter().flatten().copied());
            }
            for other in live {
                self.refresh_conflict_set(&other);
            }
            return;
        }
        let weight = self.committee.weight(voter);
        let tally = self.pool.tally(txid, self.now);
        if tally.votes.contains_key(&voter) {
            return;
        }
        tally.votes.insert(voter, vote);
        tally.weight += weight;
        let reached = tally.weight >= self.committee.quorum();
        let new_tally = tally.votes.len() == 1;
        if !self.pool.entries.contains_key(&txid) {
            if new_tally {
                self.track_bodiless(txid);
            }
            if reached {
                if let Some(tx) = self.rejected_bodies.get(&txid).cloned() {
                    self.finalize_certified(txid, tx, false);
                } else {
                    self.request_body(txid);
                }
            }
            return;
        }
        self.check_vote_equivocation(txid, voter);
        self.refresh_conflict_set(&txid);
        if reached {
            self.finalize(txid);
        }
    }

    fn track_bodiless(&mut self, txid: TxId) {
        self.pool.bodiless.push_back(txid);
        while self.pool.bodiless.len() > self.config.max_bodiless {
            if let Some(old) = self.pool.bodiless.pop_front()
                && !self.pool.entries.contains_key(&old)
            {
                self.pool.tallies.remove(&old);
            }
        }
    }

    /// Asks a voter for the body of `txid` (rotating voters on retries).
    fn request_body(&mut self, txid: TxId) {
        let Some(tally) = self.pool.tallies.get_mut(&txid) else { return };
        tally.body_requested = true;
        let voters: Vec<MemberIndex> =
            tally.votes.keys().copied().filter(|v| Some(*v) != self.my_index).collect();
        if voters.is_empty() {
            return;
        }
        let attempt = self.requests.bodies.get(&txid).map_or(0, |(_, n)| *n);
        let voter = voters[attempt % voters.len()];
        if let Some(member) = self.committee.member(voter) {
            let id = member.id;
            self.request_bodies(id, vec![txid]);
        }
    }

    /// Sends `GetTxs` to `peer` for the txids not asked for within the last
    /// second (requests and replies can be lost; retries are paced). The
    /// txids asked are what a `Txs` reply may carry.
    pub(crate) fn request_bodies(&mut self, peer: NodeId, txids: Vec<TxId>) {
        let now = self.now;
        let room = MAX_BODY_REQUESTS.saturating_sub(self.requests.bodies.len());
        let wanted: Vec<TxId> = txids
            .into_iter()
            .filter(|t| self.requests.bodies.get(t).is_none_or(|(at, _)| now >= at + BODY_RETRY_MS))
            .take(MAX_ITEMS_PER_MESSAGE.min(room))
            .collect();
        if wanted.is_empty() {
            return;
        }
        for txid in &wanted {
            let entry = self.requests.bodies.entry(*txid).or_insert((now, 0));
            entry.0 = now;
            entry.1 += 1;
        }
        self.send(peer, Message::GetTxs(wanted));
    }

    /// A voter voting for two transactions that spend one outpoint has
    /// equivocated: report both batches once.
    fn check_vote_equivocation(&mut self, txid: TxId, voter: MemberIndex) {
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
            let a = self.batch_of(txid, voter);
            let b = self.batch_of(other, voter);
            if let (Some(a), Some(b)) = (a, b) {
                let evidence = Evidence::VoteBatches(Box::new(a), Box::new(b));
                self.out.push(Output::Event(Event::Equivocation(evidence)));
            }
        }
    }

    fn batch_of(&self, txid: TxId, voter: MemberIndex) -> Option<VoteBatch> {
        let seq = self.pool.tallies.get(&txid)?.votes.get(&voter)?.seq;
        if Some(voter) == self.my_index {
            return self.own_batches.get(&seq).cloned();
        }
        self.voters.get(usize::from(voter))?.batches.get(&seq).map(|(b, _)| b.clone())
    }

    /// Re-derives pending / contested / conflicted for `txid` and every
    /// transaction it conflicts with; then gives up on those that are
    /// conflicted (all at once, so none is judged without the others).
    fn refresh_conflict_set(&mut self, txid: &TxId) {
        let Some(entry) = self.pool.entries.get(txid) else { return };
        let mut set = self.pool.conflicts_of(txid, &entry.tx);
        set.push(*txid);
        for id in &set {
            self.refresh_state(id);
        }
        for id in set {
            if self.pool.entries.get(&id).is_some_and(|e| e.state == TxState::Conflicted) {
                self.abandon(id, TxState::Conflicted);
            }
        }
    }

    /// Recomputes the state of one unsettled, non-orphan transaction.
    pub(crate) fn refresh_state(&mut self, txid: &TxId) {
        let Some(entry) = self.pool.entries.get(txid) else { return };
        if !matches!(entry.state, TxState::Pending | TxState::Contested | TxState::Conflicted) {
            return;
        }
        let conflicts = self.pool.conflicts_of(txid, &entry.tx);
        let max_faulty = self.committee.max_faulty();
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
            if self.committee.weight_of(others.iter().copied()) > max_faulty {
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
            self.event_state(*txid, state);
        }
    }

    /// The certificate of a transaction whose tally reached q: votes in
    /// committee order until the weight reaches q.
    fn build_certificate(&self, txid: TxId) -> Option<FinalityCertificate> {
        let tally = self.pool.tallies.get(&txid)?;
        let mut votes = Vec::new();
        let mut weight = 0;
        for (voter, vote) in &tally.votes {
            if weight >= self.committee.quorum() {
                break;
            }
            weight += self.committee.weight(*voter);
            votes.push(vote.clone());
        }
        (weight >= self.committee.quorum()).then_some(FinalityCertificate { txid, votes })
    }

    /// Votes of weight ≥ q exist for a transaction this node holds.
    fn finalize(&mut self, txid: TxId) {
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
        self.finalize_certified(txid, tx, true);
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
    pub(crate) fn finalize_certified(&mut self, txid: TxId, tx: Transaction, checked: bool) {
        // The index read (a disk read on a node) only when memory cannot
        // tell: 4 % of a node's CPU at 1,000 tx/s when it was every time.
        if !self.provably_uncommitted(&tx) {
            match self.ledger.committed_height(&txid) {
                Ok(None) => {}
                Ok(Some(_)) | Err(_) => return,
            }
        }
        let spent_on_chain = tx.inputs.iter().any(|input| {
            !self.pool.final_outputs.contains_key(&input.prev)
                && self.ledger.spent_on_chain(&input.prev).unwrap_or(true)
        });
        if spent_on_chain {
            return;
        }
        if !checked && self.body_checks(&txid, &tx).is_err() {
            return;
        }
        let Some(certificate) = self.build_certificate(txid) else { return };
        if let Some(entry) = self.pool.entries.get(&txid) {
            if entry.state == TxState::Final {
                return;
            }
            let entry = entry.clone();
            self.forget_unsettled(&txid, &entry);
        }
        self.insert_final_entry(txid, tx.clone(), certificate.clone());
        self.pending_final.push((tx.clone(), certificate));
        for other in self.pool.conflicts_of(&txid, &tx) {
            self.mark_lost(other);
        }
        self.wake_orphans(txid);
    }

    /// Files a final transaction: state, order, and the availability overlay.
    pub(crate) fn insert_final_entry(
        &mut self,
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
                ..TxEntry::new(tx, TxState::Final, size, self.now)
            },
        );
    }

    /// Drops the accounting of an entry that was pending or an orphan.
    fn forget_unsettled(&mut self, txid: &TxId, entry: &TxEntry) {
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
    fn abandon(&mut self, txid: TxId, state: TxState) {
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

    fn insert_orphan(&mut self, txid: TxId, tx: Transaction, missing: &[OutPoint]) {
        let mut parents: Vec<TxId> = missing.iter().map(|o| o.txid).collect();
        parents.sort();
        parents.dedup();
        let size = tx.size();
        for parent in &parents {
            self.pool.orphans_by_parent.entry(*parent).or_default().insert(txid);
        }
        self.pool.orphan_count += 1;
        self.pool.orphan_bytes += size;
        self.pool.entries.insert(
            txid,
            TxEntry {
                waiting_for: parents,
                expires_at: self.now + self.config.orphan_ttl_ms,
                ..TxEntry::new(tx, TxState::WaitingForParent, size, self.now)
            },
        );
        self.event_state(txid, TxState::WaitingForParent);
    }

    /// `parent` became final or committed: re-evaluate its orphans.
    pub(crate) fn wake_orphans(&mut self, parent: TxId) {
        let Some(children) = self.pool.orphans_by_parent.remove(&parent) else { return };
        for child in children {
            let Some(entry) = self.pool.entries.get(&child).cloned() else { continue };
            if entry.state != TxState::WaitingForParent {
                continue;
            }
            self.forget_unsettled(&child, &entry);
            self.admit(child, entry.tx, None, None, false);
        }
    }

    /// Housekeeping for transactions: expire orphans, fetch missing bodies.
    pub(crate) fn tx_tick(&mut self) {
        let now = self.now;
        let mut expired: Vec<TxId> = self
            .pool
            .entries
            .iter()
            .filter(|(_, e)| e.state == TxState::WaitingForParent && e.expires_at <= now)
            .map(|(id, _)| *id)
            .collect();
        expired.sort();
        for txid in expired {
            if self.pool.tallies.contains_key(&txid) {
                continue; // it has votes: never dropped for capacity or age
            }
            let Some(entry) = self.pool.entries.get(&txid).cloned() else { continue };
            // A parent this node holds is in flight (a partition can hold it
            // for longer than the TTL): the child waits with it, and shares
            // its fate when it settles.
            if entry.waiting_for.iter().any(|p| self.pool.entries.contains_key(p)) {
                if let Some(entry) = self.pool.entries.get_mut(&txid) {
                    entry.expires_at = now + self.config.orphan_ttl_ms;
                }
                continue;
            }
            // A parent nobody sent: the child goes, but is not judged (a
            // resubmission is validated again, and a certificate still
            // finalizes it from the kept body).
            self.forget_unsettled(&txid, &entry);
            let rejection = entry
                .tx
                .inputs
                .iter()
                .enumerate()
                .find(|(_, i)| entry.waiting_for.contains(&i.prev.txid))
                .map(|(index, i)| TxRejection::UnknownInput { index, outpoint: i.prev });
            self.remember_rejected_body(txid, entry.tx);
            self.out.push(Output::Event(Event::TxState {
                txid,
                state: TxState::Rejected,
                rejection,
                weight: 0,
            }));
        }
        let waiting: Vec<TxId> = self
            .pool
            .bodiless
            .iter()
            .filter(|t| !self.pool.entries.contains_key(*t))
            .filter(|t| {
                self.pool
                    .tallies
                    .get(*t)
                    .is_some_and(|tally| tally.first_vote_at + BODY_WAIT_MS <= now)
            })
            .copied()
            .collect();
        for txid in waiting {
            self.request_body(txid);
        }
        self.pool
            .bodiless
            .retain(|t| !self.pool.entries.contains_key(t) && self.pool.tallies.contains_key(t));
    }

    /// A peer asks for transaction bodies: the ones held, up to the reply
    /// byte budget.
    pub(crate) fn on_get_txs(&mut self, from: NodeId, txids: Vec<TxId>) {
        let mut found = Vec::new();
        let mut bytes = 0;
        for txid in txids.into_iter().take(MAX_ITEMS_PER_MESSAGE) {
            let item = if let Some(entry) = self.pool.entries.get(&txid) {
                (entry.tx.clone(), entry.certificate.clone())
            } else if let Some(tx) = self.rejected_bodies.get(&txid) {
                (tx.clone(), None)
            } else {
                continue;
            };
            let cost = tx_reply_bytes(&item.0, item.1.as_ref());
            if !found.is_empty() && bytes + cost > self.config.max_reply_bytes {
                break;
            }
            bytes += cost;
            found.push(item);
        }
        if !found.is_empty() {
            self.send(from, Message::Txs(found));
        }
    }

    /// Bodies arrived, some with certificates. Only bodies this node asked
    /// for are taken: anything else is a claim nobody asked for.
    pub(crate) fn on_txs(
        &mut self,
        from: NodeId,
        list: Vec<(Transaction, Option<FinalityCertificate>)>,
    ) {
        let mut unsolicited = false;
        for (tx, certificate) in list {
            let txid = tx.txid(self.chain);
            if !self.requests.bodies.contains_key(&txid) {
                unsolicited = true;
                continue;
            }
            match certificate {
                Some(certificate) if certificate.txid == txid => {
                    if !self.absorb_certificate(txid, tx, &certificate) {
                        self.refuse(from, Refusal::BadSignature);
                    }
                }
                _ => {
                    if self.pool.entries.contains_key(&txid) {
                        continue;
                    }
                    if self.certified(&txid) {
                        self.finalize_certified(txid, tx, false);
                    } else if self.tx_status(&txid).is_none() {
                        self.admit(txid, tx, None, Some(from), false);
                    }
                }
            }
        }
        if unsolicited {
            self.refuse(from, Refusal::Unsolicited);
        }
    }

    /// Verifies a certificate and, if valid, counts its votes and finalizes
    /// (unless the transaction is already final or committed). False when
    /// the certificate does not verify.
    pub(crate) fn absorb_certificate(
        &mut self,
        txid: TxId,
        tx: Transaction,
        certificate: &FinalityCertificate,
    ) -> bool {
        if self.pool.entries.get(&txid).is_some_and(|e| e.state == TxState::Final) {
            return true;
        }
        match self.ledger.committed_height(&txid) {
            Ok(None) => {}
            Ok(Some(_)) | Err(_) => return true,
        }
        if certificate.verify(self.chain, &self.committee, &mut self.verified_votes).is_err() {
            return false;
        }
        for vote in &certificate.votes {
            let weight = self.committee.weight(vote.voter);
            let tally = self.pool.tally(txid, self.now);
            if tally.votes.insert(vote.voter, vote.clone()).is_none() {
                tally.weight += weight;
            }
        }
        self.finalize_certified(txid, tx, false);
        true
    }
}

/// Moves a voter's `contiguous` over every batch held right after it.
pub(crate) fn advance_contiguous(state: &mut crate::core::VoterState) {
    while state.batches.contains_key(&state.contiguous.saturating_add(1)) {
        state.contiguous += 1;
    }
}
