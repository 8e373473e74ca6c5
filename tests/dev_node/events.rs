//! The event stream.

use std::time::Duration;

use client::events::{SseMessage, SseParser};
use client::{EventStream, EventStreamOptions, RpcClient};
use protocol::Amount;
use protocol::rpc::{StreamEvent, TxState};

use crate::harness::{Scratch, TIME, WAIT, http_client, lock};
use crate::payer::{Payer, address};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_node_event_stream_delivers_final_and_resumes() {
    let _lock = lock();
    let scratch = Scratch::new();
    let node = scratch.start().await;
    let rpc = &node.rpc;
    let mut payer = Payer::new(&node).await;
    let options = EventStreamOptions { idle_timeout: WAIT, ..EventStreamOptions::default() };

    // Live: a payment's `final`, then the block that commits it.
    let mut live = rpc.subscribe_with(options, None).await.expect("subscribe to /events");
    let tx = payer.pay(rpc, address(0x75), Amount::from_sat(12_000 * TIME)).await;
    let txid = rpc.sendrawtransaction(&tx).await.expect("sendrawtransaction").txid;
    let mut seen: Vec<StreamEvent> = Vec::new();
    let mut final_at = None;
    let mut block_at = None;
    while block_at.is_none() {
        let event = next(&mut live).await;
        match &event {
            StreamEvent::Tx { txid: id, state: TxState::Final, weight, .. } if *id == txid => {
                assert!(*weight >= 1, "final with weight {weight}");
                final_at = Some(seen.len());
            }
            StreamEvent::Tx { txid: id, state, .. } if *id == txid => {
                assert!(
                    !client::finality::is_terminal(*state) || state.is_final(),
                    "{txid} became {state}"
                );
            }
            StreamEvent::Block { txids, .. } if txids.contains(&txid) => {
                block_at = Some(seen.len())
            }
            StreamEvent::Lagged { .. } => panic!("a fresh subscriber lagged: {event:?}"),
            _ => {}
        }
        seen.push(event);
    }
    let final_at = final_at.expect("the stream delivered `final` for the payment");
    assert!(final_at < block_at.expect("set"), "`final` came after the block committing it");
    // Two more live events (blocks, one a second) to resume into.
    seen.push(next(&mut live).await);
    seen.push(next(&mut live).await);
    let ids: Vec<u64> = seen.iter().map(StreamEvent::id).collect();
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "ids do not increase by one: {ids:?}");
    let last = *ids.last().expect("events");
    assert_eq!(live.last_event_id(), Some(last));
    drop(live);

    // Resume a little behind with Last-Event-ID: the replay in order, no gap,
    // then live events.
    let behind = 3.min(seen.len() as u64 - 1);
    let from = last - behind;
    let mut resumed = rpc.subscribe_with(options, Some(from)).await.expect("resume");
    let mut replay = Vec::new();
    while replay.len() < behind as usize + 1 {
        replay.push(next(&mut resumed).await);
    }
    assert!(
        replay.iter().all(|e| !matches!(e, StreamEvent::Lagged { .. })),
        "a resume within the buffer lagged: {replay:?}"
    );
    assert_eq!(
        &replay[..behind as usize],
        &seen[seen.len() - behind as usize..],
        "the replay after {from}"
    );
    assert_eq!(replay[behind as usize].id(), last + 1, "the first live event after the replay");
    drop(resumed);

    // The same with ?last_event_id= on a raw connection.
    let messages = raw_events(rpc, None, Some(last - 1), 1, WAIT).await;
    assert_eq!(messages[0].id.as_deref(), Some(last.to_string().as_str()), "{messages:?}");
    assert_eq!(serde_json::from_str::<StreamEvent>(&messages[0].data).ok().as_ref(), seen.last());

    // An id from long ago: `lagged` first, then everything still held, in order.
    let messages = raw_events(rpc, Some("1"), None, 4, WAIT).await;
    assert_eq!(messages[0].event, "lagged", "{messages:?}");
    assert!(
        matches!(serde_json::from_str(&messages[0].data), Ok(StreamEvent::Lagged { .. })),
        "{messages:?}"
    );
    let held: Vec<u64> = messages[1..]
        .iter()
        .map(|m| m.id.as_deref().and_then(|id| id.parse().ok()).expect("numeric id"))
        .collect();
    assert!(
        held.windows(2).all(|w| w[1] == w[0] + 1),
        "the replay after `lagged` has gaps: {held:?}"
    );
    // The typed client passes the node's `lagged` on.
    let mut old = rpc.subscribe_with(options, Some(1)).await.expect("resume from long ago");
    assert!(matches!(next(&mut old).await, StreamEvent::Lagged { .. }));
    drop(old);

    // An id from the future (another run, a clock that went back): `lagged`
    // first, and the stream goes on with the node's events.
    let future = last + 1_000_000_000;
    // Blocks come every second: a few seconds without an event is a stall.
    let messages =
        raw_events(rpc, Some(&future.to_string()), None, 2, Duration::from_secs(6)).await;
    assert_eq!(messages[0].event, "lagged", "{messages:?}");
    let after: u64 = messages[1].id.as_deref().and_then(|id| id.parse().ok()).expect("numeric id");
    assert!(after > last, "after `lagged` came event {after}, not a new one");

    // The largest id there is: no overflow anywhere (a panic would end the
    // node), `lagged` and live events as for any future id.
    let messages =
        raw_events(rpc, Some(&u64::MAX.to_string()), None, 2, Duration::from_secs(6)).await;
    assert_eq!(messages[0].event, "lagged", "{messages:?}");
    rpc.getblockcount().await.expect("the node still answers");
}

/// The next event, which must come within `WAIT`.
async fn next(stream: &mut EventStream) -> StreamEvent {
    match tokio::time::timeout(WAIT, stream.next_event()).await {
        Ok(Some(Ok(event))) => event,
        Ok(Some(Err(e))) => panic!("event stream error: {e}"),
        Ok(None) => panic!("the event stream ended"),
        Err(_) => panic!("no event within {WAIT:?}"),
    }
}

/// The first `count` messages of a raw `GET /events`, resuming with the
/// `Last-Event-ID` header or the `last_event_id` query parameter.
async fn raw_events(
    rpc: &RpcClient,
    header: Option<&str>,
    query: Option<u64>,
    count: usize,
    within: Duration,
) -> Vec<SseMessage> {
    let http = http_client();
    let mut url = rpc.endpoint("events");
    if let Some(id) = query {
        url = format!("{url}?last_event_id={id}");
    }
    let mut request = http.get(&url).header("accept", "text/event-stream");
    if let Some(id) = header {
        request = request.header("last-event-id", id);
    }
    let mut response = request.send().await.expect("GET /events");
    assert!(response.status().is_success(), "GET {url}: HTTP {}", response.status());
    let mut parser = SseParser::new();
    let mut messages = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    while messages.len() < count {
        match tokio::time::timeout_at(deadline, response.chunk()).await {
            Ok(Ok(Some(chunk))) => parser.feed(&chunk, &mut messages),
            Ok(Ok(None)) => panic!("GET {url} ended after {messages:?}"),
            Ok(Err(e)) => panic!("GET {url}: {e}"),
            Err(_) => panic!(
                "GET {url}: {} of {count} events in {within:?}: {messages:?}",
                messages.len()
            ),
        }
    }
    messages
}
