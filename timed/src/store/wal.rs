//! The write-ahead records: what each persist call changed besides the
//! committed chain's keyspaces, one sled value per call, in call order.
//!
//! Replaying the records written since the last checkpoint over the
//! checkpoint's pool image (and the UTXO keyspace as of that checkpoint)
//! gives back the state of the last persist: a lock, a finality or an own
//! vote costs one encoding inside one write per call, not a write per key.

use serde::{Deserialize, Serialize};

use consensus::io::{CommittedBlock, PersistOp};
use protocol::{OutPoint, TxId, TxOut};

use super::pool::{CommitPart, PoolImage};

/// A commit as the records keep it: the pool's part and the UTXO changes
/// (the block itself is in the blocks keyspace).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct CommitRecord {
    /// What the commit changes in the pool.
    pub(super) pool: CommitPart,
    /// Outputs spent from the committed set.
    pub(super) spent: Vec<OutPoint>,
    /// Outputs created.
    pub(super) created: Vec<(OutPoint, TxOut)>,
}

impl CommitRecord {
    /// The record of `committed`, whose txids are `txids`.
    pub(super) fn of(committed: &CommittedBlock, txids: Vec<TxId>) -> CommitRecord {
        let block = &committed.block;
        CommitRecord {
            pool: CommitPart {
                height: block.header.height,
                txids,
                inputs: block.txs.iter().flat_map(|tx| tx.inputs.iter().map(|i| i.prev)).collect(),
            },
            spent: committed.spent.clone(),
            created: committed.created.clone(),
        }
    }
}

/// One change of a record, as written (borrowing the op).
#[derive(Debug, Serialize)]
pub(super) enum EntryRef<'a> {
    /// An op other than a commit.
    Op(&'a PersistOp),
    /// A commit.
    Commit(&'a CommitRecord),
}

/// One change of a record, as read back ([`EntryRef`]'s encoding).
#[derive(Debug, Deserialize)]
pub(super) enum Entry {
    /// An op other than a commit.
    Op(PersistOp),
    /// A commit.
    Commit(CommitRecord),
}

/// A checkpoint, as written: the pool image and the coin cache.
#[derive(Debug, Serialize)]
pub(super) struct CheckpointRef<'a> {
    /// The pool.
    pub(super) pool: &'a PoolImage,
    /// The coin cache's changes over the UTXO keyspace.
    pub(super) coins: Vec<(OutPoint, Option<TxOut>)>,
}

/// A checkpoint, as read back ([`CheckpointRef`]'s encoding).
#[derive(Debug, Default, Deserialize)]
pub(super) struct Checkpoint {
    /// The pool.
    pub(super) pool: PoolImage,
    /// The coin cache's changes over the UTXO keyspace.
    pub(super) coins: Vec<(OutPoint, Option<TxOut>)>,
}

/// The ring of record slots: record `seq` lives in slot `seq % RING_SLOTS`,
/// as the chunked value (see the store's module comment) with id
/// `slot u32`, tagged with its seq. A checkpoint is written before the
/// records since the last one fill half the ring, so a slot is only ever
/// reused for a record the checkpoint covers: records are overwritten,
/// never deleted (deleting a checkpoint's worth of keys in one batch made
/// sled hold hundreds of MB).
pub(super) const RING_SLOTS: u64 = 8_192;

/// What chunk 0 of a chunked value opens with: which value it is (a
/// record's seq, a block's height, the height of records a checkpoint
/// covers), since a key can hold many values over time, and how many
/// chunks it has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ChunkHeader {
    pub(super) seq: u64,
    pub(super) chunks: u32,
}

impl ChunkHeader {
    pub(super) const LEN: usize = 12;

    pub(super) fn to_bytes(self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[..8].copy_from_slice(&self.seq.to_be_bytes());
        out[8..].copy_from_slice(&self.chunks.to_be_bytes());
        out
    }

    pub(super) fn parse(bytes: &[u8]) -> Option<ChunkHeader> {
        let seq = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
        let chunks = u32::from_be_bytes(bytes.get(8..12)?.try_into().ok()?);
        Some(ChunkHeader { seq, chunks })
    }
}

/// The id of record `seq` (its slot), after the keyspace prefix.
pub(super) fn record_id(seq: u64) -> [u8; 4] {
    ((seq % RING_SLOTS) as u32).to_be_bytes()
}
