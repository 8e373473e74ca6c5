//! What the shells take from the host that the pure crates must not: a
//! durable atomic file write, key files on disk, and the wall clock. One
//! implementation of each, so every key file is written the same way
//! (owner-only, never overwritten, durable), every file that must survive a
//! crash whole is written the same way, and every "now" is the same number.
//!
//! | what | function |
//! |---|---|
//! | replace a file's contents, atomically and durably | [`write_atomic`] |
//! | write a new key file (mode 0600, never overwriting) | [`write_key_file`] |
//! | read a key file, checked against its seed | [`read_key_file`] |
//! | milliseconds since the Unix epoch | [`now_ms`] |
//!
//! Why a crate of its own: the users are `timed` (which depends on
//! `protocol`, `consensus` and `net`), `client` (`protocol`), `cluster`
//! (`protocol`, `client`) and, through them or directly, `timectl`,
//! `loadgen` and the examples. The only crate all of them depend on is
//! `protocol`, and `protocol` is pure by design (ARCHITECTURE.md, invariant
//! 1: no I/O, no clock reads). In `client` it would make the daemon depend
//! on its own RPC client (an arrow pointing back up, and an HTTP client
//! linked into `timed`); in `net` it would make the wallet link the P2P
//! transport. Here it sits just above `protocol` (whose `keyfile` module
//! owns the key file format) and below every shell, so no dependency arrow
//! points back up.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use thiserror::Error;

use protocol::keyfile::KeyFile;
use protocol::{Network, SecretKey};

/// Milliseconds since the Unix epoch (0 for a clock set before it).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A file could not be read or written.
#[derive(Debug, Error)]
#[error("{}: {source}", path.display())]
pub struct FileError {
    /// The file (or, for the final sync, its directory).
    pub path: PathBuf,
    /// The cause.
    pub source: io::Error,
}

/// Why a key file could not be written or read.
#[derive(Debug, Error)]
pub enum KeyFileIoError {
    /// The file could not be read or written.
    #[error(transparent)]
    Io(#[from] FileError),
    /// Writing would replace an existing file (it may hold a funded key).
    #[error(
        "{} already exists; refusing to overwrite a key file (choose another path)",
        path.display()
    )]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// The file's contents are not a usable key file.
    #[error("{}: not a usable key file: {reason}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl KeyFileIoError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            KeyFileIoError::Io(e) => &e.path,
            KeyFileIoError::Exists { path } | KeyFileIoError::Invalid { path, .. } => path,
        }
    }
}

fn file_error(path: &Path) -> impl FnOnce(io::Error) -> FileError + '_ {
    move |source| FileError { path: path.to_path_buf(), source }
}

/// Replaces `path`'s contents with `bytes` so that a crash leaves the old
/// file or the new one, never half of one: the bytes go to a new file in the
/// same directory, which is synced, renamed over `path`, and the directory
/// synced (so the rename itself survives a power cut).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    let tmp = stage(path, bytes, false)?;
    if let Err(source) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(FileError { path: path.to_path_buf(), source });
    }
    sync_dir(path)
}

/// Writes a new key file for `key` on `network`: readable by its owner only
/// (mode 0600 from the first byte), never replacing an existing file (it
/// may hold a funded key), and durable (written to a new file in the same
/// directory, synced, linked to `path` only if nothing is there, the
/// directory synced), so a crash leaves the whole key file or none.
pub fn write_key_file(
    path: &Path,
    key: &SecretKey,
    network: Network,
) -> Result<KeyFile, KeyFileIoError> {
    let file = KeyFile::new(key, network);
    let mut json = serde_json::to_string_pretty(&file)
        .map_err(|e| KeyFileIoError::Invalid { path: path.to_path_buf(), reason: e.to_string() })?;
    json.push('\n');
    if path.exists() {
        return Err(KeyFileIoError::Exists { path: path.to_path_buf() });
    }
    let tmp = stage(path, json.as_bytes(), true)?;
    // A hard link, unlike a rename, fails instead of replacing a file that
    // appeared meanwhile.
    let linked = fs::hard_link(&tmp, path);
    match fs::remove_file(&tmp) {
        Err(source) if source.kind() != io::ErrorKind::NotFound => {
            return Err(FileError { path: tmp, source }.into());
        }
        _ => {}
    }
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(KeyFileIoError::Exists { path: path.to_path_buf() });
        }
        // A file system without hard links (FAT, some network mounts):
        // create the file in place, still never replacing one.
        Err(_) => {
            let mut out = new_file(path, true).map_err(|e| {
                if e.kind() == io::ErrorKind::AlreadyExists {
                    KeyFileIoError::Exists { path: path.to_path_buf() }
                } else {
                    FileError { path: path.to_path_buf(), source: e }.into()
                }
            })?;
            out.write_all(json.as_bytes()).map_err(file_error(path))?;
            out.sync_all().map_err(file_error(path))?;
        }
    }
    sync_dir(path)?;
    Ok(file)
}

/// Reads a key file and checks that its public key and address match its
/// seed; every error names the file.
pub fn read_key_file(path: &Path) -> Result<(KeyFile, SecretKey), KeyFileIoError> {
    let invalid = |reason: String| KeyFileIoError::Invalid { path: path.to_path_buf(), reason };
    let text = fs::read_to_string(path).map_err(file_error(path))?;
    let file: KeyFile = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    let key = file.secret().map_err(|e| invalid(e.to_string()))?;
    Ok((file, key))
}

/// Opens a new file (never an existing one), owner-only if `private`.
fn new_file(path: &Path, private: bool) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Writes `bytes` to a new hidden file next to `path` (same directory, so a
/// rename or link stays on one file system) and syncs it; returns its path.
fn stage(path: &Path, bytes: &[u8], private: bool) -> Result<PathBuf, FileError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().ok_or_else(|| FileError {
        path: path.to_path_buf(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "not a file name"),
    })?;
    let mut attempts = 0;
    let (tmp, mut file) = loop {
        let mut tmp_name = OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(
            ".{}.{}.tmp",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let tmp = path.with_file_name(tmp_name);
        match new_file(&tmp, private) {
            Ok(file) => break (tmp, file),
            // A leftover of a crashed process that had the same pid.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 100 => attempts += 1,
            Err(source) => return Err(FileError { path: path.to_path_buf(), source }),
        }
    };
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    drop(file);
    if let Err(source) = written {
        let _ = fs::remove_file(&tmp);
        return Err(FileError { path: path.to_path_buf(), source });
    }
    Ok(tmp)
}

/// Syncs the directory holding `path`, so a new name in it is durable.
fn sync_dir(path: &Path) -> Result<(), FileError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    File::open(dir).and_then(|d| d.sync_all()).map_err(file_error(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[cfg(unix)]
    #[test]
    fn key_files_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");
        write_key_file(&path, &SecretKey::from_seed([1; 32]), Network::Dev).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "mode {:o}", mode & 0o777);
    }

    #[test]
    fn key_files_round_trip_and_leave_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");
        let key = SecretKey::from_seed([2; 32]);
        let written = write_key_file(&path, &key, Network::Testnet).unwrap();
        let (read, secret) = read_key_file(&path).unwrap();
        assert_eq!(read, written);
        assert_eq!(secret.public(), key.public());
        assert!(fs::read_to_string(&path).unwrap().ends_with("}\n"));
        assert_eq!(entries(dir.path()), ["k.key"], "no temporary file is left behind");
    }

    #[test]
    fn an_existing_file_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");
        let first = write_key_file(&path, &SecretKey::from_seed([3; 32]), Network::Dev).unwrap();
        let err = write_key_file(&path, &SecretKey::from_seed([4; 32]), Network::Dev).unwrap_err();
        assert!(matches!(err, KeyFileIoError::Exists { .. }), "{err}");
        assert!(err.to_string().contains("refusing to overwrite"), "{err}");
        assert!(err.to_string().contains(&path.display().to_string()), "{err}");
        assert_eq!(read_key_file(&path).unwrap().0, first, "the first key is intact");

        let other = dir.path().join("notes.txt");
        fs::write(&other, "precious").unwrap();
        let err = write_key_file(&other, &SecretKey::from_seed([5; 32]), Network::Dev).unwrap_err();
        assert!(matches!(err, KeyFileIoError::Exists { .. }), "{err}");
        assert_eq!(fs::read_to_string(&other).unwrap(), "precious");
        assert_eq!(entries(dir.path()), ["k.key", "notes.txt"]);
    }

    #[test]
    fn reading_a_missing_or_malformed_file_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.key");
        let err = read_key_file(&missing).unwrap_err();
        assert!(matches!(err, KeyFileIoError::Io(_)), "{err}");
        assert!(err.to_string().starts_with(&missing.display().to_string()), "{err}");
        assert_eq!(err.path(), missing);

        let garbage = dir.path().join("garbage.key");
        fs::write(&garbage, "{}").unwrap();
        let err = read_key_file(&garbage).unwrap_err();
        assert!(matches!(err, KeyFileIoError::Invalid { .. }), "{err}");
        let text = err.to_string();
        assert!(text.starts_with(&garbage.display().to_string()), "{text}");
        assert!(text.contains("not a usable key file"), "{text}");

        let edited = dir.path().join("edited.key");
        write_key_file(&edited, &SecretKey::from_seed([6; 32]), Network::Dev).unwrap();
        let mut file: KeyFile =
            serde_json::from_str(&fs::read_to_string(&edited).unwrap()).unwrap();
        file.public_key = SecretKey::from_seed([7; 32]).public();
        fs::write(&edited, serde_json::to_string(&file).unwrap()).unwrap();
        let err = read_key_file(&edited).unwrap_err();
        assert!(err.to_string().contains("do not match secret_seed"), "{err}");
        assert_eq!(err.path(), edited);
    }

    #[test]
    fn a_key_file_in_a_missing_directory_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no-such-dir").join("k.key");
        let err = write_key_file(&path, &SecretKey::from_seed([8; 32]), Network::Dev).unwrap_err();
        assert!(err.to_string().starts_with(&path.display().to_string()), "{err}");
    }

    #[test]
    fn atomic_writes_replace_the_contents_and_leave_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.json");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        assert_eq!(entries(dir.path()), ["node.json"]);
        let err = write_atomic(&dir.path().join("no-such-dir").join("x"), b"x").unwrap_err();
        assert!(err.to_string().contains("no-such-dir"), "{err}");
    }

    #[test]
    fn a_bare_file_name_syncs_the_current_directory() {
        // Its parent is empty: the directory synced is ".".
        sync_dir(Path::new("node.json")).unwrap();
    }

    #[test]
    fn now_is_after_2020() {
        assert!(now_ms() > 1_577_836_800_000);
    }
}
