//! The simulated clients: honest payments (multi-input, multi-key, a child
//! before its parent is final) and a double spender.

use std::collections::BTreeSet;

use rand::RngExt;

use protocol::{Amount, OutPoint, Signature, Transaction, TxId, TxIn, TxOut};

use super::{CHAIN, Sim};

impl Sim {
    /// A client learns its transaction is final at node `node`: its outputs
    /// become spendable there (a client only spends change where the parent
    /// is final, as loadgen does).
    pub(super) fn credit_client(&mut self, tx: &Transaction, txid: TxId, node: usize) {
        for (vout, output) in tx.outputs.iter().enumerate() {
            let outpoint = OutPoint { txid, vout: vout as u32 };
            if self.client_spent.contains(&outpoint) || self.spent_by_child.contains(&outpoint) {
                continue;
            }
            if let Some(owner) = self.client_keys.iter().position(|k| k.payload == output.address) {
                self.coins
                    .entry(outpoint)
                    .or_insert((*output, owner, BTreeSet::new()))
                    .2
                    .insert(node);
            }
        }
    }

    pub(super) fn pick_node(&mut self, candidates: &BTreeSet<usize>) -> Option<usize> {
        let live: Vec<usize> =
            candidates.iter().copied().filter(|i| self.nodes[*i].core.is_some()).collect();
        let pool: Vec<usize> =
            if live.is_empty() { candidates.iter().copied().collect() } else { live };
        if pool.is_empty() {
            return None;
        }
        Some(pool[self.rng.random_range(0..pool.len())])
    }

    /// Resubmits what has not finalized anywhere yet (a node may have
    /// crashed with it, or a partition dropped it): idempotent, as a wallet
    /// retries.
    pub(super) fn resubmit_pending(&mut self) {
        let stale: Vec<(Transaction, BTreeSet<usize>)> =
            self.honest_pending.values().cloned().collect();
        for (tx, nodes) in stale {
            if let Some(node) = self.pick_node(&nodes) {
                self.submit(node, tx);
            }
        }
    }

    pub(super) fn client_step(&mut self) {
        self.client_sent += 1;
        self.resubmit_pending();
        // Two coins of different keys, final at a common node.
        let entries: Vec<(OutPoint, TxOut, usize, BTreeSet<usize>)> =
            self.coins.iter().map(|(op, (o, owner, at))| (*op, *o, *owner, at.clone())).collect();
        let mut choice = None;
        let start = if entries.is_empty() { 0 } else { self.rng.random_range(0..entries.len()) };
        'outer: for k in 0..entries.len() {
            let a = &entries[(start + k) % entries.len()];
            for b in &entries {
                if b.2 != a.2 {
                    let common: BTreeSet<usize> = a.3.intersection(&b.3).copied().collect();
                    if !common.is_empty() {
                        choice = Some((a.clone(), b.clone(), common));
                        break 'outer;
                    }
                }
            }
        }
        let Some((first, second, common)) = choice else { return };
        let Some(node) = self.pick_node(&common) else { return };
        for op in [first.0, second.0] {
            self.coins.remove(&op);
            self.client_spent.insert(op);
        }
        let to = self.rng.random_range(0..self.client_keys.len());
        let pay = (first.1.value.sat() + second.1.value.sat()) / 2;
        let tx = self.build_tx(&[(first.0, first.1), (second.0, second.1)], to, pay);
        let txid = tx.txid(CHAIN);
        self.sent_honest.push((txid, self.now, node));
        self.honest_pending.insert(txid, (tx.clone(), common.clone()));
        self.submit(node, tx.clone());
        // Sometimes spend the new transaction's output at once: a child
        // sent before its parent is final waits, then finalizes.
        if self.rng.random_bool(0.25) {
            let output = tx.outputs[0];
            let child_input = (OutPoint { txid, vout: 0 }, output);
            let pay = output.value.sat() / 2;
            let child = self.build_tx(&[child_input], to, pay);
            let child_id = child.txid(CHAIN);
            // A client sends a child where it sent the parent; relays may
            // still deliver them out of order elsewhere.
            self.sent_honest.push((child_id, self.now, node));
            self.honest_pending.insert(child_id, (child.clone(), [node].into_iter().collect()));
            self.submit(node, child);
            // The child spends output 0; the client must not spend it again.
            self.spent_by_child.insert(OutPoint { txid, vout: 0 });
        }
    }

    pub(super) fn double_spend_step(&mut self) {
        self.double_sent += 1;
        let Some((outpoint, output, owner)) = self.spender_coins.pop() else { return };
        let key = &self.spender_keys[owner];
        let make = |to: usize, sim: &Sim| {
            let mut tx = Transaction {
                version: 1,
                inputs: vec![TxIn {
                    prev: outpoint,
                    pubkey: key.key.public(),
                    signature: Signature::ZERO,
                }],
                outputs: vec![TxOut {
                    value: Amount::from_sat(output.value.sat() - 5_000 - to as u64),
                    address: sim.client_keys[to].payload,
                }],
                lock_time: 0,
                timestamp: sim.now as i64,
            };
            tx.sign_input(CHAIN, 0, &key.key);
            tx
        };
        let a = make(0, self);
        let b = make(1, self);
        let n = self.config.nodes;
        let i = self.rng.random_range(0..n);
        let j = (i + 1 + self.rng.random_range(0..n - 1)) % n;
        self.submit(i, a);
        self.submit(j, b);
    }
}
