//! The simulator's adversaries: at most one Byzantine masternode (one mode a
//! run, or all at random), its Twin, and a hostile observer.
//!
//! The Byzantine node runs the real core; what leaves it passes through the
//! same [`crate::byzantine::Adversary`] a `timed --byzantine` runs. The
//! observer holds no committee key: it sends well-formed messages
//! with extreme field values and replays what honest nodes made public
//! (certificates of committed transactions, old blocks and batches). Neither
//! may make an honest node break an invariant, and with at most f faulty
//! weight the network must stay live.

use rand::RngExt;

use protocol::finality::VoteBatch;
use protocol::{
    Amount, BlockHash, NodeId, OutPoint, SecretKey, Signature, Transaction, TxId, TxIn, TxOut,
};

use super::{CHAIN, Sim};
use crate::byzantine::{Mode, Recipient};
use crate::message::{Message, Status};

/// What the Byzantine masternode does: one of the modes a real `timed`
/// can run ([`crate::byzantine::Mode`]), or Twins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Byzantine {
    /// See [`Mode::Equivocate`].
    Equivocate,
    /// See [`Mode::WithholdVotes`].
    WithholdVotes,
    /// See [`Mode::WithholdPrecommits`].
    WithholdPrecommits,
    /// See [`Mode::ConflictingProposals`].
    ConflictingProposals,
    /// See [`Mode::CorruptBodies`].
    CorruptBodies,
    /// See [`Mode::Replay`].
    Replay,
    /// Two processes run with its key (Twins), each talking to half of the
    /// honest nodes: both sign, so honest nodes see every kind of
    /// conflicting message from one member.
    Twins,
    /// See [`Mode::Chaos`].
    Chaos,
}

impl Byzantine {
    /// Every mode, for the random campaigns.
    pub const ALL: [Byzantine; 8] = [
        Byzantine::Equivocate,
        Byzantine::WithholdVotes,
        Byzantine::WithholdPrecommits,
        Byzantine::ConflictingProposals,
        Byzantine::CorruptBodies,
        Byzantine::Replay,
        Byzantine::Twins,
        Byzantine::Chaos,
    ];

    /// The message rewriter this mode runs (none for Twins: both twins are
    /// honest code with one key).
    pub(super) fn mode(self) -> Option<Mode> {
        Some(match self {
            Byzantine::Equivocate => Mode::Equivocate,
            Byzantine::WithholdVotes => Mode::WithholdVotes,
            Byzantine::WithholdPrecommits => Mode::WithholdPrecommits,
            Byzantine::ConflictingProposals => Mode::ConflictingProposals,
            Byzantine::CorruptBodies => Mode::CorruptBodies,
            Byzantine::Replay => Mode::Replay,
            Byzantine::Chaos => Mode::Chaos,
            Byzantine::Twins => return None,
        })
    }
}

impl Sim {
    /// Equivocating vote batches: a vote for `tx` whatever the node locked.
    pub(super) fn byzantine_vote(&mut self, i: usize, tx: &Transaction) {
        let Some(adversary) = self.nodes[i].adversary.as_mut() else { return };
        let Some(batch) = adversary.extra_vote(tx.txid(CHAIN)) else { return };
        for j in 0..self.nodes.len() {
            if j != i {
                self.network_send(i, j, Message::VoteBatch(batch.clone()));
            }
        }
    }

    /// What the Byzantine node `i` sends `j` instead of `message`.
    pub(super) fn byzantine_filter(
        &mut self,
        i: usize,
        j: usize,
        message: Message,
    ) -> Vec<Message> {
        let conflicting = match &message {
            Message::Proposal(_) => self.conflicting_tx(),
            _ => None,
        };
        let victim = j == (i + 1) % self.config.nodes;
        let Some(adversary) = self.nodes[i].adversary.as_mut() else { return vec![message] };
        adversary.rewrite(Recipient { slot: j, victim }, message, conflicting.as_ref())
    }

    /// A transaction spending the input of a final one, signed by its
    /// owner's key (the Byzantine node colludes with a double spender).
    fn conflicting_tx(&self) -> Option<Transaction> {
        let mut finals: Vec<(&OutPoint, &TxId)> = self.final_spends.iter().collect();
        finals.sort();
        for (outpoint, winner) in finals {
            let Some(spent) = self.output_of(outpoint) else { continue };
            let Some(key) = self.key_of(&spent.address) else { continue };
            let mut tx = Transaction {
                version: 1,
                inputs: vec![TxIn {
                    prev: *outpoint,
                    pubkey: key.public(),
                    signature: Signature::ZERO,
                }],
                outputs: vec![TxOut {
                    value: Amount::from_sat(spent.value.sat().saturating_sub(10_000)),
                    address: spent.address,
                }],
                lock_time: 0,
                timestamp: self.now as i64 + 7,
            };
            tx.sign_input(CHAIN, 0, key);
            if tx.txid(CHAIN) != *winner {
                return Some(tx);
            }
        }
        None
    }

    // ---- the hostile observer ----

    /// The observer's id (outside the committee).
    pub(super) fn observer_id() -> NodeId {
        NodeId::from(SecretKey::from_seed([0x0b; 32]).public())
    }

    /// One hostile message from the observer to a random live node.
    pub(super) fn observer_step(&mut self) {
        let n = self.config.nodes;
        let to = self.rng.random_range(0..n);
        let message = self.hostile_message();
        self.inject(to, Sim::observer_id(), message);
    }

    /// A well-formed message with extreme fields, or a replay of something
    /// public.
    fn hostile_message(&mut self) -> Message {
        let extremes = [0, 1, 2, u64::MAX / 2, u64::MAX - 1, u64::MAX];
        let pick = |sim: &mut Sim| {
            if sim.rng.random_bool(0.5) {
                extremes[sim.rng.random_range(0..extremes.len())]
            } else {
                sim.rng.random_range(0..64)
            }
        };
        let n = self.config.nodes;
        let voter = self.nodes[self.rng.random_range(0..n)].id;
        match self.rng.random_range(0..11) {
            0 => Message::GetVoteBatches { voter, from: pick(self), to: pick(self) },
            1 => {
                // Replayed batches of that voter, with any pruning claim.
                let batches: Vec<VoteBatch> = self
                    .overheard
                    .iter()
                    .filter_map(|m| match m {
                        Message::VoteBatch(b) if b.voter == voter => Some(b.clone()),
                        _ => None,
                    })
                    .take(8)
                    .collect();
                Message::VoteBatches { voter, batches, pruned_below: pick(self) }
            }
            2 => {
                // A lying status: any height, maybe with a real (old) proof.
                let proof = self.nodes[0].blocks.first().map(|(_, c)| c.clone());
                let vote_seqs = (0..n).map(|_| pick(self)).collect();
                let pending =
                    (0..self.rng.random_range(0..64)).map(|_| self.random_txid()).collect();
                Message::Status(Status {
                    height: pick(self),
                    tip: BlockHash(self.rng.random()),
                    tip_certificate: if self.rng.random_bool(0.5) { proof } else { None },
                    vote_seqs,
                    pending,
                })
            }
            3 => Message::GetTxs(
                (0..self.rng.random_range(1..512)).map(|_| self.random_txid()).collect(),
            ),
            4 | 5 => {
                // Certificates of (likely committed) transactions, replayed.
                let mut txids: Vec<TxId> = self.certificates.keys().copied().collect();
                txids.sort();
                let list = txids
                    .iter()
                    .filter(|_| self.rng.random_bool(0.3))
                    .filter_map(|t| {
                        Some((self.bodies.get(t)?.clone(), self.certificates.get(t)?.clone()))
                    })
                    .take(32)
                    .collect::<Vec<_>>();
                if self.rng.random_bool(0.5) {
                    Message::Final(list)
                } else {
                    Message::Txs(list.into_iter().map(|(t, c)| (t, Some(c))).collect())
                }
            }
            6 => Message::GetBlocks { from: pick(self) },
            7 => {
                // Old blocks, replayed.
                let blocks = self.nodes[0].blocks.iter().take(4).cloned().collect();
                Message::Blocks(blocks)
            }
            8 => Message::GetFinal,
            9 => {
                // A transaction spending outputs nobody has, badly signed.
                let tx = Transaction {
                    version: 1,
                    inputs: vec![TxIn {
                        prev: OutPoint { txid: self.random_txid(), vout: pick(self) as u32 },
                        pubkey: SecretKey::from_seed(self.rng.random()).public(),
                        signature: Signature(self.rng.random()),
                    }],
                    outputs: vec![TxOut {
                        value: Amount::from_sat(10_000),
                        address: self.client_keys[0].payload,
                    }],
                    lock_time: 0,
                    timestamp: self.now as i64,
                };
                Message::Tx(tx)
            }
            _ => {
                // A consensus message from a non-member: a replay.
                if self.overheard.is_empty() {
                    Message::GetFinal
                } else {
                    self.overheard[self.rng.random_range(0..self.overheard.len())].clone()
                }
            }
        }
    }

    /// The output `outpoint` names, from the bodies the simulation saw or
    /// the genesis allocation.
    fn output_of(&self, outpoint: &OutPoint) -> Option<TxOut> {
        let allocation = self.genesis.allocation_tx();
        let tx = if allocation.txid(CHAIN) == outpoint.txid {
            &allocation
        } else {
            self.bodies.get(&outpoint.txid)?
        };
        tx.outputs.get(outpoint.vout as usize).copied()
    }

    /// The client or double-spender key that owns `address`.
    fn key_of(&self, address: &protocol::AddressPayload) -> Option<&SecretKey> {
        self.client_keys
            .iter()
            .chain(&self.spender_keys)
            .find(|k| k.payload == *address)
            .map(|k| &k.key)
    }

    fn random_txid(&mut self) -> TxId {
        TxId(self.rng.random())
    }
}
