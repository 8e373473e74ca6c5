//! Paying with the dev wallet.

use std::collections::{BTreeMap, HashSet};

use client::wallet::{Chain, Payment, Wallet};
use client::{ClientError, RpcClient};
use protocol::{Address, Amount, Genesis, Network, OutPoint, SecretKey, Transaction};

use crate::harness::{DevNode, now_ms};

pub(crate) fn address(seed: u8) -> Address {
    Address::from_public_key(&SecretKey::from_seed([seed; 32]).public(), Network::Dev)
}

/// The dev wallet, with every payment it made (so a coin is never offered
/// twice while its spender is not final yet).
pub(crate) struct Payer {
    wallet: Wallet,
    pub(crate) chain: Chain,
    used: HashSet<OutPoint>,
    pub(crate) sent: Vec<Transaction>,
}

impl Payer {
    pub(crate) async fn new(node: &DevNode) -> Payer {
        let genesis = node.rpc.getgenesis().await.expect("getgenesis");
        Payer {
            wallet: node.wallet(),
            chain: Chain::from(&genesis),
            used: HashSet::new(),
            sent: Vec::new(),
        }
    }

    pub(crate) fn me(&self) -> Address {
        self.wallet.addresses()[0]
    }

    /// A signed payment of `amount` to `to`, built by the wallet from
    /// `listunspent` (largest coins first).
    pub(crate) async fn pay(
        &mut self,
        rpc: &RpcClient,
        to: Address,
        amount: Amount,
    ) -> Transaction {
        self.try_pay(rpc, to, amount).await.expect("listunspent")
    }

    /// [`Payer::pay`], or the error of `listunspent` (a node that stopped).
    pub(crate) async fn try_pay(
        &mut self,
        rpc: &RpcClient,
        to: Address,
        amount: Amount,
    ) -> Result<Transaction, ClientError> {
        let coins: Vec<_> = rpc
            .listunspent(&self.wallet.addresses())
            .await?
            .into_iter()
            .filter(|c| !self.used.contains(&OutPoint { txid: c.txid, vout: c.vout }))
            .collect();
        let payment = Payment { to, amount, change: self.me(), timestamp_ms: now_ms() };
        let tx = self.wallet.pay(&self.chain, &payment, &coins).expect("the wallet pays");
        self.used.extend(tx.inputs.iter().map(|i| i.prev));
        self.sent.push(tx.clone());
        Ok(tx)
    }

    /// The coins `owner` must hold once every payment is committed: the
    /// genesis allocations to it, minus what was spent, plus what was paid.
    pub(crate) fn expected_coins(
        &self,
        genesis: &Genesis,
        owner: Address,
    ) -> BTreeMap<OutPoint, u64> {
        let chain = genesis.chain_id;
        let allocation = genesis.allocation_tx();
        let allocation_id = allocation.txid(chain);
        let created = std::iter::once((allocation_id, &allocation))
            .chain(self.sent.iter().map(|tx| (tx.txid(chain), tx)))
            .flat_map(|(txid, tx)| {
                tx.outputs
                    .iter()
                    .enumerate()
                    .map(move |(vout, out)| (OutPoint { txid, vout: vout as u32 }, *out))
            });
        let spent: HashSet<OutPoint> =
            self.sent.iter().flat_map(|tx| tx.inputs.iter().map(|i| i.prev)).collect();
        created
            .filter(|(op, out)| out.address == owner.payload && !spent.contains(op))
            .map(|(op, out)| (op, out.value.sat()))
            .collect()
    }
}
