//! CSV import through the real binary: every line after the header is
//! imported, rejected with its line, field and problem, or counted blank;
//! an unterminated quote rejects its own line and swallows none after it.

use crate::common;

use common::Gateway;
use serde_json::{Value, json};

/// Posts `csv` to the import endpoint: the status and the report.
async fn import(gw: &Gateway, csv: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("http://{}/v1/passes/import", gw.http))
        .bearer_auth(&gw.token)
        .header("content-type", "text/csv")
        .body(csv.to_owned())
        .send()
        .await
        .expect("import");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("a JSON report"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_line_vanishes_behind_an_unterminated_quote() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);

    // The file: a quote opened on line 2 must not swallow line 3.
    let (status, report) = import(&gw, "event,display\ncsv-q,\"abc\ncsv-q2,def\n").await;
    assert_eq!(status, 201, "{report}");
    assert_eq!(
        (&report["imported"], &report["rejected_count"]),
        (&json!(1), &json!(1))
    );
    assert_eq!(report["passes"][0]["event"], "csv-q2");
    assert_eq!(report["passes"][0]["display"], "def");
    let rejected = &report["rejected"][0];
    assert_eq!(
        (&rejected["line"], &rejected["field"]),
        (&json!(2), &json!("display"))
    );
    let problem = rejected["problem"].as_str().expect("problem");
    assert!(problem.contains("does not close on this line"), "{problem}");

    // A mixed file: the counts add up to the lines after the header.
    let csv = "event,display\n\
               a,\"Row 4, seat 2\"\n\
               \n\
               b,\"two\n\
               lines\"\n\
               c,x,extra\n\
               d,\n";
    let (status, report) = import(&gw, csv).await;
    assert_eq!(status, 201, "{report}");
    let count = |k: &str| report[k].as_u64().expect(k);
    assert_eq!(
        count("imported") + count("rejected_count") + count("blank_lines"),
        6
    );
    assert_eq!((count("imported"), count("blank_lines")), (2, 1));
    let lines: Vec<u64> = report["rejected"]
        .as_array()
        .expect("rejected")
        .iter()
        .map(|r| r["line"].as_u64().expect("line"))
        .collect();
    assert_eq!(lines, [4, 5, 6]);
    // What was imported is stored as the report says.
    let id = report["passes"][0]["id"].as_str().expect("id");
    assert_eq!(gw.pass(id).await.display.as_deref(), Some("Row 4, seat 2"));
}
