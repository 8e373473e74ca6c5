//! A Byzantine masternode's behaviour, for tests only (cargo feature
//! `byzantine`, which release builds never enable): the simulator's
//! adversary and `timed --byzantine MODE` run this same code, so what the
//! seeded campaigns check is what a real cluster faces.
//!
//! The node runs the real core; each message it sends passes through
//! [`Adversary::rewrite`], which withholds it, rewrites it and re-signs with
//! the node's key, or adds forged and replayed copies.

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use protocol::bft::{BlockVote, Proposal, VoteKind};
use protocol::finality::{FinalityCertificate, VoteBatch};
use protocol::{BlockHash, ChainId, MemberIndex, SecretKey, Signature, Transaction, TxId};

use crate::message::Message;

/// What the Byzantine masternode does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Votes for every transaction it sees (both sides of a double spend)
    /// with seqs that collide with its own; signs two different proposals
    /// for one round and two different prevotes and precommits for one
    /// (height, round), each to half of its peers.
    Equivocate,
    /// Never sends its vote batches.
    WithholdVotes,
    /// Never sends its precommits (nor the commit certificates that would
    /// carry them).
    WithholdPrecommits,
    /// Proposes blocks referencing a transaction that conflicts with a final
    /// one, and sends its body with a certificate it cannot make valid.
    ConflictingProposals,
    /// Sends one peer (the next member) its proposals, its own and those it
    /// relays, with a corrupted txid list or coinbase, the header (and so
    /// the signed hash) unchanged; prevotes honestly and
    /// withholds its precommits (and commit certificates), so the others
    /// lock a block the victim needs a good copy of.
    CorruptBodies,
    /// Re-sends old messages it heard, and copies with forged signatures.
    Replay,
    /// A mix of the modes above, chosen per message.
    Chaos,
}

impl Mode {
    /// Every mode.
    pub const ALL: [Mode; 7] = [
        Mode::Equivocate,
        Mode::WithholdVotes,
        Mode::WithholdPrecommits,
        Mode::ConflictingProposals,
        Mode::CorruptBodies,
        Mode::Replay,
        Mode::Chaos,
    ];

    /// The name on the command line (`timed --byzantine`, `timectl up
    /// --byzantine node5=NAME`).
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Equivocate => "equivocate",
            Mode::WithholdVotes => "withhold-votes",
            Mode::WithholdPrecommits => "withhold-precommits",
            Mode::ConflictingProposals => "conflicting-proposals",
            Mode::CorruptBodies => "corrupt-bodies",
            Mode::Replay => "replay",
            Mode::Chaos => "chaos",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Mode {
    type Err = String;

    fn from_str(text: &str) -> Result<Mode, String> {
        Mode::ALL.into_iter().find(|m| m.as_str() == text).ok_or_else(|| {
            let names: Vec<&str> = Mode::ALL.iter().map(|m| m.as_str()).collect();
            format!("unknown byzantine mode {text:?}; one of {}", names.join(", "))
        })
    }
}

/// Who a message goes to, as the adversary tells its peers apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recipient {
    /// A number that splits peers into halves (the committee index of a
    /// member, say): even and odd get different versions.
    pub slot: usize,
    /// The peer [`Mode::CorruptBodies`] sends bad copies to.
    pub victim: bool,
}

/// Flips one bit: a signature that no longer verifies.
fn forge(signature: &mut Signature) {
    signature.0[0] ^= 1;
}

/// A Byzantine masternode's rewriter of its own outgoing messages.
#[derive(Debug)]
pub struct Adversary {
    mode: Mode,
    key: SecretKey,
    chain: ChainId,
    me: MemberIndex,
    rng: ChaCha8Rng,
    heard: VecDeque<Message>,
    seq: u64,
}

/// Messages kept for replays.
const HEARD: usize = 200;

impl Adversary {
    /// The adversary of member `me` (its committee index) signing with
    /// `key`; `seed` drives its choices.
    pub fn new(mode: Mode, key: SecretKey, chain: ChainId, me: MemberIndex, seed: u64) -> Self {
        Adversary {
            mode,
            key,
            chain,
            me,
            rng: ChaCha8Rng::seed_from_u64(seed),
            heard: VecDeque::new(),
            seq: 0,
        }
    }

    /// Its mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// A message the node received (kept for replays).
    pub fn heard(&mut self, message: &Message) {
        if matches!(self.mode, Mode::Replay | Mode::Chaos) && message.is_consensus() {
            if self.heard.len() >= HEARD {
                self.heard.pop_front();
            }
            self.heard.push_back(message.clone());
        }
    }

    /// An equivocating vote for a transaction the node saw, whatever it
    /// locked, with a seq its own core also uses (modes that equivocate).
    pub fn extra_vote(&mut self, txid: TxId) -> Option<VoteBatch> {
        if !matches!(self.mode, Mode::Equivocate | Mode::Chaos) {
            return None;
        }
        self.seq += 1;
        Some(VoteBatch::sign(self.chain, &self.key, self.seq, vec![txid]))
    }

    /// What goes to `to` instead of `message` (nothing, something else, or
    /// more). `conflicting` is a transaction spending the input of a final
    /// one, for [`Mode::ConflictingProposals`].
    pub fn rewrite(
        &mut self,
        to: Recipient,
        message: Message,
        conflicting: Option<&Transaction>,
    ) -> Vec<Message> {
        let mode = if self.mode == Mode::Chaos {
            Mode::ALL[self.rng.random_range(0..Mode::ALL.len() - 1)]
        } else {
            self.mode
        };
        let half = to.slot.is_multiple_of(2);
        match (mode, message) {
            (Mode::WithholdVotes, Message::VoteBatch(_)) => Vec::new(),
            (Mode::WithholdPrecommits | Mode::CorruptBodies, Message::BlockVote(vote))
                if vote.kind == VoteKind::Precommit =>
            {
                Vec::new()
            }
            // Its commit certificates carry its precommits: withheld too.
            (Mode::WithholdPrecommits | Mode::CorruptBodies, Message::Blocks(_)) => Vec::new(),
            (Mode::Equivocate, Message::Proposal(proposal)) if half => {
                // A second, different (and valid) block for the same round.
                let mut block = proposal.block.clone();
                block.header.timestamp += 1;
                let proposal = Proposal::sign(
                    self.chain,
                    &self.key,
                    proposal.round,
                    proposal.valid_round,
                    block,
                );
                vec![Message::Proposal(Box::new(proposal))]
            }
            (Mode::Equivocate, Message::BlockVote(vote)) if half => {
                // The other choice for the same (height, round, step).
                let other = match vote.block {
                    Some(_) => None,
                    None => Some(BlockHash([0xb5; 32])),
                };
                let vote = BlockVote::sign(
                    self.chain,
                    &self.key,
                    vote.voter,
                    vote.kind,
                    vote.height,
                    vote.round,
                    other,
                );
                vec![Message::BlockVote(vote)]
            }
            (Mode::ConflictingProposals, Message::Proposal(proposal)) => {
                let Some(tx) = conflicting else { return vec![Message::Proposal(proposal)] };
                // References a transaction that is not final, and sends its
                // body right behind with the only "certificate" it can make
                // (its own vote), for the receivers that ask for it.
                let txid = tx.txid(self.chain);
                let mut block = proposal.block.clone();
                block.txids.push(txid);
                let mut txids = vec![block.coinbase.txid(self.chain)];
                txids.extend_from_slice(&block.txids);
                block.header.merkle_root = protocol::merkle::merkle_root(&txids);
                let proposal = Proposal::sign(
                    self.chain,
                    &self.key,
                    proposal.round,
                    proposal.valid_round,
                    block,
                );
                let batch = VoteBatch::sign(self.chain, &self.key, 1_000_000, vec![txid]);
                let votes = batch.cert_votes(self.me).into_iter().map(|(_, v)| v).collect();
                let certificate = FinalityCertificate { txid, votes };
                vec![
                    Message::Proposal(Box::new(proposal)),
                    Message::Txs(vec![(tx.clone(), Some(certificate))]),
                ]
            }
            (Mode::CorruptBodies, Message::Proposal(mut proposal)) if to.victim => {
                // The signature covers the header only: corrupt the rest.
                let block = &mut proposal.block;
                match block.txids.first_mut() {
                    Some(txid) => txid.0[0] ^= 1,
                    None => block.coinbase.lock_time ^= 1,
                }
                vec![Message::Proposal(proposal)]
            }
            (Mode::Replay, message) => {
                // An old message it heard, a forged copy of this one, and
                // this one.
                let mut out = Vec::new();
                if !self.heard.is_empty() {
                    out.push(self.heard[self.rng.random_range(0..self.heard.len())].clone());
                }
                let mut forged = message.clone();
                match &mut forged {
                    Message::VoteBatch(batch) => forge(&mut batch.signature),
                    Message::BlockVote(vote) => forge(&mut vote.signature),
                    Message::Proposal(proposal) => forge(&mut proposal.signature),
                    _ => {}
                }
                if forged != message {
                    out.push(forged);
                }
                out.push(message);
                out
            }
            (_, message) => vec![message],
        }
    }
}
