//! ed25519 keys, signing, and verification.
//!
//! A signature is valid exactly when ed25519-dalek's `verify_strict` accepts
//! it. [`verify_many`] checks many signatures at once and, whichever
//! [`VerifyStrategy`] it uses, returns the decisions `verify_strict` would:
//! nodes that disagree about validity would split their votes.
//!
//! Why the batch path needs more than dalek's `verify_batch`: the batch
//! equation `Σ zᵢ([sᵢ]B − Rᵢ − [kᵢ]Aᵢ) = 0` is checked with random `zᵢ`, so a
//! signature whose `R` (or key `A`) has a small-order component `T` passes
//! whenever `zᵢ·T = 0`, which for an order-2 `T` is half the time, while
//! `verify_strict` always rejects it. So before batching, each item is
//! pre-checked for everything strict checks (canonical `s`, `R` decodes and is
//! not of small order, key not of small order) *and* for `R` and `A` being
//! canonical and torsion-free; items that fail the latter go to strict
//! verification alone, and a failed batch falls back to strict one by one.
//!
//! ZIP-215 (not yet the node's rule; see [`verify_zip215`] and
//! [`verify_batch_zip215`]) defines validity so that this problem cannot
//! arise: `A` and `R` may be any encoding that decodes (non-canonical `y ≥ p`
//! and small-order points included), `s` must be canonical (`s < l`), and
//! the equation is cofactored, `[8]([s]B − R − [k]A) = 0` with
//! `k = SHA-512(R ‖ A ‖ M)` over the bytes as given. Multiplying by the
//! cofactor removes every torsion component, so the random-coefficient batch
//! equation holds exactly when each item's does (up to the 2⁻¹²⁸-ish
//! soundness error of any batch check), and a batch never decides
//! differently from single verification.

use std::collections::HashMap;

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use ed25519_zebra::{VerificationKey, VerificationKeyBytes, batch};
use rand_core::CryptoRng;
use thiserror::Error;

use crate::fixed_bytes::fixed_bytes_newtype;

/// An ed25519 public key as 32 bytes. Any 32 bytes can be held (a
/// transaction input carries whatever its author wrote); whether they are a
/// usable key is decided when a signature is verified.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey(pub [u8; 32]);

fixed_bytes_newtype!(PublicKey, 32);

/// An ed25519 signature as 64 bytes (R ‖ s).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(pub [u8; 64]);

fixed_bytes_newtype!(Signature, 64);

impl Signature {
    /// All zero bytes: the placeholder of an input not yet signed.
    pub const ZERO: Signature = Signature([0; 64]);
}

impl Default for Signature {
    fn default() -> Self {
        Signature::ZERO
    }
}

/// A signature did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("signature does not verify")]
pub struct BadSignature;

/// An ed25519 signing key (its 32-byte seed). Not `Clone` on purpose: a
/// secret is moved, not copied around.
pub struct SecretKey(SigningKey);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey(public {})", self.public())
    }
}

impl SecretKey {
    /// A fresh key from a cryptographic random source.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        SecretKey(SigningKey::generate(rng))
    }

    /// The key with this 32-byte seed (deterministic, for key files and tests).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        SecretKey(SigningKey::from_bytes(&seed))
    }

    /// The 32-byte seed (what a key file stores).
    pub fn seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    /// Signs `message` (deterministic ed25519).
    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature(self.0.sign(message).to_bytes())
    }
}

/// `verify_strict`: the definition of a valid signature.
pub fn verify(key: &PublicKey, message: &[u8], signature: &Signature) -> Result<(), BadSignature> {
    let key = VerifyingKey::from_bytes(&key.0).map_err(|_| BadSignature)?;
    verify_prepared(&key, message, signature)
}

fn verify_prepared(
    key: &VerifyingKey,
    message: &[u8],
    signature: &Signature,
) -> Result<(), BadSignature> {
    let signature = ed25519_dalek::Signature::from_bytes(&signature.0);
    key.verify_strict(message, &signature).map_err(|_| BadSignature)
}

/// A public key decoded once: the curve point, and whether it may go into a
/// batch (canonical encoding, torsion-free, so not of small order).
#[derive(Debug, Clone)]
struct PreparedKey {
    key: VerifyingKey,
    batchable: bool,
}

impl PreparedKey {
    fn new(bytes: &[u8; 32]) -> Option<PreparedKey> {
        let key = VerifyingKey::from_bytes(bytes).ok()?;
        let compressed = CompressedEdwardsY(*bytes);
        let batchable = compressed
            .decompress()
            .is_some_and(|point| point.compress() == compressed && is_torsion_free(&point));
        Some(PreparedKey { key, batchable })
    }
}

/// `[l]P == 0`, in variable time (every input here is public).
fn is_torsion_free(point: &EdwardsPoint) -> bool {
    // [l−1]P + P = [l]P; l itself is not a reduced scalar.
    let l_minus_one = Scalar::ZERO - Scalar::ONE;
    (EdwardsPoint::vartime_multiscalar_mul([l_minus_one], [*point]) + point).is_identity()
}

/// A bounded cache of decoded public keys. Keys repeat (wallets, masternodes),
/// and decoding a point costs about a tenth of a verification.
#[derive(Debug)]
pub struct KeyCache {
    keys: HashMap<PublicKey, Option<PreparedKey>>,
    capacity: usize,
}

impl Default for KeyCache {
    fn default() -> Self {
        KeyCache::with_capacity(65_536)
    }
}

impl KeyCache {
    /// A cache holding at most `capacity` keys (it is cleared when full).
    pub fn with_capacity(capacity: usize) -> Self {
        KeyCache { keys: HashMap::new(), capacity: capacity.max(1) }
    }

    fn get(&mut self, key: &PublicKey) -> Option<PreparedKey> {
        if let Some(hit) = self.keys.get(key) {
            return hit.clone();
        }
        if self.keys.len() >= self.capacity {
            self.keys.clear();
        }
        let prepared = PreparedKey::new(&key.0);
        self.keys.insert(*key, prepared.clone());
        prepared
    }
}

/// One signature to check.
#[derive(Debug, Clone, Copy)]
pub struct SigCheck<'a> {
    /// The signer's key.
    pub key: &'a PublicKey,
    /// The signed message.
    pub message: &'a [u8],
    /// The signature.
    pub signature: &'a Signature,
}

/// How [`verify_many`] checks signatures. Both give identical decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VerifyStrategy {
    /// `verify_strict` one by one, with cached keys.
    #[default]
    Strict,
    /// Pre-checked batches with a strict fallback.
    Batch,
}

/// Verifies every check; `result[i]` is exactly what `verify_strict` says of
/// `checks[i]`.
pub fn verify_many(
    checks: &[SigCheck<'_>],
    keys: &mut KeyCache,
    strategy: VerifyStrategy,
) -> Vec<bool> {
    match strategy {
        VerifyStrategy::Strict => checks
            .iter()
            .map(|c| {
                keys.get(c.key)
                    .is_some_and(|k| verify_prepared(&k.key, c.message, c.signature).is_ok())
            })
            .collect(),
        VerifyStrategy::Batch => verify_batch_exact(checks, keys),
    }
}

/// What the pre-check decided for one signature.
enum Route {
    /// `verify_strict` rejects it for sure.
    Reject,
    /// Only `verify_strict` can decide it.
    Alone(VerifyingKey),
    /// Safe to batch: its batch decision equals its strict decision.
    Batch(VerifyingKey),
}

fn route(check: &SigCheck<'_>, keys: &mut KeyCache) -> Route {
    let Some(prepared) = keys.get(check.key) else {
        return Route::Reject; // not a point: strict cannot even build the key
    };
    let (r_bytes, s_bytes) = check.signature.0.split_at(32);
    let s: [u8; 32] = s_bytes.try_into().unwrap_or([0xff; 32]);
    if Option::<Scalar>::from(Scalar::from_canonical_bytes(s)).is_none() {
        return Route::Reject; // strict: s must be below the group order
    }
    let r_compressed = CompressedEdwardsY(r_bytes.try_into().unwrap_or([0; 32]));
    let Some(r_point) = r_compressed.decompress() else {
        return Route::Reject; // strict: R must decode
    };
    if r_point.is_small_order() || prepared.key.is_weak() {
        return Route::Reject; // strict: neither R nor A of small order
    }
    let clean_r = r_point.compress() == r_compressed && is_torsion_free(&r_point);
    if prepared.batchable && clean_r {
        Route::Batch(prepared.key)
    } else {
        Route::Alone(prepared.key)
    }
}

fn verify_batch_exact(checks: &[SigCheck<'_>], keys: &mut KeyCache) -> Vec<bool> {
    let mut result = vec![false; checks.len()];
    let mut batch: Vec<(usize, VerifyingKey)> = Vec::with_capacity(checks.len());
    for (i, check) in checks.iter().enumerate() {
        match route(check, keys) {
            Route::Reject => {}
            Route::Alone(key) => {
                result[i] = verify_prepared(&key, check.message, check.signature).is_ok();
            }
            Route::Batch(key) => batch.push((i, key)),
        }
    }
    if batch.is_empty() {
        return result;
    }
    let messages: Vec<&[u8]> = batch.iter().map(|(i, _)| checks[*i].message).collect();
    let signatures: Vec<ed25519_dalek::Signature> = batch
        .iter()
        .map(|(i, _)| ed25519_dalek::Signature::from_bytes(&checks[*i].signature.0))
        .collect();
    let verifying_keys: Vec<VerifyingKey> = batch.iter().map(|(_, k)| *k).collect();
    if ed25519_dalek::verify_batch(&messages, &signatures, &verifying_keys).is_ok() {
        for (i, _) in &batch {
            result[*i] = true;
        }
    } else {
        for (i, key) in &batch {
            result[*i] = verify_prepared(key, checks[*i].message, checks[*i].signature).is_ok();
        }
    }
    result
}

/// ZIP-215 single verification (with ed25519-zebra): `s` canonical, `A` and
/// `R` any decodable encoding, and `[8]([s]B − R − [k]A) = 0`. Accepts
/// everything [`verify`] accepts, and also signatures that only the
/// cofactored equation accepts (small-order or mixed-order `A` or `R`,
/// non-canonical encodings of `A` or `R`).
pub fn verify_zip215(
    key: &PublicKey,
    message: &[u8],
    signature: &Signature,
) -> Result<(), BadSignature> {
    let key =
        VerificationKey::try_from(VerificationKeyBytes::from(key.0)).map_err(|_| BadSignature)?;
    key.verify(&ed25519_zebra::Signature::from_bytes(&signature.0), message)
        .map_err(|_| BadSignature)
}

/// ZIP-215 verification of many signatures at once: the indexes (ascending)
/// of the checks that fail, exactly the checks for which [`verify_zip215`]
/// fails.
///
/// All checks go into one `ed25519_zebra::batch::Verifier` (keys stay bytes,
/// `VerificationKeyBytes`, until the batch decodes each distinct key once and
/// merges the terms of signatures under the same key). If the batch fails,
/// every check is verified alone, so the answer names the bad ones. A single
/// check is verified alone straight away (cheaper than a batch of one).
///
/// `rng` draws the batch's 128-bit coefficients. It must be unpredictable to
/// whoever wrote the signatures (a `CryptoRng` seeded from the OS); the
/// decisions do not depend on it, only the chance (about 2⁻¹²⁸) that a batch
/// with a bad signature passes does.
pub fn verify_batch_zip215<R: CryptoRng + ?Sized>(
    checks: &[SigCheck<'_>],
    rng: &mut R,
) -> Vec<usize> {
    if let [only] = checks {
        return match verify_zip215(only.key, only.message, only.signature) {
            Ok(()) => Vec::new(),
            Err(BadSignature) => vec![0],
        };
    }
    // The challenge k = H(R ‖ A ‖ M) is hashed once per item, and reused by
    // the one-by-one fallback.
    let items: Vec<batch::Item> = checks.iter().map(zip215_item).collect();
    let mut verifier = batch::Verifier::new();
    for item in &items {
        verifier.queue(item.clone());
    }
    if verifier.verify(&mut *rng).is_ok() {
        return Vec::new();
    }
    items
        .into_iter()
        .enumerate()
        .filter_map(|(i, item)| item.verify_single().is_err().then_some(i))
        .collect()
}

fn zip215_item(check: &SigCheck<'_>) -> batch::Item {
    batch::Item::from((
        VerificationKeyBytes::from(check.key.0),
        ed25519_zebra::Signature::from_bytes(&check.signature.0),
        check.message,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_then_verify() {
        let key = SecretKey::from_seed([7; 32]);
        let sig = key.sign(b"hello");
        assert!(verify(&key.public(), b"hello", &sig).is_ok());
        assert_eq!(verify(&key.public(), b"hellO", &sig), Err(BadSignature));
    }

    #[test]
    fn zip215_accepts_what_dalek_signs() {
        let mut rng = <rand_chacha::ChaCha8Rng as rand_core::SeedableRng>::seed_from_u64(1);
        let keys: Vec<SecretKey> = (0..5u8).map(|i| SecretKey::from_seed([i; 32])).collect();
        let messages: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; usize::from(i) * 7]).collect();
        let signed: Vec<(PublicKey, Signature)> =
            keys.iter().zip(&messages).map(|(k, m)| (k.public(), k.sign(m))).collect();
        let mut checks: Vec<SigCheck<'_>> = signed
            .iter()
            .zip(&messages)
            .map(|((key, signature), message)| SigCheck { key, message, signature })
            .collect();
        for c in &checks {
            assert_eq!(verify_zip215(c.key, c.message, c.signature), Ok(()));
        }
        assert!(verify_batch_zip215(&checks, &mut rng).is_empty());
        assert!(verify_batch_zip215(&checks[..1], &mut rng).is_empty());
        assert!(verify_batch_zip215(&[], &mut rng).is_empty());
        // Key 3's signature over key 1's message: only item 1 is bad.
        checks[1].signature = &signed[3].1;
        assert_eq!(verify_batch_zip215(&checks, &mut rng), vec![1]);
        assert_eq!(verify_batch_zip215(&checks[1..2], &mut rng), vec![0]);
        assert_eq!(
            verify_zip215(checks[1].key, checks[1].message, checks[1].signature),
            Err(BadSignature)
        );
    }

    #[test]
    fn secret_key_debug_does_not_leak_the_seed() {
        let key = SecretKey::from_seed([7; 32]);
        let shown = format!("{key:?}");
        assert!(!shown.contains(&hex::encode([7u8; 32])), "{shown}");
    }
}
