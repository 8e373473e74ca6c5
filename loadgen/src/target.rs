//! Finding the nodes and the keys: a cluster directory (`cluster.json`,
//! every node's `node.json`, the pool keys) or explicit RPC URLs with key
//! files or a `timed --dev` data dir. Every node must answer and be of the
//! same chain before any load is sent.

use std::path::{Path, PathBuf};
use std::time::Duration;

use client::rpc::read_node_info;
use client::{ClientOptions, RpcAuth, RpcClient};
use cluster::Layout;
use protocol::{ConsensusParams, Genesis, Hash256, Network};

use crate::config::{KeyRange, Target};
use crate::error::LoadgenError;

/// One node loadgen sends to.
#[derive(Clone, Debug)]
pub struct Node {
    /// Its name (`node1`, or the URL's host:port).
    pub name: String,
    /// Its RPC URL.
    pub url: String,
    /// Its client (clones share one connection pool).
    pub client: RpcClient,
    /// Its data dir, when known: its `node.json` says where it listens
    /// after a restart.
    pub data_dir: Option<PathBuf>,
}

/// What a cluster directory says about the cluster (for the run metadata).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ClusterInfo {
    /// The directory.
    pub dir: PathBuf,
    /// Its masternodes.
    pub nodes: usize,
    /// The pool's coins per key.
    pub pool_coins_per_key: u32,
    /// The pool's coin value, sat.
    pub pool_coin_value_sat: u64,
}

/// The nodes, the chain and the keys of a run.
#[derive(Debug)]
pub struct Resolved {
    /// The nodes, in order.
    pub nodes: Vec<Node>,
    /// The chain.
    pub genesis: Genesis,
    /// Its hash.
    pub genesis_hash: Hash256,
    /// The key files whose coins pay (already narrowed to the key range).
    pub key_files: Vec<PathBuf>,
    /// Pool keys before narrowing.
    pub all_keys: usize,
    /// The cluster, when run against a cluster directory.
    pub cluster: Option<ClusterInfo>,
    /// The cluster's fault log, when there is a cluster directory.
    pub faults_log: Option<PathBuf>,
}

impl Resolved {
    /// The chain's parameters.
    pub fn params(&self) -> &ConsensusParams {
        &self.genesis.params
    }

    /// The chain's network.
    pub fn network(&self) -> Network {
        self.genesis.network
    }
}

/// How long a node may take to answer the reachability check.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// The client options of a run whose requests may take `request_timeout`.
pub fn client_options(request_timeout: Duration) -> ClientOptions {
    ClientOptions { request_timeout, connect_timeout: Duration::from_secs(3) }
}

/// Resolves `target`: reads the files, builds the clients, checks that every
/// node answers and is on one chain. `request_timeout` bounds each RPC.
pub async fn resolve(
    target: &Target,
    keys: KeyRange,
    request_timeout: Duration,
) -> Result<Resolved, LoadgenError> {
    let mut resolved = match target {
        Target::ClusterDir { dir, dev_wallet, only } => {
            from_cluster(dir, *dev_wallet, only, request_timeout)?
        }
        Target::Rpc { urls, key_files, datadir, dev_wallet } => {
            from_rpc(urls, key_files, datadir.as_deref(), *dev_wallet, request_timeout).await?
        }
    };
    if resolved.nodes.len() > 64 {
        return Err(LoadgenError::Usage(format!(
            "{} nodes: loadgen follows at most 64",
            resolved.nodes.len()
        )));
    }
    check_reachable(&resolved).await?;
    let all = std::mem::take(&mut resolved.key_files);
    resolved.all_keys = all.len();
    if keys.parts > all.len() {
        return Err(LoadgenError::Usage(format!(
            "--keys {keys}: the pool has only {} keys, it cannot be split in {} parts",
            all.len(),
            keys.parts
        )));
    }
    resolved.key_files = all[keys.slice(all.len())].to_vec();
    Ok(resolved)
}

fn from_cluster(
    dir: &Path,
    dev_wallet: bool,
    only: &[String],
    timeout: Duration,
) -> Result<Resolved, LoadgenError> {
    let layout = Layout::new(dir);
    if !layout.cluster_file().exists() {
        return Err(LoadgenError::NoCluster {
            dir: dir.to_path_buf(),
            reason: format!("no {}", layout.cluster_file().display()),
        });
    }
    let (file, genesis) = cluster::load_files(&layout)
        .map_err(|e| LoadgenError::NoCluster { dir: dir.to_path_buf(), reason: e.to_string() })?;
    if let Some(unknown) = only.iter().find(|name| !file.nodes.iter().any(|n| n.name == **name)) {
        let names: Vec<&str> = file.nodes.iter().map(|n| n.name.as_str()).collect();
        return Err(LoadgenError::Usage(format!(
            "--nodes: {unknown} is not a node of the cluster in {} ({})",
            dir.display(),
            names.join(", ")
        )));
    }
    let mut nodes = Vec::with_capacity(file.nodes.len());
    for entry in file.nodes.iter().filter(|n| only.is_empty() || only.contains(&n.name)) {
        let data_dir = layout.data_dir(&entry.name);
        let Some(info) = cluster::read_node_info(&layout, &entry.name) else {
            return Err(LoadgenError::Unreachable {
                node: entry.name.clone(),
                url: "(no node.json)".into(),
                reason: format!(
                    "{} is missing: the node never started (start it with `timectl start {}`)",
                    layout.node_json(&entry.name).display(),
                    entry.name
                ),
            });
        };
        let client =
            RpcClient::from_data_dir_with(&data_dir, client_options(timeout)).map_err(|e| {
                LoadgenError::Unreachable {
                    node: entry.name.clone(),
                    url: info.rpc_url.clone(),
                    reason: e.to_string(),
                }
            })?;
        nodes.push(Node {
            name: entry.name.clone(),
            url: info.rpc_url,
            client,
            data_dir: Some(data_dir),
        });
    }
    let key_files = if dev_wallet {
        vec![layout.resolve(&file.dev_wallet.key_file)]
    } else {
        file.pool.key_files.iter().map(|f| layout.resolve(f)).collect()
    };
    Ok(Resolved {
        nodes,
        genesis_hash: file.genesis_hash,
        genesis,
        all_keys: key_files.len(),
        key_files,
        cluster: Some(ClusterInfo {
            dir: dir.to_path_buf(),
            nodes: file.nodes.len(),
            pool_coins_per_key: file.pool.coins_per_key,
            pool_coin_value_sat: file.pool.coin_value_sat,
        }),
        faults_log: Some(dir.join("faults.log")),
    })
}

async fn from_rpc(
    urls: &[String],
    key_files: &[PathBuf],
    datadir: Option<&Path>,
    dev_wallet: bool,
    timeout: Duration,
) -> Result<Resolved, LoadgenError> {
    let mut nodes = Vec::new();
    let mut keys: Vec<PathBuf> = key_files.to_vec();
    if let Some(dir) = datadir {
        let info = read_node_info(dir).map_err(|e| LoadgenError::Unreachable {
            node: dir.display().to_string(),
            url: "(no node.json)".into(),
            reason: e.to_string(),
        })?;
        if urls.is_empty() {
            let client =
                RpcClient::from_data_dir_with(dir, client_options(timeout)).map_err(|e| {
                    LoadgenError::Unreachable {
                        node: dir.display().to_string(),
                        url: info.rpc_url.clone(),
                        reason: e.to_string(),
                    }
                })?;
            nodes.push(Node {
                name: host_of(&info.rpc_url),
                url: info.rpc_url.clone(),
                client,
                data_dir: Some(dir.to_path_buf()),
            });
        }
        if dev_wallet {
            let wallet = info.dev_wallet.ok_or_else(|| {
                LoadgenError::Keys(format!(
                    "{}/node.json has no dev wallet: --wallet needs a timed --dev node (or pass --keys FILE...)",
                    dir.display()
                ))
            })?;
            let path = PathBuf::from(&wallet.key_file);
            keys.push(if path.is_absolute() || path.exists() { path } else { dir.join(path) });
        }
    }
    for url in urls {
        let cookie = datadir.and_then(|d| read_node_info(d).ok().map(|info| (d, info)));
        let auth = match cookie {
            Some((dir, info))
                if info.rpc_url.trim_end_matches('/') == url.trim_end_matches('/') =>
            {
                match &info.rpc_cookie_file {
                    Some(file) => RpcAuth::from_cookie_file(&dir.join(file)).map_err(|e| {
                        LoadgenError::Unreachable {
                            node: host_of(url),
                            url: url.clone(),
                            reason: e.to_string(),
                        }
                    })?,
                    None => RpcAuth::None,
                }
            }
            _ => RpcAuth::None,
        };
        let client = RpcClient::with_options(url, auth, client_options(timeout))
            .map_err(|e| LoadgenError::Usage(e.to_string()))?;
        nodes.push(Node { name: host_of(url), url: url.clone(), client, data_dir: None });
    }
    let first = nodes.first().ok_or_else(|| LoadgenError::Usage("no RPC URL given".into()))?;
    let genesis = tokio::time::timeout(PROBE_TIMEOUT, first.client.getgenesis())
        .await
        .map_err(|_| unreachable(first, "no answer within 5 s".into()))?
        .map_err(|e| unreachable(first, e.to_string()))?;
    Ok(Resolved {
        nodes,
        genesis_hash: genesis.hash(),
        genesis,
        all_keys: keys.len(),
        key_files: keys,
        cluster: None,
        faults_log: None,
    })
}

fn unreachable(node: &Node, reason: String) -> LoadgenError {
    LoadgenError::Unreachable { node: node.name.clone(), url: node.url.clone(), reason }
}

fn host_of(url: &str) -> String {
    url.split("://").nth(1).unwrap_or(url).trim_end_matches('/').to_string()
}

async fn check_reachable(resolved: &Resolved) -> Result<(), LoadgenError> {
    let answers = futures::future::join_all(resolved.nodes.iter().map(|node| async move {
        match tokio::time::timeout(PROBE_TIMEOUT, node.client.getblockchaininfo()).await {
            Err(_) => Err(unreachable(node, "no answer within 5 s (is it paused?)".into())),
            Ok(Err(e)) => Err(unreachable(node, e.to_string())),
            Ok(Ok(info)) => Ok(info),
        }
    }))
    .await;
    for (node, answer) in resolved.nodes.iter().zip(answers) {
        let info = answer?;
        if info.genesis_hash != resolved.genesis_hash {
            return Err(LoadgenError::Mismatch(format!(
                "{} ({}) runs genesis {}, expected {}: it belongs to another chain",
                node.name, node.url, info.genesis_hash, resolved.genesis_hash
            )));
        }
    }
    Ok(())
}
