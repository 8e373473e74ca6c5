//! The batch fast path decides exactly as `verify_strict`, on crafted vectors.
//!
//! PROTOCOL.md §1: a signature is valid exactly when `verify_strict` accepts
//! it, and checking it in a batch must never change that decision. The
//! signatures here are computed by hand (RFC 8032 arithmetic over
//! curve25519-dalek and SHA-512, checked against ed25519-dalek's signer in
//! `hand_signing_matches_ed25519_dalek`) so they can be bent the ways a
//! hostile signer would bend them: small-order and mixed-order keys and
//! nonces, non-canonical point encodings, unreduced scalars. Every case runs
//! through `verify_many(.., Batch)`, `verify_many(.., Strict)` and `verify`,
//! alone and inside batches of honest signatures, and each decision is
//! compared with the others and with the decision the case was built to have.
//!
//! Seeded cases print their seed; set `SIGNATURES_SEED` to replay another.

use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity;
use ed25519_dalek::{Verifier, VerifyingKey};
use protocol::keys::{KeyCache, SigCheck, VerifyStrategy, verify, verify_many};
use protocol::{PublicKey, SecretKey, Signature};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha512};

/// The group order l = 2^252 + 27742317777372353535851937790883648493,
/// little-endian (RFC 8032 §5.1).
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// The eight points of order dividing 8, as the literature lists them (the
/// blocklist of libsodium's `ge25519_has_small_order`, with both signs of x).
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

// ---------------------------------------------------------------------------
// ed25519 by hand
// ---------------------------------------------------------------------------

/// An ed25519 signer computed by hand, so its public point and nonces can be
/// tampered with.
struct HandKey {
    /// a: the clamped scalar from SHA-512(seed)[..32].
    secret: Scalar,
    /// SHA-512(seed)[32..]: the nonce key.
    prefix: [u8; 32],
    /// The bytes that go into the challenge hash and into `PublicKey`.
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

    /// The same secret with public point aB + T: a mixed-order key.
    fn with_key_torsion(self, torsion: &EdwardsPoint) -> HandKey {
        let public = (EdwardsPoint::mul_base(&self.secret) + torsion).compress().to_bytes();
        HandKey { public, ..self }
    }

    fn public_key(&self) -> PublicKey {
        PublicKey(self.public)
    }

    /// r = H(prefix ‖ M) mod l.
    fn nonce(&self, message: &[u8]) -> Scalar {
        Scalar::from_hash(Sha512::new().chain_update(self.prefix).chain_update(message))
    }

    /// s = r + k·a with k = H(R ‖ A ‖ M), for whatever R bytes are given.
    fn sign_with(&self, nonce: Scalar, nonce_bytes: [u8; 32], message: &[u8]) -> Signature {
        let k = challenge(&nonce_bytes, &self.public, message);
        signature(nonce_bytes, (nonce + k * self.secret).to_bytes())
    }

    /// Plain ed25519: R = rB.
    fn sign(&self, message: &[u8]) -> Signature {
        let r = self.nonce(message);
        self.sign_with(r, EdwardsPoint::mul_base(&r).compress().to_bytes(), message)
    }

    /// R = rB + T, s computed so that the prime-order part verifies.
    fn sign_with_nonce_torsion(&self, message: &[u8], torsion: &EdwardsPoint) -> Signature {
        let r = self.nonce(message);
        let nonce_point = EdwardsPoint::mul_base(&r) + torsion;
        self.sign_with(r, nonce_point.compress().to_bytes(), message)
    }
}

/// k = H(R ‖ A ‖ M) mod l.
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

/// [s]B − [k]A − R, with every point decoded leniently and s reduced: zero
/// when the cofactorless equation holds for the decoded points.
fn residue(key: &[u8; 32], message: &[u8], sig: &Signature) -> Option<EdwardsPoint> {
    let (nonce_bytes, s_bytes) = split(sig);
    let key_point = CompressedEdwardsY(*key).decompress()?;
    let nonce_point = CompressedEdwardsY(nonce_bytes).decompress()?;
    let s = Scalar::from_bytes_mod_order(s_bytes);
    let k = challenge(&nonce_bytes, key, message);
    Some(EdwardsPoint::mul_base(&s) - k * key_point - nonce_point)
}

/// [s]B = R + [k]A as points (s reduced): what a lax verifier checks.
fn cofactorless_equation_holds(key: &[u8; 32], message: &[u8], sig: &Signature) -> bool {
    residue(key, message, sig).is_some_and(|p| p.is_identity())
}

/// [8][s]B = [8]R + [8][k]A: what a cofactored (or lucky batch) verifier checks.
fn cofactored_equation_holds(key: &[u8; 32], message: &[u8], sig: &Signature) -> bool {
    residue(key, message, sig).is_some_and(|p| p.mul_by_cofactor().is_identity())
}

/// ed25519-dalek's non-strict `verify`: cofactorless, but with no
/// small-order checks.
fn lax_verify(key: &[u8; 32], message: &[u8], sig: &Signature) -> bool {
    VerifyingKey::from_bytes(key)
        .is_ok_and(|k| k.verify(message, &ed25519_dalek::Signature::from_bytes(&sig.0)).is_ok())
}

fn hex32(text: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).expect("64 hex digits");
    out
}

/// `bytes` + `l`·`times` as a 256-bit little-endian integer (no overflow for
/// the small multiples used here).
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

/// The order of a point of order dividing 8.
fn torsion_order(point: &EdwardsPoint) -> u32 {
    let mut multiple = *point;
    for order in [1, 2, 4, 8] {
        if multiple.is_identity() {
            return order;
        }
        multiple = multiple + multiple;
    }
    panic!("not a point of order dividing 8");
}

/// `EIGHT_TORSION[i]` is [i]P for a generator P of order 8.
fn torsion_of_order(order: u32) -> EdwardsPoint {
    match order {
        2 => EIGHT_TORSION[4],
        4 => EIGHT_TORSION[2],
        8 => EIGHT_TORSION[1],
        _ => panic!("no torsion point of order {order} is used here"),
    }
}

/// Every 32-byte string that decodes to a point but not canonically: y ≥ p
/// (y = p + 0 ..= p + 18) with either sign bit, and the two points with
/// x = 0 written with the sign bit set. Strings whose y is not on the curve
/// are included too; they do not decode.
fn non_canonical_encodings() -> Vec<[u8; 32]> {
    let mut out = Vec::new();
    for y in 0u8..19 {
        for sign in [0u8, 0x80] {
            let mut bytes = [0xff; 32];
            bytes[0] = 0xed + y;
            bytes[31] = 0x7f | sign;
            out.push(bytes);
        }
    }
    let mut identity_negative = [0u8; 32];
    identity_negative[0] = 1;
    identity_negative[31] = 0x80;
    out.push(identity_negative);
    let mut minus_one_negative = [0xff; 32];
    minus_one_negative[0] = 0xec;
    out.push(minus_one_negative);
    out
}

/// 32 bytes that are not the y-coordinate of any curve point.
fn undecodable_point(skip: u32) -> [u8; 32] {
    (2u32..)
        .map(|y| {
            let mut bytes = [0u8; 32];
            bytes[..4].copy_from_slice(&y.to_le_bytes());
            bytes
        })
        .filter(|bytes| CompressedEdwardsY(*bytes).decompress().is_none())
        .nth(skip as usize)
        .expect("about half of all y are not on the curve")
}

// ---------------------------------------------------------------------------
// Cases and the comparison
// ---------------------------------------------------------------------------

/// One crafted check and the decision verify_strict must reach on it.
#[derive(Clone, Debug)]
struct Case {
    what: String,
    key: PublicKey,
    message: Vec<u8>,
    signature: Signature,
    valid: bool,
}

impl Case {
    fn new(what: impl Into<String>, key: [u8; 32], message: &[u8], sig: Signature) -> Case {
        Case {
            what: what.into(),
            key: PublicKey(key),
            message: message.to_vec(),
            signature: sig,
            valid: false,
        }
    }

    fn valid(mut self, valid: bool) -> Case {
        self.valid = valid;
        self
    }
}

fn honest_case(seed: u64, label: &str) -> Case {
    let mut key_seed = [0u8; 32];
    key_seed[..8].copy_from_slice(&seed.to_le_bytes());
    key_seed[31] = 0xaa;
    let key = HandKey::from_seed(key_seed);
    let message = format!("honest {label} {seed}").into_bytes();
    let sig = key.sign(&message);
    Case::new(format!("honest {label} {seed}"), key.public, &message, sig).valid(true)
}

/// Runs `cases` as one batch through Batch, Strict and `verify`, and checks
/// that every decision agrees and equals the decision the case was built
/// to have.
fn assert_same_decisions(cases: &[Case], context: &str) {
    let checks: Vec<SigCheck<'_>> = cases
        .iter()
        .map(|c| SigCheck { key: &c.key, message: &c.message, signature: &c.signature })
        .collect();
    let batch = verify_many(&checks, &mut KeyCache::default(), VerifyStrategy::Batch);
    let strict = verify_many(&checks, &mut KeyCache::default(), VerifyStrategy::Strict);
    assert_eq!(batch.len(), cases.len(), "{context}: one decision per item");
    assert_eq!(strict.len(), cases.len(), "{context}: one decision per item");
    for (i, case) in cases.iter().enumerate() {
        let alone = verify(&case.key, &case.message, &case.signature).is_ok();
        assert_eq!(
            alone, case.valid,
            "{context}: verify_strict on item {i} ({}) decided {alone}, the case is built to be {}",
            case.what, case.valid
        );
        assert_eq!(
            strict[i], alone,
            "{context}: Strict differs from verify on item {i} ({})",
            case.what
        );
        assert_eq!(
            batch[i], alone,
            "{context}: Batch decided {} on item {i} ({}), verify_strict decided {alone}",
            batch[i], case.what
        );
    }
}

/// Each case alone, in the middle of honest signatures, and all of them
/// interleaved with honest signatures in one batch.
fn assert_same_decisions_everywhere(cases: &[Case]) {
    assert_same_decisions(cases, "all crafted cases in one batch");
    let mut interleaved = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        assert_same_decisions(std::slice::from_ref(case), &format!("case {i} alone"));
        let mut surrounded: Vec<Case> =
            (0..6).map(|j| honest_case(j, &format!("around {i}"))).collect();
        surrounded.insert(3, case.clone());
        assert_same_decisions(&surrounded, &format!("case {i} among honest signatures"));
        interleaved.push(honest_case(i as u64, "interleaved"));
        interleaved.push(case.clone());
    }
    assert_same_decisions(&interleaved, "crafted and honest interleaved");
}

fn seed_from_env(default: u64) -> u64 {
    let seed =
        std::env::var("SIGNATURES_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(default);
    eprintln!("seed {seed} (replay with SIGNATURES_SEED={seed})");
    seed
}

// ---------------------------------------------------------------------------
// The arithmetic the vectors rely on
// ---------------------------------------------------------------------------

#[test]
fn hand_signing_matches_ed25519_dalek() {
    for i in 0..16u8 {
        let seed = [i.wrapping_mul(37).wrapping_add(1); 32];
        let message = format!("message number {i}").into_bytes();
        let by_hand = HandKey::from_seed(seed);
        let by_dalek = SecretKey::from_seed(seed);
        assert_eq!(by_hand.public_key(), by_dalek.public(), "public key of seed {i}");
        assert_eq!(by_hand.sign(&message), by_dalek.sign(&message), "signature of seed {i}");
        assert!(cofactorless_equation_holds(&by_hand.public, &message, &by_hand.sign(&message)));
    }
}

#[test]
fn the_eight_torsion_points_are_the_known_small_order_encodings() {
    let mut computed: Vec<[u8; 32]> =
        EIGHT_TORSION.iter().map(|p| p.compress().to_bytes()).collect();
    let mut known: Vec<[u8; 32]> = SMALL_ORDER_ENCODINGS.iter().map(|h| hex32(h)).collect();
    computed.sort();
    known.sort();
    assert_eq!(computed, known);
    let orders: Vec<u32> = EIGHT_TORSION.iter().map(torsion_order).collect();
    assert_eq!(orders, vec![1, 8, 4, 8, 2, 8, 4, 8]);
    for bytes in known {
        let point = CompressedEdwardsY(bytes).decompress().unwrap();
        assert!(point.is_small_order());
        assert_eq!(point.compress().to_bytes(), bytes, "listed encodings are canonical");
    }
}

#[test]
fn the_non_canonical_encodings_are_not_canonical() {
    let encodings = non_canonical_encodings();
    let mut decodable = 0;
    let mut large_order = 0;
    for bytes in &encodings {
        if let Some(point) = CompressedEdwardsY(*bytes).decompress() {
            decodable += 1;
            assert_ne!(point.compress().to_bytes(), *bytes, "{} is canonical", hex::encode(bytes));
            if !point.is_small_order() {
                large_order += 1;
            }
        }
    }
    // y = 0 (order 4) and y = 1 (the identity) are on the curve for sure;
    // other small y are points of large order.
    assert!(decodable >= 6, "only {decodable} non-canonical encodings decode");
    assert!(large_order >= 1, "no non-canonical encoding of a large-order point");
}

// ---------------------------------------------------------------------------
// Small-order keys and nonces
// ---------------------------------------------------------------------------

/// A signature under the small-order key `key_bytes` (point T) that satisfies
/// the cofactorless equation: R = rB, s = r, and a message for which
/// k·T = 0, so [s]B − [k]T = rB = R.
fn forge_for_small_order_key(key_bytes: [u8; 32], label: &str) -> Case {
    let torsion = CompressedEdwardsY(key_bytes).decompress().expect("a small-order point");
    assert!(torsion.is_small_order());
    let nonce_key = HandKey::from_seed([0x5a; 32]);
    for attempt in 0..256 {
        let message = format!("{label} attempt {attempt}").into_bytes();
        let r = nonce_key.nonce(&message);
        let nonce_bytes = EdwardsPoint::mul_base(&r).compress().to_bytes();
        let k = challenge(&nonce_bytes, &key_bytes, &message);
        if (k * torsion).is_identity() {
            let sig = signature(nonce_bytes, r.to_bytes());
            return Case::new(label, key_bytes, &message, sig);
        }
    }
    panic!("no message gives k·T = 0 for {label}");
}

#[test]
fn small_order_public_keys_are_rejected_though_the_cofactorless_equation_holds() {
    let mut keys: Vec<(String, [u8; 32])> =
        SMALL_ORDER_ENCODINGS.iter().map(|h| (format!("small-order key {h}"), hex32(h))).collect();
    for bytes in non_canonical_encodings() {
        if CompressedEdwardsY(bytes).decompress().is_some_and(|p| p.is_small_order()) {
            keys.push((format!("non-canonical small-order key {}", hex::encode(bytes)), bytes));
        }
    }
    assert!(keys.len() >= 8 + 4, "the identity and order-4 points have non-canonical forms");
    let cases: Vec<Case> = keys
        .iter()
        .map(|(label, bytes)| {
            let case = forge_for_small_order_key(*bytes, label);
            assert!(cofactorless_equation_holds(bytes, &case.message, &case.signature), "{label}");
            assert!(
                lax_verify(bytes, &case.message, &case.signature),
                "dalek's verify takes {label}"
            );
            case
        })
        .collect();
    assert_same_decisions_everywhere(&cases);
}

#[test]
fn small_order_nonces_are_rejected() {
    let signer = HandKey::from_seed([0x21; 32]);
    let mut nonces: Vec<[u8; 32]> = SMALL_ORDER_ENCODINGS.iter().map(|h| hex32(h)).collect();
    nonces.extend(
        non_canonical_encodings()
            .into_iter()
            .filter(|b| CompressedEdwardsY(*b).decompress().is_some_and(|p| p.is_small_order())),
    );
    let mut cases = Vec::new();
    for (i, nonce_bytes) in nonces.iter().enumerate() {
        let point = CompressedEdwardsY(*nonce_bytes).decompress().unwrap();
        let message = format!("small-order nonce {i}").into_bytes();
        // s = k·a: [s]B − [k]A = 0, so the residue is −R, a small-order point.
        let k = challenge(nonce_bytes, &signer.public, &message);
        let sig = signature(*nonce_bytes, (k * signer.secret).to_bytes());
        assert!(cofactored_equation_holds(&signer.public, &message, &sig), "nonce {i}");
        assert_eq!(
            cofactorless_equation_holds(&signer.public, &message, &sig),
            point.is_identity(),
            "nonce {i}"
        );
        if *nonce_bytes == hex32(SMALL_ORDER_ENCODINGS[0]) {
            assert!(
                lax_verify(&signer.public, &message, &sig),
                "dalek's verify takes R = identity"
            );
        }
        let label = format!("small-order R {}", hex::encode(nonce_bytes));
        cases.push(Case::new(label, signer.public, &message, sig));
    }
    assert_same_decisions_everywhere(&cases);
}

// ---------------------------------------------------------------------------
// Non-canonical encodings
// ---------------------------------------------------------------------------

#[test]
fn non_canonical_s_is_rejected() {
    let signer = HandKey::from_seed([0x33; 32]);
    let mut cases = Vec::new();
    for i in 0..8u8 {
        let message = format!("unreduced s {i}").into_bytes();
        let honest = signer.sign(&message);
        let (nonce_bytes, s_bytes) = split(&honest);
        cases.push(Case::new(format!("honest {i}"), signer.public, &message, honest).valid(true));
        for times in [1u16, 2] {
            let unreduced = add_multiple_of_l(s_bytes, times);
            assert_eq!(
                Scalar::from_bytes_mod_order(unreduced).to_bytes(),
                s_bytes,
                "s + {times}l reduces to s, so a verifier that reduces s would accept it"
            );
            let sig = signature(nonce_bytes, unreduced);
            assert!(cofactorless_equation_holds(&signer.public, &message, &sig));
            cases.push(Case::new(format!("s + {times}l ({i})"), signer.public, &message, sig));
        }
        for high in [0x20u8, 0x40, 0x80, 0xe0] {
            let mut bits = s_bytes;
            bits[31] |= high;
            let sig = signature(nonce_bytes, bits);
            cases.push(Case::new(
                format!("s | {high:#x}<<248 ({i})"),
                signer.public,
                &message,
                sig,
            ));
        }
    }
    // s = l: the unreduced form of zero.
    let message = b"s equals l";
    let r = signer.nonce(message);
    let sig = signature(EdwardsPoint::mul_base(&r).compress().to_bytes(), L);
    cases.push(Case::new("s = l", signer.public, message, sig));
    assert_same_decisions_everywhere(&cases);
}

#[test]
fn non_canonical_nonce_encodings_are_rejected() {
    let signer = HandKey::from_seed([0x44; 32]);
    let mut cases = Vec::new();
    for (i, nonce_bytes) in non_canonical_encodings().into_iter().enumerate() {
        let message = format!("non-canonical R {i}").into_bytes();
        // s = k·a makes [s]B − [k]A = 0: for the non-canonical identity a
        // verifier comparing points instead of bytes would accept.
        let k = challenge(&nonce_bytes, &signer.public, &message);
        let sig = signature(nonce_bytes, (k * signer.secret).to_bytes());
        let point = CompressedEdwardsY(nonce_bytes).decompress();
        if point.is_some_and(|p| p.is_identity()) {
            assert!(cofactorless_equation_holds(&signer.public, &message, &sig));
        }
        cases.push(Case::new(
            format!("non-canonical R {}", hex::encode(nonce_bytes)),
            signer.public,
            &message,
            sig,
        ));
    }
    // An R that is no point at all.
    let message = b"undecodable R";
    let k = challenge(&undecodable_point(0), &signer.public, message);
    let sig = signature(undecodable_point(0), (k * signer.secret).to_bytes());
    cases.push(Case::new("undecodable R", signer.public, message, sig));
    assert_same_decisions_everywhere(&cases);
}

#[test]
fn non_canonical_public_key_encodings_decide_like_strict() {
    let mut cases = Vec::new();
    let forger = HandKey::from_seed([0x55; 32]);
    for key_bytes in non_canonical_encodings() {
        let label = format!("non-canonical A {}", hex::encode(key_bytes));
        match CompressedEdwardsY(key_bytes).decompress() {
            Some(point) if point.is_small_order() => {
                let case = forge_for_small_order_key(key_bytes, &label);
                assert!(lax_verify(&key_bytes, &case.message, &case.signature), "{label}");
                cases.push(case);
            }
            _ => {
                // Nobody knows the discrete log of these points: a signature
                // made with another secret over these key bytes.
                let message = label.clone().into_bytes();
                let r = forger.nonce(&message);
                let nonce_bytes = EdwardsPoint::mul_base(&r).compress().to_bytes();
                let k = challenge(&nonce_bytes, &key_bytes, &message);
                let sig = signature(nonce_bytes, (r + k * forger.secret).to_bytes());
                cases.push(Case::new(label, key_bytes, &message, sig));
            }
        }
    }
    for skip in 0..3 {
        let key_bytes = undecodable_point(skip);
        let honest = HandKey::from_seed([0x66; 32]);
        let message = b"key that is no point";
        cases.push(Case::new(
            format!("undecodable A {}", hex::encode(key_bytes)),
            key_bytes,
            message,
            honest.sign(message),
        ));
    }
    assert_same_decisions_everywhere(&cases);
}

// ---------------------------------------------------------------------------
// Mixed-order nonces and keys
// ---------------------------------------------------------------------------

#[test]
fn mixed_order_nonce_is_rejected_though_dalek_verify_batch_sometimes_accepts_it() {
    for order in [2u32, 4, 8] {
        let torsion = torsion_of_order(order);
        assert_eq!(torsion_order(&torsion), order);
        let mut accepted_by_dalek = 0;
        let trials = 64;
        for trial in 0..trials {
            let signer = HandKey::from_seed([trial as u8 ^ 0x77; 32]);
            let message = format!("mixed-order R, order {order}, trial {trial}").into_bytes();
            let crafted = signer.sign_with_nonce_torsion(&message, &torsion);
            assert!(!cofactorless_equation_holds(&signer.public, &message, &crafted));
            assert!(cofactored_equation_holds(&signer.public, &message, &crafted));
            let mut batch: Vec<Case> =
                (0..3).map(|j| honest_case(trial * 8 + j, "beside mixed R")).collect();
            batch.insert(
                (trial % 4) as usize,
                Case::new(
                    format!("R = rB + T, T of order {order}, trial {trial}"),
                    signer.public,
                    &message,
                    crafted,
                ),
            );
            assert_same_decisions(&batch, &format!("mixed-order R of order {order}"));

            let messages: Vec<&[u8]> = batch.iter().map(|c| c.message.as_slice()).collect();
            let sigs: Vec<ed25519_dalek::Signature> = batch
                .iter()
                .map(|c| ed25519_dalek::Signature::from_bytes(&c.signature.0))
                .collect();
            let keys: Vec<VerifyingKey> =
                batch.iter().map(|c| VerifyingKey::from_bytes(&c.key.0).unwrap()).collect();
            if ed25519_dalek::verify_batch(&messages, &sigs, &keys).is_ok() {
                accepted_by_dalek += 1;
            }
        }
        eprintln!("order {order}: dalek's verify_batch accepted {accepted_by_dalek} of {trials}");
        // Its coefficient z kills T when z ≡ 0 mod order(T): about 1/order.
        assert!(
            accepted_by_dalek >= 1,
            "order {order}: dalek's verify_batch never accepted a mixed-order R, so this test \
             would not notice a Batch strategy that trusted it"
        );
        assert!(
            accepted_by_dalek < trials,
            "order {order}: dalek's verify_batch accepted every one"
        );
    }
}

#[test]
fn mixed_order_public_key_verifies_exactly_when_k_kills_the_torsion() {
    for order in [2u32, 4, 8] {
        let torsion = torsion_of_order(order);
        let mut cases = Vec::new();
        let mut dalek_accepted_invalid = 0;
        for i in 0..64u8 {
            let key = HandKey::from_seed([i ^ 0x99; 32]).with_key_torsion(&torsion);
            let message = format!("mixed-order A, order {order}, message {i}").into_bytes();
            let sig = key.sign(&message);
            let (nonce_bytes, _) = split(&sig);
            // [s]B − [k]A = rB − [k]T: equal to R exactly when k·T = 0.
            let k = challenge(&nonce_bytes, &key.public, &message);
            let expected = (k * torsion).is_identity();
            assert_eq!(cofactorless_equation_holds(&key.public, &message, &sig), expected);
            let case =
                Case::new(format!("A = aB + T, order {order}, #{i}"), key.public, &message, sig)
                    .valid(expected);
            if !expected {
                let honest = honest_case(u64::from(i), "beside mixed A");
                let keys = [
                    VerifyingKey::from_bytes(&case.key.0).unwrap(),
                    VerifyingKey::from_bytes(&honest.key.0).unwrap(),
                ];
                let sigs = [
                    ed25519_dalek::Signature::from_bytes(&case.signature.0),
                    ed25519_dalek::Signature::from_bytes(&honest.signature.0),
                ];
                let messages = [case.message.as_slice(), honest.message.as_slice()];
                if ed25519_dalek::verify_batch(&messages, &sigs, &keys).is_ok() {
                    dalek_accepted_invalid += 1;
                }
            }
            cases.push(case);
        }
        let valid = cases.iter().filter(|c| c.valid).count();
        eprintln!(
            "order {order}: {valid} of 64 valid; dalek's verify_batch accepted \
             {dalek_accepted_invalid} invalid ones"
        );
        assert!(
            valid > 0 && valid < 64,
            "order {order}: both decisions must occur ({valid} valid)"
        );
        if order == 2 {
            assert!(dalek_accepted_invalid >= 1, "the key pre-check is what keeps these out");
        }
        assert_same_decisions_everywhere(&cases);
    }
}

// ---------------------------------------------------------------------------
// Mixed batches
// ---------------------------------------------------------------------------

/// One bad (or, for a mixed-order key, either) signature of a random kind.
fn random_crafted_case(rng: &mut ChaCha8Rng, n: usize) -> Case {
    let signer = HandKey::from_seed(rng.random());
    let message: Vec<u8> = (0..rng.random_range(0..80usize)).map(|_| rng.random()).collect();
    let honest = signer.sign(&message);
    let (nonce_bytes, s_bytes) = split(&honest);
    match rng.random_range(0..12u32) {
        0 => {
            let mut other = message.clone();
            other.push(rng.random());
            Case::new(format!("{n}: wrong message"), signer.public, &other, honest)
        }
        1 => {
            let other = HandKey::from_seed(rng.random());
            Case::new(format!("{n}: wrong key"), other.public, &message, honest)
        }
        2 => {
            let sig = signature(nonce_bytes, add_multiple_of_l(s_bytes, 1));
            Case::new(format!("{n}: s + l"), signer.public, &message, sig)
        }
        3 => {
            let mut bits = s_bytes;
            bits[31] |= 0x80;
            Case::new(
                format!("{n}: high bit of s"),
                signer.public,
                &message,
                signature(nonce_bytes, bits),
            )
        }
        4 => {
            let index = rng.random_range(0..8usize);
            forge_for_small_order_key(
                hex32(SMALL_ORDER_ENCODINGS[index]),
                &format!("{n}: small-order A"),
            )
        }
        5 => {
            let nonce = hex32(SMALL_ORDER_ENCODINGS[rng.random_range(0..8usize)]);
            let k = challenge(&nonce, &signer.public, &message);
            let sig = signature(nonce, (k * signer.secret).to_bytes());
            Case::new(format!("{n}: small-order R"), signer.public, &message, sig)
        }
        6 => {
            let torsion = EIGHT_TORSION[rng.random_range(1..8usize)];
            let sig = signer.sign_with_nonce_torsion(&message, &torsion);
            Case::new(format!("{n}: mixed-order R"), signer.public, &message, sig)
        }
        7 => {
            let torsion = EIGHT_TORSION[rng.random_range(1..8usize)];
            let key = signer.with_key_torsion(&torsion);
            let sig = key.sign(&message);
            let k = challenge(&split(&sig).0, &key.public, &message);
            Case::new(format!("{n}: mixed-order A"), key.public, &message, sig)
                .valid((k * torsion).is_identity())
        }
        8 => {
            let encodings = non_canonical_encodings();
            let nonce = encodings[rng.random_range(0..encodings.len())];
            let k = challenge(&nonce, &signer.public, &message);
            let sig = signature(nonce, (k * signer.secret).to_bytes());
            Case::new(format!("{n}: non-canonical R"), signer.public, &message, sig)
        }
        9 => Case::new(
            format!("{n}: undecodable A"),
            undecodable_point(n as u32 % 4),
            &message,
            honest,
        ),
        10 => {
            Case::new(format!("{n}: all-zero signature"), signer.public, &message, Signature::ZERO)
        }
        _ => {
            let mut sig = honest;
            let byte = rng.random_range(0..64usize);
            sig.0[byte] ^= 1 << rng.random_range(0..8u32);
            Case::new(format!("{n}: one bit flipped in byte {byte}"), signer.public, &message, sig)
        }
    }
}

#[test]
fn mixed_batches_of_honest_and_bad_signatures_in_random_positions() {
    let seed = seed_from_env(0x7153_2026);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut shared_keys = KeyCache::with_capacity(16);
    for round in 0..40 {
        let len = rng.random_range(1..=48usize);
        let mut cases = Vec::with_capacity(len);
        for n in 0..len {
            if rng.random_bool(0.6) {
                cases.push(honest_case(rng.random(), &format!("round {round}")));
            } else {
                cases.push(random_crafted_case(&mut rng, n));
            }
        }
        // Repeat some keys, so cached keys are exercised.
        if len > 2 {
            let from = rng.random_range(0..len);
            let mut repeat = cases[from].clone();
            repeat.message.push(0);
            repeat.what = format!("{} with a changed message", repeat.what);
            repeat.valid = false;
            cases.push(repeat);
            cases.push(cases[from].clone());
        }
        assert_same_decisions(&cases, &format!("seed {seed} round {round}"));
        // A long-lived, small cache gives the same decisions.
        let checks: Vec<SigCheck<'_>> = cases
            .iter()
            .map(|c| SigCheck { key: &c.key, message: &c.message, signature: &c.signature })
            .collect();
        let expected: Vec<bool> = cases.iter().map(|c| c.valid).collect();
        assert_eq!(
            verify_many(&checks, &mut shared_keys, VerifyStrategy::Batch),
            expected,
            "seed {seed} round {round}: Batch with a shared key cache"
        );
        assert_eq!(
            verify_many(&checks, &mut shared_keys, VerifyStrategy::Strict),
            expected,
            "seed {seed} round {round}: Strict with a shared key cache"
        );
    }
}

#[test]
fn all_honest_batch_of_64_is_accepted() {
    let cases: Vec<Case> = (0..64).map(|i| honest_case(i, "all honest")).collect();
    assert_same_decisions(&cases, "64 honest signatures");
    let checks: Vec<SigCheck<'_>> = cases
        .iter()
        .map(|c| SigCheck { key: &c.key, message: &c.message, signature: &c.signature })
        .collect();
    let mut keys = KeyCache::default();
    for pass in 0..2 {
        let decisions = verify_many(&checks, &mut keys, VerifyStrategy::Batch);
        assert_eq!(decisions, vec![true; 64], "pass {pass} (second pass uses cached keys)");
    }
    assert!(verify_many(&[], &mut keys, VerifyStrategy::Batch).is_empty());
}
