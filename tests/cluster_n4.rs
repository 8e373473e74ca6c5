//! Four real masternodes on loopback (q = 3, f = 1), each scenario named by
//! what it shows.

use std::time::{Duration, Instant};

use e2e::*;
use protocol::rpc::TxState;

const WAIT: Duration = Duration::from_secs(30);
const ALL: [usize; 4] = [0, 1, 2, 3];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n4_two_input_tx_final_on_every_node() {
    let t = start(4).await;
    let c = &t.cluster;
    let wallet = pool_wallet(c);
    // Two transactions, each spending coins of two different keys, sent to
    // two different nodes.
    let (a1, b1) = two_key_coins(c, 0, 0).await;
    let (a2, b2) = two_key_coins(c, 0, 1).await;
    let first = send(c, 0, &spend(c, &wallet, &[&a1, &b1])).await.unwrap();
    let second = send(c, 2, &spend(c, &wallet, &[&a2, &b2])).await.unwrap();
    wait_final(c, &ALL, &first, WAIT).await;
    wait_final(c, &ALL, &second, WAIT).await;
    t.cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n4_double_spend_at_most_one_final_and_blocks_continue() {
    let t = start(4).await;
    let c = &t.cluster;
    let wallet = pool_wallet(c);
    let (a, b) = two_key_coins(c, 0, 0).await;
    let left = spend(c, &wallet, &[&a]);
    let right = spend(c, &wallet, &[&a, &b]);
    // Both are sent at once to different nodes; each is accepted or
    // rejected with a JSON-RPC error (if the other is already locked or
    // final there), never a failed call.
    let (sent_left, sent_right) = tokio::join!(send(c, 0, &left), send(c, 3, &right));
    for (what, sent) in [("left", &sent_left), ("right", &sent_right)] {
        assert!(
            matches!(sent, Ok(_) | Err(client::ClientError::Rpc { .. })),
            "{what}: the node did not answer: {sent:?}"
        );
    }
    assert!(sent_left.is_ok() || sent_right.is_ok(), "at least one side was accepted");
    let (l, r) = (left.txid(c.genesis().chain_id), right.txid(c.genesis().chain_id));
    let start_height = height(c, 0).await;
    wait_height(c, &ALL, start_height + 3, WAIT).await;
    // Across all nodes together, not node by node: node1 finalizing one
    // side and node4 the other is the violation this test exists for.
    let mut states = Vec::new();
    for i in ALL {
        states.push((state(c, i, &l).await, state(c, i, &r).await));
    }
    let final_somewhere = |side: usize| {
        states.iter().any(|s| if side == 0 { s.0 } else { s.1 }.is_some_and(TxState::is_final))
    };
    let (left_final, right_final) = (final_somewhere(0), final_somewhere(1));
    assert!(!(left_final && right_final), "both sides final across the nodes: {states:?}");
    if left_final || right_final {
        // The final side is final on every node; the other can never be
        // final on any: lost, given up as conflicted before the winner was
        // final there (it stays so), rejected, or never known.
        let (winner, loser) = if left_final { (l, r) } else { (r, l) };
        wait_final(c, &ALL, &winner, WAIT).await;
        for i in ALL {
            let s = state(c, i, &loser).await;
            assert!(
                matches!(s, None | Some(TxState::Lost | TxState::Conflicted | TxState::Rejected)),
                "node{}: the conflicting side is {s:?}, not settled as a loser",
                i + 1
            );
        }
    } else {
        // Votes split: neither can reach q = 3 without an equivocation.
        for (i, s) in states.iter().enumerate() {
            for side in [s.0, s.1].into_iter().flatten() {
                assert!(
                    matches!(side, TxState::Conflicted | TxState::Contested | TxState::Rejected),
                    "node{}: {states:?}",
                    i + 1
                );
            }
        }
    }
    t.cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n4_blocks_agree_on_every_node() {
    let t = start(4).await;
    let c = &t.cluster;
    let wallet = pool_wallet(c);
    // Some transactions so blocks are not all empty.
    for k in 0..3 {
        let (a, b) = two_key_coins(c, 0, k).await;
        send(c, k % 4, &spend(c, &wallet, &[&a, &b])).await.unwrap();
    }
    wait_height(c, &ALL, 5, WAIT).await;
    let top = {
        let mut h = u64::MAX;
        for i in ALL {
            h = h.min(height(c, i).await);
        }
        h
    };
    for height in 0..=top {
        let expected = rpc(c, 0).getblockhash(height).await.unwrap();
        for i in 1..4 {
            assert_eq!(
                rpc(c, i).getblockhash(height).await.unwrap(),
                expected,
                "height {height} on node{}",
                i + 1
            );
        }
    }
    t.cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n4_kill9_one_node_others_continue_then_it_catches_up_and_votes() {
    let mut t = start(4).await;
    let wallet = pool_wallet(&t.cluster);
    let (a, b) = two_key_coins(&t.cluster, 0, 0).await;
    t.cluster.kill_node(1).await.unwrap();
    let others = [0, 2, 3];
    let during = send(&t.cluster, 0, &spend(&t.cluster, &wallet, &[&a, &b])).await.unwrap();
    wait_final(&t.cluster, &others, &during, WAIT).await;
    let h = height(&t.cluster, 0).await;
    wait_height(&t.cluster, &others, h + 3, WAIT).await;
    // It restarts from its store and catches up...
    t.cluster.start_node(1).await.unwrap();
    let target = height(&t.cluster, 0).await;
    wait_height(&t.cluster, &[1], target, WAIT).await;
    wait_final(&t.cluster, &[1], &during, WAIT).await;
    // ...and votes: with node4 gone, q = 3 needs node2.
    t.cluster.kill_node(3).await.unwrap();
    let (a, b) = two_key_coins(&t.cluster, 0, 1).await;
    let after = send(&t.cluster, 2, &spend(&t.cluster, &wallet, &[&a, &b])).await.unwrap();
    wait_final(&t.cluster, &[0, 1, 2], &after, WAIT).await;
    t.cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n4_two_stopped_nothing_final_then_resumes() {
    let mut t = start(4).await;
    let wallet = pool_wallet(&t.cluster);
    let (a, b) = two_key_coins(&t.cluster, 0, 0).await;
    t.cluster.stop_node(2).await.unwrap();
    t.cluster.stop_node(3).await.unwrap();
    let stuck_height = height(&t.cluster, 0).await;
    let txid = send(&t.cluster, 0, &spend(&t.cluster, &wallet, &[&a, &b])).await.unwrap();
    // Two of four is below q = 3: watch it stay unfinal for three block
    // intervals, and no block commit.
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        for i in [0, 1] {
            let s = state(&t.cluster, i, &txid).await;
            assert!(
                !s.is_some_and(TxState::is_final),
                "node{} finalized with two of four: {s:?}",
                i + 1
            );
            assert!(
                height(&t.cluster, i).await <= stuck_height + 1,
                "a block committed without a quorum"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    t.cluster.start_node(2).await.unwrap();
    t.cluster.start_node(3).await.unwrap();
    wait_final(&t.cluster, &ALL, &txid, WAIT).await;
    wait_height(&t.cluster, &ALL, stuck_height + 2, WAIT).await;
    t.cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n4_finality_is_reported_only_once_durable_even_on_a_slow_disk() {
    // node1's persists take 500 ms longer (a test build's slow disk). The
    // moment it first says "final" it is killed (-9), cut off from the
    // others, and restarted: what it said must be on its disk, since it
    // cannot learn it again from anyone.
    let spec = cluster::ClusterSpec {
        nodes: 4,
        pool_keys: 4,
        pool_coins_per_key: 20,
        byzantine: std::collections::BTreeMap::from([("node1".into(), "slow-disk".into())]),
        ..cluster::ClusterSpec::default()
    };
    let mut t = start_with(spec).await;
    let wallet = pool_wallet(&t.cluster);
    let (a, b) = two_key_coins(&t.cluster, 1, 0).await;
    let txid = send(&t.cluster, 1, &spend(&t.cluster, &wallet, &[&a, &b])).await.unwrap();
    // Several askers at once, as clients are: some questions wait in the
    // node's queue while a finalizing vote does.
    let deadline = Instant::now() + WAIT;
    let (said_final, mut first) = tokio::sync::mpsc::channel::<()>(1);
    let askers: Vec<_> = (0..16)
        .map(|_| {
            let node1 = rpc(&t.cluster, 0);
            let said_final = said_final.clone();
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let state = node1.gettransactionfinality(&txid).await.map(|f| f.state);
                    if state.is_ok_and(|s| s.is_final()) {
                        // The first one to hear it stops the test's wait.
                        said_final.try_send(()).ok();
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            })
        })
        .collect();
    let heard = tokio::time::timeout(WAIT, first.recv()).await;
    assert!(matches!(heard, Ok(Some(()))), "never final at node1");
    t.cluster.kill_node(0).await.unwrap();
    t.cluster.partition(&[&[0], &[1, 2, 3]]);
    t.cluster.start_node(0).await.unwrap();
    let restarted = rpc(&t.cluster, 0);
    while restarted.getblockcount().await.is_err() {
        assert!(
            Instant::now() < deadline + WAIT,
            "node1 did not come back\n{}",
            t.cluster.logs(20)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Unknown (an RPC error) or not final: lost.
    let after = restarted.gettransactionfinality(&txid).await.map(|f| f.state);
    assert!(
        after.as_ref().is_ok_and(|s| s.is_final()),
        "node1 said final, then lost it in a crash: {after:?}"
    );
    for asker in askers {
        asker.abort();
    }
    t.cluster.heal();
    t.cluster.shutdown().await.unwrap();
}
