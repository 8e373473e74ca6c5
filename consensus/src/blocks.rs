//! Block agreement: Tendermint (Buchman, Kwon, Milosevic 2018, "The latest
//! gossip on BFT consensus", Algorithm 1). Each `upon` rule is labelled with
//! the paper's line number. "2f+1" is weight ≥ q; "f+1" is weight > W − q.
//!
//! Differences from the paper, all local: a height starts the block interval
//! after the previous commit (Tendermint's timeoutCommit); own proposals and
//! votes are persisted before they are sent and reloaded after a restart, so
//! a node never signs two different messages for one (height, round, step).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use protocol::bft::{BlockVote, CommitCertificate, Proposal, VoteKind};
use protocol::block::{Block, BlockRef};
use protocol::coinbase::expected_coinbase;
use protocol::finality::FinalityCertificate;
use protocol::{Amount, BlockHash, MemberIndex, NodeId, OutPoint, TxId, TxOut};

use crate::core::Core;
use crate::inbound::Refusal;
use crate::io::{Event, Evidence, Millis, Output, PersistOp, Timer, TxState};
use crate::ledger::{BlockError, CheckedBlock};
use crate::message::Message;

/// Tendermint's step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Step {
    /// Waiting for the block interval before round 0.
    NewHeight,
    /// Waiting for a proposal.
    Propose,
    /// Prevoted.
    Prevote,
    /// Precommitted.
    Precommit,
}

impl Step {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Step::NewHeight => "new_height",
            Step::Propose => "propose",
            Step::Prevote => "prevote",
            Step::Precommit => "precommit",
        }
    }
}

/// Prevotes and precommits of one round, per voter. An honest voter has one
/// of each; an equivocator's conflicting votes are kept too (each value
/// counts the votes for it, as in CometBFT's vote sets), or a proof-of-lock
/// that others saw with its vote could never be seen here. Kept: a voter's
/// first vote, and conflicting ones for nil or a block proposed here, so
/// a voter cannot make this node hold a vote per hash it invents.
#[derive(Clone, Debug, Default)]
pub(crate) struct RoundVotes {
    prevotes: BTreeMap<MemberIndex, Vec<BlockVote>>,
    precommits: BTreeMap<MemberIndex, Vec<BlockVote>>,
}

/// Every vote in one kind's map.
fn all_votes(map: &BTreeMap<MemberIndex, Vec<BlockVote>>) -> impl Iterator<Item = &BlockVote> {
    map.values().flatten()
}

impl RoundVotes {
    fn of(&self, kind: VoteKind) -> &BTreeMap<MemberIndex, Vec<BlockVote>> {
        match kind {
            VoteKind::Prevote => &self.prevotes,
            VoteKind::Precommit => &self.precommits,
        }
    }

    fn of_mut(&mut self, kind: VoteKind) -> &mut BTreeMap<MemberIndex, Vec<BlockVote>> {
        match kind {
            VoteKind::Prevote => &mut self.prevotes,
            VoteKind::Precommit => &mut self.precommits,
        }
    }
}

/// A proposed block: its reference, the body rebuilt from this node's final
/// set once it holds every transaction, and, once computed, whether it is
/// valid.
#[derive(Clone, Debug)]
pub(crate) struct Candidate {
    reference: BlockRef,
    block: Option<Block>,
    /// Txids of the reference this node did not hold final when it last
    /// looked (`None` before the first look).
    missing: Option<Vec<TxId>>,
    /// Who sent the reference: asked first for what is missing.
    source: NodeId,
    checked: Option<Option<CheckedBlock>>,
}

impl Candidate {
    fn new(reference: BlockRef, source: NodeId) -> Candidate {
        Candidate { reference, block: None, missing: None, source, checked: None }
    }

    /// Takes `reference` (another copy, same header) in place of a copy
    /// that was found invalid; see `Core::offer_body`.
    fn offer(&mut self, reference: &BlockRef, source: NodeId) {
        if matches!(self.checked, Some(None)) && self.reference != *reference {
            *self = Candidate::new(reference.clone(), source);
        }
    }
}

/// valid(v) as far as this node can tell now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Validity {
    Valid,
    Invalid,
    /// Transactions the block references are not final here yet; they were
    /// asked for. Tendermint waits for the proposal until timeoutPropose.
    Waiting,
}

/// The state of the height being agreed.
#[derive(Clone, Debug)]
pub(crate) struct HeightState {
    pub(crate) height: u64,
    pub(crate) round: u32,
    pub(crate) step: Step,
    locked: Option<(u32, BlockHash)>,
    valid: Option<(u32, BlockHash)>,
    proposals: BTreeMap<u32, (BlockHash, Proposal)>,
    candidates: HashMap<BlockHash, Candidate>,
    votes: BTreeMap<u32, RoundVotes>,
    own_votes: BTreeMap<(u32, VoteKind), BlockVote>,
    own_proposals: BTreeMap<u32, Proposal>,
    /// Each voter's latest votes of a round beyond the next (at most two).
    far_votes: BTreeMap<MemberIndex, Vec<BlockVote>>,
    prevote_timer: BTreeSet<u32>,
    precommit_timer: BTreeSet<u32>,
    line36_done: BTreeSet<u32>,
    decided: bool,
    /// Block fetches asked for at this height (which signer to ask next).
    body_fetches: usize,
    proposals_resent_at: Millis,
}

impl HeightState {
    pub(crate) fn new(height: u64) -> HeightState {
        HeightState {
            height,
            round: 0,
            step: Step::NewHeight,
            locked: None,
            valid: None,
            proposals: BTreeMap::new(),
            candidates: HashMap::new(),
            votes: BTreeMap::new(),
            own_votes: BTreeMap::new(),
            own_proposals: BTreeMap::new(),
            far_votes: BTreeMap::new(),
            prevote_timer: BTreeSet::new(),
            precommit_timer: BTreeSet::new(),
            line36_done: BTreeSet::new(),
            decided: false,
            body_fetches: 0,
            proposals_resent_at: 0,
        }
    }

    /// Reloads this node's own messages at this height after a restart and
    /// rebuilds lockedValue / validValue from its precommits: a precommit for
    /// v in round r means it locked v in r (paper line 38).
    pub(crate) fn restore_own(&mut self, proposals: Vec<Proposal>, votes: Vec<BlockVote>) {
        for proposal in proposals.into_iter().filter(|p| p.height == self.height) {
            self.own_proposals.insert(proposal.round, proposal);
        }
        for vote in votes.into_iter().filter(|v| v.height == self.height) {
            if vote.kind == VoteKind::Precommit
                && let Some(hash) = vote.block
                && self.locked.is_none_or(|(r, _)| r < vote.round)
            {
                self.locked = Some((vote.round, hash));
                self.valid = Some((vote.round, hash));
            }
            self.own_votes.insert((vote.round, vote.kind), vote);
        }
    }

    /// (votes of rounds beyond the next, far-round votes, proposals of
    /// rounds beyond the next): what peers could make this height hold.
    pub(crate) fn held(&self) -> (usize, usize, usize) {
        let beyond = self.round.saturating_add(2);
        let votes = self
            .votes
            .range(beyond..)
            .map(|(_, v)| all_votes(&v.prevotes).count() + all_votes(&v.precommits).count());
        let far = self.far_votes.values().map(Vec::len).sum();
        (votes.sum(), far, self.proposals.range(beyond..).count())
    }

    fn weight(
        &self,
        committee: &protocol::Committee,
        round: u32,
        kind: VoteKind,
        block: Option<Option<BlockHash>>,
    ) -> u64 {
        let Some(votes) = self.votes.get(&round) else { return 0 };
        committee.weight_of(
            votes
                .of(kind)
                .iter()
                .filter(|(_, votes)| votes.iter().any(|v| block.is_none_or(|b| v.block == b)))
                .map(|(voter, _)| *voter),
        )
    }
}

/// A certificate's share of [`Block::size`].
fn certificate_bytes(certificate: &protocol::finality::FinalityCertificate) -> u64 {
    certificate.votes.iter().map(|v| (2 + 8 + 64 + 4 + 32 * v.proof.siblings.len()) as u64).sum()
}

/// How often full proposals are re-sent (votes are re-sent every tick).
const PROPOSAL_RESEND_MS: u64 = 2_000;
/// Rounds of the next height whose messages are kept until it starts.
pub(crate) const FUTURE_ROUNDS: u32 = 1;

impl Core {
    /// A one-line account of the height being agreed: per round, the
    /// proposal and the prevote / precommit tallies (for diagnostics).
    pub fn describe_height(&self) -> String {
        let mut out = format!(
            "h{} r{} {} locked={:?} valid={:?} decided={}",
            self.hs.height,
            self.hs.round,
            self.hs.step.as_str(),
            self.hs.locked.map(|(r, h)| (r, h.to_hex()[..6].to_string())),
            self.hs.valid.map(|(r, h)| (r, h.to_hex()[..6].to_string())),
            self.hs.decided
        );
        for (round, votes) in &self.hs.votes {
            let tally = |m: &BTreeMap<MemberIndex, Vec<BlockVote>>| {
                all_votes(m)
                    .map(|v| {
                        format!(
                            "{}:{}",
                            v.voter,
                            v.block.map_or("nil".to_string(), |b| b.to_hex()[..6].to_string())
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let proposal = self.hs.proposals.get(round).map(|(h, _)| h.to_hex()[..6].to_string());
            out.push_str(&format!(
                " | r{round} prop={proposal:?} pv[{}] pc[{}]",
                tally(&votes.prevotes),
                tally(&votes.precommits)
            ));
        }
        out
    }

    fn timeout(&self, base: u64, round: u32) -> u64 {
        // Grows linearly per round (the paper's timeout(r) = base + r·Δ),
        // capped so a long partition does not leave minute-long rounds.
        base + self.params.timeout_delta_ms * u64::from(round.min(20))
    }

    pub(crate) fn on_start_height(&mut self, height: u64) {
        if self.hs.height == height && self.hs.step == Step::NewHeight && !self.hs.decided {
            self.start_round(0);
        }
    }

    /// StartRound(round), paper lines 11-21.
    fn start_round(&mut self, round: u32) {
        if round > 0 && round > self.hs.round {
            self.view_changes += u64::from(round - self.hs.round);
        }
        self.hs.round = round;
        self.hs.step = Step::Propose;
        // Votes kept as "latest beyond the next round" now fit the window.
        let window = round.saturating_add(1);
        let mut promoted = Vec::new();
        self.hs.far_votes.retain(|_, votes| {
            if votes.first().is_some_and(|v| v.round <= window) {
                promoted.append(votes);
                false
            } else {
                true
            }
        });
        for vote in promoted {
            self.record_vote(vote);
        }
        let height = self.hs.height;
        let proposer = self.committee.proposer(height, round);
        if Some(proposer) == self.my_index {
            // Line 14-19: re-propose validValue, or a new block.
            let proposal = if let Some(own) = self.hs.own_proposals.get(&round) {
                own.clone()
            } else {
                let valid = self.hs.valid.and_then(|(valid_round, hash)| {
                    let candidate = self.hs.candidates.get(&hash)?;
                    Some((candidate.reference.clone(), valid_round))
                });
                let (reference, valid_round) = match valid {
                    Some((reference, valid_round)) => (reference, Some(valid_round)),
                    None => (self.build_block(round).reference(self.chain), None),
                };
                let proposal = Proposal::sign(self.chain, &self.key, round, valid_round, reference);
                self.hs.own_proposals.insert(round, proposal.clone());
                self.out.push(Output::Persist(PersistOp::OwnProposal(Box::new(proposal.clone()))));
                proposal
            };
            self.broadcast(Message::Proposal(Box::new(proposal.clone())));
            let me = self.me;
            self.accept_proposal(proposal, me);
        } else {
            // Line 21.
            let at = self.now + self.timeout(self.params.propose_timeout_ms, round);
            self.out.push(Output::SetTimer { timer: Timer::Propose(height, round), at });
        }
        self.progress();
    }

    /// getValue(): the coinbase and final transactions that fit, parents
    /// before children.
    fn build_block(&mut self, round: u32) -> Block {
        // Settle this input's finality first so every transaction carried
        // is durable as final here before the proposal leaves.
        self.flush_settlements();
        let height = self.hs.height;
        let params = self.params.clone();
        let mut txs = Vec::new();
        let mut certificates = Vec::new();
        let mut bytes = 0u64;
        let mut fees = Amount::ZERO;
        let mut created: HashMap<OutPoint, TxOut> = HashMap::new();
        let mut spent: HashSet<OutPoint> = HashSet::new();
        let mut included: HashSet<TxId> = HashSet::new();
        let order: Vec<TxId> = self.pool.final_order.values().copied().collect();
        // Parents usually finalize first; a few passes catch the rest.
        for _pass in 0..3 {
            let mut progress = false;
            for txid in &order {
                if included.contains(txid) {
                    continue;
                }
                let Some(entry) = self.pool.entries.get(txid) else { continue };
                let Some(certificate) = &entry.certificate else { continue };
                let tx = &entry.tx;
                let cost = tx.size() as u64 + certificate_bytes(certificate);
                if txs.len() + 2 > params.max_block_txs as usize
                    || bytes + cost > params.max_block_bytes
                {
                    continue;
                }
                let available = tx.inputs.iter().all(|i| {
                    !spent.contains(&i.prev)
                        && (created.contains_key(&i.prev) || self.ledger.utxo(&i.prev).is_some())
                });
                if !available {
                    continue;
                }
                let Some(fee) = self.pool.fee_of(&self.ledger, tx, &created) else { continue };
                let Some(total) = fees.checked_add(fee) else { continue };
                fees = total;
                for input in &tx.inputs {
                    spent.insert(input.prev);
                }
                for (vout, output) in tx.outputs.iter().enumerate() {
                    created.insert(OutPoint { txid: *txid, vout: vout as u32 }, *output);
                }
                bytes += cost;
                txs.push(tx.clone());
                certificates.push(certificate.clone());
                included.insert(*txid);
                progress = true;
            }
            if !progress {
                break;
            }
        }
        let timestamp = (self.now as i64).max(self.ledger.tip_header().timestamp + 1);
        let proposer = self.my_index.unwrap_or(0);
        let coinbase = expected_coinbase(
            &self.committee,
            Amount::from_sat(params.block_reward_sat),
            height,
            timestamp,
            proposer,
            fees,
        )
        .unwrap_or_else(|| protocol::Transaction::coinbase(height, timestamp, Vec::new()));
        txs.insert(0, coinbase);
        self.ledger.assemble(height, txs, certificates, timestamp, self.me, round)
    }

    /// A proposal arrived (or this node made one). Its signature is checked
    /// before anything else looks at it, whatever its height.
    pub(crate) fn on_proposal(&mut self, from: NodeId, proposal: Proposal) {
        if proposal.verify(self.chain, &self.committee, &mut self.keys).is_err() {
            self.refuse(from, Refusal::BadSignature);
            return;
        }
        // A block with more transactions than the rules allow is invalid
        // anywhere: not kept (its bytes are checked once it is rebuilt).
        if proposal.block.tx_count() > self.params.max_block_txs as usize {
            self.refuse(from, Refusal::BadRange);
            return;
        }
        if proposal.height != self.hs.height {
            let (height, round) = (proposal.height, proposal.round);
            self.on_other_height(from, height, round, Message::Proposal(Box::new(proposal)));
            return;
        }
        // Proposals of later rounds wait for their proposer's re-send; only
        // the next round's is kept (a proposer cannot make this node hold a
        // block per round it might ever reach).
        if proposal.round > self.hs.round.saturating_add(1) {
            self.refuse(from, Refusal::TooFarAhead);
            return;
        }
        self.accept_proposal(proposal, from);
        self.progress();
    }

    /// Files a proposal whose signature checked, received from `from`.
    fn accept_proposal(&mut self, proposal: Proposal, from: NodeId) {
        let hash = proposal.block.hash(self.chain);
        if let Some((existing, _)) = self.hs.proposals.get(&proposal.round) {
            if *existing != hash {
                // The proposer signed two blocks for one round.
                self.equivocations += 1;
            } else {
                self.offer_body(&hash, &proposal.block, from);
            }
            return;
        }
        match self.hs.candidates.entry(hash) {
            std::collections::hash_map::Entry::Occupied(mut slot) => {
                slot.get_mut().offer(&proposal.block, from)
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(Candidate::new(proposal.block.clone(), from));
            }
        }
        self.hs.proposals.insert(proposal.round, (hash, proposal));
    }

    /// Another copy of block `hash`. The proposal's signature covers the
    /// header only, so a relayer (or the proposer) can send a coinbase or
    /// txid list that fails where another copy would pass: a copy found
    /// invalid is replaced by a different one and checked again, instead of
    /// condemning the hash.
    fn offer_body(&mut self, hash: &BlockHash, reference: &BlockRef, from: NodeId) {
        if let Some(candidate) = self.hs.candidates.get_mut(hash) {
            candidate.offer(reference, from);
        }
    }

    /// A prevote or precommit arrived (or this node cast one). Its
    /// signature is checked before anything else looks at it.
    pub(crate) fn on_block_vote(&mut self, from: NodeId, vote: BlockVote) {
        if vote.verify(self.chain, &self.committee, &mut self.keys).is_err() {
            self.refuse(from, Refusal::BadSignature);
            return;
        }
        if vote.height != self.hs.height {
            let (height, round) = (vote.height, vote.round);
            self.on_other_height(from, height, round, Message::BlockVote(vote));
            return;
        }
        self.record_vote(vote);
        self.progress();
    }

    /// Files a verified vote of this height. Rounds up to the next one are
    /// kept in full; of later rounds only each voter's latest (what line 55
    /// needs to follow a committee that moved on), so no voter can make
    /// this node hold a vote per round.
    fn record_vote(&mut self, vote: BlockVote) {
        if vote.round > self.hs.round.saturating_add(1) {
            let slot = self.hs.far_votes.entry(vote.voter).or_default();
            match slot.first() {
                Some(held) if held.round > vote.round => {}
                Some(held) if held.round == vote.round => {
                    if !slot.iter().any(|v| v.kind == vote.kind) {
                        slot.push(vote);
                    }
                }
                _ => *slot = vec![vote],
            }
            return;
        }
        let known = vote.block.is_none_or(|hash| self.hs.candidates.contains_key(&hash));
        let slot = self
            .hs
            .votes
            .entry(vote.round)
            .or_default()
            .of_mut(vote.kind)
            .entry(vote.voter)
            .or_default();
        if slot.iter().any(|v| v.block == vote.block) {
            return;
        }
        let Some(first) = slot.first().cloned() else {
            slot.push(vote);
            return;
        };
        if known {
            slot.push(vote.clone());
        }
        let evidence = Evidence::BlockVotes(Box::new(first), Box::new(vote));
        self.equivocations += 1;
        self.out.push(Output::Event(Event::Equivocation(evidence)));
    }

    /// Verified messages for a height this node is not at: keep a bounded
    /// few of the next height's for later, ask a sender that is ahead for
    /// blocks (only a hint: a member can sign any height, so this never
    /// makes the node think it is behind), help a peer that is one behind.
    fn on_other_height(&mut self, from: NodeId, height: u64, round: u32, message: Message) {
        if height == self.hs.height.saturating_add(1) {
            if round > FUTURE_ROUNDS {
                self.refuse(from, Refusal::TooFarAhead);
                return;
            }
            let key = match &message {
                Message::Proposal(p) => (0, self.committee.proposer(p.height, p.round), p.round),
                Message::BlockVote(v) => (1 + v.kind.code(), v.voter, v.round),
                _ => return,
            };
            self.future.entry(key).or_insert((from, message));
        } else if height > self.hs.height.saturating_add(1) {
            self.ask_blocks(from);
        } else if height == self.ledger.height() && height > 0 {
            // The peer still works on the height this node committed last.
            if let Some(commit) = self.ledger.last_commit().cloned() {
                self.send(from, Message::Blocks(vec![commit]));
            }
        }
    }

    fn is_valid(&mut self, hash: &BlockHash) -> bool {
        self.validity(hash) == Validity::Valid
    }

    /// A proposal of this height waits for transactions to become final
    /// here: each input may bring them, so the round rules are applied
    /// again after it.
    pub(crate) fn awaiting_bodies(&self) -> bool {
        !self.hs.decided
            && self.hs.candidates.values().any(|c| c.block.is_none() && c.checked.is_none())
    }

    /// valid(v), computed once per block body (see `offer_body`), after
    /// the body is rebuilt from this node's final set (`rebuild`). A
    /// timestamp ahead of this node's clock is not remembered as invalid:
    /// the block may become valid as time passes.
    fn validity(&mut self, hash: &BlockHash) -> Validity {
        let Some(candidate) = self.hs.candidates.get(hash) else { return Validity::Invalid };
        if let Some(checked) = &candidate.checked {
            return if checked.is_some() { Validity::Valid } else { Validity::Invalid };
        }
        let header = candidate.reference.header.clone();
        let result = match self.rebuild(hash) {
            Ok(false) => return Validity::Waiting,
            Ok(true) => self.check_candidate(hash),
            Err(error) => Err(error),
        };
        let result = match result {
            Ok(checked) => Some(checked),
            Err(error) => {
                self.out.push(Output::Event(Event::ProposalRejected {
                    height: header.height,
                    round: header.round,
                    reason: error.to_string(),
                }));
                if error.is_transient() {
                    return Validity::Invalid;
                }
                None
            }
        };
        let validity = if result.is_some() { Validity::Valid } else { Validity::Invalid };
        if let Some(candidate) = self.hs.candidates.get_mut(hash) {
            candidate.checked = Some(result);
        }
        validity
    }

    /// Checks a rebuilt candidate's block. Its transactions and certificates
    /// are this node's own final entries, verified when they became final,
    /// so only the rules of the block as a whole remain to check.
    fn check_candidate(&mut self, hash: &BlockHash) -> Result<CheckedBlock, BlockError> {
        let Some(block) = self.hs.candidates.get(hash).and_then(|c| c.block.as_ref()) else {
            return Err(BlockError::Transaction { index: 0, reason: "no body".into() });
        };
        let pool = &self.pool;
        let held = |txid: &TxId, tx: &protocol::Transaction, certificate: &FinalityCertificate| {
            pool.entries.get(txid).is_some_and(|e| {
                e.state == TxState::Final
                    && e.tx == *tx
                    && e.certificate.as_ref() == Some(certificate)
            })
        };
        let checked = self.ledger.check_block(
            block,
            &self.committee,
            self.now,
            &mut self.verified_votes,
            &held,
        )?;
        let held_body = |txid: &TxId, tx: &protocol::Transaction| {
            pool.entries.get(txid).is_some_and(|e| e.tx == *tx)
        };
        self.ledger.check_signatures(block, &mut self.verifier, &held_body)?;
        Ok(checked)
    }

    /// Rebuilds the body of candidate `hash` from this node's final set:
    /// true once it is whole; false while transactions are missing (asked
    /// of the sender, then of other members as retries come due); an error
    /// when the reference cannot be the block its header commits to, or
    /// names a transaction already committed.
    fn rebuild(&mut self, hash: &BlockHash) -> Result<bool, BlockError> {
        let Some(candidate) = self.hs.candidates.get(hash) else { return Ok(false) };
        if candidate.block.is_some() {
            return Ok(true);
        }
        let reference = &candidate.reference;
        let first_look = candidate.missing.is_none();
        let final_entry = |txid: &TxId| {
            self.pool
                .entries
                .get(txid)
                .filter(|e| e.state == TxState::Final)
                .and_then(|e| e.certificate.as_ref().map(|c| (&e.tx, c)))
        };
        let missing: Vec<TxId> = match &candidate.missing {
            Some(missing) => missing.iter().filter(|t| final_entry(t).is_none()).copied().collect(),
            None => {
                if reference.tx_count() > self.params.max_block_txs as usize {
                    return Err(BlockError::Limits { txs: reference.tx_count(), bytes: 0 });
                }
                if !reference.binds(self.chain) {
                    return Err(BlockError::MerkleRoot);
                }
                reference.txids.iter().filter(|t| final_entry(t).is_none()).copied().collect()
            }
        };
        if missing.is_empty() {
            let mut txs = Vec::with_capacity(reference.tx_count());
            let mut certificates = Vec::with_capacity(reference.txids.len());
            txs.push(reference.coinbase.clone());
            for txid in &reference.txids {
                let Some((tx, certificate)) = final_entry(txid) else { return Ok(false) };
                txs.push(tx.clone());
                certificates.push(certificate.clone());
            }
            let block = Block { header: reference.header.clone(), txs, certificates };
            if let Some(candidate) = self.hs.candidates.get_mut(hash) {
                candidate.block = Some(block);
                candidate.missing = Some(Vec::new());
            }
            return Ok(true);
        }
        // A reference naming a committed transaction is refused early, at
        // first sight only: this is an index read per txid, and a candidate
        // waiting for thousands of bodies (a node restarted behind) is
        // looked at on every event; a txid cannot become committed while
        // the candidate's height is pending, and `check_block` refuses
        // duplicates anyway once the body is whole.
        if first_look {
            for txid in &missing {
                if self
                    .ledger
                    .committed_height(txid)
                    .map_err(|e| BlockError::Index(e.to_string()))?
                    .is_some()
                {
                    return Err(BlockError::Duplicate(*txid));
                }
            }
        }
        // The sender first, then the other members in turn as retries
        // (paced per txid) come due.
        let source = candidate.source;
        let attempts = missing
            .iter()
            .filter_map(|t| self.requests.bodies.get(t))
            .map(|(_, n)| *n)
            .max()
            .unwrap_or(0);
        let others = self.committee.members().iter().map(|m| m.id);
        let peers: Vec<NodeId> = std::iter::once(source)
            .chain(others.filter(|id| *id != source))
            .filter(|id| *id != self.me)
            .collect();
        if let Some(candidate) = self.hs.candidates.get_mut(hash) {
            candidate.missing = Some(missing.clone());
        }
        if let Some(peer) = peers.get(attempts % peers.len().max(1)) {
            self.request_bodies(*peer, missing);
        }
        Ok(false)
    }

    /// Applies every `upon` rule that holds until none does.
    pub(crate) fn progress(&mut self) {
        loop {
            if self.hs.decided {
                return;
            }
            if self.try_decide() {
                return;
            }
            if self.hs.step == Step::NewHeight {
                return;
            }
            if self.try_skip_round() {
                continue;
            }
            if !self.apply_round_rules() {
                return;
            }
        }
    }

    /// Line 49: upon PROPOSAL(h, r, v, ∗) and 2f+1 PRECOMMIT(h, r, id(v)),
    /// while decision[h] = nil: if valid(v), decide v. The body of v may
    /// have come with any round's proposal (or a re-proposal): precommits of
    /// weight ≥ q for it in round r are a commit whichever message brought
    /// the block, so every round's precommits are looked at.
    fn try_decide(&mut self) -> bool {
        let quorum = self.committee.quorum();
        let mut committed: Vec<(u32, BlockHash, Vec<MemberIndex>)> = Vec::new();
        for (round, votes) in &self.hs.votes {
            let mut by_block: BTreeMap<BlockHash, Vec<MemberIndex>> = BTreeMap::new();
            for vote in all_votes(&votes.precommits) {
                if let Some(hash) = vote.block {
                    by_block.entry(hash).or_default().push(vote.voter);
                }
            }
            for (hash, voters) in by_block {
                if self.committee.weight_of(voters.iter().copied()) >= quorum
                    && voters.len() >= self.ledger.min_masternodes()
                {
                    committed.push((*round, hash, voters));
                }
            }
        }
        for (round, hash, _) in &committed {
            if self.is_valid(hash) {
                self.decide(*round, *hash);
                return true;
            }
        }
        // Committed by its signers but no body here, or only one that failed:
        // the signers hold a good one. Ask one (another each time; asking a
        // peer is paced), so a signer that withholds cannot hold this node.
        if let Some((_, hash, voters)) = committed.first() {
            let usable = self
                .hs
                .candidates
                .get(hash)
                .is_some_and(|c| c.block.is_some() && !matches!(c.checked, Some(None)));
            let others: Vec<MemberIndex> =
                voters.iter().copied().filter(|v| Some(*v) != self.my_index).collect();
            if !usable && !others.is_empty() {
                let voter = others[self.hs.body_fetches % others.len()];
                self.hs.body_fetches = self.hs.body_fetches.wrapping_add(1);
                if let Some(id) = self.committee.member(voter).map(|m| m.id) {
                    self.ask_blocks(id);
                }
            }
        }
        false
    }

    /// A verified commit certificate for the height being agreed (a peer
    /// committed it): its precommits are signed votes like any others, so
    /// they go into the vote set. A member that withholds its precommits but
    /// shows its certificate (or an honest node that saw it) lets this node
    /// decide.
    pub(crate) fn absorb_commit(&mut self, certificate: &CommitCertificate) {
        if certificate.height != self.hs.height || self.hs.decided {
            return;
        }
        for (voter, signature) in
            certificate.signer_indexes().into_iter().zip(&certificate.signatures)
        {
            self.record_vote(BlockVote {
                kind: VoteKind::Precommit,
                height: certificate.height,
                round: certificate.round,
                block: Some(certificate.block),
                voter,
                signature: *signature,
            });
        }
        self.progress();
    }

    fn decide(&mut self, round: u32, hash: BlockHash) {
        let Some(Candidate { block: Some(block), checked: Some(Some(checked)), .. }) =
            self.hs.candidates.remove(&hash)
        else {
            return;
        };
        let precommits: Vec<BlockVote> = self
            .hs
            .votes
            .get(&round)
            .map(|v| all_votes(&v.precommits).cloned().collect())
            .unwrap_or_default();
        let certificate = CommitCertificate::from_precommits(
            &self.committee,
            self.hs.height,
            round,
            hash,
            precommits.iter(),
        );
        self.hs.decided = true;
        self.commit_block(block, checked, certificate, round);
    }

    /// Line 55: upon f+1 messages of a round above ours, start that round.
    /// Generalised to what is kept (each voter's latest round beyond the
    /// next): the highest round that voters of weight > W − q reached or
    /// passed, so at least one honest node is there.
    fn try_skip_round(&mut self) -> bool {
        let max_faulty = self.committee.max_faulty();
        let current = self.hs.round;
        let mut latest: BTreeMap<MemberIndex, u32> = BTreeMap::new();
        let mut note = |voter: MemberIndex, round: u32| {
            let entry = latest.entry(voter).or_insert(round);
            *entry = (*entry).max(round);
        };
        for (round, votes) in self.hs.votes.range(current.saturating_add(1)..) {
            votes.prevotes.keys().chain(votes.precommits.keys()).for_each(|v| note(*v, *round));
        }
        for round in self.hs.proposals.range(current.saturating_add(1)..).map(|(r, _)| *r) {
            note(self.committee.proposer(self.hs.height, round), round);
        }
        for (voter, votes) in &self.hs.far_votes {
            if let Some(vote) = votes.first() {
                note(*voter, vote.round);
            }
        }
        let mut ahead: Vec<(u32, MemberIndex)> =
            latest.into_iter().filter(|(_, r)| *r > current).map(|(v, r)| (r, v)).collect();
        ahead.sort_by(|a, b| b.cmp(a));
        let mut weight = 0;
        for (round, voter) in ahead {
            weight += self.committee.weight(voter);
            if weight > max_faulty {
                self.start_round(round);
                return true;
            }
        }
        false
    }

    /// The rules of the current round; true if one fired.
    fn apply_round_rules(&mut self) -> bool {
        let round = self.hs.round;
        let quorum = self.committee.quorum();
        let proposal = self.hs.proposals.get(&round).map(|(h, p)| (*h, p.valid_round));
        if self.hs.step == Step::Propose
            && let Some((hash, valid_round)) = proposal
        {
            match valid_round {
                // Line 22: a fresh proposal (once its body is rebuilt here,
                // or found invalid; until then it is as if not yet received).
                None => {
                    let validity = self.validity(&hash);
                    if validity != Validity::Waiting {
                        let ok = validity == Validity::Valid
                            && self.hs.locked.is_none_or(|(_, locked)| locked == hash);
                        self.cast(VoteKind::Prevote, ok.then_some(hash));
                        return true;
                    }
                }
                // Line 28: a re-proposal backed by 2f+1 prevotes in vr < r.
                Some(vr) if vr < round => {
                    let backed =
                        self.hs.weight(&self.committee, vr, VoteKind::Prevote, Some(Some(hash)))
                            >= quorum;
                    let validity = if backed { self.validity(&hash) } else { Validity::Waiting };
                    if validity != Validity::Waiting {
                        let ok = validity == Validity::Valid
                            && self.hs.locked.is_none_or(|(lr, locked)| lr <= vr || locked == hash);
                        self.cast(VoteKind::Prevote, ok.then_some(hash));
                        return true;
                    }
                }
                Some(_) => {}
            }
        }
        // Line 34: 2f+1 prevotes of any kind, first time: timeoutPrevote.
        if self.hs.step == Step::Prevote
            && !self.hs.prevote_timer.contains(&round)
            && self.hs.weight(&self.committee, round, VoteKind::Prevote, None) >= quorum
        {
            self.hs.prevote_timer.insert(round);
            let at = self.now + self.timeout(self.params.prevote_timeout_ms, round);
            self.out.push(Output::SetTimer { timer: Timer::Prevote(self.hs.height, round), at });
            return true;
        }
        // Line 36: proposal and 2f+1 prevotes for it, valid, step ≥ prevote,
        // first time.
        if self.hs.step >= Step::Prevote
            && !self.hs.line36_done.contains(&round)
            && let Some((hash, _)) = proposal
            && self.hs.weight(&self.committee, round, VoteKind::Prevote, Some(Some(hash))) >= quorum
            && self.is_valid(&hash)
        {
            self.hs.line36_done.insert(round);
            if self.hs.step == Step::Prevote {
                self.hs.locked = Some((round, hash));
                self.cast(VoteKind::Precommit, Some(hash));
            }
            self.hs.valid = Some((round, hash));
            return true;
        }
        // validValue from an earlier round of this height (as CometBFT does,
        // `vote.Round <= cs.Round`): a proof-of-lock that arrives after its
        // round still tells the next proposer what to re-propose. Safe:
        // receivers check the 2f+1 prevotes themselves (line 28).
        if self.update_valid_from_past_rounds() {
            return true;
        }
        // Line 44: 2f+1 nil prevotes.
        if self.hs.step == Step::Prevote
            && self.hs.weight(&self.committee, round, VoteKind::Prevote, Some(None)) >= quorum
        {
            self.cast(VoteKind::Precommit, None);
            return true;
        }
        // Line 47: 2f+1 precommits of any kind, first time: timeoutPrecommit.
        if !self.hs.precommit_timer.contains(&round)
            && self.hs.weight(&self.committee, round, VoteKind::Precommit, None) >= quorum
        {
            self.hs.precommit_timer.insert(round);
            let at = self.now + self.timeout(self.params.precommit_timeout_ms, round);
            self.out.push(Output::SetTimer { timer: Timer::Precommit(self.hs.height, round), at });
            return true;
        }
        false
    }

    fn update_valid_from_past_rounds(&mut self) -> bool {
        let quorum = self.committee.quorum();
        let floor = self.hs.valid.map(|(r, _)| r);
        let candidates: Vec<(u32, BlockHash)> = self
            .hs
            .proposals
            .range(..=self.hs.round)
            .rev()
            .filter(|(r, _)| floor.is_none_or(|f| **r > f))
            .map(|(r, (h, _))| (*r, *h))
            .collect();
        for (round, hash) in candidates {
            if self.hs.weight(&self.committee, round, VoteKind::Prevote, Some(Some(hash))) >= quorum
                && self.is_valid(&hash)
            {
                self.hs.valid = Some((round, hash));
                return true;
            }
        }
        false
    }

    /// Broadcasts this node's prevote or precommit for the current round
    /// (persisted first), moving to the matching step. A vote already cast
    /// in this (round, step), before a restart too, is re-sent unchanged.
    fn cast(&mut self, kind: VoteKind, block: Option<BlockHash>) {
        let round = self.hs.round;
        self.hs.step = match kind {
            VoteKind::Prevote => Step::Prevote,
            VoteKind::Precommit => Step::Precommit,
        };
        // Block votes are cast while catching up too: they are for this
        // node's next height, which peers ahead of it ignore, and skipping
        // one would leave the node in a step it never voted in (a stall when
        // its vote is needed). Transaction votes do wait for catch-up.
        let Some(me) = self.my_index else { return };
        let vote = match self.hs.own_votes.get(&(round, kind)) {
            Some(existing) => existing.clone(),
            None => {
                let vote =
                    BlockVote::sign(self.chain, &self.key, me, kind, self.hs.height, round, block);
                self.hs.own_votes.insert((round, kind), vote.clone());
                self.out.push(Output::Persist(PersistOp::OwnBlockVote(vote.clone())));
                vote
            }
        };
        self.broadcast(Message::BlockVote(vote.clone()));
        self.record_vote(vote);
    }

    /// Line 57: OnTimeoutPropose.
    pub(crate) fn on_timeout_propose(&mut self, height: u64, round: u32) {
        if height == self.hs.height && round == self.hs.round && self.hs.step == Step::Propose {
            self.cast(VoteKind::Prevote, None);
            self.progress();
        }
    }

    /// Line 61: OnTimeoutPrevote.
    pub(crate) fn on_timeout_prevote(&mut self, height: u64, round: u32) {
        if height == self.hs.height && round == self.hs.round && self.hs.step == Step::Prevote {
            self.cast(VoteKind::Precommit, None);
            self.progress();
        }
    }

    /// Line 65: OnTimeoutPrecommit.
    pub(crate) fn on_timeout_precommit(&mut self, height: u64, round: u32) {
        if height == self.hs.height && round == self.hs.round && !self.hs.decided {
            self.start_round(round + 1);
        }
    }

    /// Sends a newly connected peer this node's messages of the current
    /// round, so a height started before the peer connected need not wait
    /// for a timeout.
    pub(crate) fn send_round_to(&mut self, peer: NodeId) {
        if self.hs.step == Step::NewHeight || self.hs.decided {
            return;
        }
        let round = self.hs.round;
        if let Some(proposal) = self.hs.own_proposals.get(&round).cloned() {
            self.send(peer, Message::Proposal(Box::new(proposal)));
        }
        for kind in [VoteKind::Prevote, VoteKind::Precommit] {
            if let Some(vote) = self.hs.own_votes.get(&(round, kind)).cloned() {
                self.send(peer, Message::BlockVote(vote));
            }
        }
    }

    /// Re-sends this node's own messages of the current round, and the
    /// proof-of-lock of its valid value (the proposal and the prevotes that
    /// make it valid): lossy links must not stall a round, and a lock others
    /// never heard of must not stall the height.
    pub(crate) fn rebroadcast_round(&mut self) {
        if self.hs.step == Step::NewHeight || self.hs.decided {
            return;
        }
        // Proposals are big: re-send them only every PROPOSAL_RESEND_MS.
        let resend_proposals = self.now >= self.hs.proposals_resent_at + PROPOSAL_RESEND_MS;
        if resend_proposals {
            self.hs.proposals_resent_at = self.now;
        }
        if let Some((valid_round, hash)) = self.hs.valid
            && let Some(proposal) = self.proposal_to_relay(valid_round)
        {
            if resend_proposals {
                self.broadcast(Message::Proposal(Box::new(proposal)));
            }
            let prevotes: Vec<BlockVote> = self
                .hs
                .votes
                .get(&valid_round)
                .map(|v| {
                    all_votes(&v.prevotes).filter(|p| p.block == Some(hash)).cloned().collect()
                })
                .unwrap_or_default();
            for vote in prevotes {
                self.broadcast(Message::BlockVote(vote));
            }
        }
        let round = self.hs.round;
        if resend_proposals && let Some(proposal) = self.hs.own_proposals.get(&round).cloned() {
            self.broadcast(Message::Proposal(Box::new(proposal)));
        }
        for kind in [VoteKind::Prevote, VoteKind::Precommit] {
            if let Some(vote) = self.hs.own_votes.get(&(round, kind)).cloned() {
                self.broadcast(Message::BlockVote(vote));
            }
        }
    }

    /// The proposal of `round` with the reference this node holds for its
    /// block (the one checked valid, if a first copy failed).
    fn proposal_to_relay(&self, round: u32) -> Option<Proposal> {
        let (hash, proposal) = self.hs.proposals.get(&round)?;
        let block = self.hs.candidates.get(hash).map_or(&proposal.block, |c| &c.reference);
        Some(Proposal {
            height: proposal.height,
            round: proposal.round,
            valid_round: proposal.valid_round,
            block: block.clone(),
            signature: proposal.signature,
        })
    }

    /// Commits a block (decided here or certified by peers): ledger, pool,
    /// persistence, events, and the next height.
    pub(crate) fn commit_block(
        &mut self,
        mut block: Block,
        checked: CheckedBlock,
        certificate: CommitCertificate,
        round: u32,
    ) {
        self.flush_settlements();
        // Neither kept nor stored (the commit certificate vouches for the
        // block), so not copied: at 1,000 tx/s they are most of a block.
        block.certificates = Vec::new();
        let txids = block.txids(self.chain);
        let height = block.header.height;
        let hash = checked.hash;
        let committed = self.ledger.apply(block.clone(), &txids, checked, certificate);
        self.out.push(Output::Persist(PersistOp::Commit(Box::new(committed))));
        self.out.push(Output::Event(Event::BlockCommitted {
            height,
            hash,
            round,
            txids: txids.clone(),
        }));
        // Transactions of the block leave the pool; ones this node had not
        // seen final are final now (a committed block is stronger).
        for (tx, txid) in block.txs.iter().zip(&txids).skip(1) {
            let was_final = self.pool.entries.get(txid).is_some_and(|e| e.state == TxState::Final);
            if let Some(entry) = self.pool.entries.remove(txid) {
                match entry.state {
                    TxState::Pending | TxState::Contested | TxState::Conflicted => {
                        self.pool.pending_count = self.pool.pending_count.saturating_sub(1);
                        self.pool.pending_bytes =
                            self.pool.pending_bytes.saturating_sub(entry.size);
                    }
                    TxState::WaitingForParent => {
                        self.pool.orphan_count = self.pool.orphan_count.saturating_sub(1);
                        self.pool.orphan_bytes = self.pool.orphan_bytes.saturating_sub(entry.size);
                    }
                    _ => {}
                }
                if let Some(seq) = entry.final_seq {
                    self.pool.final_order.remove(&seq);
                }
                self.pool.unindex_spender(txid, &entry.tx);
            }
            for (vout, _) in tx.outputs.iter().enumerate() {
                self.pool.final_outputs.remove(&OutPoint { txid: *txid, vout: vout as u32 });
            }
            for input in &tx.inputs {
                self.pool.final_spent.remove(&input.prev);
                // Spent in a block: no lock on it matters any more.
                self.pool.locks.remove(&input.prev);
            }
            self.pool.tallies.remove(txid);
            self.own_pending.retain(|t| t != txid);
            if !was_final {
                self.out.push(Output::Event(Event::TxState {
                    txid: *txid,
                    state: TxState::Final,
                    rejection: None,
                    weight: 0,
                }));
            }
        }
        // Anything else spending what the block spent lost; orphans of the
        // block's transactions can be re-evaluated.
        let losers: Vec<TxId> = block
            .txs
            .iter()
            .flat_map(|tx| tx.inputs.iter())
            .filter_map(|input| self.pool.spenders.get(&input.prev).cloned())
            .flatten()
            .collect();
        for loser in losers {
            if !txids.contains(&loser) {
                self.mark_lost(loser);
            }
        }
        // What was given up on and is now settled on chain needs no account.
        let mut settled_abandoned = false;
        for input in block.txs.iter().flat_map(|tx| &tx.inputs) {
            settled_abandoned |= self.pool.abandoned_voters.remove(&input.prev).is_some();
        }
        if settled_abandoned {
            let voters = &self.pool.abandoned_voters;
            self.pool.abandoned.retain(|_, inputs| inputs.iter().any(|op| voters.contains_key(op)));
        }
        for txid in &txids {
            self.wake_orphans(*txid);
        }
        self.prune_vote_batches();
        self.recent_rounds.push_back((height, round));
        while self.recent_rounds.len() > 32 {
            self.recent_rounds.pop_front();
        }
        self.flush_settlements();
        // Next height after the block interval (timeoutCommit).
        self.hs = HeightState::new(height + 1);
        let at = self.now + self.params.block_interval_ms;
        self.out.push(Output::SetTimer { timer: Timer::StartHeight(height + 1), at });
        let future = std::mem::take(&mut self.future);
        for (from, message) in future.into_values() {
            match message {
                Message::Proposal(p) => self.on_proposal(from, *p),
                Message::BlockVote(v) => self.on_block_vote(from, v),
                _ => {}
            }
        }
    }

    /// Forgets vote batches whose transactions are all settled, or that are
    /// older than ten minutes.
    fn prune_vote_batches(&mut self) {
        let now = self.now;
        for index in 0..self.voters.len() {
            while let Some((seq, (batch, at))) =
                self.voters[index].batches.first_key_value().map(|(s, b)| (*s, b.clone()))
            {
                // A committed transaction's tally went with its block.
                let settled = batch.txids.iter().all(|t| {
                    self.pool.settled.contains_key(t) || !self.pool.tallies.contains_key(t)
                });
                if !(settled || now > at + 600_000) {
                    break;
                }
                let voter = &mut self.voters[index];
                voter.batches.remove(&seq);
                voter.held_txids = voter.held_txids.saturating_sub(batch.txids.len());
                voter.pruned_below = voter.pruned_below.max(seq + 1);
                voter.contiguous = voter.contiguous.max(seq);
            }
        }
        let live: HashSet<TxId> = self.pool.entries.keys().copied().collect();
        self.own_batches.retain(|_, b| b.txids.iter().any(|t| live.contains(t)));
    }
}
