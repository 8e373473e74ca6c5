//! Building and signing transactions ahead of their send time, on blocking
//! threads, into a bounded queue the sender takes from: signing never
//! delays a send, and the queue bounds how many coins are held by
//! transactions not yet sent.
//!
//! Every output goes back to loadgen's own keys (round robin), so a final
//! transaction's outputs refill the pool. Which items are conflicting pairs
//! is decided from the seed and the item's index alone, so a run is
//! reproducible whatever the threads' interleaving.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use client::Wallet;
use protocol::{AddressPayload, Amount, ChainId, ConsensusParams, OutPoint, TxId, TxOut};

use crate::pool::{Coin, SharedPool};

/// A signed transaction ready to send.
#[derive(Debug)]
pub struct SignedTx {
    /// Its id.
    pub txid: TxId,
    /// Hex of its full encoding (what `sendrawtransaction` takes).
    pub hex: String,
    /// The coins it spends.
    pub inputs: Vec<Coin>,
    /// The coins it creates (loadgen's own).
    pub outputs: Vec<Coin>,
}

/// What the sender sends in one slot.
#[derive(Debug)]
pub enum Item {
    /// One transaction.
    Single(SignedTx),
    /// Two transactions spending the same coins, to two different nodes at
    /// the same intended time: at most one may become final.
    Pair(SignedTx, SignedTx),
}

/// What building needs.
#[derive(Debug)]
pub struct BuildSpec {
    /// The keys.
    pub wallet: Arc<Wallet>,
    /// Each key's address payload, in key order.
    pub payloads: Vec<AddressPayload>,
    /// The chain.
    pub chain: ChainId,
    /// Its fee rule and limits.
    pub params: ConsensusParams,
    /// Inputs per transaction.
    pub inputs: usize,
    /// Outputs per transaction.
    pub outputs: usize,
    /// Percent of items that are conflicting pairs.
    pub double_spend_pct: f64,
    /// The run's seed.
    pub seed: u64,
    /// How many items to make in all.
    pub items: u64,
}

/// SplitMix64: a well-mixed 64-bit value of `x`.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// True when item `index` of a run seeded `seed` is a conflicting pair.
pub fn is_pair(seed: u64, index: u64, pct: f64) -> bool {
    if pct <= 0.0 {
        return false;
    }
    let unit = (mix(seed ^ mix(index)) >> 11) as f64 / (1u64 << 53) as f64;
    unit * 100.0 < pct
}

/// Starts `threads` signing workers filling `queue` with `spec.items`
/// items, in batches of up to [`BATCH`] (one wake-up of the sender per
/// batch, not per transaction); they stop when done, when the queue's
/// receiver is gone, or on `shutdown`.
pub fn spawn_workers(
    spec: Arc<BuildSpec>,
    pool: Arc<SharedPool>,
    queue: mpsc::Sender<Vec<Item>>,
    threads: usize,
    shutdown: CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    let next = Arc::new(AtomicU64::new(0));
    (0..threads)
        .map(|_| {
            let (spec, pool, queue, next, shutdown) =
                (spec.clone(), pool.clone(), queue.clone(), next.clone(), shutdown.clone());
            tokio::task::spawn_blocking(move || work(&spec, &pool, &queue, &next, &shutdown))
        })
        .collect()
}

/// Items a worker claims, signs and queues at once (one pool lock and one
/// queue message for all of them).
pub const BATCH: u64 = 16;

struct Claimed {
    index: u64,
    pair: bool,
    inputs: Vec<Coin>,
    output_keys: Vec<u16>,
    pair_keys: Vec<u16>,
}

fn work(
    spec: &BuildSpec,
    pool: &SharedPool,
    queue: &mpsc::Sender<Vec<Item>>,
    next: &AtomicU64,
    shutdown: &CancellationToken,
) {
    let mut claimed: Vec<Claimed> = Vec::with_capacity(BATCH as usize);
    loop {
        let first = next.fetch_add(BATCH, Ordering::Relaxed);
        if first >= spec.items {
            return;
        }
        let last = (first + BATCH).min(spec.items);
        claimed.clear();
        {
            let mut guard = pool.lock();
            for index in first..last {
                let mut inputs = Vec::with_capacity(spec.inputs);
                while !guard.take(spec.inputs, &mut inputs) {
                    if shutdown.is_cancelled() || queue.is_closed() {
                        return;
                    }
                    guard = pool.wait_for_coins(guard, Duration::from_millis(50));
                }
                let pair = is_pair(spec.seed, index, spec.double_spend_pct);
                let mut output_keys = Vec::with_capacity(spec.outputs);
                guard.output_keys(spec.outputs, &mut output_keys);
                let mut pair_keys = Vec::new();
                if pair {
                    guard.output_keys(spec.outputs, &mut pair_keys);
                }
                claimed.push(Claimed { index, pair, inputs, output_keys, pair_keys });
            }
        }
        let mut batch = Vec::with_capacity(claimed.len());
        for c in claimed.drain(..) {
            let timestamp = hostio::now_ms() as i64;
            let Some(first_tx) = build(spec, &c.inputs, &c.output_keys, timestamp) else {
                tracing::warn!(
                    item = c.index,
                    "could not sign a transaction; its coins are dropped"
                );
                continue;
            };
            let item = if c.pair {
                // The same coins, other outputs and a later timestamp: a
                // different txid spending the same outpoints.
                match build(spec, &c.inputs, &c.pair_keys, timestamp + 1) {
                    Some(mut second) => {
                        second.inputs.clear();
                        Item::Pair(first_tx, second)
                    }
                    None => Item::Single(first_tx),
                }
            } else {
                Item::Single(first_tx)
            };
            batch.push(item);
        }
        if queue.blocking_send(batch).is_err() {
            return;
        }
    }
}

/// Builds and signs one transaction spending `inputs` to `output_keys`,
/// minus the smallest fee the rule allows (computed on the inputs' total,
/// an upper bound of the outputs', so it always satisfies the rule).
fn build(
    spec: &BuildSpec,
    inputs: &[Coin],
    output_keys: &[u16],
    timestamp: i64,
) -> Option<SignedTx> {
    let total: u64 = inputs.iter().map(|c| c.value).sum();
    let fee = spec.params.required_fee(inputs.len(), Amount::from_sat(total))?.sat();
    let spendable = total.checked_sub(fee)?;
    let m = output_keys.len() as u64;
    let share = spendable / m;
    if share < spec.params.dust_limit_sat {
        return None;
    }
    let outputs: Vec<TxOut> = output_keys
        .iter()
        .enumerate()
        .map(|(j, &key)| TxOut {
            value: Amount::from_sat(if j == 0 { share + spendable % m } else { share }),
            address: spec.payloads[usize::from(key)],
        })
        .collect();
    let spent: Vec<(OutPoint, TxOut)> = inputs
        .iter()
        .map(|c| {
            (
                c.outpoint,
                TxOut {
                    value: Amount::from_sat(c.value),
                    address: spec.payloads[usize::from(c.key)],
                },
            )
        })
        .collect();
    let tx = spec.wallet.build_and_sign(spec.chain, &spent, outputs, timestamp).ok()?;
    let txid = tx.txid(spec.chain);
    let outputs = tx
        .outputs
        .iter()
        .zip(output_keys)
        .enumerate()
        .map(|(vout, (out, &key))| Coin {
            outpoint: OutPoint { txid, vout: vout as u32 },
            value: out.value.sat(),
            key,
        })
        .collect();
    Some(SignedTx { txid, hex: tx.to_hex(), inputs: inputs.to_vec(), outputs })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_slots_follow_the_seed_and_the_percentage() {
        let pairs = (0..10_000).filter(|&i| is_pair(7, i, 10.0)).count();
        assert!((800..1_200).contains(&pairs), "{pairs} of 10,000 at 10%");
        assert!((0..1_000).all(|i| !is_pair(7, i, 0.0)));
        assert!((0..1_000).all(|i| is_pair(7, i, 100.0)));
        let a: Vec<bool> = (0..100).map(|i| is_pair(7, i, 30.0)).collect();
        let b: Vec<bool> = (0..100).map(|i| is_pair(7, i, 30.0)).collect();
        assert_eq!(a, b, "same seed, same slots");
    }
}
