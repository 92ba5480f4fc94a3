//! The scanner SDK's tests against a tiny in-test gateway (`support`):
//! real QUIC and mutual TLS, the offline queue on a real disk, and crash
//! tests that re-run this binary as a child and kill it.
//!
//! One test binary, not one per file (each links the SDK and its TLS
//! stack). Run one file's tests with
//! `cargo test -p scangate-client --test sdk FILE::`.

mod support;

mod failover;
mod mode;
mod offline;
mod offline_crash;
mod queue;
mod queue_crash;
mod reconnect;
mod scanner;
