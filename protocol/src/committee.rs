//! The committee as consensus uses it: members sorted by id with their
//! weights, the quorum, and the proposer schedule.

use std::collections::HashMap;

use crate::address::AddressPayload;
use crate::genesis::{Genesis, Tier};
use crate::ids::NodeId;
use crate::quorum::{max_faulty, quorum};

/// A member's position in the committee sorted by id (what bitmaps and
/// certificates use).
pub type MemberIndex = u16;

/// The longest proposer schedule built (see [`Committee::proposer`]).
pub const MAX_SCHEDULE: usize = 1 << 14;

/// One committee member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Its id (public key).
    pub id: NodeId,
    /// Its tier.
    pub tier: Tier,
    /// Its voting weight (from the tier table in genesis).
    pub voting_weight: u64,
    /// Where its coinbase share goes.
    pub reward_address: AddressPayload,
    /// Its P2P address from genesis.
    pub p2p_address: String,
}

/// The committee fixed by genesis.
#[derive(Clone, Debug)]
pub struct Committee {
    members: Vec<Member>,
    by_id: HashMap<NodeId, MemberIndex>,
    total_weight: u64,
    quorum: u64,
    schedule: Vec<MemberIndex>,
}

impl Committee {
    /// The committee of a validated genesis.
    pub fn from_genesis(genesis: &Genesis) -> Committee {
        let members: Vec<Member> = genesis
            .committee
            .iter()
            .map(|m| Member {
                id: m.id,
                tier: m.tier,
                voting_weight: genesis.params.voting_weight(m.tier),
                reward_address: m.reward_address.payload,
                p2p_address: m.p2p_address.clone(),
            })
            .collect();
        Committee::new(members)
    }

    /// A committee of `members` (sorted here by id; at most
    /// [`crate::genesis::MAX_COMMITTEE`] are kept, as genesis validation
    /// requires, so indexes fit a [`MemberIndex`]).
    pub fn new(mut members: Vec<Member>) -> Committee {
        members.sort_by_key(|m| m.id);
        members.dedup_by_key(|m| m.id);
        members.truncate(crate::genesis::MAX_COMMITTEE);
        let by_id = members.iter().enumerate().map(|(i, m)| (m.id, i as MemberIndex)).collect();
        let total_weight = members.iter().map(|m| m.voting_weight).fold(0u64, u64::saturating_add);
        let schedule = proposer_schedule(&members);
        Committee { members, by_id, total_weight, quorum: quorum(total_weight), schedule }
    }

    /// Members sorted by id.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// How many members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// True when there are no members.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The member at `index`.
    pub fn member(&self, index: MemberIndex) -> Option<&Member> {
        self.members.get(usize::from(index))
    }

    /// The index of `id`, if it is a member.
    pub fn index_of(&self, id: &NodeId) -> Option<MemberIndex> {
        self.by_id.get(id).copied()
    }

    /// True when `id` is a member.
    pub fn contains(&self, id: &NodeId) -> bool {
        self.by_id.contains_key(id)
    }

    /// The voting weight of member `index` (0 if there is none).
    pub fn weight(&self, index: MemberIndex) -> u64 {
        self.member(index).map_or(0, |m| m.voting_weight)
    }

    /// Total voting weight W.
    pub fn total_weight(&self) -> u64 {
        self.total_weight
    }

    /// q = ⌊2W/3⌋ + 1.
    pub fn quorum(&self) -> u64 {
        self.quorum
    }

    /// W − q: the faulty weight tolerated.
    pub fn max_faulty(&self) -> u64 {
        max_faulty(self.total_weight)
    }

    /// The summed weight of the distinct members in `indexes`.
    pub fn weight_of<I: IntoIterator<Item = MemberIndex>>(&self, indexes: I) -> u64 {
        let mut seen = vec![false; self.members.len()];
        let mut total = 0u64;
        for i in indexes {
            if let Some(slot) = seen.get_mut(usize::from(i))
                && !*slot
            {
                *slot = true;
                total = total.saturating_add(self.weight(i));
            }
        }
        total
    }

    /// The proposer of (`height`, `round`): position `height + round` of the
    /// smooth weighted round-robin over the sorted committee, which is plain
    /// round-robin when weights are equal.
    pub fn proposer(&self, height: u64, round: u32) -> MemberIndex {
        let slot = height.wrapping_add(u64::from(round)) % self.schedule.len().max(1) as u64;
        self.schedule.get(slot as usize).copied().unwrap_or(0)
    }
}

/// One period of the smooth weighted round-robin (nginx's): each step, every
/// member gains its weight, the richest (lowest index on ties) is chosen and
/// pays the total. Weights are divided by their gcd first. Equal weights give
/// a period of n (plain round-robin); the default tier weights give at most a
/// few thousand slots. A genesis whose reduced weights sum past
/// [`MAX_SCHEDULE`] gets the first `MAX_SCHEDULE` slots of the sequence
/// (still deterministic, slightly less proportional), which bounds the cost
/// of building a committee to `MAX_SCHEDULE` × members steps.
fn proposer_schedule(members: &[Member]) -> Vec<MemberIndex> {
    if members.is_empty() {
        return Vec::new();
    }
    let divisor = members.iter().map(|m| m.voting_weight.max(1)).fold(0, gcd);
    let weights: Vec<i128> =
        members.iter().map(|m| i128::from(m.voting_weight.max(1) / divisor)).collect();
    let total: i128 = weights.iter().sum();
    let period = total.min(MAX_SCHEDULE as i128) as usize;
    let mut current = vec![0i128; members.len()];
    let mut schedule = Vec::with_capacity(period);
    for _ in 0..period {
        for (c, w) in current.iter_mut().zip(&weights) {
            *c += w;
        }
        let (best, _) = current
            .iter()
            .enumerate()
            .max_by(|(ia, a), (ib, b)| a.cmp(b).then(ib.cmp(ia)))
            .unwrap_or((0, &0));
        current[best] -= total;
        schedule.push(best as MemberIndex);
    }
    schedule
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: u8, weight: u64) -> Member {
        Member {
            id: NodeId([id; 32]),
            tier: Tier::Free,
            voting_weight: weight,
            reward_address: AddressPayload([id; 20]),
            p2p_address: String::new(),
        }
    }

    #[test]
    fn equal_weights_rotate_in_id_order() {
        let c = Committee::new(vec![member(3, 1), member(1, 1), member(2, 1)]);
        assert_eq!(c.member(0).unwrap().id, NodeId([1; 32]));
        let order: Vec<_> = (0..6).map(|h| c.proposer(h, 0)).collect();
        assert_eq!(order, vec![0, 1, 2, 0, 1, 2]);
        assert_eq!(c.proposer(0, 1), 1, "the next round goes to the next member");
    }

    #[test]
    fn weighted_round_robin_is_proportional_and_interleaved() {
        let c = Committee::new(vec![member(1, 1), member(2, 2), member(3, 1)]);
        let period: Vec<_> = (0..4).map(|h| c.proposer(h, 0)).collect();
        assert_eq!(period.iter().filter(|&&i| i == 1).count(), 2);
        assert_ne!(period[0], period[1], "a heavy member does not propose twice in a row here");
    }

    #[test]
    fn weight_of_counts_each_member_once() {
        let c = Committee::new(vec![member(1, 1), member(2, 10)]);
        assert_eq!(c.weight_of([0, 0, 1, 1, 7]), 11);
        assert_eq!(c.total_weight(), 11);
        assert_eq!(c.quorum(), 8);
    }
}
