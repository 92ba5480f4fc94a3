//! The scangate gateway: the QUIC listener for scanners, the operator HTTP
//! plane, configuration, the data directory and the CLI, wired together.
//!
//! This crate wires; it does not decide. Decisions live in `scangate-core`,
//! ordering in `scangate-actors`, durability in `scangate-storage`. It must
//! never answer a grant before the store says it is durable, never let a
//! client grow memory without a bound, and never log a token or secret in full.
//!
//! Modules: [`cli`] (commands), [`serve`] (wiring and shutdown), [`quic`]
//! (listener, streams, framing), [`admission`] and [`handshakes`] (who may
//! connect), [`quic_reset`] (stateless resets that survive a restart),
//! [`scan_service`] (one scan at the edge),
//! [`http`] and [`api`] (admin API), [`live`], [`gate_label`] and
//! [`dashboard`] (the live dashboard), [`health`] (the store's state and the
//! disk's room, for `/metrics`, `/readyz` and the dashboard), [`prometheus`] (the `/metrics`
//! recorder), [`config`], [`datadir`], [`keys`], [`ratelimit`], [`signals`],
//! [`pass_cmd`] and [`scan_cmd`] (client commands, over [`admin_client`]), [`admin`] (the admin API's
//! routes, roles and handlers), [`tokens`] (admin tokens), [`devices`]
//! (revoked scanners), [`watched`] (data-dir files a running gateway follows),
//! [`journal`] (the operator journal of admin actions), [`terminal`] (stored
//! text made safe to print) and [`audit_cmd`]
//! (`scangate audit`).

// Client-controlled input never reaches a panic: no `panic!`/`expect` outside tests.
#![cfg_attr(not(test), deny(clippy::panic, clippy::expect_used))]

pub mod admin;
pub mod admin_client;
pub mod admission;
pub mod api;
pub mod audit_cmd;
pub mod cli;
pub mod config;
pub mod dashboard;
pub mod datadir;
pub mod devices;
pub mod gate_label;
pub mod handshakes;
pub mod health;
pub mod http;
pub mod journal;
pub mod keys;
pub mod live;
pub mod pass_cmd;
pub mod prometheus;
pub mod quic;
pub mod quic_reset;
pub mod ratelimit;
pub mod scan_cmd;
pub mod scan_service;
pub mod serve;
pub mod signals;
pub mod terminal;
pub mod tokens;
pub mod watched;

/// Unix milliseconds now: the system clock the pass actors read too (one
/// definition, in `scangate_actors::clock`).
pub use scangate_actors::now_ms;

/// `N` bytes from the operating system's random number generator.
///
/// # Panics
/// If the OS has no randomness to give: nothing secure can run then.
#[allow(
    clippy::expect_used,
    reason = "no client input reaches this; without randomness nothing secure can run"
)]
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system's random number generator failed");
    bytes
}
