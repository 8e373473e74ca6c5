//! What the tracker measures besides fates: the latencies it hands to the
//! [`Recorder`](crate::recorder::Recorder) (always from the intended send
//! time), the send lag, the longest time without a new block and without
//! a finality, and the p99 of the last complete second for the progress
//! line.

use std::sync::atomic::Ordering;

use super::Tracker;
use super::inbox::SentTx;
use super::record::{Fate, Role};

impl Tracker {
    /// Records a send: its lag behind the intended time, and a slot offered
    /// (once per pair).
    pub(super) fn note_sent(&mut self, sent: &SentTx) {
        self.recorder.record_sent(sent.intended_us, sent.sent_us, sent.measured);
        if sent.role != Role::PairSecond {
            self.recorder.record_offered(sent.intended_us);
        }
        self.live.lag_us.store(sent.sent_us.saturating_sub(sent.intended_us), Ordering::Relaxed);
    }

    /// Records a first finality at `at_us` of a transaction meant for
    /// `intended_us`, and the gap since the previous one while sending.
    pub(super) fn note_final_first(&mut self, intended_us: u64, at_us: u64, measured: bool) {
        self.recorder.record_final_first(intended_us, at_us, measured);
        if at_us >= self.measure_start_us && at_us <= self.last_slot_us.max(self.measure_start_us) {
            let gap = at_us.saturating_sub(self.last_final_us);
            self.max_no_final_us = Some(self.max_no_final_us.unwrap_or(0).max(gap));
            self.last_final_us = self.last_final_us.max(at_us);
        }
    }

    /// A block event: the gap since the previous new height.
    pub(super) fn on_block(&mut self, height: u64, at_us: u64) {
        if height <= self.top_height {
            return;
        }
        let gap = at_us.saturating_sub(self.last_block_us);
        self.max_no_block_us = Some(self.max_no_block_us.unwrap_or(0).max(gap));
        self.top_height = height;
        self.last_block_us = at_us;
    }

    /// Publishes the p99 final-first latency of `second` (a complete one)
    /// for the progress line.
    pub(super) fn publish_p99(&self, second: usize) {
        if let Some(second) = self.recorder.seconds().get(second)
            && !second.final_first.is_empty()
        {
            self.live
                .last_p99_us
                .store(second.final_first.value_at_quantile(0.99), Ordering::Relaxed);
        }
    }

    /// At the end (`now_us`): the time since the last block (or since the
    /// start, when none came) counts too, a stall at the end is a stall;
    /// so does the time since the last finality when measured transactions
    /// sent after it never became final.
    pub(super) fn close_gaps(&mut self, now_us: u64) {
        let gap = now_us.saturating_sub(self.last_block_us);
        self.max_no_block_us = Some(self.max_no_block_us.unwrap_or(0).max(gap));
        if self.last_slot_us > self.last_final_us
            && self
                .records
                .iter()
                .any(|r| r.measured && r.intended_us > self.last_final_us && r.fate != Fate::Final)
        {
            let gap = self.last_slot_us - self.last_final_us;
            self.max_no_final_us = Some(self.max_no_final_us.unwrap_or(0).max(gap));
        }
    }
}
