//! ZIP-215 verification: crafted vectors, and batch and single decisions
//! agreeing item by item.
//!
//! Under ZIP-215 (<https://zips.z.cash/zip-0215>) a signature `(R, s)` by key
//! `A` on message `M` is valid exactly when
//!
//! 1. `s` is canonical: `s < l` as a 256-bit little-endian integer;
//! 2. `A` and `R` decode as points, *non-canonical encodings included*
//!    (`y ≥ p` is taken mod p; `x = 0` with the sign bit set is accepted);
//!    small-order and mixed-order points are allowed;
//! 3. `[8]([s]B − R − [k]A)` is the identity, `k = SHA-512(R ‖ A ‖ M) mod l`
//!    over the bytes as given.
//!
//! Today's rule, `verify_strict`, asks for (1), for `A` and `R` to decode and
//! to be of large order, and for `R`'s bytes to equal the canonical encoding
//! of `[s]B − [k]A` (cofactorless, so no torsion in the residue).
//!
//! Every vector here states both expected decisions, worked out from those
//! rules when the vector was built (the comment at each vector says why);
//! two independent models written from the rules above with curve25519-dalek
//! arithmetic ([`zip215_model`], [`strict_model`]) must reach them too, and
//! so must the code under test: `verify` (strict), `verify_zip215` alone, and
//! `verify_batch_zip215`, which must name exactly the ZIP-215-invalid items
//! whatever the batch around them and whatever its random coefficients.
//!
//! What ZIP-215 accepts and strict rejects (all built below):
//! - a small-order key `A` (any of the 8 torsion points, canonical or not)
//!   with `R = rB`, `s = r`, for *every* message: `[8]` kills `[k]A`;
//! - the all-zero signature under a small-order key (`R` = the order-4 point
//!   `y = 0`, `s = 0`);
//! - a small-order `R` with `s = k·a` (residue `−R`, killed by `[8]`);
//! - a mixed-order `R = rB + T` from an honest signer;
//! - a mixed-order key `A = aB + T` whose `k·T ≠ 0` (strict accepts it only
//!   when `k·T = 0`; ZIP-215 always);
//! - non-canonical encodings (`y ≥ p`, or `x = 0` with the sign bit) of
//!   small-order `R` and `A`, in the constructions above.
//!
//! What both reject: `s ≥ l` (`s + l`, `s + 2l`, `s = l`, high bits set) even
//! when the equation holds for `s mod l`; `A` or `R` that do not decode;
//! non-canonical encodings of large-order points nobody knows the discrete
//! log of; wrong message, wrong key, flipped bits.
//!
//! There is nothing strict accepts and ZIP-215 rejects.

mod common;

use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity;
use proptest::prelude::*;
use protocol::keys::{SigCheck, VerifyStrategy, verify, verify_batch_zip215, verify_zip215};
use protocol::tx::input_signing_message;
use protocol::validate::SigVerifier;
use protocol::{
    AddressPayload, Amount, ChainId, OutPoint, PublicKey, SecretKey, Signature, Transaction, TxId,
    TxIn, TxOut,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha512};

/// The group order l = 2^252 + 27742317777372353535851937790883648493,
/// little-endian (RFC 8032 §5.1).
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// The canonical encodings of the eight points of order dividing 8.
const SMALL_ORDER_ENCODINGS: [&str; 8] = [
    // the identity (order 1)
    "0100000000000000000000000000000000000000000000000000000000000000",
    // (0, -1), order 2
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    // (±sqrt(-1), 0), order 4
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    // order 8
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
];

/// Non-canonical encodings of small-order points, by construction:
/// y = p (the order-4 points, y = 0) and y = p + 1 (the identity) with both
/// sign bits, and x = 0 written with the sign bit set (identity, and (0, −1)).
const NON_CANONICAL_SMALL_ORDER: [&str; 6] = [
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p: y = 0, x > 0
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // y = p, x < 0
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p + 1: identity
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // y = p + 1, "−0"
    "0100000000000000000000000000000000000000000000000000000000000080", // identity, "−0"
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // (0, −1), "−0"
];

// ---------------------------------------------------------------------------
// ed25519 by hand, and the two rules written out
// ---------------------------------------------------------------------------

/// An ed25519 signer computed by hand, so its key and nonces can be bent.
struct HandKey {
    secret: Scalar,
    prefix: [u8; 32],
    public: [u8; 32],
}

impl HandKey {
    fn from_seed(seed: [u8; 32]) -> HandKey {
        let digest = Sha512::digest(seed);
        let mut clamped = [0u8; 32];
        clamped.copy_from_slice(&digest[..32]);
        clamped[0] &= 248;
        clamped[31] &= 127;
        clamped[31] |= 64;
        let secret = Scalar::from_bytes_mod_order(clamped);
        let mut prefix = [0u8; 32];
        prefix.copy_from_slice(&digest[32..]);
        let public = EdwardsPoint::mul_base(&secret).compress().to_bytes();
        HandKey { secret, prefix, public }
    }

    fn from_u64(seed: u64) -> HandKey {
        let mut bytes = [0x5e; 32];
        bytes[..8].copy_from_slice(&seed.to_le_bytes());
        HandKey::from_seed(bytes)
    }

    /// The same secret with public point aB + T.
    fn with_key_torsion(self, torsion: &EdwardsPoint) -> HandKey {
        let public = (EdwardsPoint::mul_base(&self.secret) + torsion).compress().to_bytes();
        HandKey { public, ..self }
    }

    fn nonce(&self, message: &[u8]) -> Scalar {
        Scalar::from_hash(Sha512::new().chain_update(self.prefix).chain_update(message))
    }

    /// s = r + k·a with k = H(R ‖ A ‖ M), for whatever R bytes are given.
    fn sign_with(&self, nonce: Scalar, nonce_bytes: [u8; 32], message: &[u8]) -> Signature {
        let k = challenge(&nonce_bytes, &self.public, message);
        signature(nonce_bytes, (nonce + k * self.secret).to_bytes())
    }

    fn sign(&self, message: &[u8]) -> Signature {
        let r = self.nonce(message);
        self.sign_with(r, EdwardsPoint::mul_base(&r).compress().to_bytes(), message)
    }

    /// R = rB + T, s = r + k·a.
    fn sign_with_nonce_torsion(&self, message: &[u8], torsion: &EdwardsPoint) -> Signature {
        let r = self.nonce(message);
        self.sign_with(r, (EdwardsPoint::mul_base(&r) + torsion).compress().to_bytes(), message)
    }

    /// R = the given bytes, s = k·a: [s]B − [k]A = 0, so the residue is −R.
    fn sign_with_nonce_bytes(&self, nonce_bytes: [u8; 32], message: &[u8]) -> Signature {
        self.sign_with(Scalar::ZERO, nonce_bytes, message)
    }
}

fn challenge(nonce_bytes: &[u8; 32], key_bytes: &[u8; 32], message: &[u8]) -> Scalar {
    Scalar::from_hash(
        Sha512::new().chain_update(nonce_bytes).chain_update(key_bytes).chain_update(message),
    )
}

fn signature(nonce_bytes: [u8; 32], s_bytes: [u8; 32]) -> Signature {
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(&nonce_bytes);
    out[32..].copy_from_slice(&s_bytes);
    Signature(out)
}

fn split(sig: &Signature) -> ([u8; 32], [u8; 32]) {
    let mut nonce = [0u8; 32];
    let mut s = [0u8; 32];
    nonce.copy_from_slice(&sig.0[..32]);
    s.copy_from_slice(&sig.0[32..]);
    (nonce, s)
}

/// `bytes < l` as 256-bit little-endian integers (written out, not
/// `Scalar::from_canonical_bytes`).
fn below_l(bytes: &[u8; 32]) -> bool {
    for i in (0..32).rev() {
        if bytes[i] != L[i] {
            return bytes[i] < L[i];
        }
    }
    false
}

/// ZIP-215, from its three rules (see the file's comment).
fn zip215_model(key: &[u8; 32], message: &[u8], sig: &Signature) -> bool {
    let (nonce_bytes, s_bytes) = split(sig);
    if !below_l(&s_bytes) {
        return false;
    }
    let (Some(a), Some(r)) =
        (CompressedEdwardsY(*key).decompress(), CompressedEdwardsY(nonce_bytes).decompress())
    else {
        return false;
    };
    let s = Scalar::from_bytes_mod_order(s_bytes);
    let k = challenge(&nonce_bytes, key, message);
    (EdwardsPoint::mul_base(&s) - r - k * a).mul_by_cofactor().is_identity()
}

/// `verify_strict`, from its rules: s < l, A and R decode and are not of
/// small order, and R's bytes are the encoding of [s]B − [k]A.
fn strict_model(key: &[u8; 32], message: &[u8], sig: &Signature) -> bool {
    let (nonce_bytes, s_bytes) = split(sig);
    if !below_l(&s_bytes) {
        return false;
    }
    let (Some(a), Some(r)) =
        (CompressedEdwardsY(*key).decompress(), CompressedEdwardsY(nonce_bytes).decompress())
    else {
        return false;
    };
    if a.is_small_order() || r.is_small_order() {
        return false;
    }
    let s = Scalar::from_bytes_mod_order(s_bytes);
    let k = challenge(&nonce_bytes, key, message);
    (EdwardsPoint::mul_base(&s) - k * a).compress().to_bytes() == nonce_bytes
}

fn hex32(text: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).expect("64 hex digits");
    out
}

fn add_multiple_of_l(bytes: [u8; 32], times: u16) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut carry = 0u32;
    for i in 0..32 {
        let sum = u32::from(bytes[i]) + u32::from(L[i]) * u32::from(times) + carry;
        out[i] = sum as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0, "overflow past 256 bits");
    out
}

/// Non-canonical encodings y = p + 2 ..= p + 18 (both signs) that decode:
/// points of large order whose discrete log nobody knows.
fn non_canonical_large_order() -> Vec<[u8; 32]> {
    let mut out = Vec::new();
    for y in 2u8..19 {
        for sign in [0u8, 0x80] {
            let mut bytes = [0xff; 32];
            bytes[0] = 0xed + y;
            bytes[31] = 0x7f | sign;
            if let Some(point) = CompressedEdwardsY(bytes).decompress() {
                assert!(!point.is_small_order());
                out.push(bytes);
            }
        }
    }
    out
}

/// 32 bytes that are no point.
fn undecodable_point(skip: usize) -> [u8; 32] {
    (2u32..)
        .map(|y| {
            let mut bytes = [0u8; 32];
            bytes[..4].copy_from_slice(&y.to_le_bytes());
            bytes
        })
        .filter(|bytes| CompressedEdwardsY(*bytes).decompress().is_none())
        .nth(skip)
        .expect("about half of all y are not on the curve")
}

// ---------------------------------------------------------------------------
// Cases and the comparison
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Case {
    what: String,
    key: PublicKey,
    message: Vec<u8>,
    signature: Signature,
    /// What verify_strict must decide (worked out when the case is built).
    strict: bool,
    /// What ZIP-215 must decide.
    zip215: bool,
}

impl Case {
    fn new(
        what: impl Into<String>,
        key: [u8; 32],
        message: &[u8],
        signature: Signature,
        strict: bool,
        zip215: bool,
    ) -> Case {
        let case = Case {
            what: what.into(),
            key: PublicKey(key),
            message: message.to_vec(),
            signature,
            strict,
            zip215,
        };
        // The models, written from the rules, agree with the reasoning.
        assert_eq!(
            strict_model(&key, message, &signature),
            strict,
            "strict model on {}",
            case.what
        );
        assert_eq!(
            zip215_model(&key, message, &signature),
            zip215,
            "ZIP-215 model on {}",
            case.what
        );
        case
    }

    fn check(&self) -> SigCheck<'_> {
        SigCheck { key: &self.key, message: &self.message, signature: &self.signature }
    }
}

fn honest_case(seed: u64) -> Case {
    let key = HandKey::from_u64(seed ^ 0x0123_4567_89ab_cdef);
    let message = format!("honest {seed}").into_bytes();
    let sig = key.sign(&message);
    Case::new(format!("honest {seed}"), key.public, &message, sig, true, true)
}

/// Each case alone against the code: `verify` decides `strict`,
/// `verify_zip215` decides `zip215`.
fn assert_single_decisions(cases: &[Case]) {
    for case in cases {
        let strict = verify(&case.key, &case.message, &case.signature).is_ok();
        assert_eq!(strict, case.strict, "verify (strict) on {}", case.what);
        let zip215 = verify_zip215(&case.key, &case.message, &case.signature).is_ok();
        assert_eq!(zip215, case.zip215, "verify_zip215 on {}", case.what);
    }
}

/// The batch names exactly the items single ZIP-215 verification rejects.
fn assert_batch_agrees(cases: &[Case], rng_seed: u64, context: &str) {
    let checks: Vec<SigCheck<'_>> = cases.iter().map(Case::check).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(rng_seed);
    let bad = verify_batch_zip215(&checks, &mut rng);
    for (i, case) in cases.iter().enumerate() {
        let single = verify_zip215(&case.key, &case.message, &case.signature).is_ok();
        let batch = !bad.contains(&i);
        assert_eq!(
            batch, single,
            "{context}: item {i} ({}): batch says {batch}, single says {single}",
            case.what
        );
        assert_eq!(batch, case.zip215, "{context}: item {i} ({})", case.what);
    }
    let expected: Vec<usize> = (0..cases.len()).filter(|&i| !cases[i].zip215).collect();
    assert_eq!(bad, expected, "{context}: the invalid items, ascending");
}

/// Each case alone, in a batch of honest signatures, all in one batch, and
/// interleaved with honest ones; under several batch coefficient seeds.
fn assert_agreement_everywhere(cases: &[Case]) {
    assert_single_decisions(cases);
    for rng_seed in 0..4u64 {
        assert_batch_agrees(cases, rng_seed, "all crafted cases in one batch");
        let mut interleaved = Vec::new();
        for (i, case) in cases.iter().enumerate() {
            assert_batch_agrees(std::slice::from_ref(case), rng_seed, &format!("case {i} alone"));
            let mut surrounded: Vec<Case> =
                (0..5).map(|j| honest_case(100 * i as u64 + j)).collect();
            surrounded.insert(i % 6, case.clone());
            assert_batch_agrees(&surrounded, rng_seed, &format!("case {i} among honest ones"));
            interleaved.push(honest_case(i as u64));
            interleaved.push(case.clone());
        }
        assert_batch_agrees(&interleaved, rng_seed, "crafted and honest interleaved");
    }
}

// ---------------------------------------------------------------------------
// The facts the vectors rest on
// ---------------------------------------------------------------------------

#[test]
fn hand_signing_matches_ed25519_dalek_and_both_rules_accept_it() {
    for i in 0..8u8 {
        let seed = [i.wrapping_mul(29).wrapping_add(3); 32];
        let message = format!("message {i}").into_bytes();
        let by_hand = HandKey::from_seed(seed);
        let by_dalek = SecretKey::from_seed(seed);
        assert_eq!(PublicKey(by_hand.public), by_dalek.public());
        assert_eq!(by_hand.sign(&message), by_dalek.sign(&message));
        assert!(strict_model(&by_hand.public, &message, &by_hand.sign(&message)));
        assert!(zip215_model(&by_hand.public, &message, &by_hand.sign(&message)));
    }
}

#[test]
fn the_small_order_encodings_decode_as_zip215_requires() {
    let torsion: Vec<[u8; 32]> = EIGHT_TORSION.iter().map(|p| p.compress().to_bytes()).collect();
    for text in SMALL_ORDER_ENCODINGS {
        assert!(torsion.contains(&hex32(text)), "{text} is one of the eight torsion points");
    }
    // ZIP-215 accepts non-canonical encodings: the decoder the models use
    // must too, or the models would not be ZIP-215.
    for text in NON_CANONICAL_SMALL_ORDER {
        let bytes = hex32(text);
        let point = CompressedEdwardsY(bytes).decompress().expect("ZIP-215 decodes y ≥ p and −0");
        assert!(point.is_small_order(), "{text}");
        assert_ne!(point.compress().to_bytes(), bytes, "{text} is not canonical");
    }
    assert!(non_canonical_large_order().len() >= 4);
}

// ---------------------------------------------------------------------------
// Crafted vectors
// ---------------------------------------------------------------------------

fn small_order_keys() -> Vec<[u8; 32]> {
    SMALL_ORDER_ENCODINGS.iter().chain(&NON_CANONICAL_SMALL_ORDER).map(|h| hex32(h)).collect()
}

#[test]
fn small_order_public_keys_zip215_accepts_strict_rejects() {
    let forger = HandKey::from_seed([0x5a; 32]);
    let mut cases = Vec::new();
    for (i, key) in small_order_keys().into_iter().enumerate() {
        let torsion = CompressedEdwardsY(key).decompress().expect("a point");
        for attempt in 0..3 {
            // R = rB, s = r: [s]B − R − [k]A = −[k]A, a small-order point
            // for every message, which [8] kills. Strict rejects a
            // small-order A whatever the equation says.
            let message = format!("small-order key {i}, message {attempt}").into_bytes();
            let r = forger.nonce(&message);
            let nonce_bytes = EdwardsPoint::mul_base(&r).compress().to_bytes();
            let sig = signature(nonce_bytes, r.to_bytes());
            let k = challenge(&nonce_bytes, &key, &message);
            let label = format!(
                "small-order A {} (k·A {}), R = rB, s = r",
                hex::encode(key),
                if (k * torsion).is_identity() { "= 0" } else { "≠ 0" }
            );
            cases.push(Case::new(label, key, &message, sig, false, true));
        }
        // The all-zero signature: R = 00…00 is the order-4 point y = 0, s = 0,
        // so the residue −R − [k]A is small-order: ZIP-215 accepts it.
        let message = format!("zero signature, small-order key {i}").into_bytes();
        cases.push(Case::new(
            format!("all-zero signature under small-order A {}", hex::encode(key)),
            key,
            &message,
            Signature::ZERO,
            false,
            true,
        ));
    }
    // Under an honest key the all-zero signature leaves −[k]A of large order.
    let honest = HandKey::from_seed([0x5b; 32]);
    cases.push(Case::new(
        "all-zero signature under an honest key",
        honest.public,
        b"zero",
        Signature::ZERO,
        false,
        false,
    ));
    assert_agreement_everywhere(&cases);
}

#[test]
fn small_order_nonces_zip215_accepts_strict_rejects() {
    let signer = HandKey::from_seed([0x21; 32]);
    let mut cases = Vec::new();
    for (i, nonce_bytes) in small_order_keys().into_iter().enumerate() {
        // s = k·a: the residue is −R, small-order: ZIP-215 accepts; strict
        // rejects every small-order R (even the identity, for which the
        // cofactorless equation holds).
        let message = format!("small-order R {i}").into_bytes();
        let sig = signer.sign_with_nonce_bytes(nonce_bytes, &message);
        cases.push(Case::new(
            format!("small-order R {}", hex::encode(nonce_bytes)),
            signer.public,
            &message,
            sig,
            false,
            true,
        ));
        // The same R with s = k·a + 1: the residue gains B, of prime order.
        let k = challenge(&nonce_bytes, &signer.public, &message);
        let off_by_one = signature(nonce_bytes, (k * signer.secret + Scalar::ONE).to_bytes());
        cases.push(Case::new(
            format!("small-order R {}, s off by one", hex::encode(nonce_bytes)),
            signer.public,
            &message,
            off_by_one,
            false,
            false,
        ));
    }
    assert_agreement_everywhere(&cases);
}

#[test]
fn mixed_order_nonces_and_keys() {
    let mut cases = Vec::new();
    let mut strict_accepted_mixed_key = 0;
    for (t, torsion) in EIGHT_TORSION.iter().enumerate().skip(1) {
        for i in 0..6u64 {
            // R = rB + T: residue −T, killed by [8]. Strict's cofactorless
            // equation leaves T, and its bytes check fails.
            let signer = HandKey::from_u64(1000 + 10 * t as u64 + i);
            let message = format!("mixed R, T{t}, {i}").into_bytes();
            let sig = signer.sign_with_nonce_torsion(&message, torsion);
            cases.push(Case::new(
                format!("R = rB + T{t} ({i})"),
                signer.public,
                &message,
                sig,
                false,
                true,
            ));
            // A = aB + T, honest R = rB, s = r + k·a: residue −[k]T, zero
            // exactly when k·T = 0 (then strict accepts too; A is of large
            // order); [8] always kills it.
            let key = HandKey::from_u64(2000 + 10 * t as u64 + i).with_key_torsion(torsion);
            let message = format!("mixed A, T{t}, {i}").into_bytes();
            let sig = key.sign(&message);
            let k = challenge(&split(&sig).0, &key.public, &message);
            let strict = (k * torsion).is_identity();
            strict_accepted_mixed_key += usize::from(strict);
            cases.push(Case::new(
                format!("A = aB + T{t} ({i}), k·T {}", if strict { "= 0" } else { "≠ 0" }),
                key.public,
                &message,
                sig,
                strict,
                true,
            ));
            // The same, signed over another message: both reject.
            cases.push(Case::new(
                format!("A = aB + T{t} ({i}), wrong message"),
                key.public,
                b"another message",
                sig,
                false,
                false,
            ));
        }
    }
    assert!(strict_accepted_mixed_key >= 1, "both strict decisions occur among mixed keys");
    assert_agreement_everywhere(&cases);
}

#[test]
fn non_canonical_point_encodings() {
    let signer = HandKey::from_seed([0x44; 32]);
    let forger = HandKey::from_seed([0x45; 32]);
    let mut cases = Vec::new();
    for text in NON_CANONICAL_SMALL_ORDER {
        let bytes = hex32(text);
        // Non-canonical small-order R, s = k·a (k over these bytes): ZIP-215
        // decodes it and [8] kills the residue −R. Strict: small order.
        let message = format!("non-canonical R {text}").into_bytes();
        let sig = signer.sign_with_nonce_bytes(bytes, &message);
        cases.push(Case::new(
            format!("non-canonical small-order R {text}"),
            signer.public,
            &message,
            sig,
            false,
            true,
        ));
    }
    for bytes in non_canonical_large_order() {
        let text = hex::encode(bytes);
        // Non-canonical large-order R, s = k·a: residue −R survives [8].
        let message = format!("non-canonical large R {text}").into_bytes();
        let sig = signer.sign_with_nonce_bytes(bytes, &message);
        cases.push(Case::new(
            format!("non-canonical large-order R {text}"),
            signer.public,
            &message,
            sig,
            false,
            false,
        ));
        // Non-canonical large-order A, signed with someone else's secret:
        // residue [k](forger's key − A), large order.
        let message = format!("non-canonical large A {text}").into_bytes();
        let r = forger.nonce(&message);
        let nonce_bytes = EdwardsPoint::mul_base(&r).compress().to_bytes();
        let k = challenge(&nonce_bytes, &bytes, &message);
        let sig = signature(nonce_bytes, (r + k * forger.secret).to_bytes());
        cases.push(Case::new(
            format!("non-canonical large-order A {text}"),
            bytes,
            &message,
            sig,
            false,
            false,
        ));
    }
    // Points that do not decode at all, as R and as A.
    for skip in 0..3 {
        let bytes = undecodable_point(skip);
        let message = format!("undecodable {skip}").into_bytes();
        let sig = signer.sign_with_nonce_bytes(bytes, &message);
        cases.push(Case::new(
            format!("undecodable R {}", hex::encode(bytes)),
            signer.public,
            &message,
            sig,
            false,
            false,
        ));
        let sig = signer.sign(&message);
        cases.push(Case::new(
            format!("undecodable A {}", hex::encode(bytes)),
            bytes,
            &message,
            sig,
            false,
            false,
        ));
    }
    assert_agreement_everywhere(&cases);
}

#[test]
fn non_canonical_s_is_rejected_by_both() {
    let signer = HandKey::from_seed([0x33; 32]);
    let mut cases = Vec::new();
    for i in 0..4u8 {
        let message = format!("unreduced s {i}").into_bytes();
        let honest = signer.sign(&message);
        let (nonce_bytes, s_bytes) = split(&honest);
        cases.push(Case::new(format!("honest {i}"), signer.public, &message, honest, true, true));
        for times in [1u16, 2] {
            // s + l·times ≡ s (mod l): the equation holds, rule 1 does not.
            let unreduced = add_multiple_of_l(s_bytes, times);
            assert_eq!(Scalar::from_bytes_mod_order(unreduced).to_bytes(), s_bytes);
            cases.push(Case::new(
                format!("s + {times}l ({i})"),
                signer.public,
                &message,
                signature(nonce_bytes, unreduced),
                false,
                false,
            ));
        }
        for high in [0x20u8, 0x40, 0x80, 0xe0] {
            let mut bits = s_bytes;
            bits[31] |= high;
            cases.push(Case::new(
                format!("s | {high:#x}<<248 ({i})"),
                signer.public,
                &message,
                signature(nonce_bytes, bits),
                false,
                false,
            ));
        }
    }
    // s = l (the unreduced zero) with a small-order R and a small-order key:
    // the cofactored equation holds for s mod l = 0, rule 1 still rejects.
    let key = hex32(SMALL_ORDER_ENCODINGS[0]);
    cases.push(Case::new(
        "s = l, R and A small-order",
        key,
        b"s equals l",
        signature(hex32(SMALL_ORDER_ENCODINGS[2]), L),
        false,
        false,
    ));
    // s = 0, canonical, with the same points: the residue −R − [k]A is
    // small-order, so ZIP-215 accepts what it rejected for s = l.
    cases.push(Case::new(
        "s = 0, R and A small-order",
        key,
        b"s equals l",
        signature(hex32(SMALL_ORDER_ENCODINGS[2]), [0; 32]),
        false,
        true,
    ));
    assert_agreement_everywhere(&cases);
}

#[test]
fn one_bad_signature_among_good_ones_is_named() {
    for len in [2usize, 3, 8, 17, 64] {
        for bad_at in [0, len / 2, len - 1] {
            let mut cases: Vec<Case> = (0..len as u64).map(|i| honest_case(7000 + i)).collect();
            let victim = &cases[bad_at];
            let mut message = victim.message.clone();
            message.push(b'!');
            cases[bad_at] = Case::new(
                format!("item {bad_at}: signed another message"),
                victim.key.0,
                &message,
                victim.signature,
                false,
                false,
            );
            for rng_seed in 0..3 {
                assert_batch_agrees(&cases, rng_seed, &format!("{len} items, bad at {bad_at}"));
            }
        }
    }
    // Two bad, and every one bad.
    let mut cases: Vec<Case> = (0..10u64).map(honest_case).collect();
    let mut all_bad = Vec::new();
    for case in &mut cases {
        let mut sig = case.signature;
        sig.0[40] ^= 0x10;
        all_bad.push(Case::new(
            format!("{} with a bit flipped in s", case.what),
            case.key.0,
            &case.message,
            sig,
            false,
            false,
        ));
    }
    cases[3] = all_bad[3].clone();
    cases[9] = all_bad[9].clone();
    assert_batch_agrees(&cases, 5, "two bad of ten");
    assert_batch_agrees(&all_bad, 5, "all ten bad");
}

#[test]
fn batches_with_repeated_keys_agree() {
    // The batch merges the terms of signatures under one key; a bad one
    // under a shared key must still be named alone.
    let key = HandKey::from_seed([0x71; 32]);
    let mixed = HandKey::from_seed([0x72; 32]).with_key_torsion(&EIGHT_TORSION[4]);
    let mut cases = Vec::new();
    for i in 0..12u8 {
        let message = format!("same key {i}").into_bytes();
        let signer = if i % 2 == 0 { &key } else { &mixed };
        let sig = signer.sign(&message);
        let k = challenge(&split(&sig).0, &signer.public, &message);
        let strict = i % 2 == 0 || (k * EIGHT_TORSION[4]).is_identity();
        cases.push(Case::new(
            format!("shared key, {i}"),
            signer.public,
            &message,
            sig,
            strict,
            true,
        ));
    }
    // A flipped bit in R: R becomes another point (or none); the residue
    // gains a large-order part.
    let (key_bytes, message, mut sig) =
        (cases[5].key.0, cases[5].message.clone(), cases[5].signature);
    sig.0[3] ^= 1;
    cases[5] = Case::new("shared key, 5, R bit flipped", key_bytes, &message, sig, false, false);
    assert_single_decisions(&cases);
    for rng_seed in 0..4 {
        assert_batch_agrees(&cases, rng_seed, "repeated keys");
    }
}

// ---------------------------------------------------------------------------
// Random batches with random corruptions
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Corruption {
    None,
    WrongMessage,
    FlipSignatureBit(u16),
    FlipKeyBit(u8),
    SPlusL,
    SmallOrderKey(usize),
    SmallOrderNonce(usize),
    MixedOrderNonce(usize),
    MixedOrderKey(usize),
    NonCanonicalLargeNonce(usize),
    ZeroSignature,
    ZeroSignatureSmallOrderKey(usize),
}

fn corruption() -> impl Strategy<Value = Corruption> {
    let small = small_order_keys().len();
    prop_oneof![
        6 => Just(Corruption::None),
        1 => Just(Corruption::WrongMessage),
        2 => (0..512u16).prop_map(Corruption::FlipSignatureBit),
        1 => any::<u8>().prop_map(Corruption::FlipKeyBit),
        1 => Just(Corruption::SPlusL),
        1 => (0..small).prop_map(Corruption::SmallOrderKey),
        1 => (0..small).prop_map(Corruption::SmallOrderNonce),
        1 => (1..8usize).prop_map(Corruption::MixedOrderNonce),
        1 => (1..8usize).prop_map(Corruption::MixedOrderKey),
        1 => (0..4usize).prop_map(Corruption::NonCanonicalLargeNonce),
        1 => Just(Corruption::ZeroSignature),
        1 => (0..small).prop_map(Corruption::ZeroSignatureSmallOrderKey),
    ]
}

/// (key bytes, message, signature) for one generated item.
fn build_item(seed: u64, corruption: &Corruption) -> ([u8; 32], Vec<u8>, Signature) {
    let signer = HandKey::from_u64(seed);
    let message = format!("item {seed}").into_bytes();
    let honest = signer.sign(&message);
    let (nonce_bytes, s_bytes) = split(&honest);
    match *corruption {
        Corruption::None => (signer.public, message, honest),
        Corruption::WrongMessage => (signer.public, b"wrong".to_vec(), honest),
        Corruption::FlipSignatureBit(bit) => {
            let mut sig = honest;
            sig.0[usize::from(bit / 8)] ^= 1 << (bit % 8);
            (signer.public, message, sig)
        }
        Corruption::FlipKeyBit(bit) => {
            let mut key = signer.public;
            key[usize::from(bit / 8)] ^= 1 << (bit % 8);
            (key, message, honest)
        }
        Corruption::SPlusL => {
            (signer.public, message, signature(nonce_bytes, add_multiple_of_l(s_bytes, 1)))
        }
        Corruption::SmallOrderKey(i) => {
            let r = signer.nonce(&message);
            let sig = signature(EdwardsPoint::mul_base(&r).compress().to_bytes(), r.to_bytes());
            (small_order_keys()[i], message, sig)
        }
        Corruption::SmallOrderNonce(i) => {
            let sig = signer.sign_with_nonce_bytes(small_order_keys()[i], &message);
            (signer.public, message, sig)
        }
        Corruption::MixedOrderNonce(t) => {
            let sig = signer.sign_with_nonce_torsion(&message, &EIGHT_TORSION[t]);
            (signer.public, message, sig)
        }
        Corruption::MixedOrderKey(t) => {
            let key = signer.with_key_torsion(&EIGHT_TORSION[t]);
            let sig = key.sign(&message);
            (key.public, message, sig)
        }
        Corruption::NonCanonicalLargeNonce(i) => {
            let nonce = non_canonical_large_order()[i];
            (signer.public, message.clone(), signer.sign_with_nonce_bytes(nonce, &message))
        }
        Corruption::ZeroSignature => (signer.public, message, Signature::ZERO),
        Corruption::ZeroSignatureSmallOrderKey(i) => {
            (small_order_keys()[i], message, Signature::ZERO)
        }
    }
}

proptest! {
    #![proptest_config(common::proptest_config(48))]

    /// Batch and single ZIP-215 decisions are identical item by item, and
    /// equal the ZIP-215 model, for random batches with random corruptions
    /// (and some repeated keys), whatever the batch coefficients.
    #[test]
    fn random_batches_batch_and_single_agree(
        items in prop::collection::vec((0..40u64, corruption()), 1..40),
        rng_seed in any::<u64>(),
    ) {
        let built: Vec<([u8; 32], Vec<u8>, Signature)> =
            items.iter().map(|(seed, c)| build_item(*seed, c)).collect();
        let keys: Vec<PublicKey> = built.iter().map(|(k, _, _)| PublicKey(*k)).collect();
        let checks: Vec<SigCheck<'_>> = built
            .iter()
            .zip(&keys)
            .map(|((_, message, signature), key)| SigCheck { key, message, signature })
            .collect();
        let mut rng = ChaCha8Rng::seed_from_u64(rng_seed);
        let bad = verify_batch_zip215(&checks, &mut rng);
        prop_assert!(bad.windows(2).all(|w| w[0] < w[1]), "ascending, no repeats: {:?}", bad);
        for (i, (key, message, sig)) in built.iter().enumerate() {
            let single = verify_zip215(&PublicKey(*key), message, sig).is_ok();
            let model = zip215_model(key, message, sig);
            prop_assert_eq!(single, model, "item {} ({:?}): single vs model", i, items[i]);
            prop_assert_eq!(
                !bad.contains(&i), single,
                "item {} ({:?}): batch vs single", i, items[i]
            );
            // Whatever strict accepts, ZIP-215 accepts.
            if verify(&PublicKey(*key), message, sig).is_ok() {
                prop_assert!(single, "item {} ({:?}): strict accepts, ZIP-215 rejects", i, items[i]);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Many transactions' inputs in one batch
// ---------------------------------------------------------------------------

const CHAIN: ChainId = ChainId(9);

/// How one input of a generated transaction is signed.
#[derive(Clone, Copy, Debug)]
enum InputSig {
    /// Honestly: valid under both rules.
    Honest,
    /// Over the message of another input index: invalid under both.
    WrongIndex,
    /// s + l: invalid under both.
    Unreduced,
    /// R = rB + T (T of order 8): ZIP-215 accepts, strict rejects.
    MixedOrderNonce,
}

/// A transaction whose input `i` is signed by its own key as `sigs[i]` says.
fn transaction(seed: u64, sigs: &[InputSig]) -> (Transaction, TxId) {
    let signers: Vec<HandKey> =
        (0..sigs.len()).map(|i| HandKey::from_u64(seed * 1000 + i as u64)).collect();
    let mut tx = Transaction {
        version: 1,
        inputs: signers
            .iter()
            .enumerate()
            .map(|(i, k)| TxIn {
                prev: OutPoint { txid: TxId([seed as u8; 32]), vout: i as u32 },
                pubkey: PublicKey(k.public),
                signature: Signature::ZERO,
            })
            .collect(),
        outputs: vec![TxOut {
            value: Amount::from_sat(10_000),
            address: AddressPayload::from_public_key(&PublicKey(signers[0].public)),
        }],
        lock_time: 0,
        timestamp: 1_700_000_000_000 + seed as i64,
    };
    let txid = tx.txid(CHAIN);
    for (i, (signer, how)) in signers.iter().zip(sigs).enumerate() {
        let message = input_signing_message(CHAIN, &txid, i as u32);
        tx.inputs[i].signature = match how {
            InputSig::Honest => signer.sign(&message),
            InputSig::WrongIndex => signer.sign(&input_signing_message(CHAIN, &txid, i as u32 + 1)),
            InputSig::Unreduced => {
                let (nonce_bytes, s_bytes) = split(&signer.sign(&message));
                signature(nonce_bytes, add_multiple_of_l(s_bytes, 1))
            }
            InputSig::MixedOrderNonce => {
                signer.sign_with_nonce_torsion(&message, &EIGHT_TORSION[3])
            }
        };
    }
    (tx, txid)
}

/// The first input ZIP-215 rejects, one signature at a time.
fn first_bad_alone(tx: &Transaction, txid: &TxId) -> Option<usize> {
    tx.inputs.iter().enumerate().position(|(i, input)| {
        let message = input_signing_message(CHAIN, txid, i as u32);
        verify_zip215(&input.pubkey, &message, &input.signature).is_err()
    })
}

#[test]
fn many_transactions_in_one_batch_name_each_first_bad_input() {
    use InputSig::*;
    // Each transaction's inputs, and the first bad input under ZIP-215 and
    // under strict, from how they are signed.
    let plans: Vec<(Vec<InputSig>, Option<usize>, Option<usize>)> = vec![
        (vec![Honest, Honest], None, None),
        (vec![Honest, WrongIndex, Honest], Some(1), Some(1)),
        (vec![Honest], None, None),
        (vec![Unreduced, Honest, WrongIndex], Some(0), Some(0)),
        (vec![Honest, Honest, Honest, Honest, WrongIndex], Some(4), Some(4)),
        (vec![MixedOrderNonce, Honest], None, Some(0)),
        (vec![Honest, MixedOrderNonce, Unreduced, WrongIndex], Some(2), Some(1)),
        (vec![WrongIndex, WrongIndex], Some(0), Some(0)),
        (vec![Honest, Honest, Honest], None, None),
        (vec![MixedOrderNonce], None, Some(0)),
    ];
    let built: Vec<(Transaction, TxId)> =
        plans.iter().enumerate().map(|(s, (sigs, _, _))| transaction(s as u64 + 1, sigs)).collect();
    let txs: Vec<(&Transaction, TxId)> = built.iter().map(|(tx, txid)| (tx, *txid)).collect();
    let zip215: Vec<Option<usize>> = plans.iter().map(|p| p.1).collect();
    let strict: Vec<Option<usize>> = plans.iter().map(|p| p.2).collect();

    let mut verifier = SigVerifier::new(VerifyStrategy::Strict);
    for rng_seed in 0..4 {
        let mut rng = ChaCha8Rng::seed_from_u64(rng_seed);
        assert_eq!(
            verifier.first_bad_inputs_zip215(CHAIN, &txs, &mut rng),
            zip215,
            "seed {rng_seed}"
        );
    }
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    for (t, (tx, txid)) in built.iter().enumerate() {
        assert_eq!(first_bad_alone(tx, txid), zip215[t], "tx {t}: single ZIP-215 checks");
        assert_eq!(
            verifier.first_bad_inputs_zip215(CHAIN, &[(tx, *txid)], &mut rng),
            vec![zip215[t]],
            "tx {t} in a batch of its own"
        );
        // Today's rule, for contrast: it rejects the mixed-order nonces.
        assert_eq!(verifier.first_bad_input(CHAIN, tx, txid), strict[t], "tx {t}: strict");
    }
    // Only the good ones: the batch passes.
    let good: Vec<(&Transaction, TxId)> =
        txs.iter().zip(&zip215).filter(|(_, bad)| bad.is_none()).map(|(tx, _)| *tx).collect();
    assert_eq!(verifier.first_bad_inputs_zip215(CHAIN, &good, &mut rng), vec![None; good.len()]);
    assert!(verifier.first_bad_inputs_zip215(CHAIN, &[], &mut rng).is_empty());
}

fn input_sig() -> impl Strategy<Value = InputSig> {
    prop_oneof![
        8 => Just(InputSig::Honest),
        1 => Just(InputSig::WrongIndex),
        1 => Just(InputSig::Unreduced),
        1 => Just(InputSig::MixedOrderNonce),
    ]
}

proptest! {
    #![proptest_config(common::proptest_config(32))]

    /// Random transactions with random bad inputs: one batch over all of
    /// them names, per transaction, the first input single ZIP-215
    /// verification rejects.
    #[test]
    fn many_transactions_batch_equals_single(
        plans in prop::collection::vec(prop::collection::vec(input_sig(), 1..6), 1..12),
        rng_seed in any::<u64>(),
    ) {
        let built: Vec<(Transaction, TxId)> =
            plans.iter().enumerate().map(|(s, sigs)| transaction(s as u64 + 50, sigs)).collect();
        let txs: Vec<(&Transaction, TxId)> = built.iter().map(|(tx, txid)| (tx, *txid)).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(rng_seed);
        let batch = SigVerifier::default().first_bad_inputs_zip215(CHAIN, &txs, &mut rng);
        prop_assert_eq!(batch.len(), built.len());
        for (t, (tx, txid)) in built.iter().enumerate() {
            let expected = plans[t]
                .iter()
                .position(|s| matches!(s, InputSig::WrongIndex | InputSig::Unreduced));
            prop_assert_eq!(batch[t], expected, "tx {} {:?}", t, plans[t]);
            prop_assert_eq!(first_bad_alone(tx, txid), expected, "tx {} {:?}", t, plans[t]);
        }
    }
}
