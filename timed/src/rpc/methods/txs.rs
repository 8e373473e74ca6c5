//! Transactions and the mempool: `getrawtransaction`, `sendrawtransaction`,
//! `gettransactionfinality`, `waittransactionfinality`, `getmempoolinfo`,
//! `getrawmempool`.

use std::time::Duration;

use serde_json::{Value, json};

use consensus::{Event, SubmitOutcome};
use protocol::rpc::{
    MempoolInfo, TxFinality, TxInJson, TxJson, TxOutJson, TxState, TxSubmission, codes,
};
use protocol::{Address, Network, Transaction, TxId};

use super::{internal, stopped, to_value};
use crate::node::{NodeHandle, Query, Stopped};
use crate::rpc::Shared;
use crate::rpc::dispatch::{Fault, Params};

fn parse_txid(params: &Params, index: usize) -> Result<TxId, Fault> {
    let text: String = params.req(index, "txid", "a txid (64 hex digits)")?;
    text.parse().map_err(|e| Fault::params(format!("parameter {} (txid): {e}", index + 1)))
}

pub(super) async fn getrawtransaction(shared: &Shared, params: &Params) -> Result<Value, Fault> {
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

pub(super) async fn sendrawtransaction(shared: &Shared, params: &Params) -> Result<Value, Fault> {
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

pub(super) async fn gettransactionfinality(
    shared: &Shared,
    params: &Params,
) -> Result<Value, Fault> {
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

pub(super) async fn waittransactionfinality(
    shared: &Shared,
    params: &Params,
) -> Result<Value, Fault> {
    params.at_most(2, &["txid", "timeout_seconds"])?;
    let txid = parse_txid(params, 0)?;
    let timeout: f64 = params.opt(1, "timeout_seconds", "a number of seconds")?.unwrap_or(30.0);
    if !(0.0..=3_600.0).contains(&timeout) {
        return Err(Fault::params("parameter 2 (timeout_seconds) must be between 0 and 3600"));
    }
    wait_finality(shared, txid, Duration::from_secs_f64(timeout)).await
}

pub(super) async fn getmempoolinfo(shared: &Shared, params: &Params) -> Result<Value, Fault> {
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

pub(super) async fn getrawmempool(shared: &Shared, params: &Params) -> Result<Value, Fault> {
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
