//! `scangate pass ...`: the operator CLI over the admin API.

use crate::api::{ApiError, ISSUE_MAX, IssueRequest, PassView, ScanView};
use crate::datadir::DataDir;
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use scangate_core::Kind;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::process::ExitCode;
use std::time::Duration;

/// How long one admin request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the admin API is and how to authenticate.
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// The admin API's base URL (default: the gateway running on this data dir).
    #[arg(long, global = true, env = "SCANGATE_HTTP")]
    pub http: Option<String>,
    /// Print JSON (one object per line).
    #[arg(long, global = true)]
    pub json: bool,
}

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
        /// The pass id.
        id: String,
    },
    /// Revoke a pass (only `reactivate` undoes it).
    Revoke(ChangeArgs),
    /// Suspend a pass.
    Suspend(ChangeArgs),
    /// Reactivate a suspended or revoked pass.
    Reactivate(ChangeArgs),
    /// List a pass's scans, oldest first.
    Scans {
        /// Where and how.
        #[command(flatten)]
        admin: AdminArgs,
        /// The pass id.
        id: String,
        /// At most this many.
        #[arg(long, default_value_t = crate::http::LIST_MAX)]
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
    /// What a scanner may show on a grant.
    #[arg(long)]
    pub display: Option<String>,
    /// How many passes.
    #[arg(long, default_value_t = 1)]
    pub count: u32,
}

/// A status change.
#[derive(Debug, Args)]
pub struct ChangeArgs {
    /// Where and how.
    #[command(flatten)]
    pub admin: AdminArgs,
    /// The pass id.
    pub id: String,
    /// Why (kept in the audit log).
    #[arg(long)]
    pub reason: String,
}

struct AdminClient {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl AdminClient {
    fn new(data: &DataDir, args: &AdminArgs) -> Result<Self> {
        let base = match &args.http {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", data.read_endpoints()?.http),
        };
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()?;
        Ok(AdminClient {
            http,
            base,
            token: data.read_admin_token()?,
        })
    }

    async fn call<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<T> {
        let resp = req
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| format!("cannot reach the admin API at {}", self.base))?;
        let status = resp.status();
        let body = resp.text().await?;
        if !status.is_success() {
            return Err(ApiError::from_body(status, &body).into());
        }
        serde_json::from_str(&body).context("the admin API answered something unexpected")
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.call(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    async fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T> {
        self.call(self.http.post(format!("{}{path}", self.base)).json(body))
            .await
    }
}

/// Runs a pass command.
pub async fn run(data: &DataDir, cmd: PassCommand) -> Result<ExitCode> {
    match cmd {
        PassCommand::Issue { admin, spec } => {
            if spec.count == 0 {
                bail!("--count must be at least 1");
            }
            let client = AdminClient::new(data, &admin)?;
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
                    dynamic_ttl_s: None,
                };
                let passes: Vec<PassView> = client.post("/v1/passes", &req).await?;
                for p in &passes {
                    print_pass(p, admin.json)?;
                }
                left -= batch;
            }
        }
        PassCommand::Show { admin, id } => {
            let client = AdminClient::new(data, &admin)?;
            let pass: PassView = client.get(&format!("/v1/passes/{id}")).await?;
            print_pass(&pass, admin.json)?;
        }
        PassCommand::Revoke(c) => change(data, "revoke", c).await?,
        PassCommand::Suspend(c) => change(data, "suspend", c).await?,
        PassCommand::Reactivate(c) => change(data, "reactivate", c).await?,
        PassCommand::Scans { admin, id, limit } => {
            let client = AdminClient::new(data, &admin)?;
            let scans: Vec<ScanView> = client
                .get(&format!("/v1/passes/{id}/scans?limit={limit}"))
                .await?;
            for s in &scans {
                if admin.json {
                    println!("{}", serde_json::to_string(s)?);
                } else {
                    let reason = s
                        .reason
                        .as_deref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default();
                    println!(
                        "{} {} gate {} device {} {}{} (uses {}) scan {}",
                        s.at,
                        s.pass_id,
                        s.gate,
                        s.device,
                        s.decision,
                        reason,
                        s.uses_after,
                        s.scan_id
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn change(data: &DataDir, action: &str, c: ChangeArgs) -> Result<()> {
    let client = AdminClient::new(data, &c.admin)?;
    let pass: PassView = client
        .post(
            &format!("/v1/passes/{}/{action}", c.id),
            &serde_json::json!({ "reason": c.reason }),
        )
        .await?;
    print_pass(&pass, c.admin.json)
}

fn print_pass(p: &PassView, as_json: bool) -> Result<()> {
    if as_json {
        println!("{}", serde_json::to_string(p)?);
    } else {
        let limit = p
            .max_uses
            .map_or_else(|| "unlimited".to_owned(), |m| m.to_string());
        println!(
            "{} {} {} {} uses {}/{} token {}",
            p.id,
            p.event,
            p.kind.as_str(),
            p.status.as_str(),
            p.uses,
            limit,
            p.token
        );
    }
    Ok(())
}
