//! The offline decision: the same rules as the gateway
//! ([`crate::rules::decide_view`]) on a snapshot entry plus the device's own
//! offline uses.
//!
//! Before the rules, in this order:
//! - the snapshot must cover the scanner's event and not have expired, or
//!   the device does not decide at all ([`SnapshotError`]);
//! - a token that is not well-formed is `malformed`;
//! - a short-lived token (with a not-after: a dynamic pass) is
//!   `needs_network`: its tag is over the not-after and only the gateway's
//!   secret verifies it, and no secret is ever on a device;
//! - a token with no entry is `unknown`. Offline, "no entry" covers a
//!   forged token, a pass of another event and a pass issued after the
//!   snapshot: the device cannot tell them apart, and does not claim
//!   `forged` for what may be a new, genuine pass.

use super::error::SnapshotError;
use super::format::{EntryIndex, Snapshot};
use crate::decision::{Decision, Reason};
use crate::rules::{self, PassView, ScanContext};
use crate::token::RawToken;

/// An offline decision, with what a scanner may show and record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfflineOutcome {
    /// Granted or denied, and why.
    pub decision: Decision,
    /// The entry the token found; the device counts its own uses by it.
    pub entry: Option<EntryIndex>,
    /// Uses at snapshot time plus the device's own, after this scan.
    pub uses: Option<u32>,
    /// The pass's limit (`None`: unlimited, or no entry).
    pub max_uses: Option<u32>,
    /// The snapshot version the decision was made from (uploaded with the scan).
    pub snapshot_version: u64,
}

impl Snapshot {
    /// Whether a scanner configured for `event` may decide from this
    /// snapshot at `now_ms`.
    pub fn check_usable(&self, event: Option<&str>, now_ms: i64) -> Result<(), SnapshotError> {
        if let Some(event) = event.filter(|e| *e != self.event) {
            return Err(SnapshotError::WrongEvent {
                expected: event.to_owned(),
                found: self.event.clone(),
            });
        }
        if now_ms >= self.expires_ms {
            return Err(SnapshotError::Expired {
                expires_ms: self.expires_ms,
                now_ms,
            });
        }
        Ok(())
    }

    /// Decides `token` at `gate` for a scanner configured for `event` (if
    /// any) at `now_ms`. `local_uses(entry)` is the number of grants this
    /// device made offline for that entry that the snapshot does not count
    /// yet: those still in its upload queue, and those acknowledged after
    /// this snapshot was made (the gateway's count at snapshot time is in
    /// the entry).
    pub fn decide(
        &self,
        token: &str,
        gate: &str,
        event: Option<&str>,
        now_ms: i64,
        local_uses: impl FnOnce(&EntryIndex) -> u32,
    ) -> Result<OfflineOutcome, SnapshotError> {
        self.check_usable(event, now_ms)?;
        let denied = |reason| OfflineOutcome {
            decision: Decision::Denied(reason),
            entry: None,
            uses: None,
            max_uses: None,
            snapshot_version: self.version,
        };
        let raw = match RawToken::parse(token) {
            Ok(raw) => raw,
            Err(e) => return Ok(denied(e.reason())),
        };
        if raw.has_not_after() {
            return Ok(denied(Reason::NeedsNetwork));
        }
        let index = EntryIndex::of_token(&raw);
        let Some(entry) = self.entry(&index) else {
            return Ok(denied(Reason::Unknown));
        };
        let at = entry.profile as usize;
        let (Some(profile), Some(gates)) = (self.profiles.get(at), self.profile_gates.get(at))
        else {
            // Parsing and building check every profile reference.
            return Ok(denied(Reason::Unknown));
        };
        // Kept below u32::MAX so that the rules' "uses + 1" cannot overflow.
        let uses = entry
            .uses
            .saturating_add(local_uses(&index))
            .min(u32::MAX - 1);
        let view = PassView {
            event: &self.event,
            status: entry.status,
            valid_from_ms: profile.valid_from_ms,
            valid_until_ms: profile.valid_until_ms,
            max_uses: profile.max_uses,
            uses,
            gates,
            dynamic: profile.dynamic,
            // A snapshot holds a pass under its current tokens only: a
            // superseded one is not found (see docs/offline.md).
            token_generation: 0,
            // A snapshot carries no zones or presence: an offline device
            // decides as for an event without a definition.
            zones: &[],
            presence: crate::pass::Presence::Outside,
        };
        let outcome = rules::decide_view(&view, &offline_scan(event, gate), now_ms);
        let uses_after = outcome.change.uses_after(uses);
        Ok(OfflineOutcome {
            decision: outcome.decision,
            entry: Some(index),
            uses: Some(uses_after),
            max_uses: profile.max_uses,
            snapshot_version: self.version,
        })
    }
}

/// What an offline scan asks of the rules: the token has no expiry of its
/// own (one with an expiry needs the network), no generation to compare
/// and no event definition (a device holds neither).
fn offline_scan<'a>(event: Option<&'a str>, gate: &'a str) -> ScanContext<'a> {
    ScanContext {
        event,
        gate,
        token_not_after_ms: None,
        token_generation: None,
        definition: None,
        direction: None,
    }
}
