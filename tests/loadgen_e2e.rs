//! loadgen against four real masternodes (q = 3, f = 1), through its
//! library API: a short open-loop run whose accounting closes, whose
//! transactions are final on every node, and whose safety checks pass; then
//! a second run on the same cluster, which must find its coins again from
//! `listunspent` (change of the first run included); then a two-step sweep,
//! each step starting on a settled cluster.
//!
//! Then the `loadgen` binary against a `timed --dev` whose RPC wants a token
//! (`rpc.auth = "token"`), as a node off loopback does: `--rpc-token-file`.

use std::time::Duration;

use cluster::ClusterSpec;
use e2e::*;
use loadgen::{RunConfig, Stop, Target};

fn config(dir: &std::path::Path) -> RunConfig {
    let mut config = RunConfig::new(Target::ClusterDir {
        dir: dir.to_path_buf(),
        dev_wallet: false,
        only: Vec::new(),
    });
    config.tps = 100.0;
    config.stop = Stop::Duration(Duration::from_secs(5));
    config.timeout = Duration::from_secs(20);
    config.seed = 7;
    config
}

fn check(outcome: &loadgen::RunOutcome, what: &str, logs: impl Fn() -> String) {
    let summary = loadgen::report::summary::text(outcome);
    let a = &outcome.accounting;
    assert!(a.closes(), "{what}: the accounting does not close\n{summary}");
    assert_eq!(a.regular.sent + a.pairs.pairs, 500, "{what}: every slot sent\n{summary}");
    let ratio = outcome.metrics.get("final_ratio").unwrap_or(0.0);
    assert!(ratio >= 0.99, "{what}: final_ratio {ratio}\n{summary}\n{}", logs());
    assert!(outcome.safety.ok, "{what}: safety {:?}\n{summary}", outcome.safety.violations);
    assert_eq!(outcome.accounting.pairs.both_final, 0, "{what}\n{summary}");
    assert!(outcome.safety.blocks_compared > 0, "{what}: blocks compared\n{summary}");
    assert_eq!(outcome.exit_code(), 0, "{what}\n{summary}");
    assert!(outcome.metrics.get("final_first.p50").is_some(), "{what}\n{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n4_loadgen_runs_twice_on_one_cluster_with_closing_accounting_and_safety_then_sweeps() {
    let spec =
        ClusterSpec { nodes: 4, pool_keys: 8, pool_coins_per_key: 100, ..ClusterSpec::default() };
    let t = start_with(spec).await;
    let dir = t.cluster.layout().dir().to_path_buf();
    let out = tempfile::tempdir().expect("temp dir");

    let mut first = config(&dir);
    first.out = Some(out.path().join("first"));
    first.slo = Some("final_ratio>=0.99".parse().expect("slo"));
    let outcome = loadgen::run(&first, Default::default()).await.expect("first run");
    check(&outcome, "first run", || t.cluster.logs(20));
    assert!(outcome.plan.relies_on_reuse, "1,000 inputs from 800 coins reuse change");
    for file in loadgen::report::FILES {
        assert!(out.path().join("first").join(file).is_file(), "{file} written");
    }
    assert!(outcome.safety.unchecked.is_empty(), "every node checked: {:?}", outcome.safety);

    // The post-run checker agrees with the run, and fails when the history
    // names a final transaction no node holds.
    let verify = |run_dir: std::path::PathBuf| loadgen::verify::VerifyConfig {
        run_dir,
        target: Target::ClusterDir { dir: dir.clone(), dev_wallet: false, only: Vec::new() },
        wait: Duration::from_secs(20),
        byzantine: Vec::new(),
    };
    let report = loadgen::verify::verify(&verify(out.path().join("first"))).await.expect("verify");
    assert!(report.ok, "{}", loadgen::verify::text(&report));
    assert_eq!(report.final_in_history, outcome.accounting.regular.r#final, "every final tx asked");
    assert!(report.blocks_compared > 1, "{}", loadgen::verify::text(&report));
    let doctored = out.path().join("doctored");
    std::fs::create_dir_all(&doctored).expect("dir");
    std::fs::copy(out.path().join("first/summary.json"), doctored.join("summary.json"))
        .expect("copy");
    let history = std::fs::read_to_string(out.path().join("first/history.csv")).expect("history");
    let fake = format!("{},0,0,node1,final,,,,,regular,1,,1\n", protocol::TxId([0xab; 32]));
    std::fs::write(doctored.join("history.csv"), history + &fake).expect("write");
    let mut doctored = verify(doctored);
    doctored.wait = Duration::from_millis(200);
    let report = loadgen::verify::verify(&doctored).await.expect("verify");
    assert!(!report.ok && report.lost == 1, "{}", loadgen::verify::text(&report));
    assert_eq!(report.lost_on.len(), 4, "missing on every node: {:?}", report.lost_on);

    // The same cluster again: the pool is rebuilt from listunspent, with
    // a warm-up and some conflicting pairs this time.
    let mut second = config(&dir);
    second.warmup = Duration::from_secs(1);
    second.double_spend_pct = 5.0;
    let outcome = loadgen::run(&second, Default::default()).await.expect("second run finds coins");
    check(&outcome, "second run", || t.cluster.logs(20));
    assert!(outcome.accounting.warmup_excluded >= 100, "one second of warm-up, excluded");
    assert!(outcome.accounting.pairs.pairs > 0, "some conflicting pairs were sent");

    let sweep = loadgen::SweepConfig {
        base: config(&dir),
        slo: "final_ratio>=0.99".parse().expect("slo"),
        from: 50.0,
        step: 50.0,
        max: 100.0,
        duration: Duration::from_secs(2),
        out: Some(out.path().join("sweep")),
    };
    let outcome = loadgen::sweep(&sweep, Default::default()).await.expect("sweep");
    let table = loadgen::sweep::table(&outcome);
    assert_eq!(outcome.steps.len(), 2, "{table}\n{:?}", outcome.steps[0].metrics);
    assert_eq!(outcome.highest_held_tps, Some(100.0), "{table}\n{}", t.cluster.logs(20));
    assert!(outcome.steps.iter().all(|s| s.settle_seconds < 120.0), "every step settled: {table}");
    assert!(table.contains("settled_s"), "{table}");
    assert!(out.path().join("sweep").join("sweep.json").is_file());
    t.cluster.shutdown().await.expect("shutdown");
}

// ---------------------------------------------------------------------------
// A node whose RPC wants a token (rpc.auth = "token"), through the binary.
// ---------------------------------------------------------------------------

/// The secret of the node below (rpc.token wants at least 16 characters).
const TOKEN: &str = "e2e-rpc-token-0123456789abcdef";
/// The longest one condition (the node's start, one loadgen run) is waited for.
const WAIT: Duration = Duration::from_secs(60);

/// The last lines of a log file.
fn tail(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| format!("({e})"));
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// `loadgen ARGS` with `env`, bounded by [`WAIT`]; TIMECOIN_RPC_TOKEN_FILE
/// comes only from `env`.
async fn loadgen(
    args: &[&std::ffi::OsStr],
    env: &[(&str, &std::path::Path)],
) -> std::process::Output {
    let exe = cluster::binaries::find("loadgen").unwrap_or_else(|e| panic!("{e}"));
    let run = tokio::process::Command::new(exe)
        .args(args)
        .env_remove("TIMECOIN_RPC_TOKEN_FILE")
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(WAIT, run).await {
        Ok(output) => output.expect("run loadgen"),
        Err(_) => panic!("loadgen {args:?} still running after {WAIT:?}"),
    }
}

/// loadgen against a `timed --dev` configured with `rpc.auth = "token"`,
/// as a node off loopback (a Kubernetes pod) is: with `--rpc-token-file`
/// (the file a mounted Secret would be, with a trailing newline) a run
/// sends, follows the event stream and finalizes every transaction, and
/// `loadgen verify` with `TIMECOIN_RPC_TOKEN_FILE` checks it; without the
/// token, or with a wrong one, loadgen stops before sending anything, exit
/// 3, saying the node refused its credentials; with a cluster directory the
/// token file is a usage error (exit 2). The secret is never printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loadgen_reaches_a_node_with_rpc_auth_token_through_rpc_token_file() {
    let _lock = cluster::testing::exclusive().expect("cluster test lock");
    let tmp = tempfile::tempdir().expect("temp dir");
    let config = tmp.path().join("timed.toml");
    std::fs::write(&config, format!("[rpc]\nauth = \"token\"\ntoken = \"{TOKEN}\"\n"))
        .expect("write timed.toml");
    let token_file = tmp.path().join("rpc-token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).expect("write the token file");
    let wrong_file = tmp.path().join("wrong-token");
    std::fs::write(&wrong_file, "not-the-token-0123456789\n").expect("write the wrong token");
    let data = tmp.path().join("data");
    let log = tmp.path().join("timed.log");
    let out = std::fs::File::create(&log).expect("create the node log");
    let mut node =
        tokio::process::Command::new(cluster::binaries::timed().unwrap_or_else(|e| panic!("{e}")))
            .arg("--config")
            .arg(&config)
            .arg("--dev")
            .arg("--data-dir")
            .arg(&data)
            .args(["--rpc-listen", "127.0.0.1:0", "--p2p-listen", "127.0.0.1:0"])
            .env_remove("RUST_LOG")
            .stdin(std::process::Stdio::null())
            .stdout(out.try_clone().expect("clone the log handle"))
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn timed");
    let pid = node.id().expect("a running child has a pid");

    // Up when its node.json is written and it answers the token.
    let bearer_client = |url: &str| {
        client::RpcClient::new(url, client::RpcAuth::Bearer(TOKEN.into())).expect("client")
    };
    let deadline = std::time::Instant::now() + WAIT;
    let url = loop {
        if let Ok(info) = client::rpc::read_node_info(&data)
            && info.pid == pid
            && bearer_client(&info.rpc_url).getblockcount().await.is_ok()
        {
            break info.rpc_url;
        }
        if let Some(status) = node.try_wait().expect("poll timed") {
            panic!("timed exited ({status}) before answering\n{}", tail(&log));
        }
        assert!(std::time::Instant::now() < deadline, "timed not up in {WAIT:?}\n{}", tail(&log));
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // The node does want the token (else nothing below would be shown).
    let open = client::RpcClient::new(&url, client::RpcAuth::None).expect("client");
    let refused = open.getblockcount().await.expect_err("a request without the token");
    assert!(refused.is_unauthorized(), "{refused}");

    let run_dir = tmp.path().join("run");
    let base: Vec<&std::ffi::OsStr> = vec![
        "--rpc".as_ref(),
        url.as_ref(),
        "--datadir".as_ref(),
        data.as_os_str(),
        "--wallet".as_ref(),
        "--tps".as_ref(),
        "20".as_ref(),
        "--count".as_ref(),
        "20".as_ref(),
        "--quiet".as_ref(),
    ];
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();

    // With the token file: every transaction final, as the node's event
    // stream (which needs the token too) told.
    let mut with = base.clone();
    with.extend([
        "--rpc-token-file".as_ref(),
        token_file.as_os_str(),
        "--json".as_ref(),
        "--out".as_ref(),
        run_dir.as_os_str(),
    ]);
    let run = loadgen(&with, &[]).await;
    let stdout = text(&run.stdout);
    let stderr = text(&run.stderr);
    assert!(run.status.success(), "with the token: {stderr}\n{stdout}\n{}", tail(&log));
    let summary: serde_json::Value = serde_json::from_str(&stdout).expect("--json summary");
    assert_eq!(summary["sent"], 20.0, "{stdout}");
    assert_eq!(summary["final"], 20.0, "{stdout}\n{}", tail(&log));
    assert_eq!(summary["safety"]["ok"], true, "{stdout}");

    // The post-run checker, with the token file from the environment.
    let verify = loadgen(
        &["verify".as_ref(), run_dir.as_os_str(), "--rpc".as_ref(), url.as_ref()],
        &[("TIMECOIN_RPC_TOKEN_FILE", &token_file)],
    )
    .await;
    let report = text(&verify.stdout);
    assert!(verify.status.success(), "verify: {}\n{report}", text(&verify.stderr));
    assert!(report.contains("verify: ok"), "{report}");

    // Without the token: refused before anything is sent.
    let without = loadgen(&base, &[]).await;
    let stderr = text(&without.stderr);
    assert_eq!(without.status.code(), Some(3), "without the token: {stderr}");
    assert!(without.stdout.is_empty(), "no run without the token: {}", text(&without.stdout));
    assert!(stderr.contains("refused loadgen's credentials (authentication failed"), "{stderr}");
    assert!(stderr.contains("--rpc-token-file"), "the error says what to pass: {stderr}");

    // A wrong token: the same, naming the file.
    let mut wrong = base.clone();
    wrong.extend(["--rpc-token-file".as_ref(), wrong_file.as_os_str()]);
    let wrong_run = loadgen(&wrong, &[]).await;
    let stderr = text(&wrong_run.stderr);
    assert_eq!(wrong_run.status.code(), Some(3), "a wrong token: {stderr}");
    assert!(stderr.contains("authentication failed"), "{stderr}");
    assert!(stderr.contains(&wrong_file.display().to_string()), "names the file: {stderr}");

    // A cluster directory is reached with its nodes' cookies: the token
    // file (here from the environment) is refused, saying why.
    let cluster_dir = tmp.path().join("no-cluster");
    let cluster_run = loadgen(
        &["--dir".as_ref(), cluster_dir.as_os_str(), "--count".as_ref(), "1".as_ref()],
        &[("TIMECOIN_RPC_TOKEN_FILE", &token_file)],
    )
    .await;
    let stderr = text(&cluster_run.stderr);
    assert_eq!(cluster_run.status.code(), Some(2), "a cluster dir with a token file: {stderr}");
    assert!(stderr.contains("not for a cluster directory"), "{stderr}");

    // The secret was never printed, nor written to the run's files.
    for output in [&without, &wrong_run, &run, &verify, &cluster_run] {
        assert!(!text(&output.stdout).contains(TOKEN) && !text(&output.stderr).contains(TOKEN));
    }
    for entry in std::fs::read_dir(&run_dir).expect("the run's files") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("read");
        assert!(
            !String::from_utf8_lossy(&bytes).contains(TOKEN),
            "{} has the token",
            path.display()
        );
    }
    node.start_kill().expect("stop timed");
    let _ = node.wait().await;
}
