//! The sender: takes each due slot from the [`Pacer`], the next signed
//! transaction from the workers' queue, registers it with the tracker and
//! issues its `sendrawtransaction` on its own task (open loop: a slow
//! answer never holds back the next send). Nodes are used round robin; a
//! conflicting pair goes to two different nodes at the same intended time.
//! A node that refuses the connection (down) is skipped for the next one,
//! as a client with several endpoints would; the latency still counts from
//! the intended time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use client::{ClientError, RpcClient};
use protocol::rpc::{TxSubmission, codes};

use crate::nodes::NodeSet;

use crate::recorder::micros;
use crate::schedule::{Clock, Pacer};
use crate::tracker::{Role, SendOutcome, SentTx, TrackerMsg};
use crate::workers::{Item, SignedTx};

/// What the sender needs besides the pacer and the queue.
#[derive(Debug)]
pub struct SenderSetup {
    /// The nodes.
    pub nodes: Arc<NodeSet>,
    /// The tracker's inbox.
    pub tracker: mpsc::Sender<TrackerMsg>,
    /// The in-flight cap (closed-loop mode).
    pub inflight: Option<Arc<Semaphore>>,
    /// The run's time origin.
    pub origin: Instant,
    /// How long to wait for a signed transaction before giving up.
    pub starvation_limit: Duration,
    /// Stops sending early (Ctrl-C).
    pub stop: CancellationToken,
    /// Sends that went to another node (see [`another_node_may_take`]).
    pub failovers: Arc<AtomicU64>,
}

/// How sending went.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct SenderReport {
    /// Slots used.
    pub slots: u64,
    /// Transactions sent (a pair is two).
    pub sent: u64,
    /// Why sending stopped before the schedule's end, if it did.
    pub stopped_early: Option<String>,
    /// Times the queue of signed transactions was empty when a slot was due.
    pub queue_empty: u64,
    /// Time spent waiting for signed transactions, µs.
    pub queue_wait_us: u64,
    /// Time spent waiting for an in-flight slot, µs.
    pub inflight_wait_us: u64,
    /// When the last send happened, µs since the origin.
    pub last_send_us: u64,
    /// Sends that went to another node because theirs was down or had not
    /// yet seen a parent final elsewhere.
    pub failovers: u64,
}

/// Maps an RPC failure to the fate it implies.
pub fn classify(e: &ClientError) -> SendOutcome {
    if let Some(rejection) = e.rejection() {
        return SendOutcome::Rejected(rejection.kind().into());
    }
    if e.is_busy() {
        return SendOutcome::Rejected("busy".into());
    }
    match e {
        ClientError::Transport { reason, timed_out: false, .. }
            if reason.to_ascii_lowercase().contains("refused") =>
        {
            SendOutcome::Rejected("unreachable".into())
        }
        ClientError::Rpc { code, .. } if *code == codes::MISC_ERROR => {
            SendOutcome::Rejected("node_unavailable".into())
        }
        ClientError::Rpc { code, .. } => {
            SendOutcome::Rejected(format!("rpc_error_{}", -code).into())
        }
        other => SendOutcome::Failed(other.to_string().into()),
    }
}

/// `sendrawtransaction` of `hex` to one node. A pooled connection the node
/// closed just as the request went out fails with a reset or an early close,
/// the request unprocessed; resubmission is idempotent (a node that did get
/// it answers with its state), so the same node is asked once more before
/// the failure counts.
pub async fn submit(client: &RpcClient, hex: &str) -> Result<TxSubmission, ClientError> {
    match client.send_raw_hex(hex).await {
        Err(ClientError::Transport { timed_out: false, .. }) => client.send_raw_hex(hex).await,
        answer => answer,
    }
}

/// Whether a rejection is one node's, not the transaction's, so the next
/// node is asked: it is down, or it has not yet seen a parent that is
/// final elsewhere (a node that was partitioned or restarted learns the
/// final set a moment after the others; it re-validates a resubmission).
fn another_node_may_take(outcome: &SendOutcome) -> bool {
    matches!(outcome, SendOutcome::Rejected(kind) if matches!(&**kind, "unreachable" | "unknown_input"))
}

/// Submits `hex` to node `first`, then to the next nodes in turn while the
/// answer is [`another_node_may_take`]: the node that answered last, its
/// answer, and how many nodes were asked.
async fn submit_anywhere(nodes: &NodeSet, first: u8, hex: &str) -> (u8, SendOutcome, usize) {
    let n = nodes.len().max(1);
    let mut node = first;
    let mut outcome = SendOutcome::Rejected("unreachable".into());
    let mut tries = 0;
    for k in 0..n {
        node = ((usize::from(first) + k) % n) as u8;
        let Some(client) = nodes.client(usize::from(node)) else { break };
        let Some(_slot) = nodes.submit_slot(usize::from(node)).await else { break };
        tries += 1;
        outcome = match submit(&client, hex).await {
            Ok(_) => SendOutcome::Accepted,
            Err(e) => classify(&e),
        };
        if !another_node_may_take(&outcome) {
            break;
        }
    }
    (node, outcome, tries)
}

/// Sends every slot of `pacer`'s schedule.
pub async fn run_sender<C: Clock>(
    mut pacer: Pacer<C>,
    mut queue: mpsc::Receiver<Vec<Item>>,
    setup: SenderSetup,
) -> SenderReport {
    let mut report = SenderReport::default();
    let mut ready: std::collections::VecDeque<Item> = std::collections::VecDeque::new();
    let nodes = setup.nodes.len().max(1);
    let mut seq: u32 = 0;
    let schedule = *pacer.schedule();
    'schedule: loop {
        let due = tokio::select! {
            _ = setup.stop.cancelled() => {
                report.stopped_early = Some("stopped by the user".into());
                break;
            }
            due = pacer.next_due() => due,
        };
        let Some(due) = due else { break };
        for slot in due {
            let intended_us = micros(schedule.intended(slot));
            let measured = !schedule.is_warmup(slot);
            let permit = match &setup.inflight {
                None => None,
                Some(semaphore) => match semaphore.clone().try_acquire_owned() {
                    Ok(permit) => Some(permit),
                    Err(_) => {
                        let started = Instant::now();
                        let permit = tokio::select! {
                            _ = setup.stop.cancelled() => {
                                report.stopped_early = Some("stopped by the user".into());
                                break 'schedule;
                            }
                            permit = semaphore.clone().acquire_owned() => permit.ok(),
                        };
                        report.inflight_wait_us += micros(started.elapsed());
                        permit
                    }
                },
            };
            while ready.is_empty() {
                match queue.try_recv() {
                    Ok(batch) => ready.extend(batch),
                    Err(mpsc::error::TryRecvError::Disconnected) => {
                        report.stopped_early =
                            Some("the signing workers ran out of coins they could spend".into());
                        break 'schedule;
                    }
                    Err(mpsc::error::TryRecvError::Empty) => {
                        report.queue_empty += 1;
                        let started = Instant::now();
                        let next = tokio::select! {
                            _ = setup.stop.cancelled() => {
                                report.stopped_early = Some("stopped by the user".into());
                                break 'schedule;
                            }
                            next = tokio::time::timeout(setup.starvation_limit, queue.recv()) => next,
                        };
                        report.queue_wait_us += micros(started.elapsed());
                        match next {
                            Ok(Some(batch)) => ready.extend(batch),
                            Ok(None) => {
                                report.stopped_early = Some(
                                    "the signing workers ran out of coins they could spend".into(),
                                );
                                break 'schedule;
                            }
                            Err(_) => {
                                report.stopped_early = Some(format!(
                                    "no signed transaction for {:?}: the coin pool ran dry (coins come back only once final; see the fates)",
                                    setup.starvation_limit
                                ));
                                break 'schedule;
                            }
                        }
                    }
                }
            }
            let Some(item) = ready.pop_front() else { break 'schedule };
            let node = (slot % nodes as u64) as u8;
            report.slots += 1;
            match item {
                Item::Single(tx) => {
                    let send = Send { seq, tx, node, intended_us, measured, role: Role::Regular };
                    if !send.go(pacer.clock(), &setup, permit).await {
                        break 'schedule;
                    }
                    seq += 1;
                    report.sent += 1;
                }
                Item::Pair(first, second) => {
                    let other = ((slot + 1) % nodes as u64) as u8;
                    let a =
                        Send { seq, tx: first, node, intended_us, measured, role: Role::PairFirst };
                    if !a.go(pacer.clock(), &setup, permit).await {
                        break 'schedule;
                    }
                    let b = Send {
                        seq: seq + 1,
                        tx: second,
                        node: other,
                        intended_us,
                        measured,
                        role: Role::PairSecond,
                    };
                    if !b.go(pacer.clock(), &setup, None).await {
                        break 'schedule;
                    }
                    seq += 2;
                    report.sent += 2;
                }
            }
            report.last_send_us = micros(pacer.clock().now());
        }
    }
    report.failovers = setup.failovers.load(Ordering::Relaxed);
    report
}

/// One transaction about to be sent.
struct Send {
    seq: u32,
    tx: SignedTx,
    node: u8,
    intended_us: u64,
    measured: bool,
    role: Role,
}

impl Send {
    /// Registers the transaction and issues its RPC; false when the
    /// tracker is gone.
    async fn go<C: Clock>(
        self,
        clock: &C,
        setup: &SenderSetup,
        permit: Option<tokio::sync::OwnedSemaphorePermit>,
    ) -> bool {
        let SignedTx { txid, hex, inputs, outputs } = self.tx;
        let sent_us = micros(clock.now());
        let registration = SentTx {
            seq: self.seq,
            txid,
            intended_us: self.intended_us,
            sent_us,
            node: self.node,
            measured: self.measured,
            role: self.role,
            inputs,
            outputs,
            permit,
        };
        if setup.tracker.send(TrackerMsg::Sent(Box::new(registration))).await.is_err() {
            return false;
        }
        let tracker = setup.tracker.clone();
        let (nodes, failovers) = (setup.nodes.clone(), setup.failovers.clone());
        let (seq, first, origin) = (self.seq, self.node, setup.origin);
        tokio::spawn(async move {
            let (node, outcome, tries) = submit_anywhere(&nodes, first, &hex).await;
            if tries > 1 {
                failovers.fetch_add(1, Ordering::Relaxed);
            }
            let at_us = micros(origin.elapsed());
            let _ = tracker.send(TrackerMsg::Answer { seq, at_us, node, outcome }).await;
        });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rpc_failures_map_to_fates() {
        let rejected = ClientError::Rpc {
            code: codes::VERIFY_REJECTED,
            message: "fee too low".into(),
            data: Some(json!({"reason": "fee_too_low", "fee": 900, "required": 1200})),
        };
        assert!(matches!(classify(&rejected), SendOutcome::Rejected(k) if &*k == "fee_too_low"));
        let busy = ClientError::Rpc { code: codes::BUSY, message: "full".into(), data: None };
        assert!(matches!(classify(&busy), SendOutcome::Rejected(k) if &*k == "busy"));
        let refused = ClientError::Transport {
            url: "u".into(),
            reason: "tcp connect error: Connection refused (os error 111)".into(),
            timed_out: false,
        };
        assert!(matches!(classify(&refused), SendOutcome::Rejected(k) if &*k == "unreachable"));
        let timeout =
            ClientError::Transport { url: "u".into(), reason: "timed out".into(), timed_out: true };
        assert!(matches!(classify(&timeout), SendOutcome::Failed(_)));
    }

    /// Serves one JSON-RPC answer per connection, `answers` connections.
    async fn node_answering(answers: usize, body: String) -> crate::target::Node {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            for _ in 0..answers {
                let (mut stream, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; 64 * 1024];
                let _ = stream.read(&mut buf).await.unwrap();
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                stream.write_all(response.as_bytes()).await.unwrap();
            }
        });
        crate::target::Node {
            name: url.clone(),
            client: RpcClient::new(&url, client::RpcAuth::None).unwrap(),
            url,
            data_dir: None,
        }
    }

    /// A node that has not yet seen a parent final elsewhere answers
    /// `unknown_input`; the next node, which has, takes the transaction.
    /// Any other rejection is the transaction's and is not sent on.
    #[tokio::test]
    async fn a_parent_unknown_to_one_node_is_sent_to_the_next() {
        let rejection = |rejection: protocol::validate::TxRejection| {
            let data = serde_json::to_string(&rejection).unwrap();
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"error":{{"code":{},"message":"rejected","data":{data}}}}}"#,
                codes::VERIFY_REJECTED
            )
        };
        let unknown = || protocol::validate::TxRejection::UnknownInput {
            index: 0,
            outpoint: protocol::OutPoint { txid: protocol::TxId([7; 32]), vout: 0 },
        };
        let accepted = format!(
            r#"{{"jsonrpc":"2.0","id":1,"result":{{"txid":"{}","state":"pending","already_known":false}}}}"#,
            "ab".repeat(32)
        );
        let behind = node_answering(1, rejection(unknown())).await;
        let caught_up = node_answering(1, accepted).await;
        let nodes = NodeSet::new(&[behind, caught_up], client::ClientOptions::default());
        let (node, outcome, tries) = submit_anywhere(&nodes, 0, "00").await;
        assert_eq!((node, tries), (1, 2));
        assert!(matches!(outcome, SendOutcome::Accepted), "{outcome:?}");

        let poor = node_answering(
            1,
            rejection(protocol::validate::TxRejection::FeeTooLow { fee: 900, required: 1200 }),
        )
        .await;
        let other = node_answering(1, rejection(unknown())).await;
        let nodes = NodeSet::new(&[poor, other], client::ClientOptions::default());
        let (node, outcome, tries) = submit_anywhere(&nodes, 0, "00").await;
        assert_eq!((node, tries), (0, 1));
        assert!(matches!(outcome, SendOutcome::Rejected(k) if &*k == "fee_too_low"));
    }

    /// A node that drops the first connection after reading the request
    /// (as it does to a keep-alive connection it is closing) and answers
    /// the second: `submit` asks again and gets the answer.
    #[tokio::test]
    async fn a_connection_closed_under_the_request_is_retried_once() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let txid = "ab".repeat(32);
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":1,"result":{{"txid":"{txid}","state":"pending","already_known":true}}}}"#
        );
        let server = tokio::spawn(async move {
            for answer in [false, true] {
                let (mut stream, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; 64 * 1024];
                let _ = stream.read(&mut buf).await.unwrap();
                if answer {
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    stream.write_all(response.as_bytes()).await.unwrap();
                }
            }
        });
        let client = RpcClient::new(&url, client::RpcAuth::None).unwrap();
        let submission = submit(&client, "00").await.unwrap();
        assert_eq!(submission.txid.to_string(), txid);
        assert!(submission.already_known);
        server.await.unwrap();
    }
}
