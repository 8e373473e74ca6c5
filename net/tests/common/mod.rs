//! The harness the integration tests share: a small message type, endpoints
//! on loopback port 0 that record their events, and waiting for a condition
//! with a timeout (never a bare sleep).

// Each test binary uses a different part of the harness.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use net::{NetConfig, NetEvent, NetHandle, NetLimits, PeerAddress, Role, WireMessage};
use protocol::{ChainId, Hash256, NodeId, PROTOCOL_VERSION, SecretKey};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

/// The test chain.
pub(crate) const CHAIN: ChainId = ChainId(9);
/// The test genesis hash.
pub(crate) const GENESIS: Hash256 = Hash256([7; 32]);
/// Generous bound for anything that should happen "soon" on a loaded machine.
pub(crate) const SOON: Duration = Duration::from_secs(10);

/// The application messages of the tests; votes are consensus messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum TestMsg {
    Hello(String),
    Vote(u64),
    Big(Vec<u8>),
    /// Taken before everything else waiting (`WireMessage::is_urgent`).
    Urgent(u64),
}

impl WireMessage for TestMsg {
    fn is_consensus(&self) -> bool {
        matches!(self, TestMsg::Vote(_))
    }

    fn is_urgent(&self) -> bool {
        matches!(self, TestMsg::Urgent(_))
    }
}

pub(crate) fn hello(text: &str) -> TestMsg {
    TestMsg::Hello(text.to_string())
}

/// The key with seed byte `seed`.
pub(crate) fn key(seed: u8) -> SecretKey {
    SecretKey::from_seed([seed; 32])
}

/// The id of [`key`]`(seed)`.
pub(crate) fn id(seed: u8) -> NodeId {
    NodeId::from(key(seed).public())
}

/// Seeds 1 to 20 are committee members; others are not.
pub(crate) fn committee() -> Vec<NodeId> {
    (1..=20).map(id).collect()
}

/// Short timers so failures show quickly; limits otherwise default.
pub(crate) fn limits() -> NetLimits {
    NetLimits {
        handshake_timeout: Duration::from_secs(3),
        idle_timeout: Duration::from_secs(10),
        ping_interval: Duration::from_millis(500),
        backoff_min: Duration::from_millis(10),
        backoff_max: Duration::from_millis(300),
        ..NetLimits::default()
    }
}

/// A masternode config on 127.0.0.1 port 0 dialling `peers`.
pub(crate) fn config(peers: Vec<PeerAddress>) -> NetConfig {
    NetConfig {
        listen: "127.0.0.1:0".parse().expect("a socket address"),
        chain_id: CHAIN,
        genesis_hash: GENESIS,
        protocol_version: PROTOCOL_VERSION,
        role: Role::Masternode,
        committee: committee(),
        peers,
        bootstrap: Vec::new(),
        peer_exchange: false,
        limits: limits(),
    }
}

/// How a test node answers requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// `Hello(x)` is answered with `Hello("re: x")`, anything else with itself.
    Echo,
    /// Requests are dropped unanswered.
    Ignore,
}

/// What a node saw.
#[derive(Debug, Default)]
pub(crate) struct Log {
    pub(crate) messages: Vec<(NodeId, TestMsg)>,
    pub(crate) requests: Vec<(NodeId, TestMsg)>,
    pub(crate) ups: Vec<(NodeId, bool, Role)>,
    pub(crate) downs: Vec<(NodeId, String)>,
}

/// An endpoint whose events are recorded by a background task.
pub(crate) struct Node {
    pub(crate) handle: NetHandle<TestMsg>,
    pub(crate) log: Arc<Mutex<Log>>,
    pub(crate) shutdown: CancellationToken,
}

impl Node {
    pub(crate) async fn start(seed: u8, config: NetConfig, answer: Answer) -> Node {
        init_tracing();
        let shutdown = CancellationToken::new();
        let (handle, mut events) = net::start::<TestMsg>(config, key(seed), shutdown.clone())
            .await
            .expect("endpoint starts");
        let log = Arc::new(Mutex::new(Log::default()));
        let recorder = Arc::clone(&log);
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                let mut log = recorder.lock().expect("log lock");
                match event {
                    NetEvent::PeerUp { peer, inbound, role, .. } => {
                        log.ups.push((peer, inbound, role))
                    }
                    NetEvent::PeerDown { peer, reason } => log.downs.push((peer, reason)),
                    NetEvent::Message { peer, msg } => log.messages.push((peer, msg)),
                    NetEvent::Request { peer, msg, responder } => {
                        log.requests.push((peer, msg.clone()));
                        if answer == Answer::Echo {
                            let reply = match msg {
                                TestMsg::Hello(text) => TestMsg::Hello(format!("re: {text}")),
                                other => other,
                            };
                            responder.respond(reply).expect("response queued");
                        }
                    }
                }
            }
        });
        Node { handle, log, shutdown }
    }

    pub(crate) fn id(&self) -> NodeId {
        self.handle.local_id()
    }

    /// How to dial this node.
    pub(crate) fn address(&self) -> PeerAddress {
        PeerAddress { id: Some(self.id()), address: self.handle.local_addr().to_string() }
    }

    /// Messages received from `peer`, in order.
    pub(crate) fn received_from(&self, peer: &NodeId) -> Vec<TestMsg> {
        let log = self.log.lock().expect("log lock");
        log.messages.iter().filter(|(from, _)| from == peer).map(|(_, m)| m.clone()).collect()
    }

    /// Messages received from anyone.
    pub(crate) fn received(&self) -> Vec<TestMsg> {
        self.log.lock().expect("log lock").messages.iter().map(|(_, m)| m.clone()).collect()
    }

    pub(crate) fn ups_of(&self, peer: &NodeId) -> usize {
        self.log.lock().expect("log lock").ups.iter().filter(|(p, ..)| p == peer).count()
    }

    /// Stops the endpoint and waits until its tasks are gone.
    pub(crate) async fn stop(&self) {
        self.shutdown.cancel();
        tokio::time::timeout(SOON, self.handle.stopped()).await.expect("endpoint stops");
    }
}

/// Waits until `a` and `b` each see the other connected (each end finishes
/// its handshake at its own moment).
pub(crate) async fn wait_connected(a: &Node, b: &Node) {
    wait_until("both ends connected", SOON, || {
        a.handle.is_connected(&b.id()) && b.handle.is_connected(&a.id())
    })
    .await;
}

/// Polls `condition` until it holds; panics naming `what` after `timeout`.
pub(crate) async fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Logs to the test output when `RUST_LOG` is set.
pub(crate) fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}
