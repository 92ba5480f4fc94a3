//! scangate-load: proves, before an event, that a scangate gateway takes the
//! gate-opening burst and never grants a pass beyond its limit.
//!
//! It sends scans **open loop**: each scan has a due time from a load
//! profile (`constant`, or `gate-opening`: a ramp to a peak and back with
//! short bursts), is sent at that time whatever the earlier ones are doing,
//! and its latency is measured from that due time, so queueing cannot hide
//! (no coordinated omission). D simulated scanners, each with its own device
//! certificate and QUIC connection, stand at G gates and pipeline up to a
//! depth of scans. The mix covers first scans, rescans, forged tokens,
//! unknown passes, revoked (before and during the run) and expired passes,
//! and retries with the same scan id. Afterwards a **Jepsen-style checker**
//! reads every touched pass back through the admin API and checks the
//! history against it (see [`checker`]).
//!
//! It must never: load a gateway that is not on this host (loopback only);
//! run without bounds (scans, time, backlog, devices, depth are all capped by
//! named constants); let a scan without an answer pass as "not counted" (it
//! is `info`, outcome unknown); or print a token.
//!
//! Modules:
//! - [`cli`]: arguments and their validation into a [`cli::Plan`].
//! - [`run`]: one whole run, from target to report.
//! - [`target`]: the gateway started as a child process (`--spawn`) or a running one.
//! - [`ports`]: the spawned gateway's port, outside the kernel's ephemeral range.
//! - [`setup`]: the passes (bulk issue, revoke, or a file).
//! - [`devices`]: scanner devices, their certificates and connections.
//! - [`profile`]: rate curves and the open-loop [`profile::Schedule`].
//! - [`mix`] and [`picker`]: what each scan is.
//! - [`driver`]: the open loop itself.
//! - [`outage`]: the gateway stopped mid-run (`--outage`), offline figures.
//! - [`crash_loop`]: the gateway killed and restarted N times (`--crash-loop`).
//! - [`netfault`]: faults on the wire through a UDP proxy (`--net-fault`).
//! - [`connect_flood`]: N QUIC connection attempts (`--connect-flood`).
//! - [`floor`]: the event floor (`--floor`): its definition, zoned passes
//!   and the picks of entries and exits.
//! - [`stats`]: HDR histograms, counts, the per-second series.
//! - [`history`]: what the run did and what the gateway stored.
//! - [`observe`]: reading the gateway's side back.
//! - [`checker`]: the pure correctness check.
//! - [`report`] and [`svg`]: human, JSON and chart output.
//! - [`admin`]: the admin API client.
//! - [`clock`]: the run's time scale.
//! - [`error`]: the one error type, [`LoadError`].

pub mod admin;
pub mod checker;
pub mod cli;
pub mod clock;
pub mod connect_flood;
pub mod crash_loop;
pub mod devices;
pub mod driver;
pub mod error;
pub mod floor;
pub mod history;
pub mod mix;
pub mod netfault;
pub mod observe;
pub mod outage;
pub mod picker;
pub mod ports;
pub mod profile;
pub mod report;
pub mod run;
pub mod setup;
pub mod stats;
pub mod svg;
pub mod target;

pub use error::LoadError;
pub use run::run;
