//! Admission (PROTOCOL.md §4): a transaction from a client or a peer is
//! validated against the committed set plus the final overlay, held as
//! pending or as an orphan waiting for its parent; bodies voters have and
//! this node lacks are asked for and taken only when asked.

use protocol::finality::FinalityCertificate;
use protocol::validate::{Admission, TxRejection, check_shape, validate_transaction};
use protocol::{NodeId, OutPoint, Transaction, TxId};

use super::Finality;
use super::pool::{AvailableView, TxEntry};
use crate::ctx::Ctx;
use crate::io::Refusal;
use crate::io::{Event, Origin, Output, SubmitOutcome, TxState};
use crate::message::{MAX_ITEMS_PER_MESSAGE, Message};

/// Bodies of rejected transactions kept in case a certificate for them
/// arrives (a node behind the others rejects what it cannot see yet).
const REJECTED_BODIES: usize = 10_000;
/// How long votes may wait for a body before this node asks a voter.
pub(super) const BODY_WAIT_MS: u64 = 300;

/// A reply's share of `max_reply_bytes` for one transaction and its
/// certificate (an upper bound of their encoding).
pub(crate) fn tx_reply_bytes(tx: &Transaction, certificate: Option<&FinalityCertificate>) -> usize {
    tx.size() + 16 + certificate.map_or(0, certificate_reply_bytes)
}

/// An upper bound of a certificate's encoding.
pub(crate) fn certificate_reply_bytes(certificate: &FinalityCertificate) -> usize {
    40 + certificate.votes.iter().map(|v| 96 + 32 * v.proof.siblings.len()).sum::<usize>()
}

impl Finality {
    /// A transaction arrived from a client or a peer.
    pub(crate) fn on_submit(&mut self, cx: &mut Ctx, tx: Transaction, origin: Origin) {
        let txid = tx.txid(cx.chain);
        let client = match origin {
            Origin::Client(request) => Some(request),
            Origin::Peer(_) => None,
        };
        if let Some(status) = self.tx_status_of(cx, &tx, &txid) {
            if let Some(request) = client {
                let outcome = match status.rejection {
                    Some(rejection) => SubmitOutcome::Rejected { txid, rejection },
                    None => {
                        SubmitOutcome::Accepted { txid, state: status.state, already_known: true }
                    }
                };
                cx.out.push(Output::Reply { request, outcome });
            }
            return;
        }
        if self.catching_up && client.is_some() {
            self.busy(
                cx,
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
        self.admit(cx, txid, tx, client, peer, client.is_some());
    }

    pub(super) fn busy(&mut self, cx: &mut Ctx, client: Option<u64>, txid: TxId, reason: &str) {
        if let Some(request) = client {
            cx.out.push(Output::Reply {
                request,
                outcome: SubmitOutcome::Busy { txid, reason: reason.to_string() },
            });
        }
    }

    /// The rules a body must pass to be held as final without validation
    /// against a UTXO view (a certificate vouches for the rest): its shape
    /// and every input signature. A certificate binds the txid, which
    /// excludes signatures, so the body it arrives with is checked here.
    pub(super) fn body_checks(
        &mut self,
        cx: &mut Ctx,
        txid: &TxId,
        tx: &Transaction,
    ) -> Result<(), TxRejection> {
        check_shape(tx, &cx.params)?;
        match cx.verifier.first_bad_input(cx.chain, tx, txid) {
            Some(index) => Err(TxRejection::BadSignature { index }),
            None => Ok(()),
        }
    }

    /// The first input of `tx` that spends an outpoint frozen here: locked
    /// to a transaction this node gave up on (lost or conflicted).
    pub(super) fn frozen_input(&self, txid: &TxId, tx: &Transaction) -> Option<(usize, OutPoint)> {
        tx.inputs.iter().enumerate().find_map(|(index, input)| {
            let holder = self.pool.locks.get(&input.prev)?;
            let live = self.pool.entries.get(holder).is_some_and(|e| !e.state.is_settled());
            (holder != txid && !live).then_some((index, input.prev))
        })
    }

    /// Validates and files a transaction this node does not hold yet.
    /// `peer` is who relayed it (to fetch a parent this node never saw).
    pub(super) fn admit(
        &mut self,
        cx: &mut Ctx,
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
            && (self.pool.pending_count >= cx.config.mempool_max_txs
                || self.pool.pending_bytes + size > cx.config.mempool_max_bytes)
        {
            self.busy(cx, client, txid, "mempool full");
            return;
        }
        let frozen = if has_votes { None } else { self.frozen_input(&txid, &tx) };
        let result = match frozen {
            Some((index, outpoint)) => Err(TxRejection::InputFrozen { index, outpoint }),
            None => {
                let view = AvailableView { ledger: &cx.ledger, pool: &self.pool };
                validate_transaction(tx.clone(), cx.chain, &cx.params, &view, &mut cx.verifier)
            }
        };
        // Only a committee member's relay (or a parent becoming final) may
        // leave a transaction waiting for a parent nobody here has seen: an
        // observer's would be free to invent.
        let relayed_by_member = peer.is_none_or(|p| cx.committee.index_of(&p).is_some());
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
                match self.body_checks(cx, &txid, &tx) {
                    Err(rejection) => Err(rejection),
                    Ok(()) => {
                        if let Some(peer) = peer {
                            cx.request_bodies(peer, vec![outpoint.txid]);
                        }
                        Ok(Admission::WaitingForParent { txid, missing: vec![outpoint] })
                    }
                }
            }
            other => other,
        };
        match result {
            Err(rejection) => {
                if self.certified(cx, &txid) {
                    self.finalize_certified(cx, txid, tx, false);
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
                cx.out.push(Output::Event(Event::TxState {
                    txid,
                    state: TxState::Rejected,
                    rejection: Some(rejection.clone()),
                    weight: 0,
                }));
                if let Some(request) = client {
                    cx.out.push(Output::Reply {
                        request,
                        outcome: SubmitOutcome::Rejected { txid, rejection },
                    });
                }
            }
            Ok(Admission::WaitingForParent { missing, .. }) => {
                if !has_votes
                    && (self.pool.orphan_count >= cx.config.orphan_max_txs
                        || self.pool.orphan_bytes + size > cx.config.orphan_max_bytes)
                {
                    self.busy(
                        cx,
                        client,
                        txid,
                        "orphan pool full (too many transactions waiting for parents)",
                    );
                    return;
                }
                if gossip {
                    cx.broadcast(Message::Tx(tx.clone()));
                }
                self.insert_orphan(cx, txid, tx, &missing);
                if let Some(request) = client {
                    self.reply_accepted(cx, request, txid);
                }
                if self.certified(cx, &txid) {
                    let tx = self.pool.entries.get(&txid).map(|e| e.tx.clone());
                    if let Some(tx) = tx {
                        // Orphans are signature-checked before they are held.
                        self.finalize_certified(cx, txid, tx, true);
                    }
                }
            }
            Ok(Admission::Valid(verified)) => {
                if gossip {
                    cx.broadcast(Message::Tx(tx));
                }
                let tx = verified.into_tx();
                self.insert_valid(cx, txid, tx, size);
                if let Some(request) = client {
                    self.reply_accepted(cx, request, txid);
                }
            }
        }
    }

    pub(super) fn reply_accepted(&mut self, cx: &mut Ctx, request: u64, txid: TxId) {
        let state = self.pool.entries.get(&txid).map_or(TxState::Pending, |e| e.state);
        cx.out.push(Output::Reply {
            request,
            outcome: SubmitOutcome::Accepted { txid, state, already_known: false },
        });
    }

    pub(super) fn certified(&self, cx: &Ctx, txid: &TxId) -> bool {
        self.pool.tallies.get(txid).is_some_and(|t| t.weight >= cx.committee.quorum())
    }

    pub(super) fn remember_rejected_body(&mut self, txid: TxId, tx: Transaction) {
        if self.rejected_bodies.insert(txid, tx).is_none() {
            self.rejected_order.push_back(txid);
            if self.rejected_order.len() > REJECTED_BODIES
                && let Some(old) = self.rejected_order.pop_front()
            {
                self.rejected_bodies.remove(&old);
            }
        }
    }

    pub(super) fn insert_valid(&mut self, cx: &mut Ctx, txid: TxId, tx: Transaction, size: usize) {
        self.pool.insert_pending(txid, tx, size, cx.now, false);
        self.try_lock(cx, txid);
        self.refresh_conflict_set(cx, &txid);
        if self.certified(cx, &txid) {
            self.finalize(cx, txid);
        }
    }

    pub(super) fn insert_orphan(
        &mut self,
        cx: &mut Ctx,
        txid: TxId,
        tx: Transaction,
        missing: &[OutPoint],
    ) {
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
                expires_at: cx.now + cx.config.orphan_ttl_ms,
                ..TxEntry::new(tx, TxState::WaitingForParent, size, cx.now)
            },
        );
        self.event_state(cx, txid, TxState::WaitingForParent);
    }

    /// `parent` became final or committed: re-evaluate its orphans.
    pub(crate) fn wake_orphans(&mut self, cx: &mut Ctx, parent: TxId) {
        let Some(children) = self.pool.orphans_by_parent.remove(&parent) else { return };
        for child in children {
            let Some(entry) = self.pool.entries.get(&child).cloned() else { continue };
            if entry.state != TxState::WaitingForParent {
                continue;
            }
            self.forget_unsettled(&child, &entry);
            self.admit(cx, child, entry.tx, None, None, false);
        }
    }

    /// Housekeeping for transactions: expire orphans, fetch missing bodies.
    pub(crate) fn tx_tick(&mut self, cx: &mut Ctx) {
        let now = cx.now;
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
                    entry.expires_at = now + cx.config.orphan_ttl_ms;
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
            cx.out.push(Output::Event(Event::TxState {
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
            self.request_body(cx, txid);
        }
        self.pool
            .bodiless
            .retain(|t| !self.pool.entries.contains_key(t) && self.pool.tallies.contains_key(t));
    }

    /// A peer asks for transaction bodies: the ones held, up to the reply
    /// byte budget.
    pub(crate) fn on_get_txs(&mut self, cx: &mut Ctx, from: NodeId, txids: Vec<TxId>) {
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
            if !found.is_empty() && bytes + cost > cx.config.max_reply_bytes {
                break;
            }
            bytes += cost;
            found.push(item);
        }
        if !found.is_empty() {
            cx.send(from, Message::Txs(found));
        }
    }

    /// Bodies arrived, some with certificates. Only bodies this node asked
    /// for are taken: anything else is a claim nobody asked for.
    pub(crate) fn on_txs(
        &mut self,
        cx: &mut Ctx,
        from: NodeId,
        list: Vec<(Transaction, Option<FinalityCertificate>)>,
    ) {
        let mut unsolicited = false;
        for (tx, certificate) in list {
            let txid = tx.txid(cx.chain);
            if !cx.requests.bodies.contains_key(&txid) {
                unsolicited = true;
                continue;
            }
            match certificate {
                Some(certificate) if certificate.txid == txid => {
                    if !self.absorb_certificate(cx, txid, tx, &certificate) {
                        cx.refuse(from, Refusal::BadSignature);
                    }
                }
                _ => {
                    if self.pool.entries.contains_key(&txid) {
                        continue;
                    }
                    if self.certified(cx, &txid) {
                        self.finalize_certified(cx, txid, tx, false);
                    } else if self.tx_status(cx, &txid).is_none() {
                        self.admit(cx, txid, tx, None, Some(from), false);
                    }
                }
            }
        }
        if unsolicited {
            cx.refuse(from, Refusal::Unsolicited);
        }
    }

    /// Verifies a certificate and, if valid, counts its votes and finalizes
    /// (unless the transaction is already final or committed). False when
    /// the certificate does not verify.
    pub(crate) fn absorb_certificate(
        &mut self,
        cx: &mut Ctx,
        txid: TxId,
        tx: Transaction,
        certificate: &FinalityCertificate,
    ) -> bool {
        if self.pool.entries.get(&txid).is_some_and(|e| e.state == TxState::Final) {
            return true;
        }
        match cx.ledger.committed_height(&txid) {
            Ok(None) => {}
            Ok(Some(_)) | Err(_) => return true,
        }
        if certificate.verify(cx.chain, &cx.committee, &mut cx.verified_votes).is_err() {
            return false;
        }
        for vote in &certificate.votes {
            let weight = cx.committee.weight(vote.voter);
            let tally = self.pool.tally(txid, cx.now);
            if tally.votes.insert(vote.voter, vote.clone()).is_none() {
                tally.weight += weight;
            }
        }
        self.finalize_certified(cx, txid, tx, false);
        true
    }
}
