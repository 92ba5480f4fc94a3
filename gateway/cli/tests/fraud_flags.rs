//! Fraud flags end to end (issue 29, test 4): the real `scangate` binary,
//! real QUIC with mutual TLS on loopback, a real data directory. Each flag
//! is raised by its scripted scenario and absent in a clean one; a policy
//! that denies `rapid_rescan` denies it; forged tokens land in the bounded
//! security-incident log without their text.

use crate::common;

use common::{Gateway, metric, scan};
use scangate_core::flags::Flag;
use scangate_core::token::{Keyring, SigningKey};
use scangate_core::{Decision, PassId, Reason};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Stdio;

/// `forgery_burst` past this many forged tokens per device-minute in the tests.
const BURST: u32 = 3;

/// Writes a flag policy file into `dir` and returns the `serve` flags naming it.
fn policy(dir: &Path, policy: Value) -> Vec<String> {
    let path = dir.join("flag-policy.json");
    std::fs::write(&path, policy.to_string()).expect("write the policy");
    vec!["--flag-policy".into(), path.to_str().expect("utf-8").into()]
}

fn args(flags: &[String]) -> Vec<&str> {
    flags.iter().map(String::as_str).collect()
}

/// The venue: north and south five minutes' walk apart; a small burst threshold.
fn venue() -> Value {
    json!({
        "walking": [{"from": "north", "to": "south", "seconds": 300}],
        "thresholds": {"forgery_burst_per_minute": BURST},
    })
}

/// The flags of `/v1/flags` for the fest event, as (kind, pass id) pairs.
async fn listed(gw: &Gateway, query: &str) -> Vec<(String, String)> {
    let page = gw.get(&format!("/v1/flags?event=fest{query}")).await;
    let items = page["items"].as_array().expect("items").clone();
    items
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().expect("kind").to_owned(),
                f["pass_id"].as_str().expect("pass").to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_flag_is_raised_by_its_scenario_and_absent_in_a_clean_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flags = policy(dir.path(), venue());
    let gw = Gateway::start(dir.path(), &args(&flags));
    let (d1, d2) = (gw.scanner("gate-d1").await, gw.scanner("gate-d2").await);

    // Clean: one scan of each pass, each on its own device and gate.
    let (a, b) = (gw.issue_unlimited().await, gw.issue_unlimited().await);
    let clean = [
        scan(&d1, &a.token, "north", None).await,
        scan(&d2, &b.token, "south", None).await,
    ];
    for reply in &clean {
        assert_eq!(
            (reply.decision, reply.flags.as_slice()),
            (Decision::Granted, &[][..])
        );
    }

    // rapid_rescan: granted at north, scanned again at north on the same device.
    let rescanned = gw.issue_unlimited().await;
    scan(&d1, &rescanned.token, "north", None).await;
    let again = scan(&d1, &rescanned.token, "north", None).await;
    assert_eq!(
        again.decision,
        Decision::Granted,
        "the default policy only flags"
    );
    assert_eq!(again.flags, vec![Flag::RapidRescan]);

    // shared_code: shown on d1 (denied at a gate it does not admit to), then on d2.
    let shared = gw
        .issue(json!({"event": "fest", "unlimited": true, "gates": ["north"]}))
        .await
        .pop()
        .expect("one pass");
    let first = scan(&d1, &shared.token, "east", None).await;
    assert_eq!(
        (first.decision, first.flags.len()),
        (Decision::Denied(Reason::WrongGate), 0)
    );
    let second = scan(&d2, &shared.token, "north", None).await;
    assert_eq!(second.flags, vec![Flag::SharedCode]);

    // impossible_travel: granted at south, at north a moment later (300 s walk).
    let travelled = gw.issue_unlimited().await;
    scan(&d1, &travelled.token, "south", None).await;
    let far = scan(&d1, &travelled.token, "north", None).await;
    assert_eq!(far.flags, vec![Flag::RapidRescan, Flag::ImpossibleTravel]);

    // Listed from the scan records, filtered by kind, counted in /metrics.
    let all = listed(&gw, "").await;
    let kinds_of = |id: &str| -> Vec<&str> {
        all.iter()
            .filter(|(_, p)| p == id)
            .map(|(k, _)| k.as_str())
            .collect()
    };
    assert!(
        kinds_of(&a.id).is_empty() && kinds_of(&b.id).is_empty(),
        "{all:?}"
    );
    assert_eq!(kinds_of(&rescanned.id), vec!["rapid_rescan"]);
    assert_eq!(kinds_of(&shared.id), vec!["shared_code"]);
    assert_eq!(
        kinds_of(&travelled.id),
        vec!["rapid_rescan", "impossible_travel"]
    );
    let travel_only = listed(&gw, "&kind=impossible_travel").await;
    assert_eq!(
        travel_only,
        vec![("impossible_travel".to_owned(), travelled.id.clone())]
    );
    let text = gw.metrics().await;
    for (kind, n) in [
        ("rapid_rescan", 2.0),
        ("shared_code", 1.0),
        ("impossible_travel", 1.0),
    ] {
        assert_eq!(
            metric(&text, "scangate_flags_total", &[("kind", kind)]),
            n,
            "{kind}"
        );
    }
    dashboard_panel(&gw, &shared.id).await;
    let cli = gw.cli(&[
        "flags",
        "list",
        "--event",
        "fest",
        "--kind",
        "shared_code",
        "--json",
    ]);
    let cli: Value = serde_json::from_str(cli.trim()).expect("json");
    assert_eq!(cli["flags"][0]["pass_id"], json!(shared.id), "{cli}");

    // forgery_burst: past BURST forged tokens from one device in a minute.
    forgery_burst(&gw, dir.path()).await;

    // After kill -9 the flags are still on their records, and a rescan is
    // flagged from the history the store holds.
    gw.kill9();
    let gw = Gateway::start(dir.path(), &args(&flags));
    assert_eq!(
        listed(&gw, "&kind=shared_code").await,
        vec![("shared_code".to_owned(), shared.id.clone())]
    );
    let d1 = gw.scanner("gate-d1").await;
    let after_restart = scan(&d1, &rescanned.token, "north", None).await;
    assert_eq!(after_restart.flags, vec![Flag::RapidRescan]);
}

/// A device sends forged tokens: the first BURST are only incidents, the
/// next raises `forgery_burst`; the incident log never holds the token.
async fn forgery_burst(gw: &Gateway, dir: &Path) {
    let forger = Keyring::new(
        &[SigningKey {
            id: 1,
            secret: [9; 32],
        }],
        1,
    )
    .expect("ring");
    let bad = gw.scanner("gate-bad").await;
    let token = forger.sign(PassId([7; 16]), None);
    for n in 1..=BURST + 1 {
        let reply = scan(&bad, &token, "north", None).await;
        assert_eq!(reply.decision, Decision::Denied(Reason::Forged));
        let expected: &[Flag] = if n > BURST {
            &[Flag::ForgeryBurst]
        } else {
            &[]
        };
        assert_eq!(reply.flags, expected, "forged token {n}");
    }
    let page = gw.get("/v1/incidents?device=gate-bad").await;
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), BURST as usize + 1, "{page}");
    assert_eq!(items[BURST as usize]["flags"], json!(["forgery_burst"]));
    assert_eq!(items[0]["reason"], json!("forged"));
    assert_eq!(items[0]["gate"], json!("north"));
    let text = page.to_string();
    assert!(
        !text.contains(&token) && !text.contains(&token[token.len() - 12..]),
        "{text}"
    );
    let metrics = gw.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            "scangate_flags_total",
            &[("kind", "forgery_burst")]
        ),
        1.0
    );
    let cli = gw.cli(&["incidents", "list", "--json"]);
    assert!(cli.contains("gate-bad") && !cli.contains(&token), "{cli}");
    let _ = dir;
}

/// The dashboard's panel counts what was raised since start and shows the
/// latest with an 8-digit pass prefix, never the whole id.
async fn dashboard_panel(gw: &Gateway, shared_id: &str) {
    let (status, body) = gw.probe("/live/flags").await;
    assert_eq!(status, 200, "{body}");
    let panel: Value = serde_json::from_str(&body).expect("json");
    let count = |kind: &str| {
        let kinds = panel["kinds"].as_array().expect("kinds");
        kinds
            .iter()
            .find(|k| k["kind"] == json!(kind))
            .map(|k| k["count"].clone())
    };
    assert_eq!(count("rapid_rescan"), Some(json!(2)), "{panel}");
    assert_eq!(count("shared_code"), Some(json!(1)));
    assert_eq!(count("forgery_burst"), Some(json!(0)));
    assert!(
        body.contains(&shared_id[..8]) && !body.contains(shared_id),
        "{body}"
    );
    let (_, page) = gw.probe("/").await;
    assert!(page.contains("id=\"flags-card\""), "the page has the panel");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_that_denies_rapid_rescan_denies_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flags = policy(dir.path(), json!({"deny": ["rapid_rescan"]}));
    let gw = Gateway::start(dir.path(), &args(&flags));
    let s = gw.scanner("gate-1").await;
    let pass = gw.issue_unlimited().await;
    assert_eq!(
        scan(&s, &pass.token, "north", None).await.decision,
        Decision::Granted
    );
    let again = scan(&s, &pass.token, "north", None).await;
    assert_eq!(again.decision, Decision::Denied(Reason::RapidRescan));
    assert_eq!(again.flags, vec![Flag::RapidRescan]);
    assert_eq!(gw.pass(&pass.id).await.uses, 1, "the denial used nothing");
    // Another pass is not touched by it.
    let other = gw.issue_unlimited().await;
    assert_eq!(
        scan(&s, &other.token, "north", None).await.decision,
        Decision::Granted
    );
}

/// A group pass (three admissions) lets its members in one after another
/// at one gate under a policy that denies `rapid_rescan`; the same pass at
/// another gate within the window, or a fourth person, is still flagged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_pass_enters_its_members_one_by_one_without_rapid_rescan() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flags = policy(dir.path(), json!({"deny": ["rapid_rescan"]}));
    let gw = Gateway::start(dir.path(), &args(&flags));
    let s = gw.scanner("gate-1").await;
    let group = gw.issue_one(3).await;
    let at = |gate: &'static str| scan(&s, &group.token, gate, None);
    for member in 1..=2 {
        let reply = at("north").await;
        assert_eq!(
            (reply.decision, reply.flags.as_slice()),
            (Decision::Granted, &[][..]),
            "member {member}"
        );
    }
    let elsewhere = at("south").await;
    assert_eq!(elsewhere.decision, Decision::Denied(Reason::RapidRescan));
    assert_eq!(at("north").await.decision, Decision::Granted, "member 3");
    let fourth = at("north").await;
    assert_eq!(
        (fourth.decision, fourth.flags),
        (Decision::Denied(Reason::UsedUp), vec![Flag::RapidRescan])
    );
    assert_eq!(gw.pass(&group.id).await.uses, 3);
    let kinds: Vec<String> = listed(&gw, "")
        .await
        .into_iter()
        .filter(|(_, p)| *p == group.id)
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        kinds,
        ["rapid_rescan", "rapid_rescan"],
        "south and the fourth"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_policy_is_refused_at_start_with_every_problem_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = json!({"deny": ["forgery_burst"], "walking_speed_mm_per_s": 0});
    let flags = policy(dir.path(), bad);
    let log = dir.path().join("stderr.log");
    let file = std::fs::File::create(&log).expect("log file");
    let refused = Gateway::try_start_logging_to(dir.path(), &args(&flags), Stdio::from(file));
    let status = refused.err().expect("the gateway refuses to start");
    assert!(!status.success());
    let said = std::fs::read_to_string(&log).expect("log");
    assert!(said.contains("forgery_burst cannot deny"), "{said}");
    assert!(
        said.contains("walking_speed_mm_per_s must be above 0"),
        "{said}"
    );
}
