//! The pass reads: one pass, and the operator plane's pass listings (an
//! event's passes in id order through `passes_by_event`, or every pass in
//! token order), each page bounded like the embedded store's.

use super::ScyllaStore;
use super::codec::{self, EVENT_SHARDS, FromColumns, StateColumns};
use super::config::LOAD_CONCURRENCY;
use futures_util::{StreamExt, stream};
use scangate_core::{Pass, PassId};
use scangate_storage::PassState;
use scangate_storage::StoreError;
use scangate_storage::query::{Cursor, EXAMINE_MAX, PAGE_MAX, Page, PassQuery};
use scylla::response::PagingState;

/// The columns of a pass as `load pass` and `all passes` read them, less
/// `personal` (the sealed fields, read beside them).
type PassColumns = (
    Option<Vec<u8>>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

/// A row of `load pass`: [`PassColumns`], then the sealed fields.
type LoadRow = (
    Option<Vec<u8>>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<Vec<u8>>,
);

/// A row of `all passes`: the id, [`PassColumns`], the sealed fields.
type AllPassesRow = (
    Vec<u8>,
    Option<Vec<u8>>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<Vec<u8>>,
);

/// A pass from its columns; `None` when it has no record (no such pass).
fn pass_from(id: PassId, c: PassColumns) -> Result<Option<Pass>, StoreError> {
    match c {
        (Some(record), Some(uses), Some(status), reason, Some(use_limit), since, presence) => {
            let state = PassState::from_columns(
                id,
                &StateColumns {
                    uses,
                    status,
                    use_limit,
                    presence,
                },
            )?;
            scangate_storage::record::merge_pass(id, &record, state).map(|mut pass| {
                // The status reason lives beside the state columns here.
                pass.status_reason = reason;
                // So does the time of the last status change (unset: never
                // changed, or changed before schema 2).
                pass.status_since_ms = since;
                Some(pass)
            })
        }
        (None, ..) => Ok(None),
        _ => Err(StoreError::Corrupt(format!(
            "pass {id} has a record but not all of its state"
        ))),
    }
}

impl ScyllaStore {
    /// [`scangate_storage::Store::load_pass`].
    pub(super) async fn read_pass(&self, id: PassId) -> Result<Option<Pass>, StoreError> {
        let row = self
            .first_row::<_, LoadRow>(&self.st.load_pass, (id.0.as_slice(),))
            .await?;
        let Some((record, uses, status, reason, use_limit, since, presence, sealed)) = row else {
            return Ok(None);
        };
        let pass = pass_from(
            id,
            (record, uses, status, reason, use_limit, since, presence),
        )?;
        self.with_personal(pass, sealed).await
    }

    /// [`scangate_storage::Store::query_passes`].
    pub(super) async fn passes_page(&self, q: &PassQuery) -> Result<Page<Pass>, StoreError> {
        let after = q.after.as_ref().map(codec::parse_pass_cursor).transpose()?;
        let limit = q.limit.clamp(1, PAGE_MAX);
        match &q.event {
            Some(event) => self.event_passes(q, event, after, limit).await,
            None => self.all_passes(q, after, limit).await,
        }
    }

    /// An event's passes in id order, shard by shard.
    async fn event_passes(
        &self,
        q: &PassQuery,
        event: &str,
        after: Option<PassId>,
        limit: usize,
    ) -> Result<Page<Pass>, StoreError> {
        // An entry may also point at a pass of another event (an insert that
        // collided with an existing id): only the event's own passes count.
        let matches = |p: &Pass| p.event == event && q.matches(p);
        let mut listing = Listing {
            items: Vec::with_capacity(limit.min(64)),
            examined: 0,
            last: after,
            limit,
        };
        let mut shard = after.map_or(0, codec::event_shard);
        let mut after_id: Vec<u8> = after.map_or_else(Vec::new, |id| id.0.to_vec());
        while shard < EVENT_SHARDS {
            if listing.full() {
                return Ok(listing.page());
            }
            listing.examined += 1; // the shard itself
            let values = (event, shard, after_id.as_slice());
            let mut paging = PagingState::start();
            loop {
                let (rows, next) = self
                    .page::<_, (Vec<u8>,)>(&self.st.passes_by_event_range, &values, paging)
                    .await?;
                for chunk in rows.chunks(LOAD_CONCURRENCY) {
                    if self.load_chunk(chunk, &mut listing, &matches).await? {
                        return Ok(listing.page());
                    }
                }
                match next {
                    Some(p) => paging = p,
                    None => break,
                }
            }
            // Resume after the largest id this shard can hold.
            let mut end = [0xffu8; 16];
            end[0] = (u8::try_from(shard).unwrap_or(0) << 4) | 0x0f;
            listing.last = Some(PassId(end));
            shard += 1;
            after_id.clear();
        }
        Ok(Page {
            items: listing.items,
            next: None,
        })
    }

    /// Loads the passes of a chunk of index entries (concurrently, in
    /// order) into `listing`, keeping those that `matches`; true once the
    /// listing is full with entries left.
    async fn load_chunk(
        &self,
        chunk: &[(Vec<u8>,)],
        listing: &mut Listing,
        matches: &impl Fn(&Pass) -> bool,
    ) -> Result<bool, StoreError> {
        let ids = chunk
            .iter()
            .map(|(b,)| codec::pass_id(b))
            .collect::<Result<Vec<_>, _>>()?;
        let loaded: Vec<Result<Option<Pass>, StoreError>> = stream::iter(ids.iter().copied())
            .map(|id| self.read_pass(id))
            .buffered(LOAD_CONCURRENCY)
            .collect()
            .await;
        for (id, pass) in ids.into_iter().zip(loaded) {
            if listing.full() {
                return Ok(true);
            }
            listing.examined += 1;
            listing.last = Some(id);
            // An index entry of an insert that was undone: skip.
            if let Some(p) = pass?.filter(|p| matches(p)) {
                listing.items.push(p);
            }
        }
        Ok(false)
    }

    /// Every pass, in token order.
    async fn all_passes(
        &self,
        q: &PassQuery,
        after: Option<PassId>,
        limit: usize,
    ) -> Result<Page<Pass>, StoreError> {
        let mut items = Vec::with_capacity(limit.min(64));
        let mut examined = 0usize;
        let mut last = after;
        let mut paging = PagingState::start();
        loop {
            let (rows, next): (Vec<AllPassesRow>, _) = match after {
                None => self.page(&self.st.all_passes_first, &(), paging).await?,
                Some(id) => {
                    self.page(&self.st.all_passes_after, &(id.0.as_slice(),), paging)
                        .await?
                }
            };
            for (id, record, uses, status, reason, use_limit, since, presence, sealed) in rows {
                if items.len() >= limit || examined >= EXAMINE_MAX {
                    return Ok(Page {
                        items,
                        next: last.map(|id| Cursor(id.0.to_vec())),
                    });
                }
                let id = codec::pass_id(&id)?;
                examined += 1;
                last = Some(id);
                if q.status
                    .is_some_and(|s| status.as_deref() != Some(s.as_str()))
                {
                    continue; // skip the record decode
                }
                let pass = pass_from(
                    id,
                    (record, uses, status, reason, use_limit, since, presence),
                )?;
                if let Some(p) = self.with_personal(pass, sealed).await?
                    && q.matches(&p)
                {
                    items.push(p);
                }
            }
            match next {
                Some(p) => paging = p,
                None => return Ok(Page { items, next: None }),
            }
        }
    }
}

/// A page of an event's passes being gathered.
struct Listing {
    items: Vec<Pass>,
    /// Index entries (and shards) looked at, bounded by [`EXAMINE_MAX`].
    examined: usize,
    /// The last id looked at: where the next page resumes.
    last: Option<PassId>,
    limit: usize,
}

impl Listing {
    /// Whether the page is full or has examined its share.
    fn full(&self) -> bool {
        self.items.len() >= self.limit || self.examined >= EXAMINE_MAX
    }

    /// The page so far, resuming after the last id looked at.
    fn page(self) -> Page<Pass> {
        Page {
            items: self.items,
            next: self.last.map(|id| Cursor(id.0.to_vec())),
        }
    }
}
