//! The scriptable contract of MISSION.md, driven through the real binary.

use crate::common;

use common::{Gateway, bin};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("run scangate")
}

/// `scangate scan TOKEN --gate north --scan-id SCAN_ID --json`.
fn scan_at_north(dir: &Path, token: &str, scan_id: &str) -> Output {
    run(
        dir,
        &[
            "scan",
            token,
            "--gate",
            "north",
            "--scan-id",
            scan_id,
            "--json",
        ],
    )
}

/// The command exited 0; otherwise fails showing its stderr.
fn assert_succeeded(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_scan_revoke_and_list_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let d = dir.path();

    let out = run(
        d,
        &[
            "pass",
            "issue",
            "--event",
            "fest",
            "--max-uses",
            "2",
            "--gate",
            "north",
            "--count",
            "3",
            "--json",
        ],
    );
    assert_succeeded(&out);
    let passes = json_lines(&out);
    assert_eq!(passes.len(), 3);
    for key in ["id", "token", "event", "kind", "status", "max_uses", "uses"] {
        assert!(passes[0].get(key).is_some(), "missing {key}");
    }
    assert_eq!(passes[0]["max_uses"], 2);
    let id = passes[0]["id"].as_str().expect("id");
    let token = passes[0]["token"].as_str().expect("token");

    let out = scan_at_north(d, token, "cli-1");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reply = &json_lines(&out)[0];
    assert_eq!(reply["decision"], "granted");
    assert_eq!(reply["reason"], Value::Null);
    assert_eq!(
        (reply["uses"].as_u64(), reply["max_uses"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(reply["scan_id"], "cli-1");

    let out = run(d, &["scan", token, "--gate", "south", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_lines(&out)[0]["reason"], "wrong_gate");

    let out = run(d, &["pass", "revoke", id, "--reason", "refund", "--json"]);
    assert!(out.status.success());
    assert_eq!(json_lines(&out)[0]["status"], "revoked");
    let out = run(d, &["scan", token, "--gate", "north", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_lines(&out)[0]["reason"], "revoked");
    let out = run(d, &["pass", "reactivate", id, "--reason", "paid again"]);
    assert!(out.status.success());
    let out = run(d, &["pass", "suspend", id, "--reason", "check"]);
    assert!(out.status.success());

    let out = run(d, &["pass", "show", id, "--json"]);
    let shown = &json_lines(&out)[0];
    assert_eq!(
        (shown["status"].as_str(), shown["uses"].as_u64()),
        (Some("suspended"), Some(1))
    );

    let out = run(d, &["pass", "scans", id, "--json"]);
    let scans = json_lines(&out);
    let reasons: Vec<_> = scans.iter().map(|s| s["reason"].clone()).collect();
    assert_eq!(
        reasons,
        [Value::Null, "wrong_gate".into(), "revoked".into()]
    );

    // Errors: one clear sentence on stderr, non-zero status.
    let out = run(d, &["pass", "show", "not-an-id"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("32 hexadecimal digits"), "{err}");
    let out = run(
        d,
        &["scan", "TOKEN", "--gate", "A", "--scan-id", "has space"],
    );
    assert!(out.status.code().unwrap_or(0) >= 2);
    let out = run(
        d,
        &["pass", "issue", "--event", "fest", "--valid-from", "soon"],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("valid_from"));

    assert!(gw.sigterm().success());

    let out = run(d, &["scan", token, "--gate", "north"]);
    assert!(out.status.code().unwrap_or(0) >= 2, "no gateway: undecided");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no running gateway"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_import_annul_qr_and_audit_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let d = dir.path();

    let csv = d.join("guests.csv");
    std::fs::write(
        &csv,
        "event,kind,max_uses,gates\nexpo,ticket,2,north\nexpo,ticket,zero,north\nexpo,pass,unlimited,\n",
    )
    .expect("csv");
    let out = run(
        d,
        &["pass", "import", csv.to_str().expect("path"), "--json"],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "a rejected line makes the import exit 1"
    );
    let imported = json_lines(&out);
    assert_eq!(imported.len(), 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 3") && err.contains("max_uses"), "{err}");

    let out = run(d, &["pass", "list", "--event", "expo", "--json"]);
    assert_succeeded(&out);
    assert_eq!(json_lines(&out).len(), 2);
    let out = run(
        d,
        &[
            "pass", "list", "--event", "expo", "--kind", "pass", "--json",
        ],
    );
    assert_eq!(json_lines(&out).len(), 1);
    let out = run(
        d,
        &["pass", "list", "--event", "expo", "--limit", "1", "--json"],
    );
    assert_eq!(json_lines(&out).len(), 1, "--limit bounds what is printed");

    let ticket = &imported[0];
    let (id, token) = (
        ticket["id"].as_str().expect("id"),
        ticket["token"].as_str().expect("token"),
    );
    let out = scan_at_north(d, token, "door-1");
    assert_eq!(out.status.code(), Some(0));
    let out = run(
        d,
        &[
            "pass",
            "annul",
            "door-1",
            "--reason",
            "scanned twice by mistake",
            "--json",
        ],
    );
    assert_succeeded(&out);
    let out = run(d, &["pass", "show", id, "--json"]);
    assert_eq!(json_lines(&out)[0]["uses"], 0, "annul gives the use back");

    let png = d.join("ticket.png");
    let out = run(
        d,
        &[
            "pass",
            "qr",
            id,
            "--format",
            "png",
            "--out",
            png.to_str().expect("path"),
        ],
    );
    assert_succeeded(&out);
    assert_eq!(&std::fs::read(&png).expect("png")[..4], b"\x89PNG");
    // A flag's value is one query value, whatever it holds: `#png` does not
    // become a URL fragment (which would leave `format=svg` and succeed).
    let odd = d.join("odd.svg");
    let out = run(
        d,
        &[
            "pass",
            "qr",
            id,
            "--format",
            "svg#png",
            "--out",
            odd.to_str().expect("path"),
        ],
    );
    assert!(!out.status.success(), "--format 'svg#png' is not a format");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("svg or png"), "{stderr}");
    assert!(!odd.exists());

    let out = run(d, &["pass", "revoke", id, "--reason", "refund"]);
    assert!(out.status.success());
    let out = run(d, &["pass", "audit", "--pass", id, "--json"]);
    let actions: Vec<Value> = json_lines(&out)
        .iter()
        .map(|a| a["action"].clone())
        .collect();
    assert_eq!(actions, [Value::from("annul"), Value::from("revoke")]);
    assert!(gw.sigterm().success());
}

/// `serve` logging into a pipe (a log file, journald) writes plain text:
/// no terminal colour codes around levels and fields.
#[test]
fn logs_written_to_a_pipe_carry_no_colour_codes() {
    use std::io::Read;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut gw = Gateway::start_logging_to(dir.path(), &[], std::process::Stdio::piped());
    let mut stderr = gw.child.stderr.take().expect("stderr");
    let status = gw.sigterm();
    let mut log = String::new();
    stderr.read_to_string(&mut log).expect("read the log");
    assert!(status.success(), "{status}: {log}");
    assert!(log.contains("effective configuration"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "colour codes in a piped log: {log:?}"
    );
}

/// Ids typed on the command line become URL path segments: one that is not
/// a pass id (or a scan id) is refused before any request, so `..` or `/`
/// can never walk the admin API to another route with the operator's token.
#[test]
fn ids_that_are_not_ids_are_refused_before_any_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases: [&[&str]; 4] = [
        &["pass", "show", "../../tokens"],
        &["pass", "revoke", "00/../../v1/passes", "--reason", "x"],
        &["pass", "qr", "..%2f..", "--out", "qr.svg"],
        &["pass", "annul", "../passes/x", "--reason", "x"],
    ];
    for args in cases {
        // No gateway runs in `dir`: a request would fail differently.
        let out = run(dir.path(), args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("a pass id is 32 hexadecimal digits") || stderr.contains("scan id"),
            "{args:?}: {stderr}"
        );
    }
}
