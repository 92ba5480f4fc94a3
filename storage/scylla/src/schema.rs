//! The keyspace and its tables, created and migrated by the gateway at
//! start: idempotent (`IF NOT EXISTS` everywhere) and versioned (the
//! `schema_version` table, bumped by a LWT after each migration, so gateways
//! starting together agree on it).
//!
//! | table | partition key | clustering | holds |
//! | --- | --- | --- | --- |
//! | `passes` | `id` | `section, at_ms, tag` | static: the pass record, `uses`, `status`, `status_reason`, `use_limit`, `erased_ms` (what every LWT checks), `holder_link`; section 0: scan-id rows (TTL, the retry window; `attempt` stamps the batch that wrote one); 1: the pass's scan log; 2: its audit log |
//! | `scan_ids` | `scan_id` | | the claim: which pass a scan id belongs to (TTL) |
//! | `event_scans` | `event, bucket` | `at_ms, scan_id` | an event's scan log in 10 s buckets |
//! | `audit_log` | `bucket` | `at_ms, tag` | every admin change in 1 h buckets |
//! | `buckets` | `kind, scope` | `bucket` | which buckets of a log hold rows |
//! | `passes_by_event` | `event, shard` | `id` | an event's passes, 16 shards by id |
//! | `scan_id_times` | `day` | `at_ms, scan_id` | the purge index of scan ids (TTL) |
//! | `conflicts` | `bucket` | `at_ms, tag` | flagged offline scans in 1 h buckets, by time recorded (an index: the scan record in the pass's partition holds its conflicts) |
//! | `holder_links` | `pass_id` | | links made under schema 3–4: the SHA-256 of its secret ‖ created_ms (40 B); read when `passes.holder_link` is null, never written since schema 5 |
//! | `pass_keys` | `pass_id` | | a pass's personal-data key (32 B), apart from its sealed fields (`passes.personal`, static); deleted by an erase |
//! | `schema_version` | `component` | | the migration applied last |
//!
//! Migration 2 adds `passes.status_since` (static: when the status last
//! changed) and the `conflicts` table. Migration 3 adds `holder_links`.
//! Migration 4 adds `pass_keys` and `passes.personal` (static: the pass's
//! display text and card fields sealed under its key,
//! [`scangate_storage::personal`]); pass records written since hold no
//! personal field in the clear. Migration 5 adds `passes.erased_ms`
//! (static: when the pass was erased; null: never) and `passes.holder_link`
//! (static: the link, so setting it is a LWT conditional on
//! `erased_ms = null`, and an erase clears it in its own batch).

use super::config::ScyllaConfig;
use super::profiles::profile;
use super::statements::Class;
use scangate_storage::StoreError;
use scylla::client::session::Session;
use scylla::statement::Statement;
use std::time::Duration;

/// The schema this build reads and writes. Bump it with a new entry of
/// `MIGRATIONS` on any change to the tables or to the encoded records.
pub const SCHEMA_VERSION: i32 = 5;

/// Deadline of one schema statement: a DDL waits for schema agreement
/// across the cluster, which takes seconds on a busy one.
const DDL_TIMEOUT: Duration = Duration::from_secs(30);

/// The row of `schema_version` this backend owns.
const COMPONENT: &str = "scangate";

/// Migration `n` is `MIGRATIONS[n - 1]`: statements that are each safe to
/// run again.
pub(crate) const MIGRATIONS: [&[&str]; 5] = [
    &[
        "CREATE TABLE IF NOT EXISTS passes (\
        id blob, section tinyint, at_ms bigint, tag text, \
        record blob STATIC, uses bigint STATIC, status text STATIC, \
        status_reason text STATIC, use_limit bigint STATIC, \
        body blob, annulled boolean, attempt bigint, \
        PRIMARY KEY (id, section, at_ms, tag))",
        "CREATE TABLE IF NOT EXISTS scan_ids (\
        scan_id text PRIMARY KEY, pass_id blob, at_ms bigint, body blob)",
        "CREATE TABLE IF NOT EXISTS event_scans (\
        event text, bucket bigint, at_ms bigint, scan_id text, body blob, \
        PRIMARY KEY ((event, bucket), at_ms, scan_id))",
        "CREATE TABLE IF NOT EXISTS audit_log (\
        bucket bigint, at_ms bigint, tag text, body blob, \
        PRIMARY KEY (bucket, at_ms, tag))",
        "CREATE TABLE IF NOT EXISTS buckets (\
        kind text, scope text, bucket bigint, PRIMARY KEY ((kind, scope), bucket))",
        "CREATE TABLE IF NOT EXISTS passes_by_event (\
        event text, shard tinyint, id blob, PRIMARY KEY ((event, shard), id))",
        "CREATE TABLE IF NOT EXISTS scan_id_times (\
        day bigint, at_ms bigint, scan_id text, pass_id blob, \
        PRIMARY KEY (day, at_ms, scan_id))",
    ],
    &[
        // CQL has no `ADD ... IF NOT EXISTS`: a second run's "already exists"
        // is taken as done (`already_applied`).
        "ALTER TABLE passes ADD status_since bigint STATIC",
        "CREATE TABLE IF NOT EXISTS conflicts (\
        bucket bigint, at_ms bigint, tag text, body blob, \
        PRIMARY KEY (bucket, at_ms, tag))",
    ],
    &[
        "CREATE TABLE IF NOT EXISTS holder_links (pass_id blob PRIMARY KEY, link blob)",
        // Presence beside the count (null: outside, as every pass before).
        "ALTER TABLE passes ADD presence text STATIC",
        "CREATE TABLE IF NOT EXISTS events (event text PRIMARY KEY, body blob)",
    ],
    &[
        // Keys apart from the sealed fields: an erase deletes the key row.
        "CREATE TABLE IF NOT EXISTS pass_keys (pass_id blob PRIMARY KEY, key blob)",
        "ALTER TABLE passes ADD personal blob STATIC",
    ],
    &[
        // The erased marker, beside the state every LWT checks.
        "ALTER TABLE passes ADD erased_ms bigint STATIC",
        // Holder links beside the state, so a link is a LWT an erase orders.
        "ALTER TABLE passes ADD holder_link blob STATIC",
    ],
];

/// Whether a migration statement failed only because a gateway starting
/// alongside ran it first (a column added already).
pub(crate) fn already_applied(cql: &str, error: &impl std::fmt::Display) -> bool {
    let message = error.to_string().to_ascii_lowercase();
    cql.starts_with("ALTER TABLE")
        && (message.contains("already exist") || message.contains("conflicts with an existing"))
}

/// `CREATE KEYSPACE` with the configured replication and tablets off:
/// ScyllaDB does not run LWTs in tablets keyspaces.
pub fn keyspace_cql(config: &ScyllaConfig) -> String {
    format!(
        "CREATE KEYSPACE IF NOT EXISTS {} WITH replication = {} AND tablets = {{'enabled': false}}",
        config.keyspace,
        config.replication.cql()
    )
}

/// A statement of `class` (its profile) with the DDL deadline.
fn statement(cql: &str, class: Class, config: &ScyllaConfig) -> Statement {
    let mut s = Statement::new(cql);
    s.set_execution_profile_handle(Some(profile(class, config).into_handle()));
    s.set_is_idempotent(class.idempotent());
    s.set_request_timeout(Some(DDL_TIMEOUT));
    s
}

fn failed(what: &str, e: impl Into<scangate_storage::BoxError>) -> StoreError {
    StoreError::unavailable(format!("ScyllaDB schema: {what}"), e)
}

/// Creates the keyspace if missing, makes it the session's, and applies
/// every migration it lacks. Returns the schema version now in place.
pub async fn migrate(session: &Session, config: &ScyllaConfig) -> Result<i32, StoreError> {
    let ddl = |cql: &str| statement(cql, Class::Write, config);
    session
        .query_unpaged(ddl(&keyspace_cql(config)), ())
        .await
        .map_err(|e| failed("cannot create the keyspace", e))?;
    refuse_tablets(session, config).await?;
    session
        .use_keyspace(&config.keyspace, true)
        .await
        .map_err(|e| failed("cannot use the keyspace", e))?;
    session
        .query_unpaged(
            ddl("CREATE TABLE IF NOT EXISTS schema_version (\
                component text PRIMARY KEY, version int, applied_ms bigint)"),
            (),
        )
        .await
        .map_err(|e| failed("cannot create schema_version", e))?;
    let mut version = current(session, config).await?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Config(format!(
            "keyspace {} holds schema version {version}, this build knows up to {SCHEMA_VERSION}; refusing to start",
            config.keyspace
        )));
    }
    while version < SCHEMA_VERSION {
        let next = version + 1;
        let steps = usize::try_from(version)
            .ok()
            .and_then(|i| MIGRATIONS.get(i))
            .ok_or_else(|| {
                StoreError::Internal(format!("ScyllaDB schema: migration {next} missing"))
            })?;
        for cql in steps.iter() {
            match session.query_unpaged(ddl(cql), ()).await {
                Ok(_) => {}
                Err(e) if already_applied(cql, &e) => {}
                Err(e) => return Err(failed(&format!("migration {next}"), e)),
            }
        }
        record_version(session, config, version, next).await;
        // Another gateway may have recorded it first: read what is there.
        version = current(session, config).await?;
        if version < next {
            return Err(StoreError::unavailable(
                "ScyllaDB schema",
                format!("cannot record schema version {next}"),
            ));
        }
        tracing::info!(keyspace = %config.keyspace, version, "ScyllaDB schema migrated");
    }
    Ok(version)
}

/// Refuses a keyspace with tablets on (created by hand, or by another tool).
async fn refuse_tablets(session: &Session, config: &ScyllaConfig) -> Result<(), StoreError> {
    let read = statement(
        "SELECT initial_tablets FROM system_schema.scylla_keyspaces WHERE keyspace_name = ?",
        Class::Read,
        config,
    );
    let Ok(result) = session.query_unpaged(read, (&config.keyspace,)).await else {
        // Not ScyllaDB's schema tables (or an older ScyllaDB): no tablets.
        return Ok(());
    };
    let tablets = result
        .into_rows_result()
        .ok()
        .and_then(|rows| rows.maybe_first_row::<(Option<i32>,)>().ok().flatten())
        .and_then(|(t,)| t);
    if tablets.is_some() {
        return Err(StoreError::Config(format!(
            "keyspace {} uses tablets, which do not support lightweight transactions; \
             create it with tablets = {{'enabled': false}}; refusing to start",
            config.keyspace
        )));
    }
    Ok(())
}

/// The version recorded, read serially (0: none yet).
async fn current(session: &Session, config: &ScyllaConfig) -> Result<i32, StoreError> {
    let read = statement(
        "SELECT version FROM schema_version WHERE component = ?",
        Class::SerialRead,
        config,
    );
    let result = session
        .query_unpaged(read, (COMPONENT,))
        .await
        .map_err(|e| failed("cannot read schema_version", e))?;
    let row = result
        .into_rows_result()
        .map_err(|e| failed("cannot read schema_version", e))?
        .maybe_first_row::<(Option<i32>,)>()
        .map_err(|e| failed("cannot read schema_version", e))?;
    Ok(row.and_then(|(v,)| v).unwrap_or(0))
}

/// Records `next` if `from` is still recorded (a LWT; not applied means
/// another gateway recorded it). The caller reads the outcome back.
async fn record_version(session: &Session, config: &ScyllaConfig, from: i32, next: i32) {
    let now = crate::now_ms();
    let outcome = if from == 0 {
        let cql = "INSERT INTO schema_version (component, version, applied_ms) VALUES (?, ?, ?) IF NOT EXISTS";
        session
            .query_unpaged(statement(cql, Class::Lwt, config), (COMPONENT, next, now))
            .await
    } else {
        let cql = "UPDATE schema_version SET version = ?, applied_ms = ? WHERE component = ? IF version = ?";
        session
            .query_unpaged(
                statement(cql, Class::Lwt, config),
                (next, now, COMPONENT, from),
            )
            .await
    };
    // Applied or not, the next serial read says where things stand; an
    // unknown outcome is read back the same way.
    if let Err(e) = outcome {
        tracing::warn!(error = %e, next, "schema version bump did not answer; reading it back");
    }
}
