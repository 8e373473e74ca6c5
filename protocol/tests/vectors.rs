//! The test vectors of docs/PROTOCOL.md, checked byte for byte.
//!
//! The document is the source of truth: each vector there is a fenced block
//! after a `<!-- vector: NAME -->` marker, and this file rebuilds every value
//! from the inputs the document describes and compares. Run with
//! `PRINT_VECTORS=1 cargo test -p protocol --test vectors -- --nocapture` to
//! print the computed values.

mod doc_vectors;

use protocol::bft::{VoteKind, consensus_message};
use protocol::block::{BLOCK_VERSION, BlockHeader};
use protocol::codec::{Canonical, decode_exact};
use protocol::finality::vote_batch_message;
use protocol::genesis::{Allocation, GenesisMasternode};
use protocol::merkle::merkle_root;
use protocol::quorum::quorum;
use protocol::tx::input_signing_message;
use protocol::*;

const CHAIN: ChainId = ChainId(9);

/// The hex (or text) of vector `name` in the document, whitespace removed.
fn doc_vector(name: &str) -> String {
    doc_vectors::doc_block(name).split_whitespace().collect()
}

fn check(name: &str, computed: &str) {
    if std::env::var_os("PRINT_VECTORS").is_some() {
        println!("VECTOR {name} {computed}");
        return;
    }
    assert_eq!(doc_vector(name), computed, "vector {name} differs from docs/PROTOCOL.md");
}

fn key(seed: u8) -> SecretKey {
    SecretKey::from_seed([seed; 32])
}

fn payload(seed: u8) -> AddressPayload {
    AddressPayload::from_public_key(&key(seed).public())
}

/// The two-input, two-signer transaction of the document.
fn vector_tx() -> Transaction {
    let mut tx = Transaction {
        version: 1,
        inputs: vec![
            TxIn {
                prev: OutPoint { txid: TxId([0x11; 32]), vout: 0 },
                pubkey: key(1).public(),
                signature: Signature::ZERO,
            },
            TxIn {
                prev: OutPoint { txid: TxId([0x22; 32]), vout: 1 },
                pubkey: key(2).public(),
                signature: Signature::ZERO,
            },
        ],
        outputs: vec![
            TxOut { value: Amount::from_sat(150_000_000), address: payload(2) },
            TxOut { value: Amount::from_sat(49_998_800), address: payload(1) },
        ],
        lock_time: 0,
        timestamp: 1_700_000_000_000,
    };
    assert!(tx.sign_input(CHAIN, 0, &key(1)));
    assert!(tx.sign_input(CHAIN, 1, &key(2)));
    tx
}

#[test]
fn vector_keys_and_addresses() {
    check("key1.public", &key(1).public().to_hex());
    check("key2.public", &key(2).public().to_hex());
    check("key1.payload", &payload(1).to_hex());
    check(
        "key1.address.testnet",
        &Address::from_public_key(&key(1).public(), Network::Testnet).to_string(),
    );
    check(
        "key1.address.mainnet",
        &Address::from_public_key(&key(1).public(), Network::Mainnet).to_string(),
    );
    check(
        "key1.address.dev",
        &Address::from_public_key(&key(1).public(), Network::Dev).to_string(),
    );
    if std::env::var_os("PRINT_VECTORS").is_none() {
        let parsed: Address = doc_vector("key1.address.dev").parse().unwrap();
        assert_eq!(parsed.payload, payload(1));
    }
}

#[test]
fn vector_transaction_txid_and_full_encoding() {
    let tx = vector_tx();
    let full = tx.encode();
    let unsigned = &full[..full.len() - 2 * 64];
    let mut preimage = b"timecoin/txid\0".to_vec();
    preimage.extend_from_slice(&CHAIN.0.to_le_bytes());
    preimage.extend_from_slice(unsigned);
    check("tx.preimage", &hex::encode(&preimage));
    check("tx.txid", &tx.txid(CHAIN).to_hex());
    check("tx.sigmsg0", &hex::encode(input_signing_message(CHAIN, &tx.txid(CHAIN), 0)));
    check("tx.full", &hex::encode(&full));
    assert_eq!(full.len(), tx.size());
    assert_eq!(decode_exact::<Transaction>(&full).unwrap(), tx);
}

#[test]
fn vector_merkle_roots() {
    let a = TxId([1; 32]);
    let b = TxId([2; 32]);
    let c = TxId([3; 32]);
    check("merkle.empty", &merkle_root(&[]).to_hex());
    check("merkle.one", &merkle_root(&[a]).to_hex());
    check("merkle.two", &merkle_root(&[a, b]).to_hex());
    check("merkle.three", &merkle_root(&[a, b, c]).to_hex());
}

#[test]
fn vector_block_header() {
    let header = BlockHeader {
        version: BLOCK_VERSION,
        height: 7,
        prev_hash: BlockHash([0xaa; 32]),
        merkle_root: Hash256([0xbb; 32]),
        utxo_commitment: Hash256([0xcc; 32]),
        timestamp: 1_700_000_001_000,
        proposer: NodeId::from(key(1).public()),
        round: 2,
    };
    check("header.encoding", &hex::encode(header.encode()));
    check("header.hash", &header.hash(CHAIN).to_hex());
}

#[test]
fn vector_signed_messages() {
    let voter = NodeId::from(key(1).public());
    check(
        "votebatch.message",
        &hex::encode(vote_batch_message(CHAIN, &voter, 5, &Hash256([0xdd; 32]))),
    );
    check(
        "prevote.message",
        &hex::encode(consensus_message(
            CHAIN,
            VoteKind::Prevote.code(),
            7,
            2,
            Some(&BlockHash([0xee; 32])),
            None,
        )),
    );
    check(
        "precommit.nil.message",
        &hex::encode(consensus_message(CHAIN, VoteKind::Precommit.code(), 7, 2, None, None)),
    );
}

#[test]
fn vector_genesis_hash() {
    let genesis = Genesis {
        chain_id: CHAIN,
        network: Network::Dev,
        timestamp_ms: 1_700_000_000_000,
        committee: vec![GenesisMasternode {
            id: NodeId::from(key(1).public()),
            p2p_address: "127.0.0.1:24100".into(),
            tier: Tier::Free,
            reward_address: payload(1).to_address(Network::Dev),
        }],
        min_masternodes: 1,
        params: ConsensusParams::default(),
        allocations: vec![Allocation {
            address: payload(2).to_address(Network::Dev),
            value: Amount::from_sat(1_000_000),
        }],
    };
    genesis.validate().unwrap();
    check("genesis.encoding", &hex::encode(genesis.encode()));
    check("genesis.hash", &genesis.hash().to_hex());

    // A member id of small order (here the identity point, 1 ‖ 0…) is
    // refused: under ZIP-215 anyone can sign for it.
    let mut weak = genesis.clone();
    let mut identity_point = [0u8; 32];
    identity_point[0] = 1;
    weak.committee[0].id = NodeId(identity_point);
    assert!(matches!(weak.validate(), Err(protocol::genesis::GenesisError::WeakKey(0))));
}

#[test]
fn vector_quorum_table() {
    let table: String = [1u64, 2, 3, 4, 5, 6, 7, 10, 100, 1111]
        .iter()
        .map(|w| format!("{w}:{}", quorum(*w)))
        .collect::<Vec<_>>()
        .join(",");
    check("quorum.table", &table);
}
