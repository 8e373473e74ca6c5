//! The state of the height being agreed: Tendermint's step, each round's
//! prevotes and precommits, proposals and candidate blocks, locks, and this
//! node's own messages.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use protocol::bft::{BlockVote, Proposal, VoteKind};
use protocol::{BlockHash, MemberIndex};

use super::block::Candidate;
use crate::io::Millis;

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
    pub(super) prevotes: BTreeMap<MemberIndex, Vec<BlockVote>>,
    pub(super) precommits: BTreeMap<MemberIndex, Vec<BlockVote>>,
}

/// Every vote in one kind's map.
pub(super) fn all_votes(
    map: &BTreeMap<MemberIndex, Vec<BlockVote>>,
) -> impl Iterator<Item = &BlockVote> {
    map.values().flatten()
}

impl RoundVotes {
    pub(super) fn of(&self, kind: VoteKind) -> &BTreeMap<MemberIndex, Vec<BlockVote>> {
        match kind {
            VoteKind::Prevote => &self.prevotes,
            VoteKind::Precommit => &self.precommits,
        }
    }

    pub(super) fn of_mut(&mut self, kind: VoteKind) -> &mut BTreeMap<MemberIndex, Vec<BlockVote>> {
        match kind {
            VoteKind::Prevote => &mut self.prevotes,
            VoteKind::Precommit => &mut self.precommits,
        }
    }
}

/// The state of the height being agreed.
#[derive(Clone, Debug)]
pub(crate) struct HeightState {
    pub(super) height: u64,
    pub(super) round: u32,
    pub(super) step: Step,
    pub(super) locked: Option<(u32, BlockHash)>,
    pub(super) valid: Option<(u32, BlockHash)>,
    pub(super) proposals: BTreeMap<u32, (BlockHash, Proposal)>,
    pub(super) candidates: HashMap<BlockHash, Candidate>,
    pub(super) votes: BTreeMap<u32, RoundVotes>,
    pub(super) own_votes: BTreeMap<(u32, VoteKind), BlockVote>,
    pub(super) own_proposals: BTreeMap<u32, Proposal>,
    /// Each voter's latest votes of a round beyond the next (at most two).
    pub(super) far_votes: BTreeMap<MemberIndex, Vec<BlockVote>>,
    pub(super) prevote_timer: BTreeSet<u32>,
    pub(super) precommit_timer: BTreeSet<u32>,
    pub(super) line36_done: BTreeSet<u32>,
    pub(super) decided: bool,
    /// Block fetches asked for at this height (which signer to ask next).
    pub(super) body_fetches: usize,
    pub(super) proposals_resent_at: Millis,
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

    pub(super) fn weight(
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
