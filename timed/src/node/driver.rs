//! The driver's loop: take every ready input as one cycle, verify ahead,
//! feed the core, fire due timers, end the cycle (pipeline.rs); and what it
//! does with the core's visible outputs once they are durable.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use consensus::message::MAX_BLOCKS_PER_MESSAGE;
use consensus::{Event, Input, Message, Origin, Output};
use protocol::NodeId;

use super::pipeline::{Answer, MAX_HELD_CYCLES, write_done};
use super::{Command, Driver, NodeEvent, Query, Wire, now_millis};

/// A peer is served blocks at most this often.
const BLOCK_SERVE_INTERVAL: Duration = Duration::from_millis(100);

/// An input the driver took for a cycle, before the core sees it.
#[expect(
    clippy::large_enum_variant,
    reason = "lives only in one cycle's list; boxing would allocate per peer message"
)]
pub(super) enum Taken {
    Command(Command),
    Net(net::NetEvent<Wire>),
}

/// How many ready inputs one cycle takes before it seals and flushes
/// (bounds the latency a long queue adds to the first input's vote).
const MAX_INPUTS_PER_CYCLE: usize = 2_048;

impl Driver {
    pub(super) async fn run(
        mut self,
        mut command_inbox: mpsc::Receiver<Command>,
        mut net_events: net::NetEvents<Wire>,
        shutdown: CancellationToken,
    ) {
        // Outputs of `start` (timers, re-announced votes).
        self.finish_cycle();
        loop {
            let next_due = self.timers.keys().next().map(|(at, _)| *at);
            let sleep = async {
                match next_due {
                    Some(at) => {
                        let wait = at.saturating_sub(now_millis());
                        tokio::time::sleep(Duration::from_millis(wait)).await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            // A disk far behind stops the intake until it catches up.
            let accepting = self.pipeline.held.len() < MAX_HELD_CYCLES;
            let mut taken = Vec::new();
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                written = write_done(&mut self.pipeline.writing) => {
                    if self.written(written).is_err() {
                        // A store that cannot persist must not let the node vote on.
                        error!("stopping: the store failed to persist");
                        shutdown.cancel();
                        break;
                    }
                }
                command = command_inbox.recv(), if accepting => match command {
                    Some(command) => taken.push(Taken::Command(command)),
                    None => break,
                },
                event = net_events.recv(), if accepting => match event {
                    Some(event) => taken.push(Taken::Net(event)),
                    None => break,
                },
                () = sleep => {}
            }
            // Take whatever else is ready now: that is the group commit.
            while accepting && taken.len() < MAX_INPUTS_PER_CYCLE {
                let mut progressed = false;
                if let Ok(command) = command_inbox.try_recv() {
                    taken.push(Taken::Command(command));
                    progressed = true;
                }
                if let Some(event) = net_events.try_recv() {
                    taken.push(Taken::Net(event));
                    progressed = true;
                }
                if !progressed {
                    break;
                }
            }
            self.verify_ahead(&taken).await;
            for input in taken {
                match input {
                    Taken::Command(command) => self.command(command),
                    Taken::Net(event) => self.net_event(event),
                }
            }
            self.fire_due_timers();
            #[cfg(feature = "byzantine")]
            if self.panic_at.is_some_and(|at| Instant::now() >= at) {
                panic!("--byzantine panic: the driver panics, as a bug would");
            }
            self.finish_cycle();
        }
        self.flush_on_shutdown().await;
    }

    pub(super) fn fire_due_timers(&mut self) {
        let now = now_millis();
        while let Some((&(at, id), _)) = self.timers.iter().next() {
            if at > now {
                break;
            }
            if let Some(timer) = self.timers.remove(&(at, id)) {
                let outputs = self.core.handle(now, Input::Timer(timer));
                self.pending.extend(outputs);
            }
        }
    }

    pub(super) fn command(&mut self, command: Command) {
        match command {
            Command::Submit(tx, reply) => {
                #[cfg(feature = "byzantine")]
                if let Some(byzantine) = self.byzantine.as_mut() {
                    byzantine.on_tx(&tx, &self.core, &self.net);
                }
                let request = self.next_request;
                self.next_request += 1;
                self.replies.insert(request, reply);
                let outputs = self
                    .core
                    .handle(now_millis(), Input::SubmitTx { tx, origin: Origin::Client(request) });
                self.pending.extend(outputs);
            }
            Command::Query(query) => self.queries.push(query),
        }
    }

    /// The answer to `query` from the state now, to be sent once what
    /// this state rests on is durable.
    pub(super) fn answer(&self, query: Query) -> Answer {
        // A dropped receiver just means the asker went away.
        fn reply<T: Send + 'static>(reply: oneshot::Sender<T>, value: T) -> Answer {
            Box::new(move || {
                let _ = reply.send(value);
            })
        }
        match query {
            Query::TxStatus(txid, sender) => reply(sender, self.core.tx_status(&txid)),
            Query::PoolTx(txid, sender) => reply(sender, self.core.pool_tx(&txid).cloned()),
            Query::PoolTxids(sender) => reply(sender, self.core.pool_txids()),
            Query::Info(sender) => reply(sender, self.core.info()),
            Query::Mempool(sender) => reply(sender, self.core.mempool_info()),
            Query::Spendable(address, sender) => reply(sender, self.core.spendable(&address)),
        }
    }

    pub(super) fn net_event(&mut self, event: net::NetEvent<Wire>) {
        let now = now_millis();
        let input = match event {
            net::NetEvent::PeerUp { peer, .. } => Input::PeerUp(peer),
            net::NetEvent::PeerDown { peer, .. } => {
                self.blocks_served_at.remove(&peer);
                Input::PeerDown(peer)
            }
            net::NetEvent::Message { peer, msg: Wire(Message::GetBlocks { from }) } => {
                self.serve_blocks(peer, from);
                return;
            }
            net::NetEvent::Message { peer, msg: Wire(message) } => {
                #[cfg(feature = "byzantine")]
                if let Some(byzantine) = self.byzantine.as_mut() {
                    byzantine.heard(&message);
                    if let Message::Tx(tx) = &message {
                        byzantine.on_tx(tx, &self.core, &self.net);
                    }
                }
                Input::Message { from: peer, message }
            }
            // The core speaks only in messages; requests are not used.
            net::NetEvent::Request { peer, msg: Wire(message), .. } => {
                Input::Message { from: peer, message }
            }
        };
        let outputs = self.core.handle(now, input);
        self.pending.extend(outputs);
    }

    /// Catch-up is served from the store, not the core (io.rs): at most one
    /// reply per peer per interval, each within one frame.
    pub(super) fn serve_blocks(&mut self, peer: NodeId, from: u64) {
        let now = Instant::now();
        if self.blocks_served_at.get(&peer).is_some_and(|at| now < *at + BLOCK_SERVE_INTERVAL) {
            debug!(peer = %peer.short(), "block request ignored: asked again too soon");
            return;
        }
        self.blocks_served_at.insert(peer, now);
        match self.store.blocks_from(from, MAX_BLOCKS_PER_MESSAGE, self.reply_budget) {
            Ok(blocks) if !blocks.is_empty() => {
                self.stats.blocks_served.fetch_add(blocks.len() as u64, Ordering::Relaxed);
                self.send(Some(peer), Message::Blocks(blocks));
            }
            Ok(_) => {}
            Err(e) => warn!("reading blocks for a peer failed: {e}"),
        }
    }

    /// Carries out a cycle's visible outputs, in order, then its answers.
    pub(super) fn perform(&mut self, outputs: Vec<Output>, answers: Vec<Answer>) {
        for output in outputs {
            match output {
                Output::Send { to, message } => self.send(Some(to), message),
                Output::Broadcast(message) => self.send(None, message),
                Output::Event(event) => self.publish(event),
                Output::Reply { request, outcome } => {
                    if let Some(reply) = self.replies.remove(&request) {
                        let _ = reply.send(outcome);
                    }
                }
                // Carried out when the cycle ended.
                Output::Persist(_) | Output::SetTimer { .. } | Output::Refused { .. } => {}
            }
        }
        for answer in answers {
            answer();
        }
    }

    /// Sends to one peer, or to every connected one.
    pub(super) fn send(&mut self, to: Option<NodeId>, message: Message) {
        #[cfg(feature = "byzantine")]
        if let Some(byzantine) = self.byzantine.as_mut() {
            byzantine.send(to, message, &self.core, &self.net);
            return;
        }
        match to {
            Some(to) => {
                if let Err(e) = self.net.send(&to, Wire(message)) {
                    debug!(peer = %to.short(), "send dropped: {e}");
                }
            }
            None => {
                self.net.broadcast(Wire(message));
            }
        }
    }

    /// Logs an equivocation in one short line: the first of each voter, then
    /// the 10th, 100th, ... (a Twin or a Byzantine member can cause
    /// thousands a minute; `getconsensusinfo` counts them all, and the event
    /// stream carries each with both signed messages).
    pub(super) fn log_equivocation(&mut self, evidence: &consensus::Evidence) {
        let (voter, what) = match evidence {
            consensus::Evidence::VoteBatches(a, b) => {
                (a.voter.short(), format!("vote batches seq {} and {}", a.seq, b.seq))
            }
            consensus::Evidence::BlockVotes(a, b) => (
                format!("member {}", a.voter),
                format!("{:?}s at height {} round {}", a.kind, a.height, b.round),
            ),
        };
        let count = self.equivocations_by.entry(voter.clone()).or_insert(0);
        *count += 1;
        let n = *count;
        let mut rest = n;
        while rest.is_multiple_of(10) {
            rest /= 10;
        }
        if rest == 1 {
            warn!(voter, count = n, "equivocation: two conflicting signed {what}");
        } else {
            debug!(voter, count = n, "equivocation: two conflicting signed {what}");
        }
    }

    pub(super) fn publish(&mut self, event: Event) {
        match &event {
            Event::BlockCommitted { height, txids, round, .. } => {
                debug!(height, round, txs = txids.len(), "block committed");
            }
            Event::Equivocation(evidence) => self.log_equivocation(evidence),
            Event::ProposalRejected { height, round, reason } => {
                // For the log only: it takes no stream id (ids must not skip).
                warn!(height, round, "proposal rejected: {reason}");
                return;
            }
            Event::Syncing(on) => info!(syncing = on, "catch-up"),
            Event::TxState { .. } => {}
        }
        let now = now_millis();
        let latency_ms = match &event {
            Event::TxState { txid, state: consensus::TxState::Final, .. } => self
                .core
                .tx_status(txid)
                .filter(|s| s.seen_at > 0)
                .map(|s| now.saturating_sub(s.seen_at)),
            _ => None,
        };
        let id = self.next_event;
        self.next_event += 1;
        // No subscriber is fine: events are for observers.
        let _ = self.events.send(NodeEvent { id, at: now, event, latency_ms });
    }

    /// A write failed: counted, logged, and kept as the reason the node
    /// stops (the first one).
    pub(super) fn fail(&self, reason: String) {
        self.stats.store_errors.fetch_add(1, Ordering::Relaxed);
        error!("{reason}");
        let mut fatal = self.stats.fatal.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        fatal.get_or_insert(reason);
    }
}
