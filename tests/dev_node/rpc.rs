//! The RPC surface, method by method (docs/RPC.md).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use client::RpcClient;
use client::rpc::{BlockResult, Verbosity};
use protocol::bft::CommitCertificate;
use protocol::rpc::{BlockJson, BlockTxs, TxState, codes};
use protocol::{Address, Amount, Block, Network, OutPoint, Transaction, TxId};
use serde_json::{Value, json};

use crate::findings::Findings;
use crate::harness::{DEV_COIN_SAT, DEV_COINS, Scratch, TIME, WAIT, http_client, lock};
use crate::payer::{Payer, address};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_node_rpc_surface() {
    let _lock = lock();
    let scratch = Scratch::new();
    let mut node = scratch.start().await;
    let rpc = node.rpc.clone();
    let mut f = Findings::default();
    node.wait_height(2).await;
    let node_id = node.info.node_id;

    // --- chain and genesis ---
    let genesis = rpc.getgenesis().await.expect("getgenesis");
    let chain = genesis.chain_id;
    f.eq("getgenesis hash", genesis.hash(), node.info.genesis_hash);
    f.eq("getgenesis chain id", genesis.chain_id.0, node.info.chain_id);
    f.eq("getgenesis network", genesis.network, Network::Dev);
    f.eq("getgenesis committee", genesis.committee.iter().map(|m| m.id).collect(), vec![node_id]);
    f.eq("getgenesis block interval", genesis.params.block_interval_ms, 1_000);
    let info = rpc.getblockchaininfo().await.expect("getblockchaininfo");
    f.eq("getblockchaininfo chain", info.chain, Network::Dev);
    f.eq("getblockchaininfo chain_id", info.chain_id, node.info.chain_id);
    f.eq("getblockchaininfo genesis_hash", info.genesis_hash, node.info.genesis_hash);
    f.check(info.blocks >= 2, || format!("getblockchaininfo blocks {}", info.blocks));
    f.check(!info.syncing, || "a lone dev node is syncing".into());
    if let Some(hash) = f.ok("getblockhash(tip)", rpc.getblockhash(info.blocks).await) {
        f.eq("getblockchaininfo best_block_hash", info.best_block_hash, hash);
    }
    if let Some(Some(block)) =
        f.ok("getblock(tip)", rpc.getblock(info.blocks, Verbosity::Txids).await).map(decoded)
    {
        f.eq("getblockchaininfo best_block_time_ms", info.best_block_time_ms, block.time_ms);
        f.eq("getblockchaininfo utxo_commitment", info.utxo_commitment, block.utxo_commitment);
    }
    let count = rpc.getblockcount().await.expect("getblockcount");
    f.check(count >= info.blocks, || format!("getblockcount {count} < blocks {}", info.blocks));
    // bitcoind's names, and its JSON-RPC 1.0 as its documentation's curl
    // examples send it.
    f.eq("getblockchaininfo bestblockhash", info.bestblockhash, info.best_block_hash);
    f.check(info.headers >= info.blocks, || format!("headers {} < blocks", info.headers));
    f.eq("getblockchaininfo initialblockdownload", info.initialblockdownload, info.syncing);
    f.check(info.verificationprogress > 0.0 && info.verificationprogress <= 1.0, || {
        format!("verificationprogress {}", info.verificationprogress)
    });
    f.eq("getblockchaininfo time", info.time, info.best_block_time_ms / 1000);
    let best: Value = rpc.call("getbestblockhash", json!([])).await.expect("getbestblockhash");
    f.check(best.as_str().is_some_and(|h| h.len() == 64), || format!("getbestblockhash {best}"));
    // getblockheader under bitcoind's names, by hash and by height.
    if let Some(header) = f.ok("getblockheader(1)", rpc.getblockheader(1u64).await)
        && let Some(Some(block)) =
            f.ok("getblock(1)", rpc.getblock(1u64, Verbosity::Txids).await).map(decoded)
    {
        f.eq("getblockheader hash", header.hash, block.hash);
        f.eq(
            "getblockheader previousblockhash",
            header.previousblockhash,
            Some(block.previous_block_hash),
        );
        f.eq("getblockheader merkleroot", header.merkleroot, block.merkle_root);
        f.eq("getblockheader nTx", header.n_tx, block.n_tx);
        f.eq("getblockheader time", header.time, block.time_ms / 1000);
        f.check(
            header.confirmations >= 1 && header.nextblockhash.is_some() == (info.blocks > 1),
            || {
                format!(
                    "getblockheader(1) confirmations {} next {:?}",
                    header.confirmations, header.nextblockhash
                )
            },
        );
        if let Some(by_hash) = f.ok("getblockheader(hash)", rpc.getblockheader(block.hash).await) {
            f.eq("getblockheader by hash", by_hash.height, 1);
        }
    }
    if let Some(genesis_header) = f.ok("getblockheader(0)", rpc.getblockheader(0u64).await) {
        f.eq("getblockheader(0) previousblockhash", genesis_header.previousblockhash, None);
    }
    let raw: Value = rpc.call("getblockheader", json!([0, false])).await.expect("raw header");
    f.check(raw.as_str().is_some_and(|h| h.len() == 2 * 152), || format!("raw header {raw}"));
    let http = http_client();
    let legacy = |body: &'static str| {
        let request = http.post(rpc.url()).header("content-type", "text/plain").body(body);
        let request = match node.info.rpc_cookie_file.as_ref() {
            Some(cookie) => {
                let text = std::fs::read_to_string(scratch.path("data").join(cookie)).unwrap();
                let (user, password) = text.trim().split_once(':').unwrap();
                request.basic_auth(user, Some(password))
            }
            None => request,
        };
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let answer =
        legacy(r#"{"jsonrpc":"1.0","id":"curltest","method":"getblockcount","params":[]}"#).await;
    f.check(
        answer["id"] == "curltest"
            && answer["result"].as_u64().is_some()
            && answer["error"].is_null()
            && answer
                .as_object()
                .is_some_and(|o| o.contains_key("error") && !o.contains_key("jsonrpc")),
        || format!("JSON-RPC 1.0 getblockcount: {answer}"),
    );
    let answer = legacy(r#"{"jsonrpc":"1.0","method":"getfoo","params":[]}"#).await;
    f.check(
        answer["result"].is_null() && answer["error"]["code"] == codes::METHOD_NOT_FOUND,
        || format!("JSON-RPC 1.0 without an id is still answered: {answer}"),
    );

    // --- the dev wallet's coins, before any payment: all 100 confirmed ---
    let mut payer = Payer::new(&node).await;
    let me = payer.me();
    check_coins(&mut f, &rpc, me, &payer.expected_coins(&genesis, me)).await;
    f.eq("dev wallet coins", payer.expected_coins(&genesis, me).len(), DEV_COINS as usize);

    // --- a two-input payment through sendrawtransaction ---
    let payee = address(0x71);
    let amount = Amount::from_sat(15_000 * TIME);
    let tx = payer.pay(&rpc, payee, amount).await;
    let txid = tx.txid(chain);
    assert_eq!(tx.inputs.len(), 2, "15,000 TIME takes two 10,000 TIME coins");
    let sent = rpc.sendrawtransaction(&tx).await.expect("sendrawtransaction");
    f.eq("sendrawtransaction txid", sent.txid, txid);
    f.check(!sent.already_known, || "a new transaction reported already known".into());
    f.check(matches!(sent.state, TxState::Pending | TxState::Final), || {
        format!("sendrawtransaction state {}", sent.state)
    });
    check_mempool_listing(&mut f, &rpc, &mut payer, txid).await;
    if let Some(again) = f.ok("sendrawtransaction (again)", rpc.sendrawtransaction(&tx).await) {
        f.eq("resubmission txid", again.txid, txid);
        f.check(again.already_known, || "a resubmission is not reported already known".into());
    }

    // --- finality ---
    let waited = rpc.waittransactionfinality(&txid, WAIT).await.expect("waittransactionfinality");
    f.check(waited.state.is_final(), || format!("waittransactionfinality: {}", waited.state));
    f.eq("waittransactionfinality txid", waited.txid, txid);
    f.eq("quorum of a one-member committee", (waited.quorum, waited.total_weight), (1, 1));
    f.check(waited.weight >= waited.quorum, || format!("final with weight {}", waited.weight));
    if let Some(now) = f.ok("gettransactionfinality", rpc.gettransactionfinality(&txid).await) {
        match now.state {
            TxState::Final => f
                .check(now.certificate.is_some() && now.block_height.is_none(), || {
                    format!("final, not in a block: certificate and no height: {now:?}")
                }),
            TxState::Committed => f.check(now.block_height.is_some(), || {
                format!("committed without a block height: {now:?}")
            }),
            other => f.check(false, || format!("gettransactionfinality state {other}")),
        }
    }

    // --- the transaction, raw and decoded ---
    if let Some(hex) =
        f.ok("getrawtransaction", rpc.call("getrawtransaction", json!([txid, false])).await)
    {
        let hex = hex.as_str().unwrap_or_default().to_string();
        f.eq("getrawtransaction hex", hex.clone(), tx.to_hex());
        match Transaction::from_hex(&hex) {
            Ok(decoded) => {
                f.eq("getrawtransaction round trip", decoded.to_hex(), hex);
                f.eq("getrawtransaction txid", decoded.txid(chain), txid);
            }
            Err(e) => f.check(false, || format!("getrawtransaction hex does not decode: {e}")),
        }
    }
    if let Some(typed) = f.ok("getrawtransaction (typed)", rpc.getrawtransaction(&txid).await) {
        f.eq("getrawtransaction (typed)", typed, tx.clone());
    }
    let committed_at = node.wait_committed(&txid).await;
    if let Some(again) = f.ok("sendrawtransaction (committed)", rpc.sendrawtransaction(&tx).await) {
        f.eq(
            "a committed resubmission",
            (again.state, again.already_known),
            (TxState::Committed, true),
        );
    }
    if let Some(v) = f.ok("getrawtransaction verbose", rpc.getrawtransaction_verbose(&txid).await) {
        f.eq("verbose txid", v.txid, txid);
        f.eq("verbose hex", v.hex.clone(), tx.to_hex());
        f.eq("verbose size", v.size, tx.size());
        f.eq("verbose state", v.state, Some(TxState::Committed));
        f.eq("verbose block_height", v.block_height, Some(committed_at));
        f.eq("verbose input addresses", v.inputs.iter().map(|i| i.address).collect(), vec![me; 2]);
        f.eq(
            "verbose outputs",
            v.outputs.iter().map(|o| (o.n, o.value_sat)).collect::<Vec<_>>(),
            tx.outputs.iter().enumerate().map(|(n, o)| (n as u32, o.value.sat())).collect(),
        );
        f.eq("verbose amount text", v.outputs[0].amount.clone(), amount.to_string());
    }
    let allocation = genesis.allocation_tx().txid(chain);
    if let Some(v) = f.ok(
        "getrawtransaction (genesis allocation)",
        rpc.getrawtransaction_verbose(&allocation).await,
    ) {
        f.eq("allocation block height", v.block_height, Some(0));
        f.eq("allocation outputs", v.outputs.len(), DEV_COINS as usize);
    }

    // --- blocks: every height, at every verbosity, by height and by hash ---
    let tip = rpc.getblockcount().await.expect("getblockcount");
    let mut previous = protocol::BlockHash(genesis.hash().0);
    for height in 0..=tip {
        let Some(hash) = f.ok(format!("getblockhash({height})"), rpc.getblockhash(height).await)
        else {
            continue;
        };
        let by_height =
            f.ok(format!("getblock({height}, 1)"), rpc.getblock(height, Verbosity::Txids).await);
        let by_hash =
            f.ok(format!("getblock({hash}, 2)"), rpc.getblock(hash, Verbosity::Transactions).await);
        let raw =
            f.ok(format!("getblock({height}, 0)"), rpc.getblock(height, Verbosity::Raw).await);
        let (Some(Some(v1)), Some(Some(v2)), Some(BlockResult::Raw(hex))) =
            (by_height.map(decoded), by_hash.map(decoded), raw)
        else {
            f.check(false, || format!("getblock {height}: wrong result kinds"));
            continue;
        };
        f.eq(&format!("block {height} hash"), v1.hash, hash);
        f.eq(&format!("block {height} height"), v1.height, height);
        f.eq(&format!("block {height} previous"), v1.previous_block_hash, previous);
        previous = hash;
        let BlockTxs::Ids(ids) = &v1.tx else {
            f.check(false, || format!("getblock {height} verbosity 1 has no txids"));
            continue;
        };
        let BlockTxs::Decoded(txs) = &v2.tx else {
            f.check(false, || format!("getblock {height} verbosity 2 has no transactions"));
            continue;
        };
        f.eq(&format!("block {height} n_tx"), v1.n_tx, ids.len());
        f.eq(
            &format!("block {height} verbosity 2 txids"),
            &txs.iter().map(|t| t.txid).collect::<Vec<_>>(),
            ids,
        );
        let same_header = |b: &BlockJson| {
            (
                b.hash,
                b.height,
                b.previous_block_hash,
                b.merkle_root,
                b.utxo_commitment,
                b.time_ms,
                b.round,
                b.commit_round,
                b.signers.clone(),
            )
        };
        f.eq(
            &format!("block {height} header at verbosity 1 and 2"),
            same_header(&v2),
            same_header(&v1),
        );
        match hex::decode(&hex)
            .ok()
            .and_then(|b| postcard::from_bytes::<(Block, Option<CommitCertificate>)>(&b).ok())
        {
            Some((block, certificate)) => {
                f.eq(&format!("block {height} verbosity 0 hash"), block.hash(chain), hash);
                f.eq(&format!("block {height} verbosity 0 txids"), &block.txids(chain), ids);
                f.eq(
                    &format!("block {height} verbosity 0 certificate round"),
                    certificate.as_ref().map(|c| c.round),
                    v1.commit_round,
                );
                f.eq(&format!("block {height} certificate"), certificate.is_some(), height > 0);
            }
            None => f.check(false, || {
                format!("getblock {height} verbosity 0 is not the postcard of (block, certificate)")
            }),
        }
        if height > 0 {
            f.eq(&format!("block {height} signers"), v1.signers.clone(), vec![node_id]);
            f.eq(&format!("block {height} proposer"), v1.proposer, node_id);
            f.check(txs.first().is_some_and(|c| c.inputs.is_empty()), || {
                format!("block {height} does not open with a coinbase")
            });
        }
        if height == committed_at {
            f.check(ids.contains(&txid), || format!("block {height} lacks {txid}"));
            let ours = txs.iter().find(|t| t.txid == txid);
            f.check(ours.is_some_and(|t| t.hex == tx.to_hex()), || {
                format!("block {height}: decoded {txid} differs")
            });
        }
    }
    // Named parameters work like positional ones.
    let named = f.ok(
        "getblockhash {height}",
        rpc.call("getblockhash", json!({"height": committed_at})).await,
    );
    let positional =
        f.ok("getblockhash [height]", rpc.call("getblockhash", json!([committed_at])).await);
    f.eq("named and positional getblockhash", named, positional);
    let named = f.ok(
        "getblock {block, verbosity}",
        rpc.call("getblock", json!({"block": committed_at, "verbosity": 2})).await,
    );
    let positional =
        f.ok("getblock [block, verbosity]", rpc.call("getblock", json!([committed_at, 2])).await);
    f.eq("named and positional getblock", named, positional);

    // --- coins after the payments: nothing in flight, everything confirmed ---
    for sent in &payer.sent {
        node.wait_committed(&sent.txid(chain)).await;
    }
    let mine = payer.expected_coins(&genesis, me);
    let theirs = payer.expected_coins(&genesis, payee);
    f.eq("the payee's coins", theirs.values().copied().collect(), vec![amount.sat()]);
    check_coins(&mut f, &rpc, me, &mine).await;
    check_coins(&mut f, &rpc, payee, &theirs).await;
    if let Some(both) = f.ok("listunspent [me, payee]", rpc.listunspent(&[me, payee]).await) {
        f.eq("listunspent of two addresses", both.len(), mine.len() + theirs.len());
    }
    if let Some(none) = f.ok("listunspent (no coins)", rpc.listunspent(&[address(0x72)]).await) {
        f.check(none.is_empty(), || format!("an unused address has coins: {none:?}"));
    }

    // --- the UTXO set, from a snapshot no block commit fell into ---
    let snapshot = loop {
        let before = rpc.getblockcount().await.expect("getblockcount");
        let set = rpc.gettxoutsetinfo().await.expect("gettxoutsetinfo");
        let after = rpc.getblockcount().await.expect("getblockcount");
        if before == after && set.height == after {
            break set;
        }
    };
    let allocated = DEV_COINS * DEV_COIN_SAT;
    f.eq(
        "gettxoutsetinfo total",
        snapshot.total_sat,
        allocated + snapshot.height * genesis.params.block_reward_sat,
    );
    let spent: usize = payer.sent.iter().map(|tx| tx.inputs.len()).sum();
    let made: usize = payer.sent.iter().map(|tx| tx.outputs.len()).sum();
    f.eq(
        "gettxoutsetinfo txouts (allocations − spent + made + a coinbase per block)",
        snapshot.txouts,
        DEV_COINS + snapshot.height + made as u64 - spent as u64,
    );
    f.eq(
        "gettxoutsetinfo total text",
        snapshot.total_amount.clone(),
        Amount::from_sat(snapshot.total_sat).to_string(),
    );
    f.check(snapshot.disk_size_bytes > 0, || "gettxoutsetinfo disk size 0".into());
    if let Some(hash) = f.ok("getblockhash(snapshot)", rpc.getblockhash(snapshot.height).await) {
        f.eq("gettxoutsetinfo best_block_hash", snapshot.best_block_hash, hash);
    }
    if let Some(Some(block)) = f
        .ok("getblock(snapshot)", rpc.getblock(snapshot.height, Verbosity::Txids).await)
        .map(decoded)
    {
        f.eq("gettxoutsetinfo utxo_commitment", snapshot.utxo_commitment, block.utxo_commitment);
    }

    // --- pools ---
    if let Some(m) = f.ok("getmempoolinfo", rpc.getmempoolinfo().await) {
        f.check(m.max_transactions > 0 && m.max_bytes > 0, || {
            format!("getmempoolinfo limits: {m:?}")
        });
        f.check(m.size <= m.max_transactions && m.bytes <= m.max_bytes, || {
            format!("getmempoolinfo: {m:?}")
        });
        f.eq("getmempoolinfo orphans", (m.orphans, m.orphan_bytes), (0, 0));
    }

    // --- network and committee ---
    if let Some(peers) = f.ok("getpeerinfo", rpc.getpeerinfo().await) {
        f.check(peers.is_empty(), || format!("a lone dev node has peers: {peers:?}"));
    }
    if let Some(n) = f.ok("getnetworkinfo", rpc.getnetworkinfo().await) {
        f.eq("getnetworkinfo version", n.version.clone(), node.info.version.clone());
        f.eq("getnetworkinfo node_id", n.node_id, node_id);
        f.eq("getnetworkinfo p2p_address", n.p2p_address.clone(), node.info.p2p_address.clone());
        f.eq("getnetworkinfo connections", (n.connections, n.committee_connections), (0, 0));
        f.eq("getnetworkinfo network", n.network, Network::Dev);
        f.eq("getnetworkinfo protocol_version", n.protocol_version, protocol::PROTOCOL_VERSION);
    }
    let weight = genesis.params.voting_weight(genesis.committee[0].tier);
    if let Some(list) = f.ok("masternodelist", rpc.masternodelist().await) {
        f.eq("masternodelist size", list.len(), 1);
        if let Some(m) = list.first() {
            f.check(m.is_self && m.connected, || {
                format!("the one member is self and connected: {m:?}")
            });
            f.eq("masternodelist id", m.id, node_id);
            f.eq("masternodelist weight", m.voting_weight, weight);
            f.eq(
                "masternodelist reward address",
                m.reward_address,
                genesis.committee[0].reward_address,
            );
            f.check(m.votes_seen >= 1, || format!("masternodelist votes_seen after a vote: {m:?}"));
        }
    }
    if let Some(s) = f.ok("masternodestatus", rpc.masternodestatus().await) {
        f.eq("masternodestatus id", s.id, node_id);
        f.check(s.is_masternode, || "the dev node is not a masternode".into());
        f.eq("masternodestatus tier", s.tier, Some(genesis.committee[0].tier));
        f.eq(
            "masternodestatus weights",
            (s.voting_weight, s.quorum, s.total_weight),
            (weight, weight, weight),
        );
        f.eq("masternodestatus committee", (s.committee_size, s.connected_members), (1, 0));
        f.check(s.own_vote_seq >= 1, || format!("own_vote_seq after a vote: {s:?}"));
    }
    if let Some(c) = f.ok("getconsensusinfo", rpc.getconsensusinfo().await) {
        f.check(c.height >= committed_at, || {
            format!("getconsensusinfo height {} < {committed_at}", c.height)
        });
        f.eq("getconsensusinfo current_height", c.current_height, c.height + 1);
        f.eq("getconsensusinfo proposer", c.proposer, node_id);
        f.eq("getconsensusinfo quorum", (c.quorum, c.total_weight), (weight, weight));
        f.eq(
            "getconsensusinfo trouble",
            (c.syncing, c.equivocations, c.view_changes),
            (false, 0, 0),
        );
        f.check(c.votes_seen.iter().any(|v| v.id == node_id && v.seq >= 1), || {
            format!("getconsensusinfo votes_seen: {:?}", c.votes_seen)
        });
        if let Some(hash) = f.ok("getblockhash(consensus tip)", rpc.getblockhash(c.height).await) {
            f.eq("getconsensusinfo tip", c.tip, hash);
        }
    }

    // --- addresses ---
    if let Some(v) = f.ok("validateaddress (dev)", rpc.validateaddress(&me.to_string()).await) {
        f.check(v.isvalid && v.error.is_none(), || {
            format!("the dev wallet address is invalid: {v:?}")
        });
        f.eq("validateaddress network", v.network, Some(Network::Dev));
        f.eq("validateaddress payload", v.payload.clone(), Some(me.payload.to_hex()));
    }
    let testnet = Address { network: Network::Testnet, ..me };
    if let Some(v) =
        f.ok("validateaddress (testnet)", rpc.validateaddress(&testnet.to_string()).await)
    {
        f.check(!v.isvalid, || format!("a testnet address is valid on dev: {v:?}"));
        f.eq("validateaddress (testnet) network", v.network, Some(Network::Testnet));
        f.check(v.error.as_deref().is_some_and(|e| e.contains("testnet")), || {
            format!("the reason names the network: {v:?}")
        });
    }
    if let Some(v) =
        f.ok("validateaddress (garbage)", rpc.validateaddress("TIME9notanaddress").await)
    {
        f.check(!v.isvalid && v.network.is_none() && v.error.is_some(), || {
            format!("garbage: {v:?}")
        });
        f.eq("validateaddress echoes the text", v.address, "TIME9notanaddress".to_string());
    }

    // --- uptime goes up ---
    let first = rpc.uptime().await.expect("uptime");
    let deadline = Instant::now() + WAIT;
    loop {
        let now = rpc.uptime().await.expect("uptime");
        if now > first {
            break;
        }
        assert!(Instant::now() < deadline, "uptime stayed at {first} for {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // --- stop: answered, then a clean exit ---
    match rpc.stop().await {
        Ok(answer) => f.eq("stop", answer, "timed stopping".to_string()),
        Err(e) => f.check(false, || format!("stop failed: {e}")),
    }
    let status = node.exit_status().await;
    f.eq("exit code after stop", status.code(), Some(0));
    f.assert_none("the RPC surface");
}

fn decoded(result: BlockResult) -> Option<BlockJson> {
    match result {
        BlockResult::Decoded(block) => Some(*block),
        BlockResult::Raw(_) => None,
    }
}

/// `listunspent` and `getbalance` of `address` agree with each other and
/// with the coins expected, when nothing is in flight.
async fn check_coins(
    f: &mut Findings,
    rpc: &RpcClient,
    address: Address,
    expected: &BTreeMap<OutPoint, u64>,
) {
    let (Some(coins), Some(balance)) = (
        f.ok(format!("listunspent {address}"), rpc.listunspent(&[address]).await),
        f.ok(format!("getbalance {address}"), rpc.getbalance(&address).await),
    ) else {
        return;
    };
    let total: u64 = coins.iter().map(|c| c.value_sat).sum();
    let confirmed: u64 = coins.iter().filter(|c| c.confirmed).map(|c| c.value_sat).sum();
    let listed: BTreeMap<OutPoint, u64> =
        coins.iter().map(|c| (OutPoint { txid: c.txid, vout: c.vout }, c.value_sat)).collect();
    f.eq(&format!("{address}: listunspent coins"), &listed, expected);
    f.eq(&format!("{address}: listunspent entries"), listed.len(), coins.len());
    f.eq(
        &format!("{address}: getbalance"),
        (balance.balance_sat, balance.confirmed_sat, balance.unspent),
        (total, confirmed, coins.len()),
    );
    f.eq(&format!("{address}: everything confirmed"), confirmed, total);
    f.eq(
        &format!("{address}: getbalance text"),
        balance.balance.clone(),
        Amount::from_sat(total).to_string(),
    );
    f.check(
        coins
            .iter()
            .all(|c| c.address == address && c.amount == Amount::from_sat(c.value_sat).to_string()),
        || format!("{address}: listunspent entries: {coins:?}"),
    );
}

/// `getrawmempool`, plain and verbose, while a transaction is in the pool
/// (final, not yet in a block: up to a block interval). If a block takes it
/// before the pool is read, another payment is sent.
async fn check_mempool_listing(f: &mut Findings, rpc: &RpcClient, payer: &mut Payer, first: TxId) {
    let mut txid = first;
    for _ in 0..5 {
        let calls = [("getrawmempool", json!([false])), ("getrawmempool", json!([true]))];
        let answers = rpc.batch(&calls).await.expect("a batch of getrawmempool");
        let (Ok(plain), Ok(verbose)) = (&answers[0], &answers[1]) else {
            f.check(false, || format!("getrawmempool in a batch: {answers:?}"));
            return;
        };
        let plain: Vec<TxId> = serde_json::from_value(plain.clone()).unwrap_or_default();
        if !plain.contains(&txid) {
            // Committed already: try with a fresh payment.
            let tx = payer.pay(rpc, address(0x73), Amount::from_sat(TIME)).await;
            txid = rpc.sendrawtransaction(&tx).await.expect("sendrawtransaction").txid;
            continue;
        }
        // docs/RPC.md: verbose is `{txid: state}`.
        match serde_json::from_value::<BTreeMap<TxId, TxState>>(verbose.clone()) {
            Ok(states) => f.check(states.contains_key(&txid), || {
                format!("getrawmempool verbose lacks {txid}: {states:?}")
            }),
            Err(e) => f.check(false, || {
                format!("getrawmempool verbose is not {{txid: state}} ({e}): {verbose}")
            }),
        }
        // And the typed client reads it.
        f.ok("getrawmempool_verbose (typed client)", rpc.getrawmempool_verbose().await);
        if let Some(ids) = f.ok("getrawmempool (typed client)", rpc.getrawmempool().await) {
            f.check(ids.windows(2).all(|w| w[0] < w[1]), || {
                format!("getrawmempool not in txid order: {ids:?}")
            });
        }
        return;
    }
    f.check(false, || "a block committed every payment before getrawmempool saw it".into());
}
