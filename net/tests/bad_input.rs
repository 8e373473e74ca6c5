//! Every kind of bad input an endpoint can get from the network, one test
//! each: each asserts the disconnect (or drop) and the counter, and that the
//! endpoint still serves honest peers.

mod common;

use std::time::Duration;

use common::{
    Answer, CHAIN, GENESIS, Node, SOON, TestMsg, config, hello, id, key, wait_connected, wait_until,
};
use net::frame::raw_frame;
use net::testing::{EvilIdentity, EvilPeer};
use net::wire::{Envelope, encode_payload};
use net::{NetConfig, PeerAddress, Role};
use protocol::{ChainId, Hash256};

/// A committee member's identity (seed 15 is in the test committee).
fn member() -> EvilIdentity {
    EvilIdentity::new(key(15), CHAIN, GENESIS)
}

/// Someone outside the committee.
fn outsider(role: Role) -> EvilIdentity {
    EvilIdentity { role, ..EvilIdentity::new(key(200), CHAIN, GENESIS) }
}

async fn node(config: NetConfig) -> Node {
    Node::start(1, config, Answer::Echo).await
}

/// An honest peer can still connect and talk to `target`.
async fn still_serves_honest_peers(target: &Node) {
    let honest = Node::start(2, common::config(vec![target.address()]), Answer::Echo).await;
    wait_connected(target, &honest).await;
    let answer = honest.handle.request(&target.id(), hello("ok?"), SOON).await.expect("answered");
    assert_eq!(answer, hello("re: ok?"));
    honest.stop().await;
}

/// Whether `target` refuses `identity`: the handshake fails, or the
/// connection closes right after it (the node's own `Auth` may already be on
/// its way when it finds the peer's bad).
async fn refused(target: &Node, identity: &EvilIdentity) -> bool {
    match EvilPeer::<TestMsg>::handshake(target.handle.local_addr(), identity, SOON).await {
        Err(_) => true,
        Ok(mut peer) => peer.closed_within(SOON).await,
    }
}

async fn connect(target: &Node) -> EvilPeer<TestMsg> {
    EvilPeer::connect(target.handle.local_addr()).await.expect("tcp connect")
}

async fn handshake(target: &Node, identity: &EvilIdentity) -> EvilPeer<TestMsg> {
    EvilPeer::handshake(target.handle.local_addr(), identity, SOON).await.expect("handshake")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_bytes_before_the_handshake_close_the_connection() {
    let a = node(config(vec![])).await;
    // "GET " read as a length is about 540 MB: refused as oversized.
    let mut http = connect(&a).await;
    http.send_raw(b"GET / HTTP/1.1\r\nHost: example\r\n\r\n").await.unwrap();
    assert!(http.closed_within(SOON).await);
    // A small length and junk: a malformed first frame.
    let mut junk = connect(&a).await;
    junk.send_raw(&raw_frame(3, &[9, 9, 9])).await.unwrap();
    assert!(junk.closed_within(SOON).await);
    wait_until("both counted", SOON, || a.handle.stats().handshake_malformed == 2).await;
    assert_eq!(a.handle.stats().oversized_frames, 1);
    assert!(a.handle.peers().is_empty());
    still_serves_honest_peers(&a).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn length_prefix_of_u32_max_closes_the_connection() {
    let a = node(config(vec![])).await;
    // Before the handshake.
    let mut raw = connect(&a).await;
    raw.send_raw(&u32::MAX.to_le_bytes()).await.unwrap();
    assert!(raw.closed_within(SOON).await);
    // After it, from an authenticated member.
    let mut evil = handshake(&a, &member()).await;
    wait_until("the member is up", SOON, || a.handle.peers().len() == 1).await;
    evil.send_raw(&u32::MAX.to_le_bytes()).await.unwrap();
    assert!(evil.closed_within(SOON).await);
    wait_until("the member is down", SOON, || a.handle.peers().is_empty()).await;
    let stats = a.handle.stats();
    assert_eq!((stats.oversized_frames, stats.handshake_malformed), (2, 1));
    still_serves_honest_peers(&a).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frame_one_byte_over_the_limit_closes_and_one_at_the_limit_is_accepted() {
    const LIMIT: usize = 64 * 1024;
    let mut cfg = config(vec![]);
    cfg.limits.max_frame_bytes = LIMIT;
    let a = node(cfg).await;
    let mut evil = handshake(&a, &member()).await;

    // A message whose frame is exactly LIMIT bytes is delivered.
    let mut body_len = LIMIT - 16;
    let payload = loop {
        let payload = encode_payload(&Envelope::App(TestMsg::Big(vec![7; body_len]))).unwrap();
        match payload.len().cmp(&LIMIT) {
            std::cmp::Ordering::Equal => break payload,
            std::cmp::Ordering::Less => body_len += 1,
            std::cmp::Ordering::Greater => body_len -= 1,
        }
    };
    evil.send_frame(&payload).await.unwrap();
    wait_until("the frame at the limit arrives", SOON, || {
        a.received() == [TestMsg::Big(vec![7; body_len])]
    })
    .await;

    // One byte more is refused on the length alone.
    let over = u32::try_from(LIMIT + 1).unwrap();
    evil.send_raw(&raw_frame(over, &[0; 100])).await.unwrap();
    assert!(evil.closed_within(SOON).await);
    wait_until("counted", SOON, || a.handle.stats().oversized_frames == 1).await;
    assert_eq!(a.handle.stats().decode_errors, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_that_never_finishes_times_out() {
    let mut cfg = config(vec![]);
    cfg.limits.handshake_timeout = Duration::from_millis(300);
    let a = node(cfg).await;
    // Silent from the start.
    let mut silent = connect(&a).await;
    // Sends its hello, never its auth.
    let mut half = connect(&a).await;
    half.send_envelope(&Envelope::Hello(member().hello())).await.unwrap();
    assert!(silent.closed_within(SOON).await);
    assert!(half.closed_within(SOON).await);
    wait_until("both timed out", SOON, || a.handle.stats().handshake_timeout == 2).await;
    assert!(a.handle.peers().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_handshake_is_refused() {
    let a = node(config(vec![])).await;
    let identity = member();
    // Session 1: a real handshake, recorded.
    let first = handshake(&a, &identity).await;
    let recorded_hello = first.sent_hello().unwrap().clone();
    let recorded_auth = first.sent_auth().unwrap().clone();
    let first_nonce = first.received_hello().unwrap().nonce;
    // The node finishes its side of the handshake at its own moment: wait
    // for its peer-up before ending the session, or the session could end
    // before the node ever counted it.
    wait_until("session 1 is up at the node", SOON, || a.ups_of(&identity.id()) == 1).await;
    drop(first);
    wait_until("session 1 is over", SOON, || a.handle.peers().is_empty()).await;

    // Session 2: replay the same hello and auth without the key.
    let mut replay = connect(&a).await;
    replay.send_envelope(&Envelope::Hello(recorded_hello)).await.unwrap();
    let fresh = match replay.recv(SOON).await.unwrap() {
        Envelope::Hello(hello) => hello,
        other => panic!("expected the node's hello, got {other:?}"),
    };
    assert_ne!(fresh.nonce, first_nonce, "the node's nonce is fresh per session");
    replay.send_auth(recorded_auth.signature).await.unwrap();
    assert!(replay.closed_within(SOON).await);
    wait_until("counted", SOON, || a.handle.stats().handshake_bad_signature == 1).await;
    assert_eq!(a.ups_of(&identity.id()), 1, "only the genuine session came up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_chain_id_is_refused() {
    let a = node(config(vec![])).await;
    let identity = EvilIdentity { chain_id: ChainId(10), ..member() };
    assert!(refused(&a, &identity).await);
    wait_until("counted", SOON, || a.handle.stats().handshake_bad_chain == 1).await;
    assert!(a.handle.peers().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_genesis_hash_is_refused() {
    let a = node(config(vec![])).await;
    let identity = EvilIdentity { genesis_hash: Hash256([8; 32]), ..member() };
    assert!(refused(&a, &identity).await);
    wait_until("counted", SOON, || a.handle.stats().handshake_bad_genesis == 1).await;
    assert!(a.handle.peers().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_protocol_version_is_refused() {
    let a = node(config(vec![])).await;
    let identity = EvilIdentity { protocol_version: 99, ..member() };
    assert!(refused(&a, &identity).await);
    wait_until("counted", SOON, || a.handle.stats().handshake_bad_version == 1).await;
    assert!(a.handle.peers().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signature_is_refused() {
    let a = node(config(vec![])).await;
    let corrupt = EvilIdentity { corrupt_signature: true, ..member() };
    assert!(refused(&a, &corrupt).await);
    // Claiming a member's id while signing with another key fails the same way.
    let impostor = EvilIdentity { claimed_id: Some(common::id(3)), ..outsider(Role::Masternode) };
    assert!(refused(&a, &impostor).await);
    wait_until("counted", SOON, || a.handle.stats().handshake_bad_signature == 2).await;
    assert!(a.handle.peers().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_member_claiming_masternode_is_refused() {
    let a = node(config(vec![])).await;
    let identity = outsider(Role::Masternode);
    assert!(refused(&a, &identity).await);
    wait_until("counted", SOON, || a.handle.stats().handshake_not_member == 1).await;
    assert!(a.handle.peers().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observer_consensus_messages_are_dropped_and_counted() {
    let a = node(config(vec![])).await;
    let identity = outsider(Role::Observer);
    let mut observer = handshake(&a, &identity).await;
    wait_until("the observer is up", SOON, || a.handle.peers().len() == 1).await;
    assert_eq!(a.handle.peers()[0].role, Role::Observer);

    observer.send_app(TestMsg::Vote(1)).await.unwrap();
    observer.send_envelope(&Envelope::Request { id: 1, body: TestMsg::Vote(2) }).await.unwrap();
    observer.send_app(hello("ordinary")).await.unwrap();
    // Frames are handled in order: once "ordinary" is in, the votes were seen.
    wait_until("the ordinary message arrives", SOON, || a.received() == [hello("ordinary")]).await;
    assert_eq!(a.handle.stats().consensus_from_non_member, 2);
    assert!(a.log.lock().unwrap().requests.is_empty());
    assert!(a.handle.peers()[0].score >= 15, "misbehaviour score rose");
    // Ordinary requests from observers are served.
    observer.send_envelope(&Envelope::Request { id: 2, body: hello("q") }).await.unwrap();
    match recv_skipping_pings(&mut observer).await {
        Envelope::Response { id: 2, body } => assert_eq!(body, hello("re: q")),
        other => panic!("expected the response, got {other:?}"),
    }
}

/// The next envelope other than a ping or pong.
async fn recv_skipping_pings(peer: &mut EvilPeer<TestMsg>) -> Envelope<TestMsg> {
    loop {
        match peer.recv(SOON).await.expect("an envelope") {
            Envelope::Ping { .. } | Envelope::Pong { .. } => {}
            other => return other,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_beyond_the_rate_limit_is_dropped_then_banned_while_others_flow() {
    let mut cfg = config(vec![]);
    cfg.limits.max_msgs_per_sec = 100;
    cfg.limits.msg_burst = 100;
    let a = node(cfg).await;
    let b = Node::start(2, config(vec![a.address()]), Answer::Echo).await;
    wait_connected(&a, &b).await;

    let identity = member();
    let mut flooder = handshake(&a, &identity).await;
    let flood = tokio::spawn(async move {
        // The write fails once the node bans and disconnects: expected.
        let _ = flooder.flood(&Envelope::App(hello("flood")), 20_000).await;
        flooder
    });
    // b's traffic keeps flowing meanwhile (b has its own buckets).
    for i in 0..50 {
        b.handle.send(&a.id(), hello(&format!("b {i}"))).unwrap();
    }
    let mut flooder = flood.await.unwrap();
    assert!(flooder.closed_within(SOON).await, "the flooder is disconnected");
    wait_until("b's messages all arrive", SOON, || a.received_from(&b.id()).len() == 50).await;
    wait_until("the ban is counted", SOON, || a.handle.stats().bans == 1).await;
    let stats = a.handle.stats();
    assert!(stats.rate_limited >= 100, "{stats:?}");
    let delivered = a.received_from(&identity.id()).len();
    assert!(delivered < 20_000 - 100, "most of the flood was dropped: {delivered} delivered");

    // The ban holds: the flooder's id cannot come back.
    assert!(refused(&a, &identity).await);
    wait_until("refused as banned", SOON, || a.handle.stats().handshake_banned == 1).await;
    // Loopback is not banned by IP: b (also 127.0.0.1) is unaffected.
    assert!(a.handle.is_connected(&b.id()));
    a.handle.send(&b.id(), hello("after the ban")).unwrap();
    wait_until("a still reaches b", SOON, || b.received_from(&a.id()) == [hello("after the ban")])
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_lead_to_a_ban_that_expires() {
    let mut cfg = config(vec![]);
    cfg.limits.ban_duration = Duration::from_millis(500);
    let a = node(cfg).await;
    let identity = member();
    let mut evil = handshake(&a, &identity).await;
    // Valid frames, undecodable payloads: 20 points each, banned at 100.
    for _ in 0..5 {
        evil.send_frame(&[1, 250, 250, 250]).await.unwrap();
    }
    assert!(evil.closed_within(SOON).await);
    let stats = a.handle.stats();
    assert_eq!((stats.decode_errors, stats.bans), (5, 1));
    // After ban_duration it may connect again.
    let deadline = tokio::time::Instant::now() + SOON;
    loop {
        if EvilPeer::<TestMsg>::handshake(a.handle.local_addr(), &identity, SOON).await.is_ok() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the ban never expired");
        // Poll interval between attempts, not a wait for the condition.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(a.handle.stats().handshake_banned >= 1, "it was refused while banned");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_message_after_the_handshake_is_counted() {
    let a = node(config(vec![])).await;
    let identity = member();
    let mut evil = handshake(&a, &identity).await;
    evil.send_envelope(&Envelope::Hello(identity.hello())).await.unwrap();
    evil.send_app(hello("then this")).await.unwrap();
    wait_until("the next message arrives", SOON, || a.received() == [hello("then this")]).await;
    assert_eq!(a.handle.stats().unexpected_messages, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_peer_is_disconnected() {
    let mut cfg = config(vec![]);
    cfg.limits.idle_timeout = Duration::from_millis(400);
    cfg.limits.ping_interval = Duration::from_millis(100);
    let a = node(cfg).await;
    // Completes the handshake, then sends nothing (not even pongs).
    let mut idle = handshake(&a, &member()).await;
    assert!(idle.closed_within(SOON).await);
    wait_until("counted", SOON, || a.handle.stats().idle_timeouts == 1).await;
    wait_until("peer down, for idleness", SOON, || {
        a.log.lock().unwrap().downs.iter().any(|(_, reason)| reason.contains("idle"))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_to_ourselves_is_refused() {
    let a = node(config(vec![])).await;
    a.handle.add_peer(PeerAddress { id: None, address: a.handle.local_addr().to_string() });
    wait_until("counted", SOON, || a.handle.stats().handshake_self_connection >= 1).await;
    assert!(a.handle.peers().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_id_at_a_configured_address_is_refused() {
    let b = Node::start(2, config(vec![]), Answer::Echo).await;
    let wrong = PeerAddress { id: Some(common::id(3)), address: b.address().address };
    let a = node(config(vec![wrong])).await;
    wait_until("counted", SOON, || a.handle.stats().handshake_unexpected_id >= 1).await;
    assert!(a.handle.peers().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_per_ip_limit_are_refused_at_accept() {
    let mut cfg = config(vec![]);
    cfg.limits.max_per_ip = 2;
    let a = node(cfg).await;
    let _first = connect(&a).await;
    let _second = connect(&a).await;
    wait_until("both accepted", SOON, || a.handle.stats().connections_accepted == 2).await;
    let mut third = connect(&a).await;
    assert!(third.closed_within(SOON).await);
    assert_eq!(a.handle.stats().connections_rejected, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observer_that_changes_its_key_keeps_its_score_and_is_banned_by_ip() {
    let a = node(config(vec![])).await;
    // Each connection a fresh key (they cost nothing): two malformed frames
    // each. Per connection that is 40 points, never the 100 of a ban; per
    // IP (loopback here) the third connection crosses it.
    let mut banned = false;
    for seed in 0..6u8 {
        let identity = EvilIdentity {
            role: Role::Observer,
            ..EvilIdentity::new(key(100 + seed), CHAIN, GENESIS)
        };
        let Ok(mut evil) =
            EvilPeer::<TestMsg>::handshake(a.handle.local_addr(), &identity, SOON).await
        else {
            banned = true;
            break;
        };
        for _ in 0..2 {
            if evil.send_frame(&[1, 250, 250, 250]).await.is_err() {
                break;
            }
        }
        if evil.closed_within(Duration::from_millis(300)).await && a.handle.stats().bans > 0 {
            banned = true;
        }
    }
    assert!(banned, "a fresh key reset the observer's score");
    assert!(a.handle.stats().bans >= 1);
    // New observers from that IP are refused; a member from it is not.
    let fresh =
        EvilIdentity { role: Role::Observer, ..EvilIdentity::new(key(150), CHAIN, GENESIS) };
    assert!(refused(&a, &fresh).await, "observers from a banned IP are refused");
    still_serves_honest_peers(&a).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observers_peer_list_is_not_dialled() {
    let mut cfg = config(vec![]);
    cfg.peer_exchange = true;
    let a = node(cfg).await;
    let identity = outsider(Role::Observer);
    let mut evil = handshake(&a, &identity).await;
    // A list of addresses nobody listens on: a node that took it would
    // dial them (and count the failures).
    let peers: Vec<net::wire::KnownPeer> = (0..64)
        .map(|k| net::wire::KnownPeer { id: id(201), address: format!("127.0.0.1:{}", 1 + k) })
        .collect();
    evil.send_envelope(&Envelope::Peers(peers)).await.unwrap();
    // A later message arrives after the list was handled (one reader, in order).
    evil.send_app(hello("after the list")).await.unwrap();
    wait_until("the later message", SOON, || {
        a.received().iter().any(|m| *m == hello("after the list"))
    })
    .await;
    // A dial to a closed port fails within a millisecond; give it far more.
    let dialled = tokio::time::timeout(Duration::from_millis(500), async {
        while a.handle.stats().dial_failures == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(dialled.is_err(), "it dialled an observer's addresses");
    assert_eq!(a.handle.connection_count(), 1);
}
