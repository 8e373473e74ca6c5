//! A null node: N RPC endpoints that accept every transaction at once and
//! report it final on every endpoint's event stream, without validating,
//! voting or storing anything. It measures the load generator alone (its
//! sending rate, send lag and CPU) where a real cluster would saturate
//! first. It is a benchmark fixture, never a test of the node.
//!
//! ```text
//! cargo run --release -p loadgen --example null_node -- --nodes 5 --dir /tmp/null
//! # then run the loadgen command it prints
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hostio::now_ms;

use axum::Router;
use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::routing::{get, post};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use protocol::genesis::{Allocation, GenesisMasternode};
use protocol::rpc::{StreamEvent, TxState};
use protocol::{
    Address, Amount, BlockHash, ChainId, ConsensusParams, Genesis, Network, NodeId, SecretKey,
    Tier, Transaction, TxId,
};

struct Chain {
    genesis: Genesis,
    genesis_value: Value,
    hash: String,
    addresses: Vec<Address>,
    coins_per_key: u32,
    coin_sat: u64,
    events: broadcast::Sender<StreamEvent>,
    next_id: AtomicU64,
    height: AtomicU64,
}

impl Chain {
    fn publish(&self, make: impl FnOnce(u64) -> StreamEvent) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let _ = self.events.send(make(id));
    }

    fn call(&self, method: &str, params: &Value) -> Result<Value, (i64, String)> {
        let height = self.height.load(Ordering::Relaxed);
        let tip = format!("{:064x}", height + 1);
        Ok(match method {
            "getgenesis" => self.genesis_value.clone(),
            "getblockchaininfo" => json!({
                "chain": "dev", "chain_id": self.genesis.chain_id.0, "genesis_hash": self.hash,
                "blocks": height, "best_block_hash": tip, "best_block_time_ms": now_ms(),
                "utxo_commitment": self.hash, "syncing": false, "final_not_in_block": 0
            }),
            "getblockcount" => json!(height),
            "getblockhash" => json!(format!("{:064x}", params[0].as_u64().unwrap_or(0) + 1)),
            "getmempoolinfo" => json!({
                "size": 0, "bytes": 0, "orphans": 0, "orphan_bytes": 0, "final_not_in_block": 0,
                "bodiless": 0, "max_transactions": 1_000_000, "max_bytes": 1_000_000_000
            }),
            "getconsensusinfo" => json!({
                "height": height, "tip": tip, "current_height": height + 1, "round": 0,
                "step": "propose", "proposer": self.genesis.committee[0].id, "recent_rounds": [],
                "view_changes": 0, "votes_seen": [], "syncing": false, "equivocations": 0,
                "quorum": 1, "total_weight": 1
            }),
            "listunspent" => {
                let wanted: Vec<String> = match &params[0] {
                    Value::Array(a) => {
                        a.iter().filter_map(|v| v.as_str().map(String::from)).collect()
                    }
                    Value::String(s) => vec![s.clone()],
                    _ => Vec::new(),
                };
                let mut out = Vec::new();
                for (k, address) in self.addresses.iter().enumerate() {
                    if !wanted.contains(&address.to_string()) {
                        continue;
                    }
                    for vout in 0..self.coins_per_key {
                        let mut txid = [0u8; 32];
                        txid[..8].copy_from_slice(&(k as u64).to_le_bytes());
                        txid[8..16].copy_from_slice(&now_ms().to_le_bytes());
                        out.push(json!({
                            "txid": TxId(txid), "vout": vout, "address": address,
                            "value_sat": self.coin_sat, "amount": Amount::from_sat(self.coin_sat).to_string(),
                            "confirmed": true
                        }));
                    }
                }
                Value::Array(out)
            }
            "sendrawtransaction" => {
                let hex = params[0].as_str().ok_or((-32602, "hex missing".to_string()))?;
                let tx = Transaction::from_hex(hex).map_err(|e| (-22, e.to_string()))?;
                let txid = tx.txid(self.genesis.chain_id);
                for state in [TxState::Pending, TxState::Final] {
                    self.publish(|id| StreamEvent::Tx {
                        id,
                        at_ms: now_ms(),
                        txid,
                        state,
                        weight: 1,
                        rejection: None,
                    });
                }
                json!({"txid": txid, "state": "pending", "already_known": false})
            }
            "gettransactionfinality" => json!({
                "txid": params[0], "state": "final", "weight": 1, "quorum": 1, "total_weight": 1,
                "block_height": null
            }),
            other => return Err((-32601, format!("method {other} not found"))),
        })
    }
}

fn answer(chain: &Chain, request: &Value) -> Value {
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let method = request.get("method").and_then(Value::as_str).unwrap_or("");
    let params = request.get("params").cloned().unwrap_or(Value::Null);
    match chain.call(method, &params) {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err((code, message)) => {
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
        }
    }
}

async fn rpc(State(chain): State<Arc<Chain>>, body: axum::body::Bytes) -> axum::Json<Value> {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    axum::Json(match &request {
        Value::Array(calls) => Value::Array(calls.iter().map(|c| answer(&chain, c)).collect()),
        single => answer(&chain, single),
    })
}

async fn events(
    State(chain): State<Arc<Chain>>,
) -> Sse<impl futures::Stream<Item = Result<SseEvent, std::convert::Infallible>>> {
    let feed = tokio_stream_from(chain.events.subscribe());
    Sse::new(feed.map(|event| {
        let data = serde_json::to_string(&event).unwrap_or_default();
        Ok(SseEvent::default().id(event.id().to_string()).event(event.name()).data(data))
    }))
    .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

fn tokio_stream_from(
    receiver: broadcast::Receiver<StreamEvent>,
) -> impl futures::Stream<Item = StreamEvent> {
    futures::stream::unfold(receiver, |mut receiver| async move {
        match receiver.recv().await {
            Ok(event) => Some((event, receiver)),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                let reason = format!("{missed} events dropped: the reader is too slow");
                Some((StreamEvent::Lagged { id: 0, at_ms: now_ms(), reason }, receiver))
            }
            Err(broadcast::error::RecvError::Closed) => None,
        }
    })
}

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let nodes: usize = arg(&args, "--nodes", 5);
    let keys: usize = arg(&args, "--keys", 32);
    let coins_per_key: u32 = arg(&args, "--coins-per-key", 1_000);
    let dir: PathBuf = arg(&args, "--dir", PathBuf::from("/tmp/null-node"));
    std::fs::create_dir_all(&dir)?;
    let secrets: Vec<SecretKey> =
        (0..keys).map(|i| SecretKey::from_seed([i as u8 + 1; 32])).collect();
    let mut key_files = Vec::new();
    for (i, key) in secrets.iter().enumerate() {
        let path = dir.join(format!("key-{i:03}.key"));
        let file = protocol::keyfile::KeyFile::new(key, Network::Dev);
        std::fs::write(&path, serde_json::to_vec_pretty(&file).unwrap_or_default())?;
        key_files.push(path);
    }
    let addresses: Vec<Address> =
        secrets.iter().map(|k| Address::from_public_key(&k.public(), Network::Dev)).collect();
    let member = SecretKey::from_seed([200; 32]);
    let coin_sat = 100 * protocol::amount::SAT_PER_TIME;
    let genesis = Genesis {
        chain_id: ChainId(4242),
        network: Network::Dev,
        timestamp_ms: now_ms() as i64,
        committee: vec![GenesisMasternode {
            id: NodeId::from(member.public()),
            p2p_address: "127.0.0.1:0".into(),
            tier: Tier::Free,
            reward_address: addresses[0],
        }],
        min_masternodes: 1,
        params: ConsensusParams::default(),
        allocations: vec![Allocation { address: addresses[0], value: Amount::from_sat(coin_sat) }],
    };
    let (event_sender, _) = broadcast::channel(1 << 17);
    let chain = Arc::new(Chain {
        genesis_value: serde_json::to_value(&genesis).unwrap_or_default(),
        hash: genesis.hash().to_string(),
        genesis,
        addresses,
        coins_per_key,
        coin_sat,
        events: event_sender,
        next_id: AtomicU64::new(1),
        height: AtomicU64::new(0),
    });
    let mut urls = Vec::new();
    for _ in 0..nodes {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        urls.push(format!("http://{}", listener.local_addr()?));
        let app = Router::new()
            .route("/", post(rpc))
            .route("/events", get(events))
            .with_state(chain.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
    }
    let ticker = chain.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let height = ticker.height.fetch_add(1, Ordering::Relaxed) + 1;
            ticker.publish(|id| StreamEvent::Block {
                id,
                at_ms: now_ms(),
                height,
                hash: BlockHash([height as u8; 32]),
                round: 0,
                txids: Vec::new(),
            });
        }
    });
    let files: Vec<String> = key_files.iter().map(|p| p.display().to_string()).collect();
    println!("null node: {nodes} endpoints, {keys} keys x {coins_per_key} coins; run:");
    println!("loadgen --rpc {} --keys {}", urls.join(" "), files.join(" "));
    std::future::pending::<()>().await;
    Ok(())
}
