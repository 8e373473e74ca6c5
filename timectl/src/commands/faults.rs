//! Breaking the cluster on purpose: node actions (`start` … `resume`),
//! link faults (`partition`, `cut`, `heal`, `delay`, `loss`, `bandwidth`),
//! each one request to the agent, and `faults run`, which
//! `cluster::fault_run` carries out step by step.

use std::path::Path;

use anyhow::anyhow;
use cluster::control::Request;
use cluster::fault_run::LoadError;
use cluster::faults;
use cluster::layout::Layout;
use cluster::{ClusterView, LinkFaults};

use super::{ask, node_index};
use crate::{EXIT_FAILED, EXIT_OK, EXIT_USAGE, Failure, Outcome, failure, render};

/// `start`, `stop`, `restart`, `kill`, `pause` or `resume` of a node.
pub(crate) async fn node_action(layout: &Layout, request: Request, json: bool) -> Outcome {
    let name = match &request {
        Request::Start { node }
        | Request::Stop { node }
        | Request::Restart { node }
        | Request::Kill { node }
        | Request::Pause { node }
        | Request::Resume { node } => node.clone(),
        _ => String::new(),
    };
    let view = ClusterView::load(layout).map_err(anyhow::Error::from)?;
    node_index(&view, &name)?;
    let response = ask(layout, request).await?;
    render::print_node(response.nodes.iter().find(|n| n.name == name), json)?;
    Ok(EXIT_OK)
}

/// A request that changes links; prints the links it leaves faulty.
pub(crate) async fn link_action(layout: &Layout, request: Request, json: bool) -> Outcome {
    let response = ask(layout, request).await?;
    render::print_links(&response.links, json)?;
    Ok(EXIT_OK)
}

async fn set_faults(
    layout: &Layout,
    target: Option<String>,
    faults: LinkFaults,
    json: bool,
) -> Outcome {
    let view = ClusterView::load(layout).map_err(anyhow::Error::from)?;
    let links = faults::links_for(target.as_deref(), &view.names())
        .map_err(|e| failure(EXIT_USAGE, anyhow!(e)))?;
    link_action(layout, Request::SetFaults { links, faults }, json).await
}

/// `partition A,B / C,D,E`: the words joined again, then split at `/`.
pub(crate) async fn partition(layout: &Layout, spec: &[String], json: bool) -> Outcome {
    let view = ClusterView::load(layout).map_err(anyhow::Error::from)?;
    let groups = faults::parse_partition(&spec.join(" "), &view.names())
        .map_err(|e| failure(EXIT_USAGE, anyhow!(e)))?;
    link_action(layout, Request::Partition { groups }, json).await
}

pub(crate) async fn cut(layout: &Layout, target: String, json: bool) -> Outcome {
    set_faults(layout, Some(target), LinkFaults { cut: true, ..LinkFaults::default() }, json).await
}

/// `delay [NODE|A-B] MS [JITTER_MS]`: a first word that is not a number is
/// the target.
pub(crate) async fn delay(layout: &Layout, args: &[String], json: bool) -> Outcome {
    let (target, values) = match args[0].parse::<u64>() {
        Ok(_) => (None, args),
        Err(_) => (Some(args[0].clone()), &args[1..]),
    };
    let ms: u64 = values.first().and_then(|v| v.parse().ok()).ok_or_else(|| {
        failure(
            EXIT_USAGE,
            anyhow!("delay needs milliseconds: timectl delay [NODE|A-B] MS [JITTER]"),
        )
    })?;
    let jitter: u64 = match values.get(1) {
        Some(v) => v
            .parse()
            .map_err(|_| failure(EXIT_USAGE, anyhow!("jitter must be milliseconds, got {v:?}")))?,
        None => 0,
    };
    set_faults(
        layout,
        target,
        LinkFaults { delay_ms: ms, jitter_ms: jitter, ..LinkFaults::default() },
        json,
    )
    .await
}

pub(crate) async fn loss(layout: &Layout, pct: f64, target: Option<String>, json: bool) -> Outcome {
    if !(0.0..=100.0).contains(&pct) {
        return Err(failure(
            EXIT_USAGE,
            anyhow!("loss must be a percentage from 0 to 100, got {pct}"),
        ));
    }
    set_faults(layout, target, LinkFaults { loss_pct: pct, ..LinkFaults::default() }, json).await
}

pub(crate) async fn bandwidth(
    layout: &Layout,
    bps: u64,
    target: Option<String>,
    json: bool,
) -> Outcome {
    if bps == 0 {
        return Err(failure(
            EXIT_USAGE,
            anyhow!("bandwidth must be more than 0 bytes per second (use partition to cut a link)"),
        ));
    }
    set_faults(
        layout,
        target,
        LinkFaults { bandwidth_bps: Some(bps), ..LinkFaults::default() },
        json,
    )
    .await
}

/// `faults run FILE`: the schedule checked and listed, then each step as
/// it runs. A failed step is printed and the run goes on (exit 0).
pub(crate) async fn run_schedule(layout: &Layout, file: &Path, seed: u64, json: bool) -> Outcome {
    let schedule = cluster::fault_run::load(layout, file, seed).map_err(|e| match e {
        LoadError::Cluster(e) => Failure::from(anyhow::Error::from(e)),
        e @ LoadError::Read { .. } => failure(EXIT_FAILED, anyhow::Error::from(e)),
        e @ LoadError::Parse { .. } => failure(EXIT_USAGE, anyhow!("{e}")),
    })?;
    render::print_schedule(&schedule.steps, seed);
    cluster::fault_run::run(schedule, &mut |report| render::print_step(report, json)).await;
    Ok(EXIT_OK)
}
