//! Durability and the process's life: final means final, even across
//! SIGKILL; a store write that fails stops the node and loses nothing; a
//! service manager is told when the node is ready and when it stops.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use client::rpc::{BlockResult, Verbosity};
use client::{EventStream, RpcClient};
use protocol::rpc::{StreamEvent, TxState};
use protocol::{Amount, TxId};
use serde_json::json;

use crate::harness::{DevNode, POLL, Scratch, TIME, WAIT, lock, tail};
use crate::payer::{Payer, address};

/// Reads `events` until `txid` settles; also returns the highest block
/// height the stream announced meanwhile.
async fn settle_on_stream(
    events: &mut EventStream,
    rpc: &RpcClient,
    txid: &TxId,
    mut height: u64,
) -> (TxState, u64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let item = tokio::time::timeout_at(deadline, events.next_event())
            .await
            .unwrap_or_else(|_| panic!("{txid} not settled on the event stream in {WAIT:?}"));
        match item {
            None => panic!("the event stream ended"),
            Some(Err(e)) => panic!("event stream error: {e}"),
            Some(Ok(StreamEvent::Tx { txid: id, state, .. })) if id == *txid => {
                if client::finality::is_terminal(state) {
                    return (state, height);
                }
            }
            Some(Ok(StreamEvent::Block { height: h, .. })) => height = height.max(h),
            Some(Ok(StreamEvent::Lagged { .. })) => {
                let f = rpc.gettransactionfinality(txid).await;
                if let Ok(f) = f
                    && client::finality::is_terminal(f.state)
                {
                    return (f.state, height);
                }
            }
            Some(Ok(_)) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_node_final_transactions_survive_kill9_and_restart() {
    let _lock = lock();
    let scratch = Scratch::new();
    let mut node = scratch.start().await;
    let mut payer = Payer::new(&node).await;
    let payee = address(0x70);
    // Two- and three-input payments (the dev coins hold 10,000 TIME each),
    // at least four, and until one kill hit the hard case: a transaction
    // final but not yet in a block, which only the store's record of
    // finality brings back (a kill that lands after the next block only
    // tests the block store).
    const MIN_ROUNDS: usize = 4;
    const MAX_ROUNDS: usize = 10;
    let amounts = [15_000, 25_000].map(|t| Amount::from_sat(t * TIME));
    let mut finals: Vec<(TxId, usize)> = Vec::new();
    let mut paid = Vec::new();
    let mut hit_before_block = 0;
    let mut height_seen = 0;
    for round in 0..MAX_ROUNDS {
        if round >= MIN_ROUNDS && hit_before_block > 0 {
            break;
        }
        let amount = amounts[round % amounts.len()];
        height_seen = height_seen.max(node.height().await);
        let mut events = node.rpc.subscribe().await.expect("subscribe to /events");
        let tx = payer.pay(&node.rpc, payee, amount).await;
        let txid = tx.txid(payer.chain.id);
        let sent = node.rpc.sendrawtransaction(&tx).await.expect("sendrawtransaction");
        assert_eq!(sent.txid, txid);
        let (state, height) = settle_on_stream(&mut events, &node.rpc, &txid, height_seen).await;
        assert_eq!(state, TxState::Final, "round {round}: {txid} settled as {state}");
        // Killed the moment finality is reported: no flush, no goodbye.
        node.kill9().await;
        let killed_at_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis();
        finals.push((txid, tx.inputs.len()));
        paid.push(amount);
        height_seen = height;

        node = scratch.start().await;
        // The kill hit the window when the block that holds the transaction
        // was made after it, by the restarted process.
        let deadline = Instant::now() + WAIT;
        let block_height = loop {
            let after = node.rpc.gettransactionfinality(&txid).await.expect("known after restart");
            assert!(
                after.state.is_final(),
                "round {round}: {txid} is {} after restart",
                after.state
            );
            if let Some(h) = after.block_height {
                break h;
            }
            assert!(Instant::now() < deadline, "{txid} never committed after the restart");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let BlockResult::Decoded(block) =
            node.rpc.getblock(block_height, Verbosity::Txids).await.expect("getblock")
        else {
            panic!("getblock verbosity 1 is decoded");
        };
        if u128::try_from(block.time_ms).unwrap_or(0) > killed_at_ms {
            hit_before_block += 1;
        }
        let mut missing = Vec::new();
        for (id, _) in &finals {
            let state = node.state(id).await;
            if !state.is_some_and(TxState::is_final) {
                missing.push((*id, state));
            }
        }
        assert!(missing.is_empty(), "after restart {round}, no longer final: {missing:?}");
        let height = node.height().await;
        assert!(height >= height_seen, "height went back from {height_seen} to {height}");
        height_seen = height;
    }
    assert!(
        hit_before_block > 0,
        "in {} rounds no kill landed between finality and the next block",
        finals.len()
    );
    assert!(finals.iter().any(|(_, inputs)| *inputs >= 3), "multi-input payments: {finals:?}");
    // Every payment's output survived with it.
    let balance = node.rpc.getbalance(&payee).await.expect("getbalance");
    assert_eq!(balance.balance_sat, paid.iter().map(|a| a.sat()).sum::<u64>());
    assert_eq!(balance.unspent, paid.len());
}

/// The largest file under `dir`, in bytes.
fn largest_file(dir: &Path) -> u64 {
    let mut largest = 0;
    for entry in std::fs::read_dir(dir).expect("read the data dir").flatten() {
        let meta = entry.metadata().expect("file metadata");
        largest = largest.max(if meta.is_dir() { largest_file(&entry.path()) } else { meta.len() });
    }
    largest
}

/// A full disk, without root: the node runs under a file-size limit a
/// little above its store's size, and pays until a store write fails. It
/// must stop by itself with exit 4 (not 0: a supervisor must see it) and a
/// log line naming the failed write; started again without the limit, it
/// opens its store, and every payment it reported final is still final.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_write_that_fails_stops_the_node_with_exit_4_and_loses_nothing() {
    let _lock = lock();
    let scratch = Scratch::new();
    let node = scratch.start().await;
    node.wait_height(2).await;
    assert_eq!(node.rpc.stop().await.expect("stop"), "timed stopping");
    let mut node = node;
    assert!(node.exit_status().await.success(), "a clean stop exits 0");
    let room_kib = largest_file(&scratch.path("data")) / 1024 + 1024;
    let mut node = DevNode::start_limited(
        &scratch.path("data"),
        &scratch.path("timed.log"),
        None,
        Some(room_kib),
    )
    .await;
    let mut payer = Payer::new(&node).await;
    let payee = address(0x71);
    let mut finals = Vec::new();
    let status = loop {
        if let Some(status) = node.child.try_wait().expect("poll timed") {
            break status;
        }
        assert!(finals.len() < 5_000, "5,000 payments and no write failed past {room_kib} KiB");
        // A failure of either call is the node stopping: the loop's
        // first line then sees it exit.
        let Ok(tx) = payer.try_pay(&node.rpc, payee, Amount::from_sat(TIME)).await else {
            node.exit_status().await;
            continue;
        };
        let txid = tx.txid(payer.chain.id);
        if node.rpc.sendrawtransaction(&tx).await.is_err() {
            node.exit_status().await;
            continue;
        }
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            match node.state(&txid).await {
                Some(state) if state.is_final() => {
                    finals.push(txid);
                    break;
                }
                None if node.child.try_wait().ok().flatten().is_some() => break,
                _ => tokio::time::sleep(POLL).await,
            }
        }
    };
    assert_eq!(status.code(), Some(4), "a failed store write exits 4\n{}", tail(&node.log, 20));
    let log = std::fs::read_to_string(&node.log).expect("read the log");
    assert!(
        log.contains("persist failed")
            && log.contains("stopped because the store could not persist"),
        "the log names the failed write\n{}",
        tail(&node.log, 20)
    );
    assert!(!finals.is_empty(), "payments were final before the write failed");

    let node = scratch.start().await;
    let mut lost = Vec::new();
    for txid in &finals {
        if !node.state(txid).await.is_some_and(TxState::is_final) {
            lost.push(*txid);
        }
    }
    assert!(lost.is_empty(), "{} of {} final payments lost: {lost:?}", lost.len(), finals.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_manager_is_told_ready_once_the_node_serves_and_stopping_at_stop() {
    // systemd's Type=notify: READY=1 once the RPC listens and node.json is
    // written (what "started" means to anything ordered after the unit),
    // STOPPING=1 when a stop begins.
    let _lock = lock();
    let scratch = Scratch::new();
    let socket_path = scratch.path("notify.sock");
    let socket =
        std::os::unix::net::UnixDatagram::bind(&socket_path).expect("bind a datagram socket");
    socket.set_read_timeout(Some(WAIT)).expect("a read timeout");
    let node = DevNode::start_full(
        &scratch.path("data"),
        &scratch.path("timed.log"),
        None,
        None,
        &[("NOTIFY_SOCKET", &socket_path)],
    )
    .await;
    let mut buffer = [0u8; 1024];
    let received = |socket: &std::os::unix::net::UnixDatagram, buffer: &mut [u8]| {
        let n = socket.recv(buffer).expect("a notification within the wait");
        String::from_utf8_lossy(&buffer[..n]).into_owned()
    };
    let ready = received(&socket, &mut buffer);
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready:?}");
    assert!(ready.contains(&format!("STATUS=serving RPC at {}", node.info.rpc_url)), "{ready:?}");
    node.rpc.getblockcount().await.expect("the node answers once it said ready");
    node.rpc.call("stop", json!([])).await.expect("stop");
    let stopping = received(&socket, &mut buffer);
    assert_eq!(stopping.trim(), "STOPPING=1");
    let mut node = node;
    assert!(node.exit_status().await.success(), "a clean stop exits 0");
}
