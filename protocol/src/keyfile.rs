//! The key file format: one ed25519 key as JSON, shared by masternode keys,
//! wallet keys and the dev wallet. The file holds the secret seed, so
//! writers create it readable by its owner only (mode 0600).
//!
//! ```json
//! {
//!   "version": 1,
//!   "network": "dev",
//!   "public_key": "<64 hex digits>",
//!   "address": "TIME9…",
//!   "secret_seed": "<64 hex digits>"
//! }
//! ```
//!
//! `public_key` and `address` are derived from `secret_seed`; they are
//! written for people and checked on reading, so a hand-edited file that
//! disagrees with its seed is refused instead of silently used.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::address::{Address, Network};
use crate::keys::{PublicKey, SecretKey};

/// The only key file version.
pub const KEY_FILE_VERSION: u32 = 1;

/// A key file's contents.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    /// [`KEY_FILE_VERSION`].
    pub version: u32,
    /// The network the address is written for.
    pub network: Network,
    /// The public key (derived).
    pub public_key: PublicKey,
    /// The address (derived).
    pub address: Address,
    /// The 32-byte secret seed, hex.
    pub secret_seed: String,
}

impl std::fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyFile")
            .field("network", &self.network)
            .field("address", &self.address.to_string())
            .finish_non_exhaustive()
    }
}

/// Why a key file's contents are not usable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyFileError {
    /// Another version.
    #[error("key file version {0} is not supported (expected {KEY_FILE_VERSION})")]
    Version(u32),
    /// The seed is not 64 hex digits.
    #[error("secret_seed must be 64 hex digits")]
    Seed,
    /// public_key or address do not match the seed.
    #[error("public_key or address do not match secret_seed (edited by hand?)")]
    Mismatch,
}

impl KeyFile {
    /// The file for `key` on `network`.
    pub fn new(key: &SecretKey, network: Network) -> KeyFile {
        let public_key = key.public();
        KeyFile {
            version: KEY_FILE_VERSION,
            network,
            public_key,
            address: Address::from_public_key(&public_key, network),
            secret_seed: hex::encode(key.seed()),
        }
    }

    /// The secret key, after checking the derived fields.
    pub fn secret(&self) -> Result<SecretKey, KeyFileError> {
        if self.version != KEY_FILE_VERSION {
            return Err(KeyFileError::Version(self.version));
        }
        let seed: [u8; 32] =
            crate::hash::Hash256::from_hex(&self.secret_seed).map_err(|_| KeyFileError::Seed)?.0;
        let key = SecretKey::from_seed(seed);
        if key.public() != self.public_key
            || Address::from_public_key(&key.public(), self.network) != self.address
        {
            return Err(KeyFileError::Mismatch);
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper_detection() {
        let key = SecretKey::from_seed([3; 32]);
        let file = KeyFile::new(&key, Network::Dev);
        assert_eq!(file.secret().unwrap().public(), key.public());
        let mut edited = file.clone();
        edited.public_key = SecretKey::from_seed([4; 32]).public();
        assert_eq!(edited.secret().unwrap_err(), KeyFileError::Mismatch);
        let mut bad = file.clone();
        bad.secret_seed = "zz".into();
        assert_eq!(bad.secret().unwrap_err(), KeyFileError::Seed);
        assert!(!format!("{file:?}").contains(&file.secret_seed));
    }
}
