//! Transaction validity: one test per rejection, the fee rule, multi-signer
//! spends, waiting for a parent, and the order of the checks.
//!
//! PROTOCOL.md §2 and docs/PROTOCOL.md "Validity". Inputs come from a
//! `UtxoView` over a `HashMap`, as the node's would come from its committed
//! and final state. Every transaction is validated with both signature
//! strategies, which must agree.

use std::collections::HashMap;

use protocol::keys::VerifyStrategy;
use protocol::tx::{INPUT_BYTES, OUTPUT_BYTES, SIGNATURE_BYTES, TX_OVERHEAD_BYTES};
use protocol::validate::{
    Admission, Coin, SigVerifier, TxRejection, UtxoView, check_shape, validate_transaction,
};
use protocol::*;

const CHAIN: ChainId = ChainId(9);

/// The node's view of outputs, in a map; anything absent is unknown.
#[derive(Default)]
struct Utxos(HashMap<OutPoint, Coin>);

impl UtxoView for Utxos {
    fn coin(&self, outpoint: &OutPoint) -> Coin {
        self.0.get(outpoint).copied().unwrap_or(Coin::Unknown)
    }
}

impl Utxos {
    /// An unspent output of `value` owned by `owner`, at `outpoint(n)`.
    fn fund(&mut self, n: u8, owner: &SecretKey, value: u64) -> OutPoint {
        let prev = outpoint(n);
        self.0.insert(prev, Coin::Unspent(pay(owner, value)));
        prev
    }

    fn set(&mut self, n: u8, coin: Coin) -> OutPoint {
        let prev = outpoint(n);
        self.0.insert(prev, coin);
        prev
    }
}

fn key(seed: u8) -> SecretKey {
    SecretKey::from_seed([seed; 32])
}

fn outpoint(n: u8) -> OutPoint {
    OutPoint { txid: TxId([n; 32]), vout: u32::from(n) % 3 }
}

fn pay(owner: &SecretKey, value: u64) -> TxOut {
    TxOut {
        value: Amount::from_sat(value),
        address: AddressPayload::from_public_key(&owner.public()),
    }
}

fn input(prev: OutPoint, owner: &SecretKey) -> TxIn {
    TxIn { prev, pubkey: owner.public(), signature: Signature::ZERO }
}

fn transaction(inputs: Vec<TxIn>, outputs: Vec<TxOut>) -> Transaction {
    Transaction { version: 1, inputs, outputs, lock_time: 0, timestamp: 1_700_000_000_000 }
}

/// Signs input i with `signers[i]`.
fn signed(mut tx: Transaction, signers: &[&SecretKey]) -> Transaction {
    assert_eq!(signers.len(), tx.inputs.len());
    for (i, signer) in signers.iter().enumerate() {
        assert!(tx.sign_input(CHAIN, i, signer));
    }
    tx
}

/// Validates with both signature strategies, checks they agree, and returns
/// the outcome.
fn validate(tx: &Transaction, utxos: &Utxos) -> Result<Admission, TxRejection> {
    let params = ConsensusParams::default();
    let one_by_one = validate_transaction(
        tx.clone(),
        CHAIN,
        &params,
        utxos,
        &mut SigVerifier::new(VerifyStrategy::OneByOne),
    );
    let batch = validate_transaction(
        tx.clone(),
        CHAIN,
        &params,
        utxos,
        &mut SigVerifier::new(VerifyStrategy::Batch),
    );
    assert_eq!(one_by_one, batch, "the two signature strategies disagree");
    one_by_one
}

fn rejection(tx: &Transaction, utxos: &Utxos) -> TxRejection {
    match validate(tx, utxos) {
        Err(rejection) => rejection,
        Ok(admission) => panic!("expected a rejection, got {admission:?}"),
    }
}

/// The fee rule of PROTOCOL.md §2 under the default parameters, written out:
/// max(1,000 sat, Σout / 1,000) + 100 sat per input.
fn required_fee(inputs: u64, total_out: u64) -> u64 {
    std::cmp::max(1_000, total_out / 1_000) + 100 * inputs
}

/// A one-input spend of a 10,000-sat coin of key 1 paying `outputs`, signed.
fn simple(outputs: Vec<TxOut>) -> (Transaction, Utxos) {
    let owner = key(1);
    let mut utxos = Utxos::default();
    let prev = utxos.fund(1, &owner, 10_000);
    (signed(transaction(vec![input(prev, &owner)], outputs), &[&owner]), utxos)
}

// ---------------------------------------------------------------------------
// Shape
// ---------------------------------------------------------------------------

#[test]
fn unsupported_version_is_rejected() {
    for version in [0u32, 2, u32::MAX] {
        let (mut tx, utxos) = simple(vec![pay(&key(2), 5_000)]);
        tx.version = version;
        assert_eq!(rejection(&tx, &utxos), TxRejection::UnsupportedVersion { version });
    }
}

#[test]
fn no_inputs_is_rejected() {
    let tx = transaction(vec![], vec![pay(&key(2), 5_000)]);
    assert_eq!(rejection(&tx, &Utxos::default()), TxRejection::NoInputs);
    // A coinbase has no inputs either, and is not a valid transaction to submit.
    let coinbase = Transaction::coinbase(0, 0, vec![pay(&key(2), 5_000)]);
    assert_eq!(rejection(&coinbase, &Utxos::default()), TxRejection::NoInputs);
}

#[test]
fn no_outputs_is_rejected() {
    let (tx, utxos) = simple(vec![]);
    assert_eq!(rejection(&tx, &utxos), TxRejection::NoOutputs);
}

#[test]
fn nonzero_lock_time_is_rejected() {
    for lock_time in [1u32, 500_000, u32::MAX] {
        let (mut tx, utxos) = simple(vec![pay(&key(2), 5_000)]);
        tx.lock_time = lock_time;
        assert_eq!(rejection(&tx, &utxos), TxRejection::LockTime { lock_time });
    }
}

#[test]
fn too_many_inputs_is_rejected() {
    let owner = key(1);
    let prevs = |n: u32| -> Vec<TxIn> {
        (0..n)
            .map(|i| {
                let mut txid = [0u8; 32];
                txid[..4].copy_from_slice(&i.to_le_bytes());
                input(OutPoint { txid: TxId(txid), vout: 0 }, &owner)
            })
            .collect()
    };
    let params = ConsensusParams::default();
    let at_limit = transaction(prevs(256), vec![pay(&key(2), 5_000)]);
    assert!(check_shape(&at_limit, &params).is_ok(), "256 inputs are allowed");
    let over = transaction(prevs(257), vec![pay(&key(2), 5_000)]);
    assert_eq!(
        rejection(&over, &Utxos::default()),
        TxRejection::TooManyInputs { count: 257, max: 256 }
    );
}

#[test]
fn too_large_is_rejected() {
    // One input and n outputs take 24 + 132 + 28·n bytes: 3,565 outputs are
    // 99,976 bytes, 3,566 are 100,004.
    let size = |outputs: usize| 4 + 4 + (32 + 4 + 32 + 64) + 4 + outputs * (8 + 20) + 4 + 8;
    assert_eq!(size(3_565), 99_976);
    assert_eq!(TX_OVERHEAD_BYTES + INPUT_BYTES + SIGNATURE_BYTES + OUTPUT_BYTES, size(1));
    let params = ConsensusParams::default();
    let (fits, _) = simple(vec![pay(&key(2), 600); 3_565]);
    assert_eq!(fits.encode().len(), 99_976);
    assert!(check_shape(&fits, &params).is_ok());
    let (too_big, utxos) = simple(vec![pay(&key(2), 600); 3_566]);
    assert_eq!(too_big.encode().len(), 100_004);
    assert_eq!(rejection(&too_big, &utxos), TxRejection::TooLarge { size: 100_004, max: 100_000 });
}

#[test]
fn duplicate_outpoint_names_both_inputs() {
    let owner = key(1);
    let mut utxos = Utxos::default();
    let a = utxos.fund(1, &owner, 10_000);
    let b = utxos.fund(2, &owner, 10_000);
    let c = utxos.fund(3, &owner, 10_000);
    let tx = signed(
        transaction(
            vec![input(a, &owner), input(b, &owner), input(c, &owner), input(b, &owner)],
            vec![pay(&key(2), 5_000)],
        ),
        &[&owner; 4],
    );
    assert_eq!(
        rejection(&tx, &utxos),
        TxRejection::DuplicateInput { outpoint: b, first: 1, second: 3 }
    );
}

#[test]
fn dust_output_names_its_index() {
    let (tx, utxos) = simple(vec![pay(&key(2), 1_000), pay(&key(2), 546), pay(&key(3), 545)]);
    assert_eq!(rejection(&tx, &utxos), TxRejection::Dust { index: 2, value: 545, min: 546 });
    let (tx, utxos) = simple(vec![pay(&key(2), 0), pay(&key(3), 1)]);
    assert_eq!(rejection(&tx, &utxos), TxRejection::Dust { index: 0, value: 0, min: 546 });
}

#[test]
fn output_overflow_is_rejected() {
    let (tx, utxos) = simple(vec![pay(&key(2), u64::MAX - 500), pay(&key(3), 1_000)]);
    assert_eq!(rejection(&tx, &utxos), TxRejection::OutputOverflow);
}

// ---------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------

#[test]
fn input_overflow_is_rejected() {
    let owner = key(1);
    let mut utxos = Utxos::default();
    let a = utxos.fund(1, &owner, u64::MAX / 2 + 1);
    let b = utxos.fund(2, &owner, u64::MAX / 2 + 1);
    let tx = signed(
        transaction(vec![input(a, &owner), input(b, &owner)], vec![pay(&key(2), 5_000)]),
        &[&owner, &owner],
    );
    assert_eq!(rejection(&tx, &utxos), TxRejection::InputOverflow);
}

#[test]
fn unknown_input_names_it() {
    let owner = key(1);
    let mut utxos = Utxos::default();
    let known = utxos.fund(1, &owner, 10_000);
    let unknown = outpoint(9);
    let tx = signed(
        transaction(vec![input(known, &owner), input(unknown, &owner)], vec![pay(&key(2), 5_000)]),
        &[&owner, &owner],
    );
    assert_eq!(rejection(&tx, &utxos), TxRejection::UnknownInput { index: 1, outpoint: unknown });
}

#[test]
fn input_spent_by_a_final_transaction_names_it() {
    let owner = key(1);
    let mut utxos = Utxos::default();
    let known = utxos.fund(1, &owner, 10_000);
    let spent = utxos.set(2, Coin::Spent);
    let tx = signed(
        transaction(vec![input(known, &owner), input(spent, &owner)], vec![pay(&key(2), 5_000)]),
        &[&owner, &owner],
    );
    assert_eq!(rejection(&tx, &utxos), TxRejection::InputSpent { index: 1, outpoint: spent });
}

#[test]
fn pubkey_not_matching_the_spent_address_is_rejected() {
    let (owner, thief) = (key(1), key(2));
    let mut utxos = Utxos::default();
    let mine = utxos.fund(1, &thief, 10_000);
    let theirs = utxos.fund(2, &owner, 10_000);
    // The thief signs correctly with its own key, but that key does not own
    // the second coin.
    let tx = signed(
        transaction(vec![input(mine, &thief), input(theirs, &thief)], vec![pay(&thief, 15_000)]),
        &[&thief, &thief],
    );
    assert_eq!(rejection(&tx, &utxos), TxRejection::PubkeyMismatch { index: 1, outpoint: theirs });
}

// ---------------------------------------------------------------------------
// Sums and the fee
// ---------------------------------------------------------------------------

#[test]
fn insufficient_funds_reports_both_sums() {
    let (tx, utxos) = simple(vec![pay(&key(2), 6_000), pay(&key(3), 5_000)]);
    assert_eq!(
        rejection(&tx, &utxos),
        TxRejection::InsufficientFunds { inputs: 10_000, outputs: 11_000 }
    );
}

#[test]
fn fee_too_low_reports_the_required_fee() {
    let owner = key(1);
    // (inputs, Σout): the flat minimum, the proportional term, and the
    // boundary where they meet.
    let cases =
        [(1u8, 10_000u64), (2, 5_000_000), (3, 1_000_999), (3, 1_001_000), (1, 250_000_000)];
    for (inputs, total_out) in cases {
        let required = required_fee(u64::from(inputs), total_out);
        for fee in [0, required - 1, required, required + 1] {
            let mut utxos = Utxos::default();
            // Split Σout + fee over the inputs, the first taking the rest.
            let total_in = total_out + fee;
            let share = total_in / u64::from(inputs);
            let mut ins = Vec::new();
            for i in 0..inputs {
                let value = if i == 0 { total_in - share * u64::from(inputs - 1) } else { share };
                ins.push(input(utxos.fund(10 + i, &owner, value), &owner));
            }
            let tx = signed(
                transaction(ins, vec![pay(&key(2), total_out)]),
                &vec![&owner; usize::from(inputs)],
            );
            let outcome = validate(&tx, &utxos);
            if fee < required {
                assert_eq!(
                    outcome,
                    Err(TxRejection::FeeTooLow { fee, required }),
                    "{inputs} inputs paying {total_out}"
                );
            } else {
                let Ok(Admission::Valid(verified)) = outcome else {
                    panic!("{inputs} inputs paying {total_out} with fee {fee}: {outcome:?}");
                };
                assert_eq!(verified.fee(), Amount::from_sat(fee));
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Signatures
// ---------------------------------------------------------------------------

#[test]
fn bad_signature_names_the_input() {
    let owners = [key(1), key(2), key(3)];
    let mut utxos = Utxos::default();
    let inputs: Vec<TxIn> = owners
        .iter()
        .enumerate()
        .map(|(i, k)| input(utxos.fund(i as u8 + 1, k, 10_000), k))
        .collect();
    let unsigned = transaction(inputs, vec![pay(&key(4), 25_000)]);

    // The second of three inputs signed by a key that is not its pubkey.
    let tx = signed(unsigned.clone(), &[&owners[0], &owners[0], &owners[2]]);
    assert_eq!(rejection(&tx, &utxos), TxRejection::BadSignature { index: 1 });

    // The third left unsigned.
    let mut tx = signed(unsigned.clone(), &[&owners[0], &owners[1], &owners[2]]);
    tx.inputs[2].signature = Signature::ZERO;
    assert_eq!(rejection(&tx, &utxos), TxRejection::BadSignature { index: 2 });

    // Signatures swapped between the first two inputs: each is a valid
    // signature by the right key, over the wrong input index.
    let mut tx = signed(unsigned.clone(), &[&owners[0], &owners[1], &owners[2]]);
    let first = tx.inputs[0].signature;
    tx.inputs[0].signature = tx.inputs[1].signature;
    tx.inputs[1].signature = first;
    assert_eq!(rejection(&tx, &utxos), TxRejection::BadSignature { index: 0 });

    // A signature made for another chain.
    let mut tx = signed(unsigned.clone(), &[&owners[0], &owners[1], &owners[2]]);
    let mut other_chain = unsigned;
    assert!(other_chain.sign_input(ChainId(1), 1, &owners[1]));
    tx.inputs[1].signature = other_chain.inputs[1].signature;
    assert_eq!(rejection(&tx, &utxos), TxRejection::BadSignature { index: 1 });
}

#[test]
fn two_inputs_signed_by_two_keys_are_valid_with_the_right_fee() {
    let (alice, bob) = (key(1), key(2));
    let mut utxos = Utxos::default();
    let a = utxos.fund(1, &alice, 150_000_000);
    let b = utxos.fund(2, &bob, 50_000_000);
    // 2 TIME in, 1.997 TIME out: the fee is 300,000 sat, the rule asks
    // max(1,000, 199,700,000 / 1,000) + 2 × 100 = 199,900.
    let outputs = vec![pay(&key(3), 150_000_000), pay(&alice, 49_700_000)];
    let tx = signed(transaction(vec![input(a, &alice), input(b, &bob)], outputs), &[&alice, &bob]);
    let Ok(Admission::Valid(verified)) = validate(&tx, &utxos) else {
        panic!("expected valid: {:?}", validate(&tx, &utxos));
    };
    assert_eq!(verified.fee(), Amount::from_sat(300_000));
    assert_eq!(required_fee(2, 199_700_000), 199_900);
    assert_eq!(verified.txid(), tx.txid(CHAIN));
    assert_eq!(verified.spent(), &[pay(&alice, 150_000_000), pay(&bob, 50_000_000)]);
    assert_eq!(verified.tx(), &tx);
    // The txid does not cover signatures: signing did not change it.
    let mut unsigned = tx.clone();
    for input in &mut unsigned.inputs {
        input.signature = Signature::ZERO;
    }
    assert_eq!(unsigned.txid(CHAIN), tx.txid(CHAIN));
}

// ---------------------------------------------------------------------------
// Availability and order
// ---------------------------------------------------------------------------

#[test]
fn pending_parent_makes_it_wait_listing_the_input() {
    let owner = key(1);
    let mut utxos = Utxos::default();
    let confirmed = utxos.fund(1, &owner, 10_000);
    let pending_a = utxos.set(2, Coin::Pending);
    let pending_b = utxos.set(3, Coin::Pending);
    let tx = signed(
        transaction(
            vec![input(pending_a, &owner), input(confirmed, &owner), input(pending_b, &owner)],
            vec![pay(&key(2), 5_000)],
        ),
        &[&owner; 3],
    );
    assert_eq!(
        validate(&tx, &utxos),
        Ok(Admission::WaitingForParent {
            txid: tx.txid(CHAIN),
            missing: vec![pending_a, pending_b]
        })
    );
    // Once the parents are final, it is judged in full.
    utxos.fund(2, &owner, 10_000);
    utxos.fund(3, &owner, 10_000);
    assert!(matches!(validate(&tx, &utxos), Ok(Admission::Valid(_))));
}

#[test]
fn checks_run_cheapest_first() {
    let owner = key(1);
    let stranger = key(7);
    let mut utxos = Utxos::default();
    let prev = utxos.fund(1, &owner, 10_000);
    let unknown = outpoint(9);

    // Dust and a bad signature: dust.
    let tx = signed(transaction(vec![input(prev, &owner)], vec![pay(&key(2), 100)]), &[&stranger]);
    assert_eq!(rejection(&tx, &utxos), TxRejection::Dust { index: 0, value: 100, min: 546 });

    // Too low a fee and a bad signature: the fee.
    let tx =
        signed(transaction(vec![input(prev, &owner)], vec![pay(&key(2), 9_500)]), &[&stranger]);
    assert_eq!(rejection(&tx, &utxos), TxRejection::FeeTooLow { fee: 500, required: 1_100 });

    // An unknown input and a bad signature: the unknown input.
    let tx =
        signed(transaction(vec![input(unknown, &owner)], vec![pay(&key(2), 5_000)]), &[&stranger]);
    assert_eq!(rejection(&tx, &utxos), TxRejection::UnknownInput { index: 0, outpoint: unknown });

    // A duplicate outpoint and dust: the duplicate (shape before outputs).
    let tx = transaction(vec![input(prev, &owner), input(prev, &owner)], vec![pay(&key(2), 1)]);
    assert_eq!(
        rejection(&tx, &utxos),
        TxRejection::DuplicateInput { outpoint: prev, first: 0, second: 1 }
    );

    // Wrong version and everything else wrong: the version.
    let mut tx = transaction(vec![], vec![]);
    tx.version = 7;
    tx.lock_time = 1;
    assert_eq!(rejection(&tx, &utxos), TxRejection::UnsupportedVersion { version: 7 });
}

#[test]
fn every_rejection_serialises_with_its_kind_as_the_reason() {
    let outpoint = outpoint(1);
    let all = [
        TxRejection::UnsupportedVersion { version: 2 },
        TxRejection::NoInputs,
        TxRejection::NoOutputs,
        TxRejection::LockTime { lock_time: 1 },
        TxRejection::TooManyInputs { count: 257, max: 256 },
        TxRejection::TooLarge { size: 100_004, max: 100_000 },
        TxRejection::DuplicateInput { outpoint, first: 0, second: 1 },
        TxRejection::Dust { index: 0, value: 1, min: 546 },
        TxRejection::OutputOverflow,
        TxRejection::InputOverflow,
        TxRejection::UnknownInput { index: 0, outpoint },
        TxRejection::InputSpent { index: 0, outpoint },
        TxRejection::PubkeyMismatch { index: 0, outpoint },
        TxRejection::InsufficientFunds { inputs: 1, outputs: 2 },
        TxRejection::FeeTooLow { fee: 1, required: 2 },
        TxRejection::BadSignature { index: 1 },
    ];
    let mut kinds: Vec<&str> = all.iter().map(TxRejection::kind).collect();
    for rejection in &all {
        let json = serde_json::to_value(rejection).unwrap();
        assert_eq!(json["reason"], rejection.kind(), "{json}");
        let back: TxRejection = serde_json::from_value(json).unwrap();
        assert_eq!(&back, rejection);
        assert!(!rejection.to_string().is_empty());
    }
    kinds.sort();
    kinds.dedup();
    assert_eq!(kinds.len(), all.len(), "kinds are distinct");
}

#[test]
fn a_decision_made_ahead_holds_only_for_the_signatures_it_was_made_for() {
    // The txid leaves signatures out, so a relayer can swap them: a
    // decision remembered for one set of signatures must not vouch for
    // another under the same txid.
    let (alice, bob) = (key(1), key(2));
    let good =
        signed(transaction(vec![input(outpoint(1), &alice)], vec![pay(&bob, 5_000)]), &[&alice]);
    let txid = good.txid(CHAIN);
    let mut swapped = good.clone();
    swapped.inputs[0].signature = bob.sign(b"something else");
    assert_eq!(swapped.txid(CHAIN), txid, "same txid, other signature");

    let mut verifier = SigVerifier::default();
    let ahead = verifier.first_bad_inputs(CHAIN, &[(&good, txid), (&swapped, txid)]);
    assert_eq!(ahead, vec![None, Some(0)]);
    verifier.remember(txid, &good, ahead[0]);
    assert_eq!(verifier.first_bad_input(CHAIN, &swapped, &txid), Some(0), "checked, not taken");
    verifier.remember(txid, &good, ahead[0]);
    assert_eq!(verifier.first_bad_input(CHAIN, &good, &txid), None);
    // What is remembered is only a decision for that body: a wrong one
    // handed in is used for exactly that body once, then forgotten.
    verifier.remember(txid, &swapped, None);
    assert_eq!(verifier.first_bad_input(CHAIN, &swapped, &txid), None);
    assert_eq!(verifier.first_bad_input(CHAIN, &swapped, &txid), Some(0));
}
