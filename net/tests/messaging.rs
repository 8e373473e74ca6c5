//! Honest endpoints over real loopback sockets: delivery both ways on
//! inbound and outbound connections, broadcast, request / response, a
//! stopped peer, restarts, the one-connection-per-pair tie-break, and peer
//! exchange.

mod common;

use std::time::Duration;

use common::{Answer, Node, SOON, TestMsg, config, hello, wait_connected, wait_until};
use net::testing::{EvilIdentity, EvilPeer};
use net::{NetConfig, PeerAddress, RequestError, SendError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_endpoints_exchange_messages_both_ways() {
    let a = Node::start(1, config(vec![]), Answer::Echo).await;
    let b = Node::start(2, config(vec![a.address()]), Answer::Echo).await;
    wait_until("b connected to a", SOON, || {
        a.handle.is_connected(&b.id()) && b.handle.is_connected(&a.id())
    })
    .await;
    // b dialled: the connection is inbound at a and outbound at b.
    assert!(a.handle.peers()[0].inbound);
    assert!(!b.handle.peers()[0].inbound);

    a.handle.send(&b.id(), hello("a to b")).unwrap();
    b.handle.send(&a.id(), hello("b to a")).unwrap();
    b.handle.send(&a.id(), TestMsg::Vote(1)).unwrap();
    assert_eq!(a.handle.broadcast(hello("a to all")), 1);
    assert_eq!(b.handle.broadcast(hello("b to all")), 1);

    wait_until("both sides receive everything", SOON, || {
        a.received_from(&b.id()).len() == 3 && b.received_from(&a.id()).len() == 2
    })
    .await;
    assert_eq!(b.received_from(&a.id()), [hello("a to b"), hello("a to all")]);
    assert_eq!(a.received_from(&b.id()), [hello("b to a"), TestMsg::Vote(1), hello("b to all")]);
    assert_eq!(a.ups_of(&b.id()), 1);
    let stats = a.handle.stats();
    assert_eq!((stats.handshakes_completed, stats.decode_errors), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_endpoints_full_mesh_each_receive_every_broadcast_exactly_once() {
    let mut nodes: Vec<Node> = Vec::new();
    for seed in 1..=5u8 {
        // Each node dials the ones started before it: a full mesh.
        let peers = nodes.iter().map(Node::address).collect();
        nodes.push(Node::start(seed, config(peers), Answer::Echo).await);
    }
    wait_until("a full mesh", SOON, || {
        nodes.iter().all(|n| n.handle.peers().len() == 4 && n.handle.connection_count() == 4)
    })
    .await;
    for node in &nodes {
        assert_eq!(node.handle.broadcast(hello(&format!("from {}", node.id().short()))), 4);
    }
    // Per-connection order: once a node has every peer's end marker, it has
    // every broadcast sent before it, and duplicates would be visible.
    for node in &nodes {
        node.handle.broadcast(hello(&format!("end {}", node.id().short())));
    }
    wait_until("every end marker", SOON, || {
        nodes.iter().all(|n| n.received().iter().filter(|m| is_prefixed(m, "end ")).count() == 4)
    })
    .await;
    for node in &nodes {
        let received = node.received();
        for other in nodes.iter().filter(|o| o.id() != node.id()) {
            let expected = hello(&format!("from {}", other.id().short()));
            let copies = received.iter().filter(|m| **m == expected).count();
            assert_eq!(
                copies,
                1,
                "{} got {copies} copies from {}",
                node.id().short(),
                other.id().short()
            );
        }
        assert_eq!(received.len(), 8);
    }
}

fn is_prefixed(msg: &TestMsg, prefix: &str) -> bool {
    matches!(msg, TestMsg::Hello(text) if text.starts_with(prefix))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_response_both_ways_and_timeout_when_unanswered() {
    let a = Node::start(1, config(vec![]), Answer::Echo).await;
    let b = Node::start(2, config(vec![a.address()]), Answer::Echo).await;
    let silent = Node::start(3, config(vec![a.address()]), Answer::Ignore).await;
    wait_connected(&a, &b).await;
    wait_connected(&a, &silent).await;

    // On a's inbound connection and on b's outbound one.
    let answer = a.handle.request(&b.id(), hello("from a"), SOON).await.unwrap();
    assert_eq!(answer, hello("re: from a"));
    let answer = b.handle.request(&a.id(), hello("from b"), SOON).await.unwrap();
    assert_eq!(answer, hello("re: from b"));

    let unanswered =
        a.handle.request(&silent.id(), hello("anyone?"), Duration::from_millis(200)).await;
    assert_eq!(unanswered, Err(RequestError::Timeout));
    assert_eq!(a.handle.stats().requests_timed_out, 1);
    wait_until("the silent node saw the request", SOON, || {
        silent.log.lock().unwrap().requests.len() == 1
    })
    .await;

    let stranger = common::id(9);
    let not_connected = a.handle.request(&stranger, hello("?"), SOON).await;
    assert_eq!(not_connected, Err(RequestError::Send(SendError::NotConnected(stranger))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_fails_at_once_when_the_peer_disconnects() {
    let a = Node::start(1, config(vec![]), Answer::Echo).await;
    let silent = Node::start(3, config(vec![a.address()]), Answer::Ignore).await;
    wait_connected(&a, &silent).await;
    let handle = a.handle.clone();
    let peer = silent.id();
    let pending = tokio::spawn(async move { handle.request(&peer, hello("?"), SOON * 3).await });
    wait_until("the request arrived", SOON, || silent.log.lock().unwrap().requests.len() == 1)
        .await;
    silent.stop().await;
    let outcome = tokio::time::timeout(SOON, pending).await.unwrap().unwrap();
    assert_eq!(outcome, Err(RequestError::Disconnected));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_peer_does_not_delay_delivery_to_others() {
    let mut cfg = config(vec![]);
    cfg.limits.outbound_queue = 16;
    let a = Node::start(1, cfg, Answer::Echo).await;
    let b = Node::start(2, config(vec![a.address()]), Answer::Echo).await;
    // A committee member that completes the handshake and then never reads.
    let identity = EvilIdentity::new(common::key(15), common::CHAIN, common::GENESIS);
    let stopped =
        EvilPeer::<TestMsg>::handshake(a.handle.local_addr(), &identity, SOON).await.unwrap();
    wait_until("a sees both peers", SOON, || a.handle.peers().len() == 2).await;

    let dropped_to_stopped = || {
        let peers = a.handle.peers();
        peers.iter().find(|p| p.id == identity.id()).map_or(0, |p| p.dropped)
    };
    let big = vec![0xab; 64 * 1024];
    let mut sent = 0;
    // Broadcast until the stopped peer's socket buffers and queue are full
    // and drops begin, then a while longer; b must get each message while
    // the stopped peer holds its own writer up.
    let mut after_drops = 0;
    while after_drops < 50 {
        assert!(sent < 5000, "the stopped peer's queue never filled");
        a.handle.broadcast(TestMsg::Big(big.clone()));
        sent += 1;
        wait_until("b receives the broadcast", SOON, || a_to_b_count(&b, &a) == sent).await;
        if dropped_to_stopped() > 0 {
            after_drops += 1;
        }
    }
    assert!(a.handle.stats().dropped_outbound > 0);
    let to_b = a.handle.peers().into_iter().find(|p| p.id == b.id()).unwrap();
    assert_eq!(to_b.dropped, 0);
    drop(stopped);
}

fn a_to_b_count(b: &Node, a: &Node) -> usize {
    b.received_from(&a.id()).len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_the_peer_restarts() {
    let b = Node::start(2, config(vec![]), Answer::Echo).await;
    let b_address = b.address();
    let a = Node::start(1, config(vec![b_address.clone()]), Answer::Echo).await;
    wait_until("a connected to b", SOON, || a.handle.is_connected(&b.id())).await;

    b.stop().await;
    wait_until("a notices b is gone", SOON, || !a.handle.is_connected(&b_address.id.unwrap()))
        .await;

    // The same key on the same address, as a restarted daemon would be.
    let restarted_config =
        NetConfig { listen: b_address.address.parse().unwrap(), ..config(vec![]) };
    let b = Node::start(2, restarted_config, Answer::Echo).await;
    wait_until("a reconnected", SOON, || a.handle.is_connected(&b.id())).await;
    a.handle.send(&b.id(), hello("welcome back")).unwrap();
    wait_until("b receives", SOON, || b.received_from(&a.id()) == [hello("welcome back")]).await;
    assert_eq!(a.ups_of(&b.id()), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_dials_leave_exactly_one_connection_per_pair() {
    for (first, second) in [(1u8, 2u8), (4, 3), (5, 6), (8, 7)] {
        let a = Node::start(first, config(vec![]), Answer::Echo).await;
        let b = Node::start(second, config(vec![]), Answer::Echo).await;
        // Without ids, neither can know the other is connected: both dial.
        let unknown =
            |node: &Node| PeerAddress { id: None, address: node.handle.local_addr().to_string() };
        a.handle.add_peer(unknown(&b));
        b.handle.add_peer(unknown(&a));
        let (lower, higher) = if a.id() < b.id() { (&a, &b) } else { (&b, &a) };
        wait_until("one connection, dialled by the lower id", SOON, || {
            let (at_lower, at_higher) = (lower.handle.peers(), higher.handle.peers());
            lower.handle.connection_count() == 1
                && higher.handle.connection_count() == 1
                && at_lower.len() == 1
                && at_higher.len() == 1
                && !at_lower[0].inbound
                && at_higher[0].inbound
        })
        .await;
        a.handle.send(&b.id(), hello("over the survivor")).unwrap();
        b.handle.send(&a.id(), hello("and back")).unwrap();
        wait_until("messages cross", SOON, || {
            b.received_from(&a.id()).contains(&hello("over the survivor"))
                && a.received_from(&b.id()).contains(&hello("and back"))
        })
        .await;
        a.stop().await;
        b.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_exchange_finds_peers_of_peers() {
    let with_exchange = |peers| NetConfig { peer_exchange: true, ..config(peers) };
    let hub = Node::start(1, with_exchange(vec![]), Answer::Echo).await;
    let b = Node::start(2, with_exchange(vec![hub.address()]), Answer::Echo).await;
    wait_until("b connected to the hub", SOON, || hub.handle.is_connected(&b.id())).await;
    let c = Node::start(3, with_exchange(vec![hub.address()]), Answer::Echo).await;
    wait_until("c learns b from the hub and connects", SOON, || {
        c.handle.is_connected(&b.id()) && b.handle.is_connected(&c.id())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_exchange_off_neither_asks_nor_answers() {
    let hub = Node::start(1, config(vec![]), Answer::Echo).await;
    let b = Node::start(2, config(vec![hub.address()]), Answer::Echo).await;
    wait_connected(&hub, &b).await;
    let c = Node::start(3, config(vec![hub.address()]), Answer::Echo).await;
    wait_connected(&hub, &c).await;
    // A request / response round trip: anything c would have learned on
    // connecting arrived before the response (control frames go first).
    c.handle.request(&hub.id(), hello("sync"), SOON).await.unwrap();
    b.handle.request(&hub.id(), hello("sync"), SOON).await.unwrap();
    assert!(!c.handle.is_connected(&b.id()));
    assert_eq!((c.handle.peers().len(), c.handle.connection_count()), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_messages_flow_through_a_small_event_budget() {
    let mut cfg = config(vec![]);
    // Room for one 64 KiB message at a time: each must be handed to the
    // application (and its bytes returned to the budget) before the next.
    cfg.limits.event_queue_bytes = 100 * 1024;
    let a = Node::start(1, cfg, Answer::Echo).await;
    let b = Node::start(2, config(vec![a.address()]), Answer::Echo).await;
    wait_connected(&a, &b).await;
    for i in 0..40u8 {
        b.handle.send(&a.id(), TestMsg::Big(vec![i; 64 * 1024])).unwrap();
    }
    wait_until("every message arrives", SOON, || a.received_from(&b.id()).len() == 40).await;
    let received = a.received_from(&b.id());
    assert!(received.iter().enumerate().all(|(i, m)| *m == TestMsg::Big(vec![i as u8; 64 * 1024])));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_urgent_message_is_taken_before_the_bulk_waiting_ahead_of_it() {
    // The receiver does not read while 50 ordinary messages, one urgent one
    // and one more ordinary one arrive; the first message it then takes is
    // the urgent one, and the rest keep their order.
    let sender = Node::start(1, config(vec![]), Answer::Echo).await;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let (receiver, mut events) =
        net::start::<TestMsg>(config(vec![sender.address()]), common::key(2), shutdown.clone())
            .await
            .expect("endpoint starts");
    let up = tokio::time::timeout(SOON, events.recv()).await.expect("an event in time");
    assert!(matches!(up, Some(net::NetEvent::PeerUp { .. })), "{up:?}");
    wait_until("the sender sees the connection too", SOON, || {
        sender.handle.is_connected(&receiver.local_id())
    })
    .await;
    let frames_before = receiver.stats().frames_in;
    for i in 0..50 {
        sender.handle.send(&receiver.local_id(), hello(&format!("bulk {i}"))).unwrap();
    }
    sender.handle.send(&receiver.local_id(), TestMsg::Urgent(7)).unwrap();
    // One connection reads in order and hands each message over before it
    // reads the next: once the frame after the urgent one is read, every
    // message before it is waiting in its lane.
    sender.handle.send(&receiver.local_id(), hello("after")).unwrap();
    wait_until("all 52 frames read off the socket", SOON, || {
        receiver.stats().frames_in >= frames_before + 52
    })
    .await;
    let mut taken = Vec::new();
    while taken.len() < 52 {
        match tokio::time::timeout(SOON, events.recv()).await.expect("an event in time") {
            Some(net::NetEvent::Message { msg, .. }) => taken.push(msg),
            Some(_) => {}
            None => panic!("the endpoint stopped"),
        }
    }
    assert_eq!(taken[0], TestMsg::Urgent(7));
    let mut bulk: Vec<TestMsg> = (0..50).map(|i| hello(&format!("bulk {i}"))).collect();
    bulk.push(hello("after"));
    assert_eq!(taken[1..], bulk[..]);
    shutdown.cancel();
}
