//! The transactions a node holds that are not in a block yet: their states,
//! who spends what, the final-but-not-in-block overlay, orphans, and the
//! availability view validation uses.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use protocol::finality::{CertVote, FinalityCertificate};
use protocol::validate::{Coin, TxRejection, UtxoView};
use protocol::{Amount, MemberIndex, OutPoint, Transaction, TxId, TxOut};

use crate::io::{Millis, TxState};
use crate::ledger::Ledger;

/// One transaction the node holds.
#[derive(Clone, Debug)]
pub(crate) struct TxEntry {
    pub(crate) tx: Transaction,
    pub(crate) state: TxState,
    pub(crate) size: usize,
    pub(crate) seen_at: Millis,
    /// This node locked its inputs to it (and voted, or will at the next seal).
    pub(crate) locked: bool,
    /// For final transactions: the certificate, and the order they became final.
    pub(crate) certificate: Option<FinalityCertificate>,
    pub(crate) final_seq: Option<u64>,
    /// For orphans: the parents it waits for, and when it gives up.
    pub(crate) waiting_for: Vec<TxId>,
    pub(crate) expires_at: Millis,
}

impl TxEntry {
    /// An entry in `state`, first seen at `seen_at`: not locked here, no
    /// certificate, not waiting for parents (callers set what differs).
    pub(crate) fn new(tx: Transaction, state: TxState, size: usize, seen_at: Millis) -> TxEntry {
        TxEntry {
            tx,
            state,
            size,
            seen_at,
            locked: false,
            certificate: None,
            final_seq: None,
            waiting_for: Vec::new(),
            expires_at: 0,
        }
    }
}

/// Votes seen for one txid (the body may not be known yet).
#[derive(Clone, Debug, Default)]
pub(crate) struct Tally {
    pub(crate) votes: BTreeMap<MemberIndex, CertVote>,
    pub(crate) weight: u64,
    pub(crate) first_vote_at: Millis,
    pub(crate) body_requested: bool,
}

/// Transactions not in a block, and what they do to availability.
#[derive(Debug, Default)]
pub(crate) struct Pool {
    pub(crate) entries: HashMap<TxId, TxEntry>,
    /// Known spenders of each outpoint (valid transactions, not orphans).
    pub(crate) spenders: HashMap<OutPoint, Vec<TxId>>,
    /// This node's locks: each outpoint it voted for, and for which txid.
    pub(crate) locks: HashMap<OutPoint, TxId>,
    /// Votes per txid.
    pub(crate) tallies: HashMap<TxId, Tally>,
    /// Txids with votes but no body, oldest first (bounded).
    pub(crate) bodiless: VecDeque<TxId>,
    /// Final transactions not yet in a block, in the order they became final.
    pub(crate) final_order: BTreeMap<u64, TxId>,
    pub(crate) next_final_seq: u64,
    /// Outputs created by final transactions not yet in a block.
    pub(crate) final_outputs: HashMap<OutPoint, TxOut>,
    /// Outpoints spent by final transactions not yet in a block.
    pub(crate) final_spent: HashMap<OutPoint, TxId>,
    /// Voters of transactions given up on (lost or conflicted), per
    /// outpoint they spend: the remaining spenders are still judged with
    /// them. Dropped when a block spends the outpoint.
    pub(crate) abandoned_voters: HashMap<OutPoint, BTreeSet<MemberIndex>>,
    /// The inputs of each transaction given up on, so a late vote for it
    /// still counts against the other spenders.
    pub(crate) abandoned: HashMap<TxId, Vec<OutPoint>>,
    /// Orphans by the parent they wait for.
    pub(crate) orphans_by_parent: HashMap<TxId, BTreeSet<TxId>>,
    /// Settled outcomes kept for queries after the entry is gone (bounded).
    pub(crate) settled: HashMap<TxId, (TxState, Option<TxRejection>)>,
    pub(crate) settled_order: VecDeque<TxId>,
    /// Admission accounting: pending (not final) transactions and orphans.
    pub(crate) pending_count: usize,
    pub(crate) pending_bytes: usize,
    pub(crate) orphan_count: usize,
    pub(crate) orphan_bytes: usize,
}

const SETTLED_CAPACITY: usize = 1 << 18;

impl Pool {
    /// Remembers a settled outcome for queries.
    pub(crate) fn settle(&mut self, txid: TxId, state: TxState, rejection: Option<TxRejection>) {
        if self.settled.insert(txid, (state, rejection)).is_none() {
            self.settled_order.push_back(txid);
            if self.settled_order.len() > SETTLED_CAPACITY
                && let Some(old) = self.settled_order.pop_front()
            {
                self.settled.remove(&old);
            }
        }
    }

    /// Adds a valid, pending transaction: indexed as a spender, counted
    /// against the limits; `locked` when this node's locks are on it.
    pub(crate) fn insert_pending(
        &mut self,
        txid: TxId,
        tx: Transaction,
        size: usize,
        seen_at: Millis,
        locked: bool,
    ) {
        self.index_spender(txid, &tx);
        self.pending_count += 1;
        self.pending_bytes += size;
        self.entries
            .insert(txid, TxEntry { locked, ..TxEntry::new(tx, TxState::Pending, size, seen_at) });
    }

    /// The tally of `txid`, started at `now` if it has none yet.
    pub(crate) fn tally(&mut self, txid: TxId, now: Millis) -> &mut Tally {
        self.tallies.entry(txid).or_insert_with(|| Tally { first_vote_at: now, ..Tally::default() })
    }

    /// Adds `txid` as a spender of each input.
    pub(crate) fn index_spender(&mut self, txid: TxId, tx: &Transaction) {
        for input in &tx.inputs {
            let list = self.spenders.entry(input.prev).or_default();
            if !list.contains(&txid) {
                list.push(txid);
            }
        }
    }

    /// Removes `txid` from the spender index.
    pub(crate) fn unindex_spender(&mut self, txid: &TxId, tx: &Transaction) {
        for input in &tx.inputs {
            if let Some(list) = self.spenders.get_mut(&input.prev) {
                list.retain(|t| t != txid);
                if list.is_empty() {
                    self.spenders.remove(&input.prev);
                }
            }
        }
    }

    /// Other known spenders of `txid`'s inputs.
    pub(crate) fn conflicts_of(&self, txid: &TxId, tx: &Transaction) -> Vec<TxId> {
        let mut out = Vec::new();
        for input in &tx.inputs {
            if let Some(list) = self.spenders.get(&input.prev) {
                for other in list {
                    if other != txid && !out.contains(other) {
                        out.push(*other);
                    }
                }
            }
        }
        out
    }

    /// Releases every lock held for `txid`.
    pub(crate) fn release_locks(&mut self, txid: &TxId, tx: &Transaction) {
        for input in &tx.inputs {
            if self.locks.get(&input.prev) == Some(txid) {
                self.locks.remove(&input.prev);
            }
        }
    }

    /// Total fee of a transaction whose inputs are available in `ledger` or
    /// in this pool's final overlay (or created by `extra`).
    pub(crate) fn fee_of(
        &self,
        ledger: &Ledger,
        tx: &Transaction,
        extra: &HashMap<OutPoint, TxOut>,
    ) -> Option<Amount> {
        let mut total_in = Amount::ZERO;
        for input in &tx.inputs {
            let output = extra
                .get(&input.prev)
                .or_else(|| ledger.utxo(&input.prev))
                .or_else(|| self.final_outputs.get(&input.prev))?;
            total_in = total_in.checked_add(output.value)?;
        }
        let total_out = Amount::checked_sum(tx.outputs.iter().map(|o| o.value))?;
        total_in.checked_sub(total_out)
    }
}

/// What validation sees as available: the committed set, plus outputs of
/// final transactions, minus what final transactions spent; outputs of
/// transactions still pending are "wait for the parent".
pub(crate) struct AvailableView<'a> {
    pub(crate) ledger: &'a Ledger,
    pub(crate) pool: &'a Pool,
}

impl UtxoView for AvailableView<'_> {
    fn coin(&self, outpoint: &OutPoint) -> Coin {
        if self.pool.final_spent.contains_key(outpoint) {
            return Coin::Spent;
        }
        if let Some(output) = self.pool.final_outputs.get(outpoint) {
            return Coin::Unspent(*output);
        }
        if let Some(output) = self.ledger.utxo(outpoint) {
            return Coin::Unspent(*output);
        }
        // Spent on chain, from durable state; a failed read refuses the
        // coin rather than let it be spent twice.
        if self.ledger.spent_on_chain(outpoint).unwrap_or(true) {
            return Coin::Spent;
        }
        match self.pool.entries.get(&outpoint.txid) {
            Some(entry)
                if (outpoint.vout as usize) < entry.tx.outputs.len()
                    && matches!(
                        entry.state,
                        TxState::Pending
                            | TxState::Contested
                            | TxState::WaitingForParent
                            | TxState::Conflicted
                    ) =>
            {
                Coin::Pending
            }
            _ => Coin::Unknown,
        }
    }
}
