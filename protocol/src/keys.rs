//! ed25519 keys, signing, and verification under the ZIP-215 rule.
//!
//! **A signature `(R, s)` by key `A` on message `M` is valid exactly when**
//! ([ZIP-215](https://zips.z.cash/zip-0215), as ed25519-zebra implements it):
//!
//! 1. `s` is canonical: `s < l` as a 256-bit little-endian integer;
//! 2. `A` and `R` decode as curve points, *any* encoding that decodes
//!    (non-canonical `y ≥ p` and `x = 0` with the sign bit set included),
//!    small-order and mixed-order points included;
//! 3. `[8]([s]B − R − [k]A)` is the identity, `k = SHA-512(R ‖ A ‖ M) mod l`
//!    over the bytes as given (the cofactored equation).
//!
//! [`verify`] checks one signature; [`verify_many`] checks many and returns
//! exactly the decisions [`verify`] would, whichever [`VerifyStrategy`] it
//! uses: nodes that disagree about validity would split their votes.
//!
//! Why batches cannot change a decision under this rule: a batch checks
//! `[8] Σ zᵢ([sᵢ]B − Rᵢ − [kᵢ]Aᵢ) = 0` for 128-bit coefficients `zᵢ`.
//! Multiplying by the cofactor removes every torsion component, so what is
//! left of each term is `zᵢ·Pᵢ` with `Pᵢ` in the prime-order subgroup, and
//! `Pᵢ = 0` is exactly rule 3 for item i. If every item is valid the batch
//! holds for every choice of `zᵢ`; if one is not, it holds for at most one
//! value of its `zᵢ` mod l given the others (see [`batch_coefficients`]).
//! A failed batch is re-checked one by one, so the answer always names the
//! bad items. (Under `verify_strict`, the previous rule, this was false: a
//! torsion component `T` of `R` vanished from a batch whenever `zᵢ·T = 0`.)
//!
//! What the rule lets through that `verify_strict` refused (docs/PROTOCOL.md
//! §9 spells out the consequences): under a *small-order* key anyone can sign
//! any message (`R = [s]B` leaves `−[k]A`, which `[8]` kills), so the coins
//! of the 14 addresses of small-order keys are anyone's and a small-order
//! node id proves nothing ([`PublicKey::is_small_order`]); a key holder can
//! also sign with `R = rB + T`. Everything `verify_strict` accepts, ZIP-215
//! accepts, so every signature already on a chain stays valid.

use std::collections::HashMap;

use curve25519_dalek::edwards::CompressedEdwardsY;
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::{Signer, SigningKey};
use ed25519_zebra::{VerificationKey, VerificationKeyBytes, batch};
use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, SeedableRng};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::fixed_bytes::fixed_bytes_newtype;

/// An ed25519 public key as 32 bytes. Any 32 bytes can be held (a
/// transaction input carries whatever its author wrote); whether they are a
/// usable key is decided when a signature is verified.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey(pub [u8; 32]);

fixed_bytes_newtype!(PublicKey, 32);

impl PublicKey {
    /// True when these bytes decode (as ZIP-215 decodes: non-canonical
    /// encodings included) to one of the eight points of order dividing 8.
    /// Under ZIP-215 *anyone* can sign any message for such a key, so it
    /// must never own coins or identify a node. Exactly 14 byte strings
    /// qualify (docs/PROTOCOL.md §9 lists them).
    pub fn is_small_order(&self) -> bool {
        CompressedEdwardsY(self.0).decompress().is_some_and(|point| point.is_small_order())
    }
}

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

    /// Signs `message` (deterministic ed25519, RFC 8032; always valid under
    /// ZIP-215 and under `verify_strict`).
    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature(self.0.sign(message).to_bytes())
    }
}

/// The definition of a valid signature: ZIP-215 (see the module comment),
/// checked by ed25519-zebra.
pub fn verify(key: &PublicKey, message: &[u8], signature: &Signature) -> Result<(), BadSignature> {
    let key = VerificationKey::try_from(key.0).map_err(|_| BadSignature)?;
    verify_decoded(&key, message, signature)
}

fn verify_decoded(
    key: &VerificationKey,
    message: &[u8],
    signature: &Signature,
) -> Result<(), BadSignature> {
    key.verify(&zebra_signature(signature), message).map_err(|_| BadSignature)
}

fn zebra_signature(signature: &Signature) -> ed25519_zebra::Signature {
    ed25519_zebra::Signature::from_bytes(&signature.0)
}

/// A bounded cache of decoded public keys (`None`: the bytes are no point,
/// so every signature under them is invalid). Keys repeat (wallets,
/// masternodes), and decoding a point costs about a tenth of a verification.
#[derive(Debug)]
pub struct KeyCache {
    keys: HashMap<PublicKey, Option<VerificationKey>>,
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

    fn get(&mut self, key: &PublicKey) -> Option<VerificationKey> {
        if let Some(hit) = self.keys.get(key) {
            return *hit;
        }
        if self.keys.len() >= self.capacity {
            self.keys.clear();
        }
        let decoded = VerificationKey::try_from(key.0).ok();
        self.keys.insert(*key, decoded);
        decoded
    }

    /// True when `key` is cached as bytes that are no point.
    fn is_known_undecodable(&self, key: &PublicKey) -> bool {
        matches!(self.keys.get(key), Some(None))
    }

    /// One check alone, with its key decoded at most once per cache life.
    fn verify_one(&mut self, check: &SigCheck<'_>) -> bool {
        self.get(check.key)
            .is_some_and(|key| verify_decoded(&key, check.message, check.signature).is_ok())
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

/// How [`verify_many`] checks signatures. Both give identical decisions
/// (those of [`verify`]); they differ only in cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VerifyStrategy {
    /// Each signature alone, keys decoded once and cached.
    OneByOne,
    /// One ed25519-zebra batch for all, falling back to one by one when it
    /// fails (so the bad items are named). About 1.6x faster per signature
    /// than one by one from 4 signatures up, 2x from 16 (docs/PROTOCOL.md
    /// §9); a batch of 0 or 1 is checked alone.
    #[default]
    Batch,
}

/// Verifies every check: `result[i]` is exactly what [`verify`] says of
/// `checks[i]`, whatever the strategy and whatever else is in `checks`.
pub fn verify_many(
    checks: &[SigCheck<'_>],
    keys: &mut KeyCache,
    strategy: VerifyStrategy,
) -> Vec<bool> {
    match strategy {
        VerifyStrategy::OneByOne => checks.iter().map(|check| keys.verify_one(check)).collect(),
        VerifyStrategy::Batch => verify_batch(checks, keys),
    }
}

fn verify_batch(checks: &[SigCheck<'_>], keys: &mut KeyCache) -> Vec<bool> {
    // Two of ZIP-215's rejections need no curve arithmetic: a key the cache
    // already knows is no point, and a non-canonical s. ed25519-zebra
    // rejects exactly these, alone or in a batch; keeping them out of the
    // batch keeps one malformed item from sending every other item to the
    // one-by-one fallback. (Keys the cache does not hold are not decoded
    // here: the batch decodes them itself, and a fallback caches them.)
    let batched: Vec<usize> = (0..checks.len())
        .filter(|&i| !keys.is_known_undecodable(checks[i].key))
        .filter(|&i| s_is_canonical(checks[i].signature))
        .collect();
    let mut result = vec![false; checks.len()];
    if batched.len() > 1 {
        let mut verifier = batch::Verifier::new();
        for &i in &batched {
            let check = &checks[i];
            verifier.queue((
                VerificationKeyBytes::from(check.key.0),
                zebra_signature(check.signature),
                check.message,
            ));
        }
        if verifier.verify(batch_coefficients(checks, &batched)).is_ok() {
            for i in batched {
                result[i] = true;
            }
            return result;
        }
    }
    // A batch of 0 or 1, or a failed batch: each alone, naming the bad ones.
    for i in batched {
        result[i] = keys.verify_one(&checks[i]);
    }
    result
}

/// Rule 1: `s < l`.
fn s_is_canonical(signature: &Signature) -> bool {
    let mut s = [0u8; 32];
    s.copy_from_slice(&signature.0[32..]);
    Option::<Scalar>::from(Scalar::from_canonical_bytes(s)).is_some()
}

/// The generator of a batch's coefficients `zᵢ`, seeded by the batch itself:
/// ChaCha20 keyed with SHA-256(tag ‖ 0x00 ‖ n u32 ‖ for each batched item
/// in order: key [32] ‖ signature [64] ‖ SHA-256(message) [32]).
///
/// No caller-supplied randomness, so `protocol` stays a pure function of
/// its inputs (ARCHITECTURE.md invariant 1), and still sound, by the
/// Fiat-Shamir argument: the seed, hence every `zᵢ`, is fixed only after
/// every key, signature and message of the batch is. Model SHA-256 as a
/// random oracle. If item j is invalid, its cofactored residue
/// `Pⱼ = [8]([sⱼ]B − Rⱼ − [kⱼ]Aⱼ)` is a non-zero point of prime order l, and
/// the batch equation `Σ zᵢPᵢ = 0` fixes `zⱼ` mod l given the other terms:
/// one value out of the 2¹²⁸ that `zⱼ` takes, so the batch passes with
/// probability at most 2⁻¹²⁸ for each seed. A forger cannot choose the
/// `zᵢ` and then the items; changing anything in the batch draws fresh
/// coefficients, so each attempt costs a hash evaluation and succeeds with
/// probability 2⁻¹²⁸: as hard as breaking a 128-bit security level, the
/// same bound random coefficients give. (ed25519-zebra draws the `zᵢ` in
/// the order its hash map holds the keys, which may differ between
/// processes; that order is fixed before any `zᵢ` is drawn, so the argument
/// is unchanged.)
///
/// Decisions never depend on the coefficients: a passing batch means every
/// item is valid (all but that 2⁻¹²⁸ event), and a failing batch is decided
/// item by item. The coefficients only decide how fast.
fn batch_coefficients(checks: &[SigCheck<'_>], batched: &[usize]) -> ChaCha20Rng {
    let mut seed = Sha256::new();
    seed.update(crate::hash::Tag::BATCH_COEFFICIENTS.prefix());
    seed.update((batched.len() as u32).to_le_bytes());
    for &i in batched {
        let check = &checks[i];
        seed.update(check.key.0);
        seed.update(check.signature.0);
        seed.update(Sha256::digest(check.message));
    }
    ChaCha20Rng::from_seed(seed.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::Rng;

    #[test]
    fn sign_then_verify() {
        let key = SecretKey::from_seed([7; 32]);
        let sig = key.sign(b"hello");
        assert!(verify(&key.public(), b"hello", &sig).is_ok());
        assert_eq!(verify(&key.public(), b"hellO", &sig), Err(BadSignature));
    }

    #[test]
    fn both_strategies_accept_what_dalek_signs_and_name_a_bad_one() {
        let keys: Vec<SecretKey> = (0..5u8).map(|i| SecretKey::from_seed([i; 32])).collect();
        let messages: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; usize::from(i) * 7]).collect();
        let signed: Vec<(PublicKey, Signature)> =
            keys.iter().zip(&messages).map(|(k, m)| (k.public(), k.sign(m))).collect();
        let mut checks: Vec<SigCheck<'_>> = signed
            .iter()
            .zip(&messages)
            .map(|((key, signature), message)| SigCheck { key, message, signature })
            .collect();
        let mut cache = KeyCache::with_capacity(2);
        for strategy in [VerifyStrategy::OneByOne, VerifyStrategy::Batch] {
            assert_eq!(verify_many(&checks, &mut cache, strategy), vec![true; 5]);
            assert_eq!(verify_many(&checks[..1], &mut cache, strategy), vec![true]);
            assert!(verify_many(&[], &mut cache, strategy).is_empty());
        }
        // Key 3's signature over key 1's message: only item 1 is bad.
        checks[1].signature = &signed[3].1;
        for strategy in [VerifyStrategy::OneByOne, VerifyStrategy::Batch] {
            assert_eq!(
                verify_many(&checks, &mut cache, strategy),
                vec![true, false, true, true, true]
            );
            assert_eq!(verify_many(&checks[1..2], &mut cache, strategy), vec![false]);
        }
        assert_eq!(
            verify(checks[1].key, checks[1].message, checks[1].signature),
            Err(BadSignature)
        );
    }

    #[test]
    fn batch_coefficients_are_a_function_of_every_byte_of_the_batch() {
        let keys: Vec<PublicKey> =
            (0..3u8).map(|i| SecretKey::from_seed([i; 32]).public()).collect();
        let messages: Vec<Vec<u8>> = (0..3u8).map(|i| vec![i; 10]).collect();
        let signatures: Vec<Signature> = (0..3u8).map(|i| Signature([i; 64])).collect();
        let checks = |keys: &[PublicKey], messages: &[Vec<u8>], signatures: &[Signature]| {
            keys.iter()
                .zip(messages)
                .zip(signatures)
                .map(|((key, message), signature)| (*key, message.clone(), *signature))
                .collect::<Vec<_>>()
        };
        let first_draw = |items: &[(PublicKey, Vec<u8>, Signature)]| {
            let checks: Vec<SigCheck<'_>> = items
                .iter()
                .map(|(key, message, signature)| SigCheck { key, message, signature })
                .collect();
            let batched: Vec<usize> = (0..checks.len()).collect();
            batch_coefficients(&checks, &batched).next_u64()
        };
        let base = checks(&keys, &messages, &signatures);
        // Deterministic: the same batch, the same coefficients.
        assert_eq!(first_draw(&base), first_draw(&base));
        let mut variants = Vec::new();
        let mut other = base.clone();
        other[2].0.0[31] ^= 1;
        variants.push(other);
        let mut other = base.clone();
        other[1].1.push(0);
        variants.push(other);
        let mut other = base.clone();
        other[0].2.0[63] ^= 0x80;
        variants.push(other);
        let mut other = base.clone();
        other.swap(0, 1);
        variants.push(other);
        variants.push(base[..2].to_vec());
        for (n, variant) in variants.iter().enumerate() {
            assert_ne!(first_draw(variant), first_draw(&base), "variant {n}");
        }
    }

    #[test]
    fn secret_key_debug_does_not_leak_the_seed() {
        let key = SecretKey::from_seed([7; 32]);
        let shown = format!("{key:?}");
        assert!(!shown.contains(&hex::encode([7u8; 32])), "{shown}");
    }
}
