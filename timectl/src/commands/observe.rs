//! `status` and `logs`: what `cluster::snapshot` and `cluster::logs` read,
//! printed once or refreshed.

use std::io::IsTerminal;
use std::time::Duration;

use cluster::ClusterView;
use cluster::layout::Layout;
use cluster::status::{ClusterStatus, Verdict};

use super::node_index;
use crate::{EXIT_FAILED, EXIT_NOT_READY, EXIT_OK, EXIT_PROBLEMS, Outcome, failure, render};

/// The exit code of `status`: the verdict.
fn verdict_code(status: &ClusterStatus) -> u8 {
    match status.verdict {
        Verdict::Healthy => EXIT_OK,
        Verdict::Degraded => EXIT_NOT_READY,
        Verdict::Stalled => EXIT_PROBLEMS,
    }
}

pub(crate) async fn status(layout: &Layout, watch: bool, json: bool) -> Outcome {
    loop {
        let status = cluster::snapshot::status(layout).await.map_err(anyhow::Error::from)?;
        if json {
            client::outln!(
                "{}",
                serde_json::to_string(&status).map_err(|e| failure(EXIT_FAILED, e.into()))?
            );
        } else {
            // A terminal is redrawn in place; a pipe or file gets each
            // refresh after a blank line, with no escape codes in it.
            if watch && std::io::stdout().is_terminal() {
                client::out!("\x1b[2J\x1b[H");
            } else if watch {
                client::outln!();
            }
            render::print_status(&status);
        }
        if !watch {
            return Ok(verdict_code(&status));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

pub(crate) fn logs(
    layout: &Layout,
    node: Option<String>,
    follow: bool,
    lines: usize,
    json: bool,
) -> Outcome {
    let view = ClusterView::load(layout).map_err(anyhow::Error::from)?;
    let names: Vec<String> = match node {
        Some(name) => {
            node_index(&view, &name)?;
            vec![name]
        }
        None => view.names(),
    };
    let (last, mut follower) = cluster::logs::tail(layout, names, lines);
    for line in &last {
        client::outln!("{}", render::log_line(&line.node, &line.line, json));
    }
    if !follow {
        return Ok(EXIT_OK);
    }
    loop {
        std::thread::sleep(cluster::logs::FOLLOW_INTERVAL);
        for line in follower.poll() {
            client::outln!("{}", render::log_line(&line.node, &line.line, json));
        }
    }
}
