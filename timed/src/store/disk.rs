//! The data dir on disk: free space, its identity file, opening sled.

use std::fs;
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use protocol::Hash256;

use super::{Identity, SCHEMA_VERSION, StoreConfig, StoreError};

/// Refuses when the filesystem of `dir` has less than `min_mb` MiB free
/// (a filesystem that cannot say is not refused).
pub(super) fn check_free_space(dir: &Path, min_mb: u64) -> Result<(), StoreError> {
    let Ok(stat) = nix::sys::statvfs::statvfs(dir) else { return Ok(()) };
    let free_mb = stat.blocks_available().saturating_mul(stat.fragment_size()) >> 20;
    if free_mb < min_mb {
        return Err(StoreError::DiskLow { path: dir.to_path_buf(), free_mb, min_mb });
    }
    Ok(())
}

/// Makes sure `dir` is a directory, creating it (and its parents) if needed.
pub(super) fn prepare_dir(dir: &Path) -> Result<(), StoreError> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(StoreError::NotADirectory { path: dir.to_path_buf() }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir_all(dir)
            .map_err(|source| StoreError::CreateDir { path: dir.to_path_buf(), source }),
        Err(source) => Err(StoreError::CreateDir { path: dir.to_path_buf(), source }),
    }
}

pub(super) fn read_identity(path: &Path) -> Result<Option<Identity>, StoreError> {
    let text = match fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StoreError::File { action: "read", path: path.to_path_buf(), source });
        }
    };
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|e| StoreError::Identity { path: path.to_path_buf(), reason: e.to_string() })
}

pub(super) fn check_identity(
    dir: &Path,
    schema_version: u32,
    genesis_hash: Hash256,
    ours: Hash256,
) -> Result<(), StoreError> {
    if schema_version != SCHEMA_VERSION {
        return Err(StoreError::SchemaMismatch {
            path: dir.to_path_buf(),
            stored: schema_version,
            ours: SCHEMA_VERSION,
        });
    }
    if genesis_hash != ours {
        return Err(StoreError::GenesisMismatch {
            path: dir.to_path_buf(),
            stored: genesis_hash,
            ours,
        });
    }
    Ok(())
}

/// How long `open` waits for a lock held by a handle being dropped.
pub(super) const LOCK_WAIT: Duration = Duration::from_secs(2);

/// Opens sled in `db_path`. A handle dropped in this process a moment ago
/// can still hold sled's file lock while sled's I/O threads finish its last
/// writes, so a held lock is retried for [`LOCK_WAIT`] before it is
/// reported as another process's.
pub(super) fn open_db(
    dir: &Path,
    db_path: &Path,
    config: &StoreConfig,
) -> Result<sled::Db, StoreError> {
    let sled_config = sled::Config::new()
        .path(db_path)
        .cache_capacity(config.cache_size_mb.saturating_mul(1 << 20))
        // Less aggressive segment rewriting: lower write amplification on
        // a UTXO set that churns every block.
        .mode(sled::Mode::HighThroughput)
        // Every persist flushes; a background flusher would only add fsyncs
        // of its own.
        .flush_every_ms(None);
    let started = Instant::now();
    loop {
        match sled_config.open() {
            Ok(db) => return Ok(db),
            Err(source) => match open_error(dir, db_path, source) {
                StoreError::Locked { .. } if started.elapsed() < LOCK_WAIT => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                error => return Err(error),
            },
        }
    }
}

pub(super) fn open_error(dir: &Path, db_path: &Path, source: sled::Error) -> StoreError {
    // sled reports a held lock as an untyped I/O error; its text is the only
    // way to tell it apart.
    if let sled::Error::Io(e) = &source
        && e.to_string().contains("could not acquire lock")
    {
        return StoreError::Locked { path: dir.to_path_buf() };
    }
    StoreError::Open { path: db_path.to_path_buf(), source }
}

/// Writes `path` atomically and durably ([`hostio::write_atomic`]): a crash
/// leaves the old file or the new one, never half of one.
pub(super) fn write_file_durably(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    hostio::write_atomic(path, bytes).map_err(|hostio::FileError { path, source }| {
        StoreError::File { action: "write", path, source }
    })
}
