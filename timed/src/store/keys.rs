//! The keyspaces of the one sled tree, key encodings, chunked values and
//! the UTXO counters (see the module comment of `store`).

use serde::Serialize;

use protocol::{OutPoint, TxId, TxOut};

use super::wal::ChunkHeader;
use super::{CHUNK_BYTES, MetaState, StoreError};

/// A keyspace: a one-byte prefix in the one tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Space {
    Meta,
    Checkpoint,
    Blocks,
    BlockIndex,
    TxIndex,
    Utxos,
    Wal,
}

impl Space {
    pub(super) const fn prefix(self) -> u8 {
        match self {
            Space::Meta => b'm',
            Space::Checkpoint => b'c',
            Space::Blocks => b'b',
            Space::BlockIndex => b'h',
            Space::TxIndex => b't',
            Space::Utxos => b'u',
            Space::Wal => b'w',
        }
    }

    pub(super) const fn name(self) -> &'static str {
        match self {
            Space::Meta => "meta",
            Space::Checkpoint => "checkpoint",
            Space::Blocks => "blocks",
            Space::BlockIndex => "block_index",
            Space::TxIndex => "tx_index",
            Space::Utxos => "utxos",
            Space::Wal => "wal",
        }
    }

    /// The prefix followed by `parts`.
    pub(super) fn key(self, parts: &[&[u8]]) -> Vec<u8> {
        let len = 1 + parts.iter().map(|p| p.len()).sum::<usize>();
        let mut key = Vec::with_capacity(len);
        key.push(self.prefix());
        for part in parts {
            key.extend_from_slice(part);
        }
        key
    }

    /// How an error names `key` (which includes the prefix).
    pub(super) fn describe(self, key: &[u8]) -> String {
        let rest = key.get(1..).unwrap_or_default();
        match self {
            Space::Meta => String::from_utf8_lossy(rest).into_owned(),
            _ => hex::encode(rest),
        }
    }
}

pub(super) fn outpoint_bytes(outpoint: &OutPoint) -> [u8; 36] {
    let mut out = [0u8; 36];
    out[..32].copy_from_slice(&outpoint.txid.0);
    out[32..].copy_from_slice(&outpoint.vout.to_be_bytes());
    out
}

pub(super) fn encode<T: Serialize + ?Sized>(
    what: &'static str,
    value: &T,
) -> Result<Vec<u8>, StoreError> {
    postcard::to_allocvec(value).map_err(|e| StoreError::Encode { what, reason: e.to_string() })
}

/// Reads `N` bytes at `at` of a stored key or value.
pub(super) fn fixed<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at.checked_add(N)?)?.try_into().ok()
}

pub(super) fn parse_outpoint(bytes: &[u8], at: usize) -> Option<OutPoint> {
    Some(OutPoint {
        txid: TxId(fixed::<32>(bytes, at)?),
        vout: u32::from_be_bytes(fixed::<4>(bytes, at + 32)?),
    })
}

/// The key of chunk `chunk` of the chunked value `id` of `space`.
pub(super) fn chunk_key(space: Space, id: &[u8], chunk: u32) -> Vec<u8> {
    space.key(&[id, &chunk.to_be_bytes()])
}

/// The id of the block at `height` among the chunked values.
pub(super) fn block_id(height: u64) -> [u8; 8] {
    height.to_be_bytes()
}

/// Writes `bytes` into `batch` as the chunked value `id` of `space`, tagged
/// `seq` (see the module comment); returns how many chunks it took.
pub(super) fn write_chunked(
    batch: &mut sled::Batch,
    space: Space,
    id: &[u8],
    seq: u64,
    bytes: &[u8],
) -> Result<u32, StoreError> {
    // Chunk 0 carries the header, so it holds that much less data.
    let first = bytes.len().min(CHUNK_BYTES - ChunkHeader::LEN);
    let rest = bytes[first..].chunks(CHUNK_BYTES);
    let chunks =
        u32::try_from(1 + rest.len()).map_err(|_| StoreError::Overflow { what: "value chunks" })?;
    let mut value = ChunkHeader { seq, chunks }.to_bytes().to_vec();
    value.extend_from_slice(&bytes[..first]);
    batch.insert(chunk_key(space, id, 0), value);
    for (chunk, part) in (1u32..).zip(rest) {
        batch.insert(chunk_key(space, id, chunk), part);
    }
    Ok(chunks)
}

pub(super) fn tx_location_bytes(height: u64, index: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(12);
    out.extend_from_slice(&height.to_be_bytes());
    out.extend_from_slice(&index.to_be_bytes());
    out
}

/// Counts `output` into the UTXO counters.
pub(super) fn count_in(state: &mut MetaState, output: &TxOut) -> Result<(), StoreError> {
    state.utxo_count =
        state.utxo_count.checked_add(1).ok_or(StoreError::Overflow { what: "utxo count" })?;
    state.utxo_total = state
        .utxo_total
        .checked_add(output.value.sat())
        .ok_or(StoreError::Overflow { what: "utxo total" })?;
    Ok(())
}

/// Counts `output` out of the UTXO counters.
pub(super) fn count_out(state: &mut MetaState, output: &TxOut) -> Result<(), StoreError> {
    state.utxo_count =
        state.utxo_count.checked_sub(1).ok_or(StoreError::Overflow { what: "utxo count" })?;
    state.utxo_total = state
        .utxo_total
        .checked_sub(output.value.sat())
        .ok_or(StoreError::Overflow { what: "utxo total" })?;
    Ok(())
}
