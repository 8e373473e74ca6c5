//! Checks of a configuration against what it names, before the node
//! starts: the genesis it loads, the committee that genesis fixes, and the
//! peer host names it will dial. [`crate::config`] checks the file alone;
//! these need the genesis (and, for names, the resolver), so they run in
//! `timed --check-config` and again at start, where a problem is exit 3.
//!
//! They catch the slips of a configuration for many hosts: a genesis of
//! another network copied to one host, a peer entry left over from another
//! chain, a host name mistyped.

use std::net::ToSocketAddrs;
use std::time::{Duration, Instant};

use protocol::{Genesis, NodeId};

use crate::config::Config;

/// Every disagreement between `config` and `genesis`, one sentence each
/// naming the key: `node.genesis_hash` against the genesis's hash, and the
/// masternode key and each `[[network.peers]]` id against the committee.
pub fn genesis_problems(config: &Config, genesis: &Genesis, key: Option<NodeId>) -> Vec<String> {
    let mut problems = Vec::new();
    let file = config.node.genesis_file.display();
    let hash = genesis.hash();
    if let Some(expected) = config.node.genesis_hash
        && expected != hash
    {
        problems.push(format!(
            "node.genesis_file: {file} has hash {hash}, but node.genesis_hash is {expected} \
             (a genesis of another network? every node of a chain needs the same genesis.json)"
        ));
    }
    let members: Vec<NodeId> = genesis.committee.iter().map(|m| m.id).collect();
    if let Some(id) = key
        && !members.contains(&id)
    {
        problems.push(format!(
            "masternode.key_file: its node id {id} is not in the committee of {file} \
             (a key of another network, or the wrong genesis)"
        ));
    }
    for (i, peer) in config.network.peers.iter().enumerate() {
        if let Some(id) = peer.id
            && !members.contains(&id)
        {
            problems.push(format!(
                "network.peers[{i}].id: {id} ({}) is not in the committee of {file}",
                peer.address
            ));
        }
    }
    problems
}

/// Peer addresses (`[[network.peers]]` and `network.bootstrap_peers`) whose
/// host name does not resolve, each named by its entry. A name that does
/// not resolve at first is tried again until `wait` has passed (peers
/// started together, as pods of one StatefulSet are, may appear in DNS a
/// moment after this node); an address that is an IP is never looked up.
pub fn unresolved_peers(config: &Config, wait: Duration) -> Vec<String> {
    let entries: Vec<(String, &str)> = config
        .network
        .peers
        .iter()
        .enumerate()
        .map(|(i, p)| (format!("network.peers[{i}].address"), p.address.as_str()))
        .chain(
            config
                .network
                .bootstrap_peers
                .iter()
                .enumerate()
                .map(|(i, a)| (format!("network.bootstrap_peers[{i}]"), a.as_str())),
        )
        .collect();
    let deadline = Instant::now() + wait;
    let mut pending: Vec<(String, &str, String)> = Vec::new();
    for (key, address) in entries {
        if let Err(why) = resolve(address) {
            pending.push((key, address, why));
        }
    }
    while !pending.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500).min(deadline - Instant::now()));
        pending.retain_mut(|(_, address, why)| match resolve(address) {
            Ok(()) => false,
            Err(e) => {
                *why = e;
                true
            }
        });
    }
    pending
        .into_iter()
        .map(|(key, address, why)| format!("{key}: {address} does not resolve: {why}"))
        .collect()
}

fn resolve(address: &str) -> Result<(), String> {
    match address.to_socket_addrs() {
        Ok(mut found) => found.next().map(drop).ok_or_else(|| "no address found".into()),
        Err(e) => Err(e.to_string()),
    }
}
