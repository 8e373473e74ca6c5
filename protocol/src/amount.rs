//! Amounts of TIME in satoshis, with checked arithmetic only.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Satoshis per TIME.
pub const SAT_PER_TIME: u64 = 100_000_000;

/// An amount in satoshis (1 TIME = 100,000,000 sat).
///
/// There is deliberately no `Add` or `Sub`: every sum in the protocol can
/// overflow on hostile input, so every sum is checked.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Amount(u64);

impl Amount {
    /// Nothing.
    pub const ZERO: Amount = Amount(0);
    /// One TIME.
    pub const ONE_TIME: Amount = Amount(SAT_PER_TIME);
    /// The largest representable amount.
    pub const MAX: Amount = Amount(u64::MAX);

    /// `sat` satoshis.
    pub const fn from_sat(sat: u64) -> Self {
        Amount(sat)
    }

    /// Whole TIME, or `None` on overflow.
    pub const fn from_time(time: u64) -> Option<Self> {
        match time.checked_mul(SAT_PER_TIME) {
            Some(sat) => Some(Amount(sat)),
            None => None,
        }
    }

    /// The value in satoshis.
    pub const fn sat(self) -> u64 {
        self.0
    }

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).map(Amount)
    }

    /// `self - other`, or `None` if `other` is larger.
    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.0.checked_sub(other.0).map(Amount)
    }

    /// `self * n`, or `None` on overflow.
    pub fn checked_mul(self, n: u64) -> Option<Amount> {
        self.0.checked_mul(n).map(Amount)
    }

    /// The sum of `amounts`, or `None` on overflow.
    pub fn checked_sum<I: IntoIterator<Item = Amount>>(amounts: I) -> Option<Amount> {
        amounts.into_iter().try_fold(Amount::ZERO, Amount::checked_add)
    }
}

impl fmt::Display for Amount {
    /// Prints TIME with up to eight decimals and no trailing zeros: `1.5`,
    /// `0.00000546`, `100`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / SAT_PER_TIME;
        let frac = self.0 % SAT_PER_TIME;
        if frac == 0 {
            write!(f, "{whole}")
        } else {
            let digits = format!("{frac:08}");
            write!(f, "{whole}.{}", digits.trim_end_matches('0'))
        }
    }
}

/// Why a TIME amount did not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AmountParseError {
    /// Empty, or not of the form `123` / `1.5`.
    #[error("not an amount of TIME (expected a number such as 1.5): {0:?}")]
    Malformed(String),
    /// More than eight digits after the decimal point.
    #[error("too many decimals in {0:?}: TIME has at most 8 (1 sat = 0.00000001)")]
    TooPrecise(String),
    /// Larger than the largest amount.
    #[error("amount {0:?} is too large")]
    Overflow(String),
}

impl FromStr for Amount {
    type Err = AmountParseError;

    /// Parses TIME as written by people: `1`, `1.5`, `0.00000546`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let malformed = || AmountParseError::Malformed(text.to_string());
        let (whole, frac) = match text.split_once('.') {
            Some((w, f)) => (w, f),
            None => (text, ""),
        };
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !all_digits(whole) || !all_digits(frac) {
            return Err(malformed());
        }
        if text.contains('.') && frac.is_empty() {
            return Err(malformed());
        }
        if frac.len() > 8 {
            return Err(AmountParseError::TooPrecise(text.to_string()));
        }
        let overflow = || AmountParseError::Overflow(text.to_string());
        let whole: u64 = whole.parse().map_err(|_| overflow())?;
        let frac_sat: u64 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<8}").parse().map_err(|_| malformed())?
        };
        whole
            .checked_mul(SAT_PER_TIME)
            .and_then(|sat| sat.checked_add(frac_sat))
            .map(Amount)
            .ok_or_else(overflow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_trims_trailing_zeros() {
        assert_eq!(Amount::from_sat(150_000_000).to_string(), "1.5");
        assert_eq!(Amount::from_sat(546).to_string(), "0.00000546");
        assert_eq!(Amount::from_sat(100 * SAT_PER_TIME).to_string(), "100");
        assert_eq!(Amount::ZERO.to_string(), "0");
    }

    #[test]
    fn parse_accepts_people_amounts() {
        assert_eq!("1.5".parse::<Amount>().unwrap(), Amount::from_sat(150_000_000));
        assert_eq!("0.00000001".parse::<Amount>().unwrap(), Amount::from_sat(1));
        assert_eq!("42".parse::<Amount>().unwrap(), Amount::from_time(42).unwrap());
    }

    #[test]
    fn parse_rejects_malformed_precise_and_huge() {
        for bad in ["", ".5", "1.", "-1", "1e3", "1,5", " 1", "abc"] {
            assert!(matches!(bad.parse::<Amount>(), Err(AmountParseError::Malformed(_))), "{bad}");
        }
        assert!(matches!("0.000000001".parse::<Amount>(), Err(AmountParseError::TooPrecise(_))));
        assert!(matches!(
            "184467440737.09551616".parse::<Amount>(),
            Err(AmountParseError::Overflow(_))
        ));
    }

    #[test]
    fn checked_arithmetic_never_wraps() {
        assert_eq!(Amount::MAX.checked_add(Amount::from_sat(1)), None);
        assert_eq!(Amount::ZERO.checked_sub(Amount::from_sat(1)), None);
        assert_eq!(Amount::checked_sum([Amount::MAX, Amount::from_sat(1)]), None);
        assert_eq!(
            Amount::checked_sum([Amount::from_sat(2), Amount::from_sat(3)]),
            Some(Amount::from_sat(5))
        );
    }

    proptest::proptest! {
        #[test]
        fn display_then_parse_is_identity(sat in proptest::prelude::any::<u64>()) {
            let a = Amount::from_sat(sat);
            proptest::prop_assert_eq!(a.to_string().parse::<Amount>().unwrap(), a);
        }
    }
}
