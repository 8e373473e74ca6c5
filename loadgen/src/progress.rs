//! The live progress line on stderr (indicatif), redrawn four times a
//! second from the tracker's live counters; off when stderr is not a
//! terminal or with `--quiet`. Safety violations are printed as they are
//! seen, progress line or not.

use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio_util::sync::CancellationToken;

use crate::config::RunConfig;
use crate::pool::SharedPool;
use crate::schedule::Schedule;
use crate::tracker::LiveStats;

/// The progress line of one run.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
    phase: Arc<Mutex<&'static str>>,
    stop: CancellationToken,
}

impl Progress {
    /// Starts the line (if enabled and stderr is a terminal).
    pub fn start(
        config: &RunConfig,
        live: Arc<LiveStats>,
        pool: Arc<SharedPool>,
        schedule: Schedule,
        origin: Instant,
    ) -> Progress {
        let phase = Arc::new(Mutex::new("warm-up"));
        let stop = CancellationToken::new();
        if !config.progress || !std::io::stderr().is_terminal() {
            return Progress { bar: None, phase, stop };
        }
        let bar =
            ProgressBar::with_draw_target(Some(schedule.total()), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{bar:24.cyan/blue} {pos:>7}/{len:7} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        let (b, p, s) = (bar.clone(), phase.clone(), stop.clone());
        let measure_start = schedule.measure_start();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            let mut last = (Instant::now(), 0u64);
            loop {
                tokio::select! {
                    _ = s.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let sent = live.sent.load(Ordering::Relaxed);
                let now = Instant::now();
                let rate =
                    (sent - last.1) as f64 / now.duration_since(last.0).as_secs_f64().max(1e-3);
                last = (now, sent);
                let elapsed = now.saturating_duration_since(origin);
                {
                    let mut phase = p.lock().unwrap_or_else(PoisonError::into_inner);
                    if *phase == "warm-up" && elapsed >= measure_start {
                        *phase = "measuring";
                    }
                }
                let phase = *p.lock().unwrap_or_else(PoisonError::into_inner);
                b.set_position(sent.min(schedule.total()));
                b.set_message(format!(
                    "{:>5.1}s {phase}  {rate:>6.0} tx/s  final {}  failed {}  timed out {}  pending {}  p99 {:.1} ms  lag {:.1} ms  pool {}{}",
                    elapsed.as_secs_f64(),
                    live.finals.load(Ordering::Relaxed),
                    live.failed.load(Ordering::Relaxed),
                    live.timed_out.load(Ordering::Relaxed),
                    live.pending.load(Ordering::Relaxed),
                    live.last_p99_us.load(Ordering::Relaxed) as f64 / 1_000.0,
                    live.lag_us.load(Ordering::Relaxed) as f64 / 1_000.0,
                    pool.available(),
                    match live.violations.load(Ordering::Relaxed) {
                        0 => String::new(),
                        n => format!("  SAFETY VIOLATIONS {n}"),
                    },
                ));
            }
        });
        Progress { bar: Some(bar), phase, stop }
    }

    /// Prints a safety violation above the line (or on stderr).
    pub fn violation_printer(&self) -> impl Fn(&str) + Send + 'static {
        let bar = self.bar.clone();
        move |what: &str| {
            let line = format!("loadgen: SAFETY VIOLATION: {what}");
            match &bar {
                Some(bar) => bar.println(line),
                None => eprintln!("{line}"),
            }
        }
    }

    /// Names the phase shown.
    pub fn set_phase(&self, phase: &'static str) {
        *self.phase.lock().unwrap_or_else(PoisonError::into_inner) = phase;
    }

    /// Removes the line.
    pub fn finish(&self) {
        self.stop.cancel();
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
