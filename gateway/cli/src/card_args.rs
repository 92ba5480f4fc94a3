//! The personal-data flags and commands of `scangate pass`: a card with
//! its share choices at issue, and `pass erase`.

use crate::admin_client;
use crate::pass_cmd::{ChangeArgs, print_pass};
use anyhow::{Result, bail};
use clap::Args;
use scangate_core::pass::Card;
use scangate_gateway::datadir::DataDir;
use scangate_gateway::operator::api::PassView;

/// `--card FIELD=VALUE`, `--share FIELD`, `--consent-at`.
#[derive(Debug, Args)]
pub struct CardArgs {
    /// A card field, `FIELD=VALUE` (name, email, phone, company, title,
    /// links; repeatable): personal data, sealed at rest.
    #[arg(long = "card", value_name = "FIELD=VALUE")]
    pub card: Vec<String>,
    /// A card field the holder shares with scanners (repeatable); the
    /// others are never revealed by a scan.
    #[arg(long = "share", value_name = "FIELD")]
    pub share: Vec<String>,
    /// When the holder made these share choices (RFC 3339; default now).
    #[arg(long)]
    pub consent_at: Option<String>,
}

impl CardArgs {
    /// The card these flags give (`None`: no `--card`).
    pub fn card(&self) -> Result<Option<Card>> {
        let mut values = Vec::with_capacity(self.card.len());
        for pair in &self.card {
            let Some((field, value)) = pair.split_once('=') else {
                bail!("--card takes FIELD=VALUE, e.g. --card name=Ada");
            };
            values.push((field.trim(), value));
        }
        let consent_ms = match &self.consent_at {
            Some(at) => scangate_gateway::operator::api::parse_rfc3339("consent_at", at)
                .map_err(|e| anyhow::anyhow!("--consent-at: {}", e.message))?,
            None => scangate_gateway::now_ms(),
        };
        let shared: Vec<&str> = self.share.iter().map(String::as_str).collect();
        Ok(Card::from_parts(&values, &shared, consent_ms)?)
    }
}

/// `DELETE /v1/passes/{id}`: what `scangate pass erase` asks.
pub async fn erase(data: &DataDir, c: ChangeArgs) -> Result<()> {
    let client = admin_client::connect(data, &c.admin)?;
    let pass: PassView = client
        .delete(
            &format!("/v1/passes/{}", c.id),
            &serde_json::json!({ "reason": c.reason }),
        )
        .await?;
    if !c.admin.json {
        println!(
            "pass {} erased: its personal data is gone for good",
            pass.id
        );
    }
    print_pass(&pass, c.admin.json)
}
