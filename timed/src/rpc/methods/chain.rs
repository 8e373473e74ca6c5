//! Blocks, headers and the chain: `getblockchaininfo`, `getblockcount`,
//! `getbestblockhash`, `getblockhash`, `getblock`, `getblockheader`,
//! `getgenesis`.

use serde_json::{Value, json};

use protocol::rpc::{BlockJson, BlockTxs, BlockchainInfo, codes};
use protocol::{Block, BlockHash};

use super::txs::tx_json;
use super::{internal, stopped, to_value};
use crate::node::{NodeHandle, Query};
use crate::rpc::Shared;
use crate::rpc::dispatch::{Fault, Params};

pub(super) async fn getblockchaininfo(shared: &Shared, params: &Params) -> Result<Value, Fault> {
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

pub(super) async fn getblockcount(shared: &Shared, params: &Params) -> Result<Value, Fault> {
    let node = &shared.node;
    params.at_most(0, &[])?;
    Ok(json!(node.store().height()))
}

pub(super) async fn getbestblockhash(shared: &Shared, params: &Params) -> Result<Value, Fault> {
    let node = &shared.node;
    params.at_most(0, &[])?;
    let info = node.query(Query::Info).await.map_err(stopped)?;
    to_value(&info.tip)
}

pub(super) async fn getblockhash(shared: &Shared, params: &Params) -> Result<Value, Fault> {
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

pub(super) async fn getblock(shared: &Shared, params: &Params) -> Result<Value, Fault> {
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

pub(super) async fn getblockheader(shared: &Shared, params: &Params) -> Result<Value, Fault> {
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

pub(super) async fn getgenesis(shared: &Shared, params: &Params) -> Result<Value, Fault> {
    let node = &shared.node;
    params.at_most(0, &[])?;
    to_value(node.genesis())
}

/// (timestamp, commitment) of the tip.
pub(super) fn tip_header(node: &NodeHandle) -> Result<(i64, protocol::Hash256), Fault> {
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
