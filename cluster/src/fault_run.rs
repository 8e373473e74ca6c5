//! Running a fault schedule (`timectl faults run FILE`): the file read and
//! checked against the cluster before anything happens, then each step at
//! its offset from the start, applied through the agent. `proposer`
//! targets are resolved when their step runs. The format is in
//! [`faults`]; the caller renders each [`StepReport`].

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::control::Request;
use crate::error::ClusterError;
use crate::faults::{self, Action, ScheduleError, Step};
use crate::health::ClusterView;
use crate::layout::Layout;
use crate::lifecycle::{self, AskError};

/// Why a schedule could not be loaded (nothing ran).
#[derive(Debug, Error)]
pub enum LoadError {
    /// The cluster's files could not be read.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The schedule file could not be read (the cause is the source).
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The schedule does not parse, or names nodes the cluster lacks.
    #[error("{}: {error}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The line and column, and what is wrong.
        error: ScheduleError,
    },
}

/// A schedule checked against the cluster it runs on.
#[derive(Clone, Debug)]
pub struct Schedule {
    /// The cluster.
    pub view: ClusterView,
    /// The steps in time order (`random` resolved, `proposer` not yet).
    pub steps: Vec<Step>,
}

/// Reads the cluster in `layout`, then the schedule in `file`, resolving
/// `random` targets with `seed`.
pub fn load(layout: &Layout, file: &Path, seed: u64) -> Result<Schedule, LoadError> {
    let view = ClusterView::load(layout)?;
    let text = std::fs::read_to_string(file)
        .map_err(|source| LoadError::Read { path: file.to_path_buf(), source })?;
    let steps = faults::parse_schedule(&text, &view.names(), seed)
        .map_err(|error| LoadError::Parse { path: file.to_path_buf(), error })?;
    Ok(Schedule { view, steps })
}

/// How one step went.
#[derive(Debug)]
pub enum StepOutcome {
    /// The agent carried it out.
    Done,
    /// A `proposer` target named no node: no node answered, or (for `start`
    /// and `resume`) no earlier `proposer` step hit one. Nothing was sent.
    NoProposer,
    /// The agent refused it, or could not be reached.
    Failed(AskError),
}

/// One step as it ran.
#[derive(Debug)]
pub struct StepReport {
    /// The step, with a `proposer` target replaced by the node it named
    /// (left as `proposer` when it named none).
    pub step: Step,
    /// Time since the schedule started, when the step was done (or failed).
    pub elapsed: Duration,
    /// Wall clock (ms since the Unix epoch) when the step was sent to the
    /// agent.
    pub at_ms: u64,
    /// How it went.
    pub outcome: StepOutcome,
}

/// The agent request that carries out `action` (a `proposer` target must
/// be resolved first).
pub fn request_for(action: &Action) -> Request {
    match action {
        Action::Node { verb, node } => match verb.as_str() {
            "start" => Request::Start { node: node.clone() },
            "stop" => Request::Stop { node: node.clone() },
            "restart" => Request::Restart { node: node.clone() },
            "kill" => Request::Kill { node: node.clone() },
            "pause" => Request::Pause { node: node.clone() },
            _ => Request::Resume { node: node.clone() },
        },
        Action::Partition { groups } => Request::Partition { groups: groups.clone() },
        Action::Heal => Request::Heal,
        Action::Links { links, faults } => {
            Request::SetFaults { links: links.clone(), faults: faults.clone() }
        }
    }
}

/// Runs `schedule` from now: waits for each step's time, resolves a
/// `proposer` target (the current proposer, or for `start` and `resume` the
/// node the last `proposer` step hit), asks the agent to carry the step out,
/// and hands `report` how it went. A failed step does not stop the run.
pub async fn run(schedule: Schedule, report: &mut dyn FnMut(StepReport)) {
    let Schedule { view, steps } = schedule;
    let start = Instant::now();
    // The node the last `proposer` step hit (`start proposer` brings it back).
    let mut hit: Option<String> = None;
    for mut step in steps {
        tokio::time::sleep_until(tokio::time::Instant::from_std(start + step.at)).await;
        if let Action::Node { verb, node } = &mut step.action
            && node == faults::PROPOSER
        {
            let resolved = if matches!(verb.as_str(), "start" | "resume") {
                hit.clone()
            } else {
                view.current_proposer().await
            };
            let Some(resolved) = resolved else {
                report(StepReport {
                    step,
                    elapsed: start.elapsed(),
                    at_ms: hostio::now_ms(),
                    outcome: StepOutcome::NoProposer,
                });
                continue;
            };
            hit = Some(resolved.clone());
            *node = resolved;
        }
        let request = request_for(&step.action);
        let at_ms = hostio::now_ms();
        let outcome = match lifecycle::ask(&view.layout, &request).await {
            Ok(_) => StepOutcome::Done,
            Err(e) => StepOutcome::Failed(e),
        };
        report(StepReport { step, elapsed: start.elapsed(), at_ms, outcome });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::LinkFaults;

    #[test]
    fn each_action_is_the_agent_request_of_the_same_name() {
        let node = |verb: &str| Action::Node { verb: verb.into(), node: "node2".into() };
        let n = || "node2".to_string();
        assert_eq!(request_for(&node("start")), Request::Start { node: n() });
        assert_eq!(request_for(&node("stop")), Request::Stop { node: n() });
        assert_eq!(request_for(&node("restart")), Request::Restart { node: n() });
        assert_eq!(request_for(&node("kill")), Request::Kill { node: n() });
        assert_eq!(request_for(&node("pause")), Request::Pause { node: n() });
        assert_eq!(request_for(&node("resume")), Request::Resume { node: n() });
        assert_eq!(request_for(&Action::Heal), Request::Heal);
        let groups = vec![vec!["node1".to_string()], vec![n()]];
        assert_eq!(
            request_for(&Action::Partition { groups: groups.clone() }),
            Request::Partition { groups }
        );
        let links = vec![("node1".to_string(), n())];
        let faults = LinkFaults { cut: true, ..LinkFaults::default() };
        assert_eq!(
            request_for(&Action::Links { links: links.clone(), faults: faults.clone() }),
            Request::SetFaults { links, faults }
        );
    }

    #[test]
    fn nothing_is_read_past_a_missing_cluster_or_file() {
        let temp = tempfile::tempdir().expect("temp dir");
        let layout = Layout::new(temp.path());
        let missing = load(&layout, &temp.path().join("schedule"), 0).expect_err("no cluster");
        assert!(matches!(missing, LoadError::Cluster(_)), "{missing}");
    }
}
