//! Parameters and results shared by several calls.

use std::str::FromStr;

use serde::Serialize;

use protocol::BlockHash;
use protocol::rpc::BlockJson;

/// A block named by height or by hash (`getblock`, positional param).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockRef {
    /// By height.
    Height(u64),
    /// By hash.
    Hash(BlockHash),
}

impl From<u64> for BlockRef {
    fn from(height: u64) -> Self {
        BlockRef::Height(height)
    }
}

impl From<BlockHash> for BlockRef {
    fn from(hash: BlockHash) -> Self {
        BlockRef::Hash(hash)
    }
}

impl FromStr for BlockRef {
    type Err = String;

    /// Digits are a height; 64 hex digits are a hash.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if !text.is_empty() && text.len() < 64 && text.bytes().all(|b| b.is_ascii_digit()) {
            return text.parse().map(BlockRef::Height).map_err(|e| format!("bad height: {e}"));
        }
        text.parse().map(BlockRef::Hash).map_err(|e| {
            format!("{text:?} is neither a height nor a block hash (64 hex digits): {e}")
        })
    }
}

impl Serialize for BlockRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            BlockRef::Height(height) => s.serialize_u64(*height),
            BlockRef::Hash(hash) => hash.serialize(s),
        }
    }
}

/// How much of a block `getblock` returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verbosity {
    /// 0: hex of the block's binary form.
    Raw,
    /// 1: decoded, with txids.
    Txids,
    /// 2: decoded, with decoded transactions.
    Transactions,
}

impl Verbosity {
    /// The number on the wire.
    pub fn level(self) -> u8 {
        match self {
            Verbosity::Raw => 0,
            Verbosity::Txids => 1,
            Verbosity::Transactions => 2,
        }
    }
}

/// What `getblock` returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlockResult {
    /// Verbosity 0: hex of the binary form.
    Raw(String),
    /// Verbosity 1 or 2.
    Decoded(Box<BlockJson>),
}
