//! Five real masternodes on loopback (q = 4, f = 1).

use std::time::Duration;

use e2e::*;

const WAIT: Duration = Duration::from_secs(30);
const ALL: [usize; 5] = [0, 1, 2, 3, 4];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n5_restart_all_resume_from_disk_nothing_lost() {
    let mut t = start(5).await;
    let wallet = pool_wallet(&t.cluster);
    let mut finals = vec![t.ready.probe];
    for k in 0..4 {
        let (a, b) = two_key_coins(&t.cluster, 0, k).await;
        let txid = send(&t.cluster, k % 5, &spend(&t.cluster, &wallet, &[&a, &b])).await.unwrap();
        finals.push(txid);
    }
    for txid in &finals {
        wait_final(&t.cluster, &ALL, txid, WAIT).await;
    }
    let before = height(&t.cluster, 0).await;
    let hashes: Vec<_> = {
        let r = rpc(&t.cluster, 0);
        let mut v = Vec::new();
        for h in 0..=before {
            v.push(r.getblockhash(h).await.unwrap());
        }
        v
    };
    // kill -9 everyone: only what is on disk survives.
    for i in ALL {
        t.cluster.kill_node(i).await.unwrap();
    }
    t.cluster.start_all().await.unwrap();
    cluster::wait_ready(&t.cluster.view(), &ALL, WAIT).await.expect("ready again");
    for txid in &finals {
        wait_final(&t.cluster, &ALL, txid, WAIT).await;
    }
    for i in ALL {
        assert!(height(&t.cluster, i).await >= before, "node{} went back in height", i + 1);
        for (h, hash) in hashes.iter().enumerate() {
            assert_eq!(
                rpc(&t.cluster, i).getblockhash(h as u64).await.unwrap(),
                *hash,
                "node{} height {h}",
                i + 1
            );
        }
    }
    t.cluster.shutdown().await.unwrap();
}
