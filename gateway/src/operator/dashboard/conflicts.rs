//! The dashboard's conflicts panel (issue 26): how many offline scans broke
//! each rule, and the latest ones, read from the store so that they survive
//! a restart and include what other gateways on the same ScyllaDB cluster
//! recorded.
//!
//! The store keeps conflicts in the order they were recorded and has no
//! count. So the panel is a **sweep**: once per refresh (the dashboard's
//! [`SNAPSHOT_INTERVAL`]) it reads one page of at most [`SWEEP_PAGE_ROWS`]
//! conflicts after its cursor and adds them to a tally; when a page ends the
//! table, the tally becomes the counts shown and the next sweep starts from
//! the beginning. Invalidation rule: the counts shown are those of the last
//! complete sweep, replaced whole at the end of the next one; nothing is
//! adjusted in between, so a conflict recorded during a sweep shows at the
//! latest at the end of the following one. Work per refresh is one bounded
//! page read, whatever the table holds; a table of N conflicts is counted
//! again every ⌈N / 1,000⌉ seconds. Until the first sweep after a start has
//! ended, the partial tally is shown as "N+".
//!
//! [`Board`] holds no I/O and no clock (it is told the time and given each
//! page); [`publish`] runs it against the store.

use crate::edge::live::SNAPSHOT_INTERVAL;
use scangate_core::offline::messages::ConflictKind;
use scangate_core::scan::Conflict;
use scangate_storage::{ConflictQuery, Cursor, PAGE_MAX, Page, Store, StoreError};
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Latest conflicts shown: a screenful, as the recent denials; the full
/// list is `scangate conflicts list` / `GET /v1/conflicts`.
pub const CONFLICTS_LATEST_MAX: usize = 20;
/// Conflicts read per refresh: one page of the admin API's largest size
/// (`PAGE_MAX`, a few milliseconds of store work), so a sweep of a table
/// of N conflicts takes ⌈N / 1,000⌉ refreshes.
pub const SWEEP_PAGE_ROWS: usize = PAGE_MAX;
/// Deadline of one page read. A page takes milliseconds; a store stalled
/// past this is shown as an error on the panel and the same page is asked
/// again at the next refresh.
pub const SWEEP_READ_DEADLINE: Duration = Duration::from_secs(5);

/// The kinds in plain words, for people (the API and the CLI keep the
/// contract spellings).
pub fn plain_words(kind: ConflictKind) -> &'static str {
    match kind {
        ConflictKind::Forged => "Forged code",
        ConflictKind::UnknownPass => "Unknown pass or another event's",
        ConflictKind::Superseded => "Old code of a re-issued pass",
        ConflictKind::OverLimit => "Used beyond its limit",
        ConflictKind::RevokedBeforeScan => "Revoked before the scan",
        ConflictKind::SuspendedBeforeScan => "Suspended before the scan",
        ConflictKind::OutsideValidity => "Outside its validity",
        ConflictKind::WrongGate => "Wrong gate",
        ConflictKind::ExpiredSnapshot => "Decided from an expired snapshot",
        ConflictKind::TimeInFuture => "Device clock ahead of the upload",
        ConflictKind::TimeBeforeSnapshot => "Scan time before its snapshot",
        // A kind added later shows under its contract spelling.
        other => other.as_str(),
    }
}

/// What the panel shows; sent as JSON once per refresh (SSE event
/// `conflicts`, and `GET /live/conflicts`). No token, no display text, no
/// full pass id: a pass appears as its 8-hex-digit prefix.
#[derive(Debug, Serialize)]
pub struct Panel {
    /// False until the first sweep since this start has ended: the counts
    /// are then those read so far, at least the true ones ("N+").
    pub complete: bool,
    /// When the sweep behind the counts ended (Unix ms); `None` before the
    /// first one.
    pub counted_at_ms: Option<i64>,
    /// Conflicts of every kind.
    pub total: u64,
    /// Every kind, in [`ConflictKind::ALL`]'s order, zeros included.
    pub kinds: Vec<KindCount>,
    /// The latest recorded, newest first, at most [`CONFLICTS_LATEST_MAX`].
    pub latest: Vec<LatestView>,
    /// Why the last page read failed, while it does (the counts shown are
    /// then the last ones read).
    pub error: Option<String>,
}

/// One kind's count.
#[derive(Debug, Serialize)]
pub struct KindCount {
    /// The contract spelling, e.g. `over_limit`.
    pub kind: &'static str,
    /// In plain words.
    pub label: &'static str,
    /// Conflicts of this kind.
    pub count: u64,
}

/// One recent conflict.
#[derive(Debug, Serialize)]
pub struct LatestView {
    /// When the gateway recorded it (Unix ms).
    pub at_ms: i64,
    /// The contract spelling.
    pub kind: &'static str,
    /// In plain words.
    pub label: &'static str,
    /// The gate the device stood at.
    pub gate: String,
    /// The device that decided offline.
    pub device: String,
    /// The device's clock at the scan (Unix ms): recorded, never trusted.
    pub device_time_ms: i64,
    /// The pass's first 8 hex digits; `None` for a forged token or an
    /// unknown pass.
    pub pass: Option<String>,
}

/// Counts by kind and the newest conflicts of one sweep.
#[derive(Debug, Clone, Default)]
struct Tally {
    counts: [u64; ConflictKind::ALL.len()],
    /// In recorded order, the newest last; at most [`CONFLICTS_LATEST_MAX`].
    latest: VecDeque<Conflict>,
}

impl Tally {
    fn add(&mut self, conflict: Conflict) {
        if let Some(i) = ConflictKind::ALL.iter().position(|k| *k == conflict.kind) {
            self.counts[i] += 1;
        }
        if self.latest.len() == CONFLICTS_LATEST_MAX {
            self.latest.pop_front();
        }
        self.latest.push_back(conflict);
    }
}

/// The sweep over the store's conflicts: see the module's docs.
#[derive(Debug, Default)]
pub struct Board {
    /// The sweep under way.
    sweeping: Tally,
    /// Where it goes on; `None`: from the first conflict.
    cursor: Option<Cursor>,
    /// The last complete sweep and when it ended.
    counted: Option<(Tally, i64)>,
    error: Option<String>,
}

impl Board {
    /// The next page to read.
    pub fn query(&self) -> ConflictQuery {
        ConflictQuery {
            after: self.cursor.clone(),
            limit: SWEEP_PAGE_ROWS,
            ..ConflictQuery::default()
        }
    }

    /// Adds a page read at `now_ms`; the last page of a sweep makes its
    /// tally the one shown and starts the next sweep.
    pub fn take(&mut self, page: Page<Conflict>, now_ms: i64) {
        self.error = None;
        for conflict in page.items {
            self.sweeping.add(conflict);
        }
        self.cursor = page.next;
        if self.cursor.is_none() {
            self.counted = Some((std::mem::take(&mut self.sweeping), now_ms));
        }
    }

    /// A page read that failed: shown until a read succeeds. The sweep goes
    /// on from the same cursor, or starts again if the store refused it.
    pub fn failed(&mut self, error: &StoreError) {
        self.error = Some(format!("the conflicts could not be read: {error}"));
        if matches!(error, StoreError::BadCursor) {
            self.cursor = None;
            self.sweeping = Tally::default();
        }
    }

    /// What the panel shows now.
    pub fn panel(&self) -> Panel {
        let (tally, counted_at_ms) = match &self.counted {
            Some((tally, at)) => (tally, Some(*at)),
            None => (&self.sweeping, None),
        };
        Panel {
            complete: self.counted.is_some(),
            counted_at_ms,
            total: tally.counts.iter().sum(),
            kinds: ConflictKind::ALL
                .iter()
                .zip(tally.counts)
                .map(|(kind, count)| KindCount {
                    kind: kind.as_str(),
                    label: plain_words(*kind),
                    count,
                })
                .collect(),
            latest: tally.latest.iter().rev().map(latest_view).collect(),
            error: self.error.clone(),
        }
    }

    /// The panel as JSON.
    pub fn json(&self) -> Arc<str> {
        // Plain structs of numbers and strings: serializing cannot fail.
        serde_json::to_string(&self.panel())
            .unwrap_or_default()
            .into()
    }
}

fn latest_view(c: &Conflict) -> LatestView {
    LatestView {
        at_ms: c.at_ms,
        kind: c.kind.as_str(),
        label: plain_words(c.kind),
        gate: c.gate.clone(),
        device: c.device.clone(),
        device_time_ms: c.device_time_ms,
        pass: c.pass_id.map(|p| p.short()),
    }
}

/// Sweeps `store`'s conflicts, one page per [`SNAPSHOT_INTERVAL`], and
/// publishes the panel after each page until `stop` is cancelled; then
/// the channel closes. A watch channel holds only the latest panel.
pub fn publish(store: Arc<dyn Store>, stop: CancellationToken) -> watch::Receiver<Arc<str>> {
    let mut board = Board::default();
    let (tx, rx) = watch::channel(board.json());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SNAPSHOT_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tick.tick() => {}
            }
            let read =
                tokio::time::timeout(SWEEP_READ_DEADLINE, store.query_conflicts(board.query()));
            match read.await {
                Ok(Ok(page)) => board.take(page, crate::now_ms()),
                Ok(Err(e)) => board.failed(&e),
                Err(_) => board.failed(&StoreError::Timeout(SWEEP_READ_DEADLINE)),
            }
            tx.send_replace(board.json());
        }
    });
    rx
}

#[cfg(test)]
mod tests;
