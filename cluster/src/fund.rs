//! Paying an address from the cluster's dev wallet (`timectl fund`): its
//! coins asked of the first node that answers, the payment built, signed
//! and sent there, then awaited until it settles or [`SETTLE_TIMEOUT`]
//! passes.

use std::time::Duration;

use thiserror::Error;

use client::finality::{self, WaitOutcome};
use client::wallet::{Chain, Payment, Wallet};
use client::{ClientError, WalletError};
use protocol::{Address, Amount, Network, TxId};

use crate::health::ClusterView;

/// How long [`fund`] waits for the payment to settle.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Why no payment was made (or its fate is not known).
#[derive(Debug, Error)]
pub enum FundError {
    /// The dev wallet's key could not be loaded.
    #[error(transparent)]
    Key(WalletError),
    /// The payment could not be built from the dev wallet's coins (too
    /// few, or a wrong address).
    #[error(transparent)]
    Pay(WalletError),
    /// The node refused the transaction, or did not answer.
    #[error("{0}")]
    Send(ClientError),
    /// The transaction was sent, but waiting for it failed.
    #[error("{0}")]
    Wait(ClientError),
    /// No node listed the dev wallet's coins.
    #[error(
        "no node answered: {}",
        last_error.as_deref().unwrap_or("is the cluster up?")
    )]
    NoNode {
        /// The last node's error, if any node was reachable at all.
        last_error: Option<String>,
    },
}

/// A payment that was sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FundReceipt {
    /// The transaction.
    pub txid: TxId,
    /// Whether it settled (and in which state) or the wait ran out.
    pub outcome: WaitOutcome,
}

impl FundReceipt {
    /// True when the transaction reached a terminal state in time.
    pub fn settled(&self) -> bool {
        matches!(self.outcome, WaitOutcome::Settled(_))
    }
}

/// Pays `amount` to `to` from the dev wallet of the cluster in `view`,
/// change back to the dev wallet, and waits for the payment to settle.
pub async fn fund(
    view: &ClusterView,
    to: Address,
    amount: Amount,
) -> Result<FundReceipt, FundError> {
    let dev = &view.file.dev_wallet;
    let wallet = Wallet::load(Network::Dev, &[view.layout.resolve(&dev.key_file)])
        .map_err(FundError::Key)?;
    let mut last_error = None;
    for i in 0..view.file.nodes.len() {
        let Ok(client) = view.rpc(i) else { continue };
        let coins = match client.listunspent(&[dev.address]).await {
            Ok(coins) => coins,
            Err(e) => {
                last_error = Some(e.to_string());
                continue;
            }
        };
        let now = hostio::now_ms() as i64;
        let payment = Payment { to, amount, change: dev.address, timestamp_ms: now };
        let tx =
            wallet.pay(&Chain::from(view.genesis()), &payment, &coins).map_err(FundError::Pay)?;
        let txid = client.sendrawtransaction(&tx).await.map_err(FundError::Send)?.txid;
        let outcome = finality::wait_for_settlement(&client, txid, SETTLE_TIMEOUT)
            .await
            .map_err(FundError::Wait)?;
        return Ok(FundReceipt { txid, outcome });
    }
    Err(FundError::NoNode { last_error })
}
