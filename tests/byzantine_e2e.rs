//! Five real masternodes, one of them Byzantine (`timed --byzantine MODE`,
//! a test build), under a steady load from loadgen: finality and blocks go
//! on, no two conflicting transactions are final, every node agrees on every
//! block, and what it signed twice is recorded as evidence.

use std::collections::BTreeMap;
use std::time::Duration;

use cluster::ClusterSpec;
use e2e::*;
use loadgen::{RunConfig, Stop, Target};

const HONEST: [usize; 4] = [0, 1, 2, 3];

async fn steady_load_with_a_byzantine_member(mode: &str) -> u64 {
    let spec = ClusterSpec {
        nodes: 5,
        pool_keys: 8,
        pool_coins_per_key: 100,
        byzantine: BTreeMap::from([("node5".to_string(), mode.to_string())]),
        ..ClusterSpec::default()
    };
    let t = start_with(spec).await;
    let start = height(&t.cluster, 0).await;
    // Clients of the honest nodes: a Byzantine node's own clients are at
    // its mercy (and the others may ban it), which no protocol prevents.
    let mut config = RunConfig::new(Target::ClusterDir {
        dir: t.cluster.layout().dir().to_path_buf(),
        dev_wallet: false,
        only: HONEST.iter().map(|i| format!("node{}", i + 1)).collect(),
    });
    config.tps = 50.0;
    config.stop = Stop::Duration(Duration::from_secs(8));
    config.timeout = Duration::from_secs(30);
    config.double_spend_pct = 5.0;
    config.seed = 11;
    let outcome = loadgen::run(&config, Default::default()).await.expect("the run");
    let summary = loadgen::report::summary::text(&outcome);
    let logs = || t.cluster.logs(30);
    assert!(outcome.accounting.closes(), "{mode}: the accounting does not close\n{summary}");
    let ratio = outcome.metrics.get("final_ratio").unwrap_or(0.0);
    assert!(ratio >= 0.99, "{mode}: final_ratio {ratio}\n{summary}\n{}", logs());
    assert!(outcome.safety.ok, "{mode}: safety {:?}\n{summary}", outcome.safety.violations);
    assert_eq!(outcome.accounting.pairs.both_final, 0, "{mode}: both sides final\n{summary}");
    assert!(outcome.safety.blocks_compared > 0, "{mode}: blocks compared\n{summary}");
    wait_height(&t.cluster, &HONEST, start + 5, Duration::from_secs(60)).await;
    let mut equivocations = 0;
    for i in HONEST {
        equivocations += rpc(&t.cluster, i).getconsensusinfo().await.expect("info").equivocations;
    }
    t.cluster.shutdown().await.expect("shutdown");
    equivocations
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n5_an_equivocating_member_is_recorded_and_halts_nothing() {
    let evidence = steady_load_with_a_byzantine_member("equivocate").await;
    assert!(evidence > 0, "honest nodes recorded no equivocation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n5_a_chaotic_member_halts_nothing() {
    steady_load_with_a_byzantine_member("chaos").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n5_a_member_corrupting_block_bodies_halts_nothing() {
    steady_load_with_a_byzantine_member("corrupt-bodies").await;
}
