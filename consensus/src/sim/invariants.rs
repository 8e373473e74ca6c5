//! Bookkeeping the simulator keeps on its own, never asking a node under
//! test: the committed chain replayed from the blocks honest nodes persist
//! (an independent UTXO set, who spent each outpoint on chain), checked
//! against finality and against each node's ledger, and bounds on what a
//! core holds.

use std::collections::HashMap;

use protocol::{Block, OutPoint, TxId};

use super::{CHAIN, Sim};

/// The committed chain as the simulator replays it.
#[derive(Debug, Default)]
pub(super) struct Chain {
    started: bool,
    /// Blocks applied (height of the last).
    height: u64,
    /// Unspent outputs and their values.
    utxos: HashMap<OutPoint, u64>,
    /// Who spent each outpoint on chain.
    spent_by: HashMap<OutPoint, TxId>,
}

impl Sim {
    /// An honest node `i` persisted the commit of `block`.
    pub(super) fn check_commit(&mut self, i: usize, block: &Block) {
        if !self.chain.started {
            self.chain.started = true;
            let allocation = self.genesis.allocation_tx();
            let txid = allocation.txid(CHAIN);
            for (vout, output) in allocation.outputs.iter().enumerate() {
                self.chain.utxos.insert(OutPoint { txid, vout: vout as u32 }, output.value.sat());
            }
        }
        let height = block.header.height;
        if height <= self.chain.height {
            return; // replayed already (the same block: blocks_at checks that)
        }
        if height != self.chain.height + 1 {
            self.fail(format!(
                "node {i} committed height {height} before height {} was committed anywhere",
                self.chain.height + 1
            ));
            return;
        }
        for tx in &block.txs {
            let txid = tx.txid(CHAIN);
            for input in &tx.inputs {
                if let Some(other) = self.chain.spent_by.get(&input.prev) {
                    self.fail(format!(
                        "outpoint {} spent twice on chain: by {other} and by {txid} at height {height}",
                        input.prev
                    ));
                    return;
                }
                if self.chain.utxos.remove(&input.prev).is_none() {
                    self.fail(format!(
                        "block {height} spends {}, which the committed chain never created",
                        input.prev
                    ));
                    return;
                }
                self.chain.spent_by.insert(input.prev, txid);
                match self.final_spends.get(&input.prev) {
                    Some(winner) if *winner != txid => {
                        self.fail(format!(
                            "block {height} commits {txid}, which conflicts with final {winner} on {}",
                            input.prev
                        ));
                        return;
                    }
                    _ => {}
                }
            }
            for (vout, output) in tx.outputs.iter().enumerate() {
                self.chain.utxos.insert(OutPoint { txid, vout: vout as u32 }, output.value.sat());
            }
        }
        self.chain.height = height;
        let total: u128 = self.chain.utxos.values().map(|v| u128::from(*v)).sum();
        let expected = u128::from(self.total_allocated)
            + u128::from(height) * u128::from(self.genesis.params.block_reward_sat);
        if total != expected {
            self.fail(format!(
                "value not conserved by the chain at height {height}: {total} sat, expected {expected}"
            ));
        }
    }

    /// A node's own ledger, after it committed: its UTXO total agrees with
    /// the replayed chain at the same height.
    pub(super) fn check_ledger(&mut self, i: usize) {
        let Some(core) = self.nodes[i].core.as_ref() else { return };
        let at = core.ledger().height();
        if at != self.chain.height {
            return; // it is behind the first committer; checked when it gets there
        }
        let (_, total) = core.ledger().utxo_stats();
        let expected: u128 = self.chain.utxos.values().map(|v| u128::from(*v)).sum();
        if u128::from(total.sat()) != expected {
            self.fail(format!(
                "node {i}'s ledger holds {} sat at height {at}; the chain holds {expected}",
                total.sat()
            ));
        }
    }

    /// A transaction became final at an honest node: nothing committed
    /// spends its inputs for another transaction.
    pub(super) fn check_final_against_chain(&mut self, i: usize, txid: TxId) {
        let Some(tx) = self.bodies.get(&txid) else { return };
        for input in &tx.inputs {
            if let Some(spender) = self.chain.spent_by.get(&input.prev)
                && *spender != txid
            {
                let what = format!(
                    "node {i} finalized {txid}, which spends {}, already spent on chain by {spender}",
                    input.prev
                );
                self.fail(what);
                return;
            }
        }
    }

    /// What a core holds stays within its bounds, whatever peers send.
    pub(super) fn check_bounds(&mut self, i: usize) {
        let n = self.config.nodes;
        let Some(core) = self.nodes[i].core.as_ref() else { return };
        let held = core.held();
        let limits = [
            ("votes beyond the next round", held.votes_beyond_next_round, 0),
            ("latest far-round votes", held.far_votes, 2 * n),
            ("next-height messages", held.future, 2 * (1 + 2 * n)),
            ("proposals beyond the next round", held.proposals_beyond_next_round, 0),
            ("outstanding body requests", held.body_requests, crate::inbound::MAX_BODY_REQUESTS),
            ("bodiless tallies", held.bodiless, self.core_config.max_bodiless),
        ];
        for (what, count, max) in limits {
            if count > max {
                self.fail(format!("node {i} holds {count} {what} (bound {max})"));
                return;
            }
        }
    }
}
