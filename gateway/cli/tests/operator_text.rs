//! What operators see and keep, against the real binary: a scanner's gate
//! name with control characters is refused at the edge (`invalid_request`,
//! the connection keeps serving), stored free text is printed by the CLI
//! with its control characters escaped, and a data directory left open to
//! other users is made private at start, with a log line saying so.

use crate::common;

use common::{Gateway, scan, try_scan};
use scangate_client::ClientError;
use scangate_core::wire::ErrorCode;
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;

/// A terminal attack: clear the screen, retitle the window, ring the bell.
const HOSTILE: &str = "\u{1b}[2J\u{1b}]0;PWNED\u{7}";

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

/// Neither the raw escape nor any other control character but new lines.
fn assert_printable(out: &str) {
    let bad = out.chars().find(|c| c.is_control() && *c != '\n');
    assert_eq!(
        bad, None,
        "a control character reached the terminal: {out:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gate_name_with_control_characters_is_an_invalid_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let pass = gw.issue_unlimited().await;
    let s = gw.scanner("gate-phone").await;
    let refused = try_scan(&s, &pass.token, HOSTILE, Some("hostile-1")).await;
    match refused {
        Err(ClientError::Rejected(e)) => {
            assert_eq!(e.code, ErrorCode::InvalidRequest);
            assert!(e.message().contains("gate"), "{}", e.message());
            assert!(!e.message().contains('\u{1b}'), "{}", e.message());
        }
        other => panic!("a hostile gate name was not refused: {other:?}"),
    }
    let bidi = try_scan(&s, &pass.token, "north\u{202e}htuos", Some("hostile-2")).await;
    assert!(matches!(bidi, Err(ClientError::Rejected(_))), "{bidi:?}");
    // The connection keeps serving, and a real gate name works.
    assert!(
        scan(&s, &pass.token, "Nord-Eingang 3", None)
            .await
            .decision
            .is_granted()
    );
    let out = gw.cli(&["pass", "scans", &pass.id]);
    assert_eq!(
        out.lines().count(),
        1,
        "only the good scan was stored: {out}"
    );
    assert!(out.contains("gate Nord-Eingang 3"), "{out}");
    let issue = json!({"event": "fest", "max_uses": 1, "gates": [HOSTILE]});
    let (status, text) = gw.post_answer("/v1/passes", issue).await;
    assert_eq!(
        status.as_u16(),
        400,
        "a pass cannot list such a gate: {text}"
    );
    gw.kill9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_text_is_printed_with_its_control_characters_escaped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let pass = gw.issue_one(3).await;
    let reason = format!("refund {HOSTILE}");
    gw.post(
        &format!("/v1/passes/{}/revoke", pass.id),
        json!({"reason": reason}),
    )
    .await;
    for args in [
        &["pass", "audit", "--pass", &pass.id][..],
        &["audit", "operator"][..],
        &["audit", "operator", "--local"][..],
    ] {
        let out = gw.cli(args);
        assert_printable(&out);
        assert!(
            out.contains("refund \\u{1b}[2J\\u{1b}]0;PWNED\\u{7}"),
            "{args:?}: {out}"
        );
    }
    // JSON output escapes by itself and keeps the text exact.
    let json_out = gw.cli(&["pass", "audit", "--pass", &pass.id, "--json"]);
    let record: serde_json::Value = serde_json::from_str(json_out.trim()).expect("json");
    assert_eq!(record["reason"], reason);
    gw.kill9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_dir_open_to_other_users_is_made_private_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    gw.kill9();
    let open = std::fs::Permissions::from_mode(0o755);
    std::fs::set_permissions(dir.path(), open.clone()).expect("chmod");
    std::fs::set_permissions(dir.path().join("store"), open).expect("chmod");
    let log_path = dir.path().join("start.log");
    let log = std::fs::File::create(&log_path).expect("log");
    let gw = Gateway::start_logging_to(dir.path(), &[], Stdio::from(log));
    assert_eq!(mode(dir.path()), 0o700);
    assert_eq!(mode(&dir.path().join("store")), 0o700);
    let said = std::fs::read_to_string(&log_path).expect("log");
    let lines = said
        .lines()
        .filter(|l| l.contains("made a data directory private"));
    assert_eq!(lines.count(), 2, "{said}");
    gw.kill9();
}
