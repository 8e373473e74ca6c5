//! Each subcommand: its arguments checked, the `cluster` library asked, the
//! result handed to [`render`](crate::render), and an exit code.

pub(crate) mod chain;
pub(crate) mod faults;
pub(crate) mod files;
pub(crate) mod lifecycle;
pub(crate) mod observe;

use anyhow::anyhow;
use cluster::ClusterView;
use cluster::control::{Request, Response};
use cluster::layout::Layout;
use cluster::lifecycle::AskError;

use crate::{EXIT_FAILED, EXIT_USAGE, Failure, failure};

/// Sends `request` to the cluster's agent; a refusal is a failure.
async fn ask(layout: &Layout, request: Request) -> Result<Response, Failure> {
    cluster::lifecycle::ask(layout, &request).await.map_err(ask_failure)
}

/// A failed request to the agent: 1 for a refusal, else as its cause says.
pub(crate) fn ask_failure(error: AskError) -> Failure {
    match error {
        AskError::Refused(reason) => failure(EXIT_FAILED, anyhow!(reason)),
        AskError::Cluster(e) => Failure::from(anyhow::Error::from(e)),
    }
}

/// The index of node `name` in `view`; a name the cluster lacks is a bad
/// argument.
fn node_index(view: &ClusterView, name: &str) -> Result<usize, Failure> {
    view.names().iter().position(|n| n == name).ok_or_else(|| {
        failure(
            EXIT_USAGE,
            anyhow!("no node named {name:?} (this cluster has {})", view.names().join(", ")),
        )
    })
}
