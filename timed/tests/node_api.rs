//! The node through its library API, no subprocess: `timed::node::start` on a
//! temp dir with a one-masternode genesis, driven with `NodeHandle::submit`,
//! `query` and `subscribe`, exactly as the RPC layer drives it.
//!
//! Every wait is for a condition (an event or a store state) under a
//! deadline; every key is derived from a fixed seed.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use consensus::{CoreConfig, Event, SubmitOutcome, TxState, TxStatus};
use protocol::genesis::Allocation;
use protocol::tx::TX_VERSION;
use protocol::validate::TxRejection;
use protocol::{
    Address, Amount, ChainId, Genesis, Network, OutPoint, SecretKey, Signature, Transaction, TxId,
    TxIn, TxOut,
};
use timed::devchain::dev_genesis;
use timed::node::{self, NodeEvent, NodeHandle, NodeSettings, Query, now_millis};
use timed::store::StoreConfig;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Generous: a one-masternode chain finalizes in milliseconds and commits a
/// block every second.
const WAIT: Duration = Duration::from_secs(20);
const CHAIN: ChainId = ChainId(0x0A91);
/// Coins of 10,000 TIME each: alice has the dev wallet's 100, bob 10.
const BOB_COINS: usize = 10;

fn key(seed: u8) -> SecretKey {
    SecretKey::from_seed([seed; 32])
}

fn address_of(key: &SecretKey) -> Address {
    Address::from_public_key(&key.public(), Network::Dev)
}

/// The keys of one test chain.
struct Keys {
    masternode: SecretKey,
    alice: SecretKey,
    bob: SecretKey,
}

impl Keys {
    fn new() -> Keys {
        Keys { masternode: key(0x11), alice: key(0xA1), bob: key(0xB0) }
    }
}

/// A one-masternode dev genesis funding alice (100 coins, outputs 0..100 of
/// the allocation) and bob (10 coins, outputs 100..110).
fn genesis(keys: &Keys) -> Genesis {
    let mut genesis =
        dev_genesis(&keys.masternode, &address_of(&keys.alice), CHAIN, now_millis() as i64);
    let coin = genesis.allocations[0].value;
    genesis
        .allocations
        .extend((0..BOB_COINS).map(|_| Allocation { address: address_of(&keys.bob), value: coin }));
    genesis.validate().expect("the test genesis is valid");
    genesis
}

/// Output `vout` of the genesis allocation, with what it holds.
fn genesis_coin(genesis: &Genesis, vout: usize) -> (OutPoint, TxOut) {
    let allocation = genesis.allocation_tx();
    let outpoint = OutPoint { txid: allocation.txid(genesis.chain_id), vout: vout as u32 };
    (outpoint, allocation.outputs[vout])
}

/// Alice's coin `i`.
fn alice_coin(genesis: &Genesis, i: usize) -> (OutPoint, TxOut) {
    genesis_coin(genesis, i)
}

/// Bob's coin `i`.
fn bob_coin(genesis: &Genesis, i: usize) -> (OutPoint, TxOut) {
    genesis_coin(genesis, genesis.allocations.len() - BOB_COINS + i)
}

/// A transaction spending `inputs` (each signed by its key) to `to`, minus
/// the smallest fee the rules allow.
fn spend(
    genesis: &Genesis,
    inputs: &[((OutPoint, TxOut), &SecretKey)],
    to: &Address,
) -> Transaction {
    let total: u64 = inputs.iter().map(|((_, out), _)| out.value.sat()).sum();
    let fee =
        genesis.params.required_fee(inputs.len(), Amount::from_sat(total)).expect("fee").sat();
    let mut tx = Transaction {
        version: TX_VERSION,
        inputs: inputs
            .iter()
            .map(|((prev, _), key)| TxIn {
                prev: *prev,
                pubkey: key.public(),
                signature: Signature::ZERO,
            })
            .collect(),
        outputs: vec![TxOut { value: Amount::from_sat(total - fee), address: to.payload }],
        lock_time: 0,
        timestamp: now_millis() as i64,
    };
    for (index, (_, key)) in inputs.iter().enumerate() {
        assert!(tx.sign_input(genesis.chain_id, index, key));
    }
    tx
}

/// A node running on a temp dir, with an event receiver subscribed before
/// anything was submitted.
struct TestNode {
    handle: NodeHandle,
    events: broadcast::Receiver<NodeEvent>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

impl TestNode {
    async fn start(dir: &Path, genesis: &Genesis, keys: &Keys) -> TestNode {
        TestNode::start_as(dir, genesis, keys, None).await
    }

    /// A node running as `byzantine` (a test build's mode, such as
    /// `slow-disk`), or honest.
    async fn start_as(
        dir: &Path,
        genesis: &Genesis,
        keys: &Keys,
        byzantine: Option<&str>,
    ) -> TestNode {
        let settings = NodeSettings {
            data_dir: dir.to_path_buf(),
            genesis: genesis.clone(),
            key: Some(SecretKey::from_seed(keys.masternode.seed())),
            p2p_listen: "127.0.0.1:0".parse().expect("loopback address"),
            peers: Vec::new(),
            bootstrap: Vec::new(),
            peer_exchange: false,
            net_limits: net::NetLimits::default(),
            core: CoreConfig::default(),
            store: StoreConfig::default(),
            verify_threads: 0,
            byzantine: byzantine.map(str::to_string),
        };
        let tracker = TaskTracker::new();
        let shutdown = CancellationToken::new();
        let (handle, _published) = node::start(settings, &tracker, shutdown.clone())
            .await
            .unwrap_or_else(|e| panic!("the node did not start on {}: {e}", dir.display()));
        let events = handle.subscribe();
        TestNode { handle, events, tracker, shutdown }
    }

    /// Cancels the node's token and waits for every task on its tracker,
    /// then drops the handle (and with it the last store reference).
    async fn stop(self) {
        self.shutdown.cancel();
        self.tracker.close();
        tokio::time::timeout(WAIT, self.tracker.wait())
            .await
            .expect("the node's tasks stop after its token is cancelled");
    }

    async fn submit(&self, tx: &Transaction) -> SubmitOutcome {
        self.handle.submit(tx.clone()).await.expect("the node is running")
    }

    async fn status(&self, txid: TxId) -> Option<TxStatus> {
        self.handle.query(|reply| Query::TxStatus(txid, reply)).await.expect("the node is running")
    }

    /// True when `txid` is final here or committed in a block.
    async fn is_final(&self, txid: TxId) -> bool {
        let committed = self.handle.store().tx_location(&txid).expect("store readable").is_some();
        committed || self.status(txid).await.is_some_and(|s| s.state.is_final())
    }

    /// The next event matching `pick`, within `WAIT`.
    async fn wait_for<T>(
        &mut self,
        what: &str,
        mut pick: impl FnMut(&NodeEvent) -> Option<T>,
    ) -> T {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Err(_) => panic!("no event for {what} within {WAIT:?}"),
                Ok(Err(broadcast::error::RecvError::Lagged(missed))) => {
                    panic!("the test's event receiver lagged by {missed} events")
                }
                Ok(Err(broadcast::error::RecvError::Closed)) => {
                    panic!("the node stopped while waiting for {what}")
                }
                Ok(Ok(event)) => {
                    if let Some(found) = pick(&event) {
                        return found;
                    }
                }
            }
        }
    }

    /// Waits for `txid`'s next state event and returns it.
    async fn next_state(&mut self, txid: TxId) -> TxState {
        self.wait_for(&format!("a state change of {txid}"), |e| match &e.event {
            Event::TxState { txid: id, state, .. } if *id == txid => Some(*state),
            _ => None,
        })
        .await
    }

    /// Waits until `txid` reaches a terminal state and returns it.
    async fn settled(&mut self, txid: TxId) -> TxState {
        loop {
            let state = self.next_state(txid).await;
            if state.is_settled() || state == TxState::Conflicted {
                return state;
            }
        }
    }

    /// Waits for the block that commits `txid`; returns its height.
    async fn committed_at(&mut self, txid: TxId) -> u64 {
        if let Some((height, _)) = self.handle.store().tx_location(&txid).expect("store readable") {
            return height;
        }
        self.wait_for(&format!("a block committing {txid}"), |e| match &e.event {
            Event::BlockCommitted { height, txids, .. } if txids.contains(&txid) => Some(*height),
            _ => None,
        })
        .await
    }

    /// Waits until the committed height reaches `target`.
    async fn wait_height(&mut self, target: u64) {
        let store = self.handle.store().clone();
        self.wait_for(&format!("height {target}"), |_| (store.height() >= target).then_some(()))
            .await;
    }
}

fn accepted_state(outcome: &SubmitOutcome, txid: TxId) -> TxState {
    match outcome {
        SubmitOutcome::Accepted { txid: id, state, already_known: false } if *id == txid => *state,
        other => panic!("{txid} was not accepted as new: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_input_tx_signed_by_two_keys_becomes_final_and_is_committed_in_a_block() {
    let dir = tempfile::tempdir().expect("temp dir");
    let keys = Keys::new();
    let genesis = genesis(&keys);
    let mut node = TestNode::start(dir.path(), &genesis, &keys).await;
    let carol = address_of(&key(0xC0));
    let (a, b) = (alice_coin(&genesis, 0), bob_coin(&genesis, 0));
    let tx = spend(&genesis, &[(a, &keys.alice), (b, &keys.bob)], &carol);
    let txid = tx.txid(CHAIN);
    assert_ne!(tx.inputs[0].pubkey, tx.inputs[1].pubkey, "two owners");

    let state = accepted_state(&node.submit(&tx).await, txid);
    assert!(matches!(state, TxState::Pending | TxState::Final), "accepted as {state:?}");
    assert_eq!(node.settled(txid).await, TxState::Final);
    let height = node.committed_at(txid).await;
    assert!(height >= 1);

    // The store carries it in that block, and the core reports it committed.
    let (stored, at) = node.handle.store().committed_tx(&txid).expect("store").expect("indexed");
    assert_eq!((stored, at), (tx.clone(), height));
    let (block, certificate) = node.handle.store().block(height).expect("store").expect("block");
    assert!(block.txids(CHAIN).contains(&txid), "block {height} carries {txid}");
    assert!(block.txs[0].is_coinbase(), "a coinbase opens every block");
    assert!(certificate.is_some(), "block {height} has its commit certificate");
    let status = node.status(txid).await.expect("known");
    assert_eq!((status.state, status.block_height), (TxState::Committed, Some(height)));

    // Carol owns the output, confirmed; both spent coins are gone.
    let carol_coins =
        node.handle.query(|reply| Query::Spendable(carol.payload, reply)).await.expect("running");
    assert_eq!(carol_coins, vec![(OutPoint { txid, vout: 0 }, tx.outputs[0], true)]);
    for (owner, (spent, _)) in [(&keys.alice, a), (&keys.bob, b)] {
        let coins = node
            .handle
            .query(|reply| Query::Spendable(address_of(owner).payload, reply))
            .await
            .expect("running");
        assert!(coins.iter().all(|(op, _, _)| *op != spent), "{spent} is still spendable");
    }
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn double_spend_leaves_exactly_one_final() {
    let dir = tempfile::tempdir().expect("temp dir");
    let keys = Keys::new();
    let genesis = genesis(&keys);
    let mut node = TestNode::start(dir.path(), &genesis, &keys).await;
    let coin = alice_coin(&genesis, 0);
    let left = spend(&genesis, &[(coin, &keys.alice)], &address_of(&key(0xC1)));
    let right = spend(&genesis, &[(coin, &keys.alice)], &address_of(&key(0xC2)));
    let (l, r) = (left.txid(CHAIN), right.txid(CHAIN));
    assert_ne!(l, r);

    // Both at once: whichever the node takes first wins.
    let (left_outcome, right_outcome) = tokio::join!(node.submit(&left), node.submit(&right));
    let mut states = BTreeMap::new();
    for (txid, outcome) in [(l, &left_outcome), (r, &right_outcome)] {
        match outcome {
            SubmitOutcome::Accepted { txid: id, .. } if *id == txid => {
                let state = node.status(txid).await.map(|s| s.state);
                let state = match state {
                    Some(s) if s.is_settled() || s == TxState::Conflicted => s,
                    _ => node.settled(txid).await,
                };
                states.insert(txid, state);
            }
            SubmitOutcome::Rejected { txid: id, rejection } if *id == txid => {
                assert!(
                    matches!(rejection, TxRejection::InputSpent { index: 0, .. }),
                    "{txid}: {rejection:?}"
                );
                states.insert(txid, TxState::Rejected);
            }
            other => panic!("{txid}: unexpected outcome {other:?}"),
        }
    }
    let winners: Vec<TxId> = states.iter().filter(|(_, s)| s.is_final()).map(|(t, _)| *t).collect();
    assert_eq!(winners.len(), 1, "exactly one of the two is final: {states:?}");
    let (winner, loser) = if winners[0] == l { (l, r) } else { (r, l) };
    assert!(
        matches!(states[&loser], TxState::Lost | TxState::Rejected | TxState::Conflicted),
        "the other one lost: {states:?}"
    );

    // Blocks go on; the winner is committed, the loser never is.
    let height = node.committed_at(winner).await;
    node.wait_height(height + 2).await;
    assert!(node.is_final(winner).await);
    assert!(!node.is_final(loser).await, "the losing double spend became final");
    assert_eq!(node.handle.store().tx_location(&loser).expect("store"), None);

    // A double spend sent after the first is final is refused outright.
    let coin = alice_coin(&genesis, 1);
    let first = spend(&genesis, &[(coin, &keys.alice)], &address_of(&key(0xC3)));
    let second = spend(&genesis, &[(coin, &keys.alice)], &address_of(&key(0xC4)));
    let first_id = first.txid(CHAIN);
    accepted_state(&node.submit(&first).await, first_id);
    assert_eq!(node.settled(first_id).await, TxState::Final);
    match node.submit(&second).await {
        SubmitOutcome::Rejected {
            rejection: TxRejection::InputSpent { index: 0, outpoint },
            ..
        } => {
            assert_eq!(outpoint, coin.0)
        }
        other => panic!("a spend of an outpoint a final transaction spent: {other:?}"),
    }
    assert!(node.is_final(first_id).await && !node.is_final(second.txid(CHAIN)).await);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_sent_before_parent_is_final_waits_then_finalizes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let keys = Keys::new();
    let genesis = genesis(&keys);
    let mut node = TestNode::start(dir.path(), &genesis, &keys).await;
    let middle = key(0xD0);
    let dave = address_of(&key(0xD1));

    // Parent and child go to the driver in one go, so the child is admitted
    // while the parent is still pending. The driver takes every command that
    // is ready into one cycle: a 20-input transaction sent just before them
    // keeps it busy verifying signatures while both are queued. Should the
    // scheduler still deliver them to separate cycles (the parent already
    // final), the scenario did not happen and is tried again with fresh coins.
    let mut attempt = 0;
    let (parent, child) = loop {
        assert!(
            attempt < 4,
            "in {attempt} tries the child never arrived before its parent was final"
        );
        let filler_coins: Vec<_> =
            (0..20).map(|i| (alice_coin(&genesis, 20 + 20 * attempt + i), &keys.alice)).collect();
        let filler = spend(&genesis, &filler_coins, &address_of(&key(0xD2)));
        let parent =
            spend(&genesis, &[(alice_coin(&genesis, attempt), &keys.alice)], &address_of(&middle));
        let parent_out = (OutPoint { txid: parent.txid(CHAIN), vout: 0 }, parent.outputs[0]);
        let child = spend(&genesis, &[(parent_out, &middle)], &dave);
        let (p, c) = (parent.txid(CHAIN), child.txid(CHAIN));
        let (filler_outcome, parent_outcome, child_outcome) =
            tokio::join!(node.submit(&filler), node.submit(&parent), node.submit(&child));
        accepted_state(&filler_outcome, filler.txid(CHAIN));
        accepted_state(&parent_outcome, p);
        attempt += 1;
        match accepted_state(&child_outcome, c) {
            TxState::WaitingForParent => break (p, c),
            other => {
                eprintln!("attempt {attempt}: child admitted as {other:?}; trying again");
                node.settled(c).await;
            }
        }
    };

    // Its states, as events, in order: waiting, then final, and only after
    // its parent is final.
    let mut child_states = Vec::new();
    let mut parent_final_first = false;
    while child_states.last() != Some(&TxState::Final) {
        let (txid, state) = node
            .wait_for("the child to become final", |e| match &e.event {
                Event::TxState { txid, state, .. } if *txid == parent || *txid == child => {
                    Some((*txid, *state))
                }
                _ => None,
            })
            .await;
        if txid == parent && state == TxState::Final {
            parent_final_first = child_states.last() != Some(&TxState::Final);
        }
        if txid == child {
            assert!(!state.is_settled() || state == TxState::Final, "child became {state:?}");
            child_states.push(state);
        }
    }
    assert_eq!(child_states.first(), Some(&TxState::WaitingForParent), "{child_states:?}");
    assert!(parent_final_first, "the child was final before its parent");
    assert!(node.status(child).await.is_some_and(|s| s.state.is_final()));

    // Both end up in blocks, the parent no later than the child.
    let child_height = node.committed_at(child).await;
    let parent_height = node.committed_at(parent).await;
    assert!(parent_height <= child_height, "parent at {parent_height}, child at {child_height}");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_shutdown_and_reopen_keeps_every_final_transaction() {
    let dir = tempfile::tempdir().expect("temp dir");
    let keys = Keys::new();
    let genesis = genesis(&keys);
    let mut node = TestNode::start(dir.path(), &genesis, &keys).await;
    let erin = key(0xE0);
    let mut finals: Vec<Transaction> = Vec::new();
    for i in 0..5 {
        let inputs: Vec<_> = if i % 2 == 0 {
            vec![(alice_coin(&genesis, 10 + i), &keys.alice), (bob_coin(&genesis, i), &keys.bob)]
        } else {
            vec![(alice_coin(&genesis, 10 + i), &keys.alice)]
        };
        let tx = spend(&genesis, &inputs, &address_of(&erin));
        let txid = tx.txid(CHAIN);
        accepted_state(&node.submit(&tx).await, txid);
        assert_eq!(node.settled(txid).await, TxState::Final);
        finals.push(tx);
    }
    // Stop right after the last is reported final, and make sure the stop
    // caught it final but not yet in a block (the case durability must
    // cover: only the store's record of finality brings it back). When a
    // block landed first, start again and pay once more.
    let mut height_before;
    let mut tries = 0;
    loop {
        height_before = node.handle.store().height();
        let store = node.handle.store().clone();
        node.stop().await;
        let last = finals.last().expect("five finals").txid(CHAIN);
        let in_block = store.tx_location(&last).expect("store readable");
        drop(store);
        node = TestNode::start(dir.path(), &genesis, &keys).await;
        if in_block.is_none() {
            break;
        }
        tries += 1;
        assert!(tries < 5, "{tries} stops in a row landed after the next block");
        let tx =
            spend(&genesis, &[(alice_coin(&genesis, 15 + tries), &keys.alice)], &address_of(&erin));
        accepted_state(&node.submit(&tx).await, tx.txid(CHAIN));
        assert_eq!(node.settled(tx.txid(CHAIN)).await, TxState::Final);
        finals.push(tx);
    }

    assert!(
        node.handle.store().height() >= height_before,
        "height went back from {height_before} to {}",
        node.handle.store().height()
    );
    let mut lost = Vec::new();
    for tx in &finals {
        if !node.is_final(tx.txid(CHAIN)).await {
            lost.push((tx.txid(CHAIN), node.status(tx.txid(CHAIN)).await.map(|s| s.state)));
        }
    }
    assert!(lost.is_empty(), "final before the shutdown, not after it: {lost:?}");
    let erin_coins = node
        .handle
        .query(|reply| Query::Spendable(address_of(&erin).payload, reply))
        .await
        .expect("running");
    let held: HashSet<TxId> = erin_coins.iter().map(|(op, _, _)| op.txid).collect();
    for tx in &finals {
        assert!(held.contains(&tx.txid(CHAIN)), "erin's output of {} is gone", tx.txid(CHAIN));
    }

    // The reopened node builds on them: a spend of all their outputs is final.
    let inputs: Vec<_> = finals
        .iter()
        .map(|tx| ((OutPoint { txid: tx.txid(CHAIN), vout: 0 }, tx.outputs[0]), &erin))
        .collect();
    let sweep = spend(&genesis, &inputs, &address_of(&key(0xE1)));
    accepted_state(&node.submit(&sweep).await, sweep.txid(CHAIN));
    assert_eq!(node.settled(sweep.txid(CHAIN)).await, TxState::Final);
    let started = Instant::now();
    node.committed_at(sweep.txid(CHAIN)).await;
    eprintln!("the sweep was committed {:?} after it was final", started.elapsed());
    node.stop().await;
}

/// True when the store holds `txid` as final or committed.
#[cfg(feature = "byzantine")]
fn durable(store: &timed::store::Store, txid: TxId) -> bool {
    let restored = store.load().expect("store readable");
    restored.final_txs.iter().any(|(tx, _)| tx.txid(CHAIN) == txid)
        || store.tx_location(&txid).expect("store readable").is_some()
}

#[cfg(feature = "byzantine")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_disk_holds_back_what_a_cycle_says_but_not_the_work_of_the_next() {
    // Every write of this node sleeps 500 ms before it reaches the store (a
    // test build's slow disk). Transactions arrive while writes are in
    // flight: the driver goes on with them (cycles run during a write), and
    // nothing a cycle says (a final event, a reply, an answer) leaves before
    // that cycle's write is in the store.
    let dir = tempfile::tempdir().expect("temp dir");
    let keys = Keys::new();
    let genesis = genesis(&keys);
    let mut node = TestNode::start_as(dir.path(), &genesis, &keys, Some("slow-disk")).await;
    let carol = address_of(&key(0xC0));
    let txs: Vec<Transaction> = (0..8)
        .map(|i| spend(&genesis, &[(alice_coin(&genesis, i), &keys.alice)], &carol))
        .collect();
    let mut waiting: HashSet<TxId> = txs.iter().map(|tx| tx.txid(CHAIN)).collect();
    let mut submits = Vec::new();
    for tx in &txs {
        let handle = node.handle.clone();
        let tx = tx.clone();
        submits.push(tokio::spawn(async move {
            let txid = tx.txid(CHAIN);
            let outcome = handle.submit(tx).await.expect("the node is running");
            (txid, outcome)
        }));
        // Ask as clients do while the writes are in flight: an answer that
        // says final must be on disk.
        let handle = node.handle.clone();
        let store = node.handle.store().clone();
        let txid = txs[0].txid(CHAIN);
        let status = handle.query(|reply| Query::TxStatus(txid, reply)).await.expect("running");
        if status.is_some_and(|s| s.state.is_final()) {
            assert!(durable(&store, txid), "an answer said {txid} is final before it was durable");
        }
    }
    let store = node.handle.store().clone();
    while !waiting.is_empty() {
        let txid = node
            .wait_for("a final event", |e| match &e.event {
                Event::TxState { txid, state: TxState::Final, .. } => Some(*txid),
                _ => None,
            })
            .await;
        assert!(durable(&store, txid), "{txid} was reported final before it was durable");
        waiting.remove(&txid);
    }
    for submit in submits {
        let (txid, outcome) = submit.await.expect("the submit task");
        assert!(matches!(outcome, SubmitOutcome::Accepted { .. }), "{txid}: {outcome:?}");
        // The reply came after the cycle that accepted it was written.
        let locked = store.load().expect("store readable").locked.contains_key(&txid);
        assert!(locked || durable(&store, txid), "{txid} was accepted before it was durable");
    }
    let overlapped =
        node.handle.stats().cycles_during_write.load(std::sync::atomic::Ordering::Relaxed);
    assert!(overlapped > 0, "the driver waited for the disk instead of working on");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_verified_ahead_in_a_batch_reject_exactly_the_bad_input() {
    // Transactions submitted together are verified in one batch before the
    // core admits them: the one with a forged second input is rejected
    // naming that input, every other one is final.
    let dir = tempfile::tempdir().expect("temp dir");
    let keys = Keys::new();
    let genesis = genesis(&keys);
    let mut node = TestNode::start(dir.path(), &genesis, &keys).await;
    let carol = address_of(&key(0xC0));
    let mut txs: Vec<Transaction> = (0..7)
        .map(|i| {
            let inputs = [
                (alice_coin(&genesis, 2 * i), &keys.alice),
                (alice_coin(&genesis, 2 * i + 1), &keys.alice),
            ];
            spend(&genesis, &inputs, &carol)
        })
        .collect();
    let forged = 3;
    txs[forged].inputs[1].signature = keys.bob.sign(b"not this transaction");
    let submits: Vec<_> = txs
        .iter()
        .map(|tx| {
            let handle = node.handle.clone();
            let tx = tx.clone();
            tokio::spawn(async move { handle.submit(tx).await.expect("the node is running") })
        })
        .collect();
    let mut outcomes = Vec::new();
    for submit in submits {
        outcomes.push(submit.await.expect("the submit task"));
    }
    let mut waiting = HashSet::new();
    for (i, (tx, outcome)) in txs.iter().zip(&outcomes).enumerate() {
        let txid = tx.txid(CHAIN);
        if i == forged {
            assert_eq!(
                outcome,
                &SubmitOutcome::Rejected {
                    txid,
                    rejection: TxRejection::BadSignature { index: 1 }
                }
            );
        } else {
            accepted_state(outcome, txid);
            waiting.insert(txid);
        }
    }
    // Events of all of them, in whatever order they come.
    while !waiting.is_empty() {
        let txid = node
            .wait_for("the good transactions to be final", |e| match &e.event {
                Event::TxState { txid, state: TxState::Final, .. } => Some(*txid),
                _ => None,
            })
            .await;
        waiting.remove(&txid);
    }
    let verified =
        node.handle.stats().signatures_verified.load(std::sync::atomic::Ordering::Relaxed);
    assert!(verified >= 14, "the inputs went through the driver's batches ({verified})");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_spending_nothing_real_costs_no_signature_check_ahead() {
    // Verifying ahead must not turn cheap refusals into signature work: a
    // transaction whose inputs do not exist is refused by admission before
    // its signatures are looked at, so the driver does not verify them
    // either (256 forged inputs would otherwise cost 256 checks each).
    let dir = tempfile::tempdir().expect("temp dir");
    let keys = Keys::new();
    let genesis = genesis(&keys);
    let node = TestNode::start(dir.path(), &genesis, &keys).await;
    let (_, value) = alice_coin(&genesis, 0);
    let nowhere = OutPoint { txid: TxId([0xEE; 32]), vout: 0 };
    let tx = spend(&genesis, &[((nowhere, value), &keys.alice)], &address_of(&key(0xC0)));
    let txid = tx.txid(CHAIN);
    let outcome = node.submit(&tx).await;
    assert!(
        matches!(
            outcome,
            SubmitOutcome::Rejected { rejection: TxRejection::UnknownInput { .. }, .. }
        ),
        "{txid}: {outcome:?}"
    );
    let verified =
        node.handle.stats().signatures_verified.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(verified, 0, "signatures of a transaction admission refuses were verified ahead");
    node.stop().await;
}
