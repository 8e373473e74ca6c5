//! Block agreement: Tendermint (Buchman, Kwon, Milosevic 2018, "The latest
//! gossip on BFT consensus", Algorithm 1). Each `upon` rule is labelled with
//! the paper's line number. "2f+1" is weight ≥ q; "f+1" is weight > W − q.
//!
//! Differences from the paper, all local: a height starts the block interval
//! after the previous commit (Tendermint's timeoutCommit); own proposals and
//! votes are persisted before they are sent and reloaded after a restart, so
//! a node never signs two different messages for one (height, round, step).
//!
//! The engine owns the height being agreed and the messages kept for the
//! next one; it reads the final set from the finality engine and hands a
//! decided block to [`crate::Core`], which commits it.
//!
//! | concern | file |
//! |---|---|
//! | the height's state: step, votes, proposals, locks | `height.rs` |
//! | building, rebuilding and checking blocks | `block.rs` |
//! | the `upon` rules | `rules.rs` |

mod block;
mod height;
mod rules;

use std::collections::{BTreeMap, HashMap, VecDeque};

use protocol::bft::{BlockVote, CommitCertificate, Proposal, VoteKind};
use protocol::block::{Block, BlockRef};
use protocol::{BlockHash, MemberIndex, NodeId};

use crate::ctx::{BLOCK_REQUEST_RETRY_MS, Ctx};
use crate::finality::Finality;
use crate::io::Refusal;
use crate::io::{Event, Evidence, Millis, Output, PersistOp, Timer};
use crate::ledger::CheckedBlock;
use crate::message::Message;
use block::Candidate;
use height::{HeightState, Step, all_votes};

/// How often full proposals are re-sent (votes are re-sent every tick).
const PROPOSAL_RESEND_MS: u64 = 2_000;
/// Rounds of the next height whose messages are kept until it starts.
pub(crate) const FUTURE_ROUNDS: u32 = 1;

/// A block this node decided, for the core to commit.
#[derive(Debug)]
pub(crate) struct Decided {
    pub(crate) block: Block,
    pub(crate) checked: CheckedBlock,
    pub(crate) certificate: CommitCertificate,
    pub(crate) round: u32,
}

/// The Tendermint engine's state (see the module doc).
#[derive(Debug)]
pub(crate) struct Tendermint {
    hs: HeightState,
    /// Verified messages of the next height, at most one per (kind,
    /// signer, round) for its first rounds.
    future: BTreeMap<(u8, MemberIndex, u32), (NodeId, Message)>,
    /// (height, rounds used) of recent commits, newest last.
    recent_rounds: VecDeque<(u64, u32)>,
    view_changes: u64,
    equivocations: u64,
    /// Decided and not yet taken by the core.
    decision: Option<Decided>,
    /// The height committed last here, and when each peer that sent a
    /// message of it was last pushed its block.
    pushed: (u64, HashMap<NodeId, Millis>),
}

impl Tendermint {
    /// The engine at `height`, with this node's own messages at that height
    /// persisted before a restart (it never signs differently).
    pub(crate) fn new(
        height: u64,
        own_proposals: Vec<Proposal>,
        own_votes: Vec<BlockVote>,
    ) -> Self {
        let mut hs = HeightState::new(height);
        hs.restore_own(own_proposals, own_votes);
        Tendermint {
            hs,
            future: BTreeMap::new(),
            recent_rounds: VecDeque::new(),
            view_changes: 0,
            equivocations: 0,
            decision: None,
            pushed: (0, HashMap::new()),
        }
    }

    /// The height being agreed.
    pub(crate) fn height(&self) -> u64 {
        self.hs.height
    }

    /// A block decided here since the last call, to commit.
    pub(crate) fn take_decision(&mut self) -> Option<Decided> {
        self.decision.take()
    }

    /// `height` was committed in `round`: the next height starts after the
    /// block interval (timeoutCommit). Returns the messages kept for it, to
    /// be handled again now.
    pub(crate) fn next_height(
        &mut self,
        cx: &mut Ctx,
        height: u64,
        round: u32,
    ) -> Vec<(NodeId, Message)> {
        self.recent_rounds.push_back((height, round));
        while self.recent_rounds.len() > 32 {
            self.recent_rounds.pop_front();
        }
        self.hs = HeightState::new(height + 1);
        let at = cx.now + cx.params.block_interval_ms;
        cx.out.push(Output::SetTimer { timer: Timer::StartHeight(height + 1), at });
        std::mem::take(&mut self.future).into_values().collect()
    }

    /// (round, step name) of the height being agreed.
    pub(crate) fn round_step(&self) -> (u32, &'static str) {
        (self.hs.round, self.hs.step.as_str())
    }

    /// Recent commits' rounds, view changes, equivocations seen in
    /// proposals and block votes.
    pub(crate) fn stats(&self) -> (Vec<(u64, u32)>, u64, u64) {
        (self.recent_rounds.iter().copied().collect(), self.view_changes, self.equivocations)
    }

    /// (votes beyond the next round, far-round votes, proposals beyond the
    /// next round, messages kept for the next height).
    pub(crate) fn held(&self) -> (usize, usize, usize, usize) {
        let (votes, far, proposals) = self.hs.held();
        (votes, far, proposals, self.future.len())
    }

    /// A one-line account of the height being agreed: per round, the
    /// proposal and the prevote / precommit tallies (for diagnostics).
    pub(crate) fn describe_height(&self) -> String {
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

    fn timeout(&self, cx: &Ctx, base: u64, round: u32) -> u64 {
        // Grows linearly per round (the paper's timeout(r) = base + r·Δ),
        // capped so a long partition does not leave minute-long rounds.
        base + cx.params.timeout_delta_ms * u64::from(round.min(20))
    }

    pub(crate) fn on_start_height(&mut self, cx: &mut Ctx, fin: &Finality, height: u64) {
        if self.hs.height == height && self.hs.step == Step::NewHeight && !self.hs.decided {
            self.start_round(cx, fin, 0);
        }
    }

    /// StartRound(round), paper lines 11-21.
    fn start_round(&mut self, cx: &mut Ctx, fin: &Finality, round: u32) {
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
            self.record_vote(cx, vote);
        }
        let height = self.hs.height;
        let proposer = cx.committee.proposer(height, round);
        if Some(proposer) == cx.my_index {
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
                    None => (self.build_block(cx, fin, round).reference(cx.chain), None),
                };
                let proposal = Proposal::sign(cx.chain, &cx.key, round, valid_round, reference);
                self.hs.own_proposals.insert(round, proposal.clone());
                cx.out.push(Output::Persist(PersistOp::OwnProposal(Box::new(proposal.clone()))));
                proposal
            };
            cx.broadcast(Message::Proposal(Box::new(proposal.clone())));
            let me = cx.me;
            self.accept_proposal(cx, proposal, me);
        } else {
            // Line 21.
            let at = cx.now + self.timeout(cx, cx.params.propose_timeout_ms, round);
            cx.out.push(Output::SetTimer { timer: Timer::Propose(height, round), at });
        }
        self.progress(cx, fin);
    }

    /// A proposal arrived (or this node made one). Its signature is checked
    /// before anything else looks at it, whatever its height.
    pub(crate) fn on_proposal(
        &mut self,
        cx: &mut Ctx,
        fin: &Finality,
        from: NodeId,
        proposal: Proposal,
    ) {
        if proposal.verify(cx.chain, &cx.committee, &mut cx.keys).is_err() {
            cx.refuse(from, Refusal::BadSignature);
            return;
        }
        // A block with more transactions than the rules allow is invalid
        // anywhere: not kept (its bytes are checked once it is rebuilt).
        if proposal.block.tx_count() > cx.params.max_block_txs as usize {
            cx.refuse(from, Refusal::BadRange);
            return;
        }
        if proposal.height != self.hs.height {
            let (height, round) = (proposal.height, proposal.round);
            self.on_other_height(cx, from, height, round, Message::Proposal(Box::new(proposal)));
            return;
        }
        // Proposals of later rounds wait for their proposer's re-send; only
        // the next round's is kept (a proposer cannot make this node hold a
        // block per round it might ever reach).
        if proposal.round > self.hs.round.saturating_add(1) {
            cx.refuse(from, Refusal::TooFarAhead);
            return;
        }
        self.accept_proposal(cx, proposal, from);
        self.progress(cx, fin);
    }

    /// Files a proposal whose signature checked, received from `from`.
    fn accept_proposal(&mut self, cx: &mut Ctx, proposal: Proposal, from: NodeId) {
        let hash = proposal.block.hash(cx.chain);
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
    pub(crate) fn on_block_vote(
        &mut self,
        cx: &mut Ctx,
        fin: &Finality,
        from: NodeId,
        vote: BlockVote,
    ) {
        if vote.verify(cx.chain, &cx.committee, &mut cx.keys).is_err() {
            cx.refuse(from, Refusal::BadSignature);
            return;
        }
        if vote.height != self.hs.height {
            let (height, round) = (vote.height, vote.round);
            self.on_other_height(cx, from, height, round, Message::BlockVote(vote));
            return;
        }
        self.record_vote(cx, vote);
        self.progress(cx, fin);
    }

    /// Files a verified vote of this height. Rounds up to the next one are
    /// kept in full; of later rounds only each voter's latest (what line 55
    /// needs to follow a committee that moved on), so no voter can make
    /// this node hold a vote per round.
    fn record_vote(&mut self, cx: &mut Ctx, vote: BlockVote) {
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
        cx.out.push(Output::Event(Event::Equivocation(evidence)));
    }

    /// Verified messages for a height this node is not at: keep a bounded
    /// few of the next height's for later, ask a sender that is ahead for
    /// blocks (only a hint: a member can sign any height, so this never
    /// makes the node think it is behind), help a peer that is one behind:
    /// push it the block this node committed last, once per peer and
    /// height (again only after `BLOCK_REQUEST_RETRY_MS`). Most messages of
    /// that height are late votes of peers that committed too (the slowest
    /// precommit of every height arrives after the others committed);
    /// pushing the block for each cost every node about two and a half
    /// whole blocks per peer per height (measured in the simulator: 5,832
    /// pushes over 119 heights of 5 nodes).
    fn on_other_height(
        &mut self,
        cx: &mut Ctx,
        from: NodeId,
        height: u64,
        round: u32,
        message: Message,
    ) {
        if height == self.hs.height.saturating_add(1) {
            if round > FUTURE_ROUNDS {
                cx.refuse(from, Refusal::TooFarAhead);
                return;
            }
            let key = match &message {
                Message::Proposal(p) => (0, cx.committee.proposer(p.height, p.round), p.round),
                Message::BlockVote(v) => (1 + v.kind.code(), v.voter, v.round),
                _ => return,
            };
            self.future.entry(key).or_insert((from, message));
        } else if height > self.hs.height.saturating_add(1) {
            cx.ask_blocks(from);
        } else if height == cx.ledger.height() && height > 0 {
            // The peer may still work on the height this node committed last.
            if self.pushed.0 != height {
                self.pushed = (height, HashMap::new());
            }
            let now = cx.now;
            let due = self
                .pushed
                .1
                .get(&from)
                .is_none_or(|at| now >= at.saturating_add(BLOCK_REQUEST_RETRY_MS));
            if due && let Some(commit) = cx.ledger.last_commit().cloned() {
                self.pushed.1.insert(from, now);
                cx.send(from, Message::Blocks(vec![commit]));
            }
        }
    }

    /// A verified commit certificate for the height being agreed (a peer
    /// committed it): its precommits are signed votes like any others, so
    /// they go into the vote set. A member that withholds its precommits but
    /// shows its certificate (or an honest node that saw it) lets this node
    /// decide.
    pub(crate) fn absorb_commit(
        &mut self,
        cx: &mut Ctx,
        fin: &Finality,
        certificate: &CommitCertificate,
    ) {
        if certificate.height != self.hs.height || self.hs.decided {
            return;
        }
        for (voter, signature) in
            certificate.signer_indexes().into_iter().zip(&certificate.signatures)
        {
            self.record_vote(
                cx,
                BlockVote {
                    kind: VoteKind::Precommit,
                    height: certificate.height,
                    round: certificate.round,
                    block: Some(certificate.block),
                    voter,
                    signature: *signature,
                },
            );
        }
        self.progress(cx, fin);
    }

    fn decide(&mut self, cx: &mut Ctx, round: u32, hash: BlockHash) {
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
            &cx.committee,
            self.hs.height,
            round,
            hash,
            precommits.iter(),
        );
        self.hs.decided = true;
        self.decision = Some(Decided { block, checked, certificate, round });
    }

    /// Line 57: OnTimeoutPropose.
    pub(crate) fn on_timeout_propose(
        &mut self,
        cx: &mut Ctx,
        fin: &Finality,
        height: u64,
        round: u32,
    ) {
        if height == self.hs.height && round == self.hs.round && self.hs.step == Step::Propose {
            self.cast(cx, VoteKind::Prevote, None);
            self.progress(cx, fin);
        }
    }

    /// Line 61: OnTimeoutPrevote.
    pub(crate) fn on_timeout_prevote(
        &mut self,
        cx: &mut Ctx,
        fin: &Finality,
        height: u64,
        round: u32,
    ) {
        if height == self.hs.height && round == self.hs.round && self.hs.step == Step::Prevote {
            self.cast(cx, VoteKind::Precommit, None);
            self.progress(cx, fin);
        }
    }

    /// Line 65: OnTimeoutPrecommit.
    pub(crate) fn on_timeout_precommit(
        &mut self,
        cx: &mut Ctx,
        fin: &Finality,
        height: u64,
        round: u32,
    ) {
        if height == self.hs.height && round == self.hs.round && !self.hs.decided {
            self.start_round(cx, fin, round + 1);
        }
    }

    /// Sends a newly connected peer this node's messages of the current
    /// round, so a height started before the peer connected need not wait
    /// for a timeout.
    pub(crate) fn send_round_to(&mut self, cx: &mut Ctx, peer: NodeId) {
        if self.hs.step == Step::NewHeight || self.hs.decided {
            return;
        }
        let round = self.hs.round;
        if let Some(proposal) = self.hs.own_proposals.get(&round).cloned() {
            cx.send(peer, Message::Proposal(Box::new(proposal)));
        }
        for kind in [VoteKind::Prevote, VoteKind::Precommit] {
            if let Some(vote) = self.hs.own_votes.get(&(round, kind)).cloned() {
                cx.send(peer, Message::BlockVote(vote));
            }
        }
    }

    /// Re-sends this node's own messages of the current round, and the
    /// proof-of-lock of its valid value (the proposal and the prevotes that
    /// make it valid): lossy links must not stall a round, and a lock others
    /// never heard of must not stall the height.
    pub(crate) fn rebroadcast_round(&mut self, cx: &mut Ctx) {
        if self.hs.step == Step::NewHeight || self.hs.decided {
            return;
        }
        // Proposals are big: re-send them only every PROPOSAL_RESEND_MS.
        let resend_proposals = cx.now >= self.hs.proposals_resent_at + PROPOSAL_RESEND_MS;
        if resend_proposals {
            self.hs.proposals_resent_at = cx.now;
        }
        if let Some((valid_round, hash)) = self.hs.valid
            && let Some(proposal) = self.proposal_to_relay(valid_round)
        {
            if resend_proposals {
                cx.broadcast(Message::Proposal(Box::new(proposal)));
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
                cx.broadcast(Message::BlockVote(vote));
            }
        }
        let round = self.hs.round;
        if resend_proposals && let Some(proposal) = self.hs.own_proposals.get(&round).cloned() {
            cx.broadcast(Message::Proposal(Box::new(proposal)));
        }
        for kind in [VoteKind::Prevote, VoteKind::Precommit] {
            if let Some(vote) = self.hs.own_votes.get(&(round, kind)).cloned() {
                cx.broadcast(Message::BlockVote(vote));
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
}
