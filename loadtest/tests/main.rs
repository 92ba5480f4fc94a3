//! The load tool's end-to-end tests: `scangate-load` run as a child
//! process against a real gateway (`--spawn` or one started here), with its
//! checker, network faults, floods and kills.
//!
//! One test binary, not one per file. Run one file's tests with
//! `cargo test -p scangate-load --test load FILE::`.

mod common;

mod admin;
mod connect_flood;
mod crash_loop;
mod floor;
mod net_faults;
mod outage;
mod smoke;
