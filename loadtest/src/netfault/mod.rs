//! Faults on the wire (`--net-fault SPEC`, issue 28): the scanners reach
//! the gateway through a UDP proxy in this process that loses, delays,
//! reorders and duplicates datagrams, cuts the path for a while and heals
//! it, and moves the scanners to a new source address mid-connection
//! (roaming; the gateway allows QUIC migration, so the same connection
//! carries on). This VM's kernel has no `netem`, and the proxy needs no
//! privileges: any machine runs it.
//!
//! - [`spec`]: the SPEC, parsed and bounded.
//! - [`fate`]: one datagram's fate, a pure function of a seeded generator.
//! - [`proxy`]: the proxy itself, bounded (datagrams held, flows).
//! - [`scenario`]: the partition and the roams at their times during a run.
//! - [`figures`]: what the report says and what must hold: the scans
//!   answered again within [`figures::RECOVERY_SLACK`] of a scan's
//!   deadline after the path heals (the checker judges the counts).

pub mod fate;
pub mod figures;
pub mod proxy;
pub mod scenario;
pub mod spec;

pub use figures::NetFaultFigures;
pub use proxy::{NetStats, Proxy};
pub use scenario::{NetLog, carry_out};
pub use spec::{Faults, NetFault};
