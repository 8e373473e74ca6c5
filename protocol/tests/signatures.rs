//! The signature rule, ZIP-215, on vectors worked out by hand, and every
//! verification path deciding identically, item by item.
//!
//! Under ZIP-215 (<https://zips.z.cash/zip-0215>; docs/PROTOCOL.md §9) a
//! signature `(R, s)` by key `A` on message `M` is valid exactly when
//!
//! 1. `s` is canonical: `s < l` as a 256-bit little-endian integer;
//! 2. `A` and `R` decode as points, *non-canonical encodings included*
//!    (`y ≥ p` is taken mod p; `x = 0` with the sign bit set is accepted);
//!    small-order and mixed-order points are allowed;
//! 3. `[8]([s]B − R − [k]A)` is the identity, `k = SHA-512(R ‖ A ‖ M) mod l`
//!    over the bytes as given.
//!
//! The previous rule, `verify_strict`, asked for (1), for `A` and `R` to
//! decode and to be of large order, and for `R`'s bytes to equal the
//! canonical encoding of `[s]B − [k]A` (cofactorless, so no torsion in the
//! residue).
//!
//! Every vector below states ZIP-215's decision and `verify_strict`'s,
//! worked out from those rules when the vector was written (the comment at
//! each says why). Before any code under test runs, each built signature is
//! checked against two models written from the rules with curve25519-dalek
//! arithmetic ([`zip215_model`], [`strict_model`]) and against
//! ed25519-dalek's own `verify_strict`. Then the code under test must reach
//! the ZIP-215 decision on every item: `verify`; `verify_many` with
//! `OneByOne` and with `Batch`, with fresh and with long-lived key caches,
//! each vector alone, among honest signatures, all vectors in one batch,
//! interleaved, in random batches (proptest); and `SigVerifier`'s
//! `first_bad_inputs` (all transactions in one batch) and `first_bad_input`
//! (both strategies), each vector re-signed as a transaction input.
//!
//! What ZIP-215 accepts and strict rejected (all built below):
//! - under each of the 14 small-order key encodings (8 canonical, 6 not):
//!   `R = rB, s = r`; the all-zero signature; `R = B, s = 1`, made with no
//!   secret at all and valid for *every* message: anyone can sign;
//! - a small-order `R` (any of the 14 encodings) with `s = k·a`;
//! - `R = rB + T` made by the key's holder (mixed-order nonce);
//! - a mixed-order key `A = aB + T` whose `k·T ≠ 0` (strict accepted it only
//!   when `k·T = 0`);
//! - `s = 0` with small-order `R` and `A`.
//!
//! What both reject: `s ≥ l` (`s + l`, `s + 2l`, `s = l`, high bits set) even
//! when the equation holds for `s mod l`; `A` or `R` that do not decode;
//! non-canonical encodings of large-order points; `R + T` substituted by a
//! third party into an honest signature (it changes `k`: no malleability
//! without the secret); wrong message, wrong key, flipped bits.
//!
//! Nothing strict accepts is rejected by ZIP-215, so the switch leaves
//! every signature already on a chain valid.
//!
//! The small-order encodings, their address payloads and a few signature
//! vectors are also written in docs/PROTOCOL.md §9; this file checks them
//! (`PRINT_VECTORS=1 cargo test -p protocol --test signatures -- --nocapture`
//! prints what it computes).

mod common;
mod doc_vectors;

use std::sync::OnceLock;

use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity;
use proptest::prelude::*;
use protocol::keys::{KeyCache, SigCheck, VerifyStrategy, verify, verify_many};
use protocol::tx::input_signing_message;
use protocol::validate::SigVerifier;
use protocol::{
    AddressPayload, Amount, ChainId, OutPoint, PublicKey, SecretKey, Signature, Transaction, TxId,
    TxIn, TxOut,
};
use sha2::{Digest, Sha256, Sha512};

const CHAIN: ChainId = ChainId(9);

/// The group order l = 2^252 + 27742317777372353535851937790883648493,
/// little-endian (RFC 8032 §5.1).
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// The canonical encodings of the eight points of order dividing 8, as the
/// literature lists them (libsodium's blocklist, with both signs of x).
const SMALL_ORDER_ENCODINGS: [&str; 8] = [
    // the identity (0, 1), order 1
    "0100000000000000000000000000000000000000000000000000000000000000",
    // (0, −1), order 2
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    // (±√−1, 0), order 4
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    // order 8
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
];

/// The non-canonical encodings of small-order points, by construction: the
/// only points with y < 19 (so y + p < 2^255 has room) are the order-4
/// points (y = 0) and the identity (y = 1), each with either sign bit; and
/// the points with x = 0, the identity and (0, −1), written with the sign
/// bit set ("−0").
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

/// An ed25519 signer computed by hand (RFC 8032 arithmetic), so its key and
/// nonces can be bent. `public` is the key bytes it signs for (they go into
/// k); it may be a bent key, not `[secret]B`.
#[derive(Clone)]
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

    /// The same secret, signing for the public point aB + T.
    fn with_key_torsion(&self, torsion: &EdwardsPoint) -> HandKey {
        let public = (EdwardsPoint::mul_base(&self.secret) + torsion).compress().to_bytes();
        HandKey { public, ..self.clone() }
    }

    /// The same secret and nonce key, signing for these key bytes.
    fn for_key(&self, public: [u8; 32]) -> HandKey {
        HandKey { public, ..self.clone() }
    }

    /// r = SHA-512(prefix ‖ M) mod l.
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
}

/// k = SHA-512(R ‖ A ‖ M) mod l.
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

/// What both models need first: s below l, A and R decoded (any
/// encoding), s and the challenge k; `None` when s or a point fails.
fn parts(
    key: &[u8; 32],
    message: &[u8],
    sig: &Signature,
) -> Option<(EdwardsPoint, EdwardsPoint, Scalar, Scalar)> {
    let (nonce_bytes, s_bytes) = split(sig);
    if !below_l(&s_bytes) {
        return None;
    }
    let a = CompressedEdwardsY(*key).decompress()?;
    let r = CompressedEdwardsY(nonce_bytes).decompress()?;
    let s = Scalar::from_bytes_mod_order(s_bytes);
    Some((a, r, s, challenge(&nonce_bytes, key, message)))
}

/// ZIP-215, from its three rules (see the file's comment).
fn zip215_model(key: &[u8; 32], message: &[u8], sig: &Signature) -> bool {
    parts(key, message, sig).is_some_and(|(a, r, s, k)| {
        (EdwardsPoint::mul_base(&s) - r - k * a).mul_by_cofactor().is_identity()
    })
}

/// `verify_strict`, from its rules: s < l, A and R decode and are not of
/// small order, and R's bytes are the encoding of [s]B − [k]A.
fn strict_model(key: &[u8; 32], message: &[u8], sig: &Signature) -> bool {
    let (nonce_bytes, _) = split(sig);
    parts(key, message, sig).is_some_and(|(a, r, s, k)| {
        !a.is_small_order()
            && !r.is_small_order()
            && (EdwardsPoint::mul_base(&s) - k * a).compress().to_bytes() == nonce_bytes
    })
}

/// ed25519-dalek's `verify_strict`: the previous rule's implementation.
fn dalek_verify_strict(key: &[u8; 32], message: &[u8], sig: &Signature) -> bool {
    ed25519_dalek::VerifyingKey::from_bytes(key).is_ok_and(|k| {
        k.verify_strict(message, &ed25519_dalek::Signature::from_bytes(&sig.0)).is_ok()
    })
}

fn hex32(text: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).expect("64 hex digits");
    out
}

/// `bytes` + `l`·`times` as a 256-bit little-endian integer.
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

/// The 14 encodings of small-order points: canonical, then not.
fn small_order_keys() -> Vec<[u8; 32]> {
    SMALL_ORDER_ENCODINGS.iter().chain(&NON_CANONICAL_SMALL_ORDER).map(|h| hex32(h)).collect()
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

/// 32 bytes that are no point (about half of all y are not on the curve).
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

// ---------------------------------------------------------------------------
// Vectors: how a signature is made, and what each rule decides
// ---------------------------------------------------------------------------

/// How a vector's signature is made from its signer and the message.
#[derive(Clone, Copy, Debug)]
enum How {
    /// Plain ed25519.
    Honest,
    /// Plain ed25519 over another message.
    OtherMessage,
    /// R = rB, s = r (no secret involved).
    NonceIsRB,
    /// These exact 64 bytes, whatever the message.
    Fixed(Signature),
    /// R = these bytes, s = k·a: [s]B − [k]A = 0, so the residue is −R.
    NonceBytes([u8; 32]),
    /// R = these bytes, s = k·a + 1: the residue is B − R.
    NonceBytesOffByOne([u8; 32]),
    /// The key holder signs with R = rB + T (T = `EIGHT_TORSION[t]`).
    NonceTorsion(usize),
    /// Someone without the secret takes an honest (R, s) and sends
    /// (R + T, s).
    TorsionAddedToR(usize),
    /// Honest, then s + `times`·l.
    SPlusL(u16),
    /// Honest, then these bits set in s's top byte.
    SHighBits(u8),
    /// Honest, then one bit of the 512 flipped.
    FlipBit(u16),
}

/// What `verify_strict` decides.
#[derive(Clone, Copy, Debug)]
enum Strict {
    Accepts,
    Rejects,
    /// Accepts exactly when k·T = 0 (T = `EIGHT_TORSION[t]`): a mixed-order
    /// key's residue −[k]T.
    WhenKKillsTorsion(usize),
}

/// A vector: who signs, for which key bytes, how, and both decisions.
#[derive(Clone)]
struct Vector {
    what: String,
    signer: HandKey,
    /// The key the check carries (usually `signer.public`).
    key: [u8; 32],
    how: How,
    zip215: bool,
    strict: Strict,
}

fn vector(
    what: impl Into<String>,
    signer: &HandKey,
    how: How,
    zip215: bool,
    strict: Strict,
) -> Vector {
    Vector { what: what.into(), signer: signer.clone(), key: signer.public, how, zip215, strict }
}

impl Vector {
    /// Checked under other key bytes than the signer signs for.
    fn under(mut self, key: [u8; 32]) -> Vector {
        self.key = key;
        self
    }

    fn sign(&self, message: &[u8]) -> Signature {
        let signer = &self.signer;
        let honest = || split(&signer.sign(message));
        match self.how {
            How::Honest => signer.sign(message),
            How::OtherMessage => signer.sign(&[message, b" (another)"].concat()),
            How::NonceIsRB => {
                let r = signer.nonce(message);
                signature(EdwardsPoint::mul_base(&r).compress().to_bytes(), r.to_bytes())
            }
            How::Fixed(sig) => sig,
            How::NonceBytes(bytes) => signer.sign_with(Scalar::ZERO, bytes, message),
            How::NonceBytesOffByOne(bytes) => signer.sign_with(Scalar::ONE, bytes, message),
            How::NonceTorsion(t) => {
                let r = signer.nonce(message);
                let nonce = EdwardsPoint::mul_base(&r) + EIGHT_TORSION[t];
                signer.sign_with(r, nonce.compress().to_bytes(), message)
            }
            How::TorsionAddedToR(t) => {
                let (nonce_bytes, s_bytes) = honest();
                let nonce = CompressedEdwardsY(nonce_bytes).decompress().expect("rB decodes");
                signature((nonce + EIGHT_TORSION[t]).compress().to_bytes(), s_bytes)
            }
            How::SPlusL(times) => {
                let (nonce_bytes, s_bytes) = honest();
                signature(nonce_bytes, add_multiple_of_l(s_bytes, times))
            }
            How::SHighBits(bits) => {
                let (nonce_bytes, mut s_bytes) = honest();
                s_bytes[31] |= bits;
                signature(nonce_bytes, s_bytes)
            }
            How::FlipBit(bit) => {
                let mut sig = signer.sign(message);
                sig.0[usize::from(bit / 8)] ^= 1 << (bit % 8);
                sig
            }
        }
    }

    /// The vector signed over `message`, with both decisions checked
    /// against the models and ed25519-dalek.
    fn case(&self, message: &[u8]) -> Case {
        let signature = self.sign(message);
        let strict = match self.strict {
            Strict::Accepts => true,
            Strict::Rejects => false,
            Strict::WhenKKillsTorsion(t) => {
                let (nonce_bytes, _) = split(&signature);
                (challenge(&nonce_bytes, &self.key, message) * EIGHT_TORSION[t]).is_identity()
            }
        };
        Case::new(self.what.clone(), self.key, message, signature, strict, self.zip215)
    }
}

/// One signature to check and the decisions it was built to have.
#[derive(Clone, Debug)]
struct Case {
    what: String,
    key: PublicKey,
    message: Vec<u8>,
    signature: Signature,
    zip215: bool,
}

impl Case {
    /// Asserts that the models and ed25519-dalek's `verify_strict` agree
    /// with the decisions worked out by hand.
    fn new(
        what: String,
        key: [u8; 32],
        message: &[u8],
        signature: Signature,
        strict: bool,
        zip215: bool,
    ) -> Case {
        assert_eq!(zip215_model(&key, message, &signature), zip215, "ZIP-215 model on {what}");
        assert_eq!(strict_model(&key, message, &signature), strict, "strict model on {what}");
        assert_eq!(dalek_verify_strict(&key, message, &signature), strict, "dalek on {what}");
        // Whatever strict accepts, ZIP-215 accepts.
        assert!(!strict || zip215, "{what}: strict accepts, ZIP-215 rejects");
        Case { what, key: PublicKey(key), message: message.to_vec(), signature, zip215 }
    }

    fn check(&self) -> SigCheck<'_> {
        SigCheck { key: &self.key, message: &self.message, signature: &self.signature }
    }
}

/// The catalog: every kind of vector, over every special encoding.
fn catalog() -> &'static [Vector] {
    static CATALOG: OnceLock<Vec<Vector>> = OnceLock::new();
    CATALOG.get_or_init(build_catalog)
}

fn build_catalog() -> Vec<Vector> {
    use How::*;
    use Strict::*;
    let mut out = Vec::new();
    let signer = HandKey::from_u64(100);
    let forger = HandKey::from_u64(101);

    // Honest signatures: both rules accept.
    for seed in 0..4 {
        out.push(vector(format!("honest {seed}"), &HandKey::from_u64(seed), Honest, true, Accepts));
    }

    // Small-order keys A (each of the 14 encodings). k·A is small-order for
    // every k, so [8] kills it: a signature needs only [8]([s]B − R) = 0,
    // i.e. R = [s]B + (torsion). Strict refuses every small-order A.
    let base_point_sig = signature(ED25519_BASEPOINT_POINT.compress().to_bytes(), {
        let mut one = [0u8; 32];
        one[0] = 1;
        one
    });
    for key in small_order_keys() {
        let hex = hex::encode(key);
        // R = rB, s = r: residue −[k]A.
        out.push(
            vector(
                format!("small-order A {hex}, R = rB, s = r"),
                &forger.for_key(key),
                NonceIsRB,
                true,
                Rejects,
            )
            .under(key),
        );
        // The all-zero signature: R = 00…00 is the order-4 point (√−1, 0)
        // (y = 0), s = 0: residue −R − [k]A, small-order.
        out.push(
            vector(
                format!("small-order A {hex}, all-zero signature"),
                &forger,
                Fixed(Signature::ZERO),
                true,
                Rejects,
            )
            .under(key),
        );
        // R = B, s = 1, one fixed signature with no secret behind it: the
        // residue −[k]A for every message.
        out.push(
            vector(
                format!("small-order A {hex}, R = B, s = 1"),
                &forger,
                Fixed(base_point_sig),
                true,
                Rejects,
            )
            .under(key),
        );
    }
    // The same two fixed signatures under an honest key: the residue keeps
    // −[k]A, of large order (k ≠ 0): both reject.
    out.push(vector(
        "honest A, all-zero signature",
        &signer,
        Fixed(Signature::ZERO),
        false,
        Rejects,
    ));
    out.push(vector("honest A, R = B, s = 1", &signer, Fixed(base_point_sig), false, Rejects));

    // Small-order R (each of the 14 encodings), honest key, s = k·a: the
    // residue is −R, killed by [8]. Strict refuses every small-order R
    // (even the identity, for which its equation holds). One more: s off by
    // one leaves B − R, of large order: both reject.
    for nonce in small_order_keys() {
        let hex = hex::encode(nonce);
        out.push(vector(
            format!("small-order R {hex}, s = k·a"),
            &signer,
            NonceBytes(nonce),
            true,
            Rejects,
        ));
        out.push(vector(
            format!("small-order R {hex}, s = k·a + 1"),
            &signer,
            NonceBytesOffByOne(nonce),
            false,
            Rejects,
        ));
    }

    for (t, torsion) in EIGHT_TORSION.iter().enumerate().skip(1) {
        // The key holder signs with R = rB + T, s = r + k·a: residue −T,
        // killed by [8]. Strict: [s]B − [k]A = rB ≠ R.
        out.push(vector(
            format!("R = rB + T{t} by the signer"),
            &signer,
            NonceTorsion(t),
            true,
            Rejects,
        ));
        // Someone without the secret turns an honest (R, s) into (R + T, s):
        // k changes to k', the residue [k − k']A − T keeps a large-order
        // part. No malleability for a third party.
        out.push(vector(
            format!("R + T{t} substituted into an honest signature"),
            &signer,
            TorsionAddedToR(t),
            false,
            Rejects,
        ));
        // Mixed-order keys A = aB + T, honest R = rB, s = r + k·a: the
        // residue −[k]T, always killed by [8]; strict accepts exactly when
        // k·T = 0 (A is of large order, so only its equation decides).
        for j in 0..2u64 {
            let key = HandKey::from_u64(200 + 10 * t as u64 + j).with_key_torsion(torsion);
            out.push(vector(
                format!("A = aB + T{t} ({j})"),
                &key,
                Honest,
                true,
                WhenKKillsTorsion(t),
            ));
            out.push(vector(
                format!("A = aB + T{t} ({j}), another message"),
                &key,
                OtherMessage,
                false,
                Rejects,
            ));
        }
    }

    // Non-canonical encodings of large-order points (nobody knows their
    // discrete log): as R with s = k·a the residue −R survives [8]; as A,
    // signed with another secret, the residue is [k](a'B − A). Both reject.
    for bytes in non_canonical_large_order() {
        let hex = hex::encode(bytes);
        out.push(vector(
            format!("non-canonical large-order R {hex}"),
            &signer,
            NonceBytes(bytes),
            false,
            Rejects,
        ));
        out.push(
            vector(
                format!("non-canonical large-order A {hex}"),
                &forger.for_key(bytes),
                Honest,
                false,
                Rejects,
            )
            .under(bytes),
        );
    }

    // Bytes that are no point, as R and as A: rule 2 rejects.
    for skip in 0..3 {
        let bytes = undecodable_point(skip);
        let hex = hex::encode(bytes);
        out.push(vector(
            format!("undecodable R {hex}"),
            &signer,
            NonceBytes(bytes),
            false,
            Rejects,
        ));
        out.push(
            vector(format!("undecodable A {hex}"), &signer, Honest, false, Rejects).under(bytes),
        );
    }

    // s ≥ l: s + l and s + 2l reduce to s, so the equation holds mod l;
    // rule 1 still rejects, as does strict. So do high bits of s.
    for times in [1u16, 2] {
        out.push(vector(format!("s + {times}l"), &signer, SPlusL(times), false, Rejects));
    }
    for bits in [0x20u8, 0x40, 0x80, 0xe0] {
        out.push(vector(format!("s | {bits:#x}·2^248"), &signer, SHighBits(bits), false, Rejects));
    }
    // s = l, R = the identity, A = the identity: for s mod l = 0 the
    // cofactored equation holds, rule 1 rejects. s = 0 with the same points
    // is canonical: ZIP-215 accepts (strict: small-order A and R).
    let identity = hex32(SMALL_ORDER_ENCODINGS[0]);
    out.push(
        vector("s = l, R = A = identity", &forger, Fixed(signature(identity, L)), false, Rejects)
            .under(identity),
    );
    out.push(
        vector(
            "s = 0, R = A = identity",
            &forger,
            Fixed(signature(identity, [0; 32])),
            true,
            Rejects,
        )
        .under(identity),
    );

    // Plain mistakes: both reject.
    out.push(vector("another message", &signer, OtherMessage, false, Rejects));
    out.push(vector("another key", &signer, Honest, false, Rejects).under(forger.public));
    for bit in [0u16, 24, 255, 256, 300, 511] {
        out.push(vector(format!("bit {bit} flipped"), &signer, FlipBit(bit), false, Rejects));
    }
    out
}

// ---------------------------------------------------------------------------
// The comparison
// ---------------------------------------------------------------------------

fn honest_case(seed: u64) -> Case {
    let key = HandKey::from_u64(seed ^ 0x0123_4567_89ab_cdef);
    vector(format!("honest {seed}"), &key, How::Honest, true, Strict::Accepts)
        .case(format!("honest {seed}").as_bytes())
}

/// `verify`, `verify_many(OneByOne)` and `verify_many(Batch)` (with fresh
/// caches and with `cache`, long-lived) decide every case as built.
fn assert_agreement(cases: &[Case], cache: &mut KeyCache, context: &str) {
    let checks: Vec<SigCheck<'_>> = cases.iter().map(Case::check).collect();
    let paths = [
        ("OneByOne", verify_many(&checks, &mut KeyCache::default(), VerifyStrategy::OneByOne)),
        ("Batch", verify_many(&checks, &mut KeyCache::default(), VerifyStrategy::Batch)),
        ("OneByOne, shared cache", verify_many(&checks, cache, VerifyStrategy::OneByOne)),
        ("Batch, shared cache", verify_many(&checks, cache, VerifyStrategy::Batch)),
    ];
    for (i, case) in cases.iter().enumerate() {
        let alone = verify(&case.key, &case.message, &case.signature).is_ok();
        assert_eq!(alone, case.zip215, "{context}: verify on item {i} ({})", case.what);
        for (path, decisions) in &paths {
            assert_eq!(decisions.len(), cases.len(), "{context}: {path}: one decision per item");
            assert_eq!(
                decisions[i], case.zip215,
                "{context}: {path} on item {i} ({}): ZIP-215 decides {}",
                case.what, case.zip215
            );
        }
    }
}

/// All cases in one batch and in reverse; each alone; each among honest
/// signatures; all interleaved with honest ones.
fn assert_agreement_everywhere(cases: &[Case]) {
    let mut cache = KeyCache::with_capacity(7);
    assert_agreement(cases, &mut cache, "all cases in one batch");
    let reversed: Vec<Case> = cases.iter().rev().cloned().collect();
    assert_agreement(&reversed, &mut cache, "all cases in one batch, reversed");
    let mut interleaved = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        assert_agreement(std::slice::from_ref(case), &mut cache, &format!("case {i} alone"));
        let mut surrounded: Vec<Case> = (0..5).map(|j| honest_case(100 * i as u64 + j)).collect();
        surrounded.insert(i % 6, case.clone());
        assert_agreement(&surrounded, &mut cache, &format!("case {i} among honest ones"));
        interleaved.push(honest_case(i as u64));
        interleaved.push(case.clone());
    }
    assert_agreement(&interleaved, &mut cache, "cases and honest ones interleaved");
}

// ---------------------------------------------------------------------------
// The facts the vectors rest on
// ---------------------------------------------------------------------------

#[test]
fn hand_signing_matches_ed25519_dalek_and_both_rules_accept_it() {
    for i in 0..16u8 {
        let seed = [i.wrapping_mul(37).wrapping_add(1); 32];
        let message = format!("message number {i}").into_bytes();
        let by_hand = HandKey::from_seed(seed);
        let by_dalek = SecretKey::from_seed(seed);
        assert_eq!(PublicKey(by_hand.public), by_dalek.public(), "public key of seed {i}");
        assert_eq!(by_hand.sign(&message), by_dalek.sign(&message), "signature of seed {i}");
        assert!(strict_model(&by_hand.public, &message, &by_hand.sign(&message)));
        assert!(zip215_model(&by_hand.public, &message, &by_hand.sign(&message)));
    }
}

#[test]
fn there_are_exactly_14_small_order_encodings() {
    // The canonical ones are the eight torsion points.
    let mut computed: Vec<[u8; 32]> =
        EIGHT_TORSION.iter().map(|p| p.compress().to_bytes()).collect();
    let mut known: Vec<[u8; 32]> = SMALL_ORDER_ENCODINGS.iter().map(|h| hex32(h)).collect();
    computed.sort();
    known.sort();
    assert_eq!(computed, known);
    let orders: Vec<u32> = EIGHT_TORSION.iter().map(torsion_order).collect();
    assert_eq!(orders, vec![1, 8, 4, 8, 2, 8, 4, 8]);
    // Every other encoding of a point changes y by p (possible only for
    // y < 19, as y + p must stay below 2^255) or flips the sign bit of
    // x = 0. Enumerate both kinds and keep those that decode to small order.
    let mut others = Vec::new();
    for y in 0u8..19 {
        for sign in [0u8, 0x80] {
            let mut bytes = [0xff; 32];
            bytes[0] = 0xed + y;
            bytes[31] = 0x7f | sign;
            others.push(bytes);
        }
    }
    for text in SMALL_ORDER_ENCODINGS {
        let mut bytes = hex32(text);
        bytes[31] ^= 0x80;
        others.push(bytes);
    }
    let mut non_canonical: Vec<[u8; 32]> = others
        .into_iter()
        .filter(|bytes| {
            CompressedEdwardsY(*bytes)
                .decompress()
                .is_some_and(|p| p.is_small_order() && p.compress().to_bytes() != *bytes)
        })
        .collect();
    let mut listed: Vec<[u8; 32]> = NON_CANONICAL_SMALL_ORDER.iter().map(|h| hex32(h)).collect();
    non_canonical.sort();
    listed.sort();
    assert_eq!(non_canonical, listed, "the six non-canonical small-order encodings");
    // ZIP-215 decodes them (the models use the same decoder).
    for bytes in small_order_keys() {
        let point = CompressedEdwardsY(bytes).decompress().expect("ZIP-215 decodes y ≥ p and −0");
        assert!(point.is_small_order());
    }
    assert!(non_canonical_large_order().len() >= 4);
}

#[test]
fn is_small_order_names_exactly_the_14_encodings() {
    let small = small_order_keys();
    for bytes in &small {
        assert!(PublicKey(*bytes).is_small_order(), "{}", hex::encode(bytes));
    }
    let mut others: Vec<[u8; 32]> = catalog().iter().map(|v| v.key).collect();
    others.extend(non_canonical_large_order());
    others.extend((0..3).map(undecodable_point));
    others.push(SecretKey::from_seed([1; 32]).public().0);
    for bytes in others.iter().filter(|b| !small.contains(b)) {
        assert!(!PublicKey(*bytes).is_small_order(), "{}", hex::encode(bytes));
    }
}

// ---------------------------------------------------------------------------
// The vectors in docs/PROTOCOL.md
// ---------------------------------------------------------------------------

/// The lines of vector `name` in the document.
fn doc_lines(name: &str) -> Vec<String> {
    let lines = doc_vectors::doc_block(name).lines().map(str::trim);
    lines.filter(|l| !l.is_empty()).map(String::from).collect()
}

fn check_doc(name: &str, computed: &[String]) {
    if std::env::var_os("PRINT_VECTORS").is_some() {
        println!("VECTOR {name}");
        for line in computed {
            println!("{line}");
        }
        return;
    }
    assert_eq!(doc_lines(name), computed, "vector {name} differs from docs/PROTOCOL.md");
}

#[test]
fn doc_lists_the_small_order_encodings_and_their_addresses() {
    let lines = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    check_doc("ed25519.small-order", &lines(&SMALL_ORDER_ENCODINGS));
    check_doc("ed25519.small-order.non-canonical", &lines(&NON_CANONICAL_SMALL_ORDER));
    // Address payload = the first 20 bytes of SHA-256(key bytes).
    let payloads: Vec<String> = small_order_keys()
        .iter()
        .map(|key| {
            let payload = &Sha256::digest(key)[..20];
            assert_eq!(AddressPayload::from_public_key(&PublicKey(*key)).0, payload);
            format!("{} {}", hex::encode(key), hex::encode(payload))
        })
        .collect();
    check_doc("ed25519.small-order.payloads", &payloads);
}

/// The signature vectors of the document, built by hand: (vector, message).
fn doc_signature_vectors() -> Vec<(Vector, Vec<u8>)> {
    use How::*;
    use Strict::*;
    let key1 = HandKey::from_seed([1; 32]);
    let identity = hex32(SMALL_ORDER_ENCODINGS[0]);
    let message = b"timecoin".to_vec();
    let one = {
        let mut one = [0u8; 32];
        one[0] = 1;
        one
    };
    let base = ED25519_BASEPOINT_POINT.compress().to_bytes();
    let honest = split(&key1.sign(&message));
    let vectors = vec![
        vector("key 1, honest", &key1, Honest, true, Accepts),
        vector("identity key, R = B, s = 1", &key1, Fixed(signature(base, one)), true, Rejects)
            .under(identity),
        vector("identity key, all-zero signature", &key1, Fixed(Signature::ZERO), true, Rejects)
            .under(identity),
        vector(
            "identity key, R = 00…00, s = l",
            &key1,
            Fixed(signature([0; 32], L)),
            false,
            Rejects,
        )
        .under(identity),
        vector("key 1, R = rB + T (order 8)", &key1, NonceTorsion(1), true, Rejects),
        vector(
            "key 1, R = non-canonical identity, s = k·a",
            &key1,
            NonceBytes(hex32(NON_CANONICAL_SMALL_ORDER[2])),
            true,
            Rejects,
        ),
        vector(
            "key 1, s + l",
            &key1,
            Fixed(signature(honest.0, add_multiple_of_l(honest.1, 1))),
            false,
            Rejects,
        ),
        vector("key 1, R + T substituted", &key1, TorsionAddedToR(1), false, Rejects),
        vector("key 1, R undecodable", &key1, NonceBytes(undecodable_point(0)), false, Rejects),
        vector("undecodable key", &key1, Honest, false, Rejects).under(undecodable_point(0)),
    ];
    vectors.into_iter().map(|v| (v, message.clone())).collect()
}

#[test]
fn doc_signature_vectors_decide_as_stated() {
    let verdict = |ok: bool| if ok { "accept" } else { "reject" };
    let built: Vec<(Vector, Vec<u8>)> = doc_signature_vectors();
    let lines: Vec<String> = built
        .iter()
        .map(|(v, message)| {
            let case = v.case(message);
            let strict = dalek_verify_strict(&v.key, message, &case.signature);
            format!(
                "{} {} {} {} {}",
                verdict(v.zip215),
                verdict(strict),
                hex::encode(v.key),
                hex::encode(case.signature.0),
                hex::encode(message)
            )
        })
        .collect();
    check_doc("zip215.signatures", &lines);
    // And the document's lines, read back, decide as they say.
    if std::env::var_os("PRINT_VECTORS").is_some() {
        return;
    }
    let cases: Vec<Case> = doc_lines("zip215.signatures")
        .iter()
        .enumerate()
        .map(|(n, line)| {
            let fields: Vec<&str> = line.split(' ').collect();
            assert_eq!(fields.len(), 5, "line {n}: zip215 strict key signature message");
            let mut sig = [0u8; 64];
            hex::decode_to_slice(fields[3], &mut sig).expect("128 hex digits");
            let message = hex::decode(fields[4]).expect("hex");
            Case::new(
                format!("document line {n}"),
                hex32(fields[2]),
                &message,
                Signature(sig),
                fields[1] == "accept",
                fields[0] == "accept",
            )
        })
        .collect();
    assert_agreement_everywhere(&cases);
}

// ---------------------------------------------------------------------------
// Every vector through verify and verify_many
// ---------------------------------------------------------------------------

#[test]
fn every_vector_decides_alike_on_every_path() {
    let cases: Vec<Case> = catalog()
        .iter()
        .enumerate()
        .map(|(n, v)| v.case(format!("vector {n}: {}", v.what).as_bytes()))
        .collect();
    assert!(cases.len() > 100, "{} vectors", cases.len());
    let accepted = cases.iter().filter(|c| c.zip215).count();
    assert!(accepted > 30 && accepted < cases.len() - 30, "{accepted} accepted");
    assert_agreement_everywhere(&cases);
}

#[test]
fn a_small_order_key_signs_every_message_with_one_signature() {
    // R = B, s = 1 and the all-zero signature, over many messages, under
    // each of the 14 keys: what "anyone can spend" means.
    let base = ED25519_BASEPOINT_POINT.compress().to_bytes();
    let mut one = [0u8; 32];
    one[0] = 1;
    let mut cases = Vec::new();
    for key in small_order_keys() {
        for sig in [signature(base, one), Signature::ZERO] {
            for m in 0..4u8 {
                let message = vec![m; usize::from(m) * 13];
                cases.push(Case::new(
                    format!("{} under {}", hex::encode(&sig.0[..4]), hex::encode(key)),
                    key,
                    &message,
                    sig,
                    false,
                    true,
                ));
            }
        }
    }
    assert_agreement(&cases, &mut KeyCache::default(), "small-order keys, fixed signatures");
}

#[test]
fn one_bad_signature_among_good_ones_is_named() {
    let mut cache = KeyCache::with_capacity(32);
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
            assert_agreement(&cases, &mut cache, &format!("{len} items, bad at {bad_at}"));
        }
    }
    // Two bad, and every one bad.
    let mut cases: Vec<Case> = (0..10u64).map(honest_case).collect();
    let mut all_bad = Vec::new();
    for case in &cases {
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
    assert_agreement(&cases, &mut cache, "two bad of ten");
    assert_agreement(&all_bad, &mut cache, "all ten bad");
}

#[test]
fn batches_with_repeated_keys_agree() {
    // ed25519-zebra merges the terms of signatures under one key; a bad one
    // under a shared key must still be named alone.
    let key = HandKey::from_seed([0x71; 32]);
    let mixed = HandKey::from_seed([0x72; 32]).with_key_torsion(&EIGHT_TORSION[4]);
    let mut cases = Vec::new();
    for i in 0..12u8 {
        let signer = if i % 2 == 0 { &key } else { &mixed };
        let strict = if i % 2 == 0 { Strict::Accepts } else { Strict::WhenKKillsTorsion(4) };
        cases.push(
            vector(format!("shared key, {i}"), signer, How::Honest, true, strict)
                .case(format!("same key {i}").as_bytes()),
        );
    }
    // A flipped bit in R: another point (or none); the residue gains a
    // large-order part.
    let (key_bytes, message, mut sig) =
        (cases[5].key.0, cases[5].message.clone(), cases[5].signature);
    sig.0[3] ^= 1;
    cases[5] =
        Case::new("shared key, 5, R bit flipped".into(), key_bytes, &message, sig, false, false);
    assert_agreement_everywhere(&cases);
}

#[test]
fn all_honest_batch_of_64_is_accepted_and_keys_are_cached() {
    let cases: Vec<Case> = (0..64).map(honest_case).collect();
    let checks: Vec<SigCheck<'_>> = cases.iter().map(Case::check).collect();
    let mut keys = KeyCache::default();
    for strategy in [VerifyStrategy::OneByOne, VerifyStrategy::Batch] {
        for pass in 0..2 {
            let decisions = verify_many(&checks, &mut keys, strategy);
            assert_eq!(decisions, vec![true; 64], "{strategy:?}, pass {pass}");
        }
        assert!(verify_many(&[], &mut keys, strategy).is_empty());
    }
}

proptest! {
    #![proptest_config(common::proptest_config(48))]

    /// Random batches of catalog vectors over random messages (keys repeat):
    /// every path decides each item as ZIP-215 does.
    #[test]
    fn random_batches_decide_item_by_item(
        items in prop::collection::vec((0..catalog().len(), any::<u32>()), 1..40),
    ) {
        let cases: Vec<Case> = items
            .iter()
            .map(|(n, m)| catalog()[*n].case(format!("random {m}").as_bytes()))
            .collect();
        assert_agreement(&cases, &mut KeyCache::with_capacity(8), &format!("{items:?}"));
    }
}

// ---------------------------------------------------------------------------
// Every vector as a transaction input: SigVerifier
// ---------------------------------------------------------------------------

/// A transaction whose input i is `inputs[i]` signed over input i's
/// message, its txid, and each input's case.
fn transaction(seed: u64, inputs: &[&Vector]) -> (Transaction, TxId, Vec<Case>) {
    let mut tx = Transaction {
        version: 1,
        inputs: inputs
            .iter()
            .enumerate()
            .map(|(i, v)| TxIn {
                prev: OutPoint {
                    txid: TxId(protocol::hash::sha256(&seed.to_le_bytes())),
                    vout: i as u32,
                },
                pubkey: PublicKey(v.key),
                signature: Signature::ZERO,
            })
            .collect(),
        outputs: vec![TxOut {
            value: Amount::from_sat(10_000),
            address: AddressPayload::from_public_key(&PublicKey(inputs[0].key)),
        }],
        lock_time: 0,
        timestamp: 1_700_000_000_000 + seed as i64,
    };
    let txid = tx.txid(CHAIN);
    let cases: Vec<Case> = inputs
        .iter()
        .enumerate()
        .map(|(i, v)| v.case(&input_signing_message(CHAIN, &txid, i as u32)))
        .collect();
    for (input, case) in tx.inputs.iter_mut().zip(&cases) {
        input.signature = case.signature;
    }
    (tx, txid, cases)
}

/// `first_bad_inputs` over all transactions at once and over each alone,
/// and `first_bad_input` with both strategies, name each transaction's
/// first input ZIP-215 rejects; `verify` agrees on every input.
fn assert_transactions_agree(
    built: &[(Transaction, TxId, Vec<Case>)],
    shared: &mut SigVerifier,
    context: &str,
) {
    let refs: Vec<(&Transaction, TxId)> = built.iter().map(|(tx, txid, _)| (tx, *txid)).collect();
    let expected: Vec<Option<usize>> =
        built.iter().map(|(_, _, cases)| cases.iter().position(|c| !c.zip215)).collect();
    assert_eq!(SigVerifier::default().first_bad_inputs(CHAIN, &refs), expected, "{context}");
    assert_eq!(shared.first_bad_inputs(CHAIN, &refs), expected, "{context}: shared verifier");
    for (t, (tx, txid, cases)) in built.iter().enumerate() {
        let what: Vec<&str> = cases.iter().map(|c| c.what.as_str()).collect();
        assert_eq!(
            shared.first_bad_inputs(CHAIN, &[(tx, *txid)]),
            vec![expected[t]],
            "{context}: tx {t} {what:?} alone"
        );
        for strategy in [VerifyStrategy::OneByOne, VerifyStrategy::Batch] {
            assert_eq!(
                SigVerifier::new(strategy).first_bad_input(CHAIN, tx, txid),
                expected[t],
                "{context}: tx {t} {what:?}, first_bad_input with {strategy:?}"
            );
        }
        for (i, (input, case)) in tx.inputs.iter().zip(cases).enumerate() {
            let message = input_signing_message(CHAIN, txid, i as u32);
            assert_eq!(
                verify(&input.pubkey, &message, &input.signature).is_ok(),
                case.zip215,
                "{context}: tx {t} input {i} ({})",
                case.what
            );
        }
    }
}

#[test]
fn every_vector_as_a_transaction_input() {
    let bad =
        vector("another message", &HandKey::from_u64(9), How::OtherMessage, false, Strict::Rejects);
    let honest: Vec<Vector> = (0..4)
        .map(|i| {
            vector(
                format!("honest input {i}"),
                &HandKey::from_u64(5000 + i),
                How::Honest,
                true,
                Strict::Accepts,
            )
        })
        .collect();
    let mut built = Vec::new();
    for (n, v) in catalog().iter().enumerate() {
        let seed = 2 * n as u64;
        // The vector between honest inputs: its own decision decides.
        built.push(transaction(seed, &[&honest[n % 4], v, &honest[(n + 1) % 4]]));
        // The vector first, a bad input after it: Some(0) or Some(1).
        built.push(transaction(seed + 1, &[v, &bad]));
    }
    let mut shared = SigVerifier::new(VerifyStrategy::OneByOne);
    assert_transactions_agree(&built, &mut shared, "every vector");
    // All good: the batch passes.
    let good: Vec<(Transaction, TxId, Vec<Case>)> =
        built.iter().filter(|(_, _, cases)| cases.iter().all(|c| c.zip215)).cloned().collect();
    assert!(good.len() > 30);
    assert_transactions_agree(&good, &mut shared, "only valid transactions");
    assert!(SigVerifier::default().first_bad_inputs(CHAIN, &[]).is_empty());
}

proptest! {
    #![proptest_config(common::proptest_config(32))]

    /// Random transactions whose inputs are random catalog vectors: one
    /// batch over all of them names, per transaction, the first input
    /// ZIP-215 rejects.
    #[test]
    fn random_transactions_name_their_first_bad_input(
        plans in prop::collection::vec(prop::collection::vec(0..catalog().len(), 1..6), 1..12),
        salt in any::<u32>(),
    ) {
        let built: Vec<(Transaction, TxId, Vec<Case>)> = plans
            .iter()
            .enumerate()
            .map(|(t, plan)| {
                let inputs: Vec<&Vector> = plan.iter().map(|n| &catalog()[*n]).collect();
                transaction(u64::from(salt) * 100 + t as u64, &inputs)
            })
            .collect();
        assert_transactions_agree(&built, &mut SigVerifier::default(), &format!("{plans:?}"));
    }
}
