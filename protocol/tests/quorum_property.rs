//! The quorum q = ⌊2W/3⌋ + 1 is safe and as small as it can be.
//!
//! PROTOCOL.md §3: any two sets of weight ≥ q overlap in weight > W/3, so
//! they share an honest masternode while the faulty weight is below W/3.
//! Checked for committees of 1 to 200 members with random weights of 1 to
//! 1,000, on quorums built to overlap as little as possible, and exhaustively
//! for small committees. And q − 1 is not enough: with one-node-one-vote
//! weights two sets of weight q − 1 can overlap in at most W/3.

mod common;

use common::proptest_config;
use proptest::collection::vec;
use proptest::prelude::*;
use protocol::committee::Member;
use protocol::quorum::{max_faulty, quorum};
use protocol::{AddressPayload, Committee, MemberIndex, NodeId, Tier};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// A committee whose members have `weights`, with ids in a scrambled order so
/// that the committee's sorted order is not the order of `weights`.
fn committee(weights: &[u64]) -> Committee {
    let members = weights
        .iter()
        .enumerate()
        .map(|(i, &weight)| {
            let mut id = [0u8; 32];
            id[..2].copy_from_slice(&((i as u16).wrapping_mul(40_503)).to_be_bytes());
            id[2..4].copy_from_slice(&(i as u16).to_be_bytes());
            Member {
                id: NodeId(id),
                tier: Tier::Free,
                voting_weight: weight,
                reward_address: AddressPayload([0; 20]),
                p2p_address: String::new(),
            }
        })
        .collect();
    Committee::new(members)
}

/// A set of members, as membership flags over the committee's indexes.
type Set = Vec<bool>;

fn weights_of(committee: &Committee) -> Vec<u64> {
    committee.members().iter().map(|m| m.voting_weight).collect()
}

fn weight(weights: &[u64], set: &Set) -> u64 {
    weights.iter().zip(set).filter(|(_, in_set)| **in_set).map(|(w, _)| w).sum()
}

fn overlap(weights: &[u64], a: &Set, b: &Set) -> u64 {
    weights.iter().zip(a.iter().zip(b)).filter(|(_, (x, y))| **x && **y).map(|(w, _)| w).sum()
}

/// Members taken in `order` until the weight reaches `q`.
fn greedy(weights: &[u64], order: &[usize], q: u64) -> Set {
    let mut set = vec![false; weights.len()];
    let mut total = 0;
    for &i in order {
        if total >= q {
            break;
        }
        set[i] = true;
        total += weights[i];
    }
    set
}

/// Drops members, heaviest first, while the weight stays ≥ q: a minimal quorum.
fn prune(weights: &[u64], mut set: Set, q: u64) -> Set {
    let mut members: Vec<usize> = (0..weights.len()).filter(|&i| set[i]).collect();
    members.sort_by_key(|&i| std::cmp::Reverse(weights[i]));
    let mut total = weight(weights, &set);
    for i in members {
        if total - weights[i] >= q {
            set[i] = false;
            total -= weights[i];
        }
    }
    set
}

/// The quorum that shares as little as a greedy adversary can with `a`: every
/// member outside `a`, then members of `a`, lightest first, until ≥ q.
fn least_overlapping(weights: &[u64], a: &Set, q: u64) -> Set {
    let mut order: Vec<usize> = (0..weights.len()).filter(|&i| !a[i]).collect();
    let mut inside: Vec<usize> = (0..weights.len()).filter(|&i| a[i]).collect();
    inside.sort_by_key(|&i| weights[i]);
    order.extend(inside);
    greedy(weights, &order, q)
}

fn assert_quorum_matches_the_formula(committee: &Committee, weights: &[u64]) {
    let total: u64 = weights.iter().sum();
    assert_eq!(committee.total_weight(), total);
    assert_eq!(committee.quorum(), quorum(total));
    assert_eq!(committee.max_faulty(), total - committee.quorum());
    let all: Vec<MemberIndex> = (0..weights.len() as MemberIndex).collect();
    assert_eq!(committee.weight_of(all), total);
}

proptest! {
    #![proptest_config(proptest_config(128))]

    #[test]
    fn any_two_quorums_overlap_in_more_than_a_third(
        weights in vec(1u64..=1_000, 1..=200),
        order_seed in any::<u64>(),
        random_picks in vec(any::<bool>(), 200),
    ) {
        let committee = committee(&weights);
        let weights = weights_of(&committee);
        assert_quorum_matches_the_formula(&committee, &weights);
        let (total, q) = (committee.total_weight(), committee.quorum());
        let n = weights.len();

        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(order_seed));
        let reversed: Vec<usize> = order.iter().rev().copied().collect();
        let mut by_weight: Vec<usize> = (0..n).collect();
        by_weight.sort_by_key(|&i| weights[i]);
        let heaviest_first: Vec<usize> = by_weight.iter().rev().copied().collect();

        let front = greedy(&weights, &order, q);
        let back = greedy(&weights, &reversed, q);
        let light = greedy(&weights, &by_weight, q);
        let heavy = greedy(&weights, &heaviest_first, q);
        let picked: Set = random_picks[..n].to_vec();
        let topped_up = {
            let mut set = picked.clone();
            let mut w = weight(&weights, &set);
            for &i in &order {
                if w >= q {
                    break;
                }
                if !set[i] {
                    set[i] = true;
                    w += weights[i];
                }
            }
            set
        };
        let mut quorums = vec![
            front.clone(),
            back.clone(),
            light.clone(),
            heavy.clone(),
            prune(&weights, front.clone(), q),
            prune(&weights, topped_up.clone(), q),
            topped_up,
            vec![true; n],
        ];
        for a in [front, back, light, heavy] {
            quorums.push(least_overlapping(&weights, &a, q));
        }
        for (i, a) in quorums.iter().enumerate() {
            prop_assert!(weight(&weights, a) >= q, "set {} has weight below q = {}", i, q);
            for (j, b) in quorums.iter().enumerate() {
                let shared = overlap(&weights, a, b);
                prop_assert!(
                    3 * shared > total,
                    "sets {} and {} overlap in {} of W = {} (q = {}), not more than W/3",
                    i, j, shared, total, q
                );
            }
        }
    }

    #[test]
    fn small_committees_every_pair_of_quorums_overlaps_in_more_than_a_third(
        weights in prop_oneof![vec(1u64..=1_000, 1..=7), (1usize..=7).prop_map(|n| vec![1; n])],
    ) {
        let committee = committee(&weights);
        let weights = weights_of(&committee);
        assert_quorum_matches_the_formula(&committee, &weights);
        let (total, q) = (committee.total_weight(), committee.quorum());
        let n = weights.len();
        let sets: Vec<Set> =
            (0..1u32 << n).map(|mask| (0..n).map(|i| mask & (1 << i) != 0).collect()).collect();
        // The smallest threshold t for which every two sets of weight ≥ t
        // overlap in more than W/3, found by trying every pair.
        let mut safe_threshold = 1;
        for a in &sets {
            for b in &sets {
                if 3 * overlap(&weights, a, b) <= total {
                    let lighter = weight(&weights, a).min(weight(&weights, b));
                    safe_threshold = safe_threshold.max(lighter + 1);
                }
            }
        }
        prop_assert!(q >= safe_threshold, "q = {} but sets of weight {} can overlap in ≤ W/3 ({:?})",
            q, safe_threshold - 1, weights);
        if weights.iter().all(|&w| w == 1) {
            prop_assert_eq!(q, safe_threshold, "with one-node-one-vote q is the least safe threshold");
        }
    }

    #[test]
    fn quorum_is_the_least_weight_above_two_thirds(total in prop_oneof![1u64..10_000, any::<u64>()]) {
        let q = u128::from(quorum(total));
        let w = u128::from(total);
        prop_assert!(3 * q > 2 * w, "q = {} is not above 2W/3 for W = {}", q, w);
        prop_assert!(3 * (q - 1) <= 2 * w, "q − 1 = {} is already above 2W/3 for W = {}", q - 1, w);
        prop_assert!(q <= w, "q = {} exceeds W = {}", q, w);
        prop_assert_eq!(u128::from(max_faulty(total)), w - q);
        prop_assert!(3 * u128::from(max_faulty(total)) < w, "faulty weight must stay below W/3");
    }
}

#[test]
fn one_less_than_the_quorum_is_not_enough_with_unit_weights() {
    for n in 2..=200usize {
        let weights = vec![1u64; n];
        let committee = committee(&weights);
        assert_quorum_matches_the_formula(&committee, &weights);
        let (total, q) = (committee.total_weight(), committee.quorum());
        let below = (q - 1) as usize;
        let a: Set = (0..n).map(|i| i < below).collect();
        let b: Set = (0..n).map(|i| i >= n - below).collect();
        assert_eq!(weight(&weights, &a), q - 1);
        assert_eq!(weight(&weights, &b), q - 1);
        let shared = overlap(&weights, &a, &b);
        assert!(
            3 * shared <= total,
            "n = {n}: two sets of weight q − 1 = {} overlap in {shared} > W/3, so q = {q} is not \
             the smallest safe quorum",
            q - 1
        );
        // ...while two quorums never do.
        let qa: Set = (0..n).map(|i| i < q as usize).collect();
        let qb: Set = (0..n).map(|i| i >= n - q as usize).collect();
        assert!(3 * overlap(&weights, &qa, &qb) > total, "n = {n}");
    }
}

#[test]
fn five_equal_nodes_tolerate_one_fault_and_the_original_formula_does_not() {
    let committee = committee(&[1; 5]);
    assert_eq!((committee.quorum(), committee.max_faulty()), (4, 1));
    // The original `>= 2n/3` in integer maths: 3 of 5, and two such sets
    // ({0,1,2} and {2,3,4}) share one node, not more than 5/3.
    let original = 2 * 5 / 3;
    assert_eq!(original, 3);
    assert!(3 * (2 * original - 5) <= 5);
}
