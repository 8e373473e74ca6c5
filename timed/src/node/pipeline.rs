//! Persistence in flight: a cycle's persists queue up for the next write
//! (one at a time, in order), and its visible outputs and answers wait until
//! every persist issued up to that cycle is durable.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use consensus::{Output, PersistOp};

use super::Driver;
use super::now_millis;
use crate::store::StoreError;

/// A driver cycle could not be made durable.
#[derive(Debug)]
pub(super) struct CycleFailed;

/// An answer to a question, computed at the end of its cycle, sent once the
/// cycle is durable.
pub(super) type Answer = Box<dyn FnOnce() + Send>;

/// A cycle's visible outputs and answers, waiting for `generation`.
pub(super) struct Held {
    generation: u64,
    outputs: Vec<Output>,
    answers: Vec<Answer>,
}

/// The write in flight: the generation it makes durable, when it started.
type Writing = (u64, Instant, JoinHandle<Result<Duration, StoreError>>);

/// Persistence in flight. Every cycle with persists is one generation; a
/// write makes every generation up to its own durable.
#[derive(Default)]
pub(super) struct Pipeline {
    /// Persists of cycles not yet handed to the store, in order.
    queued: Vec<PersistOp>,
    /// The newest generation issued.
    issued: u64,
    /// Every generation up to this one is durable.
    durable: u64,
    /// The write in flight (at most one, so writes stay in order).
    pub(super) writing: Option<Writing>,
    /// Visible outputs of cycles in order, each waiting for its generation.
    pub(super) held: VecDeque<Held>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("queued", &self.queued.len())
            .field("issued", &self.issued)
            .field("durable", &self.durable)
            .field("writing", &self.writing.as_ref().map(|(generation, ..)| *generation))
            .field("held", &self.held.len())
            .finish()
    }
}

/// Waits for the write in flight (never resolves when there is none).
pub(super) async fn write_done(
    writing: &mut Option<Writing>,
) -> Result<Result<Duration, StoreError>, tokio::task::JoinError> {
    match writing {
        Some((_, _, handle)) => handle.await,
        None => std::future::pending().await,
    }
}

/// Most cycles whose outputs may wait for the disk before the driver stops
/// taking inputs (bounds what a slow disk makes the node hold).
pub(super) const MAX_HELD_CYCLES: usize = 512;

impl Driver {
    /// Ends a cycle: seals votes, queues the cycle's persists for the next
    /// write, and holds its visible outputs and answers until every persist
    /// issued so far is durable (at once when nothing is outstanding).
    /// Timers and refusals are not visible and are carried out now.
    pub(super) fn finish_cycle(&mut self) {
        self.stats.cycles.fetch_add(1, Ordering::Relaxed);
        if self.pipeline.writing.is_some() {
            self.stats.cycles_during_write.fetch_add(1, Ordering::Relaxed);
        }
        let sealed = self.core.seal(now_millis());
        self.pending.extend(sealed);
        let mut visible = Vec::new();
        let mut persisted = false;
        for output in std::mem::take(&mut self.pending) {
            match output {
                // Moved, not copied: commits carry whole blocks.
                Output::Persist(op) => {
                    self.pipeline.queued.push(op);
                    persisted = true;
                }
                Output::SetTimer { timer, at } => {
                    self.next_timer += 1;
                    self.timers.insert((at, self.next_timer), timer);
                }
                Output::Refused { peer, reason } => {
                    debug!(peer = %peer.short(), reason = reason.as_str(), "message refused");
                    if reason.is_offence() && self.net.penalize(&peer) {
                        warn!(peer = %peer.short(), reason = reason.as_str(), "peer banned");
                    }
                }
                other => visible.push(other),
            }
        }
        if persisted {
            self.pipeline.issued += 1;
        }
        let answers: Vec<Answer> =
            std::mem::take(&mut self.queries).into_iter().map(|q| self.answer(q)).collect();
        let generation = self.pipeline.issued;
        if generation <= self.pipeline.durable {
            self.perform(visible, answers);
        } else if !visible.is_empty() || !answers.is_empty() {
            match self.pipeline.held.back_mut() {
                Some(last) if last.generation == generation => {
                    last.outputs.extend(visible);
                    last.answers.extend(answers);
                }
                _ => self.pipeline.held.push_back(Held { generation, outputs: visible, answers }),
            }
        }
        self.start_write();
    }

    /// Hands every queued persist to the store as one write, unless a write
    /// is in flight (the next one starts when it is done).
    pub(super) fn start_write(&mut self) {
        if self.pipeline.writing.is_some() || self.pipeline.queued.is_empty() {
            return;
        }
        let ops = std::mem::take(&mut self.pipeline.queued);
        let store = self.store.clone();
        #[cfg(feature = "byzantine")]
        let slow_disk = self.slow_disk;
        let stats = self.stats.clone();
        let handle = tokio::task::spawn_blocking(move || {
            // A slow disk is slow before anything reaches the store.
            #[cfg(feature = "byzantine")]
            if slow_disk {
                std::thread::sleep(crate::byzantine::SLOW_DISK_DELAY);
            }
            stats.cpu.store.measure(|| store.persist(&ops))
        });
        self.pipeline.writing = Some((self.pipeline.issued, Instant::now(), handle));
    }

    /// The write in flight finished: on success, releases every held cycle
    /// it made durable, in order, and starts the next write. An error means
    /// the store could not make the cycles durable (logged here).
    pub(super) fn written(
        &mut self,
        result: Result<Result<Duration, StoreError>, tokio::task::JoinError>,
    ) -> Result<(), CycleFailed> {
        let Some((generation, started, _)) = self.pipeline.writing.take() else {
            return Ok(());
        };
        self.stats
            .persist_micros
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        match result {
            Ok(Ok(took)) => {
                let micros = took.as_micros() as u64;
                self.stats.flushes.fetch_add(1, Ordering::Relaxed);
                self.stats.flush_micros.fetch_add(micros, Ordering::Relaxed);
                self.stats.flush_max_micros.fetch_max(micros, Ordering::Relaxed);
            }
            Ok(Err(e)) => {
                self.fail(format!("persist failed: {e}"));
                return Err(CycleFailed);
            }
            Err(e) => {
                self.fail(format!("persist task failed: {e}"));
                return Err(CycleFailed);
            }
        }
        self.pipeline.durable = generation;
        self.core.mark_durable(self.store.height());
        while self.pipeline.held.front().is_some_and(|h| h.generation <= generation) {
            if let Some(held) = self.pipeline.held.pop_front() {
                self.perform(held.outputs, held.answers);
            }
        }
        self.start_write();
        Ok(())
    }

    /// Lets the write in flight finish, writes what is queued, flushes,
    /// and then releases what waited for it (replies to clients).
    pub(super) async fn flush_on_shutdown(&mut self) {
        while self.pipeline.writing.is_some() {
            let written = write_done(&mut self.pipeline.writing).await;
            if self.written(written).is_err() {
                return;
            }
        }
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || store.persist(&[])).await {
            Ok(Ok(_)) => info!("store flushed; driver stopped"),
            Ok(Err(e)) => error!("final flush failed: {e}"),
            Err(e) => error!("final flush task failed: {e}"),
        }
    }
}
