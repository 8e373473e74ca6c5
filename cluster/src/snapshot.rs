//! `timectl status`'s picture of a cluster, running or not: the agent asked
//! for its nodes and links when it answers, then [`status::collect`] (each
//! node's RPC, and the verdict).

use crate::control::{self, LinkState, Request};
use crate::error::ClusterError;
use crate::health::ClusterView;
use crate::layout::Layout;
use crate::lifecycle;
use crate::status::{self, ClusterStatus};

/// The status of the cluster in `layout`. Only reading its files can fail:
/// without an agent the node states are unknown and no links are listed,
/// and links the agent does not give are taken for none.
pub async fn status(layout: &Layout) -> Result<ClusterStatus, ClusterError> {
    let view = ClusterView::load(layout)?;
    let agent = control::ping(layout).await;
    let links: Vec<LinkState> = match &agent {
        Some(_) => {
            lifecycle::ask(layout, &Request::Links).await.map(|r| r.links).unwrap_or_default()
        }
        None => Vec::new(),
    };
    Ok(status::collect(&view, agent.as_ref().map(|a| a.nodes.as_slice()), &links).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn no_cluster_is_an_error_naming_the_fix() {
        let temp = tempfile::tempdir().expect("temp dir");
        let error = status(&Layout::new(temp.path())).await.expect_err("no cluster");
        assert!(error.to_string().contains("no cluster here"), "{error}");
    }
}
