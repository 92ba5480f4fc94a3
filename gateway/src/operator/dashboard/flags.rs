//! The dashboard's fraud flags panel: how many of each flag this gateway
//! raised since it started, and the latest ones. Fed by the scan path
//! (`rapid_rescan`, `shared_code`, `impossible_travel`, once per decided
//! scan) and by the edge (`forgery_burst`, once per device window); served
//! as `GET /live/flags`, which the page polls. In memory and bounded:
//! four counters and at most [`FLAGS_LATEST_MAX`] entries. The full,
//! durable list is `scangate flags list` / `GET /v1/flags`.

use scangate_core::PassId;
use scangate_core::flags::Flag;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Latest flags shown: a screenful, as the recent denials.
pub const FLAGS_LATEST_MAX: usize = 20;

/// The flags in plain words, for people (the API and the CLI keep the
/// contract spellings).
pub fn plain_words(flag: Flag) -> &'static str {
    match flag {
        Flag::RapidRescan => "Scanned again right after entry",
        Flag::SharedCode => "Same code on two scanners",
        Flag::ImpossibleTravel => "Too fast between gates",
        Flag::ForgeryBurst => "Burst of forged codes from one scanner",
    }
}

/// One flag raised, as the panel shows it.
#[derive(Debug, Clone, Serialize)]
pub struct LatestFlag {
    /// When (Unix ms).
    pub at_ms: i64,
    /// The contract spelling.
    pub kind: &'static str,
    /// In plain words.
    pub label: &'static str,
    /// The pass's 8-hex-digit prefix; `None` for `forgery_burst`.
    pub pass: Option<String>,
    /// The device.
    pub device: String,
    /// The gate.
    pub gate: String,
}

/// Counts and latest flags since this gateway started.
#[derive(Debug, Default)]
pub struct FlagBoard {
    counts: [AtomicU64; Flag::ALL.len()],
    latest: Mutex<VecDeque<LatestFlag>>,
}

/// What `GET /live/flags` answers.
#[derive(Debug, Serialize)]
pub struct FlagPanel {
    /// Every flag, in [`Flag::ALL`]'s order, zeros included.
    pub kinds: Vec<KindCount>,
    /// The latest raised, newest first, at most [`FLAGS_LATEST_MAX`].
    pub latest: Vec<LatestFlag>,
}

/// One flag's count.
#[derive(Debug, Serialize)]
pub struct KindCount {
    /// The contract spelling.
    pub kind: &'static str,
    /// In plain words.
    pub label: &'static str,
    /// Raised since start.
    pub count: u64,
}

impl FlagBoard {
    /// Notes one flag raised at `at_ms` on `device` at `gate`.
    pub fn raised(&self, at_ms: i64, flag: Flag, pass: Option<PassId>, device: &str, gate: &str) {
        self.counts[flag.index()].fetch_add(1, Ordering::Relaxed);
        let mut latest = self.latest.lock().unwrap_or_else(|p| p.into_inner());
        if latest.len() == FLAGS_LATEST_MAX {
            latest.pop_back();
        }
        latest.push_front(LatestFlag {
            at_ms,
            kind: flag.as_str(),
            label: plain_words(flag),
            pass: pass.map(|p| p.short()),
            device: device.to_owned(),
            gate: gate.to_owned(),
        });
    }

    /// The panel now.
    pub fn panel(&self) -> FlagPanel {
        let kinds = Flag::ALL
            .into_iter()
            .map(|f| KindCount {
                kind: f.as_str(),
                label: plain_words(f),
                count: self.counts[f.index()].load(Ordering::Relaxed),
            })
            .collect();
        let latest = self.latest.lock().unwrap_or_else(|p| p.into_inner());
        FlagPanel {
            kinds,
            latest: latest.iter().cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_board_counts_every_flag_and_keeps_the_latest_few() {
        let board = FlagBoard::default();
        for i in 0..(FLAGS_LATEST_MAX as i64 + 5) {
            board.raised(i, Flag::SharedCode, Some(PassId([1; 16])), "d1", "north");
        }
        board.raised(99, Flag::ForgeryBurst, None, "bad", "north");
        let panel = board.panel();
        let count = |k: &str| panel.kinds.iter().find(|c| c.kind == k).map(|c| c.count);
        assert_eq!(count("shared_code"), Some(FLAGS_LATEST_MAX as u64 + 5));
        assert_eq!(
            (count("forgery_burst"), count("rapid_rescan")),
            (Some(1), Some(0))
        );
        assert_eq!(panel.latest.len(), FLAGS_LATEST_MAX);
        assert_eq!(
            (panel.latest[0].kind, panel.latest[0].pass.as_deref()),
            ("forgery_burst", None)
        );
        assert_eq!(panel.latest[1].pass.as_deref(), Some("01010101"));
    }
}
