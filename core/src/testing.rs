//! Test fixtures shared by the crates that test against the domain (this
//! crate's protocol tests, the actors' tests, the storage conformance suite).
//!
//! Compiled only for this crate's tests and with the `test-support` feature,
//! which other crates turn on from their dev-dependencies (or, for
//! `scangate-storage`, from its `conformance` feature): never part of a
//! release build.

use crate::decision::Decision;
use crate::pass::{Kind, Pass, PassId, Status};
use crate::protocol::OfflineFact;
use crate::scan::{ScanId, ScanRecord};
use crate::token::{Keyring, SECRET_BYTES, SigningKey};
use crate::wire::ScanReply;

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
        token_generation: 0,
        card: None,
        zones: Vec::new(),
        presence: crate::pass::Presence::Outside,
    }
}

/// Pass id number `n`: `n` big-endian in the first four bytes, `0x5a` in
/// the rest, so that a test's passes differ and sort by `n`.
pub fn pass_id(n: u32) -> PassId {
    let mut id = [0x5a; 16];
    id[..4].copy_from_slice(&n.to_be_bytes());
    PassId(id)
}

/// The signing key `id` whose secret is 32 bytes of value `id`: a fixture
/// key, never a real one.
pub fn signing_key(id: u8) -> SigningKey {
    SigningKey {
        id,
        secret: [id; SECRET_BYTES],
    }
}

/// A keyring holding [`signing_key`]s 1 and 2 and signing with 2: a gateway
/// after one key rotation (tokens of key 1 still verify).
#[allow(
    clippy::expect_used,
    reason = "fixed fixture keys: an error is a bug in this fixture"
)]
pub fn rotated_keyring() -> Keyring {
    Keyring::new(&[signing_key(1), signing_key(2)], 2).expect("a two-key ring")
}

/// A keyring holding only [`signing_key`] `id`, signing with it: a gateway
/// before any rotation (or, with an id no other ring holds, a stranger's).
#[allow(
    clippy::expect_used,
    reason = "fixed fixture keys: an error is a bug in this fixture"
)]
pub fn one_key_keyring(id: u8) -> Keyring {
    Keyring::new(&[signing_key(id)], id).expect("a one-key ring")
}

/// The gateway's answer granting `scan_id`: first use of a single-use pass,
/// no pass id or display shown, not a replay. A test that needs another
/// field sets it with struct update syntax.
pub fn granted_reply(scan_id: ScanId) -> ScanReply {
    ScanReply {
        uses: Some(1),
        max_uses: Some(1),
        ..ScanReply::bare(scan_id, Decision::Granted)
    }
}

/// The gateway's durable record of an online grant: scan `scan_id` of pass
/// `pass_id`, decided at `at_ms` (the scanner's clock reading the same), at
/// gate `north` on device `gate-1`, of [`EVENT`], the pass's first use; no
/// flag, no movement, no override, not annulled, not offline. A test that
/// needs another field sets it with struct update syntax.
#[allow(
    clippy::expect_used,
    reason = "a test's own scan ids: an invalid one is a bug in the test"
)]
pub fn granted_record(scan_id: &str, pass_id: PassId, at_ms: i64) -> ScanRecord {
    ScanRecord {
        scan_id: ScanId::new(scan_id).expect("scan id"),
        pass_id,
        at_ms,
        scanner_time_ms: at_ms,
        gate: "north".into(),
        device: "gate-1".into(),
        decision: Decision::Granted,
        uses_after: 1,
        event: EVENT.into(),
        annulled: None,
        offline: None,
        guard_override: None,
        flags: Vec::new(),
        movement: None,
    }
}

/// The snapshot an [`offline_fact`] was decided from (its `created_ms`).
pub const SNAPSHOT_VERSION: u64 = 900_000;

/// A device's offline grant uploaded for reconciliation: scan `scan_id` by
/// `device` at gate `north` of [`EVENT`], at the device's time
/// `device_time_ms`, decided from snapshot [`SNAPSHOT_VERSION`]. A test
/// that needs another field sets it with struct update syntax.
#[allow(
    clippy::expect_used,
    reason = "a test's own scan ids: an invalid one is a bug in the test"
)]
pub fn offline_fact(scan_id: &str, device: &str, device_time_ms: i64) -> OfflineFact {
    OfflineFact {
        scan_id: ScanId::new(scan_id).expect("scan id"),
        gate: "north".into(),
        event: EVENT.into(),
        device: device.into(),
        device_time_ms,
        snapshot_version: SNAPSHOT_VERSION,
        device_decision: Decision::Granted,
        token_not_after_ms: None,
        token_generation: 0,
    }
}
