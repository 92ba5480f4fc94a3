//! `scangate pass ...`: the operator CLI over the admin API.

use crate::admin_client::{self, AdminArgs};
use crate::paging::{Query, pages};
use crate::terminal::Shown;
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use scangate_api::ImportReport;
use scangate_core::{AuditRecord, Kind, PassId, ScanId};
use scangate_gateway::datadir::DataDir;
use scangate_gateway::operator::api::{ISSUE_MAX, IssueRequest, PassView, ScanView};
use std::path::PathBuf;
use std::process::ExitCode;

/// Most items one list command prints unless `--limit` says otherwise.
pub const LIST_DEFAULT: usize = 1_000;

/// `scangate pass ...`.
#[derive(Debug, Subcommand)]
pub enum PassCommand {
    /// Issue one or more passes.
    Issue {
        /// Where and how.
        #[command(flatten)]
        admin: AdminArgs,
        /// The issue request.
        #[command(flatten)]
        spec: IssueArgs,
    },
    /// Show one pass.
    Show {
        /// Where and how.
        #[command(flatten)]
        admin: AdminArgs,
        /// The pass id (32 hexadecimal digits; nothing else reaches the URL).
        id: PassId,
    },
    /// Revoke a pass (only `reactivate` undoes it).
    Revoke(ChangeArgs),
    /// Suspend a pass.
    Suspend(ChangeArgs),
    /// Reactivate a suspended or revoked pass.
    Reactivate(ChangeArgs),
    /// A guard's override: admit the pass at a gate by hand (counted,
    /// marked on its scan record, journaled). Never a revoked or suspended pass.
    Admit(crate::gate_cmd::AdmitArgs),
    /// Give the pass a new token: the old QR is denied `superseded` (the
    /// pass is not revoked); prints the pass with its new token.
    Reissue(ChangeArgs),
    /// Erase a pass's personal data (display text, card fields) for good
    /// and revoke it; its scans and audit stay. Erasing again changes nothing.
    Erase(ChangeArgs),
    /// List a pass's scans, oldest first.
    Scans {
        /// Where and how.
        #[command(flatten)]
        admin: AdminArgs,
        /// The pass id (32 hexadecimal digits; nothing else reaches the URL).
        id: PassId,
        /// At most this many.
        #[arg(long, default_value_t = scangate_gateway::operator::http::LIST_MAX)]
        limit: usize,
    },
    /// List passes, newest cursor order, following pages.
    List {
        /// Where and how.
        #[command(flatten)]
        admin: AdminArgs,
        /// Only this event.
        #[arg(long)]
        event: Option<String>,
        /// Only this kind.
        #[arg(long)]
        kind: Option<Kind>,
        /// Only this status (active, suspended, revoked), or only passes
        /// used_up or expired whatever their status.
        #[arg(long)]
        status: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = LIST_DEFAULT)]
        limit: usize,
        /// Print each pass's token too (the admin API gives them to `admin` only).
        #[arg(long)]
        tokens: bool,
    },
    /// Import passes from a CSV file (header row; see docs/operations.md).
    /// Exit 0 when every line was imported, 1 when some were rejected.
    Import {
        /// Where and how.
        #[command(flatten)]
        admin: AdminArgs,
        /// The CSV file.
        file: PathBuf,
    },
    /// Annul a granted scan within the annul window: the use is given back.
    Annul {
        /// Where and how.
        #[command(flatten)]
        admin: AdminArgs,
        /// The scan id (letters, digits, `.`, `_`, `:`, `-`; nothing else
        /// reaches the URL).
        #[arg(value_parser = parse_scan_id)]
        scan_id: ScanId,
        /// Why (kept in the audit log).
        #[arg(long)]
        reason: String,
    },
    /// Make the pass's holder link (`/h/SECRET`: its QR code and status for
    /// the holder, no token needed), printed once; `--revoke` ends it.
    Link(crate::link_cmd::LinkArgs),
    /// Write a pass's QR code to a file (a dynamic pass: a fresh short-lived token).
    Qr {
        /// Where and how.
        #[command(flatten)]
        admin: AdminArgs,
        /// The pass id (32 hexadecimal digits; nothing else reaches the URL).
        id: PassId,
        /// svg or png.
        #[arg(long, default_value = "svg")]
        format: String,
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
    /// The audit log of passes' status changes and annulments, oldest
    /// first (every admin action: `scangate audit operator`).
    Audit {
        /// Where and how.
        #[command(flatten)]
        admin: AdminArgs,
        /// Only this pass.
        #[arg(long)]
        pass: Option<String>,
        /// From this time (RFC 3339).
        #[arg(long)]
        from: Option<String>,
        /// Until this time (RFC 3339).
        #[arg(long)]
        until: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = LIST_DEFAULT)]
        limit: usize,
    },
}

/// What to issue.
#[derive(Debug, Args)]
pub struct IssueArgs {
    /// The event.
    #[arg(long)]
    pub event: String,
    /// ticket, pass, access_code or card_share.
    #[arg(long, default_value = "ticket")]
    pub kind: Kind,
    /// Most uses (default 1).
    #[arg(long, conflicts_with = "unlimited")]
    pub max_uses: Option<u32>,
    /// No use limit.
    #[arg(long)]
    pub unlimited: bool,
    /// Start of validity (RFC 3339).
    #[arg(long)]
    pub valid_from: Option<String>,
    /// End of validity (RFC 3339).
    #[arg(long)]
    pub valid_until: Option<String>,
    /// A gate the pass admits to (repeatable; none = every gate).
    #[arg(long = "gate")]
    pub gates: Vec<String>,
    /// A zone the pass admits to in an event with a definition
    /// (repeatable; none = every zone).
    #[arg(long = "zone")]
    pub zones: Vec<String>,
    /// What a scanner may show on a grant.
    #[arg(long)]
    pub display: Option<String>,
    /// How many passes.
    #[arg(long, default_value_t = 1)]
    pub count: u32,
    /// Make the passes dynamic: every token handed out expires after this
    /// many seconds (old screenshots stop working).
    #[arg(long)]
    pub dynamic_ttl_s: Option<u32>,
    /// The card and its share choices.
    #[command(flatten)]
    pub card_args: crate::card_args::CardArgs,
}

/// A status change.
#[derive(Debug, Args)]
pub struct ChangeArgs {
    /// Where and how.
    #[command(flatten)]
    pub admin: AdminArgs,
    /// The pass id.
    pub id: PassId,
    /// Why (kept in the audit log).
    #[arg(long)]
    pub reason: String,
}

/// Runs a pass command.
pub async fn run(data: &DataDir, cmd: PassCommand) -> Result<ExitCode> {
    match cmd {
        PassCommand::Issue { admin, spec } => issue(data, &admin, spec).await?,
        PassCommand::Show { admin, id } => {
            let client = admin_client::connect(data, &admin)?;
            let pass: PassView = client.get(&format!("/v1/passes/{id}")).await?;
            print_pass(&pass, admin.json)?;
        }
        PassCommand::Revoke(c) => change(data, "revoke", c).await?,
        PassCommand::Suspend(c) => change(data, "suspend", c).await?,
        PassCommand::Reactivate(c) => change(data, "reactivate", c).await?,
        PassCommand::Admit(a) => crate::gate_cmd::admit(data, a).await?,
        PassCommand::Reissue(c) => change(data, "reissue", c).await?,
        PassCommand::Erase(c) => crate::card_args::erase(data, c).await?,
        PassCommand::Scans { admin, id, limit } => scans(data, &admin, id, limit).await?,
        PassCommand::List {
            admin,
            event,
            kind,
            status,
            limit,
            tokens,
        } => {
            let mut query = Query::default();
            query.add("event", event.as_deref());
            query.add("kind", kind.map(Kind::as_str));
            query.add("status", status.as_deref());
            query.add("tokens", tokens.then_some("true"));
            list(data, &admin, query, limit).await?
        }
        PassCommand::Import { admin, file } => {
            if import(data, &admin, &file).await? > 0 {
                return Ok(ExitCode::from(1));
            }
        }
        PassCommand::Annul {
            admin,
            scan_id,
            reason,
        } => annul(data, &admin, &scan_id, &reason).await?,
        PassCommand::Link(args) => crate::link_cmd::run(data, args).await?,
        PassCommand::Qr {
            admin,
            id,
            format,
            out,
        } => qr(data, &admin, id, &format, &out).await?,
        PassCommand::Audit {
            admin,
            pass,
            from,
            until,
            limit,
        } => {
            let mut query = Query::default();
            query.add("pass", pass.as_deref());
            query.add("from", from.as_deref());
            query.add("until", until.as_deref());
            audit(data, &admin, query, limit).await?
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `scangate pass issue`: `--count` passes, in requests of at most
/// [`ISSUE_MAX`] each.
async fn issue(data: &DataDir, admin: &AdminArgs, spec: IssueArgs) -> Result<()> {
    if spec.count == 0 {
        bail!("--count must be at least 1");
    }
    let card = spec.card_args.card()?;
    let client = admin_client::connect(data, admin)?;
    let mut left = spec.count;
    while left > 0 {
        let batch = left.min(ISSUE_MAX);
        let req = IssueRequest {
            event: spec.event.clone(),
            kind: spec.kind,
            max_uses: spec.max_uses,
            unlimited: spec.unlimited,
            valid_from: spec.valid_from.clone(),
            valid_until: spec.valid_until.clone(),
            gates: spec.gates.clone(),
            display: spec.display.clone(),
            count: Some(batch),
            dynamic_ttl_s: spec.dynamic_ttl_s,
            card: card.clone().map(Box::new),
            zones: spec.zones.clone(),
        };
        let passes: Vec<PassView> = client.post("/v1/passes", &req).await?;
        for p in &passes {
            print_pass(p, admin.json)?;
        }
        left -= batch;
    }
    Ok(())
}

/// `scangate pass import FILE.csv`: prints the passes made and, on stderr,
/// each rejected line; returns how many lines were rejected.
async fn import(data: &DataDir, admin: &AdminArgs, file: &std::path::Path) -> Result<usize> {
    let client = admin_client::connect(data, admin)?;
    let csv = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let report: ImportReport = client
        .post_raw("/v1/passes/import", "text/csv", csv)
        .await?;
    for p in &report.passes {
        print_pass(p, admin.json)?;
    }
    for r in &report.rejected {
        let field = r
            .field
            .as_deref()
            .map(|f| format!(" ({f})"))
            .unwrap_or_default();
        eprintln!(
            "{}: line {}{}: {}",
            file.display(),
            r.line,
            Shown(&field),
            Shown(&r.problem)
        );
    }
    eprintln!(
        "imported {} passes, rejected {} lines",
        report.imported, report.rejected_count
    );
    Ok(report.rejected_count)
}

/// `scangate pass qr ID --format F --out FILE`: writes the pass's QR code.
async fn qr(
    data: &DataDir,
    admin: &AdminArgs,
    id: PassId,
    format: &str,
    out: &std::path::Path,
) -> Result<()> {
    let client = admin_client::connect(data, admin)?;
    let image = client
        .get_bytes(&format!("/v1/passes/{id}/qr"), &[("format", format)])
        .await?;
    std::fs::write(out, &image).with_context(|| format!("cannot write {}", out.display()))?;
    println!("wrote {} ({} bytes)", out.display(), image.len());
    Ok(())
}

/// `scangate pass scans ID`: the pass's most recent scans, up to `limit`.
async fn scans(data: &DataDir, admin: &AdminArgs, id: PassId, limit: usize) -> Result<()> {
    let client = admin_client::connect(data, admin)?;
    let scans: Vec<ScanView> = client
        .get_query(&format!("/v1/passes/{id}/scans"), &[("limit", limit)])
        .await?;
    for s in &scans {
        print_scan(s, admin.json)?;
    }
    Ok(())
}

/// `scangate pass list`: the passes matching `query`, up to `limit`,
/// following the API's cursor pages.
async fn list(data: &DataDir, admin: &AdminArgs, query: Query, limit: usize) -> Result<()> {
    let client = admin_client::connect(data, admin)?;
    let passes: Vec<PassView> = pages(&client, "/v1/passes", query, limit).await?;
    for p in &passes {
        print_pass(p, admin.json)?;
    }
    Ok(())
}

/// `scangate pass audit`: the pass audit records matching `query`, up to
/// `limit`, following the API's cursor pages.
async fn audit(data: &DataDir, admin: &AdminArgs, query: Query, limit: usize) -> Result<()> {
    let client = admin_client::connect(data, admin)?;
    let records: Vec<AuditRecord> = pages(&client, "/v1/audit", query, limit).await?;
    for a in &records {
        print_audit(a, admin.json)?;
    }
    Ok(())
}

/// One audit record of a pass, as a line for people or as JSON.
fn print_audit(a: &AuditRecord, as_json: bool) -> Result<()> {
    if as_json {
        println!("{}", serde_json::to_string(a)?);
    } else {
        println!(
            "{} {} {} {} {} -> {}: {}",
            scangate_gateway::operator::api::rfc3339(a.at_ms),
            Shown(&a.who),
            a.action.as_str(),
            a.pass_id,
            a.status_before.as_str(),
            a.status_after.as_str(),
            Shown(&a.reason)
        );
    }
    Ok(())
}

/// `scangate pass annul`: takes a grant back, with a reason.
async fn annul(data: &DataDir, admin: &AdminArgs, scan_id: &ScanId, reason: &str) -> Result<()> {
    let client = admin_client::connect(data, admin)?;
    let scan: ScanView = client
        .post(
            &format!("/v1/scans/{}/annul", scan_id.as_str()),
            &serde_json::json!({ "reason": reason }),
        )
        .await?;
    print_scan(&scan, admin.json)
}

async fn change(data: &DataDir, action: &str, c: ChangeArgs) -> Result<()> {
    let client = admin_client::connect(data, &c.admin)?;
    let pass: PassView = client
        .post(
            &format!("/v1/passes/{}/{action}", c.id),
            &serde_json::json!({ "reason": c.reason }),
        )
        .await?;
    print_pass(&pass, c.admin.json)
}

pub(crate) fn print_scan(s: &ScanView, as_json: bool) -> Result<()> {
    if as_json {
        println!("{}", serde_json::to_string(s)?);
        return Ok(());
    }
    let reason = s
        .reason
        .as_deref()
        .map(|r| format!(": {}", Shown(r)))
        .unwrap_or_default();
    println!(
        "{} {} gate {} device {} {}{} (uses {}) scan {}",
        s.at,
        s.pass_id,
        Shown(&s.gate),
        Shown(&s.device),
        s.decision,
        reason,
        s.uses_after,
        s.scan_id
    );
    Ok(())
}

pub(crate) fn print_pass(p: &PassView, as_json: bool) -> Result<()> {
    if as_json {
        println!("{}", serde_json::to_string(p)?);
    } else {
        let limit = p
            .max_uses
            .map_or_else(|| "unlimited".to_owned(), |m| m.to_string());
        // A viewer's token is not sent (roles below operator read none).
        let token = if p.token.is_empty() {
            "withheld"
        } else {
            &p.token
        };
        println!(
            "{} {} {} {} uses {}/{} token {}",
            p.id,
            Shown(&p.event),
            p.kind.as_str(),
            p.status.as_str(),
            p.uses,
            limit,
            token
        );
    }
    Ok(())
}

/// A scan id typed on the command line, checked before it becomes a URL
/// path segment (its characters need no escaping there).
fn parse_scan_id(text: &str) -> Result<ScanId, String> {
    ScanId::new(text).map_err(|e| e.to_string())
}
