//! The node's durable state in sled: the only module that names sled.
//!
//! The core asks for state changes as [`PersistOp`]s; [`Store::persist`]
//! applies a call's ops as **one atomic batch and one flush** (group
//! commit), and [`Store::load`] gives back exactly what
//! [`Restored::apply`] would hold after the same ops in the same order (that
//! function is the reference meaning of every op). RPC handlers read blocks,
//! transactions and the txid index through a cloned [`Store`] on any thread.
//!
//! # Data dir
//!
//! | path | what |
//! |---|---|
//! | `store.json` | identity: schema version, genesis hash, chain id. Checked before sled is opened, so a refused dir is never touched. |
//! | `genesis.json` | a copy of the genesis the dir was created for |
//! | `db/` | the sled database |
//!
//! # Keyspaces
//!
//! One sled tree; each keyspace is a one-byte key prefix. Integers in keys
//! are big-endian so iteration follows numeric order; an outpoint is
//! `txid [32] ‖ vout u32`. Values are postcard, except fixed-width integers
//! in indexes (big-endian bytes) and hashes (raw bytes).
//!
//! | prefix | keyspace | key after the prefix | value |
//! |---|---|---|---|
//! | `m` | meta | `schema_version` | u32 |
//! | `m` | meta | `genesis_hash` | 32 bytes |
//! | `m` | meta | `state` | tip height, own seq, UTXO count and total, write-ahead record range |
//! | `c` | checkpoint | chunk u32 | the last checkpoint (the pool image, `pool::PoolImage`, and the coin cache), chunked |
//! | `b` | blocks | height u64 (≥ 1) ‖ chunk u32 | `(Block, CommitCertificate)`, chunked |
//! | `h` | block_index | block hash | height u64 |
//! | `t` | tx_index | txid | height u64 ‖ index u32 |
//! | `u` | utxos | outpoint | `TxOut`; with the checkpoint's coin cache and the records after it, the committed set |
//! | `w` | wal | slot u32 ‖ chunk u32 | record `seq` in slot `seq % RING_SLOTS`: the changes of one persist call (`wal::Entry`s), chunked |
//!
//! A *chunked* value is written as keys `… ‖ chunk u32` of at most
//! `CHUNK_BYTES` each; chunk 0 opens with a [`wal::ChunkHeader`] (which
//! value it belongs to and how many chunks it has). sled keeps up to 16
//! values in a leaf and rewrites a leaf whole every tenth change to it, as
//! a file of its own once it exceeds a quarter of a segment (128 KiB): a
//! block or a checkpoint of a busy cycle (certificates are ~2 KB a
//! transaction) stored whole would make each such rewrite copy megabytes
//! (measured: 8 % of a node's CPU at 1,000 tx/s went to sled writing those
//! files, when `state`, written by every persist, shared a leaf with the
//! checkpoint).
//!
//! Block 0 is not stored (it has no commit certificate and follows from
//! genesis), but its hash and its allocation transaction are indexed, and
//! its outputs are in `utxos`.
//!
//! # How a persist writes
//!
//! sled's cost is per key written (each insert links a delta into a page
//! that is later rewritten whole) and per flush, and a batch of many keys
//! makes it hold their pages in memory, so the store writes few keys and
//! never many at once: the committed chain (block, block index, txid
//! index) at each commit, because readers need them by key; everything
//! else a call changes (locks, finality, own votes, the pool's part of a
//! commit, its UTXO changes) as **one write-ahead record per call**. The
//! store keeps the pool it describes in memory (`pool::Pool`), so a
//! persist never reads back what it wrote.
//!
//! UTXO changes wait in a coin cache (`coins::Coins`) and are written
//! behind, a few commits later, unless a later commit changed the outpoint
//! again: a coin created and spent within the window is never written. A
//! persist reads the disk only to learn whether an output it creates or
//! spends was in the set (the UTXO counters stay exact).
//!
//! Every [`StoreConfig::checkpoint_every_commits`] commits (or sooner, when
//! the records since the last checkpoint fill half their ring of slots or
//! `CHECKPOINT_RECORD_BYTES`, and at a clean shutdown) a persist writes a
//! checkpoint instead of a record: the pool image and the coin cache as one
//! value. Records are never deleted: a later record overwrites the slot of
//! one a checkpoint covers. Opening the store replays the records after the
//! checkpoint over it. Each call's batch is atomic for readers
//! (`apply_batch` holds sled's write lock) and across a crash (one sealed
//! log batch), and the flush after it is the durability point the driver
//! relies on.
//!
//! # Files
//!
//! | concern | file |
//! |---|---|
//! | opening, `persist`, `load`, the public reads, the chain index | `mod.rs` |
//! | errors, each naming the file or key and what to do | `error.rs` |
//! | keyspaces, key encodings, chunked values, UTXO counters | `keys.rs` |
//! | the data dir: free space, identity file, opening sled | `disk.rs` |
//! | sled access, recovery, a commit's batch, checkpoints | `inner.rs` |
//! | the write-ahead records and the checkpoint's shape | `wal.rs` |
//! | the pool the records describe; the coin cache | `pool.rs`; `coins.rs` |

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

mod coins;
mod disk;
mod error;
mod inner;
mod keys;
mod pool;
mod wal;

use disk::{
    check_free_space, check_identity, open_db, prepare_dir, read_identity, write_file_durably,
};
pub use error::StoreError;
use keys::{
    Space, block_id, chunk_key, encode, fixed, outpoint_bytes, parse_outpoint, write_chunked,
};

use coins::Coins;
use pool::Pool;
use wal::{ChunkHeader, CommitRecord, EntryRef, RING_SLOTS, record_id};

use serde::{Deserialize, Serialize};

use consensus::index::{ChainIndex, IndexError};
use consensus::io::PersistOp;
use consensus::restore::Restored;
use protocol::bft::CommitCertificate;
use protocol::{
    Amount, Block, BlockHash, BlockHeader, ChainId, Genesis, Hash256, Transaction, TxId, TxOut,
};

/// The layout version of the data dir; a dir with another one is refused.
/// 4: own proposals carry blocks by reference. 5: blocks and the
/// checkpoint are chunked values.
pub const SCHEMA_VERSION: u32 = 5;

/// sled's own directory inside the data dir.
const DB_DIR: &str = "db";
/// The identity file, read before sled is opened.
const IDENTITY_FILE: &str = "store.json";
/// The copy of genesis.
const GENESIS_FILE: &str = "genesis.json";

const SCHEMA_KEY: &[u8] = b"schema_version";
const GENESIS_KEY: &[u8] = b"genesis_hash";
const STATE_KEY: &[u8] = b"state";

/// A checkpoint is written at a commit once the records since the last
/// one hold this many bytes (what a restart reads back)...
const CHECKPOINT_RECORD_BYTES: u64 = 32 << 20;
/// A chunked value (see the module comment) is written as keys of at most
/// this many bytes, so a leaf of 16 stays under sled's 128 KiB threshold
/// for writing it as a file of its own (records stored whole made 28 such
/// files a block, and sled's cleaner then held 100 MB).
const CHUNK_BYTES: usize = 4 << 10;

/// Local storage settings (the `[storage]` section).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    /// sled's page cache in MiB. sled's default is 1 GiB; the node's whole
    /// RSS target is 64 MB.
    pub cache_size_mb: u64,
    /// A checkpoint is written at a commit once this many commits went by
    /// since the last one (sooner when the write-ahead records or the coin
    /// cache grow past their bounds): what a restart replays and what the
    /// coin cache holds.
    pub checkpoint_every_commits: u64,
    /// Free space the data dir's filesystem must keep, MiB: a write that
    /// would start below it is refused, and so is opening. sled cannot be
    /// trusted to survive a write that fails for want of space (its
    /// recovery has been seen to keep part of a batch), so the node stops
    /// cleanly while there is still room.
    pub min_free_mb: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig { cache_size_mb: 16, checkpoint_every_commits: 16, min_free_mb: 64 }
    }
}

/// The node's storage. Cloning is cheap and shares the database: the driver
/// writes through one clone, RPC handlers read through others.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    /// The data dir.
    dir: PathBuf,
    /// sled's directory (inside `dir`), named in errors.
    db_path: PathBuf,
    db: sled::Db,
    genesis: Genesis,
    /// Block 0, derived from genesis.
    block0: Block,
    /// What a persist computes its batch against; the mutex makes persists
    /// (and `load`) one at a time.
    writer: Mutex<Writer>,
    /// The committed height as of the last flushed batch.
    height: AtomicU64,
    /// See [`StoreConfig::min_free_mb`].
    min_free_mb: u64,
    /// See [`StoreConfig::checkpoint_every_commits`].
    checkpoint_every_commits: u64,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.inner.dir)
            .field("height", &self.height())
            .finish_non_exhaustive()
    }
}

/// The writer's view, as of the last applied batch.
#[derive(Debug, Default)]
struct Writer {
    /// The counters.
    state: MetaState,
    /// The pool the records and the checkpoint describe.
    pool: Pool,
    /// UTXO changes since the checkpoint.
    coins: Coins,
    /// Bytes of the records since the checkpoint (counted from open).
    record_bytes: u64,
    /// How many chunks the checkpoint takes (a smaller one removes the rest).
    checkpoint_chunks: u32,
    /// A persist failed part-way: no more writes.
    failed: bool,
}

/// Chain counters, one value so one write updates them together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct MetaState {
    /// Height of the last committed block; `None` until the first commit.
    last_commit: Option<u64>,
    /// The highest own vote batch seq ever persisted.
    own_seq: u64,
    /// Outputs in the committed UTXO set.
    utxo_count: u64,
    /// Their total value in sat.
    utxo_total: u64,
    /// The first record after the checkpoint.
    first_record: u64,
    /// The seq of the next record.
    next_record: u64,
    /// Commits since the checkpoint.
    commits_since_checkpoint: u64,
}

impl MetaState {
    fn tip_height(&self) -> u64 {
        self.last_commit.unwrap_or(0)
    }
}

/// What `store.json` holds.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Identity {
    schema_version: u32,
    genesis_hash: Hash256,
    chain_id: ChainId,
}

impl Store {
    /// Opens the data dir `dir` for `genesis`, creating and initialising it
    /// (schema version, genesis hash, block 0's outputs, `genesis.json`) when
    /// it is new.
    ///
    /// A dir created for another genesis or another schema version is
    /// refused, naming the dir and what differs; when `store.json` is there
    /// (every dir this code initialised) that check happens before sled is
    /// opened, so nothing in a refused dir is modified. A dir that cannot be
    /// created or opened (not a directory, no permission, in use by another
    /// process) is an error naming the path and the fix.
    pub fn open(dir: &Path, genesis: &Genesis, config: &StoreConfig) -> Result<Store, StoreError> {
        let ours = genesis.hash();
        prepare_dir(dir)?;
        let identity_path = dir.join(IDENTITY_FILE);
        let had_identity = match read_identity(&identity_path)? {
            Some(identity) => {
                check_identity(dir, identity.schema_version, identity.genesis_hash, ours)?;
                true
            }
            None => false,
        };

        check_free_space(dir, config.min_free_mb)?;
        let db_path = dir.join(DB_DIR);
        let db = open_db(dir, &db_path, config)?;

        let block0 = Block::genesis(genesis);
        let inner = Inner {
            dir: dir.to_path_buf(),
            db_path,
            db,
            genesis: genesis.clone(),
            block0,
            writer: Mutex::new(Writer::default()),
            height: AtomicU64::new(0),
            min_free_mb: config.min_free_mb,
            checkpoint_every_commits: config.checkpoint_every_commits,
        };

        let schema_key = Space::Meta.key(&[SCHEMA_KEY]);
        match inner.get(&schema_key)? {
            None => {
                if !inner.db.is_empty() {
                    return Err(inner.corrupt(
                        Space::Meta,
                        &schema_key,
                        "missing in a non-empty database".into(),
                    ));
                }
                inner.initialise()?;
                tracing::info!(dir = %dir.display(), genesis = %ours, "created a new store");
            }
            Some(bytes) => {
                let stored: u32 = inner.decode(Space::Meta, &schema_key, &bytes)?;
                let genesis_key = Space::Meta.key(&[GENESIS_KEY]);
                let hash = inner
                    .get(&genesis_key)?
                    .ok_or_else(|| inner.corrupt(Space::Meta, &genesis_key, "missing".into()))?;
                let hash =
                    fixed::<32>(&hash, 0).filter(|_| hash.len() == 32).map(Hash256).ok_or_else(
                        || inner.corrupt(Space::Meta, &genesis_key, "not 32 bytes".into()),
                    )?;
                check_identity(dir, stored, hash, ours)?;
            }
        }

        let genesis_path = dir.join(GENESIS_FILE);
        if !genesis_path.exists() {
            let json = serde_json::to_vec_pretty(genesis)
                .map_err(|e| StoreError::Encode { what: "genesis", reason: e.to_string() })?;
            write_file_durably(&genesis_path, &json)?;
        }
        if !had_identity {
            let identity = Identity {
                schema_version: SCHEMA_VERSION,
                genesis_hash: ours,
                chain_id: genesis.chain_id,
            };
            let json = serde_json::to_vec_pretty(&identity).map_err(|e| StoreError::Encode {
                what: "store identity",
                reason: e.to_string(),
            })?;
            write_file_durably(&identity_path, &json)?;
        }

        let writer = inner.recover()?;
        inner.height.store(writer.state.tip_height(), Ordering::Release);
        *inner.writer.lock().unwrap_or_else(PoisonError::into_inner) = writer;
        Ok(Store { inner: Arc::new(inner) })
    }

    /// The data dir.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Applies `ops`, in order, as one atomic batch, then flushes: when this
    /// returns `Ok` every op is durable (group commit: the driver passes
    /// every op of a cycle in one call). Returns how long the flush took.
    ///
    /// Calls are serialised; readers see all of a call's changes or none.
    /// With no ops it writes a checkpoint and flushes (what a clean
    /// shutdown asks for, so the next start replays nothing). After an
    /// error the store takes no more writes ([`StoreError::Failed`]).
    pub fn persist(&self, ops: &[PersistOp]) -> Result<Duration, StoreError> {
        let inner = &*self.inner;
        let mut guard = inner.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let writer = &mut *guard;
        if writer.failed {
            return Err(StoreError::Failed { path: inner.db_path.clone() });
        }
        if !ops.is_empty() {
            inner.check_free_space()?;
        }
        // Until the flush below succeeds, memory may be ahead of the disk.
        writer.failed = true;
        let chain = inner.genesis.chain_id;
        let mut batch = sled::Batch::default();
        let mut commits = Vec::new();
        for op in ops {
            match op {
                PersistOp::Commit(committed) => {
                    let txids = committed.block.txids(chain);
                    inner.commit(writer, committed, &txids, &mut batch)?;
                    let record = CommitRecord::of(committed, txids);
                    writer.pool.commit(&record.pool);
                    commits.push(record);
                }
                other => {
                    if let PersistOp::OwnVotes { batch, .. } = other {
                        writer.state.own_seq = writer.state.own_seq.max(batch.seq);
                    }
                    writer.pool.apply(other, chain);
                }
            }
        }
        // Written behind only now: a later op of this call reads the
        // keyspace as it was before the call, so what it needs must still
        // be in the cache.
        for (outpoint, output) in writer.coins.due() {
            let key = Space::Utxos.key(&[&outpoint_bytes(&outpoint)]);
            match output {
                Some(output) => batch.insert(key, encode("output", &output)?),
                None => batch.remove(key),
            }
        }
        let state = &writer.state;
        let due = state.commits_since_checkpoint >= inner.checkpoint_every_commits.max(1)
            || state.next_record - state.first_record >= RING_SLOTS / 2
            || writer.record_bytes >= CHECKPOINT_RECORD_BYTES;
        if ops.is_empty() || due {
            // The checkpoint holds this call's changes too: no record.
            inner.checkpoint(writer, &mut batch)?;
        } else {
            let mut commit_records = commits.iter();
            let entries: Vec<EntryRef<'_>> = ops
                .iter()
                .filter_map(|op| match op {
                    PersistOp::Commit(_) => commit_records.next().map(EntryRef::Commit),
                    other => Some(EntryRef::Op(other)),
                })
                .collect();
            let record = encode("write-ahead record", &entries)?;
            writer.record_bytes = writer.record_bytes.saturating_add(record.len() as u64);
            let seq = writer.state.next_record;
            write_chunked(&mut batch, Space::Wal, &record_id(seq), seq, &record)?;
            writer.state.next_record =
                seq.checked_add(1).ok_or(StoreError::Overflow { what: "record seq" })?;
        }
        batch.insert(Space::Meta.key(&[STATE_KEY]), encode("meta state", &writer.state)?);
        inner.db.apply_batch(batch).map_err(|source| inner.write_error(source))?;
        let started = Instant::now();
        inner.db.flush().map_err(|source| inner.write_error(source))?;
        let flushed = started.elapsed();
        writer.failed = false;
        inner.height.store(writer.state.tip_height(), Ordering::Release);
        tracing::debug!(
            ops = ops.len(),
            flush_us = flushed.as_micros() as u64,
            coin_changes = writer.coins.len(),
            "persisted"
        );
        Ok(flushed)
    }

    /// What the core needs after a restart: equal to
    /// `Restored::genesis(genesis)` followed by `apply` of every op ever
    /// persisted, in order.
    pub fn load(&self) -> Result<Restored, StoreError> {
        let inner = &*self.inner;
        // Held to the end: no persist may interleave with these scans.
        let writer = inner.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let state = writer.state;
        let (tip_header, last_commit) = match state.last_commit {
            None => (inner.block0.header.clone(), None),
            Some(height) => {
                let (block, certificate) = inner.committed_block(height)?.ok_or_else(|| {
                    inner.corrupt(
                        Space::Blocks,
                        &chunk_key(Space::Blocks, &block_id(height), 0),
                        "the tip block is missing".into(),
                    )
                })?;
                (block.header.clone(), Some((block, certificate)))
            }
        };

        let mut utxos = HashMap::with_capacity(usize::try_from(state.utxo_count).unwrap_or(0));
        for entry in inner.scan(Space::Utxos, &[]) {
            let (key, value) = entry?;
            let outpoint = parse_outpoint(&key, 1)
                .filter(|_| key.len() == 37)
                .ok_or_else(|| inner.corrupt(Space::Utxos, &key, "not an outpoint".into()))?;
            utxos.insert(outpoint, inner.decode::<TxOut>(Space::Utxos, &key, &value)?);
        }
        for (outpoint, output) in writer.coins.changes() {
            match output {
                Some(output) => utxos.insert(*outpoint, output),
                None => utxos.remove(outpoint),
            };
        }

        let image = writer.pool.image();
        let restored = Restored {
            chain: inner.genesis.chain_id,
            tip_header,
            last_commit,
            utxos,
            final_txs: image.finals.values().cloned().collect(),
            locked: image.locked.clone(),
            frozen: image.frozen.clone(),
            own_batches: image.own_batches.clone(),
            own_seq: state.own_seq,
            own_proposals: image.own_proposals.clone(),
            own_block_votes: image.own_block_votes.clone(),
        };
        drop(writer);
        Ok(restored)
    }

    /// The committed height (0 at genesis), as of the last durable persist.
    pub fn height(&self) -> u64 {
        self.inner.height.load(Ordering::Acquire)
    }

    /// The block at `height` and its commit certificate; block 0 (derived
    /// from genesis) has no certificate. `None` above the tip.
    pub fn block(
        &self,
        height: u64,
    ) -> Result<Option<(Block, Option<CommitCertificate>)>, StoreError> {
        if height == 0 {
            return Ok(Some((self.inner.block0.clone(), None)));
        }
        Ok(self.inner.committed_block(height)?.map(|(block, cert)| (block, Some(cert))))
    }

    /// The hash of the block at `height`, without decoding its body.
    pub fn block_hash(&self, height: u64) -> Result<Option<BlockHash>, StoreError> {
        let inner = &*self.inner;
        let chain = inner.genesis.chain_id;
        if height == 0 {
            return Ok(Some(inner.block0.hash(chain)));
        }
        let id = block_id(height);
        let Some((key, first)) = inner.first_chunk(Space::Blocks, &id, height)? else {
            return Ok(None);
        };
        // postcard writes a struct as its fields in order with no framing,
        // so a stored (Block, CommitCertificate) starts with the header,
        // which fits in chunk 0 (a few hundred bytes); else read it all.
        let header = match postcard::take_from_bytes::<BlockHeader>(&first[ChunkHeader::LEN..]) {
            Ok((header, _)) => header,
            Err(_) => inner
                .committed_block(height)?
                .map(|(block, _)| block.header)
                .ok_or_else(|| inner.corrupt(Space::Blocks, &key, "the block is missing".into()))?,
        };
        Ok(Some(header.hash(chain)))
    }

    /// The height of the committed block `hash` (block 0 included).
    pub fn height_of(&self, hash: &BlockHash) -> Result<Option<u64>, StoreError> {
        let inner = &*self.inner;
        let key = Space::BlockIndex.key(&[&hash.0]);
        inner.get(&key)?.map(|bytes| inner.be_u64(Space::BlockIndex, &key, &bytes)).transpose()
    }

    /// Up to `max` committed blocks with their certificates, from height
    /// `from` (at least 1: block 0 follows from genesis) upwards, in height
    /// order, of at most `max_bytes` stored bytes together (but at least
    /// one block): the answer to a peer's catch-up request, which must fit
    /// in one frame.
    pub fn blocks_from(
        &self,
        from: u64,
        max: usize,
        max_bytes: usize,
    ) -> Result<Vec<(Block, CommitCertificate)>, StoreError> {
        let inner = &*self.inner;
        let mut out = Vec::new();
        if max == 0 {
            return Ok(out);
        }
        let mut bytes = 0usize;
        for height in from.max(1)..=self.height() {
            let Some(value) = inner.read_chunked(Space::Blocks, &block_id(height), height)? else {
                break;
            };
            bytes = bytes.saturating_add(value.len());
            if !out.is_empty() && bytes > max_bytes {
                break;
            }
            out.push(inner.decode(
                Space::Blocks,
                &chunk_key(Space::Blocks, &block_id(height), 0),
                &value,
            )?);
            if out.len() >= max {
                break;
            }
        }
        Ok(out)
    }

    /// Where a committed transaction is: (block height, index in the block).
    pub fn tx_location(&self, txid: &TxId) -> Result<Option<(u64, u32)>, StoreError> {
        let inner = &*self.inner;
        let key = Space::TxIndex.key(&[&txid.0]);
        let Some(bytes) = inner.get(&key)? else { return Ok(None) };
        let location = fixed::<8>(&bytes, 0)
            .zip(fixed::<4>(&bytes, 8))
            .filter(|_| bytes.len() == 12)
            .map(|(h, i)| (u64::from_be_bytes(h), u32::from_be_bytes(i)))
            .ok_or_else(|| inner.corrupt(Space::TxIndex, &key, "not height and index".into()))?;
        Ok(Some(location))
    }

    /// A committed transaction and the height of its block.
    pub fn committed_tx(&self, txid: &TxId) -> Result<Option<(Transaction, u64)>, StoreError> {
        let Some((height, index)) = self.tx_location(txid)? else { return Ok(None) };
        let inner = &*self.inner;
        let key = Space::TxIndex.key(&[&txid.0]);
        let block = match self.block(height)? {
            Some((block, _)) => block,
            None => {
                return Err(inner.corrupt(
                    Space::TxIndex,
                    &key,
                    format!("points at missing block {height}"),
                ));
            }
        };
        let tx = usize::try_from(index).ok().and_then(|i| block.txs.get(i)).ok_or_else(|| {
            inner.corrupt(
                Space::TxIndex,
                &key,
                format!("points at index {index} of block {height}, which is out of range"),
            )
        })?;
        Ok(Some((tx.clone(), height)))
    }

    /// The number of committed unspent outputs and their total value (kept
    /// as counters, not scanned).
    pub fn utxo_count_and_total(&self) -> Result<(u64, Amount), StoreError> {
        let state = self.inner.read_state()?;
        Ok((state.utxo_count, Amount::from_sat(state.utxo_total)))
    }

    /// Bytes the database takes on disk.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        self.inner.db.size_on_disk().map_err(|source| self.inner.read_error(source))
    }
}

/// The core asks the store, not a cache, whether a txid is committed
/// (`consensus::index`): sled's txid index, which a commit writes in the same
/// atomic batch as the block.
impl ChainIndex for Store {
    fn committed_height(&self, txid: &TxId) -> Result<Option<u64>, IndexError> {
        self.tx_location(txid).map(|l| l.map(|(height, _)| height)).map_err(|e| {
            tracing::error!("chain index read failed: {e}");
            IndexError(e.to_string())
        })
    }
}
