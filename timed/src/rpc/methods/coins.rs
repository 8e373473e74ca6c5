//! Coins and addresses: `listunspent`, `getbalance`, `gettxoutsetinfo`,
//! `validateaddress`.

use serde_json::Value;

use protocol::rpc::{AddressValidation, Balance, TxOutSetInfo, Unspent, codes};
use protocol::{Address, AddressPayload, Amount};

use super::chain::tip_header;
use super::{internal, stopped, to_value};
use crate::node::Query;
use crate::rpc::Shared;
use crate::rpc::dispatch::{Fault, Params};

fn parse_address(shared: &Shared, text: &str) -> Result<AddressPayload, Fault> {
    Address::parse_for(text, shared.node.genesis().network)
        .map(|a| a.payload)
        .map_err(|e| Fault::new(codes::INVALID_ADDRESS, format!("invalid address: {e}")))
}

pub(super) async fn listunspent(shared: &Shared, params: &Params) -> Result<Value, Fault> {
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

pub(super) async fn getbalance(shared: &Shared, params: &Params) -> Result<Value, Fault> {
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

pub(super) async fn gettxoutsetinfo(shared: &Shared, params: &Params) -> Result<Value, Fault> {
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

pub(super) async fn validateaddress(shared: &Shared, params: &Params) -> Result<Value, Fault> {
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
