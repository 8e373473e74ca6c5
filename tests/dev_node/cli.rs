//! The command line: config files, data dirs, version. (timed's config
//! commands on their own, which need no node, are in
//! `timed/tests/config_cli.rs`.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use protocol::genesis::{Allocation, GenesisMasternode};
use protocol::{
    Address, Amount, ChainId, ConsensusParams, Genesis, Network, NodeId, SecretKey, Tier,
};
use tokio::process::Command;

use crate::harness::{Scratch, TIME, WAIT, lock, run_timed, text, timed_binary};

/// A valid one-masternode genesis that no `timed --dev` made.
fn test_genesis(seed: u8) -> Genesis {
    let masternode = SecretKey::from_seed([seed; 32]);
    let reward = Address::from_public_key(&masternode.public(), Network::Dev);
    let genesis = Genesis {
        chain_id: ChainId(0xC0FF_EE00 | u32::from(seed)),
        network: Network::Dev,
        timestamp_ms: 1_700_000_000_000,
        committee: vec![GenesisMasternode {
            id: NodeId::from(masternode.public()),
            p2p_address: "127.0.0.1:0".into(),
            tier: Tier::Free,
            reward_address: reward,
        }],
        min_masternodes: 1,
        params: ConsensusParams::default(),
        allocations: vec![Allocation { address: reward, value: Amount::from_sat(1_000 * TIME) }],
    };
    genesis.validate().expect("the test genesis is valid");
    genesis
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        for entry in std::fs::read_dir(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        {
            let entry = entry.expect("a dir entry");
            let path = entry.path();
            if entry.file_type().expect("file type").is_dir() {
                stack.push(path);
            } else {
                files.insert(
                    path.clone(),
                    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
                );
            }
        }
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_dir_of_another_chain_is_refused_and_untouched() {
    let _lock = lock();
    let scratch = Scratch::new();
    let mut node = scratch.start().await;
    node.wait_height(2).await;
    let height = node.height().await;
    assert_eq!(node.rpc.stop().await.expect("stop"), "timed stopping");
    assert_eq!(node.exit_status().await.code(), Some(0));
    drop(node);
    let data = scratch.path("data");
    let before = snapshot(&data);

    // Another chain's node pointed at the same data dir.
    let other = scratch.path("other");
    std::fs::create_dir(&other).expect("mkdir");
    let genesis_path = other.join("genesis.json");
    std::fs::write(&genesis_path, serde_json::to_vec_pretty(&test_genesis(0x32)).expect("JSON"))
        .expect("write genesis");
    let config = other.join("timed.toml");
    std::fs::write(
        &config,
        format!(
            "[node]\ngenesis_file = {:?}\n\n[network]\nlisten_address = \"127.0.0.1:0\"\nenable_peer_discovery = false\n\n[rpc]\nlisten_address = \"127.0.0.1:0\"\n\n[storage]\ndata_dir = {:?}\n",
            genesis_path.display().to_string(),
            data.display().to_string()
        ),
    )
    .expect("write timed.toml");
    let checked = run_timed(&["--check-config".as_ref(), config.as_os_str()]).await;
    assert!(
        checked.status.success(),
        "the other chain's config is valid: {}",
        text(&checked.stderr)
    );
    let refused = run_timed(&["--config".as_ref(), config.as_os_str()]).await;
    let stderr = text(&refused.stderr);
    assert_eq!(refused.status.code(), Some(4), "exit code 4 is a data dir problem: {stderr}");
    assert!(stderr.contains(&data.display().to_string()), "the dir is not named: {stderr}");
    assert!(stderr.contains("genesis"), "the reason is not given: {stderr}");

    let after = snapshot(&data);
    let changed: Vec<&PathBuf> =
        before.keys().chain(after.keys()).filter(|p| before.get(*p) != after.get(*p)).collect();
    assert!(changed.is_empty(), "the refused start changed {changed:?}");

    // And the dev chain resumes from it.
    let node = scratch.start().await;
    let resumed = node.height().await;
    assert!(resumed >= height, "the dev chain went back from {height} to {resumed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_version_includes_the_git_hash() {
    let _lock = lock();
    let out = run_timed(&["--version".as_ref()]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let version = text(&out.stdout);
    let version = version.trim();
    // `timed X.Y.Z (<12 hex digits>[-dirty])`
    let hash = version
        .split_once('(')
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .map(|h| h.trim_end_matches("-dirty"))
        .unwrap_or_else(|| panic!("no (hash) in {version:?}"));
    assert!(version.starts_with(&format!("timed {} (", env!("CARGO_PKG_VERSION"))), "{version:?}");
    assert!(
        hash.len() == 12 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
        "not a git hash: {hash:?} in {version:?}"
    );
    // When this is a git checkout, it is the checkout's commit.
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| text(&o.stdout).trim().to_string());
    if let Some(head) = head {
        assert_eq!(hash, head, "timed was built from another commit than HEAD (rebuild it)");
    }
}

/// `timed --generate-config | head` and `time-cli … | head`: a reader that
/// has gone away ends the program quietly (exit 0), never with a panic.
#[test]
fn a_closed_stdout_ends_the_tools_quietly() {
    let scratch = Scratch::new();
    let time_cli = cluster::binaries::find("time-cli").unwrap_or_else(|e| panic!("{e}"));
    let key = scratch.path("k.json");
    let runs: [(PathBuf, Vec<&std::ffi::OsStr>); 2] = [
        (timed_binary(), vec!["--generate-config".as_ref()]),
        (time_cli, vec!["keygen".as_ref(), "--out".as_ref(), key.as_os_str()]),
    ];
    for (program, args) in runs {
        let (reader, writer) = std::io::pipe().expect("a pipe");
        drop(reader);
        let output = std::process::Command::new(&program)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .expect("run");
        let stderr = text(&output.stderr);
        assert!(!stderr.contains("panicked"), "{} {args:?}: {stderr}", program.display());
        assert_eq!(output.status.code(), Some(0), "{} {args:?}: {stderr}", program.display());
    }
}

/// `time-cli --rpcwait` started before the node waits for it (no node.json,
/// then the node starting) and answers once it is up; with
/// `--rpcwaittimeout` and no node it gives up as unreachable (exit 4), and
/// without `--rpcwait` it fails at once the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_cli_rpcwait_waits_for_the_node_to_start() {
    let scratch = Scratch::new();
    let data = scratch.path("data");
    let time_cli = cluster::binaries::find("time-cli").unwrap_or_else(|e| panic!("{e}"));
    let run = |args: &[&str]| {
        let mut command = Command::new(&time_cli);
        command.arg("--datadir").arg(&data).args(args).stdin(Stdio::null());
        command.stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        command.output()
    };
    // A malformed URL is a bad argument (exit 2), as in loadgen and timectl.
    let bad_url = Command::new(&time_cli)
        .args(["--rpc-url", "not a url", "getblockcount"])
        .output()
        .await
        .unwrap();
    assert_eq!(bad_url.status.code(), Some(2), "{}", text(&bad_url.stderr));
    let at_once = run(&["getblockcount"]).await.unwrap();
    assert_eq!(at_once.status.code(), Some(4), "{}", text(&at_once.stderr));
    let gave_up = run(&["--rpcwait", "--rpcwaittimeout", "0.5", "getblockcount"]).await.unwrap();
    assert_eq!(gave_up.status.code(), Some(4), "{}", text(&gave_up.stderr));

    let waiting = tokio::spawn(run(&["--rpcwait", "getblockcount"]));
    let node = scratch.start().await;
    let answered = tokio::time::timeout(WAIT, waiting).await.expect("time-cli waited on").unwrap();
    let answered = answered.unwrap();
    assert_eq!(answered.status.code(), Some(0), "{}", text(&answered.stderr));
    let height: u64 = text(&answered.stdout).trim().parse().expect("a block count");
    assert!(height <= node.rpc.getblockcount().await.unwrap());
}
