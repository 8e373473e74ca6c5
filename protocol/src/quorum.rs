//! The one quorum function.
//!
//! With total voting weight W, q = ⌊2W/3⌋ + 1. Two sets of weight ≥ q overlap
//! in weight ≥ 2q − W > W/3, so they share an honest masternode as long as the
//! faulty weight is below W/3. (The original node used three different "2/3"
//! formulas; `>= 2n/3` in integer maths gives 3 of 5, which is unsafe.)

/// The weight a certificate, prevote or precommit set needs: ⌊2W/3⌋ + 1.
pub fn quorum(total_weight: u64) -> u64 {
    // u128: 2W overflows u64 for W above 2^63.
    ((2 * u128::from(total_weight)) / 3 + 1) as u64
}

/// The most faulty weight the protocol tolerates: W − q (equals ⌊(W−1)/3⌋).
pub fn max_faulty(total_weight: u64) -> u64 {
    total_weight.saturating_sub(quorum(total_weight))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_equal_nodes_need_four() {
        assert_eq!(quorum(5), 4);
        assert_eq!(max_faulty(5), 1);
    }

    #[test]
    fn small_committees() {
        assert_eq!(quorum(1), 1);
        assert_eq!(quorum(3), 3);
        assert_eq!(quorum(4), 3);
        assert_eq!(quorum(6), 5);
        assert_eq!(quorum(7), 5);
        assert_eq!(quorum(u64::MAX), (u64::MAX / 3) * 2 + 1);
    }

    #[test]
    fn max_faulty_is_floor_of_w_minus_one_over_three() {
        for w in 1..10_000u64 {
            assert_eq!(max_faulty(w), (w - 1) / 3, "W={w}");
        }
    }
}
