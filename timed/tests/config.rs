//! The configuration file: every accepted key is honoured, everything else is
//! reported by name, and all problems of a file come out together.

use std::path::{Path, PathBuf};
use std::time::Duration;

use net::PeerAddress;
use protocol::NodeId;
use timed::config::{ACCEPTED_KEYS, Config, ConfigErrors, LogFormat, Problem, RpcAuthMode};

const BASE: &str = "/cfg";
const PEER_ID: &str = "8f0cbb2a0d1e9a3f4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f901a2b";
const GENESIS_HASH: &str = "1f0cbb2a0d1e9a3f4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f901a2c";

fn parse(text: &str) -> Result<Config, ConfigErrors> {
    Config::from_toml_str(text, Path::new(BASE))
}

fn problems(text: &str) -> Vec<Problem> {
    match parse(text) {
        Ok(config) => panic!("expected problems, got {config:#?}\nfrom:\n{text}"),
        Err(errors) => errors.problems,
    }
}

/// The only problem `text` has.
fn problem(text: &str) -> Problem {
    let mut all = problems(text);
    assert_eq!(all.len(), 1, "expected one problem, got {all:#?}");
    all.remove(0)
}

fn defaults() -> Config {
    let mut config = Config::default();
    config.resolve_paths(Path::new(BASE));
    config
}

#[test]
fn generated_default_parses_back_to_the_defaults() {
    let text = Config::default_toml();
    let parsed = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(parsed, defaults());
}

#[test]
fn generated_default_sets_every_accepted_key_with_a_comment() {
    let text = Config::default_toml();
    let table: toml::Table = toml::from_str(&text).unwrap();
    for key in ACCEPTED_KEYS {
        let name = key.rsplit('.').next().unwrap();
        let line = text
            .lines()
            .position(|l| l.trim_start_matches("# ").starts_with(&format!("{name} = ")))
            .unwrap_or_else(|| panic!("{key} is missing from the generated config"));
        let comment = text.lines().nth(line - 1).unwrap();
        assert!(comment.starts_with("# "), "{key} has no comment above it");
        // Keys without a default (peers, token, key file, metrics listener)
        // are shown commented out.
        let optional = key.starts_with("network.peers[]")
            || *key == "rpc.token"
            || *key == "node.genesis_hash"
            || *key == "masternode.key_file"
            || *key == "metrics.listen_address";
        let mut value = Some(&toml::Value::Table(table.clone()));
        for part in key.split('.') {
            value = value.and_then(|v| v.get(part));
        }
        assert_eq!(value.is_some(), !optional, "{key} should be set iff it has a default");
    }
}

#[test]
fn an_empty_file_gives_the_defaults() {
    assert_eq!(parse("").unwrap(), defaults());
    assert_eq!(parse("# nothing\n\n[node]\n").unwrap(), defaults());
}

/// An accepted key, a file setting it, and what that changes.
type Case = (&'static str, String, fn(&mut Config));

/// One case per accepted key.
fn cases() -> Vec<Case> {
    let peer = format!("[[network.peers]]\nid = \"{PEER_ID}\"\naddress = \"127.0.0.1:31001\"\n");
    let key = |key: &str, value: &str| {
        let (section, name) = key.rsplit_once('.').expect("a dotted key");
        format!("[{section}]\n{name} = {value}\n")
    };
    fn set_peer(c: &mut Config) {
        c.network.peers = vec![PeerAddress {
            id: Some(PEER_ID.parse::<NodeId>().expect("a node id")),
            address: "127.0.0.1:31001".into(),
        }];
    }
    vec![
        ("node.genesis_file", key("node.genesis_file", "\"chain/genesis.json\""), |c| {
            c.node.genesis_file = PathBuf::from("/cfg/chain/genesis.json")
        }),
        ("node.genesis_hash", key("node.genesis_hash", &format!("\"{GENESIS_HASH}\"")), |c| {
            c.node.genesis_hash = Some(GENESIS_HASH.parse().expect("a hash"))
        }),
        ("node.status_interval_ms", key("node.status_interval_ms", "250"), |c| {
            c.node.status_interval = Duration::from_millis(250)
        }),
        ("node.verify_threads", key("node.verify_threads", "3"), |c| c.node.verify_threads = 3),
        ("network.listen_address", key("network.listen_address", "\"127.0.0.1:0\""), |c| {
            c.network.listen_address = "127.0.0.1:0".parse().expect("an address")
        }),
        (
            "network.bootstrap_peers",
            key("network.bootstrap_peers", "[\"seed.example.org:24100\", \"[::1]:24100\"]"),
            |c| {
                c.network.bootstrap_peers =
                    vec!["seed.example.org:24100".into(), "[::1]:24100".into()]
            },
        ),
        ("network.enable_peer_discovery", key("network.enable_peer_discovery", "false"), |c| {
            c.network.enable_peer_discovery = false
        }),
        ("network.max_connections", key("network.max_connections", "10"), |c| {
            c.network.max_connections = 10
        }),
        ("network.max_connections_per_ip", key("network.max_connections_per_ip", "3"), |c| {
            c.network.max_connections_per_ip = 3
        }),
        ("network.peers[].id", peer.clone(), set_peer),
        ("network.peers[].address", peer, set_peer),
        ("network.limits.max_frame_bytes", key("network.limits.max_frame_bytes", "65536"), |c| {
            c.network.limits.max_frame_bytes = 65536
        }),
        ("network.limits.outbound_queue", key("network.limits.outbound_queue", "16"), |c| {
            c.network.limits.outbound_queue = 16
        }),
        (
            "network.limits.max_messages_per_second",
            key("network.limits.max_messages_per_second", "500"),
            |c| c.network.limits.max_messages_per_second = 500,
        ),
        (
            "network.limits.max_bytes_per_second",
            key("network.limits.max_bytes_per_second", "1_000_000"),
            |c| c.network.limits.max_bytes_per_second = 1_000_000,
        ),
        (
            "network.limits.handshake_timeout_ms",
            key("network.limits.handshake_timeout_ms", "700"),
            |c| c.network.limits.handshake_timeout = Duration::from_millis(700),
        ),
        ("network.limits.idle_timeout_ms", key("network.limits.idle_timeout_ms", "9000"), |c| {
            c.network.limits.idle_timeout = Duration::from_millis(9000)
        }),
        ("network.limits.ping_interval_ms", key("network.limits.ping_interval_ms", "1500"), |c| {
            c.network.limits.ping_interval = Duration::from_millis(1500)
        }),
        (
            "network.limits.ban_duration_seconds",
            key("network.limits.ban_duration_seconds", "3"),
            |c| c.network.limits.ban_duration = Duration::from_secs(3),
        ),
        ("rpc.listen_address", key("rpc.listen_address", "\"[::1]:0\""), |c| {
            c.rpc.listen_address = "[::1]:0".parse().expect("an address")
        }),
        ("rpc.auth", key("rpc.auth", "\"cookie\""), |c| c.rpc.auth = RpcAuthMode::Cookie),
        ("rpc.token", "[rpc]\nauth = \"token\"\ntoken = \"0123456789abcdef\"\n".into(), |c| {
            c.rpc.auth = RpcAuthMode::Token("0123456789abcdef".into())
        }),
        ("rpc.max_body_bytes", key("rpc.max_body_bytes", "2048"), |c| c.rpc.max_body_bytes = 2048),
        ("rpc.max_batch_size", key("rpc.max_batch_size", "7"), |c| c.rpc.max_batch_size = 7),
        ("rpc.max_concurrent_requests", key("rpc.max_concurrent_requests", "5"), |c| {
            c.rpc.max_concurrent_requests = 5
        }),
        ("rpc.max_connections", key("rpc.max_connections", "9"), |c| c.rpc.max_connections = 9),
        ("rpc.header_read_timeout_ms", key("rpc.header_read_timeout_ms", "900"), |c| {
            c.rpc.header_read_timeout = Duration::from_millis(900)
        }),
        ("rpc.event_buffer", key("rpc.event_buffer", "12"), |c| c.rpc.event_buffer = 12),
        ("storage.data_dir", key("storage.data_dir", "\"/var/lib/timed\""), |c| {
            c.storage.data_dir = PathBuf::from("/var/lib/timed")
        }),
        ("storage.cache_size_mb", key("storage.cache_size_mb", "32"), |c| {
            c.storage.cache_bytes = 32 << 20
        }),
        ("storage.min_free_mb", key("storage.min_free_mb", "0"), |c| c.storage.min_free_mb = 0),
        ("logging.level", key("logging.level", "\"info,net=debug\""), |c| {
            c.logging.level = "info,net=debug".into()
        }),
        ("logging.format", key("logging.format", "\"json\""), |c| {
            c.logging.format = LogFormat::Json
        }),
        ("masternode.key_file", key("masternode.key_file", "\"mn.key\""), |c| {
            c.masternode.key_file = Some(PathBuf::from("/cfg/mn.key"))
        }),
        ("metrics.enabled", key("metrics.enabled", "false"), |c| c.metrics.enabled = false),
        ("metrics.listen_address", key("metrics.listen_address", "\"127.0.0.1:9102\""), |c| {
            c.metrics.listen_address = Some("127.0.0.1:9102".parse().expect("an address"))
        }),
        ("mempool.max_transactions", key("mempool.max_transactions", "11"), |c| {
            c.mempool.max_transactions = 11
        }),
        ("mempool.max_bytes_mb", key("mempool.max_bytes_mb", "2"), |c| {
            c.mempool.max_bytes = 2 << 20
        }),
        ("mempool.orphan_max_transactions", key("mempool.orphan_max_transactions", "13"), |c| {
            c.mempool.orphan_max_transactions = 13
        }),
        ("mempool.orphan_max_bytes_mb", key("mempool.orphan_max_bytes_mb", "3"), |c| {
            c.mempool.orphan_max_bytes = 3 << 20
        }),
        ("mempool.orphan_ttl_seconds", key("mempool.orphan_ttl_seconds", "5"), |c| {
            c.mempool.orphan_ttl = Duration::from_secs(5)
        }),
    ]
}

#[test]
fn every_accepted_key_is_honoured() {
    let cases = cases();
    for key in ACCEPTED_KEYS {
        assert!(cases.iter().any(|(k, _, _)| k == key), "no case for accepted key {key}");
    }
    for (key, text, change) in &cases {
        assert!(ACCEPTED_KEYS.contains(key), "case for {key}, which is not accepted");
        let parsed = parse(text).unwrap_or_else(|e| panic!("{key}: {e}\n{text}"));
        let mut expected = defaults();
        change(&mut expected);
        assert_ne!(expected, defaults(), "{key}: the case must pick a non-default value");
        assert_eq!(parsed, expected, "{key} was not honoured");
    }
    // All at once too (rpc.auth = "cookie" would contradict the token case).
    let together: Vec<_> = cases.iter().filter(|(key, _, _)| *key != "rpc.auth").collect();
    let merged = together
        .iter()
        .map(|(_, text, _)| toml::from_str::<toml::Table>(text).unwrap())
        .fold(toml::Table::new(), merge);
    let mut expected = defaults();
    for (_, _, change) in &together {
        change(&mut expected);
    }
    assert_eq!(parse(&toml::to_string(&merged).unwrap()).unwrap(), expected);
}

fn merge(mut into: toml::Table, from: toml::Table) -> toml::Table {
    for (key, value) in from {
        match (into.remove(&key), value) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => {
                into.insert(key, toml::Value::Table(merge(a, b)));
            }
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
    into
}

#[test]
fn settings_reach_the_core_and_the_network_layer() {
    let text = "[node]\nstatus_interval_ms = 250\n\
                [network]\nmax_connections = 10\nmax_connections_per_ip = 3\n\
                [network.limits]\nmax_messages_per_second = 500\nmax_bytes_per_second = 4096\n\
                idle_timeout_ms = 9000\nping_interval_ms = 1500\nban_duration_seconds = 3\n\
                [mempool]\nmax_transactions = 11\nmax_bytes_mb = 2\norphan_max_transactions = 13\n\
                orphan_max_bytes_mb = 3\norphan_ttl_seconds = 5\n";
    let config = parse(text).unwrap();
    let core = config.core_config();
    assert_eq!(
        (core.tick_interval_ms, core.mempool_max_txs, core.mempool_max_bytes),
        (250, 11, 2 << 20)
    );
    assert_eq!(
        (core.orphan_max_txs, core.orphan_max_bytes, core.orphan_ttl_ms),
        (13, 3 << 20, 5000)
    );
    let limits = config.net_limits();
    limits.validate().unwrap();
    assert_eq!((limits.max_connections, limits.max_per_ip), (10, 3));
    assert_eq!((limits.max_msgs_per_sec, limits.msg_burst), (500, 1000));
    assert_eq!((limits.max_bytes_per_sec, limits.byte_burst), (4096, 4096));
    assert_eq!(limits.idle_timeout, Duration::from_millis(9000));
    assert_eq!(limits.ping_interval, Duration::from_millis(1500));
    assert_eq!(limits.ban_duration, Duration::from_secs(3));
    // The defaults agree with the layers' own defaults where both exist.
    Config::default().net_limits().validate().unwrap();
    assert_eq!(
        Config::default().core_config().mempool_max_bytes,
        consensus::CoreConfig::default().mempool_max_bytes
    );
}

#[test]
fn misspelled_key_is_reported_by_name_with_a_suggestion() {
    let p = problem("[network]\nlisten_adress = \"0.0.0.0:24100\"\n");
    assert_eq!(p.key.as_deref(), Some("network.listen_adress"));
    assert_eq!(p.line, Some(2));
    assert_eq!(
        p.message,
        "unknown key network.listen_adress (did you mean network.listen_address?)"
    );

    let p = problem("[network.limits]\nmax_frame_byte = 1024\n");
    assert_eq!(
        p.message,
        "unknown key network.limits.max_frame_byte (did you mean network.limits.max_frame_bytes?)"
    );

    // The right name in the wrong section.
    let p = problem("[node]\ndata_dir = \"d\"\n");
    assert_eq!(p.message, "unknown key node.data_dir (did you mean storage.data_dir?)");

    // (The misspelled address is also a missing one.)
    let found =
        problems(&format!("[[network.peers]]\nid = \"{PEER_ID}\"\nadress = \"127.0.0.1:1\"\n"));
    let messages: Vec<&str> = found.iter().map(|p| p.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "network.peers[0].address: required (the host:port to dial)",
            "unknown key network.peers[0].adress (did you mean network.peers[0].address?)",
        ]
    );

    // Nothing close: no suggestion.
    let p = problem("[rpc]\nfrobnicate = 1\n");
    assert_eq!(p.message, "unknown key rpc.frobnicate");
}

#[test]
fn unknown_section_is_reported() {
    let p = problem("[netwrok]\nlisten_address = \"0.0.0.0:24100\"\n");
    assert_eq!(p.key.as_deref(), Some("netwrok"));
    assert_eq!(p.line, Some(1));
    assert_eq!(p.message, "unknown section netwrok (did you mean network?)");

    let p = problem("[telemetry]\nendpoint = \"x\"\n");
    assert_eq!(p.message, "unknown section telemetry");

    let p = problem("top_level = 1\n");
    assert_eq!(p.message, "unknown key top_level");
}

#[test]
fn section_of_the_wrong_shape_is_reported() {
    let p = problem("network = 5\n");
    assert_eq!(p.message, "network: expected a table [network], got 5");
    let p = problem("[network]\npeers = [7]\n");
    assert_eq!(p.message, "network.peers[0]: expected a table [[network.peers]], got 7");
    let p = problem("[network]\npeers = \"127.0.0.1:1\"\n");
    assert_eq!(p.message, "network.peers: expected tables [[network.peers]], got \"127.0.0.1:1\"");
}

#[test]
fn consensus_keys_are_refused_with_set_in_genesis() {
    let text = "\
[node]
network = \"mainnet\"
[consensus]
voting_timeout_ms = 5000
min_masternodes = 3
quorum_percentage = 67
[block]
block_time_seconds = 600
max_block_size_kb = 1024
max_transactions_per_block = 5000
[masternode]
tier = \"gold\"
collateral_txid = \"00\"
wallet_address = \"TIME0abc\"
";
    let found = problems(text);
    let keys = [
        "node.network",
        "consensus.voting_timeout_ms",
        "consensus.min_masternodes",
        "consensus.quorum_percentage",
        "block.block_time_seconds",
        "block.max_block_size_kb",
        "block.max_transactions_per_block",
        "masternode.tier",
        "masternode.collateral_txid",
        "masternode.wallet_address",
    ];
    assert_eq!(found.len(), keys.len(), "{found:#?}");
    for key in keys {
        let p = found
            .iter()
            .find(|p| p.key.as_deref() == Some(key))
            .unwrap_or_else(|| panic!("{key} was not refused: {found:#?}"));
        assert!(p.message.starts_with(&format!("{key}: set in genesis (")), "{}", p.message);
        let line =
            text.lines().position(|l| l.starts_with(key.rsplit('.').next().unwrap())).unwrap() + 1;
        assert_eq!(p.line, Some(line), "{key}");
    }
    let quorum =
        found.iter().find(|p| p.key.as_deref() == Some("consensus.quorum_percentage")).unwrap();
    assert_eq!(
        quorum.message,
        "consensus.quorum_percentage: set in genesis (it is a consensus rule every masternode must agree on)"
    );
    let reward =
        found.iter().find(|p| p.key.as_deref() == Some("masternode.wallet_address")).unwrap();
    assert_eq!(
        reward.message,
        "masternode.wallet_address: set in genesis (the reward address is in genesis)"
    );
}

#[test]
fn original_unsupported_keys_are_refused_with_not_supported() {
    // The original node's file, minus the consensus keys and with the keys
    // this node still accepts.
    let text = "\
[node]
name = \"my-node\"
version = \"0.1.0\"
[network]
listen_address = \"0.0.0.0:24100\"
max_peers = 50
enable_upnp = false
enable_peer_discovery = true
bootstrap_peers = []
[rpc]
enabled = true
listen_address = \"127.0.0.1:24101\"
allow_origins = [\"*\"]
[storage]
backend = \"sled\"
data_dir = \"./data\"
cache_size_mb = 256
[logging]
level = \"info\"
format = \"pretty\"
output = \"file\"
file_path = \"/var/log/timed.log\"
[masternode]
enabled = true
[security]
enable_rate_limiting = true
max_requests_per_second = 100
enable_authentication = false
api_key = \"\"
[metrics]
enabled = true
prometheus_port = 9090
";
    let found = problems(text);
    let expected = [
        ("node.name", None),
        ("node.version", Some("see timed --version")),
        ("network.max_peers", Some("use network.max_connections")),
        ("network.enable_upnp", None),
        ("rpc.enabled", Some("RPC is always on")),
        ("rpc.allow_origins", None),
        ("storage.backend", Some("sled is the only backend")),
        ("logging.output", Some("logs go to stderr; use your service manager")),
        ("logging.file_path", Some("logs go to stderr; use your service manager")),
        ("masternode.enabled", Some("set masternode.key_file")),
        (
            "security.enable_rate_limiting",
            Some("use rpc.auth / rpc.token; rate limits are in [network.limits]"),
        ),
        ("security.max_requests_per_second", Some("rpc.auth / rpc.token")),
        ("security.enable_authentication", Some("rpc.auth / rpc.token")),
        ("security.api_key", Some("rpc.auth / rpc.token")),
        ("metrics.prometheus_port", Some("/metrics is served on rpc.listen_address")),
    ];
    assert_eq!(found.len(), expected.len(), "{found:#?}");
    for (key, hint) in expected {
        let p = found
            .iter()
            .find(|p| p.key.as_deref() == Some(key))
            .unwrap_or_else(|| panic!("{key} was not refused: {found:#?}"));
        assert!(p.message.starts_with(&format!("not supported: {key}")), "{}", p.message);
        if let Some(hint) = hint {
            assert!(p.message.contains(hint), "{key}: {}", p.message);
        }
    }
    assert_eq!(
        problem("[security]\n").message,
        "not supported: security (use rpc.auth / rpc.token; rate limits are in [network.limits])"
    );
}

#[test]
fn bad_values_name_the_expected_form() {
    let cases = [
        (
            "[network]\nlisten_address = \"localhost\"",
            "network.listen_address: expected ip:port such as 0.0.0.0:24100, got \"localhost\"",
        ),
        (
            "[rpc]\nlisten_address = 24101",
            "rpc.listen_address: expected ip:port such as 127.0.0.1:24101, got 24101",
        ),
        ("[logging]\nformat = \"xml\"", "logging.format: expected pretty or json, got \"xml\""),
        (
            "[logging]\nlevel = \"verbose\"",
            "logging.level: expected trace, debug, info, warn, error, off or a filter such as info,net=debug, got \"verbose\"",
        ),
        (
            "[logging]\nlevel = \"net=loud\"",
            "logging.level: expected trace, debug, info, warn, error, off or a filter such as info,net=debug, got \"net=loud\"",
        ),
        (
            "[network]\nmax_connections = 0",
            "network.max_connections: expected a whole number of at least 1, got 0",
        ),
        (
            "[network]\nmax_connections = -3",
            "network.max_connections: expected a whole number of at least 1, got -3",
        ),
        (
            "[mempool]\nmax_bytes_mb = 0",
            "mempool.max_bytes_mb: expected a number of megabytes from 1 to 1048576, got 0",
        ),
        (
            "[network.limits]\nmax_frame_bytes = 100",
            "network.limits.max_frame_bytes: expected a number of bytes from 1024 to 4294967295, got 100",
        ),
        (
            "[node]\nverify_threads = 5000",
            "node.verify_threads: expected a number of threads (0: one per core) from 0 to 1024, got 5000",
        ),
        (
            "[node]\nstatus_interval_ms = 1.5",
            "node.status_interval_ms: expected a number of milliseconds from 1 to 31536000000, got 1.5",
        ),
        (
            "[mempool]\norphan_ttl_seconds = \"60\"",
            "mempool.orphan_ttl_seconds: expected a number of seconds from 1 to 31536000, got \"60\"",
        ),
        ("[metrics]\nenabled = \"yes\"", "metrics.enabled: expected true or false, got \"yes\""),
        (
            "[storage]\ndata_dir = \"\"",
            "storage.data_dir: expected a path such as ./data, got \"\"",
        ),
        (
            "[rpc]\nauth = \"basic\"",
            "rpc.auth: expected auto, none, cookie or token, got \"basic\"",
        ),
        (
            "[rpc]\nauth = \"token\"\ntoken = \"hunter\"",
            "rpc.token: expected a secret of at least 16 characters, got 6 characters",
        ),
        (
            "[rpc]\nauth = \"token\"",
            "rpc.token: required when rpc.auth = \"token\" (a secret of at least 16 characters)",
        ),
        (
            "[rpc]\ntoken = \"0123456789abcdef\"",
            "rpc.token: only used when rpc.auth = \"token\" (rpc.auth is \"auto\"); set rpc.auth = \"token\" or remove rpc.token",
        ),
        (
            "[network]\nbootstrap_peers = [\"seed.example.org:24100\", \"seed.example.org\"]",
            "network.bootstrap_peers[1]: expected host:port such as seed.example.org:24100, got \"seed.example.org\"",
        ),
        (
            "[network]\nbootstrap_peers = \"seed.example.org:24100\"",
            "network.bootstrap_peers: expected an array of \"host:port such as seed.example.org:24100\" strings, got \"seed.example.org:24100\"",
        ),
        (
            "[[network.peers]]\nid = \"abcd\"\naddress = \"127.0.0.1:1\"",
            "network.peers[0].id: expected a node id of 64 hex digits, got \"abcd\"",
        ),
        (
            "[node]\ngenesis_hash = \"abc\"",
            "node.genesis_hash: expected a genesis hash of 64 hex digits, got \"abc\"",
        ),
        (
            "[network]\nbootstrap_peers = [\"seed.example.org:24100\"]\n\
             [[network.peers]]\nid = \"1f0cbb2a0d1e9a3f4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f901a2b\"\n\
             address = \"seed.example.org:24100\"",
            "network.bootstrap_peers[0]: seed.example.org:24100 is also the address of network.peers[0] (each peer once)",
        ),
        (
            "[network]\nlisten_address = \"127.0.0.2:24100\"\n[[network.peers]]\n\
             id = \"1f0cbb2a0d1e9a3f4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f901a2b\"\n\
             address = \"127.0.0.2:24100\"",
            "network.peers[0].address: 127.0.0.2:24100 is this node's own network.listen_address",
        ),
        (
            "[[network.peers]]\nid = \"1f0cbb2a0d1e9a3f4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f901a2b\"\n\
             address = \"a.example:1\"\n[[network.peers]]\n\
             id = \"1f0cbb2a0d1e9a3f4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f901a2b\"\n\
             address = \"b.example:1\"",
            "network.peers[1].id: 1f0cbb2a0d1e9a3f4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f901a2b is also the id of network.peers[0] (each peer once)",
        ),
        (
            "[network.limits]\nping_interval_ms = 30000",
            "network.limits.ping_interval_ms: expected less than network.limits.idle_timeout_ms (30000), got 30000",
        ),
    ];
    for (text, message) in cases {
        let p = problem(text);
        assert_eq!(p.message, message, "for:\n{text}");
        assert!(p.line.is_some(), "no line for:\n{text}");
    }
    // A missing peer address names the peer entry.
    let p = problem(&format!("[[network.peers]]\nid = \"{PEER_ID}\""));
    assert_eq!(p.key.as_deref(), Some("network.peers[0].address"));
    assert_eq!(p.message, "network.peers[0].address: required (the host:port to dial)");
    let p = problem("[[network.peers]]\naddress = \"127.0.0.1:1\"");
    assert_eq!(
        p.message,
        "network.peers[0].id: required (a peer without a known id belongs in network.bootstrap_peers)"
    );
    // A bad token is never echoed.
    assert!(!problem("[rpc]\nauth = \"token\"\ntoken = \"hunter\"").message.contains("hunter"));
    assert!(
        !format!("{:?}", RpcAuthMode::Token("hunter2hunter2hunter2".into())).contains("hunter")
    );
}

#[test]
fn all_problems_are_reported_together() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("timed.toml");
    std::fs::write(
        &path,
        "[network]\nlisten_adress = \"0.0.0.0:1\"\n\n[consensus]\nquorum_percentage = 67\n\n[logging]\nformat = \"xml\"\n",
    )
    .unwrap();
    let errors = Config::load(&path).unwrap_err();
    assert_eq!(errors.path.as_deref(), Some(path.as_path()));
    let lines: Vec<Option<usize>> = errors.problems.iter().map(|p| p.line).collect();
    assert_eq!(lines, [Some(2), Some(5), Some(8)]);
    let shown = errors.to_string();
    let shown: Vec<&str> = shown.lines().collect();
    let file = path.display();
    assert_eq!(
        shown,
        [
            format!(
                "{file}:2: unknown key network.listen_adress (did you mean network.listen_address?)"
            ),
            format!(
                "{file}:5: consensus.quorum_percentage: set in genesis (it is a consensus rule every masternode must agree on)"
            ),
            format!("{file}:8: logging.format: expected pretty or json, got \"xml\""),
        ]
    );
}

#[test]
fn toml_syntax_errors_name_the_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("timed.toml");
    std::fs::write(&path, "[node]\nstatus_interval_ms = = 5\n").unwrap();
    let errors = Config::load(&path).unwrap_err();
    let p = &errors.problems[0];
    assert_eq!((p.key.as_deref(), p.line), (None, Some(2)));
    assert!(p.column.is_some());
    let shown = errors.to_string();
    assert!(shown.starts_with(&format!("{}:2:", path.display())), "{shown}");
    assert!(shown.contains("invalid TOML"), "{shown}");

    // A key set twice is a syntax error too.
    let p = &problems("[node]\nstatus_interval_ms = 5\nstatus_interval_ms = 6\n")[0];
    assert_eq!(p.line, Some(3), "{p:?}");
}

#[test]
fn relative_paths_resolve_against_the_config_directory() {
    let dir = tempfile::tempdir().unwrap();
    let config_dir = dir.path().join("etc");
    std::fs::create_dir(&config_dir).unwrap();
    let path = config_dir.join("timed.toml");
    std::fs::write(
        &path,
        "[node]\ngenesis_file = \"genesis.json\"\n\
         [storage]\ndata_dir = \"../var/data\"\n\
         [masternode]\nkey_file = \"/abs/mn.key\"\n",
    )
    .unwrap();
    let config = Config::load(&path).unwrap();
    assert_eq!(config.node.genesis_file, config_dir.join("genesis.json"));
    assert_eq!(config.storage.data_dir, config_dir.join("../var/data"));
    assert_eq!(config.masternode.key_file, Some(PathBuf::from("/abs/mn.key")));

    // Defaults too: `./data` next to the file.
    std::fs::write(&path, "").unwrap();
    let config = Config::load(&path).unwrap();
    assert_eq!(config.storage.data_dir, config_dir.join("data"));
    assert_eq!(config.masternode.key_file, None);
}

#[test]
fn rpc_auth_none_on_public_address_is_refused() {
    let p = problem("[rpc]\nlisten_address = \"0.0.0.0:24101\"\nauth = \"none\"\n");
    assert_eq!(p.key.as_deref(), Some("rpc.auth"));
    assert_eq!(p.line, Some(3));
    assert!(
        p.message.starts_with(
            "rpc.auth = none is only allowed on a loopback address; use cookie or token"
        ),
        "{}",
        p.message
    );

    // On loopback it is fine; auto picks none there and cookie elsewhere.
    let local = parse("[rpc]\nauth = \"none\"\n").unwrap();
    assert_eq!(local.rpc.effective_auth(), RpcAuthMode::None);
    assert_eq!(defaults().rpc.effective_auth(), RpcAuthMode::None);
    let public = parse("[rpc]\nlisten_address = \"0.0.0.0:24101\"\n").unwrap();
    assert_eq!(public.rpc.effective_auth(), RpcAuthMode::Cookie);

    // A flag that moves the listener later is caught by validate.
    let mut overridden = local;
    overridden.rpc.listen_address = "0.0.0.0:24101".parse().unwrap();
    let errors = overridden.validate().unwrap_err();
    assert_eq!(errors.problems[0].key.as_deref(), Some("rpc.auth"));
}

#[test]
fn missing_file_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nowhere").join("timed.toml");
    let errors = Config::load(&path).unwrap_err();
    let shown = errors.to_string();
    assert!(
        shown.starts_with(&format!("{}: cannot read the config file", path.display())),
        "{shown}"
    );
    assert!(shown.contains("--generate-config"), "{shown}");
    assert_eq!(errors.problems.len(), 1);
}
