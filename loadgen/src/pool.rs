//! loadgen's coins: the pool rebuilt at start from `listunspent` of its
//! keys, handed out K at a time from K different keys, refilled with the
//! outputs of transactions once they are final, and the plan check that
//! says before anything is sent whether the pool can carry the run.
//!
//! Coins in flight live in the tracker's records, not here: the inputs of a
//! timed-out transaction stay there (quarantined) until its fate is known,
//! and come back only if it turns out not to have spent them.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use protocol::rpc::Unspent;
use protocol::{Address, AddressPayload, ConsensusParams, OutPoint};

/// One spendable output of a loadgen key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Coin {
    /// The output.
    pub outpoint: OutPoint,
    /// Its value, sat.
    pub value: u64,
    /// Index of the owning key in loadgen's key list.
    pub key: u16,
}

/// The smallest coin worth keeping: one that alone pays `outputs` outputs
/// above dust and the fee of a transaction with `inputs` inputs.
pub fn min_coin_value(params: &ConsensusParams, inputs: usize, outputs: usize) -> u64 {
    let fee_floor = params.min_fee_sat + inputs as u64 * params.fee_per_input_sat;
    (outputs as u64 * params.dust_limit_sat + fee_floor) * 2
}

/// Available coins, one FIFO queue per key.
#[derive(Debug)]
pub struct CoinPool {
    per_key: Vec<VecDeque<Coin>>,
    available: usize,
    input_cursor: usize,
    output_cursor: usize,
    min_value: u64,
    dropped_small: u64,
}

impl CoinPool {
    /// An empty pool of `keys` keys; coins below `min_value` are not kept.
    pub fn new(keys: usize, min_value: u64) -> CoinPool {
        CoinPool {
            per_key: (0..keys).map(|_| VecDeque::new()).collect(),
            available: 0,
            input_cursor: 0,
            output_cursor: 0,
            min_value,
            dropped_small: 0,
        }
    }

    /// The pool of `listunspent`'s answer for `addresses` (loadgen's keys,
    /// in key order); coins of other addresses and repeats are ignored.
    pub fn from_unspent(addresses: &[Address], coins: &[Unspent], min_value: u64) -> CoinPool {
        let mut pool = CoinPool::new(addresses.len(), min_value);
        let mut seen = HashSet::with_capacity(coins.len());
        let index_of =
            |payload: &AddressPayload| addresses.iter().position(|a| a.payload == *payload);
        for c in coins {
            let outpoint = OutPoint { txid: c.txid, vout: c.vout };
            if !seen.insert(outpoint) {
                continue;
            }
            if let Some(key) = index_of(&c.address.payload) {
                pool.add(Coin { outpoint, value: c.value_sat, key: key as u16 });
            }
        }
        pool
    }

    /// Adds a coin (dropped when below the minimum value).
    pub fn add(&mut self, coin: Coin) {
        if coin.value < self.min_value {
            self.dropped_small += 1;
            return;
        }
        if let Some(queue) = self.per_key.get_mut(usize::from(coin.key)) {
            queue.push_back(coin);
            self.available += 1;
        }
    }

    /// Coins available now.
    pub fn available(&self) -> usize {
        self.available
    }

    /// Keys.
    pub fn keys(&self) -> usize {
        self.per_key.len()
    }

    /// Keys that hold at least one coin.
    pub fn keys_with_coins(&self) -> usize {
        self.per_key.iter().filter(|q| !q.is_empty()).count()
    }

    /// Coins dropped for being too small to pay a transaction.
    pub fn dropped_small(&self) -> u64 {
        self.dropped_small
    }

    /// Total value available, sat.
    pub fn value(&self) -> u64 {
        self.per_key.iter().flatten().map(|c| c.value).sum()
    }

    /// Takes `k` coins of `k` different keys (round robin over the keys)
    /// into `out`. With fewer than `k` keys in the pool, coins of one key
    /// repeat. Returns false, taking nothing, when the pool cannot serve
    /// now.
    pub fn take(&mut self, k: usize, out: &mut Vec<Coin>) -> bool {
        let keys = self.per_key.len();
        if keys == 0 || self.available < k {
            return false;
        }
        let start = out.len();
        if keys >= k {
            let mut scanned = 0;
            while out.len() - start < k && scanned < keys {
                let key = self.input_cursor;
                self.input_cursor = (self.input_cursor + 1) % keys;
                scanned += 1;
                if let Some(coin) = self.per_key[key].pop_front() {
                    out.push(coin);
                }
            }
            if out.len() - start < k {
                // Not enough keys hold coins right now: put them back.
                for coin in out.drain(start..).rev() {
                    self.per_key[usize::from(coin.key)].push_front(coin);
                }
                return false;
            }
        } else {
            while out.len() - start < k {
                let key = self.input_cursor;
                self.input_cursor = (self.input_cursor + 1) % keys;
                if let Some(coin) = self.per_key[key].pop_front() {
                    out.push(coin);
                }
            }
        }
        self.available -= k;
        true
    }

    /// The keys the next `m` outputs go to (round robin, so the pool stays
    /// spread over every key).
    pub fn output_keys(&mut self, m: usize, out: &mut Vec<u16>) {
        let keys = self.per_key.len().max(1);
        for _ in 0..m {
            out.push(self.output_cursor as u16);
            self.output_cursor = (self.output_cursor + 1) % keys;
        }
    }
}

/// Counters of the pool's use, for the self-diagnosis.
#[derive(Debug, Default)]
pub struct PoolStats {
    /// Microseconds signing workers waited for coins.
    pub starved_us: AtomicU64,
    /// Coins whose fate is unknown (inputs of timed-out transactions).
    pub quarantined: AtomicU64,
    /// Coins given back to the pool (outputs of final transactions,
    /// inputs of rejected ones).
    pub returned: AtomicU64,
}

/// The pool shared by the signing workers (who take) and the tracker (who
/// gives back).
#[derive(Debug)]
pub struct SharedPool {
    pool: Mutex<CoinPool>,
    refilled: Condvar,
    /// Counters.
    pub stats: PoolStats,
}

impl SharedPool {
    /// Shares `pool`.
    pub fn new(pool: CoinPool) -> SharedPool {
        SharedPool { pool: Mutex::new(pool), refilled: Condvar::new(), stats: PoolStats::default() }
    }

    /// Locks the pool.
    pub fn lock(&self) -> MutexGuard<'_, CoinPool> {
        // The pool is plain data: a panicked holder cannot leave it torn.
        self.pool.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Gives coins back and wakes waiting workers.
    pub fn give_back(&self, coins: impl IntoIterator<Item = Coin>) {
        let mut pool = self.lock();
        let before = pool.available();
        for coin in coins {
            pool.add(coin);
        }
        let added = pool.available() - before;
        drop(pool);
        if added > 0 {
            self.stats.returned.fetch_add(added as u64, Ordering::Relaxed);
            self.refilled.notify_all();
        }
    }

    /// Blocks (a worker thread) until the pool has changed or `wait`
    /// passed; counts the time as starvation.
    pub fn wait_for_coins<'a>(
        &'a self,
        guard: MutexGuard<'a, CoinPool>,
        wait: Duration,
    ) -> MutexGuard<'a, CoinPool> {
        let started = Instant::now();
        let (guard, _) =
            self.refilled.wait_timeout(guard, wait).unwrap_or_else(PoisonError::into_inner);
        self.stats.starved_us.fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        guard
    }

    /// Available coins now.
    pub fn available(&self) -> usize {
        self.lock().available()
    }
}

/// What the plan needs and what the pool has.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct PlanCheck {
    /// Coins available at start.
    pub available: usize,
    /// Keys holding them.
    pub keys_with_coins: usize,
    /// Coins the whole run spends if nothing were reused.
    pub needed_without_reuse: u64,
    /// Coins needed at once when change is reused: rate × inputs × the
    /// assumed time until a coin is back (conservative).
    pub needed_with_reuse: u64,
    /// The assumed time until a spent coin's change is final and back, s.
    pub assumed_recycle_s: f64,
    /// True when the plan relies on reusing change.
    pub relies_on_reuse: bool,
    /// What to tell the user.
    pub note: String,
}

/// Inputs of [`check_plan`].
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Scheduled sends per second.
    pub rate: f64,
    /// Scheduled sends in all (warm-up included).
    pub slots: u64,
    /// Inputs per transaction.
    pub inputs: usize,
    /// Outputs per transaction.
    pub outputs: usize,
    /// The chain's block interval, ms.
    pub block_interval_ms: u64,
}

/// Checks the pool against the plan. Without reuse, the run needs
/// `slots × inputs` coins. With reuse (outputs ≥ inputs, so every final
/// transaction gives back at least as many coins as it spends), it needs
/// the coins in flight at once: `rate × inputs × T`, with T a conservative
/// guess of how long a coin is away (queued, sent, final, back): the larger
/// of 2 s and two block intervals, although finality takes milliseconds.
pub fn check_plan(pool: &CoinPool, plan: &Plan) -> Result<PlanCheck, String> {
    let available = pool.available();
    let keys_with_coins = pool.keys_with_coins();
    let needed_without_reuse = plan.slots.saturating_mul(plan.inputs as u64);
    let recycle_s = (2.0f64).max(2.0 * plan.block_interval_ms as f64 / 1_000.0);
    let in_flight = (plan.rate * plan.inputs as f64 * recycle_s).ceil() as u64;
    // With fewer outputs than inputs every final transaction shrinks the pool.
    let shrink = plan.slots.saturating_mul(plan.inputs.saturating_sub(plan.outputs) as u64);
    let needed_with_reuse = in_flight.saturating_add(shrink).max(plan.inputs as u64);
    let mut check = PlanCheck {
        available,
        keys_with_coins,
        needed_without_reuse,
        needed_with_reuse,
        assumed_recycle_s: recycle_s,
        relies_on_reuse: false,
        note: String::new(),
    };
    if available < plan.inputs {
        return Err(format!(
            "the pool has {available} usable coins, one transaction needs {} (is this the right cluster and --keys range? a previous run may still hold them in unsettled transactions)",
            plan.inputs
        ));
    }
    if (available as u64) >= needed_without_reuse {
        check.note = format!(
            "the pool's {available} coins cover all {needed_without_reuse} inputs without reusing change"
        );
        return Ok(check);
    }
    if (available as u64) >= needed_with_reuse {
        check.relies_on_reuse = true;
        check.note = format!(
            "the run spends {needed_without_reuse} inputs from {available} coins: it reuses change once final; \
             estimated conservatively, assuming a coin is back within {recycle_s:.1} s, {needed_with_reuse} coins are needed at once"
        );
        return Ok(check);
    }
    Err(format!(
        "{:.0} tx/s × {} inputs needs about {needed_with_reuse} coins at once (a conservative estimate: change is reused once final, assumed back within {recycle_s:.1} s{}), but the pool has {available} usable coins on {keys_with_coins} keys; lower --tps or --inputs, use --count, or create a cluster with a larger pool",
        plan.rate,
        plan.inputs,
        if shrink > 0 {
            format!(", plus {shrink} coins consumed since --outputs < --inputs")
        } else {
            String::new()
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::TxId;

    fn coin(n: u32, key: u16) -> Coin {
        Coin { outpoint: OutPoint { txid: TxId([n as u8; 32]), vout: n }, value: 1_000_000, key }
    }

    #[test]
    fn inputs_come_from_different_keys() {
        let mut pool = CoinPool::new(3, 10);
        for n in 0..6 {
            pool.add(coin(n, (n % 3) as u16));
        }
        let mut out = Vec::new();
        assert!(pool.take(2, &mut out));
        assert_ne!(out[0].key, out[1].key);
        out.clear();
        assert!(pool.take(3, &mut out));
        let keys: HashSet<u16> = out.iter().map(|c| c.key).collect();
        assert_eq!(keys.len(), 3);
        assert_eq!(pool.available(), 1);
        out.clear();
        assert!(!pool.take(2, &mut out), "one coin left");
        assert!(out.is_empty());
    }

    #[test]
    fn a_pool_waits_rather_than_reuse_a_key_when_enough_keys_exist() {
        let mut pool = CoinPool::new(2, 10);
        pool.add(coin(1, 0));
        pool.add(coin(2, 0));
        let mut out = Vec::new();
        assert!(!pool.take(2, &mut out), "both coins are of key 0");
        assert_eq!(pool.available(), 2, "nothing taken");
        // With a single key (a dev wallet), coins of one key repeat.
        let mut single = CoinPool::new(1, 10);
        single.add(coin(1, 0));
        single.add(coin(2, 0));
        assert!(single.take(2, &mut out));
    }

    #[test]
    fn small_coins_are_dropped() {
        let mut pool = CoinPool::new(1, 2_000);
        pool.add(Coin { value: 1_999, ..coin(1, 0) });
        assert_eq!((pool.available(), pool.dropped_small()), (0, 1));
    }

    #[test]
    fn the_plan_check_accounts_for_reuse_and_refuses_too_little() {
        let mut pool = CoinPool::new(4, 10);
        for n in 0..400 {
            pool.add(coin(n, (n % 4) as u16));
        }
        let plan =
            Plan { rate: 100.0, slots: 100, inputs: 2, outputs: 2, block_interval_ms: 1_000 };
        let ok = check_plan(&pool, &plan).unwrap();
        assert!(!ok.relies_on_reuse);
        let plan = Plan { slots: 3_000, ..plan };
        let ok = check_plan(&pool, &plan).unwrap();
        assert!(ok.relies_on_reuse && ok.note.contains("conservatively"), "{}", ok.note);
        let plan = Plan { rate: 1_000.0, ..plan };
        let err = check_plan(&pool, &plan).unwrap_err();
        assert!(err.contains("4000 coins at once") && err.contains("400 usable"), "{err}");
        let plan = Plan { rate: 10.0, outputs: 1, ..plan };
        assert!(check_plan(&pool, &plan).is_err(), "one output per two inputs drains the pool");
    }
}
