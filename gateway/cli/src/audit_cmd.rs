//! `scangate audit ...`: the operator journal ([`scangate_gateway::operator::journal`]), through
//! the admin API (`GET /v1/audit/operator`) or, with `--local`, straight
//! from the data directory (works while the gateway is stopped). The audit
//! of one pass's changes stays `scangate pass audit`.

use crate::admin_client::{self, AdminArgs};
use crate::paging::{Query, TimeWindow, pages};
use crate::pass_cmd::LIST_DEFAULT;
use crate::terminal::Shown;
use anyhow::Result;
use clap::{Args, Subcommand};
use scangate_gateway::datadir::DataDir;
use scangate_gateway::operator::journal::{Journal, JournalQuery, OperatorAction, OperatorRecord};
use std::process::ExitCode;

/// `scangate audit ...`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// The operator journal, oldest first: every admin action (issue,
    /// import, revoke/suspend/reactivate, annul, admin tokens, device
    /// revocation), with who, when, what and why.
    Operator(OperatorArgs),
}

/// `scangate audit operator`.
#[derive(Debug, Args)]
pub struct OperatorArgs {
    /// Where and how.
    #[command(flatten)]
    pub admin: AdminArgs,
    /// Only this action (e.g. passes.issue, token.create, device.revoke).
    #[arg(long)]
    pub action: Option<OperatorAction>,
    /// Only actions by this token name (or cli:USER).
    #[arg(long)]
    pub who: Option<String>,
    /// Only actions on this token, device, pass, scan or event.
    #[arg(long)]
    pub subject: Option<String>,
    /// When they were taken.
    #[command(flatten)]
    pub window: TimeWindow,
    /// At most this many.
    #[arg(long, default_value_t = LIST_DEFAULT)]
    pub limit: usize,
    /// Read the journal file in the data directory instead of asking the
    /// gateway (works while it is stopped).
    #[arg(long)]
    pub local: bool,
}

/// Runs an audit command.
pub async fn run(data: &DataDir, cmd: AuditCommand) -> Result<ExitCode> {
    let AuditCommand::Operator(args) = cmd;
    let records = if args.local {
        local(data, &args)?
    } else {
        let client = admin_client::connect(data, &args.admin)?;
        let mut query = Query::default();
        query.add("action", args.action.map(OperatorAction::as_str));
        query.add("who", args.who.as_deref());
        query.add("subject", args.subject.as_deref());
        query.window(&args.window);
        pages(&client, "/v1/audit/operator", query, args.limit).await?
    };
    for r in &records {
        print_record(r, args.admin.json)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Pages through the journal file itself, as the API would.
fn local(data: &DataDir, args: &OperatorArgs) -> Result<Vec<OperatorRecord>> {
    let time = |field: &'static str, v: &Option<String>| -> Result<Option<i64>> {
        v.as_deref()
            .map(|s| {
                scangate_gateway::operator::api::parse_rfc3339(field, s)
                    .map_err(anyhow::Error::from)
            })
            .transpose()
    };
    let journal = Journal::new(data.operator_journal());
    let mut q = JournalQuery {
        action: args.action,
        who: args.who.clone(),
        subject: args.subject.clone(),
        from_ms: time("from", &args.window.from)?,
        until_ms: time("until", &args.window.until)?,
        after: None,
        limit: 0,
    };
    let mut out = Vec::new();
    while out.len() < args.limit {
        q.limit = (args.limit - out.len()).min(scangate_storage::PAGE_MAX);
        let page = journal.read(&q)?;
        out.extend(page.items);
        match page.next {
            Some(c) => q.after = Some(c),
            None => break,
        }
    }
    Ok(out)
}

fn print_record(r: &OperatorRecord, as_json: bool) -> Result<()> {
    if as_json {
        println!("{}", serde_json::to_string(r)?);
        return Ok(());
    }
    let mut line = format!(
        "{} {} {} {}",
        scangate_gateway::operator::api::rfc3339(r.at_ms),
        Shown(&r.who),
        r.action.as_str(),
        Shown(&r.subject)
    );
    if let Some(n) = r.count {
        line.push_str(&format!(" ({n} passes"));
        if let (Some(first), Some(last)) = (&r.first_pass, &r.last_pass) {
            line.push_str(&format!(" {first}..{last}"));
        }
        line.push(')');
    }
    if let Some(d) = &r.detail {
        line.push_str(&format!(" [{}]", Shown(d)));
    }
    if let Some(reason) = &r.reason {
        line.push_str(&format!(": {}", Shown(reason)));
    }
    println!("{line}");
    Ok(())
}
