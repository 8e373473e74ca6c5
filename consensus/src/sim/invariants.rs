//! Bookkeeping the simulator keeps on its own, never asking a node under
//! test: the committed chain replayed from the blocks honest nodes persist
//! (an independent UTXO set, who spent each outpoint on chain), checked
//! against finality and against each node's ledger, and bounds on what a
//! core holds.

use std::collections::HashMap;

use protocol::{Block, OutPoint, TxId};

use super::{CHAIN, Sim};
use crate::io::{Event, TxState};
use crate::message::Message;

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

impl Sim {
    pub(super) fn record_honest_signature(&mut self, i: usize, message: &Message) {
        let id = self.nodes[i].id;
        match message {
            Message::VoteBatch(batch) if batch.voter == id => {
                match self.honest_batch_seqs.get(&(id, batch.seq)) {
                    Some(txids) if *txids != batch.txids => {
                        self.fail(format!(
                            "honest node {i} signed two different batches with seq {}",
                            batch.seq
                        ));
                        return;
                    }
                    Some(_) => {}
                    None => {
                        self.honest_batch_seqs.insert((id, batch.seq), batch.txids.clone());
                    }
                }
                for txid in &batch.txids {
                    let Some(tx) = self.bodies.get(txid) else { continue };
                    let inputs: Vec<OutPoint> = tx.inputs.iter().map(|x| x.prev).collect();
                    for outpoint in inputs {
                        match self.honest_tx_votes.get(&(id, outpoint)) {
                            Some(other) if other != txid => {
                                self.fail(format!(
                                    "honest node {i} voted for {txid} and {other}, which both spend {outpoint}"
                                ));
                                return;
                            }
                            Some(_) => {}
                            None => {
                                self.honest_tx_votes.insert((id, outpoint), *txid);
                            }
                        }
                    }
                }
            }
            Message::BlockVote(vote) => {
                // Votes are relayed (proof-of-lock); attribute to the signer.
                let Some(signer) =
                    self.genesis.committee.get(usize::from(vote.voter)).map(|m| m.id)
                else {
                    return;
                };
                let Some(signer_node) = self.nodes.iter().position(|n| n.id == signer) else {
                    return;
                };
                if !self.is_honest(signer_node) {
                    return;
                }
                let i = signer_node;
                let key = (signer, vote.height, vote.round, vote.kind);
                match self.honest_block_votes.get(&key) {
                    Some(block) if *block != vote.block => {
                        self.fail(format!(
                            "honest node {i} cast two {:?}s at height {} round {}",
                            vote.kind, vote.height, vote.round
                        ));
                    }
                    Some(_) => {}
                    None => {
                        self.honest_block_votes.insert(key, vote.block);
                    }
                }
            }
            _ => {}
        }
    }

    pub(super) fn observe(&mut self, i: usize, event: Event) {
        if !self.is_honest(i) {
            return;
        }
        if self.verbose() {
            match &event {
                Event::TxState { txid, state, rejection, weight } => eprintln!(
                    "[{}] node {i} tx {} -> {state:?} w={weight} {rejection:?}",
                    self.now,
                    txid.short()
                ),
                Event::Syncing(s) => eprintln!("[{}] node {i} syncing={s}", self.now),
                Event::ProposalRejected { height, round, reason } => eprintln!(
                    "[{}] node {i} rejects proposal h{height} r{round}: {reason}",
                    self.now
                ),
                Event::Equivocation(_) => eprintln!("[{}] node {i} saw equivocation", self.now),
                _ => {}
            }
        }
        match event {
            Event::TxState { txid, state: TxState::Final, .. } => {
                self.final_at[i].insert(txid);
                self.final_anywhere.insert(txid);
                self.honest_pending.remove(&txid);
                let Some(tx) = self.bodies.get(&txid).cloned() else { return };
                for input in &tx.inputs {
                    match self.final_spends.get(&input.prev) {
                        Some(other) if *other != txid => {
                            self.fail(format!(
                                "conflicting finality: {txid} and {other} both final, both spend {}",
                                input.prev
                            ));
                            return;
                        }
                        Some(_) => {}
                        None => {
                            self.final_spends.insert(input.prev, txid);
                        }
                    }
                }
                self.check_final_against_chain(i, txid);
                self.credit_client(&tx, txid, i);
            }
            Event::TxState { txid, state: TxState::Lost, .. }
                if self.final_anywhere.contains(&txid) =>
            {
                self.fail(format!(
                    "transaction {txid} was final somewhere but node {i} marked it lost"
                ));
            }
            Event::BlockCommitted { height, hash, txids, round } => {
                if self.verbose() {
                    eprintln!(
                        "[{}] node {i} committed height {height} round {round} txs {}",
                        self.now,
                        txids.len()
                    );
                }
                match self.blocks_at.get(&height) {
                    Some(other) if *other != hash => {
                        self.fail(format!(
                            "two blocks at height {height}: {other} and {hash} (node {i})"
                        ));
                        return;
                    }
                    Some(_) => {}
                    None => {
                        self.blocks_at.insert(height, hash);
                    }
                }
                for txid in txids.iter().skip(1) {
                    self.final_anywhere.insert(*txid);
                }
                self.check_ledger(i);
            }
            _ => {}
        }
    }
}
