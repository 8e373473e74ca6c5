//! The RPC's HTTP connections: a body that never completes, and
//! connections beyond the limit.

use std::time::Duration;

use crate::harness::{Scratch, WAIT, lock};

/// One JSON-RPC call on a raw keep-alive connection: the response's head and
/// body once all of it has arrived.
async fn raw_call(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"getblockcount","params":[]}"#;
    let request = format!(
        "POST / HTTP/1.1\r\nHost: node\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("send the request");
    let mut answer = Vec::new();
    loop {
        let text = String::from_utf8_lossy(&answer).to_string();
        if let Some((head, rest)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_string())
                })
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if rest.len() >= length {
                return text;
            }
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.expect("read the response");
        assert!(n > 0, "the connection closed before the response: {text}");
        answer.extend_from_slice(&chunk[..n]);
    }
}

/// A request whose body trickles in is answered HTTP 408 once the body has
/// had `rpc.header_read_timeout_ms`, so it cannot hold its connection slot
/// for as long as it likes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_body_that_never_completes_gets_408() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _lock = lock();
    let scratch = Scratch::new();
    let config = scratch.path("timed.toml");
    std::fs::write(&config, "[rpc]\nheader_read_timeout_ms = 300\n").expect("write timed.toml");
    let node = scratch.start_with(&config).await;
    let address = node.info.rpc_url.trim_start_matches("http://").trim_end_matches('/').to_string();
    let mut stream =
        tokio::net::TcpStream::connect(address.as_str()).await.expect("connect to the RPC port");
    // Headers promise 100 bytes; ten arrive, then nothing.
    let head = "POST / HTTP/1.1\r\nHost: node\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"jsonrpc\"";
    stream.write_all(head.as_bytes()).await.expect("send the start of a request");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(WAIT, async {
        let mut chunk = [0u8; 1024];
        while !String::from_utf8_lossy(&answer).contains("\r\n\r\n") {
            let n = stream.read(&mut chunk).await.expect("read the answer");
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&chunk[..n]);
        }
    })
    .await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(read.is_ok(), "no answer to a request whose body never completes");
    assert!(answer.starts_with("HTTP/1.1 408"), "answer: {answer}");
}

/// Connections beyond `rpc.max_connections` wait in the listen backlog (the
/// node spends no socket, buffer or file descriptor on them) and are served
/// as soon as one closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_connections_beyond_the_limit_wait_until_one_closes() {
    let _lock = lock();
    let scratch = Scratch::new();
    let config = scratch.path("timed.toml");
    // Idle connections are not closed for the test's length.
    std::fs::write(&config, "[rpc]\nmax_connections = 2\nheader_read_timeout_ms = 120000\n")
        .expect("write timed.toml");
    let node = scratch.start_with(&config).await;
    let address = node.info.rpc_url.trim_start_matches("http://").trim_end_matches('/').to_string();
    let connect = || async {
        tokio::net::TcpStream::connect(address.as_str()).await.expect("connect to the RPC port")
    };
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = connect().await;
        let answer = raw_call(&mut stream).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "a call within the limit: {answer}");
        held.push(stream);
    }
    let mut third = connect().await;
    let waiting = tokio::time::timeout(Duration::from_millis(500), raw_call(&mut third)).await;
    assert!(waiting.is_err(), "a third connection was served with two held: {waiting:?}");
    drop(held.pop());
    let answer = tokio::time::timeout(WAIT, raw_call(&mut third))
        .await
        .expect("the waiting connection is served once one closes");
    assert!(answer.starts_with("HTTP/1.1 200"), "the waiting call: {answer}");
}
