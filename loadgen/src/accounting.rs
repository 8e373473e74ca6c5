//! The closing accounting: every measured transaction sent has exactly one
//! fate, so sent = final + rejected + conflicted + lost + timed out, with
//! rejections broken down by reason. Conflicting pairs are counted apart
//! (at most one side of each may be final), and the warm-up is shown as
//! excluded.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::tracker::{Fate, Role, TxRecord};

/// Fates of a set of transactions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Fates {
    /// Sent.
    pub sent: u64,
    /// Final on at least one node.
    pub r#final: u64,
    /// Rejected (any reason).
    pub rejected: u64,
    /// Conflicted.
    pub conflicted: u64,
    /// Lost.
    pub lost: u64,
    /// Timed out.
    pub timed_out: u64,
}

impl Fates {
    fn add(&mut self, fate: Fate) {
        self.sent += 1;
        match fate {
            Fate::Final => self.r#final += 1,
            Fate::Rejected => self.rejected += 1,
            Fate::Conflicted => self.conflicted += 1,
            Fate::Lost => self.lost += 1,
            // A run always ends with a fate for everything (see the
            // tracker's finish); anything else counts as timed out.
            Fate::TimedOut | Fate::Pending => self.timed_out += 1,
        }
    }

    /// True when sent = final + rejected + conflicted + lost + timed out.
    pub fn closes(&self) -> bool {
        self.sent == self.r#final + self.rejected + self.conflicted + self.lost + self.timed_out
    }

    /// The accounting line, as printed.
    pub fn line(&self) -> String {
        format!(
            "sent {} = final {} + rejected {} + conflicted {} + lost {} + timed out {}{}",
            self.sent,
            self.r#final,
            self.rejected,
            self.conflicted,
            self.lost,
            self.timed_out,
            if self.closes() { "" } else { "  (DOES NOT CLOSE)" }
        )
    }
}

/// Conflicting pairs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Pairs {
    /// Pairs sent (measured).
    pub pairs: u64,
    /// Fates of their transactions.
    pub fates: Fates,
    /// Pairs with exactly one side final.
    pub one_final: u64,
    /// Pairs with no side final.
    pub none_final: u64,
    /// Pairs with both sides final: a safety violation.
    pub both_final: u64,
}

/// The whole accounting.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Accounting {
    /// Measured ordinary transactions.
    pub regular: Fates,
    /// Rejections of those by reason (`busy` for -29).
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// Measured conflicting pairs.
    pub pairs: Pairs,
    /// Transactions of the warm-up (not in the statistics).
    pub warmup_excluded: u64,
    /// Transactions that timed out and whose fate became known later.
    pub late_fates: BTreeMap<String, u64>,
}

impl Accounting {
    /// Counts `records`.
    pub fn of(records: &[TxRecord]) -> Accounting {
        let mut a = Accounting::default();
        for (i, r) in records.iter().enumerate() {
            if !r.measured {
                a.warmup_excluded += 1;
                continue;
            }
            if let Some(late) = r.late_fate {
                *a.late_fates.entry(late.as_str().to_string()).or_default() += 1;
            }
            match r.role {
                Role::Regular => {
                    a.regular.add(r.fate);
                    if r.fate == Fate::Rejected {
                        let reason = r.reason.as_deref().unwrap_or("unknown").to_string();
                        *a.rejected_by_reason.entry(reason).or_default() += 1;
                    }
                }
                Role::PairFirst => {
                    a.pairs.pairs += 1;
                    a.pairs.fates.add(r.fate);
                    let first = r.final_mask != 0;
                    let second = records.get(i + 1).is_some_and(|o| o.final_mask != 0);
                    match (first, second) {
                        (true, true) => a.pairs.both_final += 1,
                        (false, false) => a.pairs.none_final += 1,
                        _ => a.pairs.one_final += 1,
                    }
                }
                Role::PairSecond => a.pairs.fates.add(r.fate),
            }
        }
        a
    }

    /// True when both the ordinary and the pairs' accounting close.
    pub fn closes(&self) -> bool {
        self.regular.closes() && self.pairs.fates.closes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounting_closes_and_counts_pairs_and_warmup_apart() {
        let records = vec![
            TxRecord::settled(Fate::Final, Role::Regular, false, 1, None),
            TxRecord::settled(Fate::Final, Role::Regular, true, 3, None),
            TxRecord::settled(Fate::Rejected, Role::Regular, true, 0, Some("busy")),
            TxRecord::settled(Fate::Rejected, Role::Regular, true, 0, Some("fee_too_low")),
            TxRecord::settled(Fate::TimedOut, Role::Regular, true, 0, None),
            TxRecord::settled(Fate::Lost, Role::Regular, true, 0, None),
            TxRecord::settled(Fate::Final, Role::PairFirst, true, 1, None),
            TxRecord::settled(Fate::Lost, Role::PairSecond, true, 0, None),
            TxRecord::settled(Fate::Conflicted, Role::PairFirst, true, 0, None),
            TxRecord::settled(Fate::Conflicted, Role::PairSecond, true, 0, None),
        ];
        let a = Accounting::of(&records);
        assert!(a.closes());
        assert_eq!(a.warmup_excluded, 1);
        assert_eq!(
            a.regular,
            Fates { sent: 5, r#final: 1, rejected: 2, conflicted: 0, lost: 1, timed_out: 1 }
        );
        assert_eq!(a.rejected_by_reason.get("busy"), Some(&1));
        assert_eq!(
            (a.pairs.pairs, a.pairs.one_final, a.pairs.none_final, a.pairs.both_final),
            (2, 1, 1, 0)
        );
        assert_eq!(a.pairs.fates.sent, 4);
        assert!(a.regular.line().starts_with("sent 5 = final 1 + rejected 2"));
    }
}
