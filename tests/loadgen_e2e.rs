//! loadgen against four real masternodes (q = 3, f = 1), through its
//! library API: a short open-loop run whose accounting closes, whose
//! transactions are final on every node, and whose safety checks pass; then
//! a second run on the same cluster, which must find its coins again from
//! `listunspent` (change of the first run included); then a two-step sweep,
//! each step starting on a settled cluster.

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
