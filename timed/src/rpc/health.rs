//! `GET /health` (the node is alive: its driver answers) and `GET /ready`
//! (it can do its job: caught up, and connected to enough committee weight
//! to reach a quorum with its own), for service managers, container health
//! checks and Kubernetes probes. Neither needs credentials: they say no
//! more than a peer learns from a handshake, and a probe cannot carry a
//! cookie. Both answer JSON; 200 when true, 503 with the reasons when not.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::Shared;
use crate::node::Query;

/// How long the driver may take to answer before the node counts as
/// unresponsive (a cycle under full load takes milliseconds).
const ANSWER_WITHIN: Duration = Duration::from_secs(2);

/// The body of `/health`.
#[derive(Debug, Serialize)]
struct Health {
    alive: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    height: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// The body of `/ready`.
#[derive(Debug, Serialize)]
struct Ready {
    ready: bool,
    height: Option<u64>,
    syncing: Option<bool>,
    /// Committee weight of the connected peers plus the node's own.
    connected_weight: u64,
    quorum: u64,
    /// Why not ready (empty when ready).
    reasons: Vec<String>,
}

fn json<T: Serialize>(ok: bool, body: &T) -> Response {
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(body)).into_response()
}

/// The driver's consensus summary, or why there is none.
async fn info(shared: &Shared) -> Result<consensus::ConsensusInfo, String> {
    match tokio::time::timeout(ANSWER_WITHIN, shared.node.query(Query::Info)).await {
        Ok(Ok(info)) => Ok(info),
        Ok(Err(_)) => Err("the node is stopping".into()),
        Err(_) => Err(format!("the node did not answer within {} s", ANSWER_WITHIN.as_secs())),
    }
}

pub(super) async fn health(State(shared): State<Arc<Shared>>) -> Response {
    match info(&shared).await {
        Ok(info) => json(true, &Health { alive: true, height: Some(info.height), reason: None }),
        Err(reason) => json(false, &Health { alive: false, height: None, reason: Some(reason) }),
    }
}

pub(super) async fn ready(State(shared): State<Arc<Shared>>) -> Response {
    let committee = shared.node.committee();
    let peers = shared.node.net().peers();
    let own = committee.index_of(&shared.node.node_id());
    let connected = peers.iter().filter_map(|p| committee.index_of(&p.id));
    let connected_weight = committee.weight_of(connected.chain(own));
    let quorum = committee.quorum();
    let mut reasons = Vec::new();
    let (height, syncing) = match info(&shared).await {
        Ok(info) => {
            if info.syncing {
                reasons.push(format!("catching up (at height {})", info.height));
            }
            (Some(info.height), Some(info.syncing))
        }
        Err(reason) => {
            reasons.push(reason);
            (None, None)
        }
    };
    if connected_weight < quorum {
        reasons.push(format!(
            "connected to committee weight {connected_weight} (own included), below the quorum {quorum}"
        ));
    }
    let ready = reasons.is_empty();
    json(ready, &Ready { ready, height, syncing, connected_weight, quorum, reasons })
}
