//! The mix: what kinds of scans a run sends, in what shares, and the small
//! deterministic random number generator that picks them.

use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// One kind of scan the tool sends, and what the gateway should answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanKind {
    /// A scan of a valid pass with uses left: expect `granted`.
    First,
    /// Another scan (new scan id) of a pass already scanned: expect `used_up`
    /// (with `--uses-per-pass 1`).
    Rescan,
    /// A token with a broken signature: expect `forged`.
    Forged,
    /// A genuinely signed token of a pass that does not exist: expect `unknown`.
    Unknown,
    /// A pass that is revoked before or during the run: expect `revoked`
    /// (or `granted` before a mid-run revoke completes).
    Revoked,
    /// A pass whose validity window has ended: expect `expired`.
    Expired,
    /// A resend of an earlier scan with the same scan id: expect the first
    /// decision again, never counted twice.
    Retry,
    /// Event floor (`--floor`): a pass offered at an entry gate of a zone
    /// it admits to: `granted`, or `zone_full`, `already_inside`.
    Entry,
    /// Event floor: a pass offered at an exit gate of the zone it is in:
    /// `granted`, or `not_inside`.
    Exit,
    /// Event floor: a pass at an entry gate of a zone it does not admit to:
    /// expect `wrong_zone`, never a grant.
    WrongZone,
    /// Event floor: a check-only scan (`check_only`): any decision, and
    /// nothing counted, moved or recorded.
    Check,
}

impl ScanKind {
    /// Every kind, in the order of reports.
    pub const ALL: [ScanKind; 11] = [
        ScanKind::First,
        ScanKind::Rescan,
        ScanKind::Forged,
        ScanKind::Unknown,
        ScanKind::Revoked,
        ScanKind::Expired,
        ScanKind::Retry,
        ScanKind::Entry,
        ScanKind::Exit,
        ScanKind::WrongZone,
        ScanKind::Check,
    ];
    /// The kinds of an event floor run (`--floor`): its only kinds, with
    /// [`ScanKind::Retry`].
    pub const FLOOR: [ScanKind; 4] = [
        ScanKind::Entry,
        ScanKind::Exit,
        ScanKind::WrongZone,
        ScanKind::Check,
    ];

    /// True for the event floor's own kinds ([`ScanKind::FLOOR`]).
    pub fn is_floor(self) -> bool {
        Self::FLOOR.contains(&self)
    }

    /// The spelling in `--mix` and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ScanKind::First => "first",
            ScanKind::Rescan => "rescan",
            ScanKind::Forged => "forged",
            ScanKind::Unknown => "unknown",
            ScanKind::Revoked => "revoked",
            ScanKind::Expired => "expired",
            ScanKind::Retry => "retry",
            ScanKind::Entry => "entry",
            ScanKind::Exit => "exit",
            ScanKind::WrongZone => "wrong_zone",
            ScanKind::Check => "check",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for ScanKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The default mix: mostly first scans, every other kind present.
pub const MIX_DEFAULT: &str = "first=80,rescan=8,retry=4,forged=2,unknown=2,revoked=2,expired=2";
/// The default mix of a run with an outage: the stadium's without retries
/// (a retry resends a scan id on another device, which an offline device
/// cannot know).
pub const MIX_OUTAGE_DEFAULT: &str = "first=80,rescan=8,forged=2,unknown=2,revoked=2,expired=2";
/// The default mix of an event floor run (`--floor`): more entries than
/// exits, so zones fill, and enough exits that they empty again.
pub const MIX_FLOOR_DEFAULT: &str = "entry=45,exit=35,retry=8,wrong_zone=6,check=6";
/// Largest weight one kind may have in `--mix` (keeps the sums in range).
pub const WEIGHT_MAX: u32 = 1_000_000;

/// Shares of each kind, as integer weights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mix {
    weights: [u32; ScanKind::ALL.len()],
}

/// A `--mix` that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MixError(String);

impl FromStr for Mix {
    type Err = MixError;

    /// Parses `first=80,rescan=10,...`; kinds not named get 0.
    fn from_str(s: &str) -> Result<Self, MixError> {
        let mut weights = [0u32; ScanKind::ALL.len()];
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part.split_once('=').ok_or_else(|| {
                MixError(format!(
                    "--mix entry {part:?} is not KIND=WEIGHT (e.g. first=80)"
                ))
            })?;
            let kind = ScanKind::ALL
                .into_iter()
                .find(|k| k.as_str() == name.trim())
                .ok_or_else(|| {
                    MixError(format!(
                        "--mix names {:?}, which is not one of first, rescan, forged, unknown, revoked, expired, retry (or, with --floor, entry, exit, wrong_zone, check)",
                        name.trim()
                    ))
                })?;
            let weight: u32 = value
                .trim()
                .parse()
                .ok()
                .filter(|w| *w <= WEIGHT_MAX)
                .ok_or_else(|| {
                    MixError(format!(
                        "--mix weight of {name} must be a whole number from 0 to {WEIGHT_MAX}, not {value:?}"
                    ))
                })?;
            weights[kind.index()] = weight;
        }
        if weights[ScanKind::First.index()] == 0 && weights[ScanKind::Entry.index()] == 0 {
            return Err(MixError(
                "--mix needs a positive share of first scans (or, with --floor, of entry scans): the other kinds build on them"
                    .into(),
            ));
        }
        Ok(Mix { weights })
    }
}

impl Default for Mix {
    fn default() -> Self {
        MIX_DEFAULT.parse().unwrap_or_else(|_| {
            let mut weights = [0; ScanKind::ALL.len()];
            weights[ScanKind::First.index()] = 1;
            Mix { weights }
        })
    }
}

impl Mix {
    fn sum(&self) -> u64 {
        self.weights.iter().map(|w| u64::from(*w)).sum()
    }

    /// The share of `kind`, from 0 to 1.
    pub fn share(&self, kind: ScanKind) -> f64 {
        f64::from(self.weights[kind.index()]) / self.sum() as f64
    }

    /// Scans in all so that `first` of them are first scans (entry scans
    /// for a floor mix, which has no first scans).
    pub fn scans_for_first(&self, first: u64) -> u64 {
        let lead = match self.weights[ScanKind::First.index()] {
            0 => ScanKind::Entry,
            _ => ScanKind::First,
        };
        let w = u64::from(self.weights[lead.index()]).max(1);
        first.saturating_mul(self.sum()).div_ceil(w)
    }

    /// The kinds with a positive share.
    pub fn kinds(&self) -> impl Iterator<Item = ScanKind> + '_ {
        ScanKind::ALL
            .into_iter()
            .filter(|k| self.weights[k.index()] > 0)
    }

    /// A kind drawn by weight (uniformly over the weights' sum, no modulo bias).
    pub fn pick(&self, rng: &mut fastrand::Rng) -> ScanKind {
        let mut x = rng.u64(..self.sum().max(1));
        for kind in ScanKind::ALL {
            let w = u64::from(self.weights[kind.index()]);
            if x < w {
                return kind;
            }
            x -= w;
        }
        ScanKind::First
    }

    /// `first=80,rescan=8,...` (only kinds with a positive weight).
    pub fn spec(&self) -> String {
        ScanKind::ALL
            .into_iter()
            .filter(|k| self.weights[k.index()] > 0)
            .map(|k| format!("{k}={}", self.weights[k.index()]))
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_picks_by_weight() {
        let mix: Mix = "first=3, forged=1".parse().expect("mix");
        assert_eq!(mix.share(ScanKind::Rescan), 0.0);
        assert!((mix.share(ScanKind::Forged) - 0.25).abs() < 1e-9);
        let mut rng = fastrand::Rng::with_seed(7);
        let forged = (0..10_000)
            .filter(|_| mix.pick(&mut rng) == ScanKind::Forged)
            .count();
        assert!((2_200..2_800).contains(&forged), "{forged}");
        assert_eq!(mix.spec(), "first=3,forged=1");
        let default = Mix::default();
        let plain = ScanKind::ALL.iter().filter(|k| !k.is_floor());
        assert!(plain.clone().all(|k| default.share(*k) > 0.0));
        assert_eq!(default.kinds().count(), plain.count());
        let floor: Mix = MIX_FLOOR_DEFAULT.parse().expect("floor mix");
        assert!(floor.kinds().all(|k| k.is_floor() || k == ScanKind::Retry));
        assert_eq!(floor.scans_for_first(45), 100);
    }

    #[test]
    fn bad_mixes_are_refused_with_a_sentence() {
        for bad in ["first", "bogus=1", "first=-1", "rescan=5", "first=x"] {
            let e = bad.parse::<Mix>().expect_err(bad);
            assert!(e.to_string().starts_with("--mix"), "{e}");
        }
    }
}
