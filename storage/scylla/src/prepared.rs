//! Preparing every statement at start ([`Statements::prepare`]), each with
//! its class's profile and idempotence flag.

use super::config::{QUERY_PAGE_ROWS, ScyllaConfig};
use super::profiles::Profiles;
use super::statements::*;
use scangate_storage::StoreError;
use scylla::client::session::Session;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;

/// The prepared statements and batches, each with its class's settings.
pub struct Statements {
    pub claim: PreparedStatement,
    pub grant: Batch,
    pub offline_grant: Batch,
    pub override_grant: Batch,
    pub reissue: Batch,
    pub moved: Batch,
    pub event_put: PreparedStatement,
    pub event_get: PreparedStatement,
    pub events_all: PreparedStatement,
    pub conflict_row: PreparedStatement,
    pub conflicts_range: PreparedStatement,
    pub holder_link_set: PreparedStatement,
    pub holder_link_clear: PreparedStatement,
    pub holder_link_read: PreparedStatement,
    pub legacy_link_read: PreparedStatement,
    pub legacy_link_delete: PreparedStatement,
    pub erased_serial: PreparedStatement,
    pub mark_erased: PreparedStatement,
    pub denial: Batch,
    pub insert_pass: PreparedStatement,
    pub undo_insert: PreparedStatement,
    pub admin: Batch,
    pub erase: Batch,
    pub pass_key_put: PreparedStatement,
    pub pass_key_read: PreparedStatement,
    pub pass_key_delete: PreparedStatement,
    pub annul: Batch,
    pub forget_claim: PreparedStatement,
    pub forget_scan_id_row: PreparedStatement,
    pub scan_id_row_serial: PreparedStatement,
    pub pass_state_serial: PreparedStatement,
    pub claim_serial: PreparedStatement,
    pub audit_row_serial: PreparedStatement,
    pub load_pass: PreparedStatement,
    pub claim_read: PreparedStatement,
    pub scan_id_row_read: PreparedStatement,
    pub event_scan: PreparedStatement,
    pub bucket: PreparedStatement,
    pub scan_id_time: PreparedStatement,
    pub forget_scan_id_time: PreparedStatement,
    pub audit_log: PreparedStatement,
    pub pass_by_event: PreparedStatement,
    pub forget_pass_by_event: PreparedStatement,
    pub pass_log_range: PreparedStatement,
    pub event_scans_range: PreparedStatement,
    pub audit_log_range: PreparedStatement,
    pub buckets_range: PreparedStatement,
    pub passes_by_event_range: PreparedStatement,
    pub all_passes_first: PreparedStatement,
    pub all_passes_after: PreparedStatement,
    pub scan_id_times_range: PreparedStatement,
    pub retain_passes_first: PreparedStatement,
    pub retain_passes_after: PreparedStatement,
    pub retain_old_rows: PreparedStatement,
    pub retain_delete_row: PreparedStatement,
    pub retain_event_scan_delete: PreparedStatement,
    pub retain_audit_log_delete: PreparedStatement,
    pub retain_conflicts: PreparedStatement,
    pub retain_conflict_delete: PreparedStatement,
}

/// Prepares statements with their profiles.
struct Preparer<'s> {
    session: &'s Session,
    profiles: Profiles,
}

impl Preparer<'_> {
    async fn one(&self, def: Def) -> Result<PreparedStatement, StoreError> {
        let mut p = self.session.prepare(def.cql).await.map_err(|e| {
            StoreError::unavailable(format!("cannot prepare {} ({})", def.name, def.cql), e)
        })?;
        p.set_execution_profile_handle(self.profiles.get(def.class));
        p.set_is_idempotent(def.class.idempotent());
        if def.class == Class::Query {
            p.set_page_size(QUERY_PAGE_ROWS);
        }
        Ok(p)
    }

    async fn batch(&self, defs: &[Def]) -> Result<Batch, StoreError> {
        let mut batch = Batch::new(BatchType::Logged);
        for &d in defs {
            batch.append_statement(self.one(d).await?);
        }
        batch.set_execution_profile_handle(self.profiles.get(Class::Lwt));
        batch.set_is_idempotent(false);
        Ok(batch)
    }
}

impl Statements {
    /// Prepares everything on `session` (whose keyspace is set).
    pub async fn prepare(
        session: &Session,
        config: &ScyllaConfig,
    ) -> Result<Statements, StoreError> {
        let p = Preparer {
            session,
            profiles: Profiles::new(config),
        };
        Ok(Statements {
            claim: p.one(CLAIM).await?,
            grant: p.batch(&GRANT_BATCH).await?,
            offline_grant: p.batch(&OFFLINE_GRANT_BATCH).await?,
            override_grant: p.batch(&OVERRIDE_GRANT_BATCH).await?,
            reissue: p.batch(&REISSUE_BATCH).await?,
            moved: p.batch(&MOVE_BATCH).await?,
            event_put: p.one(EVENT_PUT).await?,
            event_get: p.one(EVENT_GET).await?,
            events_all: p.one(EVENTS_ALL).await?,
            conflict_row: p.one(CONFLICT_ROW).await?,
            conflicts_range: p.one(CONFLICTS_RANGE).await?,
            holder_link_set: p.one(HOLDER_LINK_SET).await?,
            holder_link_clear: p.one(HOLDER_LINK_CLEAR).await?,
            holder_link_read: p.one(HOLDER_LINK_READ).await?,
            legacy_link_read: p.one(LEGACY_LINK_READ).await?,
            legacy_link_delete: p.one(LEGACY_LINK_DELETE).await?,
            erased_serial: p.one(ERASED_SERIAL).await?,
            mark_erased: p.one(MARK_ERASED).await?,
            denial: p.batch(&DENIAL_BATCH).await?,
            insert_pass: p.one(INSERT_PASS).await?,
            undo_insert: p.one(UNDO_INSERT).await?,
            admin: p.batch(&ADMIN_BATCH).await?,
            erase: p.batch(&ERASE_BATCH).await?,
            pass_key_put: p.one(PASS_KEY_PUT).await?,
            pass_key_read: p.one(PASS_KEY_READ).await?,
            pass_key_delete: p.one(PASS_KEY_DELETE).await?,
            annul: p.batch(&ANNUL_BATCH).await?,
            forget_claim: p.one(FORGET_CLAIM).await?,
            forget_scan_id_row: p.one(FORGET_SCAN_ID_ROW).await?,
            scan_id_row_serial: p.one(SCAN_ID_ROW_SERIAL).await?,
            pass_state_serial: p.one(PASS_STATE_SERIAL).await?,
            claim_serial: p.one(CLAIM_SERIAL).await?,
            audit_row_serial: p.one(AUDIT_ROW_SERIAL).await?,
            load_pass: p.one(LOAD_PASS).await?,
            claim_read: p.one(CLAIM_READ).await?,
            scan_id_row_read: p.one(SCAN_ID_ROW_READ).await?,
            event_scan: p.one(EVENT_SCAN).await?,
            bucket: p.one(BUCKET).await?,
            scan_id_time: p.one(SCAN_ID_TIME).await?,
            forget_scan_id_time: p.one(FORGET_SCAN_ID_TIME).await?,
            audit_log: p.one(AUDIT_LOG).await?,
            pass_by_event: p.one(PASS_BY_EVENT).await?,
            forget_pass_by_event: p.one(FORGET_PASS_BY_EVENT).await?,
            pass_log_range: p.one(PASS_LOG_RANGE).await?,
            event_scans_range: p.one(EVENT_SCANS_RANGE).await?,
            audit_log_range: p.one(AUDIT_LOG_RANGE).await?,
            buckets_range: p.one(BUCKETS_RANGE).await?,
            passes_by_event_range: p.one(PASSES_BY_EVENT_RANGE).await?,
            all_passes_first: p.one(ALL_PASSES_FIRST).await?,
            all_passes_after: p.one(ALL_PASSES_AFTER).await?,
            scan_id_times_range: p.one(SCAN_ID_TIMES_RANGE).await?,
            retain_passes_first: p.one(RETAIN_PASSES_FIRST).await?,
            retain_passes_after: p.one(RETAIN_PASSES_AFTER).await?,
            retain_old_rows: p.one(RETAIN_OLD_ROWS).await?,
            retain_delete_row: p.one(RETAIN_DELETE_ROW).await?,
            retain_event_scan_delete: p.one(RETAIN_EVENT_SCAN_DELETE).await?,
            retain_audit_log_delete: p.one(RETAIN_AUDIT_LOG_DELETE).await?,
            retain_conflicts: p.one(RETAIN_CONFLICTS).await?,
            retain_conflict_delete: p.one(RETAIN_CONFLICT_DELETE).await?,
        })
    }
}
