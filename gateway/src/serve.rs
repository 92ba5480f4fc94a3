//! `scangate serve`: wires the store, the actors, the QUIC listener and the
//! HTTP plane together, and shuts them down in order.

use crate::config::{HttpLimits, ServeConfig};
use crate::datadir::{DataDir, Endpoints};
use crate::edge::codes;
use crate::edge::incidents::Incidents;
use crate::edge::listener::Listener;
use crate::edge::live::Live;
use crate::edge::quic;
use crate::edge::ratelimit::Limiter;
use crate::edge::scan_service::ScanService;
use crate::edge::snapshots::Snapshots;
use crate::edge::uploads::Uploads;
use crate::edge::web::{self, WebEdge};
use crate::health::HealthProbe;
use crate::operator::dashboard;
use crate::operator::dashboard::flags::FlagBoard;
use crate::operator::devices::Revocations;
use crate::operator::holder;
use crate::operator::http;
use crate::operator::journal::Journal;
use crate::operator::scanner_page;
use crate::operator::state::AppState;
use crate::operator::throttle::Throttle;
use crate::operator::tokens::TokenBook;
use anyhow::{Context, Result};
use scangate_actors::Registry;
use scangate_core::token::Keyring;
use scangate_storage::Store;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

mod open;

/// Longest wait at shutdown for the incident log's last lines to be
/// synced: one small write and `fdatasync`, well inside a second unless the
/// disk is failing, and then the drain must not hang on it.
const INCIDENTS_FLUSH: Duration = Duration::from_secs(2);

/// Runs the gateway until `shutdown` is cancelled (or SIGTERM / Ctrl-C),
/// then drains and returns.
pub async fn serve(config: ServeConfig, shutdown: CancellationToken) -> Result<()> {
    tokio::spawn(crate::signals::cancel_on_signal(shutdown.clone()));
    crate::signals::fail_writes_past_file_size_limit();
    let running = start(config, shutdown).await?;
    for path in &running.created {
        println!("created {}", path.display());
    }
    let data = &running.data;
    println!(
        "scangate ready: scanners on quic://{} , operators on {}://{} (data dir {})",
        running.endpoints.quic,
        if running.http_tls { "https" } else { "http" },
        running.endpoints.http,
        data.root().display()
    );
    if let Some(public) = running.endpoints.public {
        println!("phones (holder pages, guard page) on https://{public}");
    }
    println!("admin token in {}", data.admin_token().display());
    println!(
        "offline snapshots signed by key {} (public, in {})",
        running.snapshot_key,
        data.offline_public_key().display()
    );
    running.stopped().await?;
    println!("scangate stopped");
    Ok(())
}

/// A gateway that accepts scans; [`Running::stopped`] drains it once its
/// shutdown token is cancelled.
pub struct Running {
    /// Where it listens.
    pub endpoints: Endpoints,
    /// What this start created in the data directory (paths, never secrets).
    pub created: Vec<std::path::PathBuf>,
    /// The public key of the offline snapshots, 64 hex digits (also in
    /// `offline-signing-key.pub`): what devices pin.
    pub snapshot_key: String,
    /// Whether the HTTP plane speaks TLS (`--http-tls`).
    pub http_tls: bool,
    shutdown: CancellationToken,
    drain: Duration,
    ready: Arc<AtomicBool>,
    quic_task: tokio::task::JoinHandle<()>,
    tracker: TaskTracker,
    endpoint: quinn::Endpoint,
    registry: Registry,
    store: Arc<dyn Store>,
    incidents: Arc<Incidents>,
    operator: OperatorPlane,
    data: DataDir,
}

/// Opens the store, binds both listeners and starts accepting. Returns once
/// scans are accepted (`/readyz` answers 200).
pub async fn start(config: ServeConfig, shutdown: CancellationToken) -> Result<Running> {
    size_http(&config)?;
    let data = DataDir::new(&config.data_dir);
    let created = data.prepare(&config.gateway_names)?;
    tracing::info!(?config, "effective configuration");
    let (keyring, tokens, revoked_devices) = load_access(&data, &shutdown)?;
    let metrics = crate::operator::prometheus::install()?;

    let (store, cache, definitions, registry) = open::open_passes(&config, &data).await?;
    let (endpoint, http_listener) = bind(&config, &data).await?;
    let public_listener = web::public::bind(config.public.as_ref()).await?;

    let tracker = TaskTracker::new();
    let ready = Arc::new(AtomicBool::new(false));
    let health = Arc::new(HealthProbe::new(store.clone(), data.root().to_owned()));
    let incidents = Arc::new(Incidents::open(data.incident_log())?);
    open::keep_up(&config, &store, &definitions, &incidents, &shutdown);
    let state = AppState {
        registry,
        store: store.clone(),
        keyring: Arc::new(keyring),
        tokens,
        devices: revoked_devices,
        data: data.clone(),
        ready: ready.clone(),
        metrics,
        live: Live::with_health(crate::now_ms(), health.clone()),
        health,
        admin_calls: Arc::new(Throttle::new(
            config.http.admin_rate,
            crate::config::ADMIN_RATE_KEYS_MAX,
        )),
        incidents: incidents.clone(),
        flags: Arc::new(FlagBoard::default()),
        definitions,
    };
    let listener = scan_listener(&state, &config, &shutdown, &tracker)?;
    let quic_task = tokio::spawn(listener.clone().run(endpoint.clone()));
    let plane = Plane::new(&config, &data, &listener, &state.devices)?;
    let endpoints = endpoints(&config, &endpoint, &http_listener, public_listener.as_ref())?;
    let registry = state.registry.clone();
    let operator = spawn_operator((http_listener, public_listener), state, plane, &config.http);
    data.write_endpoints(&endpoints)?;
    ready.store(true, Ordering::Release);
    open::warm_up(cache, &shutdown);
    Ok(Running {
        endpoints,
        created,
        snapshot_key: crate::snapshot_key::public_hex(&listener.snapshots.verifier()),
        http_tls: config.http_tls,
        shutdown,
        drain: Duration::from_millis(config.drain_timeout_ms),
        ready,
        quic_task,
        tracker,
        endpoint,
        registry,
        store,
        incidents,
        operator,
        data,
    })
}

/// The HTTP plane's TLS identity with `--http-tls`: the gateway's own
/// certificate.
fn http_tls(config: &ServeConfig, data: &DataDir) -> Result<Option<Arc<rustls::ServerConfig>>> {
    if !config.http_tls {
        return Ok(None);
    }
    let pki = scangate_certs::Pki::open(&data.pki());
    Ok(Some(http::tls::server_config(&pki)?))
}

/// Checks both HTTP listeners' limits, and makes room in the open-file
/// limit for both connection caps.
fn size_http(config: &ServeConfig) -> Result<()> {
    http::listener::check(&config.http)?;
    let public_connections = config
        .public
        .as_ref()
        .map_or(0, |p| p.limits.max_connections);
    http::listener::make_room_for(config.http.max_connections + public_connections);
    Ok(())
}

impl Plane {
    /// The web transport over the QUIC listener's scan service, and the
    /// TLS identities (and the public listener's bounds) `config` asks for.
    fn new(
        config: &ServeConfig,
        data: &DataDir,
        listener: &Listener,
        revoked: &Arc<Revocations>,
    ) -> Result<Plane> {
        let web = Arc::new(WebEdge::new(
            listener.service.clone(),
            revoked.clone(),
            data.clone(),
            config.rate.clone(),
            config.quic.max_in_flight_per_connection,
            listener.shutdown.clone(),
        ));
        Ok(Plane {
            web,
            tls: http_tls(config, data)?,
            public: web::public::identity(config.public.as_ref(), data)?,
        })
    }
}

/// What the HTTP plane serves besides the operators' routes: the web
/// scanners' transport, and its TLS identity with `--http-tls`; with
/// `--public-listen`, the public listener's TLS identity and bounds.
struct Plane {
    web: Arc<WebEdge>,
    tls: Option<Arc<rustls::ServerConfig>>,
    public: Option<(Arc<rustls::ServerConfig>, HttpLimits)>,
}

/// The operators' side: the HTTP plane (admin API, probes, the dashboard
/// and its feed, the holder pages, the guard page and its scan transport)
/// on the first listener, and the phones' routes alone on the public one
/// (when there is one), until [`OperatorPlane::stop`], which also ends the
/// feed and with it every dashboard stream. Both serve the same phone
/// routers, so a holder address's rate is one budget whichever listener it
/// comes through.
fn spawn_operator(
    (listener, public): (tokio::net::TcpListener, Option<tokio::net::TcpListener>),
    state: AppState,
    plane: Plane,
    limits: &HttpLimits,
) -> OperatorPlane {
    let stop = &CancellationToken::new();
    let live = state.live.clone();
    let feeds = dashboard::Feeds {
        snapshot: live.publish(stop.clone()),
        conflicts: dashboard::conflicts::publish(state.store.clone(), stop.clone()),
        flags: state.flags.clone(),
        occupancy: dashboard::occupancy::ZoneBoard {
            definitions: state.definitions.clone(),
            occupancy: state.registry.occupancy().clone(),
        },
    };
    let holder = holder::router(
        state.clone(),
        limits.holder_rate,
        limits.holder_addresses_max,
    );
    let phones = holder
        .merge(scanner_page::router())
        .merge(web::router(plane.web));
    let app = http::router(state)
        .merge(dashboard::router(live, feeds))
        .merge(phones.clone());
    let public_task = match (public, plane.public) {
        (Some(listener), Some((tls, public_limits))) => Some(tokio::spawn(http::listener::serve(
            listener,
            web::public::router(phones),
            public_limits,
            Some(tls),
            stop.clone(),
        ))),
        _ => None,
    };
    let operator_task = tokio::spawn(http::listener::serve(
        listener,
        app,
        limits.clone(),
        plane.tls,
        stop.clone(),
    ));
    OperatorPlane {
        task: operator_task,
        public_task,
        stop: stop.clone(),
    }
}

/// The running HTTP plane: its accept loops, and what stops them.
struct OperatorPlane {
    /// The operator listener's accept loop.
    task: tokio::task::JoinHandle<()>,
    /// The public listener's accept loop, with `--public-listen`.
    public_task: Option<tokio::task::JoinHandle<()>>,
    /// Cancelled to stop both (and the dashboard's feed with them).
    stop: CancellationToken,
}

/// Who may do what, as the data directory says: the token signing keys,
/// the admin tokens, and the revoked scanner devices (followed for changes
/// until `shutdown`).
fn load_access(
    data: &DataDir,
    shutdown: &CancellationToken,
) -> Result<(Keyring, Arc<TokenBook>, Arc<Revocations>)> {
    let keyring = crate::keys::load(&data.signing_keys())?;
    let tokens = Arc::new(TokenBook::new(
        &data.read_admin_token()?,
        data.admin_tokens(),
    ));
    let revoked = Arc::new(Revocations::new(data.revoked_devices())?);
    tokio::spawn(revoked.clone().follow(shutdown.clone()));
    Ok((keyring, tokens, revoked))
}

/// The QUIC listener's side: the scan service over the pass actors, the
/// offline snapshots and uploads, the per-device rate limit and bounds.
fn scan_listener(
    state: &AppState,
    config: &ServeConfig,
    shutdown: &CancellationToken,
    tracker: &TaskTracker,
) -> Result<Arc<Listener>> {
    let burst = &config.registry.flag_policy.thresholds;
    let service = ScanService::new(
        (*state.keyring).clone(),
        state.registry.clone(),
        state.live.clone(),
    )
    .with_incidents(state.incidents.clone(), burst.forgery_burst_per_minute)
    .with_flag_board(state.flags.clone());
    // The edge's reconciler of uploaded offline scans: through the pass
    // actors, each conflict journaled in the operator journal.
    let uploads = Uploads::new(
        state.keyring.clone(),
        state.registry.clone(),
        state.store.clone(),
        config.registry.store_timeout(),
        Journal::new(state.data.operator_journal()),
    );
    Ok(Arc::new(Listener {
        service: Arc::new(service),
        snapshots: offline_snapshots(state, config)?,
        uploads: Arc::new(uploads),
        limiter: Limiter::new(config.rate.clone()),
        limits: config.quic.clone(),
        shutdown: shutdown.clone(),
        tracker: tracker.clone(),
        revoked: state.devices.clone(),
    }))
}

/// The offline snapshots of the store's passes, signed with the data
/// directory's offline key; its public half is (re)written beside it for
/// operators and devices.
fn offline_snapshots(state: &AppState, config: &ServeConfig) -> Result<Arc<Snapshots>> {
    let data = &state.data;
    let signer = crate::snapshot_key::load(&data.offline_signing_key())?;
    crate::snapshot_key::write_public(&data.offline_public_key(), &signer.verifier())?;
    Ok(Arc::new(Snapshots::new(
        signer,
        state.keyring.clone(),
        state.store.clone(),
        config.snapshots.clone(),
    )))
}

/// Both listeners on their configured addresses: the QUIC endpoint
/// (serving the gateway's certificate from the data dir's PKI, keyed with
/// its reset key), then the operator plane's TCP socket.
async fn bind(
    config: &ServeConfig,
    data: &DataDir,
) -> Result<(quinn::Endpoint, tokio::net::TcpListener)> {
    let pki = scangate_certs::Pki::open(&data.pki());
    let tls = pki.server_config(scangate_core::wire::ALPN)?;
    let endpoint = quic::endpoint(
        config.quic_addr,
        quic::server_config(tls, &config.quic)?,
        &config.quic,
        &data.read_reset_key()?,
    )
    .with_context(|| format!("cannot listen for QUIC on {}", config.quic_addr))?;
    let http = tokio::net::TcpListener::bind(config.http_addr)
        .await
        .with_context(|| format!("cannot listen for HTTP on {}", config.http_addr))?;
    Ok((endpoint, http))
}

impl Running {
    /// Waits for the shutdown token, then stops in order: stop accepting,
    /// answer every scan in flight (up to the drain deadline), close the
    /// connections, stop the actors, flush the store, stop HTTP.
    pub async fn stopped(self) -> Result<()> {
        self.shutdown.cancelled().await;
        self.ready.store(false, Ordering::Release);
        tracing::info!("shutting down: answering in-flight scans");
        let _ = self.quic_task.await;
        self.tracker.close();
        if tokio::time::timeout(self.drain, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(drain = ?self.drain, "drain deadline passed with scans still in flight");
        }
        self.endpoint.close(codes::SHUTTING_DOWN, b"shutting down");
        self.registry.shutdown().await;
        if !self.incidents.flush(INCIDENTS_FLUSH).await {
            tracing::warn!("the last security incidents may not be on disk");
        }
        self.store.close().await.context("cannot flush the store")?;
        self.operator.stop.cancel();
        let _ = self.operator.task.await;
        if let Some(public) = self.operator.public_task {
            let _ = public.await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), self.endpoint.wait_idle()).await;
        self.data.clear_endpoints();
        Ok(())
    }
}

/// Where the bound listeners answer, as a client on this host dials them.
fn endpoints(
    config: &ServeConfig,
    quic: &quinn::Endpoint,
    http: &tokio::net::TcpListener,
    public: Option<&tokio::net::TcpListener>,
) -> Result<Endpoints> {
    Ok(Endpoints {
        quic: connectable(quic.local_addr()?),
        http: connectable(http.local_addr()?),
        pid: std::process::id(),
        http_tls: config.http_tls,
        public: public.map(|l| l.local_addr()).transpose()?.map(connectable),
    })
}

/// An address a client on this host can dial: the unspecified address
/// (`0.0.0.0`, `::`) becomes loopback.
fn connectable(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        let ip = if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        };
        SocketAddr::new(ip, addr.port())
    } else {
        addr
    }
}
