//! Test fixtures shared by the crates that test against the domain (this
//! crate's protocol tests, the actors' tests, the storage conformance suite).
//!
//! Compiled only for this crate's tests and with the `test-support` feature,
//! which other crates turn on from their dev-dependencies (or, for
//! `scangate-storage`, from its `conformance` feature): never part of a
//! release build.

use crate::pass::{Kind, Pass, PassId, Status};

/// The event of a [`pass`] fixture.
pub const EVENT: &str = "fest";

/// What a [`pass`] fixture lets a scanner show on a grant.
pub const DISPLAY: &str = "Ada, row 4";

/// An active, static ticket of [`EVENT`] with id `id`, at most `max_uses`
/// grants (`None`: unlimited), no use yet, no validity window, every gate,
/// showing [`DISPLAY`], issued at Unix time 0.
///
/// A test that needs another field sets it on the result (struct update
/// syntax: `Pass { event: "other".into(), ..pass(id, None) }`).
pub fn pass(id: PassId, max_uses: Option<u32>) -> Pass {
    Pass {
        id,
        event: EVENT.into(),
        kind: Kind::Ticket,
        status: Status::Active,
        status_reason: None,
        valid_from_ms: None,
        valid_until_ms: None,
        max_uses,
        uses: 0,
        gates: Vec::new(),
        display: Some(DISPLAY.into()),
        created_ms: 0,
        dynamic_ttl_s: None,
        status_since_ms: None,
    }
}
