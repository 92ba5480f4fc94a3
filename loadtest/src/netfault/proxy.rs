//! The UDP fault proxy: scanners send to its front socket, it forwards to
//! the gateway from one upstream socket per scanner address (a flow), and
//! back; on the way each datagram meets its [`Fate`] (lost, delayed,
//! reordered, duplicated), the whole path can be cut and healed, and
//! [`Proxy::roam`] moves every flow to a new upstream socket, so the
//! gateway sees each QUIC connection come from a new address.
//!
//! Bounded: at most [`HELD_MAX`] datagrams wait for their release time
//! (more are dropped and counted as `overflow`), at most [`FLOWS_MAX`]
//! scanner addresses (more are dropped and counted), at most
//! [`DOWN_QUEUE`] datagrams between the upstream readers and the core.

use super::fate::{Fate, fate};
use super::spec::Faults;
use serde::Serialize;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Most datagrams held for a later release, both ways together: a run at
/// 20,000 scans/s with 20 ms of delay holds about 1,000 (a datagram per
/// scan each way); 8,192 of at most 64 KiB bound the memory, and a real
/// datagram of ~1,200 bytes makes it about 10 MiB.
pub const HELD_MAX: usize = 8_192;
/// Most scanner addresses: [`crate::devices::DEVICES_MAX`] devices, each
/// one client socket, with room to spare.
pub const FLOWS_MAX: usize = 4_096;
/// Scanner connection ids one flow remembers, so that each connection is
/// counted once however the Initial packets of two attempts interleave (an
/// abandoned attempt's retransmission or close still goes out after the
/// next attempt's first Initial, later on a loaded machine). A scanner
/// begins at most a few connections a second while its path is down (the
/// SDK's reconnect pause), so 256 cover minutes; beyond, the oldest is
/// forgotten, and an id seen again after that counts again.
pub const SCIDS_PER_FLOW_MAX: usize = 256;
/// Largest UDP datagram.
pub const DATAGRAM_MAX: usize = 65_535;
/// Datagrams from the gateway queued for the core (the readers wait when
/// it is full, and the kernel's socket buffer holds the rest).
pub const DOWN_QUEUE: usize = 1_024;

/// What the proxy did, counted (the report's `net_fault.proxy`).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct NetStats {
    /// Datagrams from the scanners.
    pub up: u64,
    /// Datagrams from the gateway.
    pub down: u64,
    /// Dropped as loss.
    pub lost: u64,
    /// Dropped while the path was cut.
    pub partitioned: u64,
    /// Dropped because [`HELD_MAX`] were held.
    pub overflow: u64,
    /// Sent twice.
    pub duplicated: u64,
    /// Held back so that later datagrams overtook them.
    pub reordered: u64,
    /// Flows moved to a new upstream address.
    pub roamed: u64,
    /// Connections the scanners began to open (one per new scanner
    /// connection id in their Initial packets).
    pub connections: u64,
    /// Scanner addresses seen.
    pub flows: u64,
    /// Datagrams of scanner addresses beyond [`FLOWS_MAX`], dropped.
    pub flows_refused: u64,
    /// Sends that failed (the gateway down: its port unreachable).
    pub send_errors: u64,
}

#[derive(Default)]
struct Counters {
    up: AtomicU64,
    down: AtomicU64,
    lost: AtomicU64,
    partitioned: AtomicU64,
    overflow: AtomicU64,
    duplicated: AtomicU64,
    reordered: AtomicU64,
    roamed: AtomicU64,
    connections: AtomicU64,
    flows: AtomicU64,
    flows_refused: AtomicU64,
    send_errors: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    fn snapshot(&self) -> NetStats {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        NetStats {
            up: g(&self.up),
            down: g(&self.down),
            lost: g(&self.lost),
            partitioned: g(&self.partitioned),
            overflow: g(&self.overflow),
            duplicated: g(&self.duplicated),
            reordered: g(&self.reordered),
            roamed: g(&self.roamed),
            connections: g(&self.connections),
            flows: g(&self.flows),
            flows_refused: g(&self.flows_refused),
            send_errors: g(&self.send_errors),
        }
    }
}

/// A running proxy; dropping it stops it.
pub struct Proxy {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
    counters: Arc<Counters>,
    roams: mpsc::Sender<oneshot::Sender<usize>>,
    task: JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// Starts a proxy in front of `upstream` on the same loopback family,
    /// with `faults` decided by a generator seeded with `seed`.
    pub async fn start(upstream: SocketAddr, faults: Faults, seed: u64) -> io::Result<Proxy> {
        let front = Arc::new(UdpSocket::bind(any_port(upstream)).await?);
        let addr = front.local_addr()?;
        let cut = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        let (roams, roam_rx) = mpsc::channel(1);
        let (down_tx, down_rx) = mpsc::channel(DOWN_QUEUE);
        let core = Core {
            front,
            upstream,
            faults,
            rng: fastrand::Rng::with_seed(seed),
            cut: cut.clone(),
            c: counters.clone(),
            flows: HashMap::new(),
            held: BinaryHeap::new(),
            seq: 0,
            down_tx,
        };
        let task = tokio::spawn(core.run(roam_rx, down_rx));
        Ok(Proxy {
            addr,
            cut,
            counters,
            roams,
            task,
        })
    }

    /// Where scanners send to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Cuts the path both ways (`true`: every datagram, held ones
    /// included, is dropped) or heals it.
    pub fn cut(&self, on: bool) {
        self.cut.store(on, Ordering::Release);
    }

    /// Moves every flow to a new upstream socket; returns how many moved
    /// once they have (0 when the proxy stopped).
    pub async fn roam(&self) -> usize {
        let (done, moved) = oneshot::channel();
        if self.roams.send(done).await.is_err() {
            return 0;
        }
        moved.await.unwrap_or(0)
    }

    /// What it did so far.
    pub fn stats(&self) -> NetStats {
        self.counters.snapshot()
    }
}

/// `127.0.0.1:0` or `[::1]:0`, as `upstream` is IPv4 or IPv6.
fn any_port(upstream: SocketAddr) -> SocketAddr {
    match upstream {
        SocketAddr::V4(_) => (Ipv4Addr::LOCALHOST, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::LOCALHOST, 0).into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    /// Scanner to gateway.
    Up,
    /// Gateway to scanner.
    Down,
}

/// A datagram waiting for its release time.
#[derive(Debug, PartialEq, Eq)]
struct Held {
    at: Instant,
    seq: u64,
    dir: Dir,
    client: SocketAddr,
    data: Vec<u8>,
}

// Ordered by release time (then arrival) the other way round: the heap's
// top is the next datagram due.
impl Ord for Held {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// One scanner address: its upstream socket and that socket's reader.
struct Flow {
    socket: Arc<UdpSocket>,
    reader: JoinHandle<()>,
    /// The scanner connection ids counted, oldest first (at most
    /// [`SCIDS_PER_FLOW_MAX`]).
    scids: VecDeque<Vec<u8>>,
}

impl Drop for Flow {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// The proxy's state, owned by its one task.
struct Core {
    front: Arc<UdpSocket>,
    upstream: SocketAddr,
    faults: Faults,
    rng: fastrand::Rng,
    cut: Arc<AtomicBool>,
    c: Arc<Counters>,
    flows: HashMap<SocketAddr, Flow>,
    held: BinaryHeap<Held>,
    seq: u64,
    down_tx: mpsc::Sender<(SocketAddr, Vec<u8>)>,
}

impl Core {
    async fn run(
        mut self,
        mut roams: mpsc::Receiver<oneshot::Sender<usize>>,
        mut down: mpsc::Receiver<(SocketAddr, Vec<u8>)>,
    ) {
        let front = self.front.clone();
        let mut buf = vec![0u8; DATAGRAM_MAX];
        loop {
            let next = self.held.peek().map(|h| h.at);
            let due = next.unwrap_or_else(Instant::now);
            tokio::select! {
                Some(done) = roams.recv() => {
                    let moved = self.roam().await;
                    let _ = done.send(moved);
                }
                got = front.recv_from(&mut buf) => {
                    // An error here is an ICMP echo of an earlier send: the next datagram still comes.
                    if let Ok((n, client)) = got {
                        self.up(client, &buf[..n]).await;
                    }
                }
                Some((client, data)) = down.recv() => {
                    bump(&self.c.down);
                    self.admit(Dir::Down, client, data);
                }
                () = tokio::time::sleep_until(due.into()), if next.is_some() => self.release().await,
            }
        }
    }

    /// A datagram from scanner `client`: its flow (opened on its first
    /// datagram), a new connection counted, then its fate.
    async fn up(&mut self, client: SocketAddr, data: &[u8]) {
        bump(&self.c.up);
        if !self.flows.contains_key(&client) {
            if self.flows.len() >= FLOWS_MAX {
                bump(&self.c.flows_refused);
                return;
            }
            match self.open(client).await {
                Ok(flow) => {
                    bump(&self.c.flows);
                    self.flows.insert(client, flow);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the fault proxy cannot open an upstream socket");
                    bump(&self.c.send_errors);
                    return;
                }
            }
        }
        if let (Some(scid), Some(flow)) = (initial_scid(data), self.flows.get_mut(&client))
            && first_sight(&mut flow.scids, scid)
        {
            bump(&self.c.connections);
        }
        self.admit(Dir::Up, client, data.to_vec());
    }

    /// A new upstream socket for `client`, connected to the gateway, and
    /// its reader.
    async fn open(&self, client: SocketAddr) -> io::Result<Flow> {
        let socket = Arc::new(UdpSocket::bind(any_port(self.upstream)).await?);
        socket.connect(self.upstream).await?;
        let reader = tokio::spawn(read_flow(socket.clone(), client, self.down_tx.clone()));
        Ok(Flow {
            socket,
            reader,
            scids: VecDeque::new(),
        })
    }

    /// Moves every flow to a new upstream socket (the old one closed: what
    /// the gateway sends there is lost, as after a real move).
    async fn roam(&mut self) -> usize {
        let clients: Vec<SocketAddr> = self.flows.keys().copied().collect();
        let mut moved = 0;
        for client in clients {
            match self.open(client).await {
                Ok(mut flow) => {
                    if let Some(old) = self.flows.get_mut(&client) {
                        flow.scids = std::mem::take(&mut old.scids);
                    }
                    self.flows.insert(client, flow);
                    moved += 1;
                }
                Err(e) => tracing::warn!(error = %e, "the fault proxy cannot move a flow"),
            }
        }
        self.c.roamed.fetch_add(moved as u64, Ordering::Relaxed);
        moved
    }

    /// Decides the datagram's fate and holds it (and its duplicate) until
    /// its release time.
    fn admit(&mut self, dir: Dir, client: SocketAddr, data: Vec<u8>) {
        if self.cut.load(Ordering::Acquire) {
            bump(&self.c.partitioned);
            return;
        }
        let (delay, duplicate) = match fate(&self.faults, &mut self.rng) {
            Fate::Lost => {
                bump(&self.c.lost);
                return;
            }
            Fate::Sent {
                delay,
                duplicate,
                reordered,
            } => {
                if reordered {
                    bump(&self.c.reordered);
                }
                (delay, duplicate)
            }
        };
        let now = Instant::now();
        if let Some(d) = duplicate {
            bump(&self.c.duplicated);
            self.hold(now + d, dir, client, data.clone());
        }
        self.hold(now + delay, dir, client, data);
    }

    fn hold(&mut self, at: Instant, dir: Dir, client: SocketAddr, data: Vec<u8>) {
        if self.held.len() >= HELD_MAX {
            bump(&self.c.overflow);
            return;
        }
        self.seq += 1;
        let seq = self.seq;
        self.held.push(Held {
            at,
            seq,
            dir,
            client,
            data,
        });
    }

    /// Sends every datagram whose time has come (dropped while cut).
    async fn release(&mut self) {
        let now = Instant::now();
        while self.held.peek().is_some_and(|h| h.at <= now) {
            let Some(h) = self.held.pop() else { break };
            if self.cut.load(Ordering::Acquire) {
                bump(&self.c.partitioned);
                continue;
            }
            let sent = match h.dir {
                Dir::Up => match self.flows.get(&h.client) {
                    Some(flow) => flow.socket.send(&h.data).await.map(drop),
                    None => Ok(()),
                },
                Dir::Down => self.front.send_to(&h.data, h.client).await.map(drop),
            };
            if sent.is_err() {
                bump(&self.c.send_errors);
            }
        }
    }
}

/// Forwards what the gateway sends to `socket` to the core, as for `client`.
async fn read_flow(
    socket: Arc<UdpSocket>,
    client: SocketAddr,
    core: mpsc::Sender<(SocketAddr, Vec<u8>)>,
) {
    let mut buf = vec![0u8; DATAGRAM_MAX];
    loop {
        match socket.recv(&mut buf).await {
            Ok(n) => {
                if core.send((client, buf[..n].to_vec())).await.is_err() {
                    return;
                }
            }
            // The gateway's port unreachable (it is down): it may come back.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
            Err(_) => return,
        }
    }
}

/// Whether `scid` is new to `seen` (then remembered, the oldest forgotten
/// beyond [`SCIDS_PER_FLOW_MAX`]).
fn first_sight(seen: &mut VecDeque<Vec<u8>>, scid: &[u8]) -> bool {
    if seen.iter().any(|s| s == scid) {
        return false;
    }
    if seen.len() >= SCIDS_PER_FLOW_MAX {
        seen.pop_front();
    }
    seen.push_back(scid.to_vec());
    true
}

/// The source connection id of a QUIC v1 Initial packet, if `data`
/// begins with one: the scanner's own id for that connection, the same in
/// every Initial of one connection attempt (retransmissions, the Initial
/// after the gateway's Retry), a new one for each new attempt.
fn initial_scid(data: &[u8]) -> Option<&[u8]> {
    let first = *data.first()?;
    // Long header, fixed bit, packet type 0 (Initial); version 1.
    if first & 0xF0 != 0xC0 || data.get(1..5)? != [0, 0, 0, 1] {
        return None;
    }
    let scid_at = 6 + usize::from(*data.get(5)?);
    let scid_len = usize::from(*data.get(scid_at)?);
    data.get(scid_at + 1..scid_at + 1 + scid_len)
}

#[cfg(test)]
#[path = "proxy_tests.rs"]
mod tests;
