//! Everything a run produced, in one value: what `run` returns, what
//! every report file is written from, and what decides the exit code. It
//! only gathers what the modules below it measured; the report modules
//! read it, it reads none of them.

use std::path::PathBuf;

use crate::accounting::Accounting;
use crate::diagnosis::Diagnosis;
use crate::error::{EXIT_OK, EXIT_SAFETY, EXIT_SLO_VIOLATED};
use crate::faults::Fault;
use crate::health::HealthReport;
use crate::metadata::RunMeta;
use crate::metrics::Metrics;
use crate::pool::PlanCheck;
use crate::recorder::Recorder;
use crate::safety::SafetyReport;
use crate::sender::SenderReport;
use crate::slo::SloResult;
use crate::tracker::{RunEvent, TxRecord};

/// Everything a run produced.
#[derive(Debug)]
pub struct RunOutcome {
    /// The metric table.
    pub metrics: Metrics,
    /// Fates.
    pub accounting: Accounting,
    /// Consensus health.
    pub health: HealthReport,
    /// The safety checks.
    pub safety: SafetyReport,
    /// Why the rate was not kept, if it was not.
    pub diagnosis: Diagnosis,
    /// The plan check.
    pub plan: PlanCheck,
    /// How sending went.
    pub sender: SenderReport,
    /// The SLO's verdict, when one was given.
    pub slo: Option<SloResult>,
    /// Run metadata.
    pub meta: RunMeta,
    /// Every transaction.
    pub records: Vec<TxRecord>,
    /// Histograms and series.
    pub recorder: Recorder,
    /// Stream troubles and nodes that stopped answering.
    pub events: Vec<RunEvent>,
    /// Faults of the cluster's fault log during the run.
    pub faults: Vec<Fault>,
    /// Node names.
    pub nodes: Vec<String>,
    /// Where the files went.
    pub out_dir: Option<PathBuf>,
}

impl RunOutcome {
    /// The exit code: safety first, then the SLO.
    pub fn exit_code(&self) -> i32 {
        if !self.safety.ok || !self.accounting.closes() {
            EXIT_SAFETY
        } else if self.slo.as_ref().is_some_and(|s| !s.ok) {
            EXIT_SLO_VIOLATED
        } else {
            EXIT_OK
        }
    }
}
