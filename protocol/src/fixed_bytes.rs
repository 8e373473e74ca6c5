//! Serde for fixed-size byte values: hex text in human-readable formats
//! (JSON, TOML), raw bytes in binary ones (postcard).

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserializer, Serializer};

/// Serialises `bytes` as hex or raw bytes depending on the format.
pub(crate) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    if serializer.is_human_readable() {
        serializer.serialize_str(&hex::encode(bytes))
    } else {
        serializer.serialize_bytes(bytes)
    }
}

/// Deserialises exactly `N` bytes written by [`serialize`].
pub(crate) fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
    deserializer: D,
) -> Result<[u8; N], D::Error> {
    struct FixedVisitor<const N: usize>;

    impl<'de, const N: usize> Visitor<'de> for FixedVisitor<N> {
        type Value = [u8; N];

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{N} bytes or {} hex digits", N * 2)
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
            if text.len() != N * 2 {
                return Err(E::invalid_length(text.len(), &self));
            }
            let mut out = [0u8; N];
            hex::decode_to_slice(text, &mut out).map_err(|e| E::custom(format!("bad hex: {e}")))?;
            Ok(out)
        }

        fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Self::Value, E> {
            bytes.try_into().map_err(|_| E::invalid_length(bytes.len(), &self))
        }

        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = [0u8; N];
            for (i, slot) in out.iter_mut().enumerate() {
                *slot = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(i, &self))?;
            }
            if seq.next_element::<u8>()?.is_some() {
                return Err(de::Error::invalid_length(N + 1, &self));
            }
            Ok(out)
        }
    }

    if deserializer.is_human_readable() {
        deserializer.deserialize_str(FixedVisitor::<N>)
    } else {
        deserializer.deserialize_bytes(FixedVisitor::<N>)
    }
}

/// Implements hex `Display`/`Debug`/`FromStr` and format-aware serde for a
/// newtype over `[u8; N]`.
macro_rules! fixed_bytes_newtype {
    ($name:ident, $n:expr) => {
        impl $name {
            /// Lower-case hex.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                write!(f, "{}({})", stringify!($name), hex::encode(self.0))
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::hash::HexError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                if text.len() != $n * 2 {
                    return Err($crate::hash::HexError::Length {
                        expected: $n * 2,
                        got: text.len(),
                    });
                }
                let mut out = [0u8; $n];
                hex::decode_to_slice(text, &mut out)
                    .map_err(|e| $crate::hash::HexError::Digit(e.to_string()))?;
                Ok($name(out))
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                $crate::fixed_bytes::serialize(&self.0, s)
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $crate::fixed_bytes::deserialize::<D, $n>(d).map($name)
            }
        }
    };
}

pub(crate) use fixed_bytes_newtype;
