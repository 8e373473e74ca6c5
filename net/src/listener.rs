//! The accept loop: bans and connection limits are checked at accept, before
//! any handshake work, then each connection gets its own task.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tracing::Instrument;

use crate::connection::{self, Direction};
use crate::endpoint::Endpoint;
use crate::locks::lock;
use crate::stats::Counters;
use crate::wire::WireMessage;

/// Pause after a failed accept (out of file descriptors, say), so the loop
/// does not spin while the condition lasts.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// Accepts connections until shutdown.
pub(crate) async fn accept_loop<M: WireMessage>(endpoint: Arc<Endpoint<M>>, listener: TcpListener) {
    loop {
        let accepted = tokio::select! {
            _ = endpoint.shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, addr) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::select! {
                    _ = endpoint.shutdown.cancelled() => break,
                    _ = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => continue,
                }
            }
        };
        let ip = addr.ip().to_canonical();
        if lock(&endpoint.bans).ip_banned(&ip, Instant::now()) {
            Counters::bump(&endpoint.counters.connections_rejected_banned);
            tracing::debug!(peer = %addr, "connection from a banned IP refused");
            continue;
        }
        let limits = &endpoint.limits;
        let Some(slot) = endpoint.slots.try_inbound(ip, limits.max_connections, limits.max_per_ip)
        else {
            Counters::bump(&endpoint.counters.connections_rejected);
            tracing::warn!(
                peer = %addr,
                open = endpoint.slots.open(),
                max_connections = limits.max_connections,
                max_per_ip = limits.max_per_ip,
                "connection refused: connection limit reached"
            );
            continue;
        };
        Counters::bump(&endpoint.counters.connections_accepted);
        let task =
            connection::run(Arc::clone(&endpoint), stream, addr, Direction::Inbound, None, slot);
        endpoint.spawn(
            async move {
                // The outcome matters to dialers only; the connection logged it.
                let _outcome = task.await;
            }
            .in_current_span(),
        );
    }
    tracing::debug!("listener stopped");
}
