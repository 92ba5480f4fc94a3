//! Card consent (issue 30, test 7, the scan-reply half): a card share with
//! only name and company shared reveals exactly those fields in a scan
//! reply, whether the card came from the admin API's JSON, a CSV import or
//! the CLI's flags; a viewer reads no card; a denial reveals nothing.

use crate::common;

use common::Gateway;
use scangate_core::pass::SharedCard;
use serde_json::{Value, json};

fn name_and_company() -> SharedCard {
    SharedCard {
        name: Some("Grace Hopper".into()),
        company: Some("Navy".into()),
        ..SharedCard::default()
    }
}

/// Imports `csv`; the tokens of the passes made.
async fn import(gw: &Gateway, csv: &str) -> Vec<String> {
    let resp = reqwest::Client::new()
        .post(format!("http://{}/v1/passes/import", gw.http))
        .bearer_auth(&gw.token)
        .header("content-type", "text/csv")
        .body(csv.to_owned())
        .send()
        .await
        .expect("import");
    let report: Value = resp.json().await.expect("a JSON report");
    assert_eq!(report["rejected_count"], 0, "{report}");
    report["passes"]
        .as_array()
        .expect("passes")
        .iter()
        .map(|p| p["token"].as_str().expect("token").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_reveals_exactly_the_shared_card_fields() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let field = |value: &str, shared| json!({"value": value, "shared": shared, "consent_ms": 1_767_225_600_000_i64});
    let by_api = gw
        .issue(json!({
            "event": "fest", "kind": "card_share", "max_uses": 1,
            "card": {
                "name": field("Grace Hopper", true),
                "email": field("grace@example.org", false),
                "phone": field("+1 555 0100", false),
                "company": field("Navy", true),
                "title": field("Rear Admiral", false),
                "links": field("https://example.org/grace", false),
            }
        }))
        .await
        .pop()
        .expect("pass");
    let by_csv = import(
        &gw,
        "event,kind,card_name,card_email,card_company,card_shared,card_consent_at\n\
         fest,card_share,Grace Hopper,grace@example.org,Navy,name;company,2026-01-01T00:00:00Z\n",
    )
    .await;
    let cli = gw.cli(&[
        "pass",
        "issue",
        "--event",
        "fest",
        "--kind",
        "card_share",
        "--json",
        "--card",
        "name=Grace Hopper",
        "--card",
        "email=grace@example.org",
        "--card",
        "company=Navy",
        "--card",
        "phone=+1 555 0100",
        "--share",
        "name",
        "--share",
        "company",
    ]);
    let by_cli: Value = serde_json::from_str(cli.trim()).expect("json");
    let tokens = [
        by_api.token.clone(),
        by_csv[0].clone(),
        by_cli["token"].as_str().expect("token").to_owned(),
    ];

    let scanner = gw.scanner("gate-1").await;
    for (how, token) in ["admin API", "CSV import", "CLI flags"].iter().zip(&tokens) {
        let reply = common::scan(&scanner, token, "north", None).await;
        assert!(reply.decision.is_granted(), "{how}: {reply:?}");
        assert_eq!(reply.card, Some(Box::new(name_and_company())), "{how}");
        let again = common::scan(&scanner, token, "north", None).await;
        assert!(!again.decision.is_granted(), "{how}: single use");
        assert_eq!(again.card, None, "{how}: a denial reveals nothing");
    }

    let shown = gw.get(&format!("/v1/passes/{}", by_api.id)).await;
    assert_eq!(shown["card"]["email"]["shared"], false, "{shown}");
    assert_eq!(shown["card"]["name"]["consent_ms"], 1_767_225_600_000_i64);
    let viewer = gw.token_for("viewer", "v");
    let (status, body) = gw
        .get_as(&format!("/v1/passes/{}", by_api.id), &viewer)
        .await;
    assert_eq!(status, 200);
    assert!(
        !body.contains("Grace") && !body.contains("\"card\""),
        "viewer: {body}"
    );
}
