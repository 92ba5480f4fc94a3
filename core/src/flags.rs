//! Fraud flags: signs that a pass is being shared or copied, raised on a
//! scan from what its pass's actor remembers of the pass's recent scans.
//!
//! A flag is a fact recorded on the scan ([`crate::ScanRecord::flags`]) and
//! returned in the scan reply; it denies the scan only when the policy's
//! [`FlagPolicy::deny`] names it (then with the flag's own denial reason).
//!
//! - `rapid_rescan`: the pass was granted less than
//!   [`FlagThresholds::rapid_rescan_s`] ago, at any gate; except the next
//!   member of a group entering after the last at the same gate (a
//!   [`group_admission`]: a counted admission of a pass that admits several
//!   people, see [`is_group`]).
//! - `shared_code`: the pass was presented on another device less than
//!   [`FlagThresholds::shared_code_s`] ago.
//! - `impossible_travel`: the pass was granted at another gate more recently
//!   than the walking time from that gate to this one.
//! - `forgery_burst`: a device sent more than
//!   [`FlagThresholds::forgery_burst_per_minute`] forged or malformed tokens
//!   in a minute. Decided at the gateway's edge (no pass is known); this
//!   module only names it and holds its threshold.
//!
//! Rules (pure, `now_ms` passed in): a remembered scan dated after `now_ms`
//! (the clock went back) raises no time-window flag; only scans the gateway
//! decided online count (an uploaded offline scan carries the device's
//! clock, which is never trusted); a replayed retry raises nothing new.

use crate::Reason;
use crate::pass::GATE_MAX_BYTES;
use crate::scan::ScanRecord;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, VecDeque};
use std::fmt;

/// A fraud flag. The spellings (snake_case) are part of the public contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// Scanned again soon after a grant (a screenshot passed back over the fence).
    RapidRescan,
    /// Presented on two different devices within a short time.
    SharedCode,
    /// Scanned at a gate sooner after a grant at another gate than anyone can walk.
    ImpossibleTravel,
    /// One device sent a burst of forged or malformed tokens.
    ForgeryBurst,
}

impl Flag {
    /// Every flag, in declaration order (metrics, tests).
    pub const ALL: [Flag; 4] = [
        Flag::RapidRescan,
        Flag::SharedCode,
        Flag::ImpossibleTravel,
        Flag::ForgeryBurst,
    ];

    /// The flag's place in [`Flag::ALL`], for tables indexed by flag.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The contract spelling, e.g. `rapid_rescan`.
    pub fn as_str(self) -> &'static str {
        match self {
            Flag::RapidRescan => "rapid_rescan",
            Flag::SharedCode => "shared_code",
            Flag::ImpossibleTravel => "impossible_travel",
            Flag::ForgeryBurst => "forgery_burst",
        }
    }

    /// The flag from its contract spelling.
    pub fn parse(s: &str) -> Option<Flag> {
        Flag::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// The denial a policy turns this flag into; `None` for
    /// `forgery_burst`, whose scans are denied already (forged, malformed).
    pub fn denial(self) -> Option<Reason> {
        match self {
            Flag::RapidRescan => Some(Reason::RapidRescan),
            Flag::SharedCode => Some(Reason::SharedCode),
            Flag::ImpossibleTravel => Some(Reason::ImpossibleTravel),
            Flag::ForgeryBurst => None,
        }
    }
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Most walking-time entries and gate positions one policy may hold: a
/// large venue has a few dozen gates; 256 entries cover every pair of a
/// 22-gate venue, and a policy stays a small, bounded lookup.
pub const WALKING_ENTRIES_MAX: usize = 256;

/// The longest a flag looks back, milliseconds (one hour): no walk inside
/// a venue takes longer, and it bounds what an actor reads at its start.
pub const HORIZON_MAX_MS: i64 = 3_600_000;

/// The thresholds of the time-window flags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct FlagThresholds {
    /// `rapid_rescan` when a scan comes this soon after a grant, seconds
    /// (default 60: longer than a guard takes to wave one person through,
    /// shorter than a pass takes to be handed back over a fence and
    /// queued again). 0 turns the flag off.
    pub rapid_rescan_s: u32,
    /// `shared_code` when another device saw the pass this recently,
    /// seconds (default 60). 0 turns the flag off.
    pub shared_code_s: u32,
    /// `forgery_burst` when one device sends more forged or malformed
    /// tokens than this in a minute (default 10: a misprinted ticket is
    /// retried a few times, a script or a generator sends dozens).
    pub forgery_burst_per_minute: u32,
}

impl Default for FlagThresholds {
    fn default() -> Self {
        FlagThresholds {
            rapid_rescan_s: 60,
            shared_code_s: 60,
            forgery_burst_per_minute: 10,
        }
    }
}

/// How long it takes to walk between two gates (either way), seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WalkingTime {
    /// One gate.
    pub from: String,
    /// The other gate.
    pub to: String,
    /// The walking time between them, seconds.
    pub seconds: u32,
}

/// Where a gate stands on the venue's plan, metres from any fixed origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GatePosition {
    /// The gate.
    pub gate: String,
    /// East, metres.
    pub x_m: i32,
    /// North, metres.
    pub y_m: i32,
}

/// Which flags a scan raises and which of them deny. Every field has a
/// default, so `{}` is the default policy: every flag raised, none denies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct FlagPolicy {
    /// The time windows.
    pub thresholds: FlagThresholds,
    /// Flags that deny the scan they are raised on (a grant becomes a
    /// denial with the flag's reason); the rest are only recorded.
    pub deny: BTreeSet<Flag>,
    /// Walking times between gates (a distance table); they win over
    /// positions for the pairs they name.
    pub walking: Vec<WalkingTime>,
    /// Gate positions: a pair not in `walking` takes the straight line
    /// between them at `walking_speed_mm_per_s`.
    pub positions: Vec<GatePosition>,
    /// Walking speed for positions, millimetres per second (default 1 500:
    /// a brisk adult's 1.5 m/s, so only faster-than-brisk travel is flagged).
    pub walking_speed_mm_per_s: u32,
}

impl Default for FlagPolicy {
    fn default() -> Self {
        FlagPolicy {
            thresholds: FlagThresholds::default(),
            deny: BTreeSet::new(),
            walking: Vec::new(),
            positions: Vec::new(),
            walking_speed_mm_per_s: 1_500,
        }
    }
}

/// What is wrong with a flag policy; [`FlagPolicy::check`] names every problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlagPolicyError {
    /// More walking entries or positions than [`WALKING_ENTRIES_MAX`].
    #[error("{field}: {got} entries, at most {WALKING_ENTRIES_MAX}")]
    TooMany {
        /// `walking` or `positions`.
        field: &'static str,
        /// How many were given.
        got: usize,
    },
    /// A gate name that is empty or longer than a gate name may be.
    #[error("{field}: gate name {gate:?} is empty or longer than {GATE_MAX_BYTES} bytes")]
    BadGate {
        /// `walking` or `positions`.
        field: &'static str,
        /// The name (cut to the gate limit).
        gate: String,
    },
    /// `forgery_burst` in `deny`: its scans are denied already.
    #[error("deny: forgery_burst cannot deny, the scans it counts are denied already")]
    UndeniableFlag,
    /// A walking speed of zero.
    #[error("walking_speed_mm_per_s must be above 0")]
    ZeroSpeed,
}

impl FlagPolicy {
    /// Every problem of the policy; empty when it is usable.
    pub fn check(&self) -> Vec<FlagPolicyError> {
        let mut problems = Vec::new();
        for (field, got) in [
            ("walking", self.walking.len()),
            ("positions", self.positions.len()),
        ] {
            if got > WALKING_ENTRIES_MAX {
                problems.push(FlagPolicyError::TooMany { field, got });
            }
        }
        let walking = self.walking.iter().flat_map(|w| [&w.from, &w.to]);
        let named = walking.map(|g| ("walking", g));
        let placed = self.positions.iter().map(|p| ("positions", &p.gate));
        for (field, gate) in named.chain(placed) {
            if gate.is_empty() || gate.len() > GATE_MAX_BYTES {
                let mut gate = gate.clone();
                gate.truncate(gate.floor_char_boundary(GATE_MAX_BYTES));
                problems.push(FlagPolicyError::BadGate { field, gate });
            }
        }
        if self.deny.contains(&Flag::ForgeryBurst) {
            problems.push(FlagPolicyError::UndeniableFlag);
        }
        if self.walking_speed_mm_per_s == 0 {
            problems.push(FlagPolicyError::ZeroSpeed);
        }
        problems
    }

    /// How far back the flags look, milliseconds: the longest window or
    /// walking time, at most [`HORIZON_MAX_MS`]. Quadratic in the
    /// positions: compute it once per policy, not per scan.
    pub fn horizon_ms(&self) -> i64 {
        let t = &self.thresholds;
        let windows = [t.rapid_rescan_s, t.shared_code_s].map(|s| i64::from(s) * 1_000);
        let walks = self.walking.iter().map(|w| i64::from(w.seconds) * 1_000);
        let ps = &self.positions;
        let straight = ps
            .iter()
            .flat_map(|a| ps.iter().map(move |b| self.straight_ms(a, b)));
        let longest = windows.into_iter().chain(walks).chain(straight).max();
        longest.unwrap_or(0).min(HORIZON_MAX_MS)
    }

    /// The straight-line walking time between two positions, milliseconds.
    fn straight_ms(&self, a: &GatePosition, b: &GatePosition) -> i64 {
        let dx = f64::from(a.x_m) - f64::from(b.x_m);
        let dy = f64::from(a.y_m) - f64::from(b.y_m);
        let speed_m_per_ms = f64::from(self.walking_speed_mm_per_s.max(1)) / 1_000_000.0;
        // At most ~1.3e10 ms for i32 coordinates: well inside i64.
        (dx.hypot(dy) / speed_m_per_ms) as i64
    }

    /// The walking time between two different gates, milliseconds; `None`
    /// when neither the table nor the positions know the pair.
    pub fn walking_ms(&self, a: &str, b: &str) -> Option<i64> {
        let pair = |w: &&WalkingTime| (w.from == a && w.to == b) || (w.from == b && w.to == a);
        if let Some(w) = self.walking.iter().find(pair) {
            return Some(i64::from(w.seconds) * 1_000);
        }
        let at = |g: &str| self.positions.iter().find(|p| p.gate == g);
        Some(self.straight_ms(at(a)?, at(b)?))
    }
}

/// Fewest admissions that make a pass a group pass (2): a pass whose
/// `max_uses` is 2 or more admits that many people, and its members go
/// through a gate one after another, seconds apart. A single-use ticket
/// has no second member; an unlimited pass (staff, season) is one
/// person's, whose rescan stays `rapid_rescan`.
pub const GROUP_ADMISSIONS_MIN: u32 = 2;

/// Whether a pass of `max_uses` is a group pass: it admits
/// [`GROUP_ADMISSIONS_MIN`] people or more, a bounded number.
pub fn is_group(max_uses: Option<u32>) -> bool {
    max_uses.is_some_and(|n| n >= GROUP_ADMISSIONS_MIN)
}

/// Whether a scan is the next member of a group entering: it is a counted
/// admission (`counted`: the rules grant it and it spends a use, so the
/// group has a place left for it) of a group pass ([`is_group`]).
pub fn group_admission(max_uses: Option<u32>, counted: bool) -> bool {
    counted && is_group(max_uses)
}

/// A scan as the flags judge it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Presented<'a> {
    /// The gate it was scanned at.
    pub gate: &'a str,
    /// The device that scanned it.
    pub device: &'a str,
    /// It admits the next member of a group ([`group_admission`]): no
    /// `rapid_rescan` when it follows the last grant at the same gate.
    pub group_admission: bool,
}

impl<'a> Presented<'a> {
    /// A scan at `gate` on `device` that admits no group member.
    pub fn at(gate: &'a str, device: &'a str) -> Self {
        Presented {
            gate,
            device,
            group_admission: false,
        }
    }
}

/// How many recent scans of a pass its actor remembers for the flags: the
/// last grant and the other devices that saw the pass lately. 4 covers a
/// pass passed between a few people within one window; more scans than
/// that within a minute raise `rapid_rescan` anyway.
pub const RECENT_SCANS_MAX: usize = 4;

/// One remembered scan of a pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// When the gateway decided it (Unix ms).
    pub at_ms: i64,
    /// Where.
    pub gate: String,
    /// On which device.
    pub device: String,
    /// Whether it was granted.
    pub granted: bool,
}

/// A pass's recent online scans, newest last, at most [`RECENT_SCANS_MAX`],
/// plus its last grant (kept even when newer denials pushed it out).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecentScans {
    scans: VecDeque<Seen>,
    last_grant: Option<Seen>,
}

impl RecentScans {
    /// The history a pass's stored records give (any order; offline records
    /// and annulled grants are skipped: their times or uses do not stand).
    pub fn from_records<'a>(records: impl IntoIterator<Item = &'a ScanRecord>) -> Self {
        let mut online: Vec<&ScanRecord> = records
            .into_iter()
            .filter(|r| r.offline.is_none() && r.annulled.is_none())
            .collect();
        online.sort_by_key(|r| r.at_ms);
        let mut recent = RecentScans::default();
        for r in online {
            recent.remember(r);
        }
        recent
    }

    /// Remembers a decided, durable online scan.
    pub fn remember(&mut self, record: &ScanRecord) {
        if record.offline.is_some() || record.decision.reason().is_some_and(Reason::is_transient) {
            return;
        }
        self.remember_seen(Seen {
            at_ms: record.at_ms,
            gate: record.gate.clone(),
            device: record.device.clone(),
            granted: record.decision.is_granted(),
        });
    }

    /// Remembers a scan decided online and made durable.
    pub fn remember_seen(&mut self, seen: Seen) {
        if seen.granted {
            self.last_grant = Some(seen.clone());
        }
        if self.scans.len() == RECENT_SCANS_MAX {
            self.scans.pop_front();
        }
        self.scans.push_back(seen);
        debug_assert!(self.scans.len() <= RECENT_SCANS_MAX);
    }

    /// The last grant remembered.
    pub fn last_grant(&self) -> Option<&Seen> {
        self.last_grant.as_ref()
    }

    /// The flags `scan` raises at `now_ms`, in [`Flag::ALL`] order, each once.
    pub fn flags(&self, policy: &FlagPolicy, scan: &Presented<'_>, now_ms: i64) -> Vec<Flag> {
        let (gate, device) = (scan.gate, scan.device);
        // Milliseconds since `at_ms`; `None` when it lies in the future.
        let ago = |at_ms: i64| now_ms.checked_sub(at_ms).filter(|d| *d >= 0);
        let within = |at_ms: i64, window_ms: i64| ago(at_ms).is_some_and(|d| d < window_ms);
        let t = &policy.thresholds;
        let mut flags = Vec::new();
        let grant = self.last_grant.as_ref();
        let next_member = |g: &Seen| scan.group_admission && g.gate == gate;
        let rescan = |g: &Seen| within(g.at_ms, i64::from(t.rapid_rescan_s) * 1_000);
        if grant.is_some_and(|g| rescan(g) && !next_member(g)) {
            flags.push(Flag::RapidRescan);
        }
        let other_device =
            |s: &&Seen| s.device != device && within(s.at_ms, i64::from(t.shared_code_s) * 1_000);
        if self.scans.iter().any(|s| other_device(&s)) {
            flags.push(Flag::SharedCode);
        }
        let too_fast = |g: &Seen| {
            g.gate != gate
                && policy
                    .walking_ms(&g.gate, gate)
                    .is_some_and(|w| within(g.at_ms, w))
        };
        if grant.is_some_and(too_fast) {
            flags.push(Flag::ImpossibleTravel);
        }
        flags
    }
}

/// The first flag of `flags` that `policy` turns into a denial, as that denial.
pub fn denial(policy: &FlagPolicy, flags: &[Flag]) -> Option<Reason> {
    flags
        .iter()
        .filter(|f| policy.deny.contains(f))
        .find_map(|f| f.denial())
}

#[cfg(test)]
#[path = "flags_tests.rs"]
mod tests;
