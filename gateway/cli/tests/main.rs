//! The gateway's end-to-end tests: each module starts the real `scangate`
//! binary (or several) on loopback with its own data directory and talks to
//! it over real QUIC, TLS and HTTP, as scanners, operators and browsers do.
//!
//! One test binary, not one per file: every test binary links the whole
//! gateway (~50 MB each in a debug build), and 47 of them outgrew a CI
//! machine's disk. Run one file's tests with
//! `cargo test -p scangate --test end_to_end FILE::`.

mod browser;
mod common;

mod admin_api;
mod card_consent;
mod cli;
mod contract;
mod csv_import;
mod damaged_log;
mod dashboard;
mod dashboard_conflicts;
mod dashboard_zones;
mod disk_faults;
mod durability;
mod dynamic_codes;
mod edge_admission;
mod erase_final;
mod erase_lasts;
mod erasure;
mod event_floor;
mod fraud_flags;
mod gate_actions;
mod guard_page;
mod holder_link_url;
mod holder_page;
mod http_bounds;
mod http_tls;
mod incident_log;
mod least_privilege;
mod metrics;
mod offline_cli;
mod offline_failover;
mod offline_snapshot;
mod offline_upload;
mod one_core;
mod openapi;
mod operator_audit;
mod operator_text;
mod public_listener;
mod restart_gap;
mod retention;
mod retention_per_event;
mod revoked_devices;
mod roles;
mod scan_path;
mod scylla_cluster;
mod security_matrix;
mod transport;
mod wire_bounds;
mod zone_capacity;
