//! Checks that involve more than one key, run after reading and again by
//! [`Config::validate`] (after flags override a value).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use protocol::NodeId;

use super::{Config, Problem, RpcAuthMode};

impl Config {
    /// Every cross-key problem, each naming the key it is about (the reader
    /// places it at that key's line).
    pub(super) fn cross_key_problems(&self) -> Vec<Problem> {
        let mut problems = self.peer_problems();
        if self.rpc.auth == RpcAuthMode::None && !self.rpc.listen_address.ip().is_loopback() {
            problems.push(Problem::about(
                "rpc.auth",
                format!(
                    "rpc.auth = none is only allowed on a loopback address; use cookie or token \
                     (rpc.listen_address is {})",
                    self.rpc.listen_address
                ),
            ));
        }
        let limits = &self.network.limits;
        if limits.ping_interval >= limits.idle_timeout {
            problems.push(Problem::about(
                "network.limits.ping_interval_ms",
                format!(
                    "network.limits.ping_interval_ms: expected less than \
                     network.limits.idle_timeout_ms ({}), got {}",
                    limits.idle_timeout.as_millis(),
                    limits.ping_interval.as_millis()
                ),
            ));
        }
        // The network layer has the last word on its limits; the per-key
        // ranges above should make this unreachable.
        if problems.is_empty()
            && let Err(err) = self.net_limits().validate()
        {
            problems.push(Problem::general(format!("[network.limits]: {err}")));
        }
        problems
    }

    /// Peers listed twice (same address or same id, in `network.peers` or
    /// `network.bootstrap_peers`), or at this node's own listen address: a
    /// config for many hosts with a copy-paste slip, named by its entry.
    fn peer_problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let own = self.network.listen_address;
        let mut addresses: BTreeMap<String, String> = BTreeMap::new();
        let mut ids: BTreeMap<NodeId, String> = BTreeMap::new();
        let entries = self
            .network
            .peers
            .iter()
            .enumerate()
            .map(|(i, p)| {
                (
                    format!("network.peers[{i}]"),
                    format!("network.peers[{i}].address"),
                    &p.address,
                    p.id,
                )
            })
            .chain(self.network.bootstrap_peers.iter().enumerate().map(|(i, a)| {
                let key = format!("network.bootstrap_peers[{i}]");
                (key.clone(), key, a, None)
            }));
        for (entry, key, address, id) in entries {
            if address.parse::<SocketAddr>().is_ok_and(|a| a == own) {
                problems.push(Problem::about(
                    &key,
                    format!("{key}: {address} is this node's own network.listen_address"),
                ));
            }
            match addresses.get(address.as_str()) {
                Some(first) => problems.push(Problem::about(
                    &key,
                    format!("{key}: {address} is also the address of {first} (each peer once)"),
                )),
                None => {
                    addresses.insert(address.clone(), entry.clone());
                }
            }
            if let Some(id) = id {
                match ids.get(&id) {
                    Some(first) => problems.push(Problem::about(
                        &format!("{entry}.id"),
                        format!("{entry}.id: {id} is also the id of {first} (each peer once)"),
                    )),
                    None => {
                        ids.insert(id, entry);
                    }
                }
            }
        }
        problems
    }
}
