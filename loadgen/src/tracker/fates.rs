//! The fate table: each transaction's record from its send to its fate.
//! A fate is set once (a later word refines "conflicted" into "lost", and
//! a fate learned after the timeout is kept apart as the late fate); the
//! first "final" of any node makes it final; a fate frees its in-flight
//! slot and gives back the coins it leaves unspent; both sides of a
//! conflicting pair final is a safety violation.

use std::sync::atomic::Ordering;

use protocol::TxId;
use protocol::rpc::TxState;
use protocol::validate::TxRejection;

use super::Tracker;
use super::inbox::{SendOutcome, SentTx};
use super::record::{Fate, Role, TxRecord};
use crate::recorder::NONE;

/// Rejection reasons after which a transaction's inputs are known unspent
/// and can be used again.
fn inputs_unspent_after(reason: &str) -> bool {
    matches!(
        reason,
        "busy"
            | "unreachable"
            | "node_unavailable"
            | "fee_too_low"
            | "too_large"
            | "dust"
            | "expired"
            | "too_many_inputs"
    )
}

/// The kind of a rejection, for the breakdown (`expired` when the node gave
/// none: it waited too long for a parent).
pub fn rejection_kind(rejection: Option<&TxRejection>) -> &'static str {
    rejection.map_or("expired", TxRejection::kind)
}

impl Tracker {
    /// Opens the record of a transaction being sent (before its RPC) and
    /// starts its timeout.
    pub(super) fn on_sent(&mut self, sent: SentTx) {
        tracing::trace!(seq = sent.seq, txid = %sent.txid, "sent");
        let seq = self.records.len() as u32;
        debug_assert_eq!(seq, sent.seq, "the sender registers in order");
        self.by_txid.insert(sent.txid, seq);
        self.note_sent(&sent);
        self.live.sent.fetch_add(1, Ordering::Relaxed);
        self.live.pending.fetch_add(1, Ordering::Relaxed);
        self.records.push(TxRecord {
            txid: sent.txid,
            intended_us: sent.intended_us,
            sent_us: sent.sent_us,
            accepted_us: NONE,
            final_first_us: NONE,
            final_all_us: NONE,
            node: sent.node,
            final_mask: 0,
            negative_mask: 0,
            fate: Fate::Pending,
            late_fate: None,
            reason: None,
            measured: sent.measured,
            role: sent.role,
            coins: Some(Box::new((sent.inputs, sent.outputs))),
            permit: sent.permit,
        });
        self.outstanding.push_back(seq);
    }

    /// What the RPC answered: accepted, a rejection (its fate) or no
    /// answer (the fate comes from the streams).
    pub(super) fn on_answer(&mut self, seq: u32, at_us: u64, outcome: SendOutcome) {
        tracing::trace!(seq, ?outcome, "answer");
        let Some(record) = self.records.get_mut(seq as usize) else { return };
        match outcome {
            SendOutcome::Accepted => {
                if record.accepted_us == NONE {
                    record.accepted_us = at_us;
                    self.recorder.record_stage_accepted(record.intended_us, at_us, record.measured);
                    self.live.accepted.fetch_add(1, Ordering::Relaxed);
                }
            }
            SendOutcome::Rejected(reason) => self.settle(seq, Fate::Rejected, Some(reason), at_us),
            SendOutcome::Failed(reason) => {
                if record.reason.is_none() {
                    record.reason = Some(reason);
                }
            }
        }
    }

    /// A node's word on a transaction, from its events or a resolution.
    pub(super) fn on_state(
        &mut self,
        node: u8,
        at_us: u64,
        txid: &TxId,
        state: TxState,
        rejection: Option<&TxRejection>,
    ) {
        let Some(&seq) = self.by_txid.get(txid) else {
            tracing::debug!(%txid, %state, node, "event for a transaction this run did not send");
            return;
        };
        tracing::trace!(%txid, %state, node, seq, "state");
        let bit = 1u64 << node;
        match state {
            TxState::Final | TxState::Committed => self.on_final(seq, bit, at_us),
            TxState::Rejected => {
                self.records[seq as usize].negative_mask |= bit;
                let kind = rejection_kind(rejection);
                self.settle(seq, Fate::Rejected, Some(kind.into()), at_us);
            }
            TxState::Lost => {
                self.records[seq as usize].negative_mask |= bit;
                self.settle(seq, Fate::Lost, None, at_us);
            }
            TxState::Conflicted => self.settle(seq, Fate::Conflicted, None, at_us),
            TxState::Pending | TxState::WaitingForParent | TxState::Contested => {}
        }
    }

    fn on_final(&mut self, seq: u32, bit: u64, at_us: u64) {
        let index = seq as usize;
        let record = &mut self.records[index];
        let first = record.final_mask == 0;
        record.final_mask |= bit;
        if first {
            match record.fate {
                Fate::Pending | Fate::Conflicted | Fate::Rejected => {
                    let was = record.fate;
                    record.fate = Fate::Final;
                    record.final_first_us = at_us;
                    record.permit = None;
                    let (intended, measured) = (record.intended_us, record.measured);
                    match was {
                        Fate::Pending => {
                            self.live.pending.fetch_sub(1, Ordering::Relaxed);
                        }
                        _ => {
                            self.live.failed.fetch_sub(1, Ordering::Relaxed);
                        }
                    }
                    self.live.finals.fetch_add(1, Ordering::Relaxed);
                    self.live.awaiting_all.fetch_add(1, Ordering::Relaxed);
                    self.note_final_first(intended, at_us, measured);
                    self.release_coins(index, Fate::Final);
                    self.check_pair(index);
                }
                Fate::TimedOut => {
                    let record = &mut self.records[index];
                    record.late_fate = Some(Fate::Final);
                    self.release_coins(index, Fate::Final);
                    self.check_pair(index);
                }
                Fate::Lost => {
                    let txid = record.txid;
                    self.violation(format!(
                        "{txid} was reported lost by a node and final by another"
                    ));
                    self.check_pair(index);
                }
                Fate::Final => {}
            }
        }
        let record = &mut self.records[index];
        if record.final_mask & self.all_mask == self.all_mask && record.final_all_us == NONE {
            record.final_all_us = at_us;
            if record.fate == Fate::Final {
                self.live.awaiting_all.fetch_sub(1, Ordering::Relaxed);
                let (intended, measured) = (record.intended_us, record.measured);
                self.recorder.record_final_all(intended, at_us, measured);
            }
        }
    }

    fn check_pair(&mut self, index: usize) {
        let partner = match self.records[index].role {
            Role::Regular => return,
            Role::PairFirst => index + 1,
            Role::PairSecond => index.wrapping_sub(1),
        };
        let Some(other) = self.records.get(partner) else { return };
        if other.final_mask != 0 {
            let (a, b) = (self.records[index].txid, other.txid);
            self.violation(format!("conflicting pair both final: {a} and {b}"));
        }
    }

    fn violation(&mut self, what: String) {
        self.live.violations.fetch_add(1, Ordering::Relaxed);
        if let Some(hook) = &self.on_violation {
            (hook.0)(&what);
        }
        tracing::error!(%what, "safety violation");
        self.violations.push(what);
    }

    /// Sets a fate (if the transaction has none) and frees what it held.
    pub(super) fn settle(&mut self, seq: u32, fate: Fate, reason: Option<Box<str>>, at_us: u64) {
        let index = seq as usize;
        let record = &mut self.records[index];
        match (record.fate, fate) {
            (Fate::Pending, _) => {}
            // A node's later word refines "conflicted" into "lost".
            (Fate::Conflicted, Fate::Lost) => {
                record.fate = Fate::Lost;
                return;
            }
            (Fate::TimedOut, late) if record.late_fate.is_none() && late != Fate::TimedOut => {
                record.late_fate = Some(late);
                if let Some(reason) = reason {
                    record.reason.get_or_insert(reason);
                }
                self.release_coins(index, late);
                return;
            }
            _ => return,
        }
        record.fate = fate;
        if let Some(reason) = reason {
            record.reason = Some(reason);
        }
        record.permit = None;
        self.live.pending.fetch_sub(1, Ordering::Relaxed);
        if fate == Fate::TimedOut {
            self.live.timed_out.fetch_add(1, Ordering::Relaxed);
        } else {
            self.live.failed.fetch_add(1, Ordering::Relaxed);
            if fate == Fate::Rejected {
                self.recorder.record_rejected(at_us);
            }
        }
        self.release_coins(index, fate);
    }

    /// Gives back what a fate frees: outputs of a final transaction, inputs
    /// of one rejected for a reason that leaves them unspent; a timed-out
    /// one's coins stay quarantined in its record until its fate is known.
    fn release_coins(&mut self, index: usize, fate: Fate) {
        let record = &mut self.records[index];
        if fate == Fate::TimedOut {
            if let Some(coins) = &record.coins {
                self.pool.stats.quarantined.fetch_add(coins.0.len() as u64, Ordering::Relaxed);
            }
            return;
        }
        let Some(coins) = record.coins.take() else { return };
        let (inputs, outputs) = *coins;
        if record.fate == Fate::TimedOut {
            self.pool.stats.quarantined.fetch_sub(inputs.len() as u64, Ordering::Relaxed);
        }
        match fate {
            Fate::Final => self.pool.give_back(outputs),
            Fate::Rejected
                if record.role == Role::Regular
                    && record.reason.as_deref().is_some_and(inputs_unspent_after) =>
            {
                self.pool.give_back(inputs);
            }
            _ => {}
        }
    }
}
