//! The coinbase: the block reward plus fees, split among the committee by
//! block-reward weight (floor division), the remainder to the proposer (the
//! original's split; the original rejected any block that carried fees).

use crate::amount::Amount;
use crate::committee::{Committee, MemberIndex};
use crate::tx::{Transaction, TxOut};

/// The outputs paying `total` to the committee: one per member with a
/// non-zero share, in committee order; the rounding remainder goes to the
/// proposer's output. `None` if `proposer` is not a member.
pub fn coinbase_outputs(
    committee: &Committee,
    proposer: MemberIndex,
    total: Amount,
) -> Option<Vec<TxOut>> {
    committee.member(proposer)?;
    let weights: Vec<u128> =
        committee.members().iter().map(|m| u128::from(m.tier.reward_weight())).collect();
    let weight_sum: u128 = weights.iter().sum();
    let total_sat = u128::from(total.sat());
    let mut shares: Vec<u128> = weights.iter().map(|w| total_sat * w / weight_sum.max(1)).collect();
    let paid: u128 = shares.iter().sum();
    shares[usize::from(proposer)] += total_sat - paid;
    Some(
        committee
            .members()
            .iter()
            .zip(shares)
            .filter(|(_, share)| *share > 0)
            .map(|(member, share)| TxOut {
                // Each share is at most `total`, which is a u64.
                value: Amount::from_sat(u64::try_from(share).unwrap_or(u64::MAX)),
                address: member.reward_address,
            })
            .collect(),
    )
}

/// The coinbase a block at `height` by `proposer` must carry, given the fees
/// of its other transactions. `None` on overflow or an unknown proposer.
pub fn expected_coinbase(
    committee: &Committee,
    block_reward: Amount,
    height: u64,
    timestamp: i64,
    proposer: MemberIndex,
    fees: Amount,
) -> Option<Transaction> {
    let total = block_reward.checked_add(fees)?;
    let outputs = coinbase_outputs(committee, proposer, total)?;
    Some(Transaction::coinbase(height, timestamp, outputs))
}
