//! The writes: scans (claim, then the pass's conditional batch), admin
//! changes, annuls and the scan-id purge. See the module docs of
//! [`super`] for the order and why it is safe.

use super::codec::{self, bucket, bucket_kind};
use super::config::PURGE_MAX_PER_CALL;
use super::outcome::{self, ClaimOwner, Resolution};
use super::{Lwt, ScyllaStore, read_failed};
use futures_util::{StreamExt, stream};
use scangate_core::{Annulment, AuditRecord, ScanRecord};
use scangate_storage::{Annul, StoreError};

/// Purge entries handled at once (each is two LWTs).
const PURGE_CONCURRENCY: usize = 16;

/// 64 random bits.
fn random_u64() -> Result<u64, StoreError> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes)
        .map_err(|e| StoreError::unavailable("no randomness", e.to_string()))?;
    Ok(u64::from_le_bytes(bytes))
}

/// A fresh tie-breaker for an audit line (and the stamp its batch is
/// recognised by): 64 random bits as hex.
fn audit_tag() -> Result<String, StoreError> {
    Ok(format!("{:016x}", random_u64()?))
}

impl ScyllaStore {
    /// [`scangate_storage::Store::commit_scan`].
    pub(super) async fn scan(&self, record: ScanRecord) -> Result<(), StoreError> {
        let _permit = self.permit()?;
        let granted = record.decision.is_granted();
        if granted && record.uses_after == 0 {
            // No count precedes 0: refused before anything is written.
            let state = self.pass_state_serial(record.pass_id).await?;
            return Err(StoreError::Conflict {
                pass: record.pass_id,
                stored_uses: state.map_or(0, |s| s.uses),
            });
        }
        let body = codec::encode(&record)?;
        self.claim(&record, &body).await?;
        let id = record.pass_id.0.as_slice();
        let sid = record.scan_id.as_str();
        let ttl = self.config.retention_ttl();
        // Tells this batch's row from an identical record of a concurrent
        // attempt when the outcome has to be read back.
        let attempt = random_u64()? as i64;
        let scan_id_row = (id, sid, body.as_slice(), attempt, ttl);
        let log_row = (id, record.at_ms, sid, body.as_slice());
        let after = i64::from(record.uses_after);
        let answer = if let Some(m) = record.movement.as_deref().filter(|_| granted) {
            // Spends a use only for an admission; otherwise the limit is
            // no condition (bound to 0, below any stored limit).
            let before = after - i64::from(m.admission);
            let limit_at_least = if m.admission { after } else { 0 };
            let state = (
                after,
                codec::presence_text(m.after),
                id,
                before,
                limit_at_least,
                codec::presence_text(m.before),
            );
            self.session
                .batch(&self.st.moved, (state, scan_id_row, log_row))
                .await
        } else if granted && record.offline.is_some() {
            let state = (after, id, after - 1);
            let values = (state, scan_id_row, log_row);
            self.session.batch(&self.st.offline_grant, values).await
        } else if let Some(audit) = granted.then(|| AuditRecord::of_override(&record)).flatten() {
            let (tag, audit_body) = (audit_tag()?, codec::encode(&audit)?);
            let audit_row = (id, audit.at_ms, tag.as_str(), audit_body.as_slice());
            let values = ((after, id, after - 1), scan_id_row, log_row, audit_row);
            self.session.batch(&self.st.override_grant, values).await
        } else if granted {
            self.session
                .batch(
                    &self.st.grant,
                    ((after, id, after - 1, after), scan_id_row, log_row),
                )
                .await
        } else {
            self.session
                .batch(&self.st.denial, (scan_id_row, log_row))
                .await
        };
        let lwt = self.lwt(if granted { "grant" } else { "denial" }, answer)?;
        self.settle_scan(&record, attempt, lwt).await?;
        debug_assert!(!granted || record.uses_after >= 1);
        self.scan_side_rows(&record).await;
        Ok(())
    }

    /// The outcome of a scan's conditional batch: applied; refused (a
    /// duplicate scan id or a count that moved, read back with SERIAL); or
    /// unknown, resolved by reading our attempt's stamp back.
    async fn settle_scan(
        &self,
        record: &ScanRecord,
        attempt: i64,
        lwt: Lwt,
    ) -> Result<(), StoreError> {
        match lwt {
            Lwt::Applied => Ok(()),
            Lwt::NotApplied => {
                let (row, state) = tokio::join!(
                    self.scan_id_row_serial(record.pass_id, &record.scan_id),
                    self.pass_state_serial(record.pass_id),
                );
                let err = outcome::scan_refused(record, row?.map(|r| r.record), state?);
                if let StoreError::DuplicateScanId { existing } = &err {
                    self.scan_side_rows(existing).await;
                }
                Err(err)
            }
            Lwt::Unknown => {
                let found = self
                    .scan_id_row_serial(record.pass_id, &record.scan_id)
                    .await?;
                let ours = (Some(attempt), record.clone());
                match outcome::resolve(&ours, found.map(|r| (r.attempt, r.record))) {
                    Resolution::Committed => Ok(()),
                    Resolution::Other(other) => {
                        let existing = Box::new(other.1);
                        self.scan_side_rows(&existing).await;
                        Err(StoreError::DuplicateScanId { existing })
                    }
                    Resolution::StillUnknown => Err(self.still_unknown()),
                }
            }
        }
    }

    /// Claims the scan id for the record's pass; `Ok` when the claim is the
    /// pass's (new, or left by an earlier attempt of the same scan id).
    async fn claim(&self, record: &ScanRecord, body: &[u8]) -> Result<(), StoreError> {
        let values = (
            record.scan_id.as_str(),
            record.pass_id.0.as_slice(),
            record.at_ms,
            body,
            self.config.retention_ttl(),
        );
        let answer = self.session.execute_unpaged(&self.st.claim, values).await;
        if let Lwt::Applied = self.lwt("claim", answer)? {
            return Ok(());
        }
        let found = self.claim_serial(&record.scan_id).await?;
        match outcome::claim_owner(record.pass_id, found) {
            ClaimOwner::Ours => Ok(()),
            ClaimOwner::Other { pass, intended } => {
                let stored = self.scan_id_row_serial(pass, &record.scan_id).await?;
                Err(StoreError::DuplicateScanId {
                    existing: stored.map_or(intended, |r| Box::new(r.record)),
                })
            }
            ClaimOwner::Nobody => Err(self.still_unknown()),
        }
    }

    /// The event's log line and the purge index entry of a stored scan.
    /// Idempotent; a failure is logged, not answered: the grant is durable
    /// and the pass's own log (in the batch) has it.
    async fn scan_side_rows(&self, record: &ScanRecord) {
        let body = match codec::encode(record) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "cannot encode a scan for the event log");
                return;
            }
        };
        self.conflict_side_rows(record).await;
        let sid = record.scan_id.as_str();
        let ttl = self.config.retention_ttl();
        let day = bucket(record.at_ms, codec::SCAN_ID_DAY_MS);
        let event_row = async {
            if record.event.is_empty() {
                return Ok(());
            }
            let b = bucket(record.at_ms, codec::EVENT_BUCKET_MS);
            let values = (record.event.as_str(), b, record.at_ms, sid, body.as_slice());
            self.session
                .execute_unpaged(&self.st.event_scan, values)
                .await
                .map_err(|e| read_failed(&e))?;
            self.note_bucket(bucket_kind::EVENT_SCANS, &record.event, b, 0)
                .await
        };
        let purge_entry = async {
            let values = (day, record.at_ms, sid, record.pass_id.0.as_slice(), ttl);
            self.session
                .execute_unpaged(&self.st.scan_id_time, values)
                .await
                .map_err(|e| read_failed(&e))?;
            let day_ttl =
                ttl.saturating_add(i32::try_from(codec::SCAN_ID_DAY_MS / 1000).unwrap_or(0));
            self.note_bucket(bucket_kind::SCAN_ID_DAYS, "", day, day_ttl)
                .await
        };
        let (a, b) = tokio::join!(event_row, purge_entry);
        for e in [a.err(), b.err()].into_iter().flatten() {
            metrics::counter!("scangate_scylla_log_write_failures_total").increment(1);
            tracing::warn!(error = %e, scan_id = %record.scan_id, "a scan's event log line or purge entry was not written; a retry of the scan rewrites it");
        }
    }

    /// Records that a log's bucket holds rows (once per bucket per
    /// [`super::SEEN_BUCKETS_TTL`] on this gateway). `ttl` 0: kept.
    pub(super) async fn note_bucket(
        &self,
        kind: &'static str,
        scope: &str,
        b: i64,
        ttl: i32,
    ) -> Result<(), StoreError> {
        let key = (kind, scope.to_owned(), b);
        if self.seen_buckets.contains_key(&key) {
            return Ok(());
        }
        self.session
            .execute_unpaged(&self.st.bucket, (kind, scope, b, ttl))
            .await
            .map_err(|e| read_failed(&e))?;
        self.seen_buckets.insert(key, ());
        Ok(())
    }

    /// [`scangate_storage::Store::commit_admin`]: the status if the pass exists, and
    /// the audit line, in one conditional batch.
    pub(super) async fn admin(&self, audit: AuditRecord) -> Result<(), StoreError> {
        self.admin_batch(&audit, None).await
    }

    /// An admin change's conditional batch, its outcome resolved, and its
    /// global audit line; with `erased`, the erase batch that also writes
    /// that record (no personal fields), clears the sealed bytes and the
    /// holder link, and sets the erased marker. Any other change of an
    /// erased pass is refused ([`StoreError::Erased`]).
    pub(super) async fn admin_batch(
        &self,
        audit: &AuditRecord,
        erased: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        let _permit = self.permit()?;
        let id = audit.pass_id;
        let tag = audit_tag()?;
        let body = codec::encode(audit)?;
        let audit_row = (id.0.as_slice(), audit.at_ms, tag.as_str(), body.as_slice());
        let (status, reason) = (
            codec::status_text(audit.status_after),
            audit.reason.as_str(),
        );
        let state = (status, reason, audit.at_ms, id.0.as_slice());
        if erased.is_none() && self.erased_before_marker(id).await? {
            // An erase is final (this one made before the marker existed).
            return Err(StoreError::Erased(id));
        }
        let answer = match (audit.token_generation, erased) {
            (_, Some(record)) => {
                let marked = (status, reason, audit.at_ms, audit.at_ms, id.0.as_slice());
                let cleared = (record, id.0.as_slice());
                self.session
                    .batch(&self.st.erase, (marked, cleared, audit_row))
                    .await
            }
            (Some(generation), None) => {
                // The record holds the generation: read it, set it, write it
                // back (only a re-issue changes a stored record after issue),
                // never with its personal fields (they stay sealed).
                let mut pass = self.read_pass(id).await?.ok_or(StoreError::NotFound(id))?;
                scangate_storage::personal::Personal::take(&mut pass);
                pass.token_generation = generation;
                pass.uses = 0;
                let record = codec::encode(&pass)?;
                let state = (record.as_slice(), id.0.as_slice());
                self.session
                    .batch(&self.st.reissue, (state, audit_row))
                    .await
            }
            (None, None) => self.session.batch(&self.st.admin, (state, audit_row)).await,
        };
        match self.lwt("admin", answer)? {
            Lwt::Applied => {}
            // The pass is unknown, or (but for an erase) erased.
            Lwt::NotApplied => return Err(self.refused(id).await),
            Lwt::Unknown => {
                let found = self.audit_row_serial(id, audit.at_ms, &tag).await?;
                match outcome::resolve(audit, found) {
                    Resolution::Committed => {}
                    Resolution::Other(_) => {
                        return Err(StoreError::Internal(format!(
                            "audit tag {tag} of pass {id} is taken by another record"
                        )));
                    }
                    Resolution::StillUnknown => return Err(self.still_unknown()),
                }
            }
        }
        self.audit_side_rows(audit, &tag, &body).await;
        Ok(())
    }

    /// The global audit log's line of a stored admin change. Logged, not
    /// answered, on failure: the pass's own audit line is in its batch.
    async fn audit_side_rows(&self, audit: &AuditRecord, tag: &str, body: &[u8]) {
        let b = bucket(audit.at_ms, codec::AUDIT_BUCKET_MS);
        let written = async {
            self.session
                .execute_unpaged(&self.st.audit_log, (b, audit.at_ms, tag, body))
                .await
                .map_err(|e| read_failed(&e))?;
            self.note_bucket(bucket_kind::AUDIT, "", b, 0).await
        };
        if let Err(e) = written.await {
            metrics::counter!("scangate_scylla_log_write_failures_total").increment(1);
            tracing::warn!(error = %e, pass = %audit.pass_id.short(), "an admin change's global audit line was not written");
        }
    }

    /// [`scangate_storage::Store::commit_annul`]: checked on a serial read, then one
    /// conditional batch (count unchanged, scan not yet annulled).
    pub(super) async fn annul(&self, annul: Annul) -> Result<ScanRecord, StoreError> {
        let _permit = self.permit()?;
        let found = self.scan_serial(&annul.scan_id).await?;
        let record = outcome::annul_check(&annul, found.map(|r| (r.uses, r.record)))?;
        let audit = &annul.audit;
        let id = record.pass_id;
        let mut annulled = record.clone();
        annulled.annulled = Some(Annulment {
            at_ms: audit.at_ms,
            who: audit.who.clone(),
        });
        let body = codec::encode(&annulled)?;
        let tag = audit_tag()?;
        let audit_body = codec::encode(audit)?;
        let (idb, sid) = (id.0.as_slice(), record.scan_id.as_str());
        let expected = i64::from(annul.expected_uses);
        let values = (
            (expected - 1, idb, expected),
            (self.config.retention_ttl(), body.as_slice(), idb, sid),
            (body.as_slice(), idb, record.at_ms, sid),
            (idb, audit.at_ms, tag.as_str(), audit_body.as_slice()),
        );
        let answer = self.session.batch(&self.st.annul, values).await;
        match self.lwt("annul", answer)? {
            Lwt::Applied => {}
            Lwt::NotApplied => {
                let now = self.scan_serial(&annul.scan_id).await?;
                return Err(outcome::annul_refused(
                    &annul,
                    now.map(|r| (r.uses, r.record)),
                ));
            }
            Lwt::Unknown => {
                // The batch wrote our audit line (random tag) or nothing.
                let ours = self.audit_row_serial(id, audit.at_ms, &tag).await?;
                if outcome::resolve(audit, ours) != Resolution::Committed {
                    let now = self.scan_serial(&annul.scan_id).await?;
                    return Err(
                        outcome::annul_unresolved(&annul, now.map(|r| (r.uses, r.record)))
                            .unwrap_or_else(|| self.still_unknown()),
                    );
                }
            }
        }
        self.scan_side_rows(&annulled).await;
        self.audit_side_rows(audit, &tag, &audit_body).await;
        Ok(annulled)
    }

    /// [`scangate_storage::Store::purge_scan_ids`]: forgets up to
    /// [`PURGE_MAX_PER_CALL`] scan ids of scans before `before_ms` (claim,
    /// scan-id row and index entry). Expiry does this routinely.
    pub(super) async fn purge(&self, before_ms: i64) -> Result<u64, StoreError> {
        let _permit = self.permit()?;
        let last_day = bucket(before_ms.saturating_sub(1), codec::SCAN_ID_DAY_MS);
        let days = self
            .buckets(bucket_kind::SCAN_ID_DAYS, "", i64::MIN, last_day)
            .await?;
        let mut entries: Vec<(i64, i64, String, Vec<u8>)> = Vec::new();
        for day in days {
            let left = PURGE_MAX_PER_CALL - entries.len();
            if left == 0 {
                break;
            }
            let limit = i32::try_from(left).unwrap_or(i32::MAX);
            let rows = self
                .rows::<_, (i64, String, Vec<u8>)>(
                    &self.st.scan_id_times_range,
                    (day, before_ms, limit),
                )
                .await?;
            entries.extend(rows.into_iter().map(|(at, sid, pass)| (day, at, sid, pass)));
        }
        let forgotten: Vec<Result<bool, StoreError>> =
            stream::iter(entries)
                .map(|(day, at, sid, pass)| async move {
                    self.forget_scan_id(day, at, &sid, &pass).await
                })
                .buffer_unordered(PURGE_CONCURRENCY)
                .collect()
                .await;
        let mut n = 0u64;
        for f in forgotten {
            n += u64::from(f?);
        }
        Ok(n)
    }

    /// Forgets one scan id; true if its claim or row was still there.
    pub(super) async fn forget_scan_id(
        &self,
        day: i64,
        at: i64,
        sid: &str,
        pass: &[u8],
    ) -> Result<bool, StoreError> {
        let claim = self
            .session
            .execute_unpaged(&self.st.forget_claim, (sid, pass))
            .await;
        let claim = self.lwt("forget claim", claim)?;
        let row = self
            .session
            .execute_unpaged(&self.st.forget_scan_id_row, (pass, sid))
            .await;
        let row = self.lwt("forget scan-id row", row)?;
        if matches!(claim, Lwt::Unknown) || matches!(row, Lwt::Unknown) {
            // Leave the index entry: the next purge tries again.
            return Err(self.still_unknown());
        }
        self.session
            .execute_unpaged(&self.st.forget_scan_id_time, (day, at, sid))
            .await
            .map_err(|e| read_failed(&e))?;
        Ok(matches!(claim, Lwt::Applied) || matches!(row, Lwt::Applied))
    }
}
