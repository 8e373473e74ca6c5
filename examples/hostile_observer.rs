//! The by-hand check of issue [1/5]: a hostile observer against a running
//! cluster. It completes the observer handshake with every node (anyone
//! can: no committee key), sends each message the hostile-peer review found
//! could halt or poison the network (see `examples::hostile`), then sends
//! one new two-key transaction and reports how long it took to be final on
//! every node, and each node's RSS before and after.
//!
//! ```text
//! timectl up --nodes 5
//! cargo run -p examples --example hostile_observer -- --dir .timecluster
//! ```
//!
//! Exit code 0 when every node is alive, the transaction is final on every
//! node (within 10 s) and no node grew by 64 MB or more; 1 otherwise.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use clap::Parser;
use client::wallet::Wallet;
use cluster::status::rss_of;
use cluster::{ClusterView, Layout, read_node_info};
use protocol::{Amount, Network, OutPoint, TxOut};

#[derive(Parser, Debug)]
#[command(about = "Attack a running cluster as a hostile observer, then check it still finalizes")]
struct Args {
    /// The cluster directory (as for timectl).
    #[arg(long, default_value = ".timecluster")]
    dir: PathBuf,
}

const RSS_BOUND: u64 = 64 << 20;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let layout = Layout::new(&args.dir);
    let view = ClusterView::load(&layout)
        .with_context(|| format!("no cluster in {} (run timectl up first)", args.dir.display()))?;
    let names = view.names();
    let mut before = Vec::new();
    for name in &names {
        let info = read_node_info(&layout, name)
            .ok_or_else(|| anyhow!("{name} has no node.json: is it running? (timectl status)"))?;
        before.push((info.pid, rss_of(info.pid).unwrap_or(0)));
        let p2p = info.p2p_address.parse().context("node.json p2p_address")?;
        let report = examples::hostile::attack(p2p, view.genesis(), before.len() as u64).await;
        println!(
            "{name}: sent {} hostile messages; it shut the door {} time(s)",
            report.sent, report.shut_out
        );
    }

    // A new transaction, two inputs of two pool keys.
    let keys: Vec<_> = view.file().pool.key_files.iter().map(|f| layout.resolve(f)).collect();
    let wallet = Wallet::load(Network::Dev, &keys)?;
    let node1 = view.rpc(0)?;
    let mut inputs = Vec::new();
    for address in wallet.addresses().iter().take(2) {
        let coin = node1
            .listunspent(&[*address])
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| anyhow!("pool key {address} has no coins left"))?;
        inputs.push((
            OutPoint { txid: coin.txid, vout: coin.vout },
            TxOut { value: Amount::from_sat(coin.value_sat), address: address.payload },
        ));
    }
    let total: u64 = inputs.iter().map(|(_, o)| o.value.sat()).sum();
    let fee = view.genesis().params.required_fee(2, Amount::from_sat(total)).context("fee")?.sat();
    let now = hostio::now_ms() as i64;
    let tx = wallet.build_and_sign(
        view.genesis().chain_id,
        &inputs,
        vec![TxOut { value: Amount::from_sat(total - fee), address: inputs[0].1.address }],
        now,
    )?;
    let sent = Instant::now();
    let txid = node1.sendrawtransaction(&tx).await?.txid;
    let mut problems = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let rpc = view.rpc(i)?;
        loop {
            let state = rpc.gettransactionfinality(&txid).await.map(|f| f.state);
            if state.as_ref().is_ok_and(|s| s.is_final()) {
                println!(
                    "{name}: new transaction final after {:.0} ms",
                    sent.elapsed().as_secs_f64() * 1e3
                );
                break;
            }
            if sent.elapsed() > Duration::from_secs(10) {
                problems.push(format!(
                    "{name}: the new transaction is not final after 10 s ({state:?})"
                ));
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    for (name, (pid, rss_before)) in names.iter().zip(&before) {
        let Some(rss_after) = rss_of(*pid) else {
            problems.push(format!("{name} (pid {pid}) is gone"));
            continue;
        };
        let grew = rss_after.saturating_sub(*rss_before);
        println!("{name}: RSS {} MB -> {} MB", rss_before >> 20, rss_after >> 20);
        if grew >= RSS_BOUND {
            problems.push(format!("{name} grew by {} MB", grew >> 20));
        }
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("\n"));
    }
    println!("ok: every node refused the observer and still finalizes");
    Ok(())
}
