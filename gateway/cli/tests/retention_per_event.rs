//! Retention per event (issue 30, test 5, with events' own periods): the
//! real gateway on a real data directory with `--retention-s 12`; event
//! `short` sets `policy.retention_s` 3, event `long` 3600, event `plain`
//! none. Two generations of scan and audit records are made four seconds
//! apart; while the sweep runs, every look checks both sides of the rule:
//! no record younger than its event's period is missing (nothing newer is
//! removed), and none older than its period plus [`SLACK_MS`] is still
//! there (each event's own period is honoured, the shorter one included).

use crate::common;

use common::Gateway;
use common::floor::put_event;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The gateway-wide period, seconds.
const DEFAULT_S: i64 = 12;
/// Time between the two generations of records.
const GAP_MS: i64 = 4_000;
/// How late a removal may be: the sweep steps once a second, and a look
/// may lag behind a loaded machine's scheduler.
const SLACK_MS: i64 = 5_000;

fn now_ms() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
    i64::try_from(since.as_millis()).expect("ms")
}

/// The times of a pass's records as the API lists them: scans (`at`,
/// RFC 3339) and audit records (`at_ms`).
async fn records(gw: &Gateway, id: &str) -> Vec<(&'static str, i64)> {
    let mut out = Vec::new();
    for scan in gw.scans(id).await {
        let at = scan["at"].as_str().expect("at");
        let ms = scangate_gateway::operator::api::parse_rfc3339("at", at).expect("rfc3339");
        out.push(("scan", ms));
    }
    let audit = gw.get(&format!("/v1/passes/{id}/audit")).await;
    for a in audit.as_array().expect("audit") {
        out.push(("audit", a["at_ms"].as_i64().expect("at_ms")));
    }
    out
}

fn definition(retention_s: Option<u64>) -> Value {
    let mut def = json!({"gates": [{"name": "north", "zone": "hall", "direction": "in"}],
                         "zones": [{"name": "hall"}]});
    if let Some(s) = retention_s {
        def["policy"] = json!({"retention_s": s});
    }
    def
}

/// One generation: a granted scan, a suspension and a reactivation of
/// each pass, added to `made` (each pass's records, read back at once).
async fn generation(
    gw: &Gateway,
    scanner: &scangate_client::Scanner,
    passes: &[Pass],
    made: &mut BTreeMap<String, Vec<(&'static str, i64)>>,
) {
    for p in passes {
        let reply = common::scan(scanner, &p.token, "north", None).await;
        assert!(reply.decision.is_granted(), "{}: {reply:?}", p.event);
        for action in ["suspend", "reactivate"] {
            gw.post(
                &format!("/v1/passes/{}/{action}", p.id),
                json!({"reason": "retention per event"}),
            )
            .await;
        }
        let all = made.entry(p.id.clone()).or_default();
        for r in records(gw, &p.id).await {
            if !all.contains(&r) {
                all.push(r);
            }
        }
    }
}

struct Pass {
    event: &'static str,
    period_ms: i64,
    id: String,
    token: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_event_keeps_its_records_for_its_own_period_and_no_longer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &["--retention-s", &DEFAULT_S.to_string()]);
    let mut passes = Vec::new();
    for (event, own) in [("short", Some(3)), ("long", Some(3_600)), ("plain", None)] {
        if own.is_some() {
            let (status, body) = put_event(&gw, event, &definition(own)).await;
            assert_eq!(status, 200, "{body}");
        }
        let issued = gw.issue(json!({"event": event, "unlimited": true})).await;
        let p = issued.into_iter().next().expect("one pass");
        passes.push(Pass {
            event,
            period_ms: own.map_or(DEFAULT_S, |s| i64::try_from(s).expect("s")) * 1_000,
            id: p.id,
            token: p.token,
        });
    }
    let (status, body) = put_event(&gw, "bad", &json!({"gates": [{"name": "n", "zone": "h", "direction": "in"}], "zones": [{"name": "h"}], "policy": {"retention_s": 0}})).await;
    assert!(
        status == 400 && body.contains("retention_s"),
        "{status} {body}"
    );

    let scanner = gw.scanner("gate-1").await;
    // Every record made, by pass: what each look is checked against.
    let mut made = BTreeMap::new();
    generation(&gw, &scanner, &passes, &mut made).await;
    let first_done = now_ms();
    let deadline = Instant::now() + Duration::from_secs(60);
    while now_ms() < first_done + GAP_MS {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    generation(&gw, &scanner, &passes, &mut made).await;
    for p in &passes {
        assert_eq!(made[&p.id].len(), 6, "{}: {:?}", p.event, made[&p.id]);
    }

    let mut short_gone_while_plain_kept = false;
    loop {
        assert!(
            Instant::now() < deadline,
            "the sweep did not finish in time"
        );
        let mut left_over = 0;
        for p in &passes {
            let before = now_ms();
            let present = records(&gw, &p.id).await;
            let after = now_ms();
            for r in &made[&p.id] {
                let kept = present.contains(r);
                assert!(
                    kept || before - r.1 >= p.period_ms,
                    "{}: {r:?} removed at age {} ms, younger than its period {} ms",
                    p.event,
                    before - r.1,
                    p.period_ms
                );
                assert!(
                    !kept || after - r.1 < p.period_ms + SLACK_MS,
                    "{}: {r:?} still kept at age {} ms, past its period {} ms",
                    p.event,
                    after - r.1,
                    p.period_ms
                );
                left_over += usize::from(kept && p.event != "long");
            }
        }
        let short_left = records(&gw, &passes[0].id).await.len();
        let plain_left = records(&gw, &passes[2].id).await.len();
        short_gone_while_plain_kept |= short_left == 0 && plain_left > 0;
        if left_over == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        short_gone_while_plain_kept,
        "the short event's records went before the default period's"
    );
    assert_eq!(
        records(&gw, &passes[1].id).await.len(),
        made[&passes[1].id].len(),
        "the long event keeps everything"
    );
    for p in &passes {
        assert_eq!(gw.pass(&p.id).await.uses, 2, "the use count stays");
    }
    let metrics = gw.metrics().await;
    let removed = |table| {
        common::metric(
            &metrics,
            "scangate_retention_removed_total",
            &[("table", table)],
        )
    };
    assert_eq!(
        (removed("scans"), removed("audit")),
        (4.0, 8.0),
        "{metrics}"
    );
}
