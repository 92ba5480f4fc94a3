//! The reads: a scan by id, the logs of a pass, of an event and of the
//! audit, and the paging they share (passes are in `passes`). Every page is
//! bounded like the embedded store's: at most its limit (clamped to
//! [`PAGE_MAX`]) items and [`EXAMINE_MAX`] stored entries examined (rows,
//! and one per bucket or shard visited), returning a cursor where it stopped.

use super::codec::{self, CursorKind, LogKey, bucket, bucket_kind, section};
use super::serial::{ScanIdColumns, ScanIdRow};
use super::{ScyllaStore, driver_data, read_failed};
use scangate_core::scan::Conflict;
use scangate_core::{AuditRecord, PassId, ScanId, ScanRecord};
use scangate_storage::LIST_MAX;
use scangate_storage::StoreError;
use scangate_storage::query::{
    AuditQuery, ConflictQuery, Cursor, EXAMINE_MAX, PAGE_MAX, Page, ScanQuery, ScanScope,
};
use scylla::deserialize::row::DeserializeRow;
use scylla::response::query_result::QueryRowsResult;
use scylla::response::{PagingState, PagingStateResponse};
use scylla::serialize::row::SerializeRow;
use scylla::statement::prepared::PreparedStatement;
use serde::de::DeserializeOwned;
use std::ops::ControlFlow;

/// Buckets of a log listed per index query.
pub(super) const BUCKETS_PER_QUERY: i32 = 256;

/// One page of a walk: what it kept, what it examined, where it resumes.
struct Walk<T> {
    items: Vec<T>,
    limit: usize,
    examined: usize,
    examine_max: usize,
    /// The inclusive lower bound the next page starts at.
    resume: LogKey,
}

impl<T> Walk<T> {
    fn new(limit: usize, examine_max: usize, resume: LogKey) -> Walk<T> {
        Walk {
            items: Vec::with_capacity(limit.min(64)),
            limit,
            examined: 0,
            examine_max,
            resume,
        }
    }

    fn full(&self) -> bool {
        self.items.len() >= self.limit || self.examined >= self.examine_max
    }

    fn page(self, stopped: bool, kind: CursorKind) -> Page<T> {
        Page {
            next: stopped.then(|| codec::log_cursor(kind, &self.resume)),
            items: self.items,
        }
    }
}

/// A bucketed log.
#[derive(Clone, Copy)]
enum Log<'a> {
    /// An event's scans.
    Event(&'a str),
    /// Every admin change.
    Audit,
    /// Every conflict.
    Conflicts,
}

/// Keeps a decoded body when it matches; `None` skips it.
type Keep<'k, T> = dyn FnMut(&[u8]) -> Result<Option<T>, StoreError> + Send + 'k;

impl ScyllaStore {
    /// The first row of an unpaged read.
    pub(super) async fn first_row<V, R>(
        &self,
        stmt: &PreparedStatement,
        values: V,
    ) -> Result<Option<R>, StoreError>
    where
        V: SerializeRow,
        R: for<'f> DeserializeRow<'f, 'f>,
    {
        let rows = self.unpaged(stmt, values).await?;
        rows.maybe_first_row::<R>().map_err(|e| driver_data(&e))
    }

    /// Every row of an unpaged read whose statement has a `LIMIT`.
    pub(super) async fn rows<V, R>(
        &self,
        stmt: &PreparedStatement,
        values: V,
    ) -> Result<Vec<R>, StoreError>
    where
        V: SerializeRow,
        R: for<'f> DeserializeRow<'f, 'f>,
    {
        let rows = self.unpaged(stmt, values).await?;
        let iter = rows.rows::<R>().map_err(|e| driver_data(&e))?;
        iter.collect::<Result<Vec<R>, _>>()
            .map_err(|e| driver_data(&e))
    }

    /// The rows of an unpaged read.
    async fn unpaged<V: SerializeRow>(
        &self,
        stmt: &PreparedStatement,
        values: V,
    ) -> Result<QueryRowsResult, StoreError> {
        self.session
            .execute_unpaged(stmt, values)
            .await
            .map_err(|e| read_failed(&e))?
            .into_rows_result()
            .map_err(|e| driver_data(&e))
    }

    /// One driver page of a paged read and where the next starts.
    pub(super) async fn page<V, R>(
        &self,
        stmt: &PreparedStatement,
        values: &V,
        paging: PagingState,
    ) -> Result<(Vec<R>, Option<PagingState>), StoreError>
    where
        V: SerializeRow,
        R: for<'f> DeserializeRow<'f, 'f>,
    {
        let (result, more): (_, PagingStateResponse) = self
            .session
            .execute_single_page(stmt, values, paging)
            .await
            .map_err(|e| read_failed(&e))?;
        let rows = result.into_rows_result().map_err(|e| driver_data(&e))?;
        let iter = rows.rows::<R>().map_err(|e| driver_data(&e))?;
        let rows = iter
            .collect::<Result<Vec<R>, _>>()
            .map_err(|e| driver_data(&e))?;
        let next = match more.into_paging_control_flow() {
            ControlFlow::Continue(p) => Some(p),
            ControlFlow::Break(()) => None,
        };
        Ok((rows, next))
    }

    /// Walks the `(at_ms, tag, body)` rows `stmt` selects until they end
    /// (false) or the walk is full while rows remain (true).
    async fn walk_log<V: SerializeRow, T>(
        &self,
        stmt: &PreparedStatement,
        values: V,
        walk: &mut Walk<T>,
        keep: &mut Keep<'_, T>,
    ) -> Result<bool, StoreError> {
        let mut paging = PagingState::start();
        loop {
            let (rows, next) = self
                .page::<_, (i64, String, Vec<u8>)>(stmt, &values, paging)
                .await?;
            for (at, tag, body) in rows {
                if walk.full() {
                    return Ok(true);
                }
                walk.examined += 1;
                walk.resume = LogKey::after(at, &tag);
                if let Some(item) = keep(&body)? {
                    walk.items.push(item);
                }
            }
            match next {
                Some(p) => paging = p,
                None => return Ok(false),
            }
        }
    }

    /// One section of a pass's partition, `[lower, upper)`, as a page.
    #[allow(clippy::too_many_arguments)]
    async fn section_page<T>(
        &self,
        id: PassId,
        sec: i8,
        lower: LogKey,
        upper: LogKey,
        limit: usize,
        examine_max: usize,
        kind: CursorKind,
        keep: &mut Keep<'_, T>,
    ) -> Result<Page<T>, StoreError> {
        let mut walk = Walk::new(limit, examine_max, lower.clone());
        if lower >= upper || limit == 0 {
            return Ok(walk.page(false, kind));
        }
        let values = (
            id.0.as_slice(),
            sec,
            lower.at_ms,
            lower.tag.as_str(),
            sec,
            upper.at_ms,
            upper.tag.as_str(),
        );
        let stopped = self
            .walk_log(&self.st.pass_log_range, values, &mut walk, keep)
            .await?;
        Ok(walk.page(stopped, kind))
    }

    /// The buckets of a log in `[from, to]` that hold rows, at most
    /// [`BUCKETS_PER_QUERY`].
    pub(super) async fn buckets(
        &self,
        kind: &str,
        scope: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let rows = self
            .rows::<_, (i64,)>(
                &self.st.buckets_range,
                (kind, scope, from, to, BUCKETS_PER_QUERY),
            )
            .await?;
        Ok(rows.into_iter().map(|(b,)| b).collect())
    }

    /// A bucketed log, `[lower, upper)`, as a page.
    async fn bucketed_page<T>(
        &self,
        log: Log<'_>,
        lower: LogKey,
        upper: LogKey,
        limit: usize,
        keep: &mut Keep<'_, T>,
    ) -> Result<Page<T>, StoreError> {
        let (kind, scope, width, cursor) = match log {
            Log::Event(e) => (
                bucket_kind::EVENT_SCANS,
                e,
                codec::EVENT_BUCKET_MS,
                CursorKind::Scans,
            ),
            Log::Audit => (
                bucket_kind::AUDIT,
                "",
                codec::AUDIT_BUCKET_MS,
                CursorKind::Audit,
            ),
            Log::Conflicts => (
                bucket_kind::CONFLICTS,
                "",
                codec::AUDIT_BUCKET_MS,
                CursorKind::Conflicts,
            ),
        };
        let mut walk = Walk::new(limit, EXAMINE_MAX, lower.clone());
        if lower >= upper {
            return Ok(walk.page(false, cursor));
        }
        let last = bucket(upper.at_ms.saturating_sub(1), width);
        let mut from = bucket(lower.at_ms, width);
        loop {
            let buckets = self.buckets(kind, scope, from, last).await?;
            let listed = buckets.len();
            for b in buckets {
                if walk.full() {
                    return Ok(walk.page(true, cursor));
                }
                walk.examined += 1; // the bucket's index row
                if self.walk_bucket(log, b, &upper, &mut walk, keep).await? {
                    return Ok(walk.page(true, cursor));
                }
                let next_start = LogKey::at(b.saturating_add(1).saturating_mul(width));
                if next_start > walk.resume {
                    walk.resume = next_start;
                }
                from = b.saturating_add(1);
            }
            if listed < BUCKETS_PER_QUERY as usize || from > last {
                return Ok(walk.page(false, cursor));
            }
        }
    }

    /// Walks bucket `b` of a log from the walk's resume key up to `upper`:
    /// true if the walk filled while rows remain.
    async fn walk_bucket<T>(
        &self,
        log: Log<'_>,
        b: i64,
        upper: &LogKey,
        walk: &mut Walk<T>,
        keep: &mut Keep<'_, T>,
    ) -> Result<bool, StoreError> {
        let start = walk.resume.clone();
        let (from, to) = (
            (start.at_ms, start.tag.as_str()),
            (upper.at_ms, upper.tag.as_str()),
        );
        match log {
            Log::Event(event) => {
                let values = (event, b, from.0, from.1, to.0, to.1);
                self.walk_log(&self.st.event_scans_range, values, walk, keep)
                    .await
            }
            Log::Audit => {
                let values = (b, from.0, from.1, to.0, to.1);
                self.walk_log(&self.st.audit_log_range, values, walk, keep)
                    .await
            }
            Log::Conflicts => {
                let values = (b, from.0, from.1, to.0, to.1);
                self.walk_log(&self.st.conflicts_range, values, walk, keep)
                    .await
            }
        }
    }

    /// [`scangate_storage::Store::find_scan`]: its claim names the pass, whose scan-id
    /// row holds the record (a claim without a row was never recorded).
    pub(super) async fn read_scan(
        &self,
        scan_id: &ScanId,
    ) -> Result<Option<ScanRecord>, StoreError> {
        let claim = self
            .first_row::<_, (Option<Vec<u8>>, Option<Vec<u8>>)>(
                &self.st.claim_read,
                (scan_id.as_str(),),
            )
            .await?;
        let Some((Some(pass), _)) = claim else {
            return Ok(None);
        };
        let row = self
            .first_row::<_, ScanIdColumns>(
                &self.st.scan_id_row_read,
                (pass.as_slice(), scan_id.as_str()),
            )
            .await?;
        Ok(ScanIdRow::decode(row)?.map(|r| r.record))
    }

    /// [`scangate_storage::Store::list_scans`].
    pub(super) async fn pass_scans(
        &self,
        pass: PassId,
        limit: usize,
    ) -> Result<Vec<ScanRecord>, StoreError> {
        self.pass_log(
            pass,
            section::SCAN_LOG,
            CursorKind::Scans,
            "scan record",
            limit,
        )
        .await
    }

    /// [`scangate_storage::Store::list_audit`].
    pub(super) async fn pass_audit(
        &self,
        pass: PassId,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        self.pass_log(
            pass,
            section::AUDIT,
            CursorKind::Audit,
            "audit record",
            limit,
        )
        .await
    }

    /// The first `limit` (at most [`LIST_MAX`]) records of one log section
    /// of a pass, oldest first, each decoded as a `what`.
    async fn pass_log<T: DeserializeOwned + Send>(
        &self,
        pass: PassId,
        sec: i8,
        kind: CursorKind,
        what: &str,
        limit: usize,
    ) -> Result<Vec<T>, StoreError> {
        let limit = limit.min(LIST_MAX);
        let mut keep = |b: &[u8]| codec::decode::<T>(b, what).map(Some);
        let page = self
            .section_page(
                pass,
                sec,
                LogKey::at(i64::MIN),
                LogKey::at(i64::MAX),
                limit,
                LIST_MAX,
                kind,
                &mut keep,
            )
            .await?;
        Ok(page.items)
    }

    /// [`scangate_storage::Store::query_scans`].
    pub(super) async fn scans_page(&self, q: &ScanQuery) -> Result<Page<ScanRecord>, StoreError> {
        let (lower, upper) = bounds(CursorKind::Scans, q.after.as_ref(), q.from_ms, q.until_ms)?;
        let limit = q.limit.clamp(1, PAGE_MAX);
        let mut keep = |b: &[u8]| {
            let r: ScanRecord = codec::decode(b, "scan record")?;
            Ok(q.matches(&r).then_some(r))
        };
        match &q.scope {
            ScanScope::Pass(id) => {
                self.section_page(
                    *id,
                    section::SCAN_LOG,
                    lower,
                    upper,
                    limit,
                    EXAMINE_MAX,
                    CursorKind::Scans,
                    &mut keep,
                )
                .await
            }
            ScanScope::Event(event) => {
                self.bucketed_page(Log::Event(event), lower, upper, limit, &mut keep)
                    .await
            }
        }
    }

    /// [`scangate_storage::Store::query_audit`].
    pub(super) async fn audit_page(&self, q: &AuditQuery) -> Result<Page<AuditRecord>, StoreError> {
        let (lower, upper) = bounds(CursorKind::Audit, q.after.as_ref(), q.from_ms, q.until_ms)?;
        let limit = q.limit.clamp(1, PAGE_MAX);
        let mut keep = |b: &[u8]| codec::decode::<AuditRecord>(b, "audit record").map(Some);
        match q.pass {
            Some(id) => {
                self.section_page(
                    id,
                    section::AUDIT,
                    lower,
                    upper,
                    limit,
                    EXAMINE_MAX,
                    CursorKind::Audit,
                    &mut keep,
                )
                .await
            }
            None => {
                self.bucketed_page(Log::Audit, lower, upper, limit, &mut keep)
                    .await
            }
        }
    }
}

impl ScyllaStore {
    /// [`scangate_storage::Store::query_conflicts`]: the conflicts index by
    /// time, filtered.
    pub(super) async fn conflicts_page(
        &self,
        q: &ConflictQuery,
    ) -> Result<Page<Conflict>, StoreError> {
        let kind = CursorKind::Conflicts;
        let (lower, upper) = bounds(kind, q.after.as_ref(), q.from_ms, q.until_ms)?;
        let limit = q.limit.clamp(1, PAGE_MAX);
        let mut keep = |b: &[u8]| {
            let c = codec::decode::<Conflict>(b, "conflict")?;
            Ok(q.matches(&c).then_some(c))
        };
        self.bucketed_page(Log::Conflicts, lower, upper, limit, &mut keep)
            .await
    }
}

/// The `[lower, upper)` keys of a time-filtered log query continuing
/// after `after`.
fn bounds(
    kind: CursorKind,
    after: Option<&Cursor>,
    from_ms: Option<i64>,
    until_ms: Option<i64>,
) -> Result<(LogKey, LogKey), StoreError> {
    let mut lower = LogKey::at(from_ms.unwrap_or(i64::MIN));
    if let Some(c) = after {
        let resume = codec::parse_log_cursor(kind, c)?;
        if resume > lower {
            lower = resume;
        }
    }
    Ok((lower, LogKey::at(until_ms.unwrap_or(i64::MAX))))
}
