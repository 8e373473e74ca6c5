//! Hostile traffic for the chaos scenarios, aimed at one node while the
//! others serve the load: on P2P, the observer's well-formed hostile
//! messages ([`crate::hostile::attack`]) plus what a careless or malicious
//! client does at the byte level (a frame announcing 4 GiB, frames of
//! random bytes, hundreds of half-open connections held open, a flood of
//! connect-and-close); on JSON-RPC, a stream of malformed requests (bad
//! JSON, wrong types, unknown methods, huge and truncated bodies, wrong
//! content types). Each returns a one-line account of what it sent, and
//! [`rpc`] also what went unanswered (a failure).

use std::net::SocketAddr;
use std::time::Duration;

use protocol::Genesis;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Half-open connections held at once.
const HALF_OPEN: usize = 200;
/// Connect-and-close connections in the flood.
const FLOOD: usize = 1_000;

/// P2P: everything above, against `addr`.
pub async fn p2p(addr: SocketAddr, genesis: &Genesis, seed: u64) -> String {
    let report = crate::hostile::attack(addr, genesis, seed).await;
    let mut garbage = 0;
    // A frame that announces 4 GiB, then frames of random bytes.
    for i in 0..50u32 {
        let Ok(mut stream) = TcpStream::connect(addr).await else { continue };
        let frame: Vec<u8> = if i == 0 {
            u32::MAX.to_le_bytes().to_vec()
        } else {
            let len = 1 + (i * 37 % 300);
            let mut frame = len.to_le_bytes().to_vec();
            frame.extend(
                (0..len).map(|b| (b.wrapping_mul(i).wrapping_add(seed as u32) % 251) as u8),
            );
            frame
        };
        if stream.write_all(&frame).await.is_ok() {
            garbage += 1;
        }
        // Whatever the node says (nothing, or a close), briefly.
        let mut buf = [0u8; 256];
        let _ = tokio::time::timeout(Duration::from_millis(50), stream.read(&mut buf)).await;
    }
    // Half-open: connect and say nothing, all at once, for a while.
    let mut held = Vec::with_capacity(HALF_OPEN);
    for _ in 0..HALF_OPEN {
        if let Ok(stream) = TcpStream::connect(addr).await {
            held.push(stream);
        }
    }
    let half_open = held.len();
    tokio::time::sleep(Duration::from_secs(5)).await;
    drop(held);
    // A flood of connections closed at once.
    let mut flooded = 0;
    for _ in 0..FLOOD {
        if TcpStream::connect(addr).await.is_ok() {
            flooded += 1;
        }
    }
    format!(
        "P2P: {} hostile messages ({} connections shut out), {garbage} garbage frames (one announcing 4 GiB), {half_open} half-open connections for 5 s, {flooded} connect-and-close",
        report.sent, report.shut_out
    )
}

/// Requests whose body never completes, held at once (each waits out the
/// node's `rpc.header_read_timeout_ms`, then gets 408).
const SLOW_BODIES: usize = 32;

/// The malformed JSON-RPC requests: `slow` is a body that never arrives in
/// full; otherwise kind `i % 9`.
fn bad_request(i: usize, slow: bool, host: &str) -> Vec<u8> {
    let post = |content_type: &str, body: &[u8]| {
        let mut request = format!(
            "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        request
    };
    let json = "application/json";
    if slow {
        return format!(
            "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: {json}\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n{{\"trunc"
        )
        .into_bytes();
    }
    match i % 9 {
        0 => post(json, b"{not json"),
        1 => post(json, b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"getblockhash\",\"params\":[\"x\"]}"),
        2 => post(json, b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"no_such_method\",\"params\":[]}"),
        3 => post(json, b"[]"),
        4 => post(json, format!("[{}]", vec!["1"; 1_000].join(",")).as_bytes()),
        5 => post(json, format!("{{\"method\":\"{}\"}}", "a".repeat(100_000)).as_bytes()),
        6 => post("text/plain", b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"getblockcount\"}"),
        7 => post(json, b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"getblock\",\"params\":[18446744073709551615, 9]}"),
        _ => b"GARBAGE / HTTP/9.9\r\n\r\n".to_vec(),
    }
}

/// Sends one request; true when an HTTP status line came back.
async fn one(addr: SocketAddr, request: Vec<u8>) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr).await else { return false };
    if stream.write_all(&request).await.is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    let read = tokio::time::timeout(Duration::from_secs(15), stream.read(&mut head)).await;
    matches!(read, Ok(Ok(n)) if n > 0 && head.starts_with(b"HTTP/1.1"))
}

/// JSON-RPC: `count` malformed requests against `addr`: [`SLOW_BODIES`]
/// bodies that never complete, held at once, and the rest one after
/// another, 8 at a time.
pub async fn rpc(addr: SocketAddr, count: usize) -> (String, Option<String>) {
    let host = addr.to_string();
    let mut slow = tokio::task::JoinSet::new();
    for i in 0..SLOW_BODIES.min(count) {
        slow.spawn(one(addr, bad_request(i, true, &host)));
    }
    let mut answered = 0usize;
    let mut tasks = tokio::task::JoinSet::new();
    for i in SLOW_BODIES.min(count)..count {
        if tasks.len() >= 8 && tasks.join_next().await.is_some_and(|r| r.unwrap_or(false)) {
            answered += 1;
        }
        tasks.spawn(one(addr, bad_request(i, false, &host)));
    }
    for set in [&mut tasks, &mut slow] {
        while let Some(result) = set.join_next().await {
            answered += usize::from(result.unwrap_or(false));
        }
    }
    let account = format!(
        "JSON-RPC: {count} malformed requests ({} with a body that never completes), {answered} answered with an HTTP status",
        SLOW_BODIES.min(count)
    );
    let problem = (answered < count)
        .then(|| format!("{} malformed JSON-RPC requests got no HTTP answer", count - answered));
    (account, problem)
}
