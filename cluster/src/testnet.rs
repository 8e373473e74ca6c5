//! A chain for many hosts: keys, a genesis and one self-contained directory
//! per masternode, for hosts given by name or address (`timectl testnet`).
//! Unlike a local cluster, nothing here runs the nodes: each directory is
//! copied to its host and started there with `timed --config timed.toml`.
//!
//! ```text
//! <out>/testnet.json            the nodes, their addresses and ids, the wallets
//! <out>/genesis.json            the chain (also copied into each node's dir)
//! <out>/keys/dev-wallet.key     the funded dev wallet, and the pool keys
//! <out>/node1/timed.toml        peers at the other hosts' addresses
//! <out>/node1/genesis.json
//! <out>/node1/masternode.key
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

use serde::{Deserialize, Serialize};

use protocol::{Hash256, NodeId};

use crate::create::{ClusterSpec, new_chain, write_json};
use crate::error::ClusterError;
use crate::layout::{Layout, PoolEntry, WalletEntry};
use crate::node_config::{MetricsSection, NodeConfig, Peer};

/// The standard P2P port.
pub const P2P_PORT: u16 = 24100;
/// The standard RPC port.
pub const RPC_PORT: u16 = 24101;
/// The standard port of the credential-free metrics and health listener.
pub const METRICS_PORT: u16 = 24102;
/// The `testnet.json` format version.
pub const TESTNET_FILE_VERSION: u32 = 1;

/// What a chain for many hosts looks like.
#[derive(Clone, Debug)]
pub struct TestnetSpec {
    /// One masternode per entry: `host`, `host:port`, `ip`, `ip:port` or
    /// `[ipv6]:port`; the port is the P2P port (default `p2p_port`).
    pub hosts: Vec<String>,
    /// P2P port of hosts given without one.
    pub p2p_port: u16,
    /// RPC port on every host.
    pub rpc_port: u16,
    /// Metrics and health port on every host.
    pub metrics_port: u16,
    /// Listen on every interface (`0.0.0.0`) even for hosts given by IP
    /// address (hosts given by name always do): for hosts behind NAT,
    /// whose given address is not their own.
    pub bind_all: bool,
    /// Block interval, pool, log level (its `nodes` is ignored: one per host).
    pub chain: ClusterSpec,
}

impl Default for TestnetSpec {
    fn default() -> Self {
        TestnetSpec {
            hosts: Vec::new(),
            p2p_port: P2P_PORT,
            rpc_port: RPC_PORT,
            metrics_port: METRICS_PORT,
            bind_all: false,
            chain: ClusterSpec::default(),
        }
    }
}

/// `testnet.json`: what was generated, for the operator and for tools.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestnetFile {
    /// [`TESTNET_FILE_VERSION`].
    pub version: u32,
    /// Chain id.
    pub chain_id: u32,
    /// Genesis hash (every node's config requires it).
    pub genesis_hash: Hash256,
    /// The masternodes, `node1` first.
    pub nodes: Vec<TestnetNode>,
    /// The dev wallet (funded in genesis).
    pub dev_wallet: WalletEntry,
    /// The load-generation coin pool.
    pub pool: PoolEntry,
}

/// One masternode of a testnet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestnetNode {
    /// `node1` … `nodeN`: also its directory.
    pub name: String,
    /// Its id.
    pub id: NodeId,
    /// Where the others dial it (`host:port`).
    pub p2p_address: String,
    /// Where it listens for P2P.
    pub listen_address: String,
    /// Its RPC listen address.
    pub rpc_address: String,
    /// Its metrics and health listen address.
    pub metrics_address: String,
}

/// A host entry split into host and P2P port.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Host {
    /// As given, without the port (IPv6 without brackets).
    host: String,
    /// The address, when the host is one.
    ip: Option<IpAddr>,
    port: u16,
}

impl Host {
    /// `host:port` as it is dialled (IPv6 in brackets).
    fn with_port(&self, port: u16) -> String {
        match self.ip {
            Some(ip) => SocketAddr::new(ip, port).to_string(),
            None => format!("{}:{port}", self.host),
        }
    }
}

fn parse_host(entry: &str, default_port: u16) -> Result<Host, String> {
    let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
        let (ip, after) = rest.split_once(']').ok_or("an IPv6 address needs its closing ]")?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or("expected :port after ]")?),
        };
        (ip, port)
    } else if entry.matches(':').count() > 1 {
        (entry, None)
    } else {
        match entry.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (entry, None),
        }
    };
    let port = match port {
        None => default_port,
        Some(p) => match p.parse::<u16>() {
            Ok(p) if p != 0 => p,
            _ => return Err(format!("the port {p:?} is not a number from 1 to 65535")),
        },
    };
    let ip = host.parse::<IpAddr>().ok();
    let name_ok = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if ip.is_none() && !name_ok {
        return Err(format!("{host:?} is neither an IP address nor a host name"));
    }
    if ip.is_some_and(|ip| ip.is_unspecified() || ip.is_multicast()) {
        return Err(format!("{host} cannot be a host's address"));
    }
    Ok(Host { host: host.to_string(), ip, port })
}

/// Checks the spec: every host parses, no host and P2P port twice, no port
/// used for two listeners on one host.
fn hosts_of(spec: &TestnetSpec) -> Result<Vec<Host>, String> {
    if spec.hosts.is_empty() {
        return Err("a testnet needs at least one host".into());
    }
    let ports = [
        ("--p2p-port", spec.p2p_port),
        ("--rpc-port", spec.rpc_port),
        ("--metrics-port", spec.metrics_port),
    ];
    for (flag, port) in ports {
        if port == 0 {
            return Err(format!("{flag} must be from 1 to 65535 (a testnet has fixed ports)"));
        }
    }
    let mut seen: BTreeMap<(String, u16), usize> = BTreeMap::new();
    let mut hosts = Vec::with_capacity(spec.hosts.len());
    for (i, entry) in spec.hosts.iter().enumerate() {
        let host = parse_host(entry, spec.p2p_port)
            .map_err(|why| format!("host {} ({entry:?}): {why}", i + 1))?;
        if host.port == spec.rpc_port || host.port == spec.metrics_port {
            return Err(format!(
                "host {} ({entry:?}): P2P port {} is also the RPC or metrics port",
                i + 1,
                host.port
            ));
        }
        let key = (host.ip.map(|ip| ip.to_string()).unwrap_or(host.host.to_lowercase()), host.port);
        if let Some(first) = seen.insert(key, i) {
            return Err(format!(
                "host {} ({entry:?}) is the same address as host {} ({:?}): each masternode needs its own host or port",
                i + 1,
                first + 1,
                spec.hosts[first]
            ));
        }
        hosts.push(host);
    }
    if spec.rpc_port == spec.metrics_port {
        return Err(format!("--rpc-port and --metrics-port are both {}", spec.rpc_port));
    }
    Ok(hosts)
}

/// Checks the hosts and ports of `spec`, naming the first bad entry.
pub fn check(spec: &TestnetSpec) -> Result<(), String> {
    hosts_of(spec).map(drop)
}

/// Creates a testnet in `out` (which must be empty or absent).
pub fn create(out: &Path, spec: &TestnetSpec, now_ms: u64) -> Result<TestnetFile, ClusterError> {
    let hosts = hosts_of(spec)
        .map_err(|reason| ClusterError::Invalid { path: out.to_path_buf(), reason })?;
    if out.read_dir().is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(ClusterError::Invalid {
            path: out.to_path_buf(),
            reason: "not empty: a testnet is written into a new or empty directory".into(),
        });
    }
    let layout = Layout::new(out);
    let n = hosts.len();
    let chain_spec = ClusterSpec { nodes: n, ..spec.chain.clone() };
    let dial: Vec<String> = hosts.iter().map(|h| h.with_port(h.port)).collect();
    let chain =
        new_chain(&layout, &chain_spec, &dial, |name| format!("{name}/masternode.key"), now_ms)?;
    let genesis_hash = chain.genesis.hash();

    let mut nodes = Vec::with_capacity(n);
    for (i, (node, host)) in chain.nodes.iter().zip(&hosts).enumerate() {
        let bind = match host.ip {
            Some(ip) if !spec.bind_all => ip,
            Some(IpAddr::V6(_)) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        };
        // RPC stays on loopback unless the host is given by its address
        // (reachable there; off loopback the RPC asks for the cookie): an
        // operator reaches it with time-cli on the host.
        let rpc = match host.ip {
            Some(ip) if !spec.bind_all => SocketAddr::new(ip, spec.rpc_port),
            _ => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), spec.rpc_port),
        };
        let entry = TestnetNode {
            name: node.name.clone(),
            id: node.id,
            p2p_address: dial[i].clone(),
            listen_address: SocketAddr::new(bind, host.port).to_string(),
            rpc_address: rpc.to_string(),
            metrics_address: SocketAddr::new(bind, spec.metrics_port).to_string(),
        };
        let peers = chain
            .nodes
            .iter()
            .zip(&dial)
            .filter(|(peer, _)| peer.id != node.id)
            .map(|(peer, address)| Peer { id: peer.id, address: address.clone() })
            .collect();
        let mut config = NodeConfig::masternode(n, peers, "masternode.key".into());
        config.node.genesis_hash = Some(genesis_hash);
        config.network.listen_address = entry.listen_address.clone();
        config.rpc.listen_address = entry.rpc_address.clone();
        config.logging.level = spec.chain.log_level.clone();
        config.metrics = Some(MetricsSection { listen_address: entry.metrics_address.clone() });
        let dir = layout.node_dir(&node.name);
        config.write(
            &dir.join("timed.toml"),
            &format!(
                "{} of a testnet of {n} (timectl testnet): copy this directory to {} and run `timed --config timed.toml`",
                node.name, host.host
            ),
        )?;
        let copy = dir.join("genesis.json");
        fs::copy(layout.genesis(), &copy)
            .map_err(|source| ClusterError::Io { path: copy.clone(), source })?;
        nodes.push(entry);
    }
    let file = TestnetFile {
        version: TESTNET_FILE_VERSION,
        chain_id: chain.genesis.chain_id.0,
        genesis_hash,
        nodes,
        dev_wallet: chain.dev_wallet,
        pool: chain.pool,
    };
    write_json(&out.join("testnet.json"), &file)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(hosts: &[&str]) -> TestnetSpec {
        TestnetSpec {
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            ..TestnetSpec::default()
        }
    }

    #[test]
    fn host_entries_parse_with_and_without_ports() {
        let hosts = hosts_of(&spec(&["127.0.0.2", "db-1.example.org:3000", "[::1]:24200", "::2"]))
            .expect("valid hosts");
        let dialled: Vec<String> = hosts.iter().map(|h| h.with_port(h.port)).collect();
        assert_eq!(
            dialled,
            ["127.0.0.2:24100", "db-1.example.org:3000", "[::1]:24200", "[::2]:24100"]
        );
    }

    #[test]
    fn a_duplicate_or_malformed_host_is_named() {
        let err = hosts_of(&spec(&["a.example", "127.0.0.2", "A.example:24100"])).unwrap_err();
        assert!(err.contains("host 3") && err.contains("host 1"), "{err}");
        let err = hosts_of(&spec(&["127.0.0.2", "bad host"])).unwrap_err();
        assert!(err.contains("host 2") && err.contains("\"bad host\""), "{err}");
        let err = hosts_of(&spec(&["h:0"])).unwrap_err();
        assert!(err.contains("port"), "{err}");
        let err = hosts_of(&spec(&["0.0.0.0"])).unwrap_err();
        assert!(err.contains("cannot be a host's address"), "{err}");
        let err = hosts_of(&spec(&["h:24101"])).unwrap_err();
        assert!(err.contains("also the RPC"), "{err}");
        assert!(hosts_of(&spec(&[])).is_err());
    }

    #[test]
    fn each_node_dir_holds_what_its_host_needs() {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().join("net");
        let file =
            create(&out, &spec(&["127.0.0.2", "127.0.0.3", "node-c.example"]), 1).expect("created");
        assert_eq!(file.nodes.len(), 3);
        let text = fs::read_to_string(out.join("node1/timed.toml")).expect("config");
        let config: toml::Table = toml::from_str(&text).expect("valid TOML");
        assert_eq!(config["network"]["listen_address"].as_str(), Some("127.0.0.2:24100"));
        assert_eq!(
            config["node"]["genesis_hash"].as_str(),
            Some(file.genesis_hash.to_string().as_str())
        );
        let peers = config["network"]["peers"].as_array().expect("peers");
        let addresses: Vec<&str> = peers.iter().filter_map(|p| p["address"].as_str()).collect();
        assert_eq!(addresses, ["127.0.0.3:24100", "node-c.example:24100"]);
        assert!(
            out.join("node1/masternode.key").exists() && out.join("node3/genesis.json").exists()
        );
        // A host given by name listens everywhere, its RPC on loopback.
        assert_eq!(file.nodes[2].listen_address, "0.0.0.0:24100");
        assert_eq!(file.nodes[2].rpc_address, "127.0.0.1:24101");
        // Never over an existing directory.
        let err = create(&out, &spec(&["127.0.0.2"]), 1).unwrap_err();
        assert!(err.to_string().contains("not empty"), "{err}");
    }
}
