//! The nodes of a run, as every task reaches them: one client per node,
//! replaced when a restarted node publishes a new RPC address in its
//! `node.json` (nodes bind port 0, so a restart moves them). A watcher
//! re-reads the files while the run lasts; the event-stream followers
//! notice the new generation and resubscribe.

use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use client::{ClientOptions, RpcClient};

use crate::target::Node;

struct Slot {
    client: RpcClient,
    url: String,
    generation: u64,
}

/// The nodes, shared by the sender, the tracker, the streams, the health
/// sampler and the safety checks.
pub struct NodeSet {
    names: Vec<String>,
    data_dirs: Vec<Option<PathBuf>>,
    slots: Vec<RwLock<Slot>>,
    /// Submissions in flight to each node, at most [`MAX_SUBMITS_PER_NODE`].
    submits: Vec<Arc<Semaphore>>,
    options: ClientOptions,
}

/// Most `sendrawtransaction` calls in flight to one node. Each holds a
/// connection; beyond the node's `rpc.max_connections` (256 by default) they
/// would only queue in its listen backlog while costing this process file
/// descriptors. A send waiting here still counts its latency from its
/// intended time, as every wait does.
pub const MAX_SUBMITS_PER_NODE: usize = 192;

impl std::fmt::Debug for NodeSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeSet").field("names", &self.names).finish_non_exhaustive()
    }
}

impl NodeSet {
    /// The nodes of a resolved target.
    pub fn new(nodes: &[Node], options: ClientOptions) -> Arc<NodeSet> {
        Arc::new(NodeSet {
            names: nodes.iter().map(|n| n.name.clone()).collect(),
            data_dirs: nodes.iter().map(|n| n.data_dir.clone()).collect(),
            slots: nodes
                .iter()
                .map(|n| {
                    RwLock::new(Slot {
                        client: n.client.clone(),
                        url: n.url.clone(),
                        generation: 0,
                    })
                })
                .collect(),
            submits: nodes.iter().map(|_| Arc::new(Semaphore::new(MAX_SUBMITS_PER_NODE))).collect(),
            options,
        })
    }

    /// Waits for room to submit to node `i` (`None` for a node not in the set).
    pub async fn submit_slot(&self, i: usize) -> Option<OwnedSemaphorePermit> {
        self.submits.get(i)?.clone().acquire_owned().await.ok()
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True with no nodes.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Node names, by index.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Node `i`'s name.
    pub fn name(&self, i: usize) -> &str {
        self.names.get(i).map_or("?", String::as_str)
    }

    /// Node `i`'s current client (a cheap clone sharing its connection pool).
    pub fn client(&self, i: usize) -> Option<RpcClient> {
        self.slots.get(i).map(|s| s.read().unwrap_or_else(PoisonError::into_inner).client.clone())
    }

    /// Node `i`'s client and how many times it moved.
    pub fn client_and_generation(&self, i: usize) -> Option<(RpcClient, u64)> {
        self.slots.get(i).map(|s| {
            let slot = s.read().unwrap_or_else(PoisonError::into_inner);
            (slot.client.clone(), slot.generation)
        })
    }

    /// How many times node `i` moved.
    pub fn generation(&self, i: usize) -> u64 {
        self.slots.get(i).map_or(0, |s| s.read().unwrap_or_else(PoisonError::into_inner).generation)
    }

    /// Re-reads every node's `node.json`; returns the nodes that moved, with
    /// their new URL.
    pub fn refresh(&self) -> Vec<(usize, String)> {
        let mut moved = Vec::new();
        for (i, dir) in self.data_dirs.iter().enumerate() {
            let Some(dir) = dir else { continue };
            let Ok(info) = client::rpc::read_node_info(dir) else { continue };
            let current = self.slots[i].read().unwrap_or_else(PoisonError::into_inner).url.clone();
            if info.rpc_url == current {
                continue;
            }
            let Ok(client) = RpcClient::from_data_dir_with(dir, self.options) else { continue };
            let mut slot = self.slots[i].write().unwrap_or_else(PoisonError::into_inner);
            slot.client = client;
            slot.url = info.rpc_url.clone();
            slot.generation += 1;
            moved.push((i, info.rpc_url));
        }
        moved
    }

    /// Re-reads the nodes' files twice a second until `shutdown`, calling
    /// `on_move` for each node that moved.
    pub async fn watch(
        self: Arc<Self>,
        shutdown: CancellationToken,
        on_move: impl Fn(usize, String) + Send,
    ) {
        if self.data_dirs.iter().all(Option::is_none) {
            return;
        }
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            for (i, url) in self.refresh() {
                on_move(i, url);
            }
        }
    }
}
