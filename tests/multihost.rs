//! A chain for many hosts, as an operator forms one by hand: `timectl
//! testnet` writes the configs, and four `timed` processes run as if on four
//! hosts, each on its own loopback address (127.0.0.2 to 127.0.0.5) with the
//! same standard ports. Traffic stays on 127.0.0.0/8.
//!
//! Also what such a config gets when it is wrong: a genesis of another
//! network, a peer name that does not resolve, a peer listed twice, each
//! refused before start with the entry named.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use client::finality::{WaitOutcome, wait_for_settlement};
use client::rpc::{RpcAuth, RpcClient};
use client::wallet::{Chain, Payment, Wallet};
use cluster::testing::{ClusterLock, exclusive};
use cluster::testnet::TestnetFile;
use protocol::rpc::TxState;
use protocol::{Amount, Genesis, Network, SecretKey};
use tokio::process::{Child, Command};

const HOSTS: [&str; 4] = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"];
const WAIT: Duration = Duration::from_secs(60);

fn lock() -> ClusterLock {
    exclusive().expect("the cluster test lock")
}

fn bin(name: &str) -> PathBuf {
    cluster::binaries::find(name).unwrap_or_else(|e| panic!("{e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `timectl testnet --out OUT HOSTS...`, which must succeed.
async fn testnet(out: &Path, hosts: &[&str]) -> TestnetFile {
    let output = Command::new(bin("timectl"))
        .args(["--json", "testnet", "--out"])
        .arg(out)
        .args(hosts)
        .output()
        .await
        .expect("run timectl testnet");
    assert!(output.status.success(), "timectl testnet: {}", text(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("testnet --json prints testnet.json")
}

async fn run_timed(args: &[&std::ffi::OsStr]) -> std::process::Output {
    let command = Command::new(bin("timed"))
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(WAIT, command)
        .await
        .unwrap_or_else(|_| panic!("timed {args:?} still running after {WAIT:?}"))
        .expect("run timed")
}

/// Starts node `name` of the testnet in `out`, its log beside its config.
fn start(out: &Path, name: &str) -> Child {
    let dir = out.join(name);
    let log = std::fs::File::create(dir.join("timed.log")).expect("log file");
    Command::new(bin("timed"))
        .arg("--config")
        .arg(dir.join("timed.toml"))
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("start timed")
}

fn log_of(out: &Path, name: &str) -> String {
    std::fs::read_to_string(out.join(name).join("timed.log")).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_hosts_on_loopback_addresses_finalize_a_transaction() {
    let _lock = lock();
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("net");
    let net = testnet(&out, &HOSTS).await;
    assert_eq!(net.nodes.len(), 4);
    for (node, host) in net.nodes.iter().zip(HOSTS) {
        assert_eq!(node.listen_address, format!("{host}:24100"));
        assert_eq!(node.rpc_address, format!("{host}:24101"));
    }
    let _nodes: Vec<Child> = net.nodes.iter().map(|n| start(&out, &n.name)).collect();
    let clients: Vec<RpcClient> = net
        .nodes
        .iter()
        .map(|n| RpcClient::new(&format!("http://{}", n.rpc_address), RpcAuth::None).expect("url"))
        .collect();
    let deadline = Instant::now() + WAIT;
    for (client, node) in clients.iter().zip(&net.nodes) {
        while client.getblockcount().await.is_err() {
            assert!(
                Instant::now() < deadline,
                "{} never answered at {}: {}",
                node.name,
                node.rpc_address,
                log_of(&out, &node.name)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    let genesis: Genesis =
        serde_json::from_slice(&std::fs::read(out.join("genesis.json")).expect("genesis.json"))
            .expect("a genesis");
    let wallet =
        Wallet::load(Network::Dev, &[out.join(&net.dev_wallet.key_file)]).expect("the dev wallet");
    let coins = clients[0].listunspent(&[net.dev_wallet.address]).await.expect("listunspent");
    let to = protocol::Address::from_public_key(
        &SecretKey::generate(&mut rand::rng()).public(),
        Network::Dev,
    );
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let payment = Payment {
        to,
        amount: Amount::from_time(5).expect("an amount"),
        change: net.dev_wallet.address,
        timestamp_ms: now,
    };
    let tx = wallet.pay(&Chain::from(&genesis), &payment, &coins).expect("a payment");
    let txid = clients[0].sendrawtransaction(&tx).await.expect("sent").txid;
    for (client, node) in clients.iter().zip(&net.nodes) {
        let outcome = wait_for_settlement(client, txid, WAIT).await.expect("a state");
        match outcome {
            WaitOutcome::Settled(s) => assert_eq!(s.state, TxState::Final, "on {}", node.name),
            WaitOutcome::TimedOut { last_state } => panic!(
                "{} never saw {txid} final (last {last_state:?}): {}",
                node.name,
                log_of(&out, &node.name)
            ),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_testnet_config_with_a_wrong_genesis_or_peer_is_refused_naming_the_entry() {
    let dir = tempfile::tempdir().expect("temp dir");
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    testnet(&a, &["127.0.0.2", "127.0.0.3"]).await;
    testnet(&b, &["127.0.0.2", "127.0.0.3"]).await;
    let config = a.join("node1/timed.toml");

    let clean = run_timed(&["--check-config".as_ref(), config.as_os_str()]).await;
    assert!(clean.status.success(), "{}", text(&clean.stderr));
    assert!(text(&clean.stdout).contains("genesis hash"), "{}", text(&clean.stdout));

    // Another testnet's genesis copied over this one's: refused by
    // --check-config and at start (exit 3), naming the file and the hash.
    std::fs::copy(b.join("genesis.json"), a.join("node1/genesis.json")).expect("copy");
    let checked = run_timed(&["--check-config".as_ref(), config.as_os_str()]).await;
    assert_eq!(checked.status.code(), Some(3), "{}", text(&checked.stderr));
    let started = run_timed(&["--config".as_ref(), config.as_os_str()]).await;
    assert_eq!(started.status.code(), Some(3), "{}", text(&started.stderr));
    for output in [&checked, &started] {
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains("node.genesis_hash") && stderr.contains("genesis.json"),
            "{stderr}"
        );
        // The peer's id is not in the wrong genesis's committee either.
        assert!(stderr.contains("network.peers[0].id"), "{stderr}");
    }
    std::fs::copy(a.join("genesis.json"), a.join("node1/genesis.json")).expect("copy back");

    // A peer name that does not resolve (.invalid never does, RFC 6761),
    // and a peer listed twice.
    let original = std::fs::read_to_string(&config).expect("config");
    let peer_id = original
        .lines()
        .find_map(|l| l.strip_prefix("id = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("a peer id")
        .to_string();
    std::fs::write(&config, original.replace("127.0.0.3:24100", "no-such-host.invalid:24100"))
        .expect("write");
    // --check-config warns (names depend on where and when it runs); the
    // node itself waits a while for the name, then refuses to start.
    let warned = run_timed(&["--check-config".as_ref(), config.as_os_str()]).await;
    let unresolved = run_timed(&["--config".as_ref(), config.as_os_str()]).await;
    assert!(warned.status.success(), "{}", text(&warned.stderr));
    assert_eq!(unresolved.status.code(), Some(3), "{}", text(&unresolved.stderr));
    for output in [&warned, &unresolved] {
        let stderr = text(&output.stderr);
        assert!(
            stderr
                .contains("network.peers[0].address: no-such-host.invalid:24100 does not resolve"),
            "{stderr}"
        );
    }
    std::fs::write(
        &config,
        format!(
            "{original}\n[[network.peers]]\nid = \"{peer_id}\"\naddress = \"127.0.0.9:24100\"\n"
        ),
    )
    .expect("write");
    let twice = run_timed(&["--check-config".as_ref(), config.as_os_str()]).await;
    assert_eq!(twice.status.code(), Some(3));
    let stderr = text(&twice.stderr);
    assert!(
        stderr.contains("network.peers[1].id") && stderr.contains("network.peers[0]"),
        "{stderr}"
    );
}

#[tokio::test]
async fn testnet_refuses_a_duplicate_host_naming_both_entries() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = Command::new(bin("timectl"))
        .args(["testnet", "--out"])
        .arg(dir.path().join("net"))
        .args(["127.0.0.2", "127.0.0.3", "127.0.0.2:24100"])
        .output()
        .await
        .expect("run timectl testnet");
    assert_eq!(output.status.code(), Some(2), "a bad argument");
    let stderr = text(&output.stderr);
    assert!(stderr.contains("host 3") && stderr.contains("host 1"), "{stderr}");
    assert!(!dir.path().join("net").exists(), "nothing written");
}
