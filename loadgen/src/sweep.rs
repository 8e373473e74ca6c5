//! `loadgen sweep --slo ...`: runs steps at increasing rates on the same
//! cluster until the SLO fails (or a step cannot run, or safety fails), and
//! reports the highest rate that held with the table of steps. Before each
//! step the cluster settles (everything final committed, mempools no longer
//! changing), so a step never measures the backlog of what ran before it
//! (a preceding overload takes the cluster many seconds to digest). With
//! `--out DIR`, each step's files go to `DIR/step-<rate>/` and the sweep's
//! own result to `DIR/sweep.json`.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::config::{RunConfig, Stop};
use crate::error::LoadgenError;
use crate::metrics::Metrics;
use crate::report::summary::format_value;
use crate::run::run;
use crate::slo::{Slo, SloResult};
use crate::target;

/// A sweep.
#[derive(Clone, Debug)]
pub struct SweepConfig {
    /// Everything but the rate, the duration and the output directory.
    pub base: RunConfig,
    /// What must hold.
    pub slo: Slo,
    /// The first rate.
    pub from: f64,
    /// Added per step.
    pub step: f64,
    /// The last rate tried.
    pub max: f64,
    /// Each step's measured duration.
    pub duration: Duration,
    /// Where the files go.
    pub out: Option<PathBuf>,
}

/// One step.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    /// Offered rate.
    pub tps: f64,
    /// True when the SLO held and safety passed.
    pub held: bool,
    /// The SLO's verdict.
    pub slo: Option<SloResult>,
    /// Safety.
    pub safety_ok: bool,
    /// Every metric.
    pub metrics: Metrics,
    /// Why it could not run, if it could not.
    pub error: Option<String>,
    /// How long the cluster took to settle before the step (seconds).
    pub settle_seconds: f64,
}

/// The result.
#[derive(Clone, Debug, Serialize)]
pub struct SweepOutcome {
    /// The SLO.
    pub slo: String,
    /// The highest rate that held.
    pub highest_held_tps: Option<f64>,
    /// Every step run.
    pub steps: Vec<Step>,
    /// True when a step failed safety.
    pub safety_failed: bool,
}

/// The columns of the steps' table.
const COLUMNS: [&str; 6] = [
    "achieved_tps",
    "final_ratio",
    "final_first.p50",
    "final_first.p99",
    "final_all.p99",
    "timed_out",
];

/// The longest wait for the cluster to settle before a step.
const SETTLE_MAX: Duration = Duration::from_secs(120);

/// Waits until every node has nothing final waiting for a block and a
/// mempool that no longer changes (size, orphans and bodiless txids the same
/// over two half-second intervals; a mempool holding transactions that can
/// never become final, such as conflicted double spends, is settled too);
/// returns how long that took. A cluster that does not settle within
/// [`SETTLE_MAX`] (or cannot be asked) gets a warning and the step runs
/// anyway: the step's own checks then report what is wrong.
async fn settle(base: &RunConfig, stop: &CancellationToken) -> f64 {
    let started = Instant::now();
    let resolved = match target::resolve(&base.target, base.keys, Duration::from_secs(5)).await {
        Ok(resolved) => resolved,
        Err(e) => {
            eprintln!("loadgen sweep: cannot check that the cluster settled: {e}");
            return 0.0;
        }
    };
    let mut quiet = 0;
    let mut previous = Vec::new();
    while started.elapsed() < SETTLE_MAX && !stop.is_cancelled() {
        let mut now = Vec::with_capacity(resolved.nodes.len());
        for node in &resolved.nodes {
            now.push(match node.client.getmempoolinfo().await {
                Ok(info) if info.final_not_in_block == 0 => {
                    Some((info.size, info.orphans, info.bodiless))
                }
                _ => None,
            });
        }
        let busy = now.iter().any(Option::is_none) || now != previous;
        previous = now;
        quiet = if busy { 0 } else { quiet + 1 };
        if quiet >= 2 {
            return started.elapsed().as_secs_f64();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!(
        "loadgen sweep: the cluster did not settle within {SETTLE_MAX:?} (mempools changing or final transactions waiting for a block); running the step anyway"
    );
    started.elapsed().as_secs_f64()
}

/// Runs the sweep.
pub async fn sweep(
    config: &SweepConfig,
    stop: CancellationToken,
) -> Result<SweepOutcome, LoadgenError> {
    if !(config.from > 0.0 && config.step > 0.0 && config.max >= config.from) {
        return Err(LoadgenError::Usage(format!(
            "a sweep needs 0 < --from <= --max and --step > 0 (got from {}, step {}, max {})",
            config.from, config.step, config.max
        )));
    }
    let mut outcome = SweepOutcome {
        slo: config.slo.to_string(),
        highest_held_tps: None,
        steps: Vec::new(),
        safety_failed: false,
    };
    let mut tps = config.from;
    while tps <= config.max + 1e-9 && !stop.is_cancelled() {
        let mut step_config = config.base.clone();
        step_config.tps = tps;
        step_config.stop = Stop::Duration(config.duration);
        step_config.slo = Some(config.slo.clone());
        step_config.out = config.out.as_ref().map(|dir| dir.join(format!("step-{tps}")));
        let settle_seconds = settle(&config.base, &stop).await;
        eprintln!("loadgen sweep: {tps} tx/s for {:?}", config.duration);
        match run(&step_config, stop.clone()).await {
            Ok(result) => {
                let slo = result.slo.clone();
                let held = slo.as_ref().is_some_and(|s| s.ok) && result.safety.ok;
                outcome.safety_failed |= !result.safety.ok;
                outcome.steps.push(Step {
                    tps,
                    held,
                    slo,
                    safety_ok: result.safety.ok,
                    metrics: result.metrics,
                    error: None,
                    settle_seconds,
                });
                if !held {
                    break;
                }
                outcome.highest_held_tps = Some(tps);
            }
            // A first step that cannot run is the user's to fix.
            Err(e) if outcome.steps.is_empty() => return Err(e),
            Err(e) => {
                outcome.steps.push(Step {
                    tps,
                    held: false,
                    slo: None,
                    safety_ok: true,
                    metrics: Metrics::default(),
                    error: Some(e.to_string()),
                    settle_seconds,
                });
                break;
            }
        }
        tps += config.step;
    }
    if let Some(dir) = &config.out {
        std::fs::create_dir_all(dir).map_err(|e| LoadgenError::output(dir, e))?;
        let path = dir.join("sweep.json");
        let json =
            serde_json::to_vec_pretty(&outcome).map_err(|e| LoadgenError::output(&path, e))?;
        std::fs::write(&path, json).map_err(|e| LoadgenError::output(&path, e))?;
    }
    Ok(outcome)
}

/// The steps as a table, and the verdict.
pub fn table(outcome: &SweepOutcome) -> String {
    let mut out = String::new();
    let mut header = vec!["tps"];
    header.extend(COLUMNS);
    header.extend(["settled_s", "SLO"]);
    // Every column but the last (SLO) is a number.
    let numbers: Vec<usize> = (0..header.len() - 1).collect();
    let mut table = client::table::table(&header, &numbers);
    for step in &outcome.steps {
        let mut row = vec![step.tps.to_string()];
        row.extend(COLUMNS.iter().map(|c| format_value(c, step.metrics.get(c))));
        row.push(format!("{:.1}", step.settle_seconds));
        let verdict = match (&step.error, step.held, step.safety_ok) {
            (Some(e), _, _) => format!("could not run: {e}"),
            (None, true, _) => "held".into(),
            (None, false, false) => "SAFETY VIOLATED".into(),
            (None, false, true) => {
                let failed: Vec<String> = step
                    .slo
                    .iter()
                    .flat_map(|s| s.clauses.iter().filter(|c| !c.ok).map(|c| c.clause.clone()))
                    .collect();
                format!("failed: {}", failed.join(", "))
            }
        };
        row.push(verdict);
        table.add_row(row);
    }
    out.push_str(&client::table::render(&table, ""));
    let _ = writeln!(
        out,
        "\nhighest rate that held {}: {}",
        outcome.slo,
        outcome
            .highest_held_tps
            .map_or("none (the first step failed)".into(), |t| format!("{t} tx/s"))
    );
    out
}
