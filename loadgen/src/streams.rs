//! Following every node's event stream into the tracker's inbox, and
//! resolving transactions with `gettransactionfinality` when a stream may
//! have missed events (a `lagged` event, a reconnect, the end of a run).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use client::{EventStream, RpcClient};
use protocol::TxId;
use protocol::rpc::{StreamEvent, TxFinality};

use crate::nodes::NodeSet;
use crate::recorder::micros;
use crate::tracker::TrackerMsg;

/// Calls per JSON-RPC batch (the node's default cap is 100).
const BATCH: usize = 100;

/// Forwards `node`'s transaction and block events to the tracker until
/// `shutdown`; reports lags and stream failures as such. When the node
/// restarts at a new address, follows it there and has the tracker resolve
/// what the stream missed meanwhile.
pub async fn follow(
    node: u8,
    nodes: Arc<NodeSet>,
    mut stream: EventStream,
    inbox: mpsc::Sender<TrackerMsg>,
    origin: Instant,
    shutdown: CancellationToken,
) {
    let mut generation = nodes.generation(usize::from(node));
    let mut check = tokio::time::interval(Duration::from_millis(500));
    loop {
        let item = tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = check.tick() => {
                let Some((client, now)) = nodes.client_and_generation(usize::from(node)) else { continue };
                if now == generation {
                    continue;
                }
                // Subscribed before the tracker asks, so nothing falls in between.
                match client.subscribe().await {
                    Ok(moved) => {
                        stream = moved;
                        generation = now;
                        let msg = TrackerMsg::StreamLagged {
                            node,
                            at_us: micros(origin.elapsed()),
                            reason: format!("the node restarted at {}", client.url()),
                        };
                        if inbox.send(msg).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => tracing::debug!(node, error = %e, "the restarted node's events are not ready yet"),
                }
                continue;
            }
            item = stream.next_event() => item,
        };
        let at_us = micros(origin.elapsed());
        let msg = match item {
            None => TrackerMsg::StreamTrouble {
                node,
                at_us,
                what: "event stream ended (the node refused to reconnect)".into(),
            },
            Some(Ok(StreamEvent::Lagged { reason, .. })) => {
                TrackerMsg::StreamLagged { node, at_us, reason }
            }
            Some(Ok(event @ (StreamEvent::Tx { .. } | StreamEvent::Block { .. }))) => {
                TrackerMsg::Event { node, at_us, event }
            }
            Some(Ok(StreamEvent::Equivocation { detail, .. })) => TrackerMsg::StreamTrouble {
                node,
                at_us,
                what: format!("equivocation seen: {detail}"),
            },
            Some(Ok(StreamEvent::Syncing { syncing, .. })) => TrackerMsg::StreamTrouble {
                node,
                at_us,
                what: if syncing { "started catching up".into() } else { "caught up".into() },
            },
            Some(Err(e)) => {
                TrackerMsg::StreamTrouble { node, at_us, what: format!("event stream: {e}") }
            }
        };
        let ended = matches!(&msg, TrackerMsg::StreamTrouble { what, .. } if what.starts_with("event stream ended"));
        if inbox.send(msg).await.is_err() || ended {
            return;
        }
    }
}

/// Asks `node` for the state of every txid and feeds the answers to the
/// tracker as if they were events; says when it is done.
pub async fn resolve(
    node: u8,
    client: RpcClient,
    txids: Vec<TxId>,
    inbox: mpsc::Sender<TrackerMsg>,
    origin: Instant,
) {
    for chunk in txids.chunks(BATCH) {
        let calls: Vec<(&str, [TxId; 1])> =
            chunk.iter().map(|txid| ("gettransactionfinality", [*txid])).collect();
        let answers = match client.batch_as::<TxFinality, _>(&calls).await {
            Ok(answers) => answers,
            Err(e) => {
                let what = format!("resolving {} transactions failed: {e}", txids.len());
                let _ = inbox
                    .send(TrackerMsg::StreamTrouble { node, at_us: micros(origin.elapsed()), what })
                    .await;
                break;
            }
        };
        let at_us = micros(origin.elapsed());
        for finality in answers.into_iter().flatten() {
            let msg = TrackerMsg::Resolved {
                node,
                at_us,
                txid: finality.txid,
                state: finality.state,
                rejection: finality.rejection,
            };
            if inbox.send(msg).await.is_err() {
                return;
            }
        }
    }
    let _ = inbox.send(TrackerMsg::ResolveDone { node }).await;
}
