//! Malformed requests: a table, sent as raw HTTP bodies, to a dev chain
//! served in process: `timed::devchain::prepare` on a temp dir (the files
//! `timed --dev` makes), `timed::node::start` and `timed::rpc::serve` wired
//! as `timed --dev` wires them from the default config (real HTTP on
//! 127.0.0.1:0, real sled, real signatures), and driven through the typed
//! client (`client`) and raw HTTP (`reqwest`).
//!
//! Nothing in the table needs a process: every answer, including the 413
//! for an oversized body and the 404s, comes from the library's listener.
//! Waits are for conditions under a deadline, never fixed sleeps.

#[path = "rpc_malformed/answers.rs"]
mod answers;
#[path = "rpc_malformed/dev_node.rs"]
mod dev_node;
#[path = "rpc_malformed/rejections.rs"]
mod rejections;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use client::wallet::{Chain, Wallet};
use protocol::rpc::codes;
use protocol::{Address, Amount, Network, OutPoint, SecretKey, TxId};
use serde_json::{Value, json};

use self::answers::{Case, Expect, call, err, send_case};
use self::dev_node::{DevNode, http_client, pay};
use self::rejections::rejection_cases;

/// The longest any single condition is waited for. A dev chain finalizes in
/// milliseconds and commits a block a second; this is for a loaded machine.
const WAIT: Duration = Duration::from_secs(20);
const TIME: u64 = protocol::amount::SAT_PER_TIME;
/// What `timed --dev` puts in genesis for each of its wallet's coins
/// (timed::devchain).
const DEV_COIN_SAT: u64 = 10_000 * TIME;

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn address(seed: u8) -> Address {
    Address::from_public_key(&SecretKey::from_seed([seed; 32]).public(), Network::Dev)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_the_right_error() {
    let node = DevNode::start().await;
    let rpc = &node.rpc;
    let genesis = rpc.getgenesis().await.expect("getgenesis");
    let chain = genesis.chain_id;
    let (_, key) = client::wallet::read_key_file(&node.wallet_key_file).expect("dev key");
    let wallet =
        Wallet::load(Network::Dev, &[&node.wallet_key_file]).expect("the dev wallet key file");
    let me = wallet.addresses()[0];

    // One payment made final first: its inputs are the "already spent" case.
    let paid =
        pay(rpc, &wallet, &Chain::from(&genesis), address(0x74), Amount::from_sat(TIME)).await;
    let paid_id = rpc.sendrawtransaction(&paid).await.expect("sendrawtransaction").txid;
    let settled =
        rpc.waittransactionfinality(&paid_id, WAIT).await.expect("waittransactionfinality");
    assert!(settled.state.is_final(), "{settled:?}");
    let coins: Vec<OutPoint> = rpc
        .listunspent(&[me])
        .await
        .expect("listunspent")
        .into_iter()
        .filter(|c| c.confirmed)
        .map(|c| OutPoint { txid: c.txid, vout: c.vout })
        .collect();
    let good_hex = paid.to_hex();
    let unknown_txid = TxId([0xcd; 32]);

    let mut cases: Vec<Case> = Vec::new();
    let mut case = |name: &str, body: Vec<u8>, expect: Expect| {
        cases.push(Case { name: name.into(), body, expect })
    };
    // Framing.
    case("not JSON", b"this is not json".to_vec(), err(Value::Null, codes::PARSE_ERROR, &["json"]));
    case("not UTF-8", b"\xff\xfe{".to_vec(), err(Value::Null, codes::PARSE_ERROR, &["json"]));
    case(
        "truncated JSON",
        br#"{"jsonrpc":"2.0","id":1,"method":"#.to_vec(),
        err(Value::Null, codes::PARSE_ERROR, &["json"]),
    );
    case(
        "JSON but not an object",
        b"42".to_vec(),
        err(Value::Null, codes::INVALID_REQUEST, &["object"]),
    );
    case(
        "missing method",
        br#"{"jsonrpc":"2.0","id":1}"#.to_vec(),
        err(json!(1), codes::INVALID_REQUEST, &["method"]),
    );
    case(
        "method not a string",
        br#"{"jsonrpc":"2.0","id":"m","method":5}"#.to_vec(),
        err(json!("m"), codes::INVALID_REQUEST, &["method", "string"]),
    );
    case(
        "wrong jsonrpc version",
        br#"{"jsonrpc":"3.0","id":2,"method":"uptime"}"#.to_vec(),
        err(json!(2), codes::INVALID_REQUEST, &["jsonrpc"]),
    );
    case(
        "id neither number nor string",
        br#"{"jsonrpc":"2.0","id":{"a":1},"method":"uptime"}"#.to_vec(),
        err(Value::Null, codes::INVALID_REQUEST, &["id"]),
    );
    case(
        "unknown method",
        call(json!(3), "getfoo", json!([])),
        err(json!(3), codes::METHOD_NOT_FOUND, &["getfoo"]),
    );
    case(
        "params neither array nor object",
        call(json!(4), "getblockcount", json!("x")),
        err(json!(4), codes::INVALID_REQUEST, &["params"]),
    );
    // Parameters.
    case(
        "too many params",
        call(json!(5), "getblockcount", json!([1])),
        err(json!(5), codes::INVALID_PARAMS, &["too many"]),
    );
    case(
        "missing param",
        call(json!(6), "getblockhash", json!([])),
        err(json!(6), codes::INVALID_PARAMS, &["missing", "height"]),
    );
    case(
        "unknown named param",
        call(json!(7), "getblockhash", json!({"hieght": 1})),
        err(json!(7), codes::INVALID_PARAMS, &["hieght"]),
    );
    case(
        "height of the wrong type",
        call(json!(8), "getblockhash", json!(["abc"])),
        err(json!(8), codes::INVALID_PARAMS, &["height"]),
    );
    case(
        "negative height",
        call(json!(9), "getblockhash", json!([-1])),
        err(json!(9), codes::INVALID_PARAMS, &["height"]),
    );
    case(
        "height out of range",
        call(json!(10), "getblockhash", json!([99_999])),
        err(json!(10), codes::OUT_OF_RANGE, &["99999", "out of range"]),
    );
    case(
        "getblock height out of range",
        call(json!(11), "getblock", json!([99_999])),
        err(json!(11), codes::OUT_OF_RANGE, &["99999"]),
    );
    case(
        "getblock unknown hash",
        call(json!(12), "getblock", json!(["ab".repeat(32)])),
        err(json!(12), codes::NOT_FOUND, &[&"ab".repeat(32)]),
    );
    case(
        "getblock verbosity 3",
        call(json!(13), "getblock", json!([0, 3])),
        err(json!(13), codes::INVALID_PARAMS, &["verbosity"]),
    );
    case(
        "getblockheader height out of range",
        call(json!(113), "getblockheader", json!([99_999])),
        err(json!(113), codes::OUT_OF_RANGE, &["99999"]),
    );
    case(
        "getblockheader unknown hash",
        call(json!(114), "getblockheader", json!(["cd".repeat(32)])),
        err(json!(114), codes::NOT_FOUND, &[&"cd".repeat(32)]),
    );
    case(
        "getblockheader verbose not a boolean",
        call(json!(115), "getblockheader", json!([0, "yes"])),
        err(json!(115), codes::INVALID_PARAMS, &["verbose"]),
    );
    case(
        "getblockheader neither hash nor height",
        call(json!(116), "getblockheader", json!([{"x": 1}])),
        err(json!(116), codes::INVALID_PARAMS, &["block"]),
    );
    case(
        "bad txid hex",
        call(json!(14), "getrawtransaction", json!(["zz"])),
        err(json!(14), codes::INVALID_PARAMS, &["txid"]),
    );
    case(
        "unknown txid (getrawtransaction)",
        call(json!(15), "getrawtransaction", json!([unknown_txid])),
        err(json!(15), codes::NOT_FOUND, &[&unknown_txid.to_hex()]),
    );
    case(
        "unknown txid (gettransactionfinality)",
        call(json!(16), "gettransactionfinality", json!([unknown_txid])),
        err(json!(16), codes::NOT_FOUND, &[&unknown_txid.to_hex()]),
    );
    case(
        "waiting times out",
        call(json!(17), "waittransactionfinality", json!([unknown_txid, 0.2])),
        err(json!(17), codes::TIMEOUT, &[&unknown_txid.to_hex()]),
    );
    case(
        "invalid address",
        call(json!(18), "getbalance", json!(["TIME9nope"])),
        err(json!(18), codes::INVALID_ADDRESS, &["address"]),
    );
    let testnet = Address { network: Network::Testnet, ..me };
    case(
        "address of another network",
        call(json!(19), "listunspent", json!([testnet.to_string()])),
        err(json!(19), codes::INVALID_ADDRESS, &["testnet"]),
    );
    // Transactions that do not decode.
    case(
        "sendrawtransaction bad hex",
        call(json!(20), "sendrawtransaction", json!(["zz"])),
        err(json!(20), codes::DESERIALIZATION_ERROR, &["hex"]),
    );
    case(
        "sendrawtransaction odd hex",
        call(json!(21), "sendrawtransaction", json!(["abc"])),
        err(json!(21), codes::DESERIALIZATION_ERROR, &["hex"]),
    );
    case(
        "sendrawtransaction undecodable bytes",
        call(json!(22), "sendrawtransaction", json!(["00"])),
        err(json!(22), codes::DESERIALIZATION_ERROR, &["decode"]),
    );
    case(
        "sendrawtransaction trailing bytes",
        call(json!(23), "sendrawtransaction", json!([format!("{good_hex}00")])),
        err(json!(23), codes::DESERIALIZATION_ERROR, &["trailing"]),
    );
    // Every rejection, with the typed reason as data.
    for (i, (name, tx, data, words)) in
        rejection_cases(chain, &genesis.params, &key, &coins, paid.inputs[0].prev)
            .into_iter()
            .enumerate()
    {
        let id = json!(format!("reject-{i}"));
        let txid = tx.txid(chain).to_hex();
        let mut words: Vec<String> = words.into_iter().map(String::from).collect();
        words.push("rejected".into());
        words.push(txid);
        case(
            &format!("rejected: {name}"),
            call(id.clone(), "sendrawtransaction", json!([tx.to_hex()])),
            Expect::Error {
                id,
                code: codes::VERIFY_REJECTED,
                words,
                data: Some(data),
                status: 200,
            },
        );
    }
    // Ids, notifications, batches, size.
    case(
        "string id echoed",
        call(json!("abc-1"), "getblockcount", json!([])),
        Expect::Result { id: json!("abc-1") },
    );
    case(
        "numeric id echoed",
        call(json!(4_242), "uptime", json!([])),
        Expect::Result { id: json!(4_242) },
    );
    case(
        "null id echoed",
        call(Value::Null, "uptime", json!([])),
        Expect::Result { id: Value::Null },
    );
    case(
        "notification",
        br#"{"jsonrpc":"2.0","method":"getblockcount"}"#.to_vec(),
        Expect::Nothing,
    );
    case(
        "notification of an unknown method",
        br#"{"jsonrpc":"2.0","method":"nope"}"#.to_vec(),
        Expect::Nothing,
    );
    case(
        "batch of notifications",
        br#"[{"jsonrpc":"2.0","method":"uptime"},{"jsonrpc":"2.0","method":"getblockcount"}]"#
            .to_vec(),
        Expect::Nothing,
    );
    case("empty batch", b"[]".to_vec(), err(Value::Null, codes::INVALID_REQUEST, &["empty"]));
    let over: Vec<Value> =
        (0..101).map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "getblockcount"})).collect();
    case(
        "batch over the cap",
        Value::Array(over).to_string().into_bytes(),
        err(Value::Null, codes::INVALID_REQUEST, &["101", "max_batch_size"]),
    );
    let mixed = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "getblockcount"},
        {"jsonrpc": "2.0", "id": "b", "method": "nope"},
        {"jsonrpc": "2.0", "method": "uptime"},
        5,
        {"jsonrpc": "2.0", "id": 3, "method": "getblockhash", "params": ["abc"]},
        {"jsonrpc": "2.0", "id": "s", "method": "sendrawtransaction", "params": [good_hex]},
    ]);
    case(
        "batch mixing good and bad",
        mixed.to_string().into_bytes(),
        Expect::Batch(vec![
            (json!(1), Ok(())),
            (json!("b"), Err(codes::METHOD_NOT_FOUND)),
            (Value::Null, Err(codes::INVALID_REQUEST)),
            (json!(3), Err(codes::INVALID_PARAMS)),
            (json!("s"), Ok(())),
        ]),
    );
    let huge = call(json!(99), "sendrawtransaction", json!(["ab".repeat(600 * 1024)]));
    case(
        "oversized body",
        huge,
        Expect::Error {
            id: Value::Null,
            code: codes::INVALID_REQUEST,
            words: vec!["max_body_bytes".into()],
            data: None,
            status: 413,
        },
    );

    let http = http_client();
    let mut problems = Vec::new();
    for case in &cases {
        if let Err(problem) = send_case(&http, rpc.url(), case).await {
            problems.push(format!("{}: {problem}", case.name));
        }
    }
    // Not JSON-RPC at all, still never a 5xx.
    for (what, response) in [
        ("GET /", http.get(rpc.url()).send().await),
        ("GET /nope", http.get(rpc.endpoint("nope")).send().await),
        ("POST /metrics", http.post(rpc.endpoint("metrics")).body("x").send().await),
    ] {
        match response {
            Ok(r) if r.status().is_server_error() => {
                problems.push(format!("{what}: HTTP {}", r.status()))
            }
            Ok(_) => {}
            Err(e) => problems.push(format!("{what}: {e}")),
        }
    }
    // The node is still fine after all that.
    if let Err(e) = rpc.getblockchaininfo().await {
        problems.push(format!("getblockchaininfo after the table failed: {e}"));
    }
    node.stop().await;
    assert!(
        problems.is_empty(),
        "{} of {} malformed requests were answered wrongly:\n  - {}",
        problems.len(),
        cases.len(),
        problems.join("\n  - ")
    );
}
