//! The event stream (`GET /events`, Server-Sent Events): transaction state
//! changes and committed blocks, resumable with `Last-Event-ID`.
//!
//! One task follows the node's events, keeps the last `rpc.event_buffer` of
//! them in a ring for resuming, and fans them out on a broadcast channel. A
//! subscriber that falls more than the buffer behind gets one `lagged` event
//! and is disconnected: the node never waits for a slow reader.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, Stream};
use serde::Deserialize;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use consensus::Event;
use protocol::rpc::StreamEvent;

use super::Shared;
use crate::metrics::Metrics;
use crate::node::{NodeEvent, NodeHandle, now_millis};

/// Recent events and the live feed.
#[derive(Clone, Debug)]
pub struct EventLog {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    ring: Mutex<VecDeque<StreamEvent>>,
    capacity: usize,
    live: broadcast::Sender<StreamEvent>,
}

/// Converts a node event to its stream form.
pub(crate) fn to_stream(event: &NodeEvent) -> Option<StreamEvent> {
    let (id, at_ms) = (event.id, event.at);
    Some(match &event.event {
        Event::TxState { txid, state, rejection, weight } => StreamEvent::Tx {
            id,
            at_ms,
            txid: *txid,
            state: *state,
            weight: *weight,
            rejection: rejection.clone(),
        },
        Event::BlockCommitted { height, hash, round, txids } => StreamEvent::Block {
            id,
            at_ms,
            height: *height,
            hash: *hash,
            round: *round,
            txids: txids.clone(),
        },
        Event::Equivocation(evidence) => {
            StreamEvent::Equivocation { id, at_ms, detail: format!("{evidence:?}") }
        }
        Event::Syncing(syncing) => StreamEvent::Syncing { id, at_ms, syncing: *syncing },
        Event::ProposalRejected { .. } => return None,
    })
}

impl EventLog {
    /// An empty log keeping `capacity` events.
    pub fn new(capacity: usize) -> EventLog {
        let capacity = capacity.max(16);
        let (live, _) = broadcast::channel(capacity);
        EventLog {
            inner: Arc::new(Inner {
                ring: Mutex::new(VecDeque::with_capacity(capacity)),
                capacity,
                live,
            }),
        }
    }

    fn ring(&self) -> std::sync::MutexGuard<'_, VecDeque<StreamEvent>> {
        // The ring holds plain data; a panicked holder cannot break it.
        self.inner.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends an event and hands it to live subscribers.
    pub fn push(&self, event: StreamEvent) {
        {
            let mut ring = self.ring();
            if ring.len() == self.inner.capacity {
                ring.pop_front();
            }
            ring.push_back(event.clone());
        }
        // No subscriber is fine.
        let _ = self.inner.live.send(event);
    }

    /// Follows the node's events (and feeds the metrics) until shutdown.
    pub(crate) fn follow(
        &self,
        node: &NodeHandle,
        metrics: Arc<Metrics>,
        tracker: &TaskTracker,
        shutdown: CancellationToken,
    ) {
        let mut feed = node.subscribe();
        let log = self.clone();
        tracker.spawn(async move {
            loop {
                let event = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    event = feed.recv() => event,
                };
                match event {
                    Ok(event) => {
                        metrics.observe(&event);
                        if let Some(stream) = to_stream(&event) {
                            log.push(stream);
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        // Readers of the stream learn it from the id gap.
                        tracing::warn!(missed, "event log fell behind the node");
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        });
    }

    /// Events after `last` still held, and whether some after it are gone.
    pub fn replay_after(&self, last: u64) -> (Vec<StreamEvent>, bool) {
        let ring = self.ring();
        let Some(oldest) = ring.front().map(StreamEvent::id) else {
            return (Vec::new(), false);
        };
        let newest = ring.back().map_or(0, StreamEvent::id);
        // From an earlier run (ids are per-run time-based) or too old.
        // `last` is the client's (u64::MAX included): no arithmetic may overflow.
        let gap = last.saturating_add(1) < oldest || last > newest;
        (ring.iter().filter(|e| e.id() > last).cloned().collect(), gap)
    }

    /// A receiver of new events.
    pub fn subscribe(&self) -> broadcast::Receiver<StreamEvent> {
        self.inner.live.subscribe()
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct ResumeQuery {
    last_event_id: Option<u64>,
}

fn sse(event: &StreamEvent) -> SseEvent {
    let data = serde_json::to_string(event).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    SseEvent::default().id(event.id().to_string()).event(event.name()).data(data)
}

fn lagged(id: u64, reason: &str) -> StreamEvent {
    StreamEvent::Lagged { id, at_ms: now_millis(), reason: reason.to_string() }
}

/// `GET /events`.
pub(crate) async fn stream(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(query): Query<ResumeQuery>,
) -> Response {
    if let Err(denied) = shared.auth.check(&headers) {
        return denied;
    }
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .or(query.last_event_id);
    // Subscribe before reading the ring, so nothing falls between the two.
    let live = shared.events.subscribe();
    let mut first: Vec<StreamEvent> = Vec::new();
    // The id of the last real event this client has: live events after it
    // are sent, older ones skipped. After a gap (an id from another run, or
    // older than the ring) the client holds nothing we know of: from 0.
    let mut sent_up_to = 0;
    if let Some(last) = last {
        let (replay, gap) = shared.events.replay_after(last);
        if gap {
            first.push(lagged(last.saturating_add(1), "events after Last-Event-ID are no longer held; resolve missed transactions with gettransactionfinality"));
        } else {
            sent_up_to = last;
        }
        sent_up_to = replay.last().map_or(sent_up_to, StreamEvent::id);
        first.extend(replay);
    }
    let body = events_stream(first, live, sent_up_to);
    Sse::new(body)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)).text("keep-alive"))
        .into_response()
}

enum Phase {
    Replay(std::vec::IntoIter<StreamEvent>),
    Live,
    Done,
}

fn events_stream(
    first: Vec<StreamEvent>,
    live: broadcast::Receiver<StreamEvent>,
    sent_up_to: u64,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    stream::unfold(
        (Phase::Replay(first.into_iter()), live, sent_up_to),
        |(phase, live, sent)| async move {
            match phase {
                Phase::Done => None,
                Phase::Replay(mut items) => match items.next() {
                    Some(event) => {
                        // A lagged notice is not an event the client "has".
                        let id = if matches!(event, StreamEvent::Lagged { .. }) {
                            sent
                        } else {
                            event.id().max(sent)
                        };
                        Some((Ok(sse(&event)), (Phase::Replay(items), live, id)))
                    }
                    None => next_live(live, sent).await,
                },
                Phase::Live => next_live(live, sent).await,
            }
        },
    )
}

async fn next_live(
    mut live: broadcast::Receiver<StreamEvent>,
    sent: u64,
) -> Option<(Result<SseEvent, Infallible>, (Phase, broadcast::Receiver<StreamEvent>, u64))> {
    loop {
        match live.recv().await {
            Ok(event) if event.id() <= sent => continue,
            Ok(event) => {
                let id = event.id();
                return Some((Ok(sse(&event)), (Phase::Live, live, id)));
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {
                // Cut off a slow consumer with a clear final event.
                let event = lagged(
                    sent + 1,
                    "this client fell behind; reconnect with Last-Event-ID and resolve missed transactions with gettransactionfinality",
                );
                return Some((Ok(sse(&event)), (Phase::Done, live, sent)));
            }
            Err(broadcast::error::RecvError::Closed) => return None,
        }
    }
}
