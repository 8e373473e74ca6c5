//! Self-diagnosis: when the achieved rate falls short of the offered one,
//! or the sender falls behind its schedule, say why — the sender's lag, the
//! generator's own CPU, an empty coin pool, nodes refusing as busy, the
//! in-flight cap — or that the cluster, not the generator, is the limit.

use std::time::{Duration, Instant};

use serde::Serialize;

/// The process's CPU time (user + system) so far; None off Linux.
pub fn process_cpu() -> Option<Duration> {
    cluster::status::cpu_time_of("self")
}

/// CPU use over an interval.
#[derive(Clone, Copy, Debug)]
pub struct CpuMeter {
    started: Instant,
    cpu: Option<Duration>,
}

impl CpuMeter {
    /// Starts measuring.
    pub fn start() -> CpuMeter {
        CpuMeter { started: Instant::now(), cpu: process_cpu() }
    }

    /// CPU used since the start, in percent of one core.
    pub fn percent(&self) -> Option<f64> {
        let used = process_cpu()?.checked_sub(self.cpu?)?;
        let wall = self.started.elapsed().as_secs_f64();
        (wall > 0.0).then(|| used.as_secs_f64() / wall * 100.0)
    }
}

/// What the diagnosis looks at.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// Offered rate.
    pub offered_tps: f64,
    /// Achieved rate.
    pub achieved_tps: f64,
    /// Final / sent.
    pub final_ratio: Option<f64>,
    /// p99 send lag, ms.
    pub lag_p99_ms: Option<f64>,
    /// Largest lag in the first and last quarter of the run, ms.
    pub lag_early_ms: f64,
    /// See `lag_early_ms`.
    pub lag_late_ms: f64,
    /// The schedule's interval, ms.
    pub interval_ms: f64,
    /// loadgen's CPU, % of one core.
    pub cpu_percent: Option<f64>,
    /// Cores of the machine.
    pub cores: usize,
    /// Time workers waited for coins, s.
    pub starved_s: f64,
    /// Times a slot found no signed transaction ready.
    pub queue_empty: u64,
    /// Time the sender waited for signed transactions, s.
    pub queue_wait_s: f64,
    /// Time the sender waited for the in-flight cap, s.
    pub inflight_wait_s: f64,
    /// The cap, if any.
    pub inflight: Option<usize>,
    /// Rejections as busy.
    pub busy: u64,
    /// Measured transactions sent.
    pub sent: u64,
    /// Timed out.
    pub timed_out: u64,
    /// Why sending stopped early, if it did.
    pub stopped_early: Option<String>,
    /// Length of the run, s.
    pub duration_s: f64,
}

/// The verdict.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Diagnosis {
    /// True when the rate was not kept (achieved < 95% of offered, or the
    /// sender fell behind).
    pub rate_missed: bool,
    /// True when the generator itself is (part of) the reason.
    pub generator_limited: bool,
    /// Each reason, worded for a person.
    pub reasons: Vec<String>,
}

/// Diagnoses a run.
pub fn diagnose(i: &Inputs) -> Diagnosis {
    let mut d = Diagnosis::default();
    let lag_p99 = i.lag_p99_ms.unwrap_or(0.0);
    // Behind schedule: p99 lag above 25 ms and above a few intervals (a
    // busy two-core machine delays timers by milliseconds), or a lag that
    // grew well beyond that over the run.
    let lag_bound = 25.0f64.max(5.0 * i.interval_ms);
    let lag_grew = i.lag_late_ms > 2.0 * lag_bound && i.lag_late_ms > 3.0 * i.lag_early_ms.max(1.0);
    let behind = lag_p99 > lag_bound || lag_grew;
    let short = i.achieved_tps < 0.95 * i.offered_tps;
    d.rate_missed = short || behind;
    if let Some(why) = &i.stopped_early {
        d.reasons.push(format!("sending stopped early: {why}"));
        d.rate_missed = true;
    }
    if behind {
        d.generator_limited = true;
        d.reasons.push(format!(
            "the sender fell behind its schedule: p99 send lag {lag_p99:.1} ms (largest {:.1} ms early in the run, {:.1} ms late{}); latencies are still measured from the intended times",
            i.lag_early_ms,
            i.lag_late_ms,
            if lag_grew { ", growing" } else { "" }
        ));
    }
    if let Some(cpu) = i.cpu_percent {
        let cores = i.cores.max(1) as f64;
        if cpu >= 80.0 * cores || (behind && cpu >= 60.0 * cores) {
            d.generator_limited = true;
            d.reasons.push(format!(
                "loadgen used {cpu:.0}% CPU of {cores:.0} cores ({:.0}% of the machine): the generator competes with the nodes for CPU",
                cpu / cores
            ));
        }
    }
    if i.starved_s > 0.05 * i.duration_s.max(1.0) || i.queue_wait_s > 0.01 * i.duration_s.max(1.0) {
        d.generator_limited = true;
        d.reasons.push(format!(
            "coin starvation: the signing workers waited {:.1} s for coins and the sender {:.1} s for signed transactions ({} slots found none ready); coins come back only once final: use --inputs 1, a lower rate, or a larger pool",
            i.starved_s, i.queue_wait_s, i.queue_empty
        ));
    } else if i.queue_empty > 0 && i.queue_wait_s > 0.001 * i.duration_s.max(1.0) {
        d.generator_limited = true;
        d.reasons.push(format!(
            "signing could not keep up: {} slots found no signed transaction ready (waited {:.2} s in all): raise --workers",
            i.queue_empty, i.queue_wait_s
        ));
    }
    if i.busy > 0 {
        d.reasons.push(format!(
            "{} transactions were refused as busy (-29): the nodes' mempools were full",
            i.busy
        ));
    }
    if let Some(cap) = i.inflight
        && i.inflight_wait_s > 0.01 * i.duration_s.max(1.0)
    {
        d.generator_limited = true;
        d.reasons.push(format!(
            "the in-flight cap (--inflight {cap}) held sends back for {:.1} s: closed-loop mode limits the rate to {cap} / latency",
            i.inflight_wait_s
        ));
    }
    if short && !d.generator_limited {
        let ratio = i.final_ratio.map_or("n/a".into(), |r| format!("{r:.4}"));
        d.reasons.push(format!(
            "the generator kept its schedule, the cluster did not finalize at the offered rate: final_ratio {ratio}, {} timed out of {} sent",
            i.timed_out, i.sent
        ));
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy() -> Inputs {
        Inputs {
            offered_tps: 1_000.0,
            achieved_tps: 999.0,
            final_ratio: Some(1.0),
            lag_p99_ms: Some(0.5),
            interval_ms: 1.0,
            cpu_percent: Some(20.0),
            cores: 2,
            sent: 30_000,
            duration_s: 30.0,
            ..Inputs::default()
        }
    }

    #[test]
    fn a_kept_rate_needs_no_explanation() {
        let d = diagnose(&healthy());
        assert!(!d.rate_missed && d.reasons.is_empty(), "{d:?}");
    }

    #[test]
    fn lag_cpu_and_starvation_are_named() {
        let i = Inputs {
            achieved_tps: 600.0,
            lag_p99_ms: Some(400.0),
            lag_early_ms: 2.0,
            lag_late_ms: 900.0,
            cpu_percent: Some(190.0),
            starved_s: 10.0,
            queue_wait_s: 8.0,
            queue_empty: 500,
            ..healthy()
        };
        let d = diagnose(&i);
        assert!(d.rate_missed && d.generator_limited);
        let text = d.reasons.join("\n");
        assert!(text.contains("fell behind") && text.contains("growing"), "{text}");
        assert!(text.contains("CPU"), "{text}");
        assert!(text.contains("coin starvation"), "{text}");
    }

    #[test]
    fn a_slow_cluster_is_not_blamed_on_the_generator() {
        let i =
            Inputs { achieved_tps: 500.0, final_ratio: Some(0.5), timed_out: 15_000, ..healthy() };
        let d = diagnose(&i);
        assert!(d.rate_missed && !d.generator_limited);
        assert!(d.reasons[0].contains("cluster did not finalize"), "{:?}", d.reasons);
    }

    #[test]
    fn own_cpu_is_readable_here() {
        if cfg!(target_os = "linux") {
            assert!(process_cpu().is_some());
        }
    }
}
