//! Criterion benches of the protocol's hot functions: what every masternode
//! does per transaction (decode, txid, validate, verify input signatures),
//! per vote batch (sign, verify, merkle proofs), per certificate, and per
//! block (UTXO commitment).
//!
//! `cargo bench -p protocol` (HTML reports in target/criterion).
//!
//! The `one_by_one_vs_batch` group compares the two strategies of
//! `verify_many` (ZIP-215, docs/PROTOCOL.md §9) at 2, 4, 8, 16 and 64
//! signatures under distinct keys, with single `verify` and ed25519-dalek's
//! `verify_strict` (the rule before ZIP-215) for reference, every figure per
//! signature (`cargo bench -p protocol --bench protocol --
//! one_by_one_vs_batch`). Compare ratios only within one run: the machine's
//! load moves every figure.

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

use protocol::commitment::UtxoCommitment;
use protocol::committee::Member;
use protocol::finality::{FinalityCertificate, VerifiedVotes, VoteBatch};
use protocol::keys::{KeyCache, SigCheck, VerifyStrategy, verify, verify_many};
use protocol::merkle::{merkle_proofs, merkle_root};
use protocol::validate::{Coin, SigVerifier, UtxoView, validate_transaction};
use protocol::*;

const CHAIN: ChainId = ChainId(9);

struct Utxos(HashMap<OutPoint, TxOut>);

impl UtxoView for Utxos {
    fn coin(&self, outpoint: &OutPoint) -> Coin {
        self.0.get(outpoint).map_or(Coin::Unknown, |o| Coin::Unspent(*o))
    }
}

fn key(i: u8) -> SecretKey {
    SecretKey::from_seed([i; 32])
}

/// A 2-input, 2-output transaction signed by two keys, and the view that
/// funds it.
fn two_input_tx() -> (Transaction, Utxos) {
    let (a, b) = (key(1), key(2));
    let pa = AddressPayload::from_public_key(&a.public());
    let pb = AddressPayload::from_public_key(&b.public());
    let coins = [
        (
            OutPoint { txid: TxId([7; 32]), vout: 0 },
            TxOut { value: Amount::from_sat(100_000_000), address: pa },
        ),
        (
            OutPoint { txid: TxId([8; 32]), vout: 1 },
            TxOut { value: Amount::from_sat(100_000_000), address: pb },
        ),
    ];
    let mut tx = Transaction {
        version: 1,
        inputs: vec![
            TxIn { prev: coins[0].0, pubkey: a.public(), signature: Signature::ZERO },
            TxIn { prev: coins[1].0, pubkey: b.public(), signature: Signature::ZERO },
        ],
        outputs: vec![
            TxOut { value: Amount::from_sat(120_000_000), address: pb },
            TxOut { value: Amount::from_sat(79_000_000), address: pa },
        ],
        lock_time: 0,
        timestamp: 1_700_000_000_000,
    };
    tx.sign_input(CHAIN, 0, &a);
    tx.sign_input(CHAIN, 1, &b);
    (tx, Utxos(coins.into_iter().collect()))
}

fn committee(keys: &[SecretKey]) -> Committee {
    Committee::new(
        keys.iter()
            .map(|k| Member {
                id: NodeId::from(k.public()),
                tier: Tier::Free,
                voting_weight: 1,
                reward_address: AddressPayload::from_public_key(&k.public()),
                p2p_address: String::new(),
            })
            .collect(),
    )
}

fn transactions(c: &mut Criterion) {
    let (tx, utxos) = two_input_tx();
    let bytes = tx.encode();
    let mut group = c.benchmark_group("transaction");
    group.throughput(Throughput::Elements(1));
    group.bench_function("decode", |b| b.iter(|| decode_exact::<Transaction>(black_box(&bytes))));
    group.bench_function("txid", |b| b.iter(|| black_box(&tx).txid(CHAIN)));
    group.bench_function("validate_2_inputs", |b| {
        let mut verifier = SigVerifier::default();
        let params = ConsensusParams::default();
        b.iter(|| validate_transaction(tx.clone(), CHAIN, &params, &utxos, &mut verifier))
    });
    group.finish();
}

fn signatures(c: &mut Criterion) {
    let keys: Vec<SecretKey> = (0..64).map(|i| key(i as u8 + 10)).collect();
    let messages: Vec<Vec<u8>> = (0..64).map(|i| format!("message {i}").into_bytes()).collect();
    let signed: Vec<(PublicKey, Signature)> =
        keys.iter().zip(&messages).map(|(k, m)| (k.public(), k.sign(m))).collect();
    let mut group = c.benchmark_group("signature");
    group.throughput(Throughput::Elements(1));
    group.bench_function("sign", |b| b.iter(|| keys[0].sign(black_box(&messages[0]))));
    group.bench_function("verify", |b| {
        b.iter(|| verify(&signed[0].0, black_box(&messages[0]), &signed[0].1))
    });
    group.throughput(Throughput::Elements(64));
    for (name, strategy) in [
        ("verify_many_64_one_by_one", VerifyStrategy::OneByOne),
        ("verify_many_64_batch", VerifyStrategy::Batch),
    ] {
        group.bench_function(name, |b| {
            let mut cache = KeyCache::default();
            b.iter(|| {
                let checks: Vec<SigCheck<'_>> = signed
                    .iter()
                    .zip(&messages)
                    .map(|((k, s), m)| SigCheck { key: k, message: m, signature: s })
                    .collect();
                verify_many(&checks, &mut cache, strategy)
            })
        });
    }
    group.finish();
}

/// Signatures by `count` distinct keys over distinct messages.
fn distinct_signatures(count: usize) -> (Vec<PublicKey>, Vec<Vec<u8>>, Vec<Signature>) {
    let keys: Vec<SecretKey> = (0..count)
        .map(|i| SecretKey::from_seed(protocol::hash::sha256(&i.to_le_bytes())))
        .collect();
    let messages: Vec<Vec<u8>> =
        (0..count).map(|i| format!("input signing message {i}").into_bytes()).collect();
    let signatures = keys.iter().zip(&messages).map(|(k, m)| k.sign(m)).collect();
    (keys.iter().map(SecretKey::public).collect(), messages, signatures)
}

/// `verify_many` one by one vs in a batch, per signature, every signature
/// under its own key (the worst case for the batch, which merges the terms
/// of signatures under one key), keys cached as in a node; single `verify`
/// (key decoded every time) and ed25519-dalek's `verify_strict` (the rule
/// before ZIP-215) for reference.
fn one_by_one_vs_batch(c: &mut Criterion) {
    const KEYS: usize = 256;
    let (keys, messages, signatures) = distinct_signatures(KEYS);
    let checks: Vec<SigCheck<'_>> = keys
        .iter()
        .zip(&messages)
        .zip(&signatures)
        .map(|((key, message), signature)| SigCheck { key, message, signature })
        .collect();
    let mut group = c.benchmark_group("one_by_one_vs_batch");
    group.throughput(Throughput::Elements(1));
    // One signature per iteration, cycling through the keys.
    group.bench_function("dalek_verify_strict_single", |b| {
        let dalek: Vec<(ed25519_dalek::VerifyingKey, ed25519_dalek::Signature)> = checks
            .iter()
            .map(|c| {
                (
                    ed25519_dalek::VerifyingKey::from_bytes(&c.key.0).expect("a valid key"),
                    ed25519_dalek::Signature::from_bytes(&c.signature.0),
                )
            })
            .collect();
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % KEYS;
            dalek[i].0.verify_strict(black_box(checks[i].message), &dalek[i].1)
        })
    });
    group.bench_function("verify_single", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % KEYS;
            verify(checks[i].key, black_box(checks[i].message), checks[i].signature)
        })
    });
    for size in [2usize, 4, 8, 16, 64] {
        group.throughput(Throughput::Elements(size as u64));
        for (name, strategy) in
            [("one_by_one", VerifyStrategy::OneByOne), ("batch", VerifyStrategy::Batch)]
        {
            group.bench_function(format!("{name}/{size}"), |b| {
                let mut cache = KeyCache::default();
                let mut start = 0;
                b.iter(|| {
                    // A different run of keys each time, all cached after
                    // the first rounds.
                    start = (start + size) % (KEYS - size);
                    verify_many(black_box(&checks[start..start + size]), &mut cache, strategy)
                })
            });
        }
    }
    group.finish();
}

fn votes(c: &mut Criterion) {
    let keys: Vec<SecretKey> = (0..5).map(|i| key(i + 100)).collect();
    let committee = committee(&keys);
    let txids: Vec<TxId> =
        (0..256u32).map(|i| TxId(protocol::hash::sha256(&i.to_le_bytes()))).collect();
    let mut group = c.benchmark_group("votes");
    group.throughput(Throughput::Elements(1));
    group.bench_function("merkle_root_256", |b| b.iter(|| merkle_root(black_box(&txids))));
    group.bench_function("merkle_proofs_256", |b| b.iter(|| merkle_proofs(black_box(&txids))));
    group.bench_function("vote_batch_sign_256", |b| {
        b.iter(|| VoteBatch::sign(CHAIN, &keys[0], 1, txids.clone()))
    });
    let batches: Vec<VoteBatch> =
        keys.iter().map(|k| VoteBatch::sign(CHAIN, k, 1, txids.clone())).collect();
    group.bench_function("vote_batch_check_256_cold", |b| {
        b.iter_batched(
            VerifiedVotes::default,
            |mut verified| batches[1].check(CHAIN, &committee, 4096, &mut verified),
            BatchSize::SmallInput,
        )
    });
    // A certificate of q = 4 votes, checked cold and with the batches seen.
    let indexes: Vec<MemberIndex> = keys
        .iter()
        .map(|k| committee.index_of(&NodeId::from(k.public())).expect("a member"))
        .collect();
    let certificate = FinalityCertificate {
        txid: txids[17],
        votes: batches
            .iter()
            .zip(&indexes)
            .take(4)
            .map(|(b, i)| b.cert_votes(*i).swap_remove(17).1)
            .collect(),
    };
    group.bench_function("certificate_verify_cold", |b| {
        b.iter_batched(
            VerifiedVotes::default,
            |mut v| certificate.verify(CHAIN, &committee, &mut v),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("certificate_verify_cached", |b| {
        let mut verified = VerifiedVotes::default();
        certificate.verify(CHAIN, &committee, &mut verified).expect("a valid certificate");
        b.iter(|| certificate.verify(CHAIN, &committee, &mut verified))
    });
    group.finish();
}

fn commitment(c: &mut Criterion) {
    let (tx, _) = two_input_tx();
    let txid = tx.txid(CHAIN);
    let mut group = c.benchmark_group("utxo_commitment");
    group.throughput(Throughput::Elements(1));
    group.bench_function("insert", |b| {
        let mut set = UtxoCommitment::empty();
        let mut vout = 0u32;
        b.iter(|| {
            vout = vout.wrapping_add(1);
            set.insert(&OutPoint { txid, vout }, &tx.outputs[0]);
        })
    });
    group.finish();
}

criterion_group!(benches, transactions, signatures, one_by_one_vs_batch, votes, commitment);
criterion_main!(benches);
