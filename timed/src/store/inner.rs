//! The store's reads and writes below its public calls: sled access with
//! errors that name the key, recovery from the last checkpoint and the
//! records after it, chunked values, a commit's batch, checkpoints.

use serde::de::DeserializeOwned;

use consensus::io::CommittedBlock;
use protocol::bft::CommitCertificate;
use protocol::{Block, OutPoint, TxId, TxOut};

use super::coins::Coins;
use super::disk::check_free_space;
use super::keys::{
    Space, block_id, chunk_key, count_in, count_out, encode, fixed, outpoint_bytes,
    tx_location_bytes, write_chunked,
};
use super::pool::Pool;
use super::wal::{Checkpoint, CheckpointRef, ChunkHeader, Entry, record_id};
use super::{
    GENESIS_KEY, Inner, MetaState, SCHEMA_KEY, SCHEMA_VERSION, STATE_KEY, StoreError, Writer,
};

impl Inner {
    /// [`check_free_space`] of the data dir, before a write.
    pub(super) fn check_free_space(&self) -> Result<(), StoreError> {
        check_free_space(&self.dir, self.min_free_mb)
    }

    pub(super) fn read_error(&self, source: sled::Error) -> StoreError {
        StoreError::Read { path: self.db_path.clone(), source }
    }

    pub(super) fn write_error(&self, source: sled::Error) -> StoreError {
        StoreError::Write { path: self.db_path.clone(), source }
    }

    pub(super) fn corrupt(&self, space: Space, key: &[u8], reason: String) -> StoreError {
        StoreError::Corrupt {
            path: self.db_path.clone(),
            tree: space.name(),
            key: space.describe(key),
            reason,
        }
    }

    pub(super) fn get(&self, key: &[u8]) -> Result<Option<sled::IVec>, StoreError> {
        self.db.get(key).map_err(|source| self.read_error(source))
    }

    /// The entries of `space` whose key continues with `prefix`.
    pub(super) fn scan<'a>(
        &'a self,
        space: Space,
        prefix: &[u8],
    ) -> impl Iterator<Item = Result<(sled::IVec, sled::IVec), StoreError>> + 'a {
        self.db
            .scan_prefix(space.key(&[prefix]))
            .map(move |entry| entry.map_err(|source| self.read_error(source)))
    }

    pub(super) fn decode<T: DeserializeOwned>(
        &self,
        space: Space,
        key: &[u8],
        bytes: &[u8],
    ) -> Result<T, StoreError> {
        match postcard::take_from_bytes::<T>(bytes) {
            Ok((value, [])) => Ok(value),
            Ok((_, rest)) => {
                Err(self.corrupt(space, key, format!("{} bytes after the value", rest.len())))
            }
            Err(e) => Err(self.corrupt(space, key, e.to_string())),
        }
    }

    pub(super) fn be_u64(&self, space: Space, key: &[u8], bytes: &[u8]) -> Result<u64, StoreError> {
        fixed::<8>(bytes, 0)
            .filter(|_| bytes.len() == 8)
            .map(u64::from_be_bytes)
            .ok_or_else(|| self.corrupt(space, key, format!("{} bytes, not a u64", bytes.len())))
    }

    pub(super) fn read_state(&self) -> Result<MetaState, StoreError> {
        let key = Space::Meta.key(&[STATE_KEY]);
        let bytes =
            self.get(&key)?.ok_or_else(|| self.corrupt(Space::Meta, &key, "missing".into()))?;
        self.decode(Space::Meta, &key, &bytes)
    }

    pub(super) fn committed_block(
        &self,
        height: u64,
    ) -> Result<Option<(Block, CommitCertificate)>, StoreError> {
        let id = block_id(height);
        let key = chunk_key(Space::Blocks, &id, 0);
        self.read_chunked(Space::Blocks, &id, height)?
            .map(|bytes| self.decode(Space::Blocks, &key, &bytes))
            .transpose()
    }

    /// Writes a new dir's first batches: identity, block 0's index entries
    /// and outputs, the counters.
    pub(super) fn initialise(&self) -> Result<(), StoreError> {
        let chain = self.genesis.chain_id;
        let Some(allocation) = self.block0.txs.first() else {
            return Err(StoreError::Encode {
                what: "block 0",
                reason: "no allocation transaction".into(),
            });
        };
        let txid = allocation.txid(chain);
        let mut state = MetaState::default();
        let mut writes: Vec<(Vec<u8>, Vec<u8>)> = vec![
            (Space::Meta.key(&[GENESIS_KEY]), self.genesis.hash().0.to_vec()),
            (Space::BlockIndex.key(&[&self.block0.hash(chain).0]), 0u64.to_be_bytes().to_vec()),
            (Space::TxIndex.key(&[&txid.0]), tx_location_bytes(0, 0)),
        ];
        for (vout, output) in allocation.outputs.iter().enumerate() {
            let vout = u32::try_from(vout).map_err(|_| StoreError::Overflow { what: "vout" })?;
            let key = Space::Utxos.key(&[&outpoint_bytes(&OutPoint { txid, vout })]);
            writes.push((key, encode("output", output)?));
            count_in(&mut state, output)?;
        }
        writes.push((Space::Meta.key(&[STATE_KEY]), encode("meta state", &state)?));
        // In chunks, each flushed: sled keeps an unflushed batch's pages
        // resident, and one batch of a cluster's 8,000-coin genesis left
        // 89 MB of RSS against 28 MB in chunks (measured). The schema key
        // goes last, so a crash half-way leaves a store that open() refuses
        // as not initialised rather than one that looks complete.
        writes.push((Space::Meta.key(&[SCHEMA_KEY]), encode("schema version", &SCHEMA_VERSION)?));
        for chunk in writes.chunks(1_000) {
            let mut batch = sled::Batch::default();
            for (key, value) in chunk {
                batch.insert(key.as_slice(), value.as_slice());
            }
            self.db.apply_batch(batch).map_err(|source| self.write_error(source))?;
            self.db.flush().map_err(|source| self.write_error(source))?;
        }
        Ok(())
    }

    /// The writer of an opened store: the counters, the pool and coin cache
    /// of the last checkpoint, and every record after it replayed in order.
    pub(super) fn recover(&self) -> Result<Writer, StoreError> {
        let state = self.read_state()?;
        let checkpoint_key = chunk_key(Space::Checkpoint, &[], 0);
        let checkpoint_chunks =
            match self.first_chunk(Space::Checkpoint, &[], state.first_record)? {
                Some((_, first)) => ChunkHeader::parse(&first).map_or(0, |h| h.chunks),
                None => 0,
            };
        let checkpoint = match self.read_chunked(Space::Checkpoint, &[], state.first_record)? {
            Some(bytes) => self.decode::<Checkpoint>(Space::Checkpoint, &checkpoint_key, &bytes)?,
            None => Checkpoint::default(),
        };
        let mut writer = Writer {
            state,
            pool: Pool::from_image(checkpoint.pool),
            coins: Coins::from_checkpoint(checkpoint.coins),
            checkpoint_chunks,
            ..Writer::default()
        };
        for seq in state.first_record..state.next_record {
            let key = chunk_key(Space::Wal, &record_id(seq), 0);
            let bytes = self.read_chunked(Space::Wal, &record_id(seq), seq)?.ok_or_else(|| {
                self.corrupt(Space::Wal, &key, format!("record {seq} is missing"))
            })?;
            writer.record_bytes = writer.record_bytes.saturating_add(bytes.len() as u64);
            for entry in self.decode::<Vec<Entry>>(Space::Wal, &key, &bytes)? {
                match entry {
                    Entry::Op(op) => writer.pool.apply(&op, self.genesis.chain_id),
                    Entry::Commit(record) => {
                        // The counters were persisted with the record; the
                        // cache only needs the changes (whether the keyspace
                        // holds them is not known here).
                        writer.coins.start_commit();
                        for outpoint in &record.spent {
                            writer.coins.remove(*outpoint);
                        }
                        for (outpoint, output) in &record.created {
                            writer.coins.insert(*outpoint, *output, false);
                        }
                        writer.pool.commit(&record.pool);
                    }
                }
            }
        }
        Ok(writer)
    }

    /// Chunk 0 of the chunked value `id` of `space` (its key and bytes,
    /// header included), `None` when there is none; another value's chunk 0
    /// (a `seq` other than the one asked for) is corrupt.
    pub(super) fn first_chunk(
        &self,
        space: Space,
        id: &[u8],
        seq: u64,
    ) -> Result<Option<(Vec<u8>, sled::IVec)>, StoreError> {
        let key = chunk_key(space, id, 0);
        let Some(first) = self.get(&key)? else { return Ok(None) };
        match ChunkHeader::parse(&first) {
            Some(header) if header.seq == seq && header.chunks >= 1 => Ok(Some((key, first))),
            Some(header) => Err(self.corrupt(
                space,
                &key,
                format!(
                    "chunk 0 is of value {} in {} chunks, not of {seq}",
                    header.seq, header.chunks
                ),
            )),
            None => Err(self.corrupt(space, &key, format!("chunk 0 has {} bytes", first.len()))),
        }
    }

    /// The chunked value `id` of `space` tagged `seq`, from its chunks
    /// (`None` when it has no chunk 0).
    pub(super) fn read_chunked(
        &self,
        space: Space,
        id: &[u8],
        seq: u64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let Some((_, first)) = self.first_chunk(space, id, seq)? else { return Ok(None) };
        let chunks = ChunkHeader::parse(&first).map_or(1, |h| h.chunks);
        let mut bytes = first[ChunkHeader::LEN..].to_vec();
        for chunk in 1..chunks {
            let key = chunk_key(space, id, chunk);
            let value = self.get(&key)?.ok_or_else(|| {
                self.corrupt(space, &key, format!("chunk {chunk} of value {seq} is missing"))
            })?;
            bytes.extend_from_slice(&value);
        }
        Ok(Some(bytes))
    }

    /// Writes a commit's chain keys into `batch` and its UTXO changes into
    /// the coin cache, with the counters.
    pub(super) fn commit(
        &self,
        writer: &mut Writer,
        committed: &CommittedBlock,
        txids: &[TxId],
        batch: &mut sled::Batch,
    ) -> Result<(), StoreError> {
        let block = &committed.block;
        let height = block.header.height;
        writer.coins.start_commit();
        for outpoint in &committed.spent {
            if let Some(output) = self.coin(&writer.coins, outpoint)? {
                count_out(&mut writer.state, &output)?;
                writer.coins.remove(*outpoint);
            }
        }
        for (outpoint, output) in &committed.created {
            // Replacing an output must not count it twice.
            let before = self.coin(&writer.coins, outpoint)?;
            let absent_on_disk = writer.coins.get(outpoint).is_none() && before.is_none();
            if let Some(before) = before {
                count_out(&mut writer.state, &before)?;
            }
            count_in(&mut writer.state, output)?;
            writer.coins.insert(*outpoint, *output, absent_on_disk);
        }

        let height_bytes = height.to_be_bytes();
        let value = encode("block", &(block, &committed.certificate))?;
        write_chunked(batch, Space::Blocks, &block_id(height), height, &value)?;
        batch.insert(Space::BlockIndex.key(&[&committed.hash.0]), height_bytes.to_vec());
        for (index, txid) in txids.iter().enumerate() {
            let index =
                u32::try_from(index).map_err(|_| StoreError::Overflow { what: "tx index" })?;
            batch.insert(Space::TxIndex.key(&[&txid.0]), tx_location_bytes(height, index));
        }
        writer.state.last_commit = Some(height);
        writer.state.commits_since_checkpoint += 1;
        Ok(())
    }

    /// Whether `outpoint` is in the committed set: the coin cache, else
    /// the keyspace.
    pub(super) fn coin(
        &self,
        coins: &Coins,
        outpoint: &OutPoint,
    ) -> Result<Option<TxOut>, StoreError> {
        if let Some(state) = coins.get(outpoint) {
            return Ok(state);
        }
        let key = Space::Utxos.key(&[&outpoint_bytes(outpoint)]);
        self.get(&key)?.map(|bytes| self.decode::<TxOut>(Space::Utxos, &key, &bytes)).transpose()
    }

    /// Writes the pool image and the coin cache as the new checkpoint: the
    /// records so far are covered (their slots free for reuse).
    pub(super) fn checkpoint(
        &self,
        writer: &mut Writer,
        batch: &mut sled::Batch,
    ) -> Result<(), StoreError> {
        let coins = writer.coins.changes().map(|(op, output)| (*op, output)).collect();
        let checkpoint = CheckpointRef { pool: writer.pool.image(), coins };
        let value = encode("checkpoint", &checkpoint)?;
        let chunks =
            write_chunked(batch, Space::Checkpoint, &[], writer.state.next_record, &value)?;
        for stale in chunks..writer.checkpoint_chunks {
            batch.remove(chunk_key(Space::Checkpoint, &[], stale));
        }
        writer.checkpoint_chunks = chunks;
        writer.state.first_record = writer.state.next_record;
        writer.state.commits_since_checkpoint = 0;
        writer.record_bytes = 0;
        Ok(())
    }
}
