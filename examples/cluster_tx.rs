//! Starts a 4-node cluster with the `cluster` library, sends a transaction
//! whose inputs belong to two different keys, prints when it became final
//! on each node, and stops the cluster.
//!
//! `cargo build --workspace && cargo run -p examples --example cluster_tx`

use std::time::{Duration, Instant};

use client::wallet::Wallet;
use cluster::{Cluster, ClusterSpec, wait_ready};
use protocol::{Amount, Network, OutPoint, TxOut};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let spec =
        ClusterSpec { nodes: 4, pool_keys: 2, pool_coins_per_key: 4, ..ClusterSpec::default() };
    let started = Instant::now();
    let mut cluster = Cluster::create(&dir.path().join("c4"), &spec).await?;
    cluster.start_all().await?;
    let ready = wait_ready(&cluster.view(), &[0, 1, 2, 3], Duration::from_secs(60)).await?;
    println!(
        "4 masternodes ready in {:.2} s (connected to a quorum {:.0} ms, probe final everywhere {:.0} ms, block committed everywhere {:.0} ms)",
        started.elapsed().as_secs_f64(),
        ready.connected.as_secs_f64() * 1e3,
        ready.probe_final.as_secs_f64() * 1e3,
        ready.block.as_secs_f64() * 1e3,
    );

    // The cluster's pool keys as one wallet; one coin of each of two keys.
    let keys: Vec<_> =
        cluster.file().pool.key_files.iter().map(|f| cluster.layout().resolve(f)).collect();
    let wallet = Wallet::load(Network::Dev, &keys)?;
    let node1 = cluster.rpc(0)?;
    let mut inputs = Vec::new();
    for address in wallet.addresses().iter().take(2) {
        let coin = node1.listunspent(&[*address]).await?.remove(0);
        inputs.push((
            OutPoint { txid: coin.txid, vout: coin.vout },
            TxOut { value: Amount::from_sat(coin.value_sat), address: address.payload },
        ));
    }
    let total: u64 = inputs.iter().map(|(_, o)| o.value.sat()).sum();
    let fee = cluster
        .genesis()
        .params
        .required_fee(2, Amount::from_sat(total))
        .ok_or("fee overflow")?
        .sat();
    let to = wallet.addresses()[0];
    let now = hostio::now_ms() as i64;
    let tx = wallet.build_and_sign(
        cluster.genesis().chain_id,
        &inputs,
        vec![TxOut { value: Amount::from_sat(total - fee), address: to.payload }],
        now,
    )?;

    let sent = Instant::now();
    let txid = node1.sendrawtransaction(&tx).await?.txid;
    println!("sent {txid} (2 inputs, 2 keys) to node1");
    let mut pending: Vec<usize> = (0..4).collect();
    while !pending.is_empty() {
        let mut still = Vec::new();
        for i in pending {
            let final_here = cluster
                .rpc(i)?
                .gettransactionfinality(&txid)
                .await
                .is_ok_and(|f| f.state.is_final());
            if final_here {
                println!(
                    "  final on node{} after {:.1} ms",
                    i + 1,
                    sent.elapsed().as_secs_f64() * 1000.0
                );
            } else {
                still.push(i);
            }
        }
        pending = still;
        if sent.elapsed() > Duration::from_secs(30) {
            return Err(format!("not final everywhere within 30 s: {pending:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    cluster.shutdown().await?;
    println!("cluster stopped");
    Ok(())
}
