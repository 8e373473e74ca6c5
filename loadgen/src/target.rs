//! Finding the nodes and the keys: a cluster directory (`cluster.json`,
//! every node's `node.json`, the pool keys) or explicit RPC URLs with key
//! files or a `timed --dev` data dir. Every node must answer and be of the
//! same chain before any load is sent.

use std::path::{Path, PathBuf};
use std::time::Duration;

use client::rpc::read_node_info;
use client::{ClientError, ClientOptions, RpcAuth, RpcClient};
use cluster::Layout;
use protocol::{ConsensusParams, Genesis, Hash256, Network};

use crate::config::{KeyRange, TOKEN_FILE_NEEDS_RPC, Target};
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
    let hint = auth_hint(target);
    let mut resolved = match target {
        Target::ClusterDir { dir, dev_wallet, only } => {
            from_cluster(dir, *dev_wallet, only, request_timeout)?
        }
        Target::Rpc { urls, key_files, datadir, dev_wallet, token_file } => {
            from_rpc(
                urls,
                key_files,
                datadir.as_deref(),
                *dev_wallet,
                token_file.as_deref(),
                &hint,
                request_timeout,
            )
            .await?
        }
    };
    if resolved.nodes.len() > 64 {
        return Err(LoadgenError::Usage(format!(
            "{} nodes: loadgen follows at most 64",
            resolved.nodes.len()
        )));
    }
    check_reachable(&resolved, &hint).await?;
    let all = std::mem::take(&mut resolved.key_files);
    resolved.all_keys = all.len();
    // All of no keys is no keys: `loadgen verify --rpc URL` names none.
    if keys.parts > all.len() && keys != KeyRange::ALL {
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

/// Reads `--rpc-token-file`: the token of nodes with `rpc.auth = "token"`
/// (their `rpc.token`), surrounding whitespace (a trailing newline)
/// trimmed, as the credential every client of the `--rpc` nodes sends
/// (`Authorization: Bearer`). The one place loadgen reads it. The secret
/// goes straight into an [`RpcAuth::Bearer`], whose `Debug` hides it, and
/// no error quotes it: they name the file.
pub fn read_token_file(path: &Path) -> Result<RpcAuth, LoadgenError> {
    let bad = |reason: String| LoadgenError::Input { path: path.to_path_buf(), reason };
    let text = std::fs::read_to_string(path).map_err(|e| {
        bad(format!("{e} (--rpc-token-file: the file holding the nodes' rpc.token)"))
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(bad(
            "the token file is empty: it must hold the nodes' rpc.token (--rpc-token-file)".into(),
        ));
    }
    if token.chars().any(char::is_control) {
        return Err(bad(
            "the token file holds more than one line (or control characters): it must hold \
             the nodes' rpc.token alone (--rpc-token-file)"
                .into(),
        ));
    }
    Ok(RpcAuth::Bearer(token.to_string()))
}

/// What to do about credentials a node refused, for the target given.
fn auth_hint(target: &Target) -> String {
    match target {
        Target::ClusterDir { .. } => "loadgen sends each node the cookie its data dir holds \
            (node.json names it); to reach nodes with rpc.auth = \"token\" pass --rpc URL... \
            with --rpc-token-file FILE"
            .into(),
        Target::Rpc { token_file: Some(file), .. } => format!(
            "the token in {} is not the node's rpc.token (--rpc-token-file)",
            file.display()
        ),
        Target::Rpc { token_file: None, .. } => "the node requires credentials: for a node \
            with rpc.auth = \"token\" pass --rpc-token-file FILE (or set \
            TIMECOIN_RPC_TOKEN_FILE) naming a file that holds its rpc.token; for a node on this \
            machine with a cookie, pass its data dir with --datadir DIR"
            .into(),
    }
}

async fn from_rpc(
    urls: &[String],
    key_files: &[PathBuf],
    datadir: Option<&Path>,
    dev_wallet: bool,
    token_file: Option<&Path>,
    hint: &str,
    timeout: Duration,
) -> Result<Resolved, LoadgenError> {
    if urls.is_empty() && token_file.is_some() {
        return Err(LoadgenError::Usage(TOKEN_FILE_NEEDS_RPC.into()));
    }
    // Read once, before any node is asked: every client of the --rpc nodes
    // (and so their event streams, the tracker's and verify's queries)
    // carries it.
    let token = token_file.map(read_token_file).transpose()?;
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
        let auth = match (&token, cookie) {
            // The token given is the credential of every --rpc node.
            (Some(token), _) => token.clone(),
            (None, Some((dir, info)))
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
        .map_err(|e| node_error(first, &e, hint))?;
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

/// A failed request to `node`: refused credentials (HTTP 401 or 403, with
/// `hint` on what to pass), else unreachable.
fn node_error(node: &Node, e: &ClientError, hint: &str) -> LoadgenError {
    match e {
        ClientError::Http { status: status @ (401 | 403), body, .. } => {
            // The node's JSON-RPC error message, when its body has one
            // ("authorization required: send Authorization: Bearer ...").
            let message = serde_json::from_str::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
                .map_or_else(String::new, |m| format!(", {m:?}"));
            LoadgenError::Unauthorized {
                node: node.name.clone(),
                url: node.url.clone(),
                reason: format!("HTTP {status}{message}"),
                hint: hint.to_string(),
            }
        }
        _ => unreachable(node, e.to_string()),
    }
}

fn host_of(url: &str) -> String {
    url.split("://").nth(1).unwrap_or(url).trim_end_matches('/').to_string()
}

async fn check_reachable(resolved: &Resolved, hint: &str) -> Result<(), LoadgenError> {
    let answers = futures::future::join_all(resolved.nodes.iter().map(|node| async move {
        match tokio::time::timeout(PROBE_TIMEOUT, node.client.getblockchaininfo()).await {
            Err(_) => Err(unreachable(node, "no answer within 5 s (is it paused?)".into())),
            Ok(Err(e)) => Err(node_error(node, &e, hint)),
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

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cret-t0ken-of-the-tests";

    #[test]
    fn the_token_file_is_read_trimmed_and_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rpc-token");
        std::fs::write(&file, format!("\n  {SECRET}\r\n\n")).unwrap();
        let auth = read_token_file(&file).unwrap();
        assert!(matches!(&auth, RpcAuth::Bearer(t) if t == SECRET));
        assert!(!format!("{auth:?}").contains(SECRET), "{auth:?}");
        let client = RpcClient::new("http://127.0.0.1:1", auth).unwrap();
        assert!(!format!("{client:?}").contains(SECRET), "{client:?}");
        let target = Target::Rpc {
            urls: vec!["http://127.0.0.1:1".into()],
            key_files: Vec::new(),
            datadir: None,
            dev_wallet: false,
            token_file: Some(file),
        };
        assert!(!format!("{target:?}").contains(SECRET));
    }

    #[test]
    fn an_empty_missing_or_multi_line_token_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty-token");
        std::fs::write(&empty, " \n\n").unwrap();
        let two = dir.path().join("two-lines");
        std::fs::write(&two, format!("{SECRET}\n{SECRET}\n")).unwrap();
        let missing = dir.path().join("no-such-token");
        for (file, why) in [(&empty, "empty"), (&two, "more than one line"), (&missing, "No such")]
        {
            let err = read_token_file(file).unwrap_err();
            let text = err.to_string();
            assert!(text.contains(&file.display().to_string()), "names the file: {text}");
            assert!(text.contains(why), "{text}");
            assert!(!text.contains(SECRET) && !format!("{err:?}").contains(SECRET), "{text}");
            assert_eq!(err.exit_code(), crate::error::EXIT_COULD_NOT_RUN);
        }
    }

    /// Every request to an --rpc node carries the token as a Bearer
    /// credential; a node refusing it is an authentication error (exit 3)
    /// that names the token file, not "unreachable".
    #[tokio::test]
    async fn the_token_is_sent_as_bearer_and_a_refusal_names_authentication() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 64 * 1024];
            let n = stream.read(&mut buf).await.unwrap();
            let body = r#"{"error":{"code":-32600,"message":"authorization required"},"id":null,"jsonrpc":"2.0"}"#;
            let response = format!(
                "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(response.as_bytes()).await.unwrap();
            String::from_utf8_lossy(&buf[..n]).to_lowercase()
        });
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rpc-token");
        std::fs::write(&file, format!("{SECRET}\n")).unwrap();
        let target = Target::Rpc {
            urls: vec![url],
            key_files: vec![dir.path().join("k.key")],
            datadir: None,
            dev_wallet: false,
            token_file: Some(file.clone()),
        };
        let err = resolve(&target, KeyRange::ALL, Duration::from_secs(5)).await.unwrap_err();
        let request = server.await.unwrap();
        assert!(
            request.contains(&format!("authorization: bearer {}", SECRET.to_lowercase())),
            "{request}"
        );
        assert!(matches!(err, LoadgenError::Unauthorized { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("authentication failed: HTTP 401"), "{text}");
        assert!(text.contains(&file.display().to_string()), "{text}");
        assert!(!text.contains(SECRET), "{text}");
        assert_eq!(err.exit_code(), crate::error::EXIT_COULD_NOT_RUN);
    }

    #[tokio::test]
    async fn a_token_file_without_an_rpc_url_is_a_usage_error() {
        let target = Target::Rpc {
            urls: Vec::new(),
            key_files: Vec::new(),
            datadir: Some("/nonexistent".into()),
            dev_wallet: true,
            token_file: Some("/nonexistent/token".into()),
        };
        let err = resolve(&target, KeyRange::ALL, Duration::from_secs(1)).await.unwrap_err();
        assert_eq!(err.exit_code(), crate::error::EXIT_USAGE, "{err}");
        assert!(err.to_string().contains("needs --rpc"), "{err}");
    }
}
