//! Inserting passes: all or none, each an LWT `IF NOT EXISTS`, undone
//! when any of the call's passes exists or fails; and the event index.

use super::codec;
use super::config::INSERT_CONCURRENCY;
use super::{Lwt, ScyllaStore, read_failed};
use futures_util::{StreamExt, stream};
use scangate_core::Pass;
use scangate_storage::StoreError;
use scangate_storage::personal::{self, PassKey};

/// A pass as inserted: its encoded public record, and its key with its
/// sealed personal fields when it has any.
type Stored = (Vec<u8>, Option<(PassKey, Vec<u8>)>);
use std::collections::HashSet;

impl ScyllaStore {
    /// [`scangate_storage::Store::insert_passes`]: all or none. Each pass is a LWT
    /// `IF NOT EXISTS`; if any exists (or fails), the ones this call
    /// inserted are deleted again.
    pub(super) async fn insert(&self, passes: Vec<Pass>) -> Result<(), StoreError> {
        if passes.len() > self.config.insert_max_passes {
            return Err(StoreError::TooLarge {
                what: "passes in one insert",
                got: passes.len(),
                max: self.config.insert_max_passes,
            });
        }
        if passes.is_empty() {
            return Ok(());
        }
        let _permit = self.permit()?;
        let mut seen = HashSet::with_capacity(passes.len());
        for p in &passes {
            if !seen.insert(p.id) {
                return Err(StoreError::PassExists(p.id));
            }
        }
        // Personal fields are sealed under a fresh key per pass; the record
        // holds none of them in the clear.
        let mut records = Vec::with_capacity(passes.len());
        for p in &passes {
            let mut stored = p.clone();
            stored.uses = 0;
            let split = personal::split(stored)?;
            records.push((codec::encode(&split.public)?, split.sealed));
        }
        // The event index first: an index entry without its pass is skipped
        // by readers, a pass without its entry would be missing from lists.
        let indexed: Vec<Result<(), StoreError>> = stream::iter(0..passes.len())
            .map(|n| self.index_pass(&passes[n], true))
            .buffer_unordered(INSERT_CONCURRENCY)
            .collect()
            .await;
        indexed.into_iter().collect::<Result<(), StoreError>>()?;
        let inserted: Vec<(usize, Result<Lwt, StoreError>)> = stream::iter(0..passes.len())
            .map(|n| {
                let row = self.insert_row(&passes[n], &records[n]);
                async move { (n, row.await) }
            })
            .buffer_unordered(INSERT_CONCURRENCY)
            .collect()
            .await;
        self.settle_insert(&passes, inserted).await
    }

    /// One pass's row, `IF NOT EXISTS`, from its encoded public record;
    /// with sealed personal fields, their key first (`IF NOT EXISTS` too,
    /// taken back if the row then does not go in).
    async fn insert_row(&self, p: &Pass, stored: &Stored) -> Result<Lwt, StoreError> {
        let (record, sealed) = stored;
        if let Some((key, _)) = sealed {
            match self.put_key(p.id, key).await {
                Ok(()) => {}
                Err(StoreError::PassExists(_)) => return Ok(Lwt::NotApplied),
                Err(e) => return Err(e),
            }
        }
        let values = (
            p.id.0.as_slice(),
            record.as_slice(),
            i64::from(p.uses),
            codec::status_text(p.status),
            p.status_reason.as_deref(),
            codec::use_limit(p.max_uses),
            sealed.as_ref().map(|(_, bytes)| bytes.as_slice()),
        );
        let answer = self
            .session
            .execute_unpaged(&self.st.insert_pass, values)
            .await;
        let outcome = self.lwt("insert pass", answer);
        if sealed.is_some() && matches!(outcome, Ok(Lwt::NotApplied)) {
            // Our key went in beside another pass that has none: take it back.
            self.delete_key(p.id).await?;
        }
        outcome
    }

    /// All or none: if any pass of an insert was not inserted (or its
    /// outcome is unknown), deletes every one this insert may have written
    /// and answers the first failure.
    async fn settle_insert(
        &self,
        passes: &[Pass],
        inserted: Vec<(usize, Result<Lwt, StoreError>)>,
    ) -> Result<(), StoreError> {
        let mut failure = None;
        let mut undo = Vec::new();
        for (n, outcome) in inserted {
            match outcome {
                Ok(Lwt::Applied) => undo.push(n),
                Ok(Lwt::NotApplied) => {
                    failure.get_or_insert(StoreError::PassExists(passes[n].id));
                }
                Ok(Lwt::Unknown) => {
                    undo.push(n);
                    failure.get_or_insert_with(|| self.still_unknown());
                }
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        let Some(failure) = failure else {
            return Ok(());
        };
        let undone: Vec<Result<(), StoreError>> = stream::iter(undo)
            .map(|n| self.undo_insert(&passes[n]))
            .buffer_unordered(INSERT_CONCURRENCY)
            .collect()
            .await;
        let not_undone = undone.iter().filter(|r| r.is_err()).count();
        if not_undone > 0 {
            tracing::error!(
                not_undone,
                "an insert failed and some of its passes could not be taken back"
            );
        }
        Err(failure)
    }

    /// Writes (or, `add` false, deletes) a pass's event index entry.
    async fn index_pass(&self, p: &Pass, add: bool) -> Result<(), StoreError> {
        let values = (
            p.event.as_str(),
            codec::event_shard(p.id),
            p.id.0.as_slice(),
        );
        let stmt = if add {
            &self.st.pass_by_event
        } else {
            &self.st.forget_pass_by_event
        };
        self.session
            .execute_unpaged(stmt, values)
            .await
            .map(|_| ())
            .map_err(|e| read_failed(&e))
    }

    /// Deletes a pass this call inserted, if nothing used it since.
    async fn undo_insert(&self, p: &Pass) -> Result<(), StoreError> {
        let answer = self
            .session
            .execute_unpaged(&self.st.undo_insert, (p.id.0.as_slice(), i64::from(p.uses)))
            .await;
        self.lwt("undo insert", answer)?;
        self.delete_key(p.id).await?;
        self.index_pass(p, false).await
    }
}
