//! Picks what each scan of the run is: its kind (by the mix), its pass and
//! token, and its scan id (a fresh sequence number, or an earlier one for a
//! retry). Deterministic for a seed; no I/O.

use crate::floor::FloorAsk;
use crate::floor::pick::FloorPicker;
use crate::mix::{Mix, ScanKind};
use crate::setup::Pools;
use fastrand::Rng;
use std::collections::VecDeque;
use std::sync::Arc;

/// Recent scans a retry may repeat: retries of fresh scans, as a scanner
/// retries one that timed out a moment ago.
pub const RETRY_RING: usize = 4_096;

/// One scan to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Its sequence number (the scan id's suffix).
    pub seq: u64,
    /// Its kind.
    pub kind: ScanKind,
    /// Its pass (an index into the pools), if it names a stored pass.
    pub pass: Option<u32>,
    /// The token to send.
    pub token: String,
    /// Where and how an event floor scan is asked.
    pub floor: Option<FloorAsk>,
}

/// The picker's state.
pub struct Picker {
    pools: Arc<Pools>,
    mix: Mix,
    rng: Rng,
    next_seq: u64,
    first_sent: u64,
    /// Recent scans of stored passes (sequence number, pass, floor ask),
    /// for retries: a pass's token is found again from the pools, so the
    /// ring copies none.
    recent: VecDeque<(u64, u32, Option<FloorAsk>)>,
    revoked: Vec<u32>,
    /// The event floor's picks (`--floor`).
    floor: Option<FloorPicker>,
}

/// A uniform index below `n` (no modulo bias); `None` when `n` is 0.
fn index(rng: &mut Rng, n: usize) -> Option<usize> {
    (n > 0).then(|| rng.usize(..n))
}

fn pick(rng: &mut Rng, pool: &[u32]) -> Option<u32> {
    pool.get(index(rng, pool.len())?).copied()
}

impl Picker {
    /// A picker over `pools` (which must hold at least one valid pass).
    pub fn new(pools: Arc<Pools>, mix: Mix, seed: u64) -> Self {
        Picker {
            revoked: pools.revoked().collect(),
            pools,
            mix,
            rng: Rng::with_seed(seed),
            next_seq: 0,
            first_sent: 0,
            recent: VecDeque::with_capacity(RETRY_RING),
            floor: None,
        }
    }

    /// The picker of an event floor run: its floor kinds from `floor`.
    pub fn with_floor(self, floor: FloorPicker) -> Self {
        Picker {
            floor: Some(floor),
            ..self
        }
    }

    /// The next scan.
    pub fn next_job(&mut self) -> Job {
        let kind = self.mix.pick(&mut self.rng);
        let job = match kind {
            ScanKind::First => None,
            ScanKind::Rescan => self.rescan(),
            ScanKind::Forged => self.forged(),
            ScanKind::Unknown => self.unknown(),
            ScanKind::Revoked => pick(&mut self.rng, &self.revoked).map(|p| self.pooled(kind, p)),
            ScanKind::Expired => {
                pick(&mut self.rng, &self.pools.expired).map(|p| self.pooled(kind, p))
            }
            ScanKind::Retry => self.retry(),
            ScanKind::Entry | ScanKind::Exit | ScanKind::WrongZone | ScanKind::Check => {
                self.floor_job(kind)
            }
        };
        let job = job
            .or_else(|| self.floor_job(ScanKind::Entry))
            .unwrap_or_else(|| self.first());
        // A check-only scan leaves its scan id free: nothing to retry.
        let kept = !matches!(job.kind, ScanKind::Retry | ScanKind::Check);
        if let (Some(pass), true) = (job.pass, kept) {
            if self.recent.len() == RETRY_RING {
                self.recent.pop_front();
            }
            self.recent.push_back((job.seq, pass, job.floor));
        }
        job
    }

    /// A scan of floor kind `kind`, when the run has a floor.
    fn floor_job(&mut self, kind: ScanKind) -> Option<Job> {
        let (p, ask) = self.floor.as_ref()?.pick(kind, &mut self.rng)?;
        let mut job = self.pooled(kind, p.pass);
        job.floor = Some(ask);
        Some(job)
    }

    fn fresh(&mut self, kind: ScanKind, pass: Option<u32>, token: String) -> Job {
        let seq = self.next_seq;
        self.next_seq += 1;
        Job {
            seq,
            kind,
            pass,
            token,
            floor: None,
        }
    }

    /// The valid passes in turn; each admits `uses_per_pass`, so after all
    /// have been scanned once the turn starts over (and wraps, if the pool
    /// runs out, into rescans that the gateway denies `used_up`).
    fn first(&mut self) -> Job {
        let n = self.pools.first.len().max(1) as u64;
        let pass = self
            .pools
            .first
            .get((self.first_sent % n) as usize)
            .copied();
        self.first_sent += 1;
        let token = self.token(pass);
        self.fresh(ScanKind::First, pass, token)
    }

    /// A pass already scanned, with a new scan id.
    fn rescan(&mut self) -> Option<Job> {
        let scanned = self.first_sent.min(self.pools.first.len() as u64) as usize;
        if scanned == 0 {
            return None;
        }
        let pass = self.pools.first.get(self.rng.usize(..scanned)).copied();
        let token = self.token(pass);
        Some(self.fresh(ScanKind::Rescan, pass, token))
    }

    /// A valid token with its signature broken (its last character changed).
    fn forged(&mut self) -> Option<Job> {
        let i = index(&mut self.rng, self.pools.first.len())?;
        let valid = self.pools.passes.get(*self.pools.first.get(i)? as usize)?;
        let mut chars = valid.token.chars();
        let last = chars.next_back()?;
        let mut token = String::with_capacity(valid.token.len());
        token.push_str(chars.as_str());
        token.push(if last == 'A' { 'B' } else { 'A' });
        Some(self.fresh(ScanKind::Forged, None, token))
    }

    fn unknown(&mut self) -> Option<Job> {
        let i = index(&mut self.rng, self.pools.unknown_tokens.len())?;
        let token = self.pools.unknown_tokens.get(i)?.clone();
        Some(self.fresh(ScanKind::Unknown, None, token))
    }

    fn pooled(&mut self, kind: ScanKind, pass: u32) -> Job {
        let token = self.token(Some(pass));
        self.fresh(kind, Some(pass), token)
    }

    /// An earlier scan again, same scan id, same token.
    fn retry(&mut self) -> Option<Job> {
        let i = index(&mut self.rng, self.recent.len())?;
        let &(seq, pass, floor) = self.recent.get(i)?;
        Some(Job {
            seq,
            kind: ScanKind::Retry,
            pass: Some(pass),
            token: self.token(Some(pass)),
            floor,
        })
    }

    fn token(&self, pass: Option<u32>) -> String {
        pass.and_then(|p| self.pools.passes.get(p as usize))
            .map(|e| e.token.clone())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::PassEntry;

    fn pools() -> Arc<Pools> {
        let entry = |i: u32| PassEntry {
            id: format!("{i:032x}"),
            token: format!("TOKEN{i}"),
            uses_before: 0,
        };
        Arc::new(Pools {
            passes: (0..6).map(entry).collect(),
            first: vec![0, 1, 2],
            revoked_before: vec![3],
            revoked_during: vec![4],
            expired: vec![5],
            unknown_tokens: vec!["UNKNOWN".into()],
            revokes: vec![],
            floor: vec![],
        })
    }

    #[test]
    fn every_kind_is_picked_and_retries_reuse_scan_ids() {
        let mut p = Picker::new(pools(), Mix::default(), 42);
        let jobs: Vec<Job> = (0..2_000).map(|_| p.next_job()).collect();
        for kind in Mix::default().kinds() {
            assert!(jobs.iter().any(|j| j.kind == kind), "{kind}");
        }
        for j in jobs.iter().filter(|j| j.kind == ScanKind::Retry) {
            let first = jobs.iter().find(|o| o.seq == j.seq).expect("original");
            assert_ne!(first.kind, ScanKind::Retry);
            assert_eq!((first.pass, &first.token), (j.pass, &j.token));
        }
        let forged = jobs
            .iter()
            .find(|j| j.kind == ScanKind::Forged)
            .expect("forged");
        assert!(forged.pass.is_none() && forged.token.starts_with("TOKEN"));
        assert!(!["TOKEN0", "TOKEN1", "TOKEN2"].contains(&forged.token.as_str()));
        let revoked = jobs.iter().filter(|j| j.kind == ScanKind::Revoked);
        assert!(revoked.clone().all(|j| matches!(j.pass, Some(3 | 4))));
    }

    #[test]
    fn floor_scans_carry_their_gate_and_a_retry_repeats_it() {
        use crate::floor::pick::FloorPicker;
        use crate::floor::{Belief, FloorLayout, FloorPass};
        let layout = Arc::new(FloorLayout::new(6, 64, true).expect("layout"));
        let floor = (0..6).map(|pass| FloorPass { pass, class: 3 }).collect();
        let floor = FloorPicker::new(layout, Arc::new(Belief::new(6)), floor);
        let mix: Mix = "entry=5,exit=2,retry=3,check=1".parse().expect("mix");
        let mut p = Picker::new(pools(), mix, 9).with_floor(floor);
        let jobs: Vec<Job> = (0..500).map(|_| p.next_job()).collect();
        assert!(
            jobs.iter()
                .all(|j| j.floor.is_some() && j.kind != ScanKind::First)
        );
        let retries = jobs.iter().filter(|j| j.kind == ScanKind::Retry);
        for r in retries.clone() {
            let first = jobs.iter().find(|o| o.seq == r.seq).expect("original");
            assert_eq!((first.pass, first.floor), (r.pass, r.floor));
            assert_ne!(
                first.kind,
                ScanKind::Check,
                "a check's scan id is not retried"
            );
        }
        assert!(retries.count() > 50);
        let checks = jobs.iter().filter(|j| j.kind == ScanKind::Check);
        assert!(
            checks.clone().count() > 0
                && checks
                    .clone()
                    .all(|j| j.floor.is_some_and(|f| f.check_only))
        );
    }

    #[test]
    fn first_scans_go_through_the_valid_passes_in_turn() {
        let mix: Mix = "first=1".parse().expect("mix");
        let mut p = Picker::new(pools(), mix, 1);
        let passes: Vec<Option<u32>> = (0..4).map(|_| p.next_job().pass).collect();
        assert_eq!(passes, vec![Some(0), Some(1), Some(2), Some(0)]);
    }

    #[test]
    fn a_seed_repeats_its_run_and_another_seed_does_not() {
        let run = |seed| {
            let mut p = Picker::new(pools(), Mix::default(), seed);
            (0..500).map(|_| p.next_job()).collect::<Vec<Job>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }
}
