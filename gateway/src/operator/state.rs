//! What every operator HTTP handler shares: [`AppState`] (the store, the
//! actors, the keys, the admin tokens, ...) and [`Who`] (the caller the
//! route's permission check found). The routers (`http.rs`,
//! `admin/router.rs`) and the handlers import this; it imports neither.

use crate::datadir::DataDir;
use crate::edge::live::Live;
use crate::health::HealthProbe;
use crate::operator::devices::Revocations;
use crate::operator::throttle::Throttle;
use crate::operator::tokens::{Caller, TokenBook};
use metrics_exporter_prometheus::PrometheusHandle;
use scangate_actors::Registry;
use scangate_core::token::Keyring;
use scangate_storage::Store;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Per-pass actors (admin changes are ordered with scans through them).
    pub registry: Registry,
    /// The store, for issue and lists.
    pub store: Arc<dyn Store>,
    /// Signs tokens for issued passes. Shared, not copied: a keyring holds a
    /// keyed MAC for each of its 256 key ids (~40 KiB), and the router's
    /// every route holds a copy of this state.
    pub keyring: Arc<Keyring>,
    /// The admin API tokens (bootstrap plus `admin-tokens.json`).
    pub tokens: Arc<TokenBook>,
    /// Revoked scanner devices.
    pub devices: Arc<Revocations>,
    /// The data directory (PKI listing, revoked devices).
    pub data: DataDir,
    /// True once scans are accepted; false again while draining.
    pub ready: Arc<AtomicBool>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// The live dashboard's aggregate (issued capacity per event).
    pub live: Arc<Live>,
    /// The store's state and the data dir's room.
    pub health: Arc<HealthProbe>,
    /// Admin API calls per token name ([`crate::config::HttpLimits::admin_rate`]).
    pub admin_calls: Arc<Throttle<String>>,
    /// Forged and malformed tokens the edge refused (bounded, in memory).
    pub incidents: Arc<crate::edge::incidents::Incidents>,
    /// The dashboard's fraud flags panel (fed by the scan path).
    pub flags: Arc<crate::operator::dashboard::flags::FlagBoard>,
    /// Event definitions as the scan path reads them (a PUT replaces one).
    pub definitions: Arc<crate::definitions::DefinitionCache>,
}

/// The caller, as the route's permission check (`authorize` in
/// `admin/router.rs`) left it.
pub type Who = axum::Extension<Caller>;
