//! Peers, masternodes, consensus and the process: `getpeerinfo`,
//! `getnetworkinfo`, `masternodelist`, `masternodestatus`, `getconsensusinfo`,
//! `uptime`, `stop`.

use std::time::Duration;

use serde_json::{Value, json};

use protocol::rpc::{
    ConsensusInfo, HeightRounds, MasternodeEntry, MasternodeStatus, NetworkInfo, PeerInfo,
    VotesSeen,
};

use super::{stopped, to_value, version_string};
use crate::node::Query;
use crate::rpc::Shared;
use crate::rpc::dispatch::{Fault, Params};

pub(super) async fn getpeerinfo(shared: &Shared, params: &Params) -> Result<Value, Fault> {
    let node = &shared.node;
    params.at_most(0, &[])?;
    let committee = node.committee();
    let peers: Vec<PeerInfo> = node
        .net()
        .peers()
        .into_iter()
        .map(|p| PeerInfo {
            id: p.id,
            addr: p.addr.to_string(),
            inbound: p.inbound,
            role: match p.role {
                net::Role::Masternode => "masternode".into(),
                net::Role::Observer => "observer".into(),
            },
            committee_member: committee.contains(&p.id),
            connected_seconds: p.connected_since.elapsed().map_or(0, |d| d.as_secs()),
            rtt_ms: p.rtt.map(|d| d.as_secs_f64() * 1000.0),
            msgs_in: p.msgs_in,
            msgs_out: p.msgs_out,
            bytes_in: p.bytes_in,
            bytes_out: p.bytes_out,
            dropped: p.dropped,
            score: u64::from(p.score),
        })
        .collect();
    to_value(&peers)
}

pub(super) async fn getnetworkinfo(shared: &Shared, params: &Params) -> Result<Value, Fault> {
    let node = &shared.node;
    params.at_most(0, &[])?;
    let committee = node.committee();
    let peers = node.net().peers();
    to_value(&NetworkInfo {
        version: version_string(),
        protocol_version: protocol::PROTOCOL_VERSION,
        node_id: node.node_id(),
        p2p_address: shared.p2p_address.to_string(),
        connections: peers.len(),
        committee_connections: peers.iter().filter(|p| committee.contains(&p.id)).count(),
        network: node.genesis().network,
    })
}

pub(super) async fn masternodelist(shared: &Shared, params: &Params) -> Result<Value, Fault> {
    let node = &shared.node;
    params.at_most(0, &[])?;
    let info = node.query(Query::Info).await.map_err(stopped)?;
    let committee = node.committee();
    let connected: Vec<_> = node.net().peers().into_iter().map(|p| p.id).collect();
    let list: Vec<MasternodeEntry> = committee
        .members()
        .iter()
        .map(|m| MasternodeEntry {
            id: m.id,
            tier: m.tier,
            voting_weight: m.voting_weight,
            reward_address: m.reward_address.to_address(node.genesis().network),
            p2p_address: m.p2p_address.clone(),
            is_self: m.id == node.node_id(),
            connected: m.id == node.node_id() || connected.contains(&m.id),
            votes_seen: info.votes_seen.iter().find(|(id, _)| *id == m.id).map_or(0, |(_, s)| *s),
        })
        .collect();
    to_value(&list)
}

pub(super) async fn masternodestatus(shared: &Shared, params: &Params) -> Result<Value, Fault> {
    let node = &shared.node;
    params.at_most(0, &[])?;
    let info = node.query(Query::Info).await.map_err(stopped)?;
    let committee = node.committee();
    let me = committee.index_of(&node.node_id()).and_then(|i| committee.member(i));
    let connected = node.net().peers().iter().filter(|p| committee.contains(&p.id)).count();
    to_value(&MasternodeStatus {
        id: node.node_id(),
        is_masternode: node.is_masternode(),
        tier: me.map(|m| m.tier),
        voting_weight: me.map_or(0, |m| m.voting_weight),
        own_vote_seq: info
            .votes_seen
            .iter()
            .find(|(id, _)| *id == node.node_id())
            .map_or(0, |(_, s)| *s),
        connected_members: connected,
        committee_size: committee.len(),
        quorum: committee.quorum(),
        total_weight: committee.total_weight(),
    })
}

pub(super) async fn getconsensusinfo(shared: &Shared, params: &Params) -> Result<Value, Fault> {
    let node = &shared.node;
    params.at_most(0, &[])?;
    let info = node.query(Query::Info).await.map_err(stopped)?;
    let committee = node.committee();
    to_value(&ConsensusInfo {
        height: info.height,
        tip: info.tip,
        current_height: info.current_height,
        round: info.round,
        step: info.step.to_string(),
        proposer: info.proposer,
        recent_rounds: info
            .recent_rounds
            .iter()
            .map(|(h, r)| HeightRounds { height: *h, round: *r })
            .collect(),
        view_changes: info.view_changes,
        votes_seen: info
            .votes_seen
            .iter()
            .map(|(id, seq)| VotesSeen { id: *id, seq: *seq })
            .collect(),
        syncing: info.syncing,
        equivocations: info.equivocations,
        quorum: committee.quorum(),
        total_weight: committee.total_weight(),
        final_count: info.final_count,
        last_final_ms: info.last_final_at,
    })
}

pub(super) async fn uptime(shared: &Shared, params: &Params) -> Result<Value, Fault> {
    let node = &shared.node;
    params.at_most(0, &[])?;
    Ok(json!(node.uptime().as_secs()))
}

pub(super) async fn stop(shared: &Shared, params: &Params) -> Result<Value, Fault> {
    let node = &shared.node;
    params.at_most(0, &[])?;
    let handle = node.clone();
    // Answer first, then stop.
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        handle.shutdown();
    });
    Ok(json!("timed stopping"))
}
