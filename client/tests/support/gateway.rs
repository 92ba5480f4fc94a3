//! A fake gateway that answers by itself, for the offline tests: real QUIC
//! and mutual TLS on loopback, a real snapshot built with
//! `scangate_core::offline::build` and signed with a `SnapshotSigner`,
//! deltas between its versions, uploads recorded by scan id, scans granted.
//! It can be stopped (its endpoint closed) and started again on the same
//! address.

use bytes::{Bytes, BytesMut};
use quinn::{Endpoint, RecvStream, SendStream};
use scangate_certs::Pki;
use scangate_client::ScanId;
use scangate_core::frame::encode;
use scangate_core::offline::messages::{
    AckStatus, ConflictKind, OfflineAck, OfflineUpload, ScanAck, SnapshotChunk, SnapshotFetch,
};
use scangate_core::offline::{Delta, Snapshot, SnapshotMeta, SnapshotSigner, build};
use scangate_core::pass::{Pass, Status};
use scangate_core::testing::{self, granted_reply};
use scangate_core::token::{Keyring, SigningKey};
use scangate_core::wire::{ALPN, ErrorCode, Request, RequestBody, Response, ResponseBody};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::Mutex as AsyncMutex;

/// The event every fake snapshot is for (the core fixtures' event, so
/// that [`testing::pass`] is a pass of it).
pub const EVENT: &str = testing::EVENT;
/// Longest a restart waits for the old endpoint to let go of the port.
const REBIND_WAIT: Duration = Duration::from_secs(10);

/// The device's clock, as the tests pass it in.
pub fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(since.as_millis()).expect("ms fit i64")
}

/// What the fake holds and counts; tests read and change it.
pub struct GwState {
    pub signer: SnapshotSigner,
    pub ring: Keyring,
    pub passes: Vec<Pass>,
    /// Every version built, oldest first, with its signed bytes.
    pub versions: Vec<(Snapshot, Bytes)>,
    /// How long a snapshot built from now on lasts.
    pub ttl_ms: i64,
    /// Times each scan id was recorded from an upload (a duplicate is not).
    pub recorded: HashMap<ScanId, u32>,
    /// Scan ids of every upload, duplicates included, in order.
    pub uploaded: Vec<ScanId>,
    /// Uploaded scans to refuse with a code, and to flag with a conflict.
    pub refuse: HashMap<ScanId, ErrorCode>,
    pub flag: HashMap<ScanId, ConflictKind>,
    /// Scans answered online.
    pub online_scans: Vec<ScanId>,
    /// Chunks served from deltas and from whole snapshots.
    pub delta_chunks: usize,
    pub whole_chunks: usize,
    /// Delay before each chunk reply (a slow link), and the most chunk
    /// requests seen waiting for their reply at once.
    pub chunk_delay: Option<Duration>,
    pub chunks_waiting: usize,
    pub chunks_waiting_max: usize,
}

impl GwState {
    /// Builds the next version from `passes`, extending the last one.
    pub fn rebuild(&mut self) {
        let previous = self.versions.last().map(|(s, _)| s);
        let version = previous.map_or(1, |s| s.version() + 1);
        let created = now_ms();
        let meta = SnapshotMeta {
            event: EVENT.into(),
            version,
            created_ms: created,
            expires_ms: created + self.ttl_ms,
        };
        let ring = &self.ring;
        let snapshot = build(
            &meta,
            &self.passes,
            |p| vec![ring.sign(p.id, None)],
            previous,
        )
        .expect("the fake's snapshot builds");
        let bytes = Bytes::from(snapshot.to_signed_bytes(&self.signer));
        self.versions.push((snapshot, bytes));
    }

    /// The static token of pass `n`.
    pub fn token(&self, n: usize) -> String {
        self.ring.sign(self.passes[n].id, None)
    }

    /// Revokes pass `n` and builds a new version.
    pub fn revoke(&mut self, n: usize) {
        self.passes[n].status = Status::Revoked;
        self.rebuild();
    }

    /// The newest signed snapshot's bytes.
    pub fn newest_bytes(&self) -> Bytes {
        self.versions.last().expect("a version").1.clone()
    }

    fn chunk(&mut self, fetch: &SnapshotFetch) -> ResponseBody {
        let unavailable = || {
            ResponseBody::Error(scangate_core::wire::WireError::new(
                ErrorCode::SnapshotUnavailable,
                "no such version",
            ))
        };
        let Some((newest, _)) = self.versions.last() else {
            return unavailable();
        };
        let version = fetch.version.unwrap_or(newest.version());
        let Some(at) = self
            .versions
            .iter()
            .position(|(s, _)| s.version() == version)
        else {
            return unavailable();
        };
        if fetch.have_version == Some(version) {
            return ResponseBody::Snapshot(SnapshotChunk {
                event: EVENT.into(),
                version,
                base_version: None,
                total_len: 0,
                offset: 0,
                data: Bytes::new(),
            });
        }
        let (new, whole) = &self.versions[at];
        let base = fetch
            .have_version
            .and_then(|have| self.versions.iter().find(|(s, _)| s.version() == have));
        let delta = base.and_then(|(old, _)| {
            let delta = Delta::between(old, new).ok()?;
            Some((
                old.version(),
                Bytes::from(delta.to_signed_bytes(&self.signer)?),
            ))
        });
        let chunk = match &delta {
            Some((base, blob)) => {
                SnapshotChunk::of(EVENT, version, Some(*base), blob, fetch.offset)
            }
            None => SnapshotChunk::of(EVENT, version, None, whole, fetch.offset),
        };
        match chunk {
            Some(chunk) => {
                match delta {
                    Some(_) => self.delta_chunks += 1,
                    None => self.whole_chunks += 1,
                }
                ResponseBody::Snapshot(chunk)
            }
            None => unavailable(),
        }
    }

    fn upload(&mut self, upload: &OfflineUpload) -> ResponseBody {
        let scans = upload
            .scans
            .iter()
            .map(|scan| {
                self.uploaded.push(scan.scan_id.clone());
                let status = match self.recorded.get_mut(&scan.scan_id) {
                    _ if self.refuse.contains_key(&scan.scan_id) => {
                        AckStatus::Refused(self.refuse[&scan.scan_id])
                    }
                    Some(_) => AckStatus::Duplicate,
                    None => {
                        self.recorded.insert(scan.scan_id.clone(), 1);
                        AckStatus::Recorded
                    }
                };
                ScanAck {
                    scan_id: scan.scan_id.clone(),
                    status,
                    conflicts: self.flag.get(&scan.scan_id).copied().into_iter().collect(),
                }
            })
            .collect();
        ResponseBody::OfflineAck(OfflineAck { scans })
    }
}

/// Pass `n`: a single-use ticket of [`EVENT`], valid now, any gate.
fn pass(n: u32) -> Pass {
    Pass {
        display: Some(format!("Jane Doe {n}")),
        ..testing::pass(testing::pass_id(n), Some(1))
    }
}

/// The fake gateway.
pub struct FakeGateway {
    pub addr: SocketAddr,
    state: Arc<Mutex<GwState>>,
    server: quinn::ServerConfig,
    endpoint: Option<Endpoint>,
}

impl FakeGateway {
    /// Serves `passes` single-use tickets, snapshot version 1, signed with
    /// a key made from `seed`.
    pub fn start(pki: &Pki, passes: u32, seed: u8) -> FakeGateway {
        let ring = Keyring::new(
            &[SigningKey {
                id: 1,
                secret: [9; 32],
            }],
            1,
        )
        .expect("ring");
        let mut state = GwState {
            signer: SnapshotSigner::from_seed([seed; 32]),
            ring,
            passes: (0..passes).map(pass).collect(),
            versions: Vec::new(),
            ttl_ms: scangate_core::offline::SNAPSHOT_TTL_DEFAULT_MS,
            recorded: HashMap::new(),
            uploaded: Vec::new(),
            refuse: HashMap::new(),
            flag: HashMap::new(),
            online_scans: Vec::new(),
            delta_chunks: 0,
            whole_chunks: 0,
            chunk_delay: None,
            chunks_waiting: 0,
            chunks_waiting_max: 0,
        };
        state.rebuild();
        let tls = pki.server_config(ALPN).expect("server tls");
        let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls).expect("quic tls");
        let server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        let endpoint = Endpoint::server(server.clone(), "127.0.0.1:0".parse().expect("addr"))
            .expect("server endpoint");
        let addr = endpoint.local_addr().expect("local addr");
        let state = Arc::new(Mutex::new(state));
        tokio::spawn(accept_loop(endpoint.clone(), Arc::clone(&state)));
        FakeGateway {
            addr,
            state,
            server,
            endpoint: Some(endpoint),
        }
    }

    /// The state, to read or change.
    pub fn state(&self) -> MutexGuard<'_, GwState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stops answering: the endpoint is closed, connections with it.
    pub fn stop(&mut self) {
        if let Some(endpoint) = self.endpoint.take() {
            endpoint.close(0u32.into(), b"fake gateway stopped");
        }
    }

    /// Starts again on the same address, once the old endpoint let go of it.
    pub async fn restart(&mut self) {
        assert!(self.endpoint.is_none(), "stop it first");
        let deadline = tokio::time::Instant::now() + REBIND_WAIT;
        let endpoint = loop {
            match Endpoint::server(self.server.clone(), self.addr) {
                Ok(endpoint) => break endpoint,
                Err(e) if tokio::time::Instant::now() < deadline => {
                    // The old endpoint's driver releases the socket once
                    // its connections are gone: poll for that.
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("cannot rebind {}: {e}", self.addr),
            }
        };
        tokio::spawn(accept_loop(endpoint.clone(), Arc::clone(&self.state)));
        self.endpoint = Some(endpoint);
    }
}

async fn accept_loop(endpoint: Endpoint, state: Arc<Mutex<GwState>>) {
    while let Some(incoming) = endpoint.accept().await {
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let Ok(connection) = incoming.await else {
                return;
            };
            while let Ok((send, recv)) = connection.accept_bi().await {
                tokio::spawn(serve_stream(
                    recv,
                    Arc::new(AsyncMutex::new(send)),
                    Arc::clone(&state),
                ));
            }
        });
    }
}

async fn serve_stream(
    recv: RecvStream,
    send: Arc<AsyncMutex<SendStream>>,
    state: Arc<Mutex<GwState>>,
) {
    super::each_request(recv, |request| {
        tokio::spawn(answer(request, Arc::clone(&send), Arc::clone(&state)));
        std::future::ready(true)
    })
    .await;
}

async fn answer(request: Request, send: Arc<AsyncMutex<SendStream>>, state: Arc<Mutex<GwState>>) {
    let lock = || state.lock().unwrap_or_else(|p| p.into_inner());
    let body = match &request.body {
        RequestBody::Ping => ResponseBody::Pong,
        RequestBody::Scan(scan) => {
            lock().online_scans.push(scan.scan_id.clone());
            ResponseBody::Scan(granted_reply(scan.scan_id.clone()))
        }
        RequestBody::Snapshot(fetch) => {
            let delay = {
                let mut s = lock();
                s.chunks_waiting += 1;
                s.chunks_waiting_max = s.chunks_waiting_max.max(s.chunks_waiting);
                s.chunk_delay
            };
            if let Some(delay) = delay {
                // A slow link, not a synchronisation.
                tokio::time::sleep(delay).await;
            }
            let mut s = lock();
            s.chunks_waiting -= 1;
            s.chunk(fetch)
        }
        RequestBody::OfflineUpload(upload) => lock().upload(upload),
    };
    let mut out = BytesMut::new();
    encode(
        &Response {
            id: request.id,
            body,
        },
        &mut out,
    )
    .expect("a reply fits a frame");
    // The client may be gone (a stopped test): nothing to do then.
    let _ = send.lock().await.write_all(&out).await;
}
