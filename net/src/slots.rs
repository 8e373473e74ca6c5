//! Connection slots: how many connections are open, in total and per IP, so
//! the listener can refuse new ones at accept, before any handshake work.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use crate::locks::lock;

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// The open connections of one endpoint.
#[derive(Debug, Default)]
pub(crate) struct Slots {
    counts: Mutex<Counts>,
}

/// One open connection; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct SlotGuard {
    slots: Arc<Slots>,
    /// The IP it counts against (inbound connections only).
    ip: Option<IpAddr>,
}

impl Slots {
    /// A slot for an inbound connection from `ip`, unless that would exceed
    /// `max_total` or `max_per_ip`.
    pub(crate) fn try_inbound(
        self: &Arc<Self>,
        ip: IpAddr,
        max_total: usize,
        max_per_ip: usize,
    ) -> Option<SlotGuard> {
        let mut counts = lock(&self.counts);
        let from_ip = counts.per_ip.get(&ip).copied().unwrap_or(0);
        if counts.total >= max_total || from_ip >= max_per_ip {
            return None;
        }
        counts.total += 1;
        *counts.per_ip.entry(ip).or_insert(0) += 1;
        Some(SlotGuard { slots: Arc::clone(self), ip: Some(ip) })
    }

    /// A slot for a connection we dialled: always granted (we chose to dial)
    /// and counted in the total, so the inbound limit sees it, but not per
    /// IP: through a local cluster's proxies every peer is 127.0.0.1.
    pub(crate) fn outbound(self: &Arc<Self>) -> SlotGuard {
        lock(&self.counts).total += 1;
        SlotGuard { slots: Arc::clone(self), ip: None }
    }

    /// Open connections, handshaking ones included.
    pub(crate) fn open(&self) -> usize {
        lock(&self.counts).total
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        let mut counts = lock(&self.slots.counts);
        counts.total = counts.total.saturating_sub(1);
        if let Some(ip) = self.ip
            && let Some(n) = counts.per_ip.get_mut(&ip)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.per_ip.remove(&ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_total_and_per_ip_and_frees_on_drop() {
        let slots = Arc::new(Slots::default());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let first = slots.try_inbound(a, 3, 2).unwrap();
        let _second = slots.try_inbound(a, 3, 2).unwrap();
        assert!(slots.try_inbound(a, 3, 2).is_none(), "per ip");
        let _third = slots.try_inbound(b, 3, 2).unwrap();
        assert!(slots.try_inbound(b, 3, 2).is_none(), "total");
        drop(first);
        assert_eq!(slots.open(), 2);
        assert!(slots.try_inbound(a, 3, 2).is_some());
        let _out = slots.outbound();
        assert!(slots.try_inbound(b, 3, 2).is_none(), "outbound counts in the total");
    }
}
