//! timed's config commands as a user runs them: `--generate-config`,
//! `--check-config` and starting with a bad config (exit 3), with the
//! binary cargo built for these tests. No node is started.

use std::ffi::OsStr;
use std::process::{Output, Stdio};
use std::time::Duration;

use protocol::amount::SAT_PER_TIME;
use protocol::genesis::{Allocation, GenesisMasternode};
use protocol::{
    Address, Amount, ChainId, ConsensusParams, Genesis, Network, NodeId, SecretKey, Tier,
};
use tokio::process::Command;

/// How long one `timed` command may take.
const WAIT: Duration = Duration::from_secs(20);

/// Runs `timed` with `args` to completion (within `WAIT`).
async fn run_timed(args: &[&OsStr]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_timed"));
    command.args(args).env_remove("RUST_LOG").stdin(Stdio::null()).kill_on_drop(true);
    tokio::time::timeout(WAIT, command.output())
        .await
        .unwrap_or_else(|_| panic!("timed {args:?} still running after {WAIT:?}"))
        .expect("run timed")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

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
        allocations: vec![Allocation {
            address: reward,
            value: Amount::from_sat(1_000 * SAT_PER_TIME),
        }],
    };
    genesis.validate().expect("the test genesis is valid");
    genesis
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_config_then_check_config_is_clean_and_a_misspelled_key_is_named() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let generated = run_timed(&["--generate-config".as_ref()]).await;
    assert!(generated.status.success(), "--generate-config: {}", text(&generated.stderr));
    let config = text(&generated.stdout);
    let path = scratch.path().join("c.toml");
    std::fs::write(&path, &config).expect("write c.toml");

    // The default names genesis.json beside the config: not there yet, the
    // config still checks clean, with a warning naming the key.
    let missing = run_timed(&["--check-config".as_ref(), path.as_os_str()]).await;
    assert!(missing.status.success(), "{}", text(&missing.stderr));
    assert!(text(&missing.stderr).contains("warning"), "{}", text(&missing.stderr));
    assert!(text(&missing.stderr).contains("node.genesis_file"), "{}", text(&missing.stderr));

    // A genesis file that exists but is not one is a problem (exit 3).
    std::fs::write(scratch.path().join("genesis.json"), "{}").expect("write genesis.json");
    let invalid = run_timed(&["--check-config".as_ref(), path.as_os_str()]).await;
    assert_eq!(invalid.status.code(), Some(3), "{}", text(&invalid.stderr));
    assert!(text(&invalid.stderr).contains("node.genesis_file"), "{}", text(&invalid.stderr));

    let genesis = serde_json::to_vec_pretty(&test_genesis(0x31)).expect("genesis JSON");
    std::fs::write(scratch.path().join("genesis.json"), genesis).expect("write genesis.json");
    let clean = run_timed(&["--check-config".as_ref(), path.as_os_str()]).await;
    assert!(clean.status.success(), "the generated config is not clean: {}", text(&clean.stderr));
    assert!(text(&clean.stdout).contains("ok"), "{}", text(&clean.stdout));

    // One misspelled key: named, with the file, line and the right spelling.
    let misspelled = config.replacen("\nmax_body_bytes =", "\nmax_body_byte =", 1);
    assert_ne!(misspelled, config, "the generated config has rpc.max_body_bytes");
    let bad = scratch.path().join("bad.toml");
    std::fs::write(&bad, &misspelled).expect("write bad.toml");
    let refused = run_timed(&["--check-config".as_ref(), bad.as_os_str()]).await;
    let stderr = text(&refused.stderr);
    assert!(!refused.status.success(), "a misspelled key passed --check-config");
    assert_eq!(refused.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("rpc.max_body_byte"), "the key is not named: {stderr}");
    assert!(stderr.contains("bad.toml"), "the file is not named: {stderr}");
    assert!(stderr.contains("rpc.max_body_bytes"), "no suggestion: {stderr}");
    // Starting with it fails the same way, before touching anything.
    let start = run_timed(&["--config".as_ref(), bad.as_os_str()]).await;
    assert_eq!(start.status.code(), Some(3), "{}", text(&start.stderr));
    assert!(text(&start.stderr).contains("rpc.max_body_byte"), "{}", text(&start.stderr));
}
