//! Every decoder, fed random bytes and mutated valid encodings.
//!
//! What bad input gets: a specific error, never a panic, never an allocation
//! sized by a hostile length field. Mutations are bit flips, byte overwrites,
//! truncation, extension, insertion and removal, and length fields
//! overwritten with huge values (0xFFFFFFFF as a little-endian u32 for the
//! canonical layouts, as a varint for postcard). For the canonical decoders
//! (`decode_exact`, `Transaction::from_hex`, addresses) every input that
//! decodes re-encodes to exactly the input: one encoding per value. postcard
//! is not canonical (it accepts over-long varints and ignores trailing
//! bytes), so for it a decoded value must re-encode to bytes that decode to
//! the same value.
//!
//! The default run is short; `make fuzz` runs the same loops with
//! `PROPTEST_CASES=1000000` in release. `PROPTEST_RNG_SEED` picks the seed.

mod common;

use common::proptest_config;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use protocol::address::AddressError;
use protocol::amount::AmountParseError;
use protocol::bft::{BlockVote, CommitCertificate, Proposal, VoteKind};
use protocol::block::{BLOCK_VERSION, HEADER_BYTES};
use protocol::codec::{Canonical, DecodeError, decode_exact};
use protocol::finality::{CertVote, FinalityCertificate, VoteBatch};
use protocol::genesis::{Allocation, GenesisMasternode};
use protocol::merkle::MerkleProof;
use protocol::tx::{INPUT_BYTES, OUTPUT_BYTES, SIGNATURE_BYTES, TX_VERSION};
use protocol::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

// ---------------------------------------------------------------------------
// Valid values
// ---------------------------------------------------------------------------

fn hash() -> impl Strategy<Value = Hash256> {
    any::<[u8; 32]>().prop_map(Hash256)
}

fn signature() -> impl Strategy<Value = Signature> {
    any::<[u8; 64]>().prop_map(Signature)
}

fn txin() -> impl Strategy<Value = TxIn> {
    (any::<[u8; 32]>(), any::<u32>(), any::<[u8; 32]>(), signature()).prop_map(
        |(txid, vout, pubkey, signature)| TxIn {
            prev: OutPoint { txid: TxId(txid), vout },
            pubkey: PublicKey(pubkey),
            signature,
        },
    )
}

fn txout() -> impl Strategy<Value = TxOut> {
    (any::<u64>(), any::<[u8; 20]>()).prop_map(|(value, address)| TxOut {
        value: Amount::from_sat(value),
        address: AddressPayload(address),
    })
}

fn transaction() -> impl Strategy<Value = Transaction> {
    (
        prop_oneof![3 => Just(TX_VERSION), 1 => any::<u32>()],
        vec(txin(), 0..4),
        vec(txout(), 0..4),
        prop_oneof![3 => Just(0u32), 1 => any::<u32>()],
        any::<i64>(),
    )
        .prop_map(|(version, inputs, outputs, lock_time, timestamp)| Transaction {
            version,
            inputs,
            outputs,
            lock_time,
            timestamp,
        })
}

fn header() -> impl Strategy<Value = BlockHeader> {
    (
        prop_oneof![3 => Just(BLOCK_VERSION), 1 => any::<u32>()],
        any::<u64>(),
        hash(),
        hash(),
        hash(),
        any::<i64>(),
        any::<[u8; 32]>(),
        any::<u32>(),
    )
        .prop_map(
            |(version, height, prev, merkle_root, utxo_commitment, timestamp, proposer, round)| {
                BlockHeader {
                    version,
                    height,
                    prev_hash: BlockHash(prev.0),
                    merkle_root,
                    utxo_commitment,
                    timestamp,
                    proposer: NodeId(proposer),
                    round,
                }
            },
        )
}

fn finality_certificate() -> impl Strategy<Value = FinalityCertificate> {
    let vote = (any::<u16>(), any::<u64>(), signature(), any::<u32>(), vec(hash(), 0..4)).prop_map(
        |(voter, seq, signature, index, siblings)| CertVote {
            voter,
            seq,
            signature,
            proof: MerkleProof { index, siblings },
        },
    );
    (any::<[u8; 32]>(), vec(vote, 0..4))
        .prop_map(|(txid, votes)| FinalityCertificate { txid: TxId(txid), votes })
}

fn block() -> impl Strategy<Value = Block> {
    (header(), vec(transaction(), 0..3), vec(finality_certificate(), 0..3))
        .prop_map(|(header, txs, certificates)| Block { header, txs, certificates })
}

fn block_ref() -> impl Strategy<Value = BlockRef> {
    (header(), transaction(), vec(any::<[u8; 32]>(), 0..6)).prop_map(|(header, coinbase, txids)| {
        BlockRef { header, coinbase, txids: txids.into_iter().map(TxId).collect() }
    })
}

fn vote_batch() -> impl Strategy<Value = VoteBatch> {
    (any::<[u8; 32]>(), any::<u64>(), vec(any::<[u8; 32]>(), 0..6), signature()).prop_map(
        |(voter, seq, txids, signature)| VoteBatch {
            voter: NodeId(voter),
            seq,
            txids: txids.into_iter().map(TxId).collect(),
            signature,
        },
    )
}

fn proposal() -> impl Strategy<Value = Proposal> {
    (any::<u64>(), any::<u32>(), proptest::option::of(any::<u32>()), block_ref(), signature())
        .prop_map(|(height, round, valid_round, block, signature)| Proposal {
            height,
            round,
            valid_round,
            block,
            signature,
        })
}

fn block_vote() -> impl Strategy<Value = BlockVote> {
    (
        prop_oneof![Just(VoteKind::Prevote), Just(VoteKind::Precommit)],
        any::<u64>(),
        any::<u32>(),
        proptest::option::of(any::<[u8; 32]>()),
        any::<u16>(),
        signature(),
    )
        .prop_map(|(kind, height, round, block, voter, signature)| BlockVote {
            kind,
            height,
            round,
            block: block.map(BlockHash),
            voter,
            signature,
        })
}

fn commit_certificate() -> impl Strategy<Value = CommitCertificate> {
    (any::<u64>(), any::<u32>(), any::<[u8; 32]>(), vec(any::<u8>(), 0..16), vec(signature(), 0..4))
        .prop_map(|(height, round, block, signers, signatures)| CommitCertificate {
            height,
            round,
            block: BlockHash(block),
            signers,
            signatures,
        })
}

fn network() -> impl Strategy<Value = Network> {
    prop_oneof![Just(Network::Testnet), Just(Network::Mainnet), Just(Network::Dev)]
}

fn tier() -> impl Strategy<Value = Tier> {
    prop_oneof![Just(Tier::Free), Just(Tier::Bronze), Just(Tier::Silver), Just(Tier::Gold)]
}

fn genesis() -> impl Strategy<Value = Genesis> {
    let member = (any::<[u8; 32]>(), "[a-z0-9.]{1,12}:[0-9]{1,5}", tier(), any::<[u8; 20]>());
    (
        any::<u32>(),
        network(),
        any::<i64>(),
        vec(member, 1..4),
        0u32..5,
        any::<[u64; 4]>(),
        vec((any::<[u8; 20]>(), any::<u64>()), 0..3),
    )
        .prop_map(
            |(chain_id, network, timestamp_ms, members, min_masternodes, weights, allocations)| {
                let mut committee: Vec<GenesisMasternode> = members
                    .into_iter()
                    .map(|(id, p2p_address, tier, reward)| GenesisMasternode {
                        id: NodeId(id),
                        p2p_address,
                        tier,
                        reward_address: AddressPayload(reward).to_address(network),
                    })
                    .collect();
                committee.sort_by_key(|m| m.id);
                let params = ConsensusParams {
                    tier_voting_weights: weights.map(|w| w % 1_000_001),
                    ..ConsensusParams::default()
                };
                Genesis {
                    chain_id: ChainId(chain_id),
                    network,
                    timestamp_ms,
                    committee,
                    min_masternodes,
                    params,
                    allocations: allocations
                        .into_iter()
                        .map(|(payload, value)| Allocation {
                            address: AddressPayload(payload).to_address(network),
                            value: Amount::from_sat(value),
                        })
                        .collect(),
                }
            },
        )
}

// ---------------------------------------------------------------------------
// Mutations
// ---------------------------------------------------------------------------

/// One change to an encoding.
#[derive(Clone, Debug)]
enum Mutation {
    FlipBit {
        at: Index,
        bit: u8,
    },
    SetByte {
        at: Index,
        value: u8,
    },
    Truncate {
        keep: Index,
    },
    Extend {
        bytes: Vec<u8>,
    },
    Insert {
        at: Index,
        bytes: Vec<u8>,
    },
    Remove {
        at: Index,
        len: usize,
    },
    /// A little-endian u32 written over the bytes at `at` (a canonical count).
    OverwriteU32 {
        at: Index,
        value: u32,
    },
    /// A postcard varint written over the bytes at `at`.
    OverwriteVarint {
        at: Index,
        value: u64,
    },
    /// A postcard varint inserted at `at` (a new length prefix).
    InsertVarint {
        at: Index,
        value: u64,
    },
    /// The `which`-th run of ASCII digits replaced (JSON numbers).
    ReplaceNumber {
        which: Index,
        with: String,
    },
}

/// Lengths and counts an attacker would write.
fn huge() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(u64::from(u32::MAX)),
        Just(u64::MAX),
        Just(0x7fff_ffff),
        Just(0x8000_0000),
        Just(1 << 24),
        Just(65_536),
        0u64..300,
        any::<u64>(),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
        (any::<Index>(), any::<u8>()).prop_map(|(at, value)| Mutation::SetByte { at, value }),
        any::<Index>().prop_map(|keep| Mutation::Truncate { keep }),
        vec(any::<u8>(), 1..16).prop_map(|bytes| Mutation::Extend { bytes }),
        (any::<Index>(), vec(any::<u8>(), 1..8))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        (any::<Index>(), 1usize..8).prop_map(|(at, len)| Mutation::Remove { at, len }),
        (any::<Index>(), huge()).prop_map(|(at, v)| Mutation::OverwriteU32 { at, value: v as u32 }),
        (any::<Index>(), huge()).prop_map(|(at, value)| Mutation::OverwriteVarint { at, value }),
        (any::<Index>(), huge()).prop_map(|(at, value)| Mutation::InsertVarint { at, value }),
        (
            any::<Index>(),
            prop_oneof![
                Just("4294967295".to_string()),
                Just("18446744073709551616".to_string()),
                Just("-1".to_string()),
                Just("1e400".to_string()),
                Just("0.5".to_string()),
                "[0-9]{1,25}",
            ]
        )
            .prop_map(|(which, with)| Mutation::ReplaceNumber { which, with }),
    ]
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    vec(mutation(), 0..4)
}

fn position(at: &Index, len: usize) -> usize {
    if len == 0 { 0 } else { at.index(len) }
}

fn varint(mut value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

fn overwrite(bytes: &mut Vec<u8>, at: usize, with: &[u8]) {
    for (i, b) in with.iter().enumerate() {
        match bytes.get_mut(at + i) {
            Some(slot) => *slot = *b,
            None => bytes.push(*b),
        }
    }
}

fn apply(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = bytes.len();
        match m {
            Mutation::FlipBit { at, bit } => {
                if len > 0 {
                    bytes[at.index(len)] ^= 1 << bit;
                }
            }
            Mutation::SetByte { at, value } => {
                if len > 0 {
                    bytes[at.index(len)] = *value;
                }
            }
            Mutation::Truncate { keep } => bytes.truncate(keep.index(len + 1)),
            Mutation::Extend { bytes: extra } => bytes.extend_from_slice(extra),
            Mutation::Insert { at, bytes: extra } => {
                let at = position(at, len + 1);
                bytes.splice(at..at, extra.iter().copied());
            }
            Mutation::Remove { at, len: n } => {
                if len > 0 {
                    let at = at.index(len);
                    bytes.drain(at..(at + n).min(len));
                }
            }
            Mutation::OverwriteU32 { at, value } => {
                overwrite(&mut bytes, position(at, len), &value.to_le_bytes());
            }
            Mutation::OverwriteVarint { at, value } => {
                overwrite(&mut bytes, position(at, len), &varint(*value));
            }
            Mutation::InsertVarint { at, value } => {
                let at = position(at, len + 1);
                bytes.splice(at..at, varint(*value));
            }
            Mutation::ReplaceNumber { which, with } => {
                let runs = digit_runs(&bytes);
                if !runs.is_empty() {
                    let (start, end) = runs[which.index(runs.len())];
                    bytes.splice(start..end, with.bytes());
                }
            }
        }
    }
    bytes
}

fn digit_runs(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut start = None;
    for (i, b) in bytes.iter().enumerate() {
        match (b.is_ascii_digit(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                runs.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        runs.push((s, bytes.len()));
    }
    runs
}

// ---------------------------------------------------------------------------
// The properties
// ---------------------------------------------------------------------------

/// A canonical decoder: if the bytes decode, they are the value's one encoding.
fn check_canonical<T: Canonical + std::fmt::Debug>(bytes: &[u8]) -> Result<(), TestCaseError> {
    match decode_exact::<T>(bytes) {
        Ok(value) => prop_assert_eq!(value.encode(), bytes, "decoded {:?}", value),
        Err(error) => prop_assert!(!error.to_string().is_empty()),
    }
    Ok(())
}

/// postcard: a decoded value re-encodes to bytes that decode to it again.
fn check_postcard<T>(bytes: &[u8]) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    if let Ok(value) = postcard::from_bytes::<T>(bytes) {
        let again = postcard::to_allocvec(&value).expect("a decoded value encodes");
        prop_assert_eq!(postcard::from_bytes::<T>(&again).ok(), Some(value));
    }
    Ok(())
}

/// postcard on a value's encoding after `mutations`; unmutated, it must decode
/// to the value, and a strict prefix of it must not decode at all.
fn check_postcard_mutated<T>(value: &T, mutations: &[Mutation]) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let encoded = postcard::to_allocvec(value).expect("a value encodes");
    if mutations.is_empty() {
        let decoded = postcard::from_bytes::<T>(&encoded);
        prop_assert_eq!(decoded.as_ref(), Ok(value));
    }
    if let [Mutation::Truncate { keep }] = mutations {
        let keep = keep.index(encoded.len() + 1);
        if keep < encoded.len() {
            prop_assert!(postcard::from_bytes::<T>(&encoded[..keep]).is_err(), "prefix of {keep}");
        }
    }
    check_postcard::<T>(&apply(encoded, mutations))
}

fn random_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![vec(any::<u8>(), 0..64), vec(any::<u8>(), 64..600)]
}

proptest! {
    #![proptest_config(proptest_config(256))]

    // -- canonical layouts --------------------------------------------------

    #[test]
    fn transaction_decoder_survives_random_bytes(bytes in random_bytes()) {
        check_canonical::<Transaction>(&bytes)?;
    }

    #[test]
    fn transaction_decoder_survives_mutated_encodings(tx in transaction(), mutations in mutations()) {
        let encoded = tx.encode();
        prop_assert_eq!(encoded.len(), tx.size());
        if mutations.is_empty() {
            prop_assert_eq!(decode_exact::<Transaction>(&encoded), Ok(tx.clone()));
        }
        check_canonical::<Transaction>(&apply(encoded, &mutations))?;
    }

    #[test]
    fn transaction_prefixes_are_truncated_and_extensions_are_trailing(
        tx in transaction(),
        keep in any::<Index>(),
        extra in vec(any::<u8>(), 1..40),
    ) {
        let encoded = tx.encode();
        let keep = keep.index(encoded.len());
        let truncated = decode_exact::<Transaction>(&encoded[..keep]);
        prop_assert!(matches!(truncated, Err(DecodeError::Truncated { .. })), "{:?}", truncated);
        let mut extended = encoded.clone();
        extended.extend_from_slice(&extra);
        prop_assert_eq!(
            decode_exact::<Transaction>(&extended),
            Err(DecodeError::TrailingBytes(extra.len()))
        );
    }

    #[test]
    fn transaction_counts_overwritten_with_huge_values_are_refused(
        tx in transaction(),
        outputs_count in any::<bool>(),
        value in prop_oneof![Just(u32::MAX), Just(0x8000_0000u32), Just(1u32 << 24), 257u32..1 << 24],
    ) {
        let mut encoded = tx.encode();
        let at = if outputs_count { 8 + tx.inputs.len() * INPUT_BYTES } else { 4 };
        encoded[at..at + 4].copy_from_slice(&value.to_le_bytes());
        let per_item = if outputs_count { OUTPUT_BYTES } else { INPUT_BYTES + SIGNATURE_BYTES };
        let decoded = decode_exact::<Transaction>(&encoded);
        if value as usize * per_item > encoded.len() {
            let field = if outputs_count { "outputs" } else { "inputs" };
            prop_assert!(
                matches!(
                    &decoded,
                    Err(DecodeError::Truncated { what, .. } | DecodeError::CountTooLarge { what, .. })
                        if *what == field
                ),
                "count {} in {}: {:?}", value, field, decoded
            );
        }
        check_canonical::<Transaction>(&encoded)?;
    }

    #[test]
    fn block_header_decoder_survives_random_bytes(bytes in random_bytes()) {
        check_canonical::<BlockHeader>(&bytes)?;
    }

    #[test]
    fn every_header_sized_input_is_one_header(bytes in vec(any::<u8>(), HEADER_BYTES)) {
        let header = decode_exact::<BlockHeader>(&bytes);
        prop_assert!(header.is_ok(), "{:?}", header);
        check_canonical::<BlockHeader>(&bytes)?;
    }

    #[test]
    fn block_header_decoder_survives_mutated_encodings(header in header(), mutations in mutations()) {
        let encoded = header.encode();
        prop_assert_eq!(encoded.len(), HEADER_BYTES);
        if mutations.is_empty() {
            prop_assert_eq!(decode_exact::<BlockHeader>(&encoded), Ok(header.clone()));
        }
        check_canonical::<BlockHeader>(&apply(encoded, &mutations))?;
    }

    #[test]
    fn transaction_hex_decoder_survives_mutations(
        tx in transaction(),
        mutations in mutations(),
        upper in any::<bool>(),
        padding in "[ \t\n]{0,2}",
        stray in proptest::option::of((any::<Index>(), any::<char>())),
    ) {
        let mut text = hex::encode(apply(tx.encode(), &mutations));
        if upper {
            text = text.to_uppercase();
        }
        if let Some((at, c)) = &stray {
            let at = at.index(text.len() + 1);
            text.insert(at, *c);
        }
        let text = format!("{padding}{text}{padding}");
        match Transaction::from_hex(&text) {
            Ok(decoded) => prop_assert_eq!(decoded.to_hex(), text.trim().to_ascii_lowercase()),
            Err(error) => prop_assert!(!error.to_string().is_empty()),
        }
        if mutations.is_empty() && stray.is_none() {
            prop_assert_eq!(Transaction::from_hex(&text), Ok(tx));
        }
    }

    #[test]
    fn transaction_hex_decoder_survives_random_text(text in prop_oneof![any::<String>(), "[0-9a-fA-F ]{0,300}"]) {
        if let Ok(decoded) = Transaction::from_hex(&text) {
            prop_assert_eq!(decoded.to_hex(), text.trim().to_ascii_lowercase());
        }
    }

    // -- postcard (P2P messages) --------------------------------------------

    #[test]
    fn postcard_decoders_survive_random_bytes(bytes in random_bytes()) {
        check_postcard::<Block>(&bytes)?;
        check_postcard::<VoteBatch>(&bytes)?;
        check_postcard::<FinalityCertificate>(&bytes)?;
        check_postcard::<Proposal>(&bytes)?;
        check_postcard::<BlockVote>(&bytes)?;
        check_postcard::<CommitCertificate>(&bytes)?;
        check_postcard::<Transaction>(&bytes)?;
    }

    #[test]
    fn postcard_block_survives_mutations(value in block(), mutations in mutations()) {
        check_postcard_mutated(&value, &mutations)?;
    }

    #[test]
    fn postcard_vote_batch_survives_mutations(value in vote_batch(), mutations in mutations()) {
        check_postcard_mutated(&value, &mutations)?;
    }

    #[test]
    fn postcard_finality_certificate_survives_mutations(
        value in finality_certificate(),
        mutations in mutations(),
    ) {
        check_postcard_mutated(&value, &mutations)?;
    }

    #[test]
    fn postcard_proposal_survives_mutations(value in proposal(), mutations in mutations()) {
        check_postcard_mutated(&value, &mutations)?;
    }

    #[test]
    fn postcard_block_vote_survives_mutations(value in block_vote(), mutations in mutations()) {
        check_postcard_mutated(&value, &mutations)?;
    }

    #[test]
    fn postcard_commit_certificate_survives_mutations(
        value in commit_certificate(),
        mutations in mutations(),
    ) {
        check_postcard_mutated(&value, &mutations)?;
    }

    #[test]
    fn postcard_transaction_survives_mutations(value in transaction(), mutations in mutations()) {
        check_postcard_mutated(&value, &mutations)?;
        // Inside postcard a transaction is its canonical encoding as bytes.
        let mut inner = postcard::to_allocvec(&value.encode()).unwrap();
        if let Some(last) = inner.last_mut() {
            *last ^= 1;
        }
        check_postcard::<Transaction>(&inner)?;
    }

    // -- JSON (genesis files) -----------------------------------------------

    #[test]
    fn genesis_json_survives_mutations(genesis in genesis(), mutations in mutations()) {
        let text = serde_json::to_vec_pretty(&genesis).unwrap();
        if mutations.is_empty() {
            prop_assert_eq!(&serde_json::from_slice::<Genesis>(&text).unwrap(), &genesis);
        }
        check_genesis_json(&apply(text, &mutations))?;
    }

    #[test]
    fn genesis_json_survives_random_bytes(bytes in random_bytes()) {
        check_genesis_json(&bytes)?;
    }

    // -- text forms ---------------------------------------------------------

    #[test]
    fn address_parser_survives_random_text(
        text in prop_oneof![
            any::<String>(),
            "TIME[0-9][1-9A-HJ-NP-Za-km-z]{20,36}",
            "TIME[019][0-9A-Za-z]{0,40}",
        ],
    ) {
        check_address(&text)?;
    }

    #[test]
    fn address_parser_survives_mutated_addresses(
        payload in any::<[u8; 20]>(),
        network in network(),
        mutations in mutations(),
    ) {
        let text = AddressPayload(payload).to_address(network).to_string();
        let mutated = String::from_utf8_lossy(&apply(text.into_bytes(), &mutations)).into_owned();
        check_address(&mutated)?;
    }

    #[test]
    fn amount_parser_survives_random_text(
        text in prop_oneof![
            any::<String>(),
            "[0-9]{0,25}(\\.[0-9]{0,12})?",
            "[0-9.+e -]{0,12}",
        ],
    ) {
        check_amount(&text)?;
    }

    #[test]
    fn amount_parser_survives_mutated_amounts(sat in any::<u64>(), mutations in mutations()) {
        let text = Amount::from_sat(sat).to_string();
        prop_assert_eq!(text.parse::<Amount>(), Ok(Amount::from_sat(sat)));
        let mutated = String::from_utf8_lossy(&apply(text.into_bytes(), &mutations)).into_owned();
        check_amount(&mutated)?;
    }
}

fn check_genesis_json(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(genesis) = serde_json::from_slice::<Genesis>(bytes) {
        let again = serde_json::to_vec(&genesis).expect("a decoded genesis encodes");
        prop_assert_eq!(serde_json::from_slice::<Genesis>(&again).ok(), Some(genesis.clone()));
        // What a node does next with a genesis file must not panic either.
        let _ = genesis.validate();
        let _ = genesis.hash();
        let _ = genesis.allocation_tx();
    }
    Ok(())
}

/// Address text is canonical: whatever parses prints back unchanged.
fn check_address(text: &str) -> Result<(), TestCaseError> {
    match text.parse::<Address>() {
        Ok(address) => {
            prop_assert_eq!(address.to_string(), text);
            prop_assert!((29..=38).contains(&text.len()), "{} parsed", text);
        }
        Err(error) => {
            prop_assert!(!error.to_string().is_empty());
            if let AddressError::Length { len, .. } = error {
                prop_assert_eq!(len, text.chars().count());
            }
        }
    }
    Ok(())
}

/// What `text.parse::<Amount>()` must give, computed independently: digits,
/// an optional point and one to eight decimals, at most `u64::MAX` sat.
fn expected_amount(text: &str) -> Result<u64, &'static str> {
    let (whole, frac, has_point) = match text.split_once('.') {
        Some((w, f)) => (w, f, true),
        None => (text, "", false),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(frac) || (has_point && frac.is_empty()) {
        return Err("malformed");
    }
    if frac.len() > 8 {
        return Err("too precise");
    }
    let mut sat: u128 = 0;
    for b in whole.bytes().chain(frac.bytes()).chain(std::iter::repeat_n(b'0', 8 - frac.len())) {
        sat = sat * 10 + u128::from(b - b'0');
        if sat > u128::from(u64::MAX) * 10 {
            return Err("overflow");
        }
    }
    u64::try_from(sat).map_err(|_| "overflow")
}

fn check_amount(text: &str) -> Result<(), TestCaseError> {
    let parsed = text.parse::<Amount>();
    let got = match &parsed {
        Ok(amount) => Ok(amount.sat()),
        Err(AmountParseError::Malformed(_)) => Err("malformed"),
        Err(AmountParseError::TooPrecise(_)) => Err("too precise"),
        Err(AmountParseError::Overflow(_)) => Err("overflow"),
    };
    prop_assert_eq!(got, expected_amount(text), "parsing {:?}", text);
    if let Ok(amount) = parsed {
        prop_assert_eq!(amount.to_string().parse::<Amount>(), Ok(amount));
    }
    Ok(())
}
