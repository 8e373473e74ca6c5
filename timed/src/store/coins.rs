//! The coin cache: committed UTXO changes not yet written to the UTXO
//! keyspace (Bitcoin Core's dbcache, in miniature). A change is written
//! behind, [`WRITE_BEHIND_COMMITS`] commits after the commit that made it,
//! unless a later commit changed the outpoint again; a coin created and
//! spent within that window never reaches the keyspace. The write-ahead
//! records carry every commit's changes and a checkpoint carries the cache
//! itself, so nothing is lost in a crash and no write comes in a burst.

use std::collections::{HashMap, VecDeque};

use protocol::{OutPoint, TxOut};

/// How many commits a change waits in the cache before it is written.
pub(super) const WRITE_BEHIND_COMMITS: u64 = 4;

/// One outpoint's change over the keyspace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Change {
    /// `Some`: in the set with this output; `None`: not in the set.
    output: Option<TxOut>,
    /// The keyspace does not hold the outpoint (so spending it again
    /// needs no write at all).
    fresh: bool,
    /// The commit (numbered from open) that made this change.
    commit: u64,
}

/// Changes over the UTXO keyspace not yet written.
#[derive(Debug, Default)]
pub(super) struct Coins {
    changes: HashMap<OutPoint, Change>,
    /// The outpoints each commit changed, oldest first.
    touched: VecDeque<(u64, Vec<OutPoint>)>,
    /// The number of the commit being applied.
    commit: u64,
}

impl Coins {
    /// The cache as a checkpoint left it: every change kept, written behind
    /// like the oldest commit's.
    pub(super) fn from_checkpoint(changes: Vec<(OutPoint, Option<TxOut>)>) -> Coins {
        let mut coins = Coins::default();
        coins.start_commit();
        for (outpoint, output) in changes {
            match output {
                Some(output) => coins.insert(outpoint, output, false),
                None => coins.remove(outpoint),
            }
        }
        coins
    }

    /// The changes that follow belong to the next commit.
    pub(super) fn start_commit(&mut self) {
        self.commit += 1;
        self.touched.push_back((self.commit, Vec::new()));
    }

    /// What the cache says of `outpoint`: `None` when it has no change for
    /// it (the keyspace answers), else whether it is in the set.
    pub(super) fn get(&self, outpoint: &OutPoint) -> Option<Option<TxOut>> {
        self.changes.get(outpoint).map(|c| c.output)
    }

    /// `outpoint` is in the set with `output`; `absent_on_disk` when the
    /// keyspace is known not to hold it.
    pub(super) fn insert(&mut self, outpoint: OutPoint, output: TxOut, absent_on_disk: bool) {
        let fresh = match self.changes.get(&outpoint) {
            Some(change) => change.fresh,
            None => absent_on_disk,
        };
        self.set(outpoint, Change { output: Some(output), fresh, commit: self.commit });
    }

    /// `outpoint` is no longer in the set.
    pub(super) fn remove(&mut self, outpoint: OutPoint) {
        match self.changes.get(&outpoint) {
            // Never written: forgetting it is the whole change.
            Some(change) if change.fresh => {
                self.changes.remove(&outpoint);
            }
            _ => self.set(outpoint, Change { output: None, fresh: false, commit: self.commit }),
        }
    }

    fn set(&mut self, outpoint: OutPoint, change: Change) {
        self.changes.insert(outpoint, change);
        if let Some((_, touched)) = self.touched.back_mut() {
            touched.push(outpoint);
        }
    }

    /// The changes old enough to be written (made [`WRITE_BEHIND_COMMITS`]
    /// commits ago and not changed since), taken out of the cache: from
    /// now on the keyspace answers for them.
    pub(super) fn due(&mut self) -> Vec<(OutPoint, Option<TxOut>)> {
        let mut due = Vec::new();
        while let Some((commit, _)) = self.touched.front() {
            if commit + WRITE_BEHIND_COMMITS > self.commit {
                break;
            }
            let Some((commit, outpoints)) = self.touched.pop_front() else { break };
            for outpoint in outpoints {
                if let Some(change) = self.changes.get(&outpoint)
                    && change.commit == commit
                {
                    due.push((outpoint, change.output));
                    self.changes.remove(&outpoint);
                }
            }
        }
        due
    }

    /// Changes held.
    pub(super) fn len(&self) -> usize {
        self.changes.len()
    }

    /// Every change, to lay over the keyspace (or keep in a checkpoint).
    pub(super) fn changes(&self) -> impl Iterator<Item = (&OutPoint, Option<TxOut>)> {
        self.changes.iter().map(|(op, c)| (op, c.output))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{AddressPayload, Amount, TxId};

    fn coin(n: u8) -> (OutPoint, TxOut) {
        let outpoint = OutPoint { txid: TxId([n; 32]), vout: 0 };
        let output = TxOut { value: Amount::from_sat(1_000), address: AddressPayload([n; 20]) };
        (outpoint, output)
    }

    #[test]
    fn a_coin_created_and_spent_within_the_window_is_never_written() {
        let mut coins = Coins::default();
        let (a, out) = coin(1);
        coins.start_commit();
        coins.insert(a, out, true);
        coins.start_commit();
        coins.remove(a);
        assert_eq!(coins.get(&a), None, "the keyspace answers (it never held it)");
        for _ in 0..2 * WRITE_BEHIND_COMMITS {
            coins.start_commit();
            assert_eq!(coins.due(), vec![]);
        }
    }

    #[test]
    fn a_change_is_written_behind_once_and_only_its_last_state() {
        let mut coins = Coins::default();
        let (a, out) = coin(1);
        let (b, other) = coin(2);
        coins.start_commit();
        coins.insert(a, out, false);
        coins.insert(b, other, true);
        coins.start_commit();
        coins.remove(a);
        for _ in 2..WRITE_BEHIND_COMMITS {
            coins.start_commit();
            assert_eq!(coins.due(), vec![], "too young");
        }
        coins.start_commit();
        assert_eq!(coins.due(), vec![(b, Some(other))], "a changed again later: not yet");
        assert_eq!(coins.get(&b), None, "written: the keyspace answers");
        coins.start_commit();
        assert_eq!(coins.due(), vec![(a, None)]);
        assert_eq!(coins.len(), 0);
    }

    #[test]
    fn a_checkpoints_cache_is_written_behind_like_the_oldest_commit() {
        let (a, out) = coin(1);
        let (b, _) = coin(2);
        let mut coins = Coins::from_checkpoint(vec![(a, Some(out)), (b, None)]);
        assert_eq!(coins.get(&a), Some(Some(out)));
        assert_eq!(coins.get(&b), Some(None));
        coins.remove(a);
        assert_eq!(coins.get(&a), Some(None), "the keyspace may hold it: a delete is due");
        for _ in 0..WRITE_BEHIND_COMMITS {
            coins.start_commit();
        }
        let mut due = coins.due();
        due.sort_by_key(|(op, _)| *op);
        assert_eq!(due, vec![(a, None), (b, None)]);
    }
}
