//! Addresses: a 20-byte payload and its `TIME<digit><base58check>` text form.
//!
//! payload = first 20 bytes of SHA-256(public key);
//! text = "TIME" ‖ network digit ‖ Base58(payload ‖ first 4 bytes of
//! SHA-256(SHA-256(payload))), Bitcoin's alphabet. Real addresses are 37 or
//! 38 characters (the Base58 part is 32 or 33); a payload that starts with
//! zero bytes gets leading `1`s and can be shorter (one key in ~65,000 gives
//! 36), so the parser accepts every length 24 bytes can encode to: 29 to 38.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::fixed_bytes::fixed_bytes_newtype;
use crate::hash::sha256;
use crate::keys::PublicKey;

/// Which network an address (and a chain) belongs to; its digit is the
/// fifth character of the address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// Digit `0`.
    Testnet,
    /// Digit `1`.
    Mainnet,
    /// Digit `9`: local clusters and dev chains.
    Dev,
}

impl Network {
    /// The address digit.
    pub const fn digit(self) -> char {
        match self {
            Network::Testnet => '0',
            Network::Mainnet => '1',
            Network::Dev => '9',
        }
    }

    /// The network with this digit.
    pub fn from_digit(digit: char) -> Option<Network> {
        match digit {
            '0' => Some(Network::Testnet),
            '1' => Some(Network::Mainnet),
            '9' => Some(Network::Dev),
            _ => None,
        }
    }

    /// The byte used in canonical encodings (the digit's value).
    pub const fn code(self) -> u8 {
        match self {
            Network::Testnet => 0,
            Network::Mainnet => 1,
            Network::Dev => 9,
        }
    }

    /// The network with this code.
    pub fn from_code(code: u8) -> Option<Network> {
        char::from_digit(u32::from(code), 10).and_then(Network::from_digit)
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Network::Testnet => "testnet",
            Network::Mainnet => "mainnet",
            Network::Dev => "dev",
        })
    }
}

/// The 20-byte address payload that outputs pay to.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct AddressPayload(pub [u8; 20]);

fixed_bytes_newtype!(AddressPayload, 20);

impl AddressPayload {
    /// The payload of `key`: the first 20 bytes of SHA-256 of its 32 bytes.
    pub fn from_public_key(key: &PublicKey) -> Self {
        let digest = sha256(&key.0);
        let mut out = [0u8; 20];
        out.copy_from_slice(&digest[..20]);
        AddressPayload(out)
    }

    /// The text form on `network`.
    pub fn to_address(self, network: Network) -> Address {
        Address { network, payload: self }
    }
}

/// An address: a payload on a network.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Address {
    /// The network, from the digit.
    pub network: Network,
    /// What outputs pay to.
    pub payload: AddressPayload,
}

/// Why text is not an address.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AddressError {
    /// Does not start with `TIME`.
    #[error("address must start with \"TIME\": {0:?}")]
    Prefix(String),
    /// The network digit is not 0, 1 or 9.
    #[error("unknown network digit {digit:?} in {text:?} (expected 0 testnet, 1 mainnet or 9 dev)")]
    Network {
        /// The digit found.
        digit: String,
        /// The whole text.
        text: String,
    },
    /// Longer or shorter than any address can be (29 to 38 characters).
    #[error("address {text:?} has {len} characters, expected 37 or 38 (29 to 38 possible)")]
    Length {
        /// The whole text.
        text: String,
        /// Its length in characters.
        len: usize,
    },
    /// A character outside Bitcoin's Base58 alphabet.
    #[error("address {text:?} has a character outside the Base58 alphabet: {bad:?}")]
    Alphabet {
        /// The whole text.
        text: String,
        /// The first bad character.
        bad: char,
    },
    /// The Base58 part did not decode to 24 bytes.
    #[error("address {0:?} does not decode to a 20-byte payload and checksum")]
    PayloadLength(String),
    /// The checksum does not match.
    #[error("address {0:?} has a bad checksum (mistyped?)")]
    Checksum(String),
    /// The address is for another network than the one expected.
    #[error("address {text:?} is for {found}, this chain is {expected}")]
    WrongNetwork {
        /// The whole text.
        text: String,
        /// The address's network.
        found: Network,
        /// The chain's network.
        expected: Network,
    },
}

const BASE58_ALPHABET: &str = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

fn checksum(payload: &[u8; 20]) -> [u8; 4] {
    let digest = sha256(&sha256(payload));
    [digest[0], digest[1], digest[2], digest[3]]
}

impl Address {
    /// The address of `key` on `network`.
    pub fn from_public_key(key: &PublicKey, network: Network) -> Self {
        AddressPayload::from_public_key(key).to_address(network)
    }

    /// Parses text and checks that it belongs to `network`.
    pub fn parse_for(text: &str, network: Network) -> Result<Address, AddressError> {
        let address: Address = text.parse()?;
        if address.network != network {
            return Err(AddressError::WrongNetwork {
                text: text.to_string(),
                found: address.network,
                expected: network,
            });
        }
        Ok(address)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = [0u8; 24];
        raw[..20].copy_from_slice(&self.payload.0);
        raw[20..].copy_from_slice(&checksum(&self.payload.0));
        write!(f, "TIME{}{}", self.network.digit(), bs58::encode(raw).into_string())
    }
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let owned = || text.to_string();
        let rest = text.strip_prefix("TIME").ok_or_else(|| AddressError::Prefix(owned()))?;
        let mut chars = rest.chars();
        let digit = chars.next().ok_or_else(|| AddressError::Length { text: owned(), len: 4 })?;
        let network = Network::from_digit(digit)
            .ok_or_else(|| AddressError::Network { digit: digit.to_string(), text: owned() })?;
        let body = chars.as_str();
        if let Some(bad) = body.chars().find(|c| !BASE58_ALPHABET.contains(*c)) {
            return Err(AddressError::Alphabet { text: owned(), bad });
        }
        let len = text.chars().count();
        if !(29..=38).contains(&len) {
            return Err(AddressError::Length { text: owned(), len });
        }
        let raw =
            bs58::decode(body).into_vec().map_err(|_| AddressError::PayloadLength(owned()))?;
        if raw.len() != 24 {
            return Err(AddressError::PayloadLength(owned()));
        }
        let mut payload = [0u8; 20];
        payload.copy_from_slice(&raw[..20]);
        if raw[20..] != checksum(&payload) {
            return Err(AddressError::Checksum(owned()));
        }
        Ok(Address { network, payload: AddressPayload(payload) })
    }
}

impl Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}
