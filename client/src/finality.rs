//! Waiting for one transaction to settle, over the event stream: subscribe
//! first, then ask `gettransactionfinality` (so a state reached before the
//! subscription is not missed), then follow the events, asking again
//! whenever the stream says events were lost.

use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use protocol::TxId;
use protocol::rpc::{StreamEvent, TxFinality, TxState};
use protocol::validate::TxRejection;

use crate::rpc::{ClientError, RpcClient};

/// True for the states a wait ends on: final, committed, lost, rejected and
/// conflicted (as `waittransactionfinality` does).
pub fn is_terminal(state: TxState) -> bool {
    state.is_settled() || state == TxState::Conflicted
}

/// The state a transaction settled in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Settlement {
    /// The transaction.
    pub txid: TxId,
    /// Its state: one of [`is_terminal`]'s.
    pub state: TxState,
    /// Vote weight seen for it.
    pub weight: u64,
    /// For `rejected`: why, when the node said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejection: Option<TxRejection>,
}

/// How a wait ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WaitOutcome {
    /// The transaction reached a terminal state.
    Settled(Settlement),
    /// The time ran out; the last state seen, if the node knew the
    /// transaction at all.
    TimedOut {
        /// The last state seen.
        last_state: Option<TxState>,
    },
}

/// Waits up to `timeout` for `txid` to settle, learning of it from the event
/// stream. Errors are the first connection's or an RPC's; a stream that
/// breaks later is reconnected (by [`crate::events::EventStream`]) and the
/// wait goes on until `timeout`.
pub async fn wait_for_settlement(
    client: &RpcClient,
    txid: TxId,
    timeout: Duration,
) -> Result<WaitOutcome, ClientError> {
    let deadline = Instant::now() + timeout;
    let mut events = match tokio::time::timeout_at(deadline, client.subscribe()).await {
        Ok(subscribed) => subscribed?,
        Err(_) => {
            return Err(ClientError::Transport {
                url: client.endpoint("events"),
                reason: format!("no answer within {timeout:?}"),
                timed_out: true,
            });
        }
    };
    let mut last_state = None;
    if let Some(done) = check(client, &txid, &mut last_state).await? {
        return Ok(WaitOutcome::Settled(done));
    }
    let mut stream_error = None;
    loop {
        let next = match tokio::time::timeout_at(deadline, events.next_event()).await {
            Err(_) => return Ok(WaitOutcome::TimedOut { last_state }),
            Ok(None) => {
                return Err(stream_error.unwrap_or_else(|| ClientError::Decode {
                    method: "events".into(),
                    reason: "the event stream ended".into(),
                }));
            }
            Ok(Some(Err(e))) => {
                // The stream retries by itself; keep the error in case it
                // gives up.
                tracing::debug!(error = %e, "event stream error while waiting");
                stream_error = Some(e);
                continue;
            }
            Ok(Some(Ok(event))) => event,
        };
        match next {
            StreamEvent::Tx { txid: id, state, weight, rejection, .. } if id == txid => {
                last_state = Some(state);
                if is_terminal(state) {
                    return Ok(WaitOutcome::Settled(Settlement { txid, state, weight, rejection }));
                }
            }
            StreamEvent::Block { txids, .. } if txids.contains(&txid) => {
                if let Some(done) = check(client, &txid, &mut last_state).await? {
                    return Ok(WaitOutcome::Settled(done));
                }
            }
            StreamEvent::Lagged { .. } => {
                if let Some(done) = check(client, &txid, &mut last_state).await? {
                    return Ok(WaitOutcome::Settled(done));
                }
            }
            _ => {}
        }
    }
}

/// Asks the node for the state now; `Some` when it is terminal. An unknown
/// transaction is not an error here: it may still arrive (from a peer).
async fn check(
    client: &RpcClient,
    txid: &TxId,
    last_state: &mut Option<TxState>,
) -> Result<Option<Settlement>, ClientError> {
    match client.gettransactionfinality(txid).await {
        Ok(finality) => {
            *last_state = Some(finality.state);
            Ok(is_terminal(finality.state).then(|| settlement(finality)))
        }
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

fn settlement(finality: TxFinality) -> Settlement {
    Settlement {
        txid: finality.txid,
        state: finality.state,
        weight: finality.weight,
        rejection: finality.rejection,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_states_match_waittransactionfinality() {
        let terminal: Vec<TxState> = TxState::ALL.into_iter().filter(|s| is_terminal(*s)).collect();
        assert_eq!(
            terminal,
            vec![
                TxState::Final,
                TxState::Conflicted,
                TxState::Lost,
                TxState::Rejected,
                TxState::Committed
            ]
        );
    }
}
