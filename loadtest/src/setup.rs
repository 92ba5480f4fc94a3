//! The passes a run scans, set up through the admin API (bulk issue, revoke)
//! or read from a file, and the tokens of passes that do not exist.

use crate::LoadError;
use crate::admin::Admin;
use crate::clock::Clock;
use crate::history::RevokeOp;
use crate::mix::{Mix, ScanKind};
use scangate_api::{ISSUE_MAX, PassView};
use scangate_core::keyfile::KeyFile;
use scangate_core::{PassId, Status};
use std::io::BufRead;
use std::path::Path;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Most passes one run issues: issuing is a setup cost (a few seconds per
/// 100k); beyond this, use `--uses-per-pass`.
pub const ISSUE_PASSES_MAX: u64 = 5_000_000;
/// Issue requests in flight during setup.
const ISSUE_CONCURRENCY: usize = 4;

/// How far ahead the expired pool's window ends when issued (2 s): the
/// gateway refuses a window that has ended already, so these passes end
/// just after issue and the run starts once they have.
const EXPIRED_LEAD: time::Duration = time::Duration::seconds(2);
/// Scans one revoked or expired pass is planned to get: keeps its scan list
/// well under the admin API's 1,000 per request, so the checker sees it all.
pub const SCANS_PER_POOL_PASS: u64 = 200;
/// Most passes in the revoked and in the expired pool.
pub const POOL_MAX: u64 = 10_000;
/// Admin reads in flight while refreshing the passes of a file.
const REFRESH_CONCURRENCY: usize = 16;
/// Tokens of non-existent passes (signed with the gateway's key).
const UNKNOWN_TOKENS: usize = 256;
/// Most lines read from a `--passes` file.
pub const FILE_PASSES_MAX: usize = 5_000_000;
/// The reason the tool gives its revokes (kept in the audit log).
pub const REVOKE_REASON: &str = "scangate-load: revoked-pass mix";

/// One pass the run may scan.
#[derive(Debug, Clone)]
pub struct PassEntry {
    /// 32 hex digits.
    pub id: String,
    /// Its token.
    pub token: String,
    /// Its use count before the run.
    pub uses_before: u32,
}

/// Every pass of a run, by role (roles hold indices into `passes`).
#[derive(Debug, Clone, Default)]
pub struct Pools {
    /// All passes; the index is the pass's number in the history.
    pub passes: Vec<PassEntry>,
    /// Valid passes for first scans (and rescans, forged copies).
    pub first: Vec<u32>,
    /// Revoked before the run starts.
    pub revoked_before: Vec<u32>,
    /// Revoked during the run.
    pub revoked_during: Vec<u32>,
    /// Past their validity window.
    pub expired: Vec<u32>,
    /// Genuinely signed tokens of passes that do not exist.
    pub unknown_tokens: Vec<String>,
    /// The revokes done before the run.
    pub revokes: Vec<RevokeOp>,
    /// The passes of an event floor run (`--floor`), with their classes.
    pub floor: Vec<crate::floor::FloorPass>,
}

impl Pools {
    /// Revoked passes, both halves.
    pub fn revoked(&self) -> impl Iterator<Item = u32> + '_ {
        self.revoked_before
            .iter()
            .chain(&self.revoked_during)
            .copied()
    }
}

/// What to set up.
#[derive(Debug, Clone)]
pub struct SetupPlan {
    /// Event of the issued passes.
    pub event: String,
    /// Scans the run will send.
    pub total: u64,
    /// The mix.
    pub mix: Mix,
    /// Grants each valid pass admits (`max_uses`).
    pub uses_per_pass: u32,
}

fn pool_size(total: u64, share: f64, min: u64) -> u64 {
    if share <= 0.0 {
        return 0;
    }
    ((total as f64 * share / SCANS_PER_POOL_PASS as f64).ceil() as u64).clamp(min, POOL_MAX)
}

/// Valid passes the plan needs: one per `uses_per_pass` first scans, plus a
/// little slack for rescans and retries that fall back to first scans.
pub fn first_passes_needed(plan: &SetupPlan) -> u64 {
    let first = plan.total as f64 * plan.mix.share(ScanKind::First);
    ((first * 1.02 / f64::from(plan.uses_per_pass.max(1))).ceil() as u64 + 16)
        .min(plan.total.max(1))
}

/// Issues every pool through the admin API (`first` from `file` when given,
/// each pass read from the gateway first unless `as_printed`) and revokes
/// the first half of the revoked pool.
pub async fn prepare(
    admin: &Admin,
    plan: &SetupPlan,
    file: Option<&Path>,
    as_printed: bool,
    data_dir: &Path,
    clock: &Clock,
) -> Result<Pools, LoadError> {
    let mut pools = Pools::default();
    let first = match file {
        Some(path) if as_printed => read_passes(path)?,
        Some(path) => refresh(admin, read_passes(path)?).await?,
        None => {
            let n = first_passes_needed(plan);
            if n > ISSUE_PASSES_MAX {
                return Err(LoadError::Invalid(format!(
                    "the run needs {n} passes, over the {ISSUE_PASSES_MAX} the tool issues; raise --uses-per-pass or shorten the run"
                )));
            }
            let spec = serde_json::json!({"event": plan.event, "max_uses": plan.uses_per_pass});
            issue(admin, &spec, n).await?
        }
    };
    pools.first = add(&mut pools.passes, first);

    let revoked = pool_size(plan.total, plan.mix.share(ScanKind::Revoked), 2);
    let spec = serde_json::json!({"event": plan.event, "unlimited": true});
    let mut revoked = add(&mut pools.passes, issue(admin, &spec, revoked).await?);
    pools.revoked_during = revoked.split_off(revoked.len() / 2);
    pools.revoked_before = revoked;
    for &p in &pools.revoked_before {
        let invoked_ms = clock.unix_ms_now();
        admin
            .revoke_settled(&pools.passes[p as usize].id, REVOKE_REASON)
            .await?;
        pools.revokes.push(RevokeOp {
            pass: p,
            invoked_ms,
            completed_ms: Some(clock.unix_ms_now()),
        });
    }

    let expired = pool_size(plan.total, plan.mix.share(ScanKind::Expired), 1);
    let passes = expired_passes(admin, plan, expired).await?;
    pools.expired = add(&mut pools.passes, passes);

    if plan.mix.share(ScanKind::Unknown) > 0.0 {
        let path = data_dir.join("signing-keys.json");
        let keyring = load_keyring(&path).map_err(|e| {
            LoadError::Invalid(format!(
                "the unknown-pass mix needs the gateway's signing keys ({e}); give unknown=0 in --mix"
            ))
        })?;
        for _ in 0..UNKNOWN_TOKENS {
            let mut id = [0u8; 16];
            getrandom::fill(&mut id)
                .map_err(|e| LoadError::Invalid(format!("no randomness for pass ids: {e}")))?;
            pools.unknown_tokens.push(keyring.sign(PassId(id), None));
        }
    }
    Ok(pools)
}

/// `n` passes whose window has just ended: the gateway refuses to issue a
/// window that has ended, so they end [`EXPIRED_LEAD`] from now and this
/// waits until then.
async fn expired_passes(
    admin: &Admin,
    plan: &SetupPlan,
    n: u64,
) -> Result<Vec<PassEntry>, LoadError> {
    let now = OffsetDateTime::now_utc();
    let rfc = |t: OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
    let ends = now + EXPIRED_LEAD;
    let spec = serde_json::json!({
        "event": plan.event,
        "valid_from": rfc(now - time::Duration::hours(2)),
        "valid_until": rfc(ends),
    });
    let passes = issue(admin, &spec, n).await?;
    let left = ends - OffsetDateTime::now_utc() + time::Duration::milliseconds(1);
    if let Ok(left) = std::time::Duration::try_from(left) {
        tokio::time::sleep(left).await;
    }
    Ok(passes)
}

/// The gateway's signing keyring, read from its file.
fn load_keyring(path: &Path) -> Result<scangate_core::token::Keyring, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let file: KeyFile = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a valid keyring: {e}", path.display()))?;
    file.keyring()
        .map_err(|e| format!("{} is not usable: {e}", path.display()))
}

fn add(passes: &mut Vec<PassEntry>, new: Vec<PassEntry>) -> Vec<u32> {
    let start = passes.len();
    passes.extend(new);
    (start..passes.len())
        .map(|i| u32::try_from(i).unwrap_or(u32::MAX))
        .collect()
}

/// Issues `count` passes of `spec`, `ISSUE_MAX` per request, a few requests at once.
pub(crate) async fn issue(
    admin: &Admin,
    spec: &serde_json::Value,
    count: u64,
) -> Result<Vec<PassEntry>, LoadError> {
    let mut out = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    let mut left = count;
    let mut set = tokio::task::JoinSet::new();
    while left > 0 || !set.is_empty() {
        while left > 0 && set.len() < ISSUE_CONCURRENCY {
            let n = left.min(u64::from(ISSUE_MAX));
            left -= n;
            let mut body = spec.clone();
            body["count"] = serde_json::json!(n);
            let admin = admin.clone();
            set.spawn(async move { admin.issue(&body).await });
        }
        if let Some(joined) = set.join_next().await {
            let views = joined.map_err(|e| LoadError::Admin(e.to_string()))??;
            out.extend(views.into_iter().map(entry));
        }
    }
    Ok(out)
}

fn entry(v: PassView) -> PassEntry {
    PassEntry {
        id: v.id,
        token: v.token,
        uses_before: v.uses,
    }
}

/// The passes as the gateway holds them now (a file's `uses` may be stale):
/// their current use count, and only those still active.
async fn refresh(admin: &Admin, passes: Vec<PassEntry>) -> Result<Vec<PassEntry>, LoadError> {
    let mut out = Vec::with_capacity(passes.len());
    let mut todo = passes.into_iter();
    let mut set = tokio::task::JoinSet::new();
    loop {
        while set.len() < REFRESH_CONCURRENCY {
            let Some(entry) = todo.next() else { break };
            let admin = admin.clone();
            set.spawn(async move { admin.pass(&entry.id).await });
        }
        let Some(joined) = set.join_next().await else {
            break;
        };
        let view = joined.map_err(|e| LoadError::Admin(e.to_string()))??;
        if view.status == Status::Active {
            out.push(entry(view));
        }
    }
    if out.is_empty() {
        return Err(LoadError::Invalid(
            "no pass of --passes is active on the gateway".into(),
        ));
    }
    Ok(out)
}

/// Active passes from a file of JSON lines, one pass per line as
/// `scangate pass issue --json` prints them (at least `id`, `token`,
/// `status` and `uses`).
pub fn read_passes(path: &Path) -> Result<Vec<PassEntry>, LoadError> {
    let fail =
        |e: String| LoadError::File(format!("cannot read passes from {}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    let mut out = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| fail(e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        if n >= FILE_PASSES_MAX {
            return Err(fail(format!("more than {FILE_PASSES_MAX} lines")));
        }
        let view: PassView = serde_json::from_str(&line)
            .map_err(|e| fail(format!("line {} is not a pass: {e}", n + 1)))?;
        if view.status == Status::Active {
            out.push(entry(view));
        }
    }
    if out.is_empty() {
        return Err(fail("no active pass in it".into()));
    }
    Ok(out)
}
