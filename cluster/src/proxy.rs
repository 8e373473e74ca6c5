//! One TCP proxy per directed link between masternodes, so links can be
//! cut, delayed, made lossy or throttled without root or Docker.
//!
//! Node A dials node B at the proxy `A→B`; the proxy connects to B's current
//! P2P address (read from B's `node.json` at each connection, so B may
//! restart on another port) and pumps bytes both ways, applying the link's
//! faults:
//!
//! - **cut**: existing connections are closed and new ones refused;
//! - **delay** (+ jitter): every chunk is released that much later, in order;
//! - **loss**: TCP does not lose bytes, it retransmits them; a chunk hit by
//!   loss (with the given probability) is held for a retransmission timeout
//!   (200 ms), which is how loss looks to the application;
//! - **bandwidth**: chunks are paced to the given bytes per second.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::RngExt;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::debug;

/// The retransmission timeout a lost chunk waits.
pub const RETRANSMIT_MS: u64 = 200;

/// Faults on one directed link.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LinkFaults {
    /// No traffic at all.
    pub cut: bool,
    /// Added one-way delay.
    pub delay_ms: u64,
    /// Up to this much more, uniformly at random.
    pub jitter_ms: u64,
    /// Probability (0 to 100) that a chunk waits a retransmission timeout.
    pub loss_pct: f64,
    /// Bytes per second, if throttled.
    pub bandwidth_bps: Option<u64>,
}

impl LinkFaults {
    /// True when nothing is applied.
    pub fn is_clear(&self) -> bool {
        *self == LinkFaults::default()
    }
}

/// `clear`, or what is applied: `cut, delay 50ms jitter 10ms, loss 5%`.
impl std::fmt::Display for LinkFaults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_clear() {
            return f.write_str("clear");
        }
        let mut parts = Vec::new();
        if self.cut {
            parts.push("cut".to_string());
        }
        if self.delay_ms > 0 || self.jitter_ms > 0 {
            parts.push(format!("delay {}ms jitter {}ms", self.delay_ms, self.jitter_ms));
        }
        if self.loss_pct > 0.0 {
            parts.push(format!("loss {}%", self.loss_pct));
        }
        if let Some(bps) = self.bandwidth_bps {
            parts.push(format!("bandwidth {bps} B/s"));
        }
        f.write_str(&parts.join(", "))
    }
}

/// Finds the current address of a link's target (None when it is down).
pub type Resolver = Arc<dyn Fn() -> Option<SocketAddr> + Send + Sync>;

/// Counters of one link.
#[derive(Debug, Default)]
pub struct LinkStats {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Bytes forwarded (both directions).
    pub bytes: AtomicU64,
}

/// A running link proxy.
#[derive(Clone)]
pub struct LinkProxy {
    /// Dialling node.
    pub from: String,
    /// Node dialled.
    pub to: String,
    /// Where `from` dials.
    pub listen: SocketAddr,
    faults: watch::Sender<LinkFaults>,
    stats: Arc<LinkStats>,
}

impl std::fmt::Debug for LinkProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkProxy")
            .field("from", &self.from)
            .field("to", &self.to)
            .field("listen", &self.listen)
            .field("faults", &*self.faults.borrow())
            .finish()
    }
}

impl LinkProxy {
    /// Binds `listen` (port 0 picks one) and serves until `shutdown`.
    pub async fn start(
        from: &str,
        to: &str,
        listen: SocketAddr,
        resolve: Resolver,
        tracker: &TaskTracker,
        shutdown: CancellationToken,
    ) -> std::io::Result<LinkProxy> {
        let listener = TcpListener::bind(listen).await?;
        let listen = listener.local_addr()?;
        let (faults, _) = watch::channel(LinkFaults::default());
        let stats = Arc::new(LinkStats::default());
        let proxy = LinkProxy { from: from.to_string(), to: to.to_string(), listen, faults, stats };
        let accept = proxy.clone();
        let connections = tracker.clone();
        tracker.spawn(async move {
            loop {
                let (inbound, _) = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    accepted = listener.accept() => match accepted {
                        Ok(pair) => pair,
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            continue;
                        }
                    },
                };
                if accept.faults.borrow().cut {
                    continue; // dropped: the dialler sees a closed connection
                }
                let Some(target) = resolve() else { continue };
                accept.stats.connections.fetch_add(1, Ordering::Relaxed);
                let link = accept.clone();
                let token = shutdown.clone();
                connections.spawn(async move {
                    let Ok(outbound) = TcpStream::connect(target).await else { return };
                    let _ = inbound.set_nodelay(true);
                    let _ = outbound.set_nodelay(true);
                    link.pump(inbound, outbound, token).await;
                });
            }
        });
        Ok(proxy)
    }

    /// Sets the link's faults (a cut closes open connections at once).
    pub fn set_faults(&self, faults: LinkFaults) {
        self.faults.send_replace(faults);
    }

    /// The link's faults now.
    pub fn faults(&self) -> LinkFaults {
        self.faults.borrow().clone()
    }

    /// Connections and bytes so far.
    pub fn stats(&self) -> (u64, u64) {
        (self.stats.connections.load(Ordering::Relaxed), self.stats.bytes.load(Ordering::Relaxed))
    }

    async fn pump(&self, inbound: TcpStream, outbound: TcpStream, shutdown: CancellationToken) {
        let (in_read, in_write) = inbound.into_split();
        let (out_read, out_write) = outbound.into_split();
        let stop = shutdown.child_token();
        let forward = self.direction(in_read, out_write, stop.clone());
        let backward = self.direction(out_read, in_write, stop.clone());
        tokio::join!(forward, backward);
        debug!(from = %self.from, to = %self.to, "proxied connection closed");
    }

    /// One direction: a reader task tags chunks with release times, a writer
    /// releases them in order; either side ending (or a cut) ends both.
    async fn direction(
        &self,
        mut reader: tokio::net::tcp::OwnedReadHalf,
        mut writer: tokio::net::tcp::OwnedWriteHalf,
        stop: CancellationToken,
    ) {
        let (chunk_sender, mut chunk_inbox) = mpsc::channel::<(Instant, Vec<u8>)>(256);
        let mut faults = self.faults.subscribe();
        let stats = self.stats.clone();
        let reading = {
            let stop = stop.clone();
            async move {
                let mut buf = vec![0u8; 16 * 1024];
                let mut last_release = Instant::now();
                loop {
                    let read = tokio::select! {
                        _ = stop.cancelled() => return,
                        changed = faults.changed() => {
                            if changed.is_err() || faults.borrow().cut {
                                // A cut drops what is in flight, too.
                                stop.cancel();
                                return;
                            }
                            continue;
                        }
                        read = reader.read(&mut buf) => read,
                    };
                    let n = match read {
                        // End of stream: the writer drains what is queued.
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    let now = Instant::now();
                    let f = faults.borrow().clone();
                    if f.cut {
                        stop.cancel();
                        return;
                    }
                    let mut wait = f.delay_ms;
                    if f.jitter_ms > 0 {
                        wait += rand::rng().random_range(0..=f.jitter_ms);
                    }
                    if f.loss_pct > 0.0
                        && rand::rng().random_bool((f.loss_pct / 100.0).clamp(0.0, 1.0))
                    {
                        wait += RETRANSMIT_MS;
                    }
                    let mut release = now + Duration::from_millis(wait);
                    if let Some(bps) = f.bandwidth_bps.filter(|b| *b > 0) {
                        let transmit = Duration::from_secs_f64(n as f64 / bps as f64);
                        release = release.max(last_release + transmit);
                    }
                    // TCP keeps order: never release before the previous chunk.
                    release = release.max(last_release);
                    last_release = release;
                    stats.bytes.fetch_add(n as u64, Ordering::Relaxed);
                    if chunk_sender.send((release, buf[..n].to_vec())).await.is_err() {
                        return;
                    }
                }
            }
        };
        let writing = async move {
            loop {
                let next = tokio::select! {
                    _ = stop.cancelled() => None,
                    next = chunk_inbox.recv() => next,
                };
                let Some((release, chunk)) = next else { break };
                tokio::select! {
                    _ = stop.cancelled() => break,
                    () = tokio::time::sleep_until(release) => {}
                }
                if writer.write_all(&chunk).await.is_err() {
                    break;
                }
            }
            let _ = writer.shutdown().await;
            // Either direction ending ends the connection.
            stop.cancel();
        };
        tokio::join!(reading, writing);
    }
}
