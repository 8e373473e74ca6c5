//! Identifier newtypes, so a txid is never passed where a block hash belongs.

use serde::{Deserialize, Serialize};

use crate::fixed_bytes::fixed_bytes_newtype;
use crate::hash::Hash256;
use crate::keys::PublicKey;

/// A transaction id: the tagged hash of the txid preimage (no signatures).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TxId(pub [u8; 32]);

fixed_bytes_newtype!(TxId, 32);

/// A block id: the tagged hash of the block header.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct BlockHash(pub [u8; 32]);

fixed_bytes_newtype!(BlockHash, 32);

/// A masternode's id: its ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub [u8; 32]);

fixed_bytes_newtype!(NodeId, 32);

/// Which chain: fixed in genesis and part of every hash and signature, so
/// nothing signed for one chain is valid on another.
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct ChainId(pub u32);

impl std::fmt::Display for ChainId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<Hash256> for TxId {
    fn from(h: Hash256) -> Self {
        TxId(h.0)
    }
}

impl From<TxId> for Hash256 {
    fn from(id: TxId) -> Self {
        Hash256(id.0)
    }
}

impl From<Hash256> for BlockHash {
    fn from(h: Hash256) -> Self {
        BlockHash(h.0)
    }
}

impl From<PublicKey> for NodeId {
    fn from(key: PublicKey) -> Self {
        NodeId(key.0)
    }
}

impl NodeId {
    /// The public key this id is.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0)
    }

    /// The first four bytes in hex, for logs and tables.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }
}

impl TxId {
    /// The first four bytes in hex, for logs.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }
}
