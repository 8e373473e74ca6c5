//! One typed method per RPC method of docs/RPC.md, in its order.

use std::time::Duration;

use reqwest::header::AUTHORIZATION;

use protocol::rpc::{
    AddressValidation, Balance, BlockHeaderJson, BlockJson, BlockchainInfo, ConsensusInfo,
    MasternodeEntry, MasternodeStatus, MempoolInfo, NetworkInfo, PeerInfo, TxFinality, TxJson,
    TxOutSetInfo, TxState, TxSubmission, Unspent,
};
use protocol::{Address, BlockHash, Genesis, Transaction, TxId};

use super::{BlockRef, BlockResult, ClientError, NO_PARAMS, RpcClient, Verbosity, truncated_text};

impl RpcClient {
    // ----- the methods of docs/RPC.md, in its order -----

    /// `getblockchaininfo`.
    pub async fn getblockchaininfo(&self) -> Result<BlockchainInfo, ClientError> {
        self.request("getblockchaininfo", NO_PARAMS).await
    }

    /// `getblockcount`: the committed height.
    pub async fn getblockcount(&self) -> Result<u64, ClientError> {
        self.request("getblockcount", NO_PARAMS).await
    }

    /// `getblockhash`.
    pub async fn getblockhash(&self, height: u64) -> Result<BlockHash, ClientError> {
        self.request("getblockhash", [height]).await
    }

    /// `getblock` at `verbosity`.
    pub async fn getblock(
        &self,
        block: impl Into<BlockRef>,
        verbosity: Verbosity,
    ) -> Result<BlockResult, ClientError> {
        let params = (block.into(), verbosity.level());
        match verbosity {
            Verbosity::Raw => self.request("getblock", params).await.map(BlockResult::Raw),
            Verbosity::Txids | Verbosity::Transactions => self
                .request("getblock", params)
                .await
                .map(|block: BlockJson| BlockResult::Decoded(Box::new(block))),
        }
    }

    /// `getblockheader` verbose: the header's fields.
    pub async fn getblockheader(
        &self,
        block: impl Into<BlockRef>,
    ) -> Result<BlockHeaderJson, ClientError> {
        self.request("getblockheader", (block.into(), true)).await
    }

    /// `getrawtransaction`: the transaction, decoded from its hex.
    pub async fn getrawtransaction(&self, txid: &TxId) -> Result<Transaction, ClientError> {
        let hex: String = self.request("getrawtransaction", (txid, false)).await?;
        Transaction::from_hex(&hex).map_err(|e| ClientError::Decode {
            method: "getrawtransaction".into(),
            reason: e.to_string(),
        })
    }

    /// `getrawtransaction` verbose: decoded, with its state.
    pub async fn getrawtransaction_verbose(&self, txid: &TxId) -> Result<TxJson, ClientError> {
        self.request("getrawtransaction", (txid, true)).await
    }

    /// `sendrawtransaction`.
    pub async fn sendrawtransaction(&self, tx: &Transaction) -> Result<TxSubmission, ClientError> {
        self.send_raw_hex(&tx.to_hex()).await
    }

    /// `sendrawtransaction` with the hex of the full encoding.
    pub async fn send_raw_hex(&self, hex: &str) -> Result<TxSubmission, ClientError> {
        self.request("sendrawtransaction", [hex]).await
    }

    /// `sendrawtransaction` for many transactions in one batch.
    pub async fn sendrawtransactions(
        &self,
        txs: &[Transaction],
    ) -> Result<Vec<Result<TxSubmission, ClientError>>, ClientError> {
        let calls: Vec<(&str, [String; 1])> =
            txs.iter().map(|tx| ("sendrawtransaction", [tx.to_hex()])).collect();
        self.batch_as(&calls).await
    }

    /// `gettransactionfinality`.
    pub async fn gettransactionfinality(&self, txid: &TxId) -> Result<TxFinality, ClientError> {
        self.request("gettransactionfinality", [txid]).await
    }

    /// `waittransactionfinality`: the node waits up to `timeout` (whole
    /// seconds, rounded up) for a settled state; `-28` when it does not come.
    pub async fn waittransactionfinality(
        &self,
        txid: &TxId,
        timeout: Duration,
    ) -> Result<TxFinality, ClientError> {
        let seconds = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0);
        let budget =
            Duration::from_secs(seconds).saturating_add(self.inner.options.request_timeout);
        self.request_within("waittransactionfinality", (txid, seconds), budget).await
    }

    /// `getmempoolinfo`.
    pub async fn getmempoolinfo(&self) -> Result<MempoolInfo, ClientError> {
        self.request("getmempoolinfo", NO_PARAMS).await
    }

    /// `getrawmempool`: the txids.
    pub async fn getrawmempool(&self) -> Result<Vec<TxId>, ClientError> {
        self.request("getrawmempool", [false]).await
    }

    /// `getrawmempool` verbose: each txid's state.
    pub async fn getrawmempool_verbose(
        &self,
    ) -> Result<std::collections::BTreeMap<TxId, TxState>, ClientError> {
        self.request("getrawmempool", [true]).await
    }

    /// `listunspent` for every address given (committed and final outputs).
    pub async fn listunspent(&self, addresses: &[Address]) -> Result<Vec<Unspent>, ClientError> {
        self.request("listunspent", [addresses]).await
    }

    /// `getbalance`.
    pub async fn getbalance(&self, address: &Address) -> Result<Balance, ClientError> {
        self.request("getbalance", [address]).await
    }

    /// `gettxoutsetinfo`.
    pub async fn gettxoutsetinfo(&self) -> Result<TxOutSetInfo, ClientError> {
        self.request("gettxoutsetinfo", NO_PARAMS).await
    }

    /// `getpeerinfo`.
    pub async fn getpeerinfo(&self) -> Result<Vec<PeerInfo>, ClientError> {
        self.request("getpeerinfo", NO_PARAMS).await
    }

    /// `getnetworkinfo`.
    pub async fn getnetworkinfo(&self) -> Result<NetworkInfo, ClientError> {
        self.request("getnetworkinfo", NO_PARAMS).await
    }

    /// `masternodelist`.
    pub async fn masternodelist(&self) -> Result<Vec<MasternodeEntry>, ClientError> {
        self.request("masternodelist", NO_PARAMS).await
    }

    /// `masternodestatus`.
    pub async fn masternodestatus(&self) -> Result<MasternodeStatus, ClientError> {
        self.request("masternodestatus", NO_PARAMS).await
    }

    /// The node's `/metrics` page (Prometheus text), with this client's
    /// credentials.
    pub async fn metrics(&self) -> Result<String, ClientError> {
        let url = self.endpoint("metrics");
        let mut request = self.http().get(&url);
        if let Some(auth) = self.auth_header() {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        let response = request.send().await.map_err(|e| self.transport_error(&url, &e))?;
        let status = response.status();
        let body = response.text().await.map_err(|e| self.transport_error(&url, &e))?;
        if !status.is_success() {
            return Err(ClientError::Http {
                url,
                status: status.as_u16(),
                body: truncated_text(body.as_bytes()),
            });
        }
        Ok(body)
    }

    /// `getconsensusinfo`.
    pub async fn getconsensusinfo(&self) -> Result<ConsensusInfo, ClientError> {
        self.request("getconsensusinfo", NO_PARAMS).await
    }

    /// `validateaddress` (any text: the answer says why it is not valid).
    pub async fn validateaddress(&self, address: &str) -> Result<AddressValidation, ClientError> {
        self.request("validateaddress", [address]).await
    }

    /// `getgenesis`: the chain's genesis, consensus parameters included.
    pub async fn getgenesis(&self) -> Result<Genesis, ClientError> {
        self.request("getgenesis", NO_PARAMS).await
    }

    /// `uptime`: seconds since the node started.
    pub async fn uptime(&self) -> Result<u64, ClientError> {
        self.request("uptime", NO_PARAMS).await
    }

    /// `stop`: the node flushes and exits.
    pub async fn stop(&self) -> Result<String, ClientError> {
        self.request("stop", NO_PARAMS).await
    }
}
