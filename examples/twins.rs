//! Twins (as in Bano et al., "Twins: BFT Systems Made Robust"): a second
//! `timed` process with a member's key, so that one masternode identity
//! speaks with two voices. The twin has its own data dir and its own
//! config, whose peers are some of the other nodes at their real addresses;
//! the scenario's schedule cuts the original's links to those same nodes
//! (`cut A-B`), so each half of the honest nodes hears a different twin.
//! What the honest nodes must do: never finalize conflicting transactions,
//! never commit two blocks at one height, and keep finalizing.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use cluster::Layout;
use tokio::process::{Child, Command};

/// A running twin; killed (and reaped) when dropped.
#[derive(Debug)]
pub struct Twin {
    child: Child,
    /// Its log.
    pub log: PathBuf,
}

impl Twin {
    /// Whether the twin is still running (a twin that exited proved
    /// nothing: the row says so).
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Stops the twin (SIGKILL) and waits for it.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Starts the twin of node `of` in the cluster at `dir`, with `timed`,
/// peering only with `peers` (dialled at their real addresses, so no link
/// fault between the original and them applies to it). Returns once the
/// twin has published its `node.json` (its listeners are bound and its
/// key is loaded), or fails naming why, with the tail of its log.
pub async fn start(timed: &Path, dir: &Path, of: &str, peers: &[&str]) -> anyhow::Result<Twin> {
    let layout = Layout::new(dir);
    let node_dir = layout.node_dir(of);
    let config_path = layout.config(of);
    let text = std::fs::read_to_string(&config_path)
        .with_context(|| format!("reading {}", config_path.display()))?;
    let mut config: toml::Table =
        toml::from_str(&text).with_context(|| format!("parsing {}", config_path.display()))?;
    let mut peer_entries = Vec::new();
    for peer in peers {
        let info = cluster::read_node_info(&layout, peer)
            .with_context(|| format!("{peer} has no node.json (is it running?)"))?;
        let mut entry = toml::Table::new();
        entry.insert("id".into(), info.node_id.to_string().into());
        entry.insert("address".into(), info.p2p_address.into());
        peer_entries.push(toml::Value::Table(entry));
    }
    let section = |config: &mut toml::Table, name: &str| -> anyhow::Result<toml::Table> {
        match config.remove(name) {
            Some(toml::Value::Table(table)) => Ok(table),
            _ => bail!("{} has no [{name}] section", config_path.display()),
        }
    };
    let mut network = section(&mut config, "network")?;
    network.insert("peers".into(), toml::Value::Array(peer_entries));
    config.insert("network".into(), network.into());
    let mut storage = section(&mut config, "storage")?;
    storage.insert("data_dir".into(), "twin-data".into());
    config.insert("storage".into(), storage.into());
    // Beside the original's config, so its relative paths (genesis, key)
    // mean the same files.
    let twin_config = node_dir.join("twin.toml");
    std::fs::write(
        &twin_config,
        format!(
            "# The twin of {of} (make chaos, Twins): same key, own data dir.\n{}",
            toml::to_string(&config)?
        ),
    )
    .with_context(|| format!("writing {}", twin_config.display()))?;

    let log_path = node_dir.join("twin.log");
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("creating {}", log_path.display()))?;
    let child = Command::new(timed)
        .arg("--config")
        .arg(&twin_config)
        .current_dir(&node_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log))
        .env_remove("RUST_LOG")
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", timed.display()))?;
    let mut twin = Twin { child, log: log_path };
    let published = node_dir.join("twin-data").join("node.json");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !published.exists() {
        if !twin.running() || tokio::time::Instant::now() > deadline {
            let log = std::fs::read_to_string(&twin.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(10).collect();
            bail!(
                "the twin of {of} did not start: {}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(twin)
}
