//! The scanners' side of the gateway: accept QUIC connections from devices
//! with a valid certificate, read their scan requests, answer each one.
//! It admits and bounds (connection, handshake, stream, in-flight and rate
//! limits, signature checks before any actor is touched); it never decides a
//! scan itself (the pass actors do) and never answers a grant the store has
//! not made durable.
//!
//! Modules: [`listener`] (what every connection task shares), [`quic`] (the
//! endpoint, streams and framing), [`codes`] (close codes), [`admission`] and
//! [`handshakes`] (who may connect), [`quic_reset`] (stateless resets that
//! survive a restart), [`scan_service`] (one scan at the edge),
//! [`ratelimit`] (per-device rates), [`gate_label`] and [`live`] (the live
//! aggregate the dashboard shows), [`snapshots`] (the signed offline
//! snapshots scanners fetch), [`uploads`] (the offline scans they upload,
//! reconciled and flagged), [`web`] (the guard page's HTTP transport and
//! its enrolled web scanners), [`incidents`] (forged and malformed tokens:
//! the bounded security-incident log and `forgery_burst`).

pub mod admission;
pub mod codes;
pub mod gate_label;
pub mod handshakes;
pub mod incidents;
pub mod listener;
pub mod live;
pub mod quic;
pub mod quic_reset;
pub mod ratelimit;
pub mod scan_service;
pub mod snapshots;
pub mod uploads;
pub mod web;
