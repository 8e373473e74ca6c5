//! The finality engine (PROTOCOL.md §4): admission, first-seen locks, vote
//! batches and their tallies, certificates, conflicts, orphans, and the
//! transactions not in a block yet (`pool`). It owns all of that state; the
//! Tendermint engine reads the final set through the queries at the end of
//! this file, and [`crate::Core`] tells it about commits and catch-up.
//!
//! | concern | file |
//! |---|---|
//! | admission, orphans, bodies asked of peers | `admit.rs` |
//! | locks, own votes, tallies, certificates, conflicts | `votes.rs` |
//! | vote-batch anti-entropy (what each voter sent, gaps, replies) | `batches.rs` |
//! | transactions not in a block, availability | `pool.rs` |

mod admit;
mod batches;
mod pool;
mod votes;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use protocol::block::Block;
use protocol::finality::{FinalityCertificate, VoteBatch};
use protocol::validate::check_before_signatures;
use protocol::{AddressPayload, Amount, MemberIndex, OutPoint, Transaction, TxId, TxOut};

use crate::ctx::Ctx;
use crate::info::{MempoolInfo, TxStatus};
use crate::io::{Event, Millis, Output, Timer, TxState};
use crate::message::{MAX_ITEMS_PER_MESSAGE, Message};
use crate::restore::Restored;

pub(crate) use admit::{certificate_reply_bytes, tx_reply_bytes};
use pool::{AvailableView, Pool};

/// What one voter's batches look like from here.
#[derive(Clone, Debug, Default)]
struct VoterState {
    batches: BTreeMap<u64, (VoteBatch, Millis)>,
    /// Every seq up to this one is held (or pruned).
    contiguous: u64,
    /// Seqs below this were pruned here (their transactions are settled).
    /// Only this node's own pruning sets it, never a peer's claim.
    pruned_below: u64,
    /// The highest seq of a batch of this voter whose signature verified:
    /// what the voter provably reached. Claims never move `contiguous`
    /// past it.
    verified_high: u64,
    /// Txids in `batches` (bounds what one voter can make this node hold).
    held_txids: usize,
    /// The highest seq some peer claims to hold.
    highest_seen: u64,
    /// When this node last asked for a range, to avoid asking twice at once.
    requested_at: Millis,
}

/// The finality engine's state (see the module doc).
#[derive(Debug)]
pub(crate) struct Finality {
    pool: Pool,
    /// What each committee member's vote batches look like from here.
    voters: Vec<VoterState>,
    /// This node's last vote batch seq, the txids it will vote for at the
    /// next seal, and its batches not yet settled.
    own_seq: u64,
    own_pending: Vec<TxId>,
    own_batches: BTreeMap<u64, VoteBatch>,
    /// While catching up this node does not vote; these wait.
    catching_up: bool,
    deferred_votes: Vec<TxId>,
    /// Settlements of the input being handled, emitted together.
    pending_final: Vec<(Transaction, FinalityCertificate)>,
    pending_abandon: Vec<(TxId, TxState)>,
    final_count: u64,
    last_final_at: Millis,
    /// Bodies of rejected transactions kept in case a certificate arrives.
    rejected_bodies: HashMap<TxId, Transaction>,
    rejected_order: VecDeque<TxId>,
    reported_equivocations: BTreeSet<(MemberIndex, OutPoint)>,
    equivocations: u64,
    last_seal: Millis,
    seal_timer_set: bool,
}

impl Finality {
    /// The engine rebuilt from what this node persisted.
    pub(crate) fn new(cx: &mut Ctx, restored: Restored) -> Finality {
        let mut finality = Finality {
            pool: Pool::default(),
            voters: vec![VoterState::default(); cx.committee.len()],
            own_seq: restored.own_seq,
            own_pending: Vec::new(),
            own_batches: BTreeMap::new(),
            catching_up: false,
            deferred_votes: Vec::new(),
            pending_final: Vec::new(),
            pending_abandon: Vec::new(),
            final_count: 0,
            last_final_at: 0,
            rejected_bodies: HashMap::new(),
            rejected_order: VecDeque::new(),
            reported_equivocations: BTreeSet::new(),
            equivocations: 0,
            last_seal: 0,
            seal_timer_set: false,
        };
        finality.restore(cx, restored);
        finality
    }

    /// Re-announces own votes for transactions not yet final (a restart
    /// must not leave them stuck).
    pub(crate) fn start(&self, cx: &mut Ctx) {
        for batch in self.own_batches.values() {
            cx.broadcast(Message::VoteBatch(batch.clone()));
        }
    }

    /// Signs the pending own votes into batches unless the last batch was
    /// sealed less than `seal_interval_ms` ago and they do not fill one
    /// (then a [`Timer::Seal`] is set for when they are due); then emits
    /// this input's settlements.
    pub(crate) fn seal(&mut self, cx: &mut Ctx) {
        if !self.own_pending.is_empty() {
            let due = self.last_seal + cx.config.seal_interval_ms;
            let full = self.own_pending.len() >= cx.params.max_vote_batch_txids as usize;
            if cx.now >= due || full {
                self.last_seal = cx.now;
                self.seal_own_votes(cx);
            } else if !self.seal_timer_set {
                self.seal_timer_set = true;
                cx.out.push(Output::SetTimer { timer: Timer::Seal, at: due });
            }
        }
        self.flush_settlements(cx);
    }

    /// The seal timer fired.
    pub(crate) fn on_seal_timer(&mut self, cx: &mut Ctx) {
        self.seal_timer_set = false;
        self.last_seal = cx.now;
        self.seal_own_votes(cx);
    }

    /// Catch-up started: votes wait until it ends.
    pub(crate) fn pause_votes(&mut self) {
        self.catching_up = true;
    }

    /// Catch-up ended: the votes that waited are cast.
    pub(crate) fn resume_votes(&mut self, cx: &mut Ctx) {
        self.catching_up = false;
        self.retry_deferred_votes(cx);
    }

    /// A block was committed: its transactions leave the pool (ones not
    /// seen final here are final now: a committed block is stronger), every
    /// other spender of what it spent lost, orphans of its transactions are
    /// looked at again, and settled vote batches are forgotten.
    pub(crate) fn on_commit(&mut self, cx: &mut Ctx, block: &Block, txids: &[TxId]) {
        for (tx, txid) in block.txs.iter().zip(txids).skip(1) {
            let was_final = self.pool.entries.get(txid).is_some_and(|e| e.state == TxState::Final);
            if let Some(entry) = self.pool.entries.remove(txid) {
                match entry.state {
                    TxState::Pending | TxState::Contested | TxState::Conflicted => {
                        self.pool.pending_count = self.pool.pending_count.saturating_sub(1);
                        self.pool.pending_bytes =
                            self.pool.pending_bytes.saturating_sub(entry.size);
                    }
                    TxState::WaitingForParent => {
                        self.pool.orphan_count = self.pool.orphan_count.saturating_sub(1);
                        self.pool.orphan_bytes = self.pool.orphan_bytes.saturating_sub(entry.size);
                    }
                    _ => {}
                }
                if let Some(seq) = entry.final_seq {
                    self.pool.final_order.remove(&seq);
                }
                self.pool.unindex_spender(txid, &entry.tx);
            }
            for (vout, _) in tx.outputs.iter().enumerate() {
                self.pool.final_outputs.remove(&OutPoint { txid: *txid, vout: vout as u32 });
            }
            for input in &tx.inputs {
                self.pool.final_spent.remove(&input.prev);
                // Spent in a block: no lock on it matters any more.
                self.pool.locks.remove(&input.prev);
            }
            self.pool.tallies.remove(txid);
            self.own_pending.retain(|t| t != txid);
            if !was_final {
                cx.out.push(Output::Event(Event::TxState {
                    txid: *txid,
                    state: TxState::Final,
                    rejection: None,
                    weight: 0,
                }));
            }
        }
        // Anything else spending what the block spent lost; orphans of the
        // block's transactions can be re-evaluated.
        let losers: Vec<TxId> = block
            .txs
            .iter()
            .flat_map(|tx| tx.inputs.iter())
            .filter_map(|input| self.pool.spenders.get(&input.prev).cloned())
            .flatten()
            .collect();
        for loser in losers {
            if !txids.contains(&loser) {
                self.mark_lost(loser);
            }
        }
        // What was given up on and is now settled on chain needs no account.
        let mut settled_abandoned = false;
        for input in block.txs.iter().flat_map(|tx| &tx.inputs) {
            settled_abandoned |= self.pool.abandoned_voters.remove(&input.prev).is_some();
        }
        if settled_abandoned {
            let voters = &self.pool.abandoned_voters;
            self.pool.abandoned.retain(|_, inputs| inputs.iter().any(|op| voters.contains_key(op)));
        }
        for txid in txids {
            self.wake_orphans(cx, *txid);
        }
        self.prune_vote_batches(cx);
    }

    fn restore(&mut self, cx: &mut Ctx, restored: Restored) {
        self.own_batches = restored.own_batches;
        for (tx, certificate) in restored.final_txs {
            let txid = certificate.txid;
            for vote in &certificate.votes {
                let tally = self.pool.tallies.entry(txid).or_default();
                if tally.votes.insert(vote.voter, vote.clone()).is_none() {
                    tally.weight += cx.committee.weight(vote.voter);
                }
            }
            self.insert_final_entry(cx, txid, tx, certificate);
        }
        for (txid, tx) in restored.locked {
            for input in &tx.inputs {
                self.pool.locks.insert(input.prev, txid);
            }
            let size = tx.size();
            self.pool.insert_pending(txid, tx, size, 0, true);
        }
        // Frozen locks of lost transactions: never vote for another spender.
        for (outpoint, txid) in restored.frozen {
            self.pool.locks.entry(outpoint).or_insert(txid);
        }
        // Count own votes from own batches.
        if let Some(me) = cx.my_index {
            let batches: Vec<VoteBatch> = self.own_batches.values().cloned().collect();
            for batch in batches {
                for (txid, vote) in batch.cert_votes(me) {
                    let weight = cx.committee.weight(me);
                    let tally = self.pool.tallies.entry(txid).or_default();
                    if tally.votes.insert(me, vote).is_none() {
                        tally.weight += weight;
                    }
                }
            }
        }
        // Recompute contested states among restored entries (sorted: the
        // core must be deterministic).
        let mut ids: Vec<TxId> = self.pool.entries.keys().copied().collect();
        ids.sort();
        for txid in ids {
            self.refresh_state(cx, &txid);
        }
    }

    /// Emits the persists and events of transactions that became final or
    /// lost while handling the current input: one atomic write for each kind.
    pub(crate) fn flush_settlements(&mut self, cx: &mut Ctx) {
        if !self.pending_abandon.is_empty() {
            let abandoned = std::mem::take(&mut self.pending_abandon);
            let txids = abandoned.iter().map(|(txid, _)| *txid).collect();
            cx.out.push(Output::Persist(crate::io::PersistOp::Abandon(txids)));
            for (txid, state) in abandoned {
                self.event_state(cx, txid, state);
            }
        }
        if !self.pending_final.is_empty() {
            let finals = std::mem::take(&mut self.pending_final);
            let txids: Vec<TxId> = finals.iter().map(|(_, c)| c.txid).collect();
            self.final_count += txids.len() as u64;
            self.last_final_at = cx.now;
            cx.out.push(Output::Persist(crate::io::PersistOp::Final(finals)));
            for txid in txids {
                self.event_state(cx, txid, TxState::Final);
            }
        }
    }

    pub(crate) fn event_state(&mut self, cx: &mut Ctx, txid: TxId, state: TxState) {
        let weight = self.pool.tallies.get(&txid).map_or(0, |t| t.weight);
        cx.out.push(Output::Event(Event::TxState { txid, state, rejection: None, weight }));
    }

    /// What the node knows about `txid`.
    pub(crate) fn tx_status(&self, cx: &Ctx, txid: &TxId) -> Option<TxStatus> {
        self.status_of(cx, txid, true)
    }

    /// What the node knows about `tx`, without reading the chain index
    /// from disk when `tx` provably is not in a block. The answer is
    /// [`Self::tx_status`]'s.
    pub(crate) fn tx_status_of(&self, cx: &Ctx, tx: &Transaction, txid: &TxId) -> Option<TxStatus> {
        self.status_of(cx, txid, !self.provably_uncommitted(cx, tx))
    }

    /// True when `tx` is provably not in a block, known from memory: one of
    /// its inputs is unspent in the committed set, or is an output of a
    /// transaction not in a block (a committed transaction spent every
    /// input, and its parents are committed). False says nothing: the
    /// chain index answers then.
    pub(crate) fn provably_uncommitted(&self, cx: &Ctx, tx: &Transaction) -> bool {
        tx.inputs.iter().any(|input| {
            cx.ledger.utxo(&input.prev).is_some()
                || self.pool.final_outputs.contains_key(&input.prev)
                || self.pool.entries.contains_key(&input.prev.txid)
        })
    }

    fn status_of(&self, cx: &Ctx, txid: &TxId, maybe_committed: bool) -> Option<TxStatus> {
        let weight = self.pool.tallies.get(txid).map_or(0, |t| t.weight);
        if let Some(entry) = self.pool.entries.get(txid) {
            return Some(TxStatus {
                state: entry.state,
                weight,
                rejection: None,
                block_height: None,
                certificate: entry.certificate.clone(),
                seen_at: entry.seen_at,
            });
        }
        // A failed read reports nothing: the caller then treats the
        // transaction as unknown, and validation refuses its spent inputs.
        if maybe_committed && let Ok(Some(height)) = cx.ledger.committed_height(txid) {
            return Some(TxStatus {
                state: TxState::Committed,
                weight,
                rejection: None,
                block_height: Some(height),
                certificate: None,
                seen_at: 0,
            });
        }
        if let Some((state, rejection)) = self.pool.settled.get(txid) {
            return Some(TxStatus {
                state: *state,
                weight,
                rejection: rejection.clone(),
                block_height: None,
                certificate: None,
                seen_at: 0,
            });
        }
        None
    }

    /// The transactions of `txs` whose input signatures admission would
    /// check, each once with its txid: not held or settled here yet, and
    /// passing every rule admission checks before the signatures (so a
    /// flood of transactions that spend nothing real costs no signature
    /// check here either). A driver verifies them ahead, in a batch; see
    /// `Core::remember_verified`.
    pub(crate) fn unverified<'a>(
        &self,
        cx: &Ctx,
        txs: impl IntoIterator<Item = &'a Transaction>,
    ) -> Vec<(Transaction, TxId)> {
        let view = AvailableView { ledger: &cx.ledger, pool: &self.pool };
        let mut seen = std::collections::HashSet::new();
        txs.into_iter()
            .filter_map(|tx| {
                let txid = tx.txid(cx.chain);
                let new = !self.pool.entries.contains_key(&txid)
                    && !self.pool.settled.contains_key(&txid)
                    && seen.insert(txid)
                    && check_before_signatures(tx, &cx.params, &view).is_ok();
                new.then(|| (tx.clone(), txid))
            })
            .collect()
    }

    /// A transaction held in the pool (not yet in a block).
    pub(crate) fn pool_tx(&self, txid: &TxId) -> Option<&Transaction> {
        self.pool.entries.get(txid).map(|e| &e.tx)
    }

    /// Txids in the pool with their states, in txid order.
    pub(crate) fn pool_txids(&self) -> Vec<(TxId, TxState)> {
        let mut list: Vec<(TxId, TxState)> =
            self.pool.entries.iter().map(|(id, e)| (*id, e.state)).collect();
        list.sort_by_key(|(id, _)| *id);
        list
    }

    /// Pool sizes.
    pub(crate) fn mempool_info(&self) -> MempoolInfo {
        MempoolInfo {
            pending: self.pool.pending_count,
            pending_bytes: self.pool.pending_bytes,
            orphans: self.pool.orphan_count,
            orphan_bytes: self.pool.orphan_bytes,
            final_not_in_block: self.pool.final_order.len(),
            bodiless: self.pool.bodiless.len(),
        }
    }

    /// Spendable outputs paying `address`: committed ones, and outputs of
    /// final transactions not yet in a block (`false` in the third field),
    /// leaving out every output a known transaction spends (final, pending,
    /// contested or conflicted) and every output locked or frozen here:
    /// spending one of those would only make a conflict, as bitcoind's
    /// `listunspent` leaves out what the mempool spends.
    pub(crate) fn spendable(
        &self,
        cx: &Ctx,
        address: &AddressPayload,
    ) -> Vec<(OutPoint, TxOut, bool)> {
        let free = |op: &OutPoint| {
            !self.pool.final_spent.contains_key(op)
                && !self.pool.locks.contains_key(op)
                && self.pool.spenders.get(op).is_none_or(Vec::is_empty)
        };
        let mut out: Vec<(OutPoint, TxOut, bool)> = cx
            .ledger
            .utxos_of(address)
            .into_iter()
            .filter(|(op, _)| free(op))
            .map(|(op, o)| (op, o, true))
            .collect();
        let mut overlay: Vec<(OutPoint, TxOut, bool)> = self
            .pool
            .final_outputs
            .iter()
            .filter(|(op, o)| o.address == *address && free(op))
            .map(|(op, o)| (*op, *o, false))
            .collect();
        overlay.sort_by_key(|(op, _, _)| *op);
        out.extend(overlay);
        out
    }

    /// Transactions final here in the order they became final, with their
    /// certificates: what a block may carry.
    pub(crate) fn final_in_order(
        &self,
    ) -> impl Iterator<Item = (&TxId, &Transaction, &FinalityCertificate)> {
        self.pool.final_order.values().filter_map(|txid| {
            let entry = self.pool.entries.get(txid)?;
            Some((txid, &entry.tx, entry.certificate.as_ref()?))
        })
    }

    /// `txid`'s body and certificate if it is final here.
    pub(crate) fn final_entry(&self, txid: &TxId) -> Option<(&Transaction, &FinalityCertificate)> {
        self.pool
            .entries
            .get(txid)
            .filter(|e| e.state == TxState::Final)
            .and_then(|e| e.certificate.as_ref().map(|c| (&e.tx, c)))
    }

    /// True when this node holds `tx` as `txid` (its signatures were
    /// checked when it arrived).
    pub(crate) fn holds_body(&self, txid: &TxId, tx: &Transaction) -> bool {
        self.pool.entries.get(txid).is_some_and(|e| e.tx == *tx)
    }

    /// True when this node holds `tx` final with exactly `certificate`.
    pub(crate) fn holds_final(
        &self,
        txid: &TxId,
        tx: &Transaction,
        certificate: &FinalityCertificate,
    ) -> bool {
        self.pool.entries.get(txid).is_some_and(|e| {
            e.state == TxState::Final && e.tx == *tx && e.certificate.as_ref() == Some(certificate)
        })
    }

    /// Total fee of `tx`, whose inputs are committed, final here, or in
    /// `extra`.
    pub(crate) fn fee_of(
        &self,
        cx: &Ctx,
        tx: &Transaction,
        extra: &HashMap<OutPoint, TxOut>,
    ) -> Option<Amount> {
        self.pool.fee_of(&cx.ledger, tx, extra)
    }

    /// The final set not yet in a block, up to `budget` bytes: what a node
    /// that caught up asks for.
    pub(crate) fn final_set(&self, budget: usize) -> Vec<(Transaction, FinalityCertificate)> {
        let mut bytes = 0;
        let mut list = Vec::new();
        for (_, tx, certificate) in self.final_in_order() {
            let cost = tx_reply_bytes(tx, None) + certificate_reply_bytes(certificate);
            if list.len() >= MAX_ITEMS_PER_MESSAGE || (!list.is_empty() && bytes + cost > budget) {
                break;
            }
            bytes += cost;
            list.push((tx.clone(), certificate.clone()));
        }
        list
    }

    /// Transactions final here since the core started, and when the last
    /// one became final.
    pub(crate) fn final_count(&self) -> (u64, Millis) {
        (self.final_count, self.last_final_at)
    }

    /// The most txids one voter's held batches carry.
    pub(crate) fn max_voter_txids(&self) -> usize {
        self.voters.iter().map(|v| v.held_txids).max().unwrap_or(0)
    }

    /// Equivocations seen in vote batches.
    pub(crate) fn equivocations(&self) -> u64 {
        self.equivocations
    }
}
