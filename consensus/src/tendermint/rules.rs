//! Tendermint's `upon` rules (Buchman, Kwon, Milosevic 2018, Algorithm 1),
//! each labelled with the paper's line number, applied until none holds.

use std::collections::BTreeMap;

use protocol::bft::{BlockVote, VoteKind};
use protocol::{BlockHash, MemberIndex};

use super::Tendermint;
use super::block::Validity;
use super::height::{Step, all_votes};
use crate::ctx::Ctx;
use crate::finality::Finality;
use crate::io::{Output, PersistOp, Timer};
use crate::message::Message;

impl Tendermint {
    /// Applies every `upon` rule that holds until none does.
    pub(crate) fn progress(&mut self, cx: &mut Ctx, fin: &Finality) {
        loop {
            if self.hs.decided {
                return;
            }
            if self.try_decide(cx, fin) {
                return;
            }
            if self.hs.step == Step::NewHeight {
                return;
            }
            if self.try_skip_round(cx, fin) {
                continue;
            }
            if !self.apply_round_rules(cx, fin) {
                return;
            }
        }
    }

    /// Line 49: upon PROPOSAL(h, r, v, ∗) and 2f+1 PRECOMMIT(h, r, id(v)),
    /// while decision[h] = nil: if valid(v), decide v. The body of v may
    /// have come with any round's proposal (or a re-proposal): precommits of
    /// weight ≥ q for it in round r are a commit whichever message brought
    /// the block, so every round's precommits are looked at.
    pub(super) fn try_decide(&mut self, cx: &mut Ctx, fin: &Finality) -> bool {
        let quorum = cx.committee.quorum();
        let mut committed: Vec<(u32, BlockHash, Vec<MemberIndex>)> = Vec::new();
        for (round, votes) in &self.hs.votes {
            let mut by_block: BTreeMap<BlockHash, Vec<MemberIndex>> = BTreeMap::new();
            for vote in all_votes(&votes.precommits) {
                if let Some(hash) = vote.block {
                    by_block.entry(hash).or_default().push(vote.voter);
                }
            }
            for (hash, voters) in by_block {
                if cx.committee.weight_of(voters.iter().copied()) >= quorum
                    && voters.len() >= cx.ledger.min_masternodes()
                {
                    committed.push((*round, hash, voters));
                }
            }
        }
        for (round, hash, _) in &committed {
            if self.is_valid(cx, fin, hash) {
                self.decide(cx, *round, *hash);
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
                voters.iter().copied().filter(|v| Some(*v) != cx.my_index).collect();
            if !usable && !others.is_empty() {
                let voter = others[self.hs.body_fetches % others.len()];
                self.hs.body_fetches = self.hs.body_fetches.wrapping_add(1);
                if let Some(id) = cx.committee.member(voter).map(|m| m.id) {
                    cx.ask_blocks(id);
                }
            }
        }
        false
    }

    /// Line 55: upon f+1 messages of a round above ours, start that round.
    /// Generalised to what is kept (each voter's latest round beyond the
    /// next): the highest round that voters of weight > W − q reached or
    /// passed, so at least one honest node is there.
    pub(super) fn try_skip_round(&mut self, cx: &mut Ctx, fin: &Finality) -> bool {
        let max_faulty = cx.committee.max_faulty();
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
            note(cx.committee.proposer(self.hs.height, round), round);
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
            weight += cx.committee.weight(voter);
            if weight > max_faulty {
                self.start_round(cx, fin, round);
                return true;
            }
        }
        false
    }

    /// The rules of the current round; true if one fired.
    pub(super) fn apply_round_rules(&mut self, cx: &mut Ctx, fin: &Finality) -> bool {
        let round = self.hs.round;
        let quorum = cx.committee.quorum();
        let proposal = self.hs.proposals.get(&round).map(|(h, p)| (*h, p.valid_round));
        if self.hs.step == Step::Propose
            && let Some((hash, valid_round)) = proposal
        {
            match valid_round {
                // Line 22: a fresh proposal (once its body is rebuilt here,
                // or found invalid; until then it is as if not yet received).
                None => {
                    let validity = self.validity(cx, fin, &hash);
                    if validity != Validity::Waiting {
                        let ok = validity == Validity::Valid
                            && self.hs.locked.is_none_or(|(_, locked)| locked == hash);
                        self.cast(cx, VoteKind::Prevote, ok.then_some(hash));
                        return true;
                    }
                }
                // Line 28: a re-proposal backed by 2f+1 prevotes in vr < r.
                Some(vr) if vr < round => {
                    let backed =
                        self.hs.weight(&cx.committee, vr, VoteKind::Prevote, Some(Some(hash)))
                            >= quorum;
                    let validity =
                        if backed { self.validity(cx, fin, &hash) } else { Validity::Waiting };
                    if validity != Validity::Waiting {
                        let ok = validity == Validity::Valid
                            && self.hs.locked.is_none_or(|(lr, locked)| lr <= vr || locked == hash);
                        self.cast(cx, VoteKind::Prevote, ok.then_some(hash));
                        return true;
                    }
                }
                Some(_) => {}
            }
        }
        // Line 34: 2f+1 prevotes of any kind, first time: timeoutPrevote.
        if self.hs.step == Step::Prevote
            && !self.hs.prevote_timer.contains(&round)
            && self.hs.weight(&cx.committee, round, VoteKind::Prevote, None) >= quorum
        {
            self.hs.prevote_timer.insert(round);
            let at = cx.now + self.timeout(cx, cx.params.prevote_timeout_ms, round);
            cx.out.push(Output::SetTimer { timer: Timer::Prevote(self.hs.height, round), at });
            return true;
        }
        // Line 36: proposal and 2f+1 prevotes for it, valid, step ≥ prevote,
        // first time.
        if self.hs.step >= Step::Prevote
            && !self.hs.line36_done.contains(&round)
            && let Some((hash, _)) = proposal
            && self.hs.weight(&cx.committee, round, VoteKind::Prevote, Some(Some(hash))) >= quorum
            && self.is_valid(cx, fin, &hash)
        {
            self.hs.line36_done.insert(round);
            if self.hs.step == Step::Prevote {
                self.hs.locked = Some((round, hash));
                self.cast(cx, VoteKind::Precommit, Some(hash));
            }
            self.hs.valid = Some((round, hash));
            return true;
        }
        // validValue from an earlier round of this height (as CometBFT does,
        // `vote.Round <= cs.Round`): a proof-of-lock that arrives after its
        // round still tells the next proposer what to re-propose. Safe:
        // receivers check the 2f+1 prevotes themselves (line 28).
        if self.update_valid_from_past_rounds(cx, fin) {
            return true;
        }
        // Line 44: 2f+1 nil prevotes.
        if self.hs.step == Step::Prevote
            && self.hs.weight(&cx.committee, round, VoteKind::Prevote, Some(None)) >= quorum
        {
            self.cast(cx, VoteKind::Precommit, None);
            return true;
        }
        // Line 47: 2f+1 precommits of any kind, first time: timeoutPrecommit.
        if !self.hs.precommit_timer.contains(&round)
            && self.hs.weight(&cx.committee, round, VoteKind::Precommit, None) >= quorum
        {
            self.hs.precommit_timer.insert(round);
            let at = cx.now + self.timeout(cx, cx.params.precommit_timeout_ms, round);
            cx.out.push(Output::SetTimer { timer: Timer::Precommit(self.hs.height, round), at });
            return true;
        }
        false
    }

    pub(super) fn update_valid_from_past_rounds(&mut self, cx: &mut Ctx, fin: &Finality) -> bool {
        let quorum = cx.committee.quorum();
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
            if self.hs.weight(&cx.committee, round, VoteKind::Prevote, Some(Some(hash))) >= quorum
                && self.is_valid(cx, fin, &hash)
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
    pub(super) fn cast(&mut self, cx: &mut Ctx, kind: VoteKind, block: Option<BlockHash>) {
        let round = self.hs.round;
        self.hs.step = match kind {
            VoteKind::Prevote => Step::Prevote,
            VoteKind::Precommit => Step::Precommit,
        };
        // Block votes are cast while catching up too: they are for this
        // node's next height, which peers ahead of it ignore, and skipping
        // one would leave the node in a step it never voted in (a stall when
        // its vote is needed). Transaction votes do wait for catch-up.
        let Some(me) = cx.my_index else { return };
        let vote = match self.hs.own_votes.get(&(round, kind)) {
            Some(existing) => existing.clone(),
            None => {
                let vote =
                    BlockVote::sign(cx.chain, &cx.key, me, kind, self.hs.height, round, block);
                self.hs.own_votes.insert((round, kind), vote.clone());
                cx.out.push(Output::Persist(PersistOp::OwnBlockVote(vote.clone())));
                vote
            }
        };
        cx.broadcast(Message::BlockVote(vote.clone()));
        self.record_vote(cx, vote);
    }
}
