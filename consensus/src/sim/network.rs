//! The event loop: happenings in time order, inputs delivered to cores,
//! their outputs carried out over the simulated network (drops, delays,
//! duplicates, partitions) and into each node's persisted state.

use rand::RngExt;

use protocol::bft::CommitCertificate;
use protocol::{Block, NodeId};

use super::{CHAIN, Happening, Mode, Sim};
use crate::io::{Input, Output, PersistOp};
use crate::message::{MAX_BLOCKS_PER_MESSAGE, Message};

impl Sim {
    pub(super) fn verbose(&self) -> bool {
        std::env::var_os("SIM_VERBOSE").is_some()
    }

    pub(super) fn happen(&mut self, happening: Happening) {
        if self.verbose()
            && !matches!(happening, Happening::Deliver { .. } | Happening::Timer { .. })
        {
            eprintln!(
                "[{}] {:?} partition={:?} up={:?}",
                self.now,
                happening,
                self.partition,
                self.nodes.iter().map(|n| n.core.is_some()).collect::<Vec<_>>()
            );
        }
        match happening {
            Happening::Deliver { to, from, message } => {
                if self.nodes[to].core.is_some() && self.partition[to] == self.partition[from] {
                    let from_id = self.nodes[from].id;
                    if let Some(adversary) = self.nodes[to].adversary.as_mut() {
                        adversary.heard(&message);
                    }
                    if message.is_consensus() && self.seq.is_multiple_of(16) {
                        if self.overheard.len() >= 256 {
                            self.overheard.pop_front();
                        }
                        self.overheard.push_back(message.clone());
                    }
                    self.deliver_input(to, Input::Message { from: from_id, message });
                }
            }
            Happening::Timer { node, epoch, timer } => {
                if self.nodes[node].epoch == epoch && self.nodes[node].core.is_some() {
                    self.deliver_input(node, Input::Timer(timer));
                }
            }
            Happening::Client => self.client_step(),
            Happening::Resubmit => self.resubmit_pending(),
            Happening::DoubleSpend => self.double_spend_step(),
            Happening::Crash(i) => {
                if self.config.mode == Mode::Liveness {
                    // Liveness allows f faults in total: the Byzantine node
                    // is one; crashes then only hit it.
                    let f = (self.nodes.len() - 1) / 3;
                    let down = self.nodes.iter().filter(|n| n.core.is_none()).count();
                    let byz = self.nodes.iter().filter(|n| n.byzantine.is_some()).count();
                    if down + byz >= f && self.is_honest(i) {
                        return;
                    }
                }
                self.crash(i);
            }
            Happening::Restart(i) => self.restart(i),
            Happening::Partition => {
                let n = self.nodes.len();
                let cut = self.rng.random_range(1..n);
                let mut order: Vec<usize> = (0..n).collect();
                for k in (1..n).rev() {
                    let j = self.rng.random_range(0..=k);
                    order.swap(k, j);
                }
                for (pos, &i) in order.iter().enumerate() {
                    self.partition[i] = u8::from(pos >= cut);
                }
            }
            Happening::Heal => self.heal(),
            Happening::Observer => self.observer_step(),
        }
    }

    pub(super) fn deliver_input(&mut self, i: usize, input: Input) {
        let now = self.now;
        let Some(core) = self.nodes[i].core.as_mut() else { return };
        // The driver answers block requests from its store, as timed does.
        if let Input::Message { from, message: Message::GetBlocks { from: height } } = &input {
            let from = *from;
            let height = *height;
            let blocks: Vec<(Block, CommitCertificate)> = self.nodes[i]
                .blocks
                .iter()
                .filter(|(b, _)| b.header.height >= height)
                .take(MAX_BLOCKS_PER_MESSAGE)
                .cloned()
                .collect();
            if !blocks.is_empty()
                && let Some(to) = self.recipient(i, &from)
            {
                self.outgoing(i, to, Message::Blocks(blocks));
            }
            return;
        }
        let byz_tx = match &input {
            Input::SubmitTx { tx, .. } | Input::Message { message: Message::Tx(tx), .. } => {
                Some(tx.clone())
            }
            _ => None,
        };
        let mut outputs = core.handle(now, input);
        if let Some(core) = self.nodes[i].core.as_mut() {
            outputs.extend(core.seal(now));
        }
        if let Some(tx) = byz_tx {
            self.byzantine_vote(i, &tx);
        }
        self.perform(i, outputs);
        if self.is_honest(i) {
            self.check_bounds(i);
        }
    }

    /// Carries out a node's outputs in order; may crash it right after a
    /// persist (what was persisted survives, what follows is lost).
    pub(super) fn perform(&mut self, i: usize, outputs: Vec<Output>) {
        for output in outputs {
            if self.nodes[i].core.is_none() {
                return;
            }
            match output {
                Output::Persist(op) => {
                    let own_votes = matches!(op, PersistOp::OwnVotes { .. });
                    if let PersistOp::Final(list) = &op
                        && self.is_honest(i)
                    {
                        for (_, certificate) in list {
                            self.certificates.insert(certificate.txid, certificate.clone());
                        }
                    }
                    if let PersistOp::Commit(committed) = &op {
                        if self.is_honest(i) {
                            self.check_commit(i, &committed.block);
                        }
                        self.nodes[i]
                            .blocks
                            .push((committed.block.clone(), committed.certificate.clone()));
                    }
                    self.nodes[i].store.apply(&op);
                    self.nodes[i].index.apply(&op, CHAIN);
                    let height = self.nodes[i].store.tip_header.height;
                    if let Some(core) = self.nodes[i].core.as_mut() {
                        core.mark_durable(height);
                    }
                    if own_votes && self.crash_after_votes == Some(i) {
                        self.crash_after_votes = None;
                        self.crash(i);
                        return;
                    }
                    if self.crash_mid_outputs
                        && self.now < self.config.heal_at_ms
                        && self.rng.random_bool(0.002)
                    {
                        self.crash(i);
                        let back = self.now + self.rng.random_range(50..800);
                        self.schedule(back.min(self.config.heal_at_ms), Happening::Restart(i));
                        return;
                    }
                }
                Output::Send { to, message } => match self.recipient(i, &to) {
                    Some(j) => self.outgoing(i, j, message),
                    None => {
                        if self.outsider_inbox.len() >= 4_096 {
                            self.outsider_inbox.remove(0);
                        }
                        self.outsider_inbox.push(message);
                    }
                },
                Output::Broadcast(message) => {
                    for j in 0..self.nodes.len() {
                        if j != i {
                            self.outgoing(i, j, message.clone());
                        }
                    }
                }
                Output::SetTimer { timer, at } => {
                    let epoch = self.nodes[i].epoch;
                    self.schedule(at.max(self.now), Happening::Timer { node: i, epoch, timer });
                }
                Output::Event(event) => self.observe(i, event),
                Output::Reply { outcome, .. } => self.replies.push((i, outcome)),
                Output::Refused { peer, reason } => self.check_charge(i, &peer, reason),
            }
        }
    }

    /// A message leaving node `i` for node `j`: honest nodes' signed
    /// messages are recorded for the double-vote check; the Byzantine node
    /// may alter or withhold.
    pub(super) fn outgoing(&mut self, i: usize, j: usize, message: Message) {
        if self.is_honest(i) {
            self.record_honest_signature(i, &message);
            self.network_send(i, j, message);
        } else {
            for message in self.byzantine_filter(i, j, message) {
                self.network_send(i, j, message);
            }
        }
    }

    /// Which process gets what node `from` sends to `id`: with Twins, the
    /// twin serves the odd-numbered honest nodes, the original the others.
    pub(super) fn recipient(&self, from: usize, id: &NodeId) -> Option<usize> {
        let j = self.nodes.iter().position(|n| n.id == *id)?;
        match self.twin {
            Some((original, twin)) if j == original && from % 2 == 1 => Some(twin),
            _ => Some(j),
        }
    }

    /// Whether a message from `from` reaches `to` at all (Twins: each twin
    /// talks only to its half of the honest nodes, never to the other twin).
    pub(super) fn linked(&self, from: usize, to: usize) -> bool {
        let Some((original, twin)) = self.twin else { return true };
        let side = |k: usize| if k % 2 == 1 { twin } else { original };
        match (from == original || from == twin, to == original || to == twin) {
            (true, true) => false,
            (true, false) => side(to) == from,
            (false, true) => side(from) == to,
            (false, false) => true,
        }
    }

    pub(super) fn network_send(&mut self, from: usize, to: usize, message: Message) {
        if !self.linked(from, to) || self.muted.contains(&(to, message.kind())) {
            return;
        }
        *self.sent.entry((from, to, message.kind())).or_default() += 1;
        if self.rng.random_bool(self.config.drop_rate.clamp(0.0, 1.0))
            && self.now < self.config.heal_at_ms
        {
            return;
        }
        let delay = self.rng.random_range(
            self.config.min_delay_ms..=self.config.max_delay_ms.max(self.config.min_delay_ms),
        );
        if self.rng.random_bool(self.config.dup_rate.clamp(0.0, 1.0)) {
            let again = delay + self.rng.random_range(1..50);
            self.schedule(
                self.now + again,
                Happening::Deliver { to, from, message: message.clone() },
            );
        }
        self.schedule(self.now + delay, Happening::Deliver { to, from, message });
    }
}
