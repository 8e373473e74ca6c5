//! The RPC methods (docs/RPC.md), each a thin adapter over the node handle
//! and the store.
//!
//! One `async fn` per method, named as the method, and one table, [`METHODS`],
//! in the order of docs/RPC.md. The table is the only list of methods: [`call`]
//! dispatches through it, [`is_known`] (the metrics label) and the `method not
//! found` error's `data.methods` read it, and a test checks it against
//! docs/RPC.md's method table. A new method is a function and a row.
//!
//! Why a table of function pointers and not a macro expanding the list into a
//! `match`: the table is plain data that reads and greps like the list it is,
//! the compiler checks every row against [`Handler`], and nothing about
//! dispatch hides in macro syntax. An `async fn` has no nameable future type,
//! so each row boxes its future ([`BoxFuture`]); one allocation per call is
//! nothing beside parsing and serialising the JSON. The `row!` macro only
//! writes that boxing closure and takes the name from the function's, so a
//! row cannot name one method and run another.

use std::time::Duration;

use futures::future::BoxFuture;
use serde::Serialize;
use serde_json::{Value, json};

use consensus::{Event, SubmitOutcome};
use protocol::rpc::{
    AddressValidation, Balance, BlockJson, BlockTxs, BlockchainInfo, ConsensusInfo, HeightRounds,
    MasternodeEntry, MasternodeStatus, MempoolInfo, NetworkInfo, PeerInfo, TxFinality, TxInJson,
    TxJson, TxOutJson, TxOutSetInfo, TxState, TxSubmission, Unspent, VotesSeen, codes,
};
use protocol::{Address, AddressPayload, Amount, Block, BlockHash, Network, Transaction, TxId};

use super::Shared;
use super::dispatch::{Fault, Params};
use crate::node::{NodeHandle, Query, Stopped};

/// What a method is: its call, with the future boxed so that every method has
/// the same type.
type Handler = for<'a> fn(&'a Shared, &'a Params) -> BoxFuture<'a, Result<Value, Fault>>;

/// One row of [`METHODS`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Method {
    /// The JSON-RPC method name (and the metrics label).
    pub(crate) name: &'static str,
    handler: Handler,
}

/// A row for the `async fn` of the same name as the method.
macro_rules! row {
    ($method:ident) => {
        Method {
            name: stringify!($method),
            handler: |shared, params| Box::pin($method(shared, params)),
        }
    };
}

/// Every method, in the order of docs/RPC.md's table.
pub(crate) const METHODS: &[Method] = &[
    row!(getblockchaininfo),
    row!(getblockcount),
    row!(getbestblockhash),
    row!(getblockhash),
    row!(getblock),
    row!(getblockheader),
    row!(getrawtransaction),
    row!(sendrawtransaction),
    row!(gettransactionfinality),
    row!(waittransactionfinality),
    row!(getmempoolinfo),
    row!(getrawmempool),
    row!(listunspent),
    row!(getbalance),
    row!(gettxoutsetinfo),
    row!(getpeerinfo),
    row!(getnetworkinfo),
    row!(masternodelist),
    row!(masternodestatus),
    row!(getconsensusinfo),
    row!(validateaddress),
    row!(getgenesis),
    row!(uptime),
    row!(stop),
];

fn lookup(method: &str) -> Option<&'static Method> {
    METHODS.iter().find(|m| m.name == method)
}

/// Whether `method` is served (else it is counted as `(unknown)`).
pub(crate) fn is_known(method: &str) -> bool {
    lookup(method).is_some()
}

/// Dispatches one call.
pub(crate) async fn call(shared: &Shared, method: &str, params: &Params) -> Result<Value, Fault> {
    match lookup(method) {
        Some(m) => (m.handler)(shared, params).await,
        None => {
            let names: Vec<&str> = METHODS.iter().map(|m| m.name).collect();
            Err(Fault::new(codes::METHOD_NOT_FOUND, format!("method not found: {method}"))
                .with_data(json!({"methods": names})))
        }
    }
}

/// The version string (`timed --version`, `getnetworkinfo`).
pub fn version_string() -> String {
    format!("{} ({})", env!("CARGO_PKG_VERSION"), env!("TIMED_GIT_HASH"))
}

fn stopped(_: Stopped) -> Fault {
    Fault::new(codes::MISC_ERROR, "the node is shutting down")
}

fn internal(e: impl std::fmt::Display) -> Fault {
    Fault::new(codes::INTERNAL_ERROR, format!("internal error: {e}"))
}

fn to_value<T: Serialize>(value: &T) -> Result<Value, Fault> {
    serde_json::to_value(value).map_err(internal)
}

fn parse_txid(params: &Params, index: usize) -> Result<TxId, Fault> {
    let text: String = params.req(index, "txid", "a txid (64 hex digits)")?;
    text.parse().map_err(|e| Fault::params(format!("parameter {} (txid): {e}", index + 1)))
}

fn parse_address(shared: &Shared, text: &str) -> Result<AddressPayload, Fault> {
    Address::parse_for(text, shared.node.genesis().network)
        .map(|a| a.payload)
        .map_err(|e| Fault::new(codes::INVALID_ADDRESS, format!("invalid address: {e}")))
}

// ----- the methods, in the table's order -----

async fn getblockchaininfo(shared: &Shared, params: &Params) -> Result<Value, Fault> {
    let node = &shared.node;
    params.at_most(0, &[])?;
    let info = node.query(Query::Info).await.map_err(stopped)?;
    let mempool = node.query(Query::Mempool).await.map_err(stopped)?;
    let header = tip_header(node)?;
    let headers = info.height.max(info.best_peer_height);
    to_value(&BlockchainInfo {
        chain: node.genesis().network,
        chain_id: node.genesis().chain_id.0,
        genesis_hash: node.genesis().hash(),
        blocks: info.height,
        best_block_hash: info.tip,
        best_block_time_ms: header.0,
        utxo_commitment: header.1,
        syncing: info.syncing,
        final_not_in_block: mempool.final_not_in_block,
        bestblockhash: info.tip,
        headers,
        initialblockdownload: info.syncing,
        verificationprogress: if headers == 0 { 1.0 } else { info.height as f64 / headers as f64 },
        time: header.0.div_euclid(1000),
    })
}

async fn getblockcount(shared: &Shared, params: &Params) -> Result<Value, Fault> {
    let node = &shared.node;
    params.at_most(0, &[])?;
    Ok(json!(node.store().height()))
}

async fn getbestblockhash(shared: &Shared, params: &Params) -> Result<Value, Fault> {
    let node = &shared.node;
    params.at_most(0, &[])?;
    let info = node.query(Query::Info).await.map_err(stopped)?;
    to_value(&info.tip)
}

async fn getblockhash(shared: &Shared, params: &Params) -> Result<Value, Fault> {
    let node = &shared.node;
    params.at_most(1, &["height"])?;
    let height: u64 = params.req(0, "height", "a block height (integer)")?;
    match node.store().block_hash(height).map_err(internal)? {
        Some(hash) => to_value(&hash),
        None => Err(Fault::new(
            codes::OUT_OF_RANGE,
            format!("block height {height} out of range (the tip is {})", node.store().height()),
        )),
    }
}

async fn getblock(shared: &Shared, params: &Params) -> Result<Value, Fault> {
    let node = &shared.node;
    params.at_most(2, &["block", "verbosity"])?;
    let height = block_param(shared, params)?;
    let verbosity: u8 = params.opt(1, "verbosity", "0, 1 or 2")?.unwrap_or(1);
    if verbosity > 2 {
        return Err(Fault::params(format!(
            "parameter 2 (verbosity) must be 0, 1 or 2, got {verbosity}"
        )));
    }
    let Some((block, certificate)) = node.store().block(height).map_err(internal)? else {
        // A hash that was found has a height; only a height can be past the tip.
        return Err(Fault::new(
            codes::OUT_OF_RANGE,
            format!("block height {height} out of range (the tip is {})", node.store().height()),
        ));
    };
    if verbosity == 0 {
        let bytes = postcard::to_allocvec(&(&block, &certificate)).map_err(internal)?;
        return Ok(json!(hex::encode(bytes)));
    }
    to_value(&block_json(node, &block, certificate.as_ref(), verbosity == 2))
}

async fn getblockheader(shared: &Shared, params: &Params) -> Result<Value, Fault> {
    let node = &shared.node;
    params.at_most(2, &["blockhash", "verbose"])?;
    let height = block_param(shared, params)?;
    let verbose: bool = params.opt(1, "verbose", "a boolean")?.unwrap_or(true);
    let store = node.store();
    let Some((block, _)) = store.block(height).map_err(internal)? else {
        return Err(Fault::new(
            codes::OUT_OF_RANGE,
            format!("block height {height} out of range (the tip is {})", store.height()),
        ));
    };
    let header = &block.header;
    if !verbose {
        return Ok(json!(hex::encode(protocol::codec::Canonical::encode(header))));
    }
    let tip = store.height();
    let nextblockhash = match height < tip {
        true => store.block_hash(height + 1).map_err(internal)?,
        false => None,
    };
    to_value(&protocol::rpc::BlockHeaderJson {
        hash: block.hash(node.genesis().chain_id),
        confirmations: tip.saturating_sub(height) + 1,
        height,
        version: header.version,
        version_hex: format!("{:08x}", header.version),
        merkleroot: header.merkle_root,
        time: header.timestamp.div_euclid(1000),
        time_ms: header.timestamp,
        n_tx: block.txs.len(),
        previousblockhash: (height > 0).then_some(header.prev_hash),
        nextblockhash,
        utxocommitment: header.utxo_commitment,
        proposer: header.proposer,
        round: header.round,
    })
}

async fn getrawtransaction(shared: &Shared, params: &Params) -> Result<Value, Fault> {
    let node = &shared.node;
    params.at_most(2, &["txid", "verbose"])?;
    let txid = parse_txid(params, 0)?;
    let verbose: bool = params.opt(1, "verbose", "a boolean")?.unwrap_or(false);
    let (tx, height) = find_tx(node, txid).await?;
    if !verbose {
        return Ok(json!(tx.to_hex()));
    }
    let status = node.query(|r| Query::TxStatus(txid, r)).await.map_err(stopped)?;
    let state = match height {
        Some(_) => Some(TxState::Committed),
        None => status.map(|s| s.state),
    };
    let mut decoded = tx_json(node.genesis().chain_id, node.genesis().network, &tx);
    decoded.state = state;
    decoded.block_height = height;
    to_value(&decoded)
}

async fn sendrawtransaction(shared: &Shared, params: &Params) -> Result<Value, Fault> {
    let node = &shared.node;
    params.at_most(1, &["hex"])?;
    let hex_text: String = params.req(0, "hex", "the hex of a transaction's full encoding")?;
    let tx = Transaction::from_hex(&hex_text).map_err(|e| {
        Fault::new(codes::DESERIALIZATION_ERROR, format!("transaction does not decode: {e}"))
    })?;
    // A committed transaction is answered by the core (Committed,
    // already known), from memory when it can prove it is not.
    match node.submit(tx).await.map_err(stopped)? {
        SubmitOutcome::Accepted { txid, state, already_known } => {
            to_value(&TxSubmission { txid, state, already_known })
        }
        SubmitOutcome::Rejected { txid, rejection } => Err(Fault::new(
            codes::VERIFY_REJECTED,
            format!("transaction {txid} rejected: {rejection}"),
        )
        .with_data(to_value(&rejection)?)),
        SubmitOutcome::Busy { txid, reason } => Err(Fault::new(
            codes::BUSY,
            format!("transaction {txid} not accepted now: {reason}; retry later"),
        )),
    }
}

async fn gettransactionfinality(shared: &Shared, params: &Params) -> Result<Value, Fault> {
    params.at_most(1, &["txid"])?;
    let txid = parse_txid(params, 0)?;
    finality(shared, txid).await?.map_or_else(
        || {
            Err(Fault::new(
                codes::NOT_FOUND,
                format!("transaction {txid} is not known to this node"),
            ))
        },
        |f| to_value(&f),
    )
}

async fn waittransactionfinality(shared: &Shared, params: &Params) -> Result<Value, Fault> {
    params.at_most(2, &["txid", "timeout_seconds"])?;
    let txid = parse_txid(params, 0)?;
    let timeout: f64 = params.opt(1, "timeout_seconds", "a number of seconds")?.unwrap_or(30.0);
    if !(0.0..=3_600.0).contains(&timeout) {
        return Err(Fault::params("parameter 2 (timeout_seconds) must be between 0 and 3600"));
    }
    wait_finality(shared, txid, Duration::from_secs_f64(timeout)).await
}

async fn getmempoolinfo(shared: &Shared, params: &Params) -> Result<Value, Fault> {
    let node = &shared.node;
    params.at_most(0, &[])?;
    let m = node.query(Query::Mempool).await.map_err(stopped)?;
    to_value(&MempoolInfo {
        size: m.pending,
        bytes: m.pending_bytes,
        orphans: m.orphans,
        orphan_bytes: m.orphan_bytes,
        final_not_in_block: m.final_not_in_block,
        bodiless: m.bodiless,
        max_transactions: shared.settings.mempool_max_txs,
        max_bytes: shared.settings.mempool_max_bytes,
    })
}

async fn getrawmempool(shared: &Shared, params: &Params) -> Result<Value, Fault> {
    let node = &shared.node;
    params.at_most(1, &["verbose"])?;
    let verbose: bool = params.opt(0, "verbose", "a boolean")?.unwrap_or(false);
    let list = node.query(Query::PoolTxids).await.map_err(stopped)?;
    if verbose {
        let map: serde_json::Map<String, Value> =
            list.into_iter().map(|(id, state)| (id.to_hex(), json!(state))).collect();
        Ok(Value::Object(map))
    } else {
        to_value(&list.into_iter().map(|(id, _)| id).collect::<Vec<_>>())
    }
}

async fn listunspent(shared: &Shared, params: &Params) -> Result<Value, Fault> {
    let node = &shared.node;
    params.at_most(1, &["address"])?;
    let addresses: Vec<String> = match params.value(0, "address") {
        Some(Value::String(one)) => vec![one.clone()],
        Some(Value::Array(_)) => params.req(0, "address", "an address or an array of addresses")?,
        Some(_) => {
            return Err(Fault::params(
                "parameter 1 (address) must be an address or an array of addresses",
            ));
        }
        None => return Err(Fault::params("missing parameter 1 (address)")),
    };
    let mut out = Vec::new();
    for text in addresses {
        let payload = parse_address(shared, &text)?;
        let address = payload.to_address(node.genesis().network);
        for (outpoint, output, confirmed) in
            node.query(|r| Query::Spendable(payload, r)).await.map_err(stopped)?
        {
            out.push(Unspent {
                txid: outpoint.txid,
                vout: outpoint.vout,
                address,
                value_sat: output.value.sat(),
                amount: output.value.to_string(),
                confirmed,
            });
        }
    }
    to_value(&out)
}

async fn getbalance(shared: &Shared, params: &Params) -> Result<Value, Fault> {
    let node = &shared.node;
    params.at_most(1, &["address"])?;
    let text: String = params.req(0, "address", "an address")?;
    let payload = parse_address(shared, &text)?;
    let coins = node.query(|r| Query::Spendable(payload, r)).await.map_err(stopped)?;
    let total: u64 = coins.iter().map(|(_, o, _)| o.value.sat()).fold(0, u64::saturating_add);
    let confirmed: u64 = coins
        .iter()
        .filter(|(_, _, c)| *c)
        .map(|(_, o, _)| o.value.sat())
        .fold(0, u64::saturating_add);
    to_value(&Balance {
        address: payload.to_address(node.genesis().network),
        balance_sat: total,
        balance: Amount::from_sat(total).to_string(),
        confirmed_sat: confirmed,
        unspent: coins.len(),
    })
}

async fn gettxoutsetinfo(shared: &Shared, params: &Params) -> Result<Value, Fault> {
    let node = &shared.node;
    params.at_most(0, &[])?;
    let (count, total) = node.store().utxo_count_and_total().map_err(internal)?;
    let info = node.query(Query::Info).await.map_err(stopped)?;
    let (_, commitment) = tip_header(node)?;
    to_value(&TxOutSetInfo {
        height: info.height,
        best_block_hash: info.tip,
        txouts: count,
        total_sat: total.sat(),
        total_amount: total.to_string(),
        utxo_commitment: commitment,
        disk_size_bytes: node.store().size_on_disk().unwrap_or(0),
    })
}

async fn getpeerinfo(shared: &Shared, params: &Params) -> Result<Value, Fault> {
    let node = &shared.node;
    params.at_most(0, &[])?;
    let committee = node.committee();
    let peers: Vec<PeerInfo> = node
        .net()
        .peers()
        .into_iter()
        .map(|p| PeerInfo {
            id: p.id,
            addr: p.addr.to_string(),
            inbound: p.inbound,
            role: match p.role {
                net::Role::Masternode => "masternode".into(),
                net::Role::Observer => "observer".into(),
            },
            committee_member: committee.contains(&p.id),
            connected_seconds: p.connected_since.elapsed().map_or(0, |d| d.as_secs()),
            rtt_ms: p.rtt.map(|d| d.as_secs_f64() * 1000.0),
            msgs_in: p.msgs_in,
            msgs_out: p.msgs_out,
            bytes_in: p.bytes_in,
            bytes_out: p.bytes_out,
            dropped: p.dropped,
            score: u64::from(p.score),
        })
        .collect();
    to_value(&peers)
}

async fn getnetworkinfo(shared: &Shared, params: &Params) -> Result<Value, Fault> {
    let node = &shared.node;
    params.at_most(0, &[])?;
    let committee = node.committee();
    let peers = node.net().peers();
    to_value(&NetworkInfo {
        version: version_string(),
        protocol_version: protocol::PROTOCOL_VERSION,
        node_id: node.node_id(),
        p2p_address: shared.p2p_address.to_string(),
        connections: peers.len(),
        committee_connections: peers.iter().filter(|p| committee.contains(&p.id)).count(),
        network: node.genesis().network,
    })
}

async fn masternodelist(shared: &Shared, params: &Params) -> Result<Value, Fault> {
    let node = &shared.node;
    params.at_most(0, &[])?;
    let info = node.query(Query::Info).await.map_err(stopped)?;
    let committee = node.committee();
    let connected: Vec<_> = node.net().peers().into_iter().map(|p| p.id).collect();
    let list: Vec<MasternodeEntry> = committee
        .members()
        .iter()
        .map(|m| MasternodeEntry {
            id: m.id,
            tier: m.tier,
            voting_weight: m.voting_weight,
            reward_address: m.reward_address.to_address(node.genesis().network),
            p2p_address: m.p2p_address.clone(),
            is_self: m.id == node.node_id(),
            connected: m.id == node.node_id() || connected.contains(&m.id),
            votes_seen: info.votes_seen.iter().find(|(id, _)| *id == m.id).map_or(0, |(_, s)| *s),
        })
        .collect();
    to_value(&list)
}

async fn masternodestatus(shared: &Shared, params: &Params) -> Result<Value, Fault> {
    let node = &shared.node;
    params.at_most(0, &[])?;
    let info = node.query(Query::Info).await.map_err(stopped)?;
    let committee = node.committee();
    let me = committee.index_of(&node.node_id()).and_then(|i| committee.member(i));
    let connected = node.net().peers().iter().filter(|p| committee.contains(&p.id)).count();
    to_value(&MasternodeStatus {
        id: node.node_id(),
        is_masternode: node.is_masternode(),
        tier: me.map(|m| m.tier),
        voting_weight: me.map_or(0, |m| m.voting_weight),
        own_vote_seq: info
            .votes_seen
            .iter()
            .find(|(id, _)| *id == node.node_id())
            .map_or(0, |(_, s)| *s),
        connected_members: connected,
        committee_size: committee.len(),
        quorum: committee.quorum(),
        total_weight: committee.total_weight(),
    })
}

async fn getconsensusinfo(shared: &Shared, params: &Params) -> Result<Value, Fault> {
    let node = &shared.node;
    params.at_most(0, &[])?;
    let info = node.query(Query::Info).await.map_err(stopped)?;
    let committee = node.committee();
    to_value(&ConsensusInfo {
        height: info.height,
        tip: info.tip,
        current_height: info.current_height,
        round: info.round,
        step: info.step.to_string(),
        proposer: info.proposer,
        recent_rounds: info
            .recent_rounds
            .iter()
            .map(|(h, r)| HeightRounds { height: *h, round: *r })
            .collect(),
        view_changes: info.view_changes,
        votes_seen: info
            .votes_seen
            .iter()
            .map(|(id, seq)| VotesSeen { id: *id, seq: *seq })
            .collect(),
        syncing: info.syncing,
        equivocations: info.equivocations,
        quorum: committee.quorum(),
        total_weight: committee.total_weight(),
        final_count: info.final_count,
        last_final_ms: info.last_final_at,
    })
}

async fn validateaddress(shared: &Shared, params: &Params) -> Result<Value, Fault> {
    let node = &shared.node;
    params.at_most(1, &["address"])?;
    let text: String = params.req(0, "address", "an address")?;
    let network = node.genesis().network;
    let result = match text.parse::<Address>() {
        Ok(address) if address.network == network => AddressValidation {
            isvalid: true,
            address: text,
            network: Some(address.network),
            payload: Some(address.payload.to_hex()),
            error: None,
        },
        Ok(address) => AddressValidation {
            isvalid: false,
            address: text,
            network: Some(address.network),
            payload: Some(address.payload.to_hex()),
            error: Some(format!("address is for {}, this chain is {network}", address.network)),
        },
        Err(e) => AddressValidation {
            isvalid: false,
            address: text,
            network: None,
            payload: None,
            error: Some(e.to_string()),
        },
    };
    to_value(&result)
}

async fn getgenesis(shared: &Shared, params: &Params) -> Result<Value, Fault> {
    let node = &shared.node;
    params.at_most(0, &[])?;
    to_value(node.genesis())
}

async fn uptime(shared: &Shared, params: &Params) -> Result<Value, Fault> {
    let node = &shared.node;
    params.at_most(0, &[])?;
    Ok(json!(node.uptime().as_secs()))
}

async fn stop(shared: &Shared, params: &Params) -> Result<Value, Fault> {
    let node = &shared.node;
    params.at_most(0, &[])?;
    let handle = node.clone();
    // Answer first, then stop.
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        handle.shutdown();
    });
    Ok(json!("timed stopping"))
}

/// (timestamp, commitment) of the tip.
fn tip_header(node: &NodeHandle) -> Result<(i64, protocol::Hash256), Fault> {
    let height = node.store().height();
    match node.store().block(height).map_err(internal)? {
        Some((block, _)) => Ok((block.header.timestamp, block.header.utxo_commitment)),
        None => Err(internal(format!("the tip block {height} is missing from the store"))),
    }
}

/// `getblock`'s first parameter: a hash or a height.
fn block_param(shared: &Shared, params: &Params) -> Result<u64, Fault> {
    let store = shared.node.store();
    match params.value(0, "block") {
        Some(Value::Number(n)) => n.as_u64().ok_or_else(|| {
            Fault::params("parameter 1 (block) must be a block hash or a non-negative height")
        }),
        Some(Value::String(text)) => {
            if let Ok(height) = text.parse::<u64>()
                && text.len() < 20
            {
                return Ok(height);
            }
            let hash: BlockHash = text.parse().map_err(|e| {
                Fault::params(format!("parameter 1 (block): not a block hash or height: {e}"))
            })?;
            store
                .height_of(&hash)
                .map_err(internal)?
                .ok_or_else(|| Fault::new(codes::NOT_FOUND, format!("block {hash} not found")))
        }
        Some(_) => Err(Fault::params("parameter 1 (block) must be a block hash (hex) or a height")),
        None => Err(Fault::params("missing parameter 1 (block): a block hash or height")),
    }
}

/// A transaction from the pool or the committed chain, with its height if committed.
async fn find_tx(node: &NodeHandle, txid: TxId) -> Result<(Transaction, Option<u64>), Fault> {
    if let Some(tx) = node.query(|r| Query::PoolTx(txid, r)).await.map_err(stopped)? {
        return Ok((tx, None));
    }
    match node.store().committed_tx(&txid).map_err(internal)? {
        Some((tx, height)) => Ok((tx, Some(height))),
        None => Err(Fault::new(codes::NOT_FOUND, format!("transaction {txid} not found"))),
    }
}

/// The finality view of a transaction, or `None` if unknown.
pub(crate) async fn finality(shared: &Shared, txid: TxId) -> Result<Option<TxFinality>, Fault> {
    let node = &shared.node;
    let committee = node.committee();
    let status = node.query(|r| Query::TxStatus(txid, r)).await.map_err(stopped)?;
    let committed = node.store().tx_location(&txid).map_err(internal)?.map(|(h, _)| h);
    let (quorum, total) = (committee.quorum(), committee.total_weight());
    Ok(match (status, committed) {
        (_, Some(height)) => Some(TxFinality {
            txid,
            state: TxState::Committed,
            weight: quorum,
            quorum,
            total_weight: total,
            block_height: Some(height),
            rejection: None,
            certificate: None,
        }),
        (Some(status), None) => Some(TxFinality {
            txid,
            state: status.state,
            weight: status.weight,
            quorum,
            total_weight: total,
            block_height: status.block_height,
            rejection: status.rejection,
            certificate: status.certificate,
        }),
        (None, None) => None,
    })
}

fn settled(state: TxState) -> bool {
    state.is_settled() || state == TxState::Conflicted
}

async fn wait_finality(shared: &Shared, txid: TxId, timeout: Duration) -> Result<Value, Fault> {
    // Subscribe before looking, so a change in between is not missed.
    let mut events = shared.node.subscribe();
    let deadline = tokio::time::Instant::now() + timeout;
    if let Some(f) = finality(shared, txid).await?
        && settled(f.state)
    {
        return to_value(&f);
    }
    loop {
        let next = tokio::time::timeout_at(deadline, events.recv()).await;
        match next {
            Err(_) => {
                let state = finality(shared, txid).await?.map(|f| f.state);
                return Err(Fault::new(
                    codes::TIMEOUT,
                    format!(
                        "transaction {txid} not settled within {:.1} s (state: {})",
                        timeout.as_secs_f64(),
                        state.map_or("unknown".to_string(), |s| s.to_string())
                    ),
                ));
            }
            Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => {
                return Err(stopped(Stopped));
            }
            Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Ok(event)) => match &event.event {
                Event::TxState { txid: id, .. } if *id == txid => {}
                Event::BlockCommitted { txids, .. } if txids.contains(&txid) => {}
                _ => continue,
            },
        }
        if let Some(f) = finality(shared, txid).await?
            && settled(f.state)
        {
            return to_value(&f);
        }
    }
}

/// A decoded transaction.
pub(crate) fn tx_json(chain: protocol::ChainId, network: Network, tx: &Transaction) -> TxJson {
    TxJson {
        txid: tx.txid(chain),
        version: tx.version,
        inputs: tx
            .inputs
            .iter()
            .map(|i| TxInJson {
                txid: i.prev.txid,
                vout: i.prev.vout,
                pubkey: i.pubkey,
                address: Address::from_public_key(&i.pubkey, network),
                signature: i.signature,
            })
            .collect(),
        outputs: tx
            .outputs
            .iter()
            .enumerate()
            .map(|(n, o)| TxOutJson {
                n: n as u32,
                value_sat: o.value.sat(),
                amount: o.value.to_string(),
                address: o.address.to_address(network),
            })
            .collect(),
        lock_time: tx.lock_time,
        timestamp_ms: tx.timestamp,
        size: tx.size(),
        hex: tx.to_hex(),
        state: None,
        block_height: None,
    }
}

fn block_json(
    node: &NodeHandle,
    block: &Block,
    certificate: Option<&protocol::bft::CommitCertificate>,
    decoded: bool,
) -> BlockJson {
    let genesis = node.genesis();
    let chain = genesis.chain_id;
    let committee = node.committee();
    let header = &block.header;
    BlockJson {
        hash: block.hash(chain),
        height: header.height,
        version: header.version,
        previous_block_hash: header.prev_hash,
        merkle_root: header.merkle_root,
        utxo_commitment: header.utxo_commitment,
        time_ms: header.timestamp,
        proposer: header.proposer,
        round: header.round,
        n_tx: block.txs.len(),
        size: block.tx_bytes(),
        commit_round: certificate.map(|c| c.round),
        signers: certificate
            .map(|c| {
                c.signer_indexes()
                    .iter()
                    .filter_map(|i| committee.member(*i).map(|m| m.id))
                    .collect()
            })
            .unwrap_or_default(),
        tx: if decoded {
            BlockTxs::Decoded(
                block.txs.iter().map(|t| tx_json(chain, genesis.network, t)).collect(),
            )
        } else {
            BlockTxs::Ids(block.txids(chain))
        },
    }
}

#[cfg(test)]
mod tests {
    use super::METHODS;

    /// The method names of docs/RPC.md's `## Methods` table, in its order.
    fn documented(doc: &str) -> Vec<&str> {
        doc.lines()
            .skip_while(|line| line.trim_end() != "## Methods")
            .skip(1)
            .take_while(|line| !line.starts_with("## "))
            .filter_map(|line| line.strip_prefix("| `")?.split_once('`').map(|(name, _)| name))
            .collect()
    }

    /// How the table and a copy of docs/RPC.md disagree; empty if they agree.
    fn disagreements(doc: &str) -> Vec<String> {
        let documented = documented(doc);
        let served: Vec<&str> = METHODS.iter().map(|m| m.name).collect();
        let mut out: Vec<String> = served
            .iter()
            .filter(|name| !documented.contains(name))
            .map(|name| format!("`{name}` is served but missing from docs/RPC.md's method table"))
            .chain(
                documented.iter().filter(|name| !served.contains(name)).map(|name| {
                    format!("`{name}` is in docs/RPC.md's method table but not served")
                }),
            )
            .collect();
        if out.is_empty() && documented != served {
            out.push(format!(
                "docs/RPC.md lists the methods in another order than METHODS:\n  doc:   {documented:?}\n  table: {served:?}"
            ));
        }
        out
    }

    fn rpc_md() -> String {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/RPC.md");
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
    }

    #[test]
    fn every_method_is_documented_in_rpc_md() {
        let problems = disagreements(&rpc_md());
        assert!(problems.is_empty(), "METHODS and docs/RPC.md disagree:\n{}", problems.join("\n"));
    }

    #[test]
    fn a_method_missing_from_the_doc_is_caught() {
        let doc = rpc_md();
        let without: String = doc
            .lines()
            .filter(|l| !l.starts_with("| `getblockheader` |"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(
            disagreements(&without),
            ["`getblockheader` is served but missing from docs/RPC.md's method table"]
        );
    }

    #[test]
    fn method_names_are_unique() {
        for (i, method) in METHODS.iter().enumerate() {
            assert!(
                !METHODS[..i].iter().any(|m| m.name == method.name),
                "{} is in METHODS twice",
                method.name
            );
        }
    }
}
