//! SHA-256 with domain separation, and the 32-byte hash type.
//!
//! Every hash the protocol defines starts with its own ASCII tag followed by
//! one zero byte, so that bytes hashed for one purpose can never be mistaken
//! for bytes hashed for another. The merkle tree's interior nodes are the one
//! exception (the original TimeCoin rule, see [`crate::merkle`]).

use sha2::{Digest, Sha256};

/// A domain tag: the ASCII string that opens a hash preimage or signed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag(&'static str);

impl Tag {
    /// Transaction ids (the txid preimage).
    pub const TXID: Tag = Tag("timecoin/txid");
    /// The message an input's signature signs.
    pub const INPUT_SIG: Tag = Tag("timecoin/input-sig");
    /// The message a transaction vote batch's signature signs.
    pub const VOTE_BATCH: Tag = Tag("timecoin/vote-batch");
    /// The message a block proposal, prevote or precommit signs.
    pub const CONSENSUS_VOTE: Tag = Tag("timecoin/consensus-vote");
    /// Block ids (the block header preimage).
    pub const BLOCK: Tag = Tag("timecoin/block");
    /// The genesis hash.
    pub const GENESIS: Tag = Tag("timecoin/genesis");
    /// The P2P handshake transcript.
    pub const HANDSHAKE: Tag = Tag("timecoin/handshake");
    /// One unspent output as an element of the UTXO-set commitment.
    pub const UTXO: Tag = Tag("timecoin/utxo");
    /// The seed of a signature batch's coefficients (nothing is signed).
    pub const BATCH_COEFFICIENTS: Tag = Tag("timecoin/batch-coefficients");

    /// Every tag, so none can be added without being checked against the
    /// others.
    pub const ALL: [Tag; 9] = [
        Tag::TXID,
        Tag::INPUT_SIG,
        Tag::VOTE_BATCH,
        Tag::CONSENSUS_VOTE,
        Tag::BLOCK,
        Tag::GENESIS,
        Tag::HANDSHAKE,
        Tag::UTXO,
        Tag::BATCH_COEFFICIENTS,
    ];

    /// The tag's ASCII text.
    pub const fn as_str(self) -> &'static str {
        self.0
    }

    /// The bytes that open a preimage: the tag, then one zero byte.
    pub fn prefix(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.0.len() + 1);
        out.extend_from_slice(self.0.as_bytes());
        out.push(0);
        out
    }
}

/// A SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash256(pub [u8; 32]);

crate::fixed_bytes::fixed_bytes_newtype!(Hash256, 32);

impl Hash256 {
    /// All zero bytes: the empty merkle tree, and "nil" in consensus votes.
    pub const ZERO: Hash256 = Hash256([0; 32]);

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Result<Self, HexError> {
        text.parse()
    }
}

/// A fixed-size value written as hex had the wrong length or a non-hex digit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    /// Not the expected number of hex digits.
    #[error("expected {expected} hex digits, got {got} characters")]
    Length {
        /// Hex digits expected.
        expected: usize,
        /// Characters given.
        got: usize,
    },
    /// A character that is not a hex digit.
    #[error("not hex: {0}")]
    Digit(String),
}

/// An incremental SHA-256 over a tagged preimage.
#[derive(Debug, Clone)]
pub struct TaggedHasher(Sha256);

impl TaggedHasher {
    /// Starts a preimage with `tag`.
    pub fn new(tag: Tag) -> Self {
        let mut inner = Sha256::new();
        inner.update(tag.as_str().as_bytes());
        inner.update([0u8]);
        TaggedHasher(inner)
    }

    /// Appends bytes.
    pub fn update(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.update(bytes);
        self
    }

    /// The digest.
    pub fn finish(self) -> Hash256 {
        Hash256(self.0.finalize().into())
    }
}

/// SHA-256 of `tag ‖ 0x00 ‖ parts…`.
pub fn tagged_hash(tag: Tag, parts: &[&[u8]]) -> Hash256 {
    let mut hasher = TaggedHasher::new(tag);
    for part in parts {
        hasher.update(part);
    }
    hasher.finish()
}

/// Plain SHA-256, for the places the protocol fixes without a tag (merkle
/// interior nodes, address payloads and checksums, from the original node).
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Plain SHA-256 of two 32-byte values concatenated.
pub fn sha256_pair(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_distinct_and_none_is_a_prefix_of_another() {
        let tags = Tag::ALL;
        for (i, a) in tags.iter().enumerate() {
            for (j, b) in tags.iter().enumerate() {
                if i != j {
                    assert!(!a.prefix().starts_with(&b.prefix()), "{a:?} vs {b:?}");
                }
            }
        }
    }

    #[test]
    fn tagged_hash_equals_hash_of_prefix_and_parts() {
        let mut manual = Tag::TXID.prefix();
        manual.extend_from_slice(b"abc");
        assert_eq!(tagged_hash(Tag::TXID, &[b"a", b"bc"]).0, sha256(&manual));
        assert_ne!(tagged_hash(Tag::TXID, &[b"abc"]), tagged_hash(Tag::BLOCK, &[b"abc"]));
    }

    #[test]
    fn hex_round_trip_and_errors() {
        let h = Hash256([0xab; 32]);
        assert_eq!(Hash256::from_hex(&h.to_hex()).unwrap(), h);
        assert_eq!(Hash256::from_hex("ab"), Err(HexError::Length { expected: 64, got: 2 }));
        assert!(matches!(Hash256::from_hex(&"zz".repeat(32)), Err(HexError::Digit(_))));
    }
}
