//! `timed --dev`: a one-masternode chain (network digit 9) with a funded dev
//! wallet in genesis and one block per second.
//!
//! The first start creates, in the data dir, `genesis.json`,
//! `masternode.key` and `dev-wallet.key` (key files readable by their owner
//! only); later starts with the same data dir reuse them, so the chain
//! resumes where it stopped.

use std::fs;
use std::path::{Path, PathBuf};

use rand::RngExt;
use thiserror::Error;

use hostio::{read_key_file, write_atomic, write_key_file};

use protocol::genesis::{Allocation, GenesisMasternode};
use protocol::{
    Address, Amount, ChainId, ConsensusParams, Genesis, Network, NodeId, SecretKey, Tier,
};

/// Coins the dev wallet gets in genesis: many outputs, so that several
/// transactions can be sent at once without waiting for change.
pub const DEV_WALLET_COINS: usize = 100;
/// TIME per dev wallet coin.
pub const DEV_WALLET_COIN_TIME: u64 = 10_000;

/// File names inside a dev data dir.
pub const GENESIS_FILE: &str = "genesis.json";
/// The masternode key.
pub const MASTERNODE_KEY_FILE: &str = "masternode.key";
/// The dev wallet's key.
pub const DEV_WALLET_KEY_FILE: &str = "dev-wallet.key";

/// A prepared dev chain.
#[derive(Debug)]
pub struct DevChain {
    /// Its genesis.
    pub genesis: Genesis,
    /// The one masternode's key.
    pub masternode_key: SecretKey,
    /// Where the dev wallet's key file is.
    pub wallet_key_file: PathBuf,
    /// The dev wallet's address.
    pub wallet_address: Address,
}

/// Why the dev chain could not be prepared.
#[derive(Debug, Error)]
pub enum DevChainError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file exists but is not what `timed --dev` wrote.
    #[error("{path}: {reason} (remove the data dir to start a fresh dev chain)")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DevChainError + '_ {
    move |source| DevChainError::Io { path: path.to_path_buf(), source }
}

impl From<hostio::FileError> for DevChainError {
    fn from(hostio::FileError { path, source }: hostio::FileError) -> Self {
        DevChainError::Io { path, source }
    }
}

impl From<hostio::KeyFileIoError> for DevChainError {
    fn from(e: hostio::KeyFileIoError) -> Self {
        match e {
            hostio::KeyFileIoError::Io(e) => e.into(),
            hostio::KeyFileIoError::Exists { path } => DevChainError::Invalid {
                path,
                reason: format!(
                    "exists, but {GENESIS_FILE} does not: the first start was interrupted"
                ),
            },
            hostio::KeyFileIoError::Invalid { path, reason } => {
                DevChainError::Invalid { path, reason: format!("not a usable key file: {reason}") }
            }
        }
    }
}

/// The genesis of a fresh dev chain for `masternode`, funding `wallet`.
pub fn dev_genesis(
    masternode: &SecretKey,
    wallet: &Address,
    chain_id: ChainId,
    now_ms: i64,
) -> Genesis {
    let id = NodeId::from(masternode.public());
    Genesis {
        chain_id,
        network: Network::Dev,
        timestamp_ms: now_ms,
        committee: vec![GenesisMasternode {
            id,
            p2p_address: "127.0.0.1:0".into(),
            tier: Tier::Free,
            reward_address: Address::from_public_key(&masternode.public(), Network::Dev),
        }],
        min_masternodes: 1,
        params: ConsensusParams { block_interval_ms: 1_000, ..ConsensusParams::default() },
        allocations: (0..DEV_WALLET_COINS)
            .map(|_| Allocation {
                address: *wallet,
                value: Amount::from_time(DEV_WALLET_COIN_TIME).unwrap_or(Amount::ONE_TIME),
            })
            .collect(),
    }
}

/// Creates the dev chain in `data_dir`, or loads the one already there.
pub fn prepare(data_dir: &Path, now_ms: i64) -> Result<DevChain, DevChainError> {
    fs::create_dir_all(data_dir).map_err(io(data_dir))?;
    let genesis_path = data_dir.join(GENESIS_FILE);
    let masternode_path = data_dir.join(MASTERNODE_KEY_FILE);
    let wallet_path = data_dir.join(DEV_WALLET_KEY_FILE);
    if !genesis_path.exists() {
        let masternode = SecretKey::generate(&mut rand::rng());
        let wallet = SecretKey::generate(&mut rand::rng());
        let wallet_address = Address::from_public_key(&wallet.public(), Network::Dev);
        let chain_id = ChainId(rand::rng().random());
        let genesis = dev_genesis(&masternode, &wallet_address, chain_id, now_ms);
        write_key_file(&masternode_path, &masternode, Network::Dev)?;
        write_key_file(&wallet_path, &wallet, Network::Dev)?;
        let json = serde_json::to_vec_pretty(&genesis).map_err(|e| DevChainError::Invalid {
            path: genesis_path.clone(),
            reason: e.to_string(),
        })?;
        // Written last: its presence means the dev chain is complete.
        write_atomic(&genesis_path, &json)?;
    }
    let text = fs::read_to_string(&genesis_path).map_err(io(&genesis_path))?;
    let genesis: Genesis = serde_json::from_str(&text).map_err(|e| DevChainError::Invalid {
        path: genesis_path.clone(),
        reason: e.to_string(),
    })?;
    let (_, masternode_key) = read_key_file(&masternode_path)?;
    let (wallet_file, _) = read_key_file(&wallet_path)?;
    if genesis.committee.first().map(|m| m.id) != Some(NodeId::from(masternode_key.public())) {
        return Err(DevChainError::Invalid {
            path: masternode_path,
            reason: "this key is not the dev chain's masternode".into(),
        });
    }
    Ok(DevChain {
        genesis,
        masternode_key,
        wallet_key_file: wallet_path,
        wallet_address: wallet_file.address,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dev_chain_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = prepare(dir.path(), 1_000).unwrap();
        let again = prepare(dir.path(), 2_000).unwrap();
        assert_eq!(first.genesis, again.genesis);
        assert_eq!(first.masternode_key.public(), again.masternode_key.public());
        first.genesis.validate().unwrap();
        assert_eq!(first.genesis.allocations.len(), DEV_WALLET_COINS);
        assert!(first.genesis.allocations.iter().all(|a| a.address == first.wallet_address));
    }

    #[test]
    fn an_interrupted_first_start_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join(MASTERNODE_KEY_FILE);
        write_key_file(&key, &SecretKey::from_seed([1; 32]), Network::Dev).unwrap();
        let err = prepare(dir.path(), 0).unwrap_err().to_string();
        assert!(err.starts_with(&key.display().to_string()), "{err}");
        assert!(err.contains("the first start was interrupted"), "{err}");
        assert!(err.contains("remove the data dir"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        prepare(dir.path(), 0).unwrap();
        fs::write(dir.path().join(DEV_WALLET_KEY_FILE), "{").unwrap();
        let err = prepare(dir.path(), 0).unwrap_err().to_string();
        assert!(err.contains("dev-wallet.key: not a usable key file: "), "{err}");
        assert!(err.contains("remove the data dir"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn key_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        prepare(dir.path(), 0).unwrap();
        let mode = fs::metadata(dir.path().join(DEV_WALLET_KEY_FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
