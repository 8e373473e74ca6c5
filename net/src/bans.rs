//! Misbehaviour scores and the bans they lead to.
//!
//! Each offence adds points to the connection's score; points decay with
//! time, so an honest peer that once overran a limit is forgiven, while a
//! flood crosses `ban_score_threshold` within milliseconds. At the threshold
//! the peer is disconnected and its id (and its IP unless it is loopback,
//! see `ban_loopback_ips`) is banned for `ban_duration`. Bans expire.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use protocol::NodeId;

/// Points forgiven per second.
const DECAY_PER_SEC: f64 = 1.0;

/// An offence and its price in points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offence {
    /// A message beyond the rate limits.
    RateLimited,
    /// A response to no pending request.
    UnsolicitedResponse,
    /// A consensus message from a peer that is not a masternode.
    ConsensusFromNonMember,
    /// An undecodable frame, or a handshake message after the handshake.
    Malformed,
    /// A frame longer than the limit (the connection is closed anyway).
    Oversized,
    /// A message the application found hostile (a bad signature, an
    /// impossible range): as costly as a malformed frame.
    Application,
}

impl Offence {
    /// What the offence costs.
    pub(crate) fn points(self) -> f64 {
        match self {
            Offence::RateLimited => 1.0,
            Offence::UnsolicitedResponse => 2.0,
            Offence::ConsensusFromNonMember => 10.0,
            Offence::Malformed | Offence::Application => 20.0,
            Offence::Oversized => 50.0,
        }
    }
}

/// One connection's score.
#[derive(Debug, Clone)]
pub(crate) struct Score {
    points: f64,
    updated: Instant,
}

impl Score {
    /// Zero points.
    pub(crate) fn new(now: Instant) -> Self {
        Score { points: 0.0, updated: now }
    }

    /// Adds the offence's points (after decay) and returns the new score.
    pub(crate) fn add(&mut self, offence: Offence, now: Instant) -> f64 {
        self.decay(now);
        self.points += offence.points();
        self.points
    }

    /// The current score, decayed to `now`.
    pub(crate) fn current(&mut self, now: Instant) -> f64 {
        self.decay(now);
        self.points
    }

    /// Forgives points per *whole* second elapsed, so offences in quick
    /// succession add up exactly (five malformed frames are 100 points, not
    /// 99.99).
    fn decay(&mut self, now: Instant) {
        let whole_secs = now.saturating_duration_since(self.updated).as_secs();
        if whole_secs > 0 {
            self.points = (self.points - whole_secs as f64 * DECAY_PER_SEC).max(0.0);
            self.updated += Duration::from_secs(whole_secs);
        }
    }
}

/// Banned ids and IPs with their expiry.
#[derive(Debug, Default)]
pub(crate) struct BanList {
    ids: HashMap<NodeId, Instant>,
    ips: HashMap<IpAddr, Instant>,
    /// IPs whose observers are banned (loopback too: members from there
    /// still get in, by their keys).
    observer_ips: HashMap<IpAddr, Instant>,
    /// Observers' scores by IP: an observer's key costs nothing, so a fresh
    /// key per connection must not reset its score.
    observer_scores: HashMap<IpAddr, Score>,
}

/// Most IPs whose observer scores are kept (the oldest-forgiven go first).
const MAX_OBSERVER_SCORES: usize = 4_096;

impl BanList {
    /// Bans `id` (and `ip` when given) until `now + duration`.
    pub(crate) fn ban(&mut self, id: NodeId, ip: Option<IpAddr>, now: Instant, duration: Duration) {
        let until = now + duration;
        self.ids.insert(id, until);
        if let Some(ip) = ip {
            self.ips.insert(ip, until);
        }
    }

    /// Whether `id` is banned at `now`; the expiry when it is.
    pub(crate) fn id_banned_until(&mut self, id: &NodeId, now: Instant) -> Option<Instant> {
        self.ids.retain(|_, until| *until > now);
        self.ids.get(id).copied()
    }

    /// Charges an observer's offence to its IP; returns the IP's score.
    pub(crate) fn observer_offend(&mut self, ip: IpAddr, offence: Offence, now: Instant) -> f64 {
        if self.observer_scores.len() >= MAX_OBSERVER_SCORES
            && !self.observer_scores.contains_key(&ip)
        {
            self.observer_scores.retain(|_, score| score.current(now) > 0.0);
            if self.observer_scores.len() >= MAX_OBSERVER_SCORES {
                return Score::new(now).add(offence, now);
            }
        }
        self.observer_scores.entry(ip).or_insert_with(|| Score::new(now)).add(offence, now)
    }

    /// Bans observers from `ip` until `now + duration`.
    pub(crate) fn ban_observers(&mut self, ip: IpAddr, now: Instant, duration: Duration) {
        self.observer_ips.insert(ip, now + duration);
    }

    /// Whether observers from `ip` are banned at `now`.
    pub(crate) fn observers_banned(&mut self, ip: &IpAddr, now: Instant) -> bool {
        self.observer_ips.retain(|_, until| *until > now);
        self.observer_ips.contains_key(ip)
    }

    /// Whether `ip` is banned at `now`.
    pub(crate) fn ip_banned(&mut self, ip: &IpAddr, now: Instant) -> bool {
        self.ips.retain(|_, until| *until > now);
        self.ips.contains_key(ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_decays_with_time() {
        let start = Instant::now();
        let mut score = Score::new(start);
        assert_eq!(score.add(Offence::Malformed, start), 20.0);
        assert_eq!(score.add(Offence::RateLimited, start), 21.0);
        assert_eq!(score.current(start + Duration::from_millis(900)), 21.0);
        assert_eq!(score.current(start + Duration::from_millis(5500)), 16.0);
        assert_eq!(score.current(start + Duration::from_secs(100)), 0.0);
    }

    #[test]
    fn bans_expire() {
        let start = Instant::now();
        let mut bans = BanList::default();
        let id = NodeId([1; 32]);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        bans.ban(id, Some(ip), start, Duration::from_secs(10));
        assert!(bans.id_banned_until(&id, start + Duration::from_secs(9)).is_some());
        assert!(bans.ip_banned(&ip, start + Duration::from_secs(9)));
        assert!(bans.id_banned_until(&NodeId([2; 32]), start).is_none());
        assert!(bans.id_banned_until(&id, start + Duration::from_secs(10)).is_none());
        assert!(!bans.ip_banned(&ip, start + Duration::from_secs(11)));
    }
}
