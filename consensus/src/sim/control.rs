//! What a scenario test does with a simulation: partitions, crashes,
//! restarts, transactions, and what it asks of the nodes; and running it.

use std::cmp::Reverse;

use protocol::bft::VoteKind;
use protocol::finality::FinalityCertificate;
use protocol::{
    Amount, Block, BlockHash, Genesis, NodeId, OutPoint, Signature, Transaction, TxId, TxIn, TxOut,
};

use super::{CHAIN, ClientKey, Happening, Mode, Sim, SimReport, Violation};
use crate::Core;
use crate::io::Refusal;
use crate::io::{Input, Millis, Origin, SubmitOutcome, Timer, TxState};
use crate::message::Message;

impl Sim {
    /// Current simulated time.
    pub fn now(&self) -> Millis {
        self.now
    }

    /// The genesis.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// The id of node `i`.
    pub fn node_id(&self, i: usize) -> NodeId {
        self.nodes[i].id
    }

    /// The core of node `i`, if it is running.
    pub fn core(&self, i: usize) -> Option<&Core> {
        self.nodes[i].core.as_ref()
    }

    /// Splits the nodes into groups; messages only flow within a group.
    pub fn partition(&mut self, groups: &[&[usize]]) {
        for (g, members) in groups.iter().enumerate() {
            for &i in *members {
                self.partition[i] = g as u8;
            }
        }
    }

    /// Drops every message of `kind` ([`Message::kind`]) sent to node `to`
    /// from now on (a scenario's way to keep one kind of news from a node).
    pub fn mute(&mut self, to: usize, kind: &'static str) {
        self.muted.insert((to, kind));
    }

    /// What node `i` answered its clients so far, oldest first.
    pub fn replies(&self, i: usize) -> Vec<&SubmitOutcome> {
        self.replies.iter().filter(|(node, _)| *node == i).map(|(_, outcome)| outcome).collect()
    }

    /// How many messages of `kind` node `from` sent node `to` (those a
    /// partition, a mute or a drop stopped are not counted).
    pub fn sent_count(&self, from: usize, to: usize, kind: &'static str) -> usize {
        self.sent.get(&(from, to, kind)).copied().unwrap_or(0)
    }

    /// Node `i`'s prevote or precommit at (height, round), as it sent it:
    /// `Some(None)` is a nil vote, `None` no vote seen (honest nodes only).
    pub fn block_vote_of(
        &self,
        i: usize,
        height: u64,
        round: u32,
        kind: VoteKind,
    ) -> Option<Option<BlockHash>> {
        self.honest_block_votes.get(&(self.nodes[i].id, height, round, kind)).copied()
    }

    /// Ends every partition.
    pub fn heal(&mut self) {
        self.partition.iter_mut().for_each(|g| *g = 0);
    }

    /// Crashes node `i` (its unsent outputs are lost; its store survives).
    pub fn crash(&mut self, i: usize) {
        self.nodes[i].core = None;
    }

    /// Restarts node `i` from its store.
    pub fn restart(&mut self, i: usize) {
        if self.nodes[i].core.is_none() {
            self.boot(i);
        }
    }

    /// Makes node `i` crash right after its next persist of own votes, before
    /// the vote batch that follows it is sent.
    pub fn crash_after_next_own_votes(&mut self, i: usize) {
        self.crash_after_votes = Some(i);
    }

    /// A signed transaction spending `inputs` (genesis coins of client keys,
    /// by index of coin in [`Sim::client_coins`]) to `outputs`.
    pub fn client_coins(&self) -> Vec<(OutPoint, TxOut)> {
        self.coins.iter().map(|(o, (t, _, _))| (*o, *t)).collect()
    }

    /// Builds and signs a transaction spending `inputs` (which must pay to
    /// client or double-spender keys) and paying `pay` to client key `to`,
    /// the rest minus the minimum fee back to the first input's owner.
    pub fn build_tx(&self, inputs: &[(OutPoint, TxOut)], to: usize, pay: u64) -> Transaction {
        let keys: Vec<&ClientKey> = inputs
            .iter()
            .map(|(_, o)| {
                self.client_keys
                    .iter()
                    .chain(&self.spender_keys)
                    .find(|k| k.payload == o.address)
                    .expect("inputs pay to sim client keys")
            })
            .collect();
        let total: u64 = inputs.iter().map(|(_, o)| o.value.sat()).sum();
        let params = &self.genesis.params;
        let change_to = keys[0].payload;
        let mut outputs =
            vec![TxOut { value: Amount::from_sat(pay), address: self.client_keys[to].payload }];
        let fee_guess =
            params.required_fee(inputs.len(), Amount::from_sat(total)).map_or(0, |a| a.sat());
        let change = total.saturating_sub(pay).saturating_sub(fee_guess);
        if change >= params.dust_limit_sat {
            outputs.push(TxOut { value: Amount::from_sat(change), address: change_to });
        }
        let mut tx = Transaction {
            version: 1,
            inputs: inputs
                .iter()
                .zip(&keys)
                .map(|((op, _), k)| TxIn {
                    prev: *op,
                    pubkey: k.key.public(),
                    signature: Signature::ZERO,
                })
                .collect(),
            outputs,
            lock_time: 0,
            timestamp: self.now as i64,
        };
        for (i, k) in keys.iter().enumerate() {
            tx.sign_input(CHAIN, i, &k.key);
        }
        tx
    }

    /// Submits `tx` to node `i` as a client would.
    pub fn submit(&mut self, i: usize, tx: Transaction) -> TxId {
        let txid = tx.txid(CHAIN);
        if self.verbose() {
            eprintln!(
                "[{}] submit {} to node {i} (up={}) inputs {:?}",
                self.now,
                txid.short(),
                self.nodes[i].core.is_some(),
                tx.inputs
                    .iter()
                    .map(|x| format!("{}:{}", x.prev.txid.short(), x.prev.vout))
                    .collect::<Vec<_>>()
            );
        }
        self.bodies.insert(txid, tx.clone());
        self.deliver_input(i, Input::SubmitTx { tx, origin: Origin::Client(self.seq) });
        txid
    }

    /// Delivers `message` to node `i` now, as if peer `from` (any id, a
    /// committee member's or an observer's) had sent it.
    pub fn inject(&mut self, i: usize, from: NodeId, message: Message) {
        self.injecting = true;
        self.deliver_input(i, Input::Message { from, message });
        self.injecting = false;
    }

    /// Messages honest nodes sent to ids outside the simulation (the
    /// observer's inbox), oldest first.
    pub fn sent_to_outsiders(&self) -> &[Message] {
        &self.outsider_inbox
    }

    /// The finality certificate an honest node persisted for `txid`.
    pub fn certificate(&self, txid: &TxId) -> Option<FinalityCertificate> {
        self.certificates.get(txid).cloned()
    }

    /// The state of `txid` at node `i` (None if unknown or the node is down).
    pub fn state(&self, i: usize, txid: &TxId) -> Option<TxState> {
        self.nodes[i].core.as_ref()?.tx_status(txid).map(|s| s.state)
    }

    /// True when `txid` is final or committed at node `i` (committed blocks
    /// are looked up in the node's store, as timed's RPC does: the core only
    /// remembers recent blocks' txids).
    pub fn is_final(&self, i: usize, txid: &TxId) -> bool {
        matches!(self.state(i, txid), Some(TxState::Final | TxState::Committed))
            || self.nodes[i]
                .blocks
                .iter()
                .any(|(b, _)| b.txs.iter().any(|t| t.txid(CHAIN) == *txid))
    }

    /// The committed height of node `i` (its store's, if it is down).
    pub fn height(&self, i: usize) -> u64 {
        match &self.nodes[i].core {
            Some(core) => core.ledger().height(),
            None => self.nodes[i].store.tip_header.height,
        }
    }

    /// The block node `i` committed at `height` (block 0 is not stored).
    pub fn committed_block(&self, i: usize, height: u64) -> Option<&Block> {
        self.nodes[i].blocks.iter().map(|(b, _)| b).find(|b| b.header.height == height)
    }

    /// The block hash every honest node committed at `height`, if any did.
    pub fn block_hash(&self, height: u64) -> Option<BlockHash> {
        self.blocks_at.get(&height).copied()
    }

    /// A one-line account of `txid` at every node (for failure messages).
    pub fn describe(&self, txid: &TxId) -> String {
        (0..self.nodes.len())
            .map(|i| {
                let status = self.nodes[i].core.as_ref().and_then(|c| c.tx_status(txid));
                format!(
                    "node {i} h={} {:?} w={:?} rej={:?}",
                    self.height(i),
                    status.as_ref().map(|s| s.state),
                    status.as_ref().map(|s| s.weight),
                    status.as_ref().and_then(|s| s.rejection.clone())
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The first invariant broken, if any.
    pub fn violation(&self) -> Option<&Violation> {
        self.violation.as_ref()
    }

    /// Runs until simulated time `until` or a violation.
    pub fn run_until(&mut self, until: Millis) -> Result<(), Violation> {
        while let Some(Reverse((at, seq))) = self.queue.peek().copied() {
            if at > until {
                break;
            }
            self.queue.pop();
            self.now = self.now.max(at);
            if let Some(happening) = self.happenings.remove(&seq) {
                if std::env::var_os("SIM_TRACE").is_some() {
                    self.trace_count += 1;
                    if self.trace_count.is_multiple_of(20000) {
                        let kind = match &happening {
                            Happening::Deliver { message, .. } => message.kind(),
                            Happening::Timer { timer, .. } => match timer {
                                Timer::Tick => "tick",
                                Timer::StartHeight(_) => "start",
                                _ => "tm-timer",
                            },
                            _ => "other",
                        };
                        eprintln!(
                            "t={} steps={} queue={} kind={} heights={:?}",
                            self.now,
                            self.trace_count,
                            self.queue.len(),
                            kind,
                            (0..self.nodes.len()).map(|i| self.height(i)).collect::<Vec<_>>()
                        );
                    }
                }
                self.happen(happening);
            }
            if let Some(v) = &self.violation {
                return Err(v.clone());
            }
        }
        self.now = self.now.max(until);
        Ok(())
    }

    pub(super) fn probe(&self) {
        let states: Vec<String> = self
            .nodes
            .iter()
            .map(|n| match &n.core {
                Some(c) => {
                    let info = c.info();
                    format!(
                        "h{}/r{}/{}{}",
                        info.current_height,
                        info.round,
                        info.step,
                        if info.syncing { "/sync" } else { "" }
                    )
                }
                None => "down".into(),
            })
            .collect();
        eprintln!("[{}] probe {states:?}", self.now);
        for (i, node) in self.nodes.iter().enumerate() {
            if let Some(core) = &node.core {
                eprintln!("    node {i}: {}", core.describe_height());
            }
        }
    }

    /// Runs until `condition` holds or `deadline` passes; true if it held.
    pub fn run_until_condition(
        &mut self,
        deadline: Millis,
        mut condition: impl FnMut(&Sim) -> bool,
    ) -> Result<bool, Violation> {
        while self.now < deadline {
            if condition(self) {
                return Ok(true);
            }
            let next = (self.now + 50).min(deadline);
            self.run_until(next)?;
        }
        Ok(condition(self))
    }

    /// Runs the whole configured simulation and checks the mode's
    /// end-of-run property.
    pub fn run(mut self) -> Result<SimReport, Violation> {
        let duration = self.config.duration_ms;
        let heal = self.config.heal_at_ms.min(duration);
        let mut at_heal = None;
        let step = if self.verbose() { 250 } else { duration };
        let mut t = 0;
        while t < duration {
            if at_heal.is_none() && t + step > heal {
                self.run_until(heal)?;
                at_heal = Some(self.highest_honest_height());
            }
            t = (t + step).min(duration);
            self.run_until(t)?;
            if self.verbose() {
                self.probe();
            }
        }
        if self.config.mode == Mode::Liveness {
            self.check_liveness(at_heal.unwrap_or(0))?;
        }
        Ok(SimReport {
            heights: (0..self.nodes.len()).map(|i| self.height(i)).collect(),
            honest_txs: self.sent_honest.len(),
            final_txs: self.final_anywhere.len(),
        })
    }

    pub(super) fn fail(&mut self, what: String) {
        if self.violation.is_none() {
            self.violation = Some(Violation {
                seed: self.config.seed,
                mode: self.config.mode,
                at: self.now,
                what,
            });
        }
    }

    /// An honest node never charges an honest peer with an offence: a
    /// charge is a step toward a ban, and honest nodes banning each other
    /// is a partition nobody asked for. (Twins share a key, so their peers
    /// may rightly charge it.)
    pub(super) fn check_charge(&mut self, i: usize, peer: &NodeId, reason: Refusal) {
        if !reason.is_offence() || self.twin.is_some() || self.injecting || !self.is_honest(i) {
            return;
        }
        if let Some(j) = self.nodes.iter().position(|n| n.id == *peer)
            && self.is_honest(j)
        {
            self.fail(format!("node {i} charged honest node {j} with {}", reason.as_str()));
        }
    }

    pub(super) fn highest_honest_height(&self) -> u64 {
        (0..self.nodes.len())
            .filter(|i| self.is_honest(*i))
            .map(|i| self.height(i))
            .max()
            .unwrap_or(0)
    }

    /// Every honest transaction sent before the heal is final on every live
    /// honest node, and the chain grew after the heal: every live honest
    /// node is at least two blocks past the highest height at heal time.
    pub(super) fn check_liveness(&mut self, at_heal: u64) -> Result<(), Violation> {
        let live_honest: Vec<usize> = (0..self.nodes.len())
            .filter(|i| self.is_honest(*i) && self.nodes[*i].core.is_some())
            .collect();
        let sent: Vec<(TxId, Millis, usize)> = self.sent_honest.clone();
        for (txid, at, _) in sent {
            if at > self.config.heal_at_ms {
                continue;
            }
            for &i in &live_honest {
                if !self.is_final(i, &txid) {
                    let state = self.state(i, &txid);
                    let all = self.describe(&txid);
                    self.fail(format!(
                        "liveness: honest transaction {txid} sent at {at} ms is {state:?} at node {i} at the end [{all}]"
                    ));
                    return Err(self.violation.clone().expect("just set"));
                }
            }
        }
        let min_height = live_honest.iter().map(|i| self.height(*i)).min().unwrap_or(0);
        let expected = at_heal + 2;
        if min_height < expected {
            self.fail(format!(
                "liveness: height only {min_height} at the end, {at_heal} at the heal (expected at least {expected})"
            ));
            return Err(self.violation.clone().expect("just set"));
        }
        Ok(())
    }
}
