//! Addresses: the text form round-trips on every network, real 37–38
//! character addresses parse, and each kind of bad text gets its error.
//!
//! PROTOCOL.md §1: `TIME` + network digit + Base58 (Bitcoin alphabet) of
//! payload ‖ first 4 bytes of SHA-256(SHA-256(payload)). The expected text is
//! computed here by an independent Base58Check encoder, not by the crate.

mod common;

use common::proptest_config;
use proptest::prelude::*;
use protocol::address::AddressError;
use protocol::{Address, AddressPayload, Network, SecretKey};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

const ALPHABET: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
const NETWORKS: [Network; 3] = [Network::Testnet, Network::Mainnet, Network::Dev];

/// Base58 by long division, written out.
fn base58(bytes: &[u8]) -> String {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    // Base-58 digits, least significant first.
    let mut digits: Vec<u32> = Vec::new();
    for &byte in &bytes[zeros..] {
        let mut carry = u32::from(byte);
        for digit in &mut digits {
            carry += *digit << 8;
            *digit = carry % 58;
            carry /= 58;
        }
        while carry > 0 {
            digits.push(carry % 58);
            carry /= 58;
        }
    }
    let mut out = "1".repeat(zeros);
    out.extend(digits.iter().rev().map(|&d| char::from(ALPHABET[d as usize])));
    out
}

/// The text of `payload` on `network`, per the protocol, computed here.
fn expected_text(payload: &[u8; 20], network: Network) -> String {
    let digit = match network {
        Network::Testnet => '0',
        Network::Mainnet => '1',
        Network::Dev => '9',
    };
    let checksum = Sha256::digest(Sha256::digest(payload));
    let mut raw = payload.to_vec();
    raw.extend_from_slice(&checksum[..4]);
    format!("TIME{digit}{}", base58(&raw))
}

fn address_of_key(seed: [u8; 32], network: Network) -> Address {
    Address::from_public_key(&SecretKey::from_seed(seed).public(), network)
}

/// A real address of exactly `len` characters, from the first key seed that
/// gives one.
fn real_address_of_length(len: usize, network: Network) -> String {
    (0u32..)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..4].copy_from_slice(&i.to_le_bytes());
            address_of_key(seed, network).to_string()
        })
        .find(|text| text.len() == len)
        .expect("some key gives an address of every length from 36 to 38")
}

fn replace_char(text: &str, at: usize, with: char) -> String {
    text.chars().enumerate().map(|(i, c)| if i == at { with } else { c }).collect()
}

proptest! {
    #![proptest_config(proptest_config(512))]

    #[test]
    fn every_address_round_trips_and_has_29_to_38_characters(
        payload in any::<[u8; 20]>(),
        network in prop::sample::select(NETWORKS.to_vec()),
    ) {
        let address = AddressPayload(payload).to_address(network);
        let text = address.to_string();
        prop_assert_eq!(&text, &expected_text(&payload, network));
        prop_assert!((29..=38).contains(&text.len()), "{} has {} characters", text, text.len());
        prop_assert_eq!(text.parse::<Address>(), Ok(address));
        prop_assert_eq!(Address::parse_for(&text, network), Ok(address));
    }

    #[test]
    fn payloads_with_leading_zero_bytes_round_trip(
        zeros in 0usize..=20,
        rest in any::<[u8; 20]>(),
        network in prop::sample::select(NETWORKS.to_vec()),
    ) {
        let mut payload = rest;
        payload[..zeros].fill(0);
        let text = AddressPayload(payload).to_address(network).to_string();
        prop_assert_eq!(&text, &expected_text(&payload, network));
        prop_assert!((29..=38).contains(&text.len()), "{} has {} characters", text, text.len());
        prop_assert_eq!(text.parse::<Address>().map(|a| a.payload.0), Ok(payload));
    }
}

#[test]
fn most_addresses_are_37_or_38_characters() {
    let seed = 0x0add_2e55;
    eprintln!("seed {seed}");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut by_length = [0usize; 40];
    let samples = 5_000;
    for _ in 0..samples {
        let network = NETWORKS[rng.random_range(0..3usize)];
        let address = address_of_key(rng.random(), network);
        let text = address.to_string();
        assert_eq!(text.parse::<Address>(), Ok(address));
        by_length[text.len()] += 1;
    }
    eprintln!("lengths: 37 → {}, 38 → {}", by_length[37], by_length[38]);
    // 24 bytes are below 58^32 (37 characters) with probability ~4% and
    // below 58^31 with ~0.07%.
    assert!(by_length[37] + by_length[38] >= samples * 995 / 1_000, "{by_length:?}");
    assert!(by_length[37] > 0 && by_length[38] > 0, "{by_length:?}");
}

#[test]
fn real_37_and_38_character_addresses_parse() {
    for network in NETWORKS {
        for len in [37, 38] {
            let text = real_address_of_length(len, network);
            let address: Address = text.parse().unwrap();
            assert_eq!(address.network, network);
            assert_eq!(expected_text(&address.payload.0, network), text);
            assert_eq!(Address::parse_for(&text, network), Ok(address));
        }
    }
}

#[test]
fn address_serde_is_the_text_form() {
    let address = address_of_key([3; 32], Network::Mainnet);
    let json = serde_json::to_string(&address).unwrap();
    assert_eq!(json, format!("\"{address}\""));
    assert_eq!(serde_json::from_str::<Address>(&json).unwrap(), address);
    assert!(serde_json::from_str::<Address>("\"TIME1abc\"").is_err());
}

// ---------------------------------------------------------------------------
// One error per kind of bad text
// ---------------------------------------------------------------------------

#[test]
fn one_changed_character_is_a_bad_checksum() {
    let text = real_address_of_length(38, Network::Mainnet);
    // The last character: the value moves by less than 58, the length stays.
    let last = text.len() - 1;
    let current = text.chars().last().unwrap();
    let other = if current == 'z' { 'y' } else { 'z' };
    let changed = replace_char(&text, last, other);
    assert_eq!(changed.parse::<Address>(), Err(AddressError::Checksum(changed.clone())));
    assert!(AddressError::Checksum(changed.clone()).to_string().contains(&changed));
    // Every one-character change anywhere in the Base58 part is caught.
    let mut checksum_errors = 0;
    for at in 5..text.len() {
        for &c in ALPHABET {
            let c = char::from(c);
            if text.chars().nth(at) == Some(c) {
                continue;
            }
            match replace_char(&text, at, c).parse::<Address>() {
                Err(AddressError::Checksum(_)) => checksum_errors += 1,
                Err(AddressError::PayloadLength(_)) => {}
                other => panic!("changing character {at} to {c:?} gave {other:?}"),
            }
        }
    }
    assert!(checksum_errors > 1_000, "{checksum_errors}");
}

#[test]
fn wrong_prefix_is_rejected() {
    let text = real_address_of_length(38, Network::Testnet);
    for bad in [
        text.replacen("TIME", "TIMX", 1),
        text.to_lowercase(),
        format!("X{text}"),
        format!(" {text}"),
        text[4..].to_string(),
        String::new(),
    ] {
        assert_eq!(bad.parse::<Address>(), Err(AddressError::Prefix(bad.clone())), "{bad:?}");
    }
}

#[test]
fn unknown_network_digit_is_rejected() {
    let text = real_address_of_length(38, Network::Dev);
    for digit in ['2', '3', '4', '5', '6', '7', '8', 'A', 'x', 'é'] {
        let bad = replace_char(&text, 4, digit);
        assert_eq!(
            bad.parse::<Address>(),
            Err(AddressError::Network { digit: digit.to_string(), text: bad.clone() }),
            "{bad}"
        );
    }
}

#[test]
fn too_long_or_too_short_is_rejected() {
    let text = real_address_of_length(38, Network::Mainnet);
    let long = format!("{text}1");
    assert_eq!(long.parse::<Address>(), Err(AddressError::Length { text: long.clone(), len: 39 }));
    let short = text[..28].to_string();
    assert_eq!(
        short.parse::<Address>(),
        Err(AddressError::Length { text: short.clone(), len: 28 })
    );
    for bare in ["TIME", "TIME1", "TIME1abc"] {
        let Err(AddressError::Length { len, .. }) = bare.parse::<Address>() else {
            panic!("{bare:?} must be a length error, got {:?}", bare.parse::<Address>());
        };
        assert_eq!(len, bare.len());
    }
    // The right length, but not 24 bytes once decoded.
    for wrong_size in [format!("TIME1{}", "z".repeat(33)), format!("TIME1{}", "2".repeat(24))] {
        assert_eq!(
            wrong_size.parse::<Address>(),
            Err(AddressError::PayloadLength(wrong_size.clone())),
            "{wrong_size}"
        );
    }
}

#[test]
fn characters_outside_the_base58_alphabet_are_rejected() {
    let text = real_address_of_length(37, Network::Mainnet);
    for bad_char in ['0', 'O', 'I', 'l', '+', '/', ' ', 'é'] {
        let bad = replace_char(&text, 20, bad_char);
        assert_eq!(
            bad.parse::<Address>(),
            Err(AddressError::Alphabet { text: bad.clone(), bad: bad_char }),
            "{bad:?}"
        );
    }
}

#[test]
fn parse_for_another_network_is_rejected() {
    for found in NETWORKS {
        let text = real_address_of_length(38, found);
        for expected in NETWORKS {
            let parsed = Address::parse_for(&text, expected);
            if found == expected {
                assert!(parsed.is_ok(), "{text} on {expected}");
            } else {
                assert_eq!(
                    parsed,
                    Err(AddressError::WrongNetwork { text: text.clone(), found, expected })
                );
            }
        }
    }
}
