//! Why the store cannot be opened, read or written: each error names the
//! file or key and what to do.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

use protocol::Hash256;

/// Why the store cannot be opened, read or written.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The data dir path exists and is not a directory.
    #[error("data dir {path} is not a directory; pass another --data-dir")]
    NotADirectory {
        /// The path.
        path: PathBuf,
    },
    /// The data dir cannot be created.
    #[error(
        "cannot create data dir {path}: {source}; create it, writable by this user, or pass another --data-dir"
    )]
    CreateDir {
        /// The path.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// Another process (or another `Store` in this one) has the dir open.
    #[error(
        "data dir {path} is in use by another process; stop the other timed or pass another --data-dir"
    )]
    Locked {
        /// The data dir.
        path: PathBuf,
    },
    /// sled refused to open the database.
    #[error(
        "cannot open the store in {path}: {source}; check that this user can read and write it, or pass another --data-dir"
    )]
    Open {
        /// sled's directory.
        path: PathBuf,
        /// What sled said.
        #[source]
        source: sled::Error,
    },
    /// The dir belongs to another chain.
    #[error(
        "data dir {path} was created for genesis {stored}, this node runs genesis {ours}; use another --data-dir or remove it"
    )]
    GenesisMismatch {
        /// The data dir.
        path: PathBuf,
        /// The genesis hash the dir was created for.
        stored: Hash256,
        /// This node's genesis hash.
        ours: Hash256,
    },
    /// The dir was written by another version of the store layout.
    #[error(
        "data dir {path} has store schema version {stored}, this timed uses version {ours}; use another --data-dir or remove it (the node then resyncs)"
    )]
    SchemaMismatch {
        /// The data dir.
        path: PathBuf,
        /// The version found.
        stored: u32,
        /// [`SCHEMA_VERSION`].
        ours: u32,
    },
    /// `store.json` cannot be parsed.
    #[error(
        "{path} is not a valid store identity file: {reason}; remove it and timed rewrites it from the database"
    )]
    Identity {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A file next to the database cannot be read or written.
    #[error("cannot {action} {path}: {source}")]
    File {
        /// What was being done ("write", "read").
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// sled failed to read.
    #[error("reading the store in {path} failed: {source}")]
    Read {
        /// sled's directory.
        path: PathBuf,
        /// What sled said.
        #[source]
        source: sled::Error,
    },
    /// sled failed to apply or flush a batch.
    #[error("writing the store in {path} failed: {source}; is the disk full?")]
    Write {
        /// sled's directory.
        path: PathBuf,
        /// What sled said.
        #[source]
        source: sled::Error,
    },
    /// The data dir's filesystem has less free space than the node keeps
    /// in reserve: nothing more is written.
    #[error(
        "the disk of {path} has {free_mb} MiB free, below storage.min_free_mb = {min_mb}; nothing more was written (the store is intact): free some space and restart timed"
    )]
    DiskLow {
        /// The data dir.
        path: PathBuf,
        /// Free MiB found.
        free_mb: u64,
        /// The reserve.
        min_mb: u64,
    },
    /// Stored bytes that do not decode, or indexes that disagree.
    #[error(
        "the store in {path} is corrupt: {tree} key {key}: {reason}; restore the data dir from a backup or remove it (the node then resyncs)"
    )]
    Corrupt {
        /// sled's directory.
        path: PathBuf,
        /// The keyspace.
        tree: &'static str,
        /// The key after its prefix (hex, or the name of a meta key).
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A value could not be encoded (a bug, not bad input).
    #[error("cannot encode {what} for the store: {reason}")]
    Encode {
        /// What.
        what: &'static str,
        /// postcard's reason.
        reason: String,
    },
    /// A running counter would leave its range (the ops persisted are
    /// inconsistent with each other; nothing was written, and the store
    /// takes no more writes).
    #[error("store counter {what} would leave its range; nothing was written")]
    Overflow {
        /// Which counter.
        what: &'static str,
    },
    /// An earlier persist failed part-way: what the store holds in memory
    /// may be ahead of the disk, so it takes no more writes.
    #[error(
        "an earlier write to the store in {path} failed; restart timed (it resumes from what is on disk)"
    )]
    Failed {
        /// sled's directory.
        path: PathBuf,
    },
}
