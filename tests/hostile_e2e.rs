//! Five real masternodes and a hostile observer (issue [1/5], findings 2-4
//! and 7-8 on real processes): anyone who completes the observer handshake
//! sends every message the review found could halt or poison the network.
//! Afterwards every node is alive, a new transaction is final on every
//! node, no node grew by 64 MB, and the refusals are counted in /metrics.

use std::time::Duration;

use e2e::*;

const WAIT: Duration = Duration::from_secs(30);
const ALL: [usize; 5] = [0, 1, 2, 3, 4];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n5_a_hostile_observer_halts_nothing() {
    let mut t = start(5).await;
    let layout = t.cluster.layout().clone();
    let mut rss_before = Vec::new();
    for i in ALL {
        let pid = t.cluster.node_pid(i).expect("running");
        rss_before.push(cluster::status::rss_of(pid).expect("rss"));
    }
    for (i, name) in t.cluster.names().iter().enumerate() {
        let info = cluster::read_node_info(&layout, name).expect("node.json");
        let p2p = info.p2p_address.parse().expect("p2p address");
        let report = examples::hostile::attack(p2p, t.cluster.genesis(), i as u64).await;
        assert!(report.sent > 0, "{name}: the observer got in at least once: {report:?}");
    }
    let wallet = pool_wallet(&t.cluster);
    let (a, b) = two_key_coins(&t.cluster, 0, 0).await;
    let txid = send(&t.cluster, 0, &spend(&t.cluster, &wallet, &[&a, &b])).await.expect("sent");
    wait_final(&t.cluster, &ALL, &txid, WAIT).await;
    let start = height(&t.cluster, 0).await;
    wait_height(&t.cluster, &ALL, start + 2, WAIT).await;
    for i in ALL {
        let pid = t.cluster.node_pid(i).unwrap_or_else(|| panic!("node{} died", i + 1));
        let grew = cluster::status::rss_of(pid).expect("rss").saturating_sub(rss_before[i]);
        assert!(grew < 64 << 20, "node{} grew by {} MB", i + 1, grew >> 20);
        let info = rpc(&t.cluster, i).getconsensusinfo().await.expect("consensus info");
        assert!(!info.syncing, "node{} believes a height nobody proved", i + 1);
    }
    // Each node counted what it refused, by reason.
    let metrics = rpc(&t.cluster, 0).metrics().await.expect("GET /metrics");
    let refused: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("timed_refused_messages_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(refused > 0.0, "no refusal counted:\n{metrics}");
    t.cluster.shutdown().await.expect("shutdown");
}
