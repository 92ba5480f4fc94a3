//! Error replies are bounded by construction, and no token a scanner reads
//! (a QR code holds up to 4,296 characters) reaches a panic: not in the
//! gateway's stream reader, not in the SDK, not in `scangate scan`.

use crate::common;

use bytes::{BufMut, BytesMut};
use common::{Gateway, bin, raw_connection, read_response, scan};
use scangate_core::frame::{self, FRAME_VERSION};
use scangate_core::wire::{ERROR_MESSAGE_MAX_BYTES, ErrorCode, Request, RequestBody, ResponseBody};
use std::process::Command;

/// What a version-40 QR code holds (alphanumeric mode).
const QR_MAX_CHARS: usize = 4_296;

/// The issue's frame `{"id":1,"body":"A"*4000}` in MessagePack: the
/// decoder's error quotes the whole body, 4 KB, which the error reply must
/// not echo whole (it would be over the frame limit).
fn long_body_frame() -> BytesMut {
    let body = "A".repeat(4_000);
    let mut payload = BytesMut::new();
    payload.put_u8(0x82); // a map of two
    payload.put_slice(b"\xa2id\x01"); // "id": 1
    payload.put_slice(b"\xa4body\xda"); // "body": a str16 of...
    payload.put_u16(u16::try_from(body.len()).expect("len"));
    payload.put_slice(body.as_bytes());
    let mut out = BytesMut::new();
    out.put_u32(u32::try_from(payload.len() + 1).expect("len"));
    out.put_u8(FRAME_VERSION);
    out.put_slice(&payload);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_error_frame_gets_a_bounded_reply_and_the_stream_keeps_serving() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let pass = gw.issue_unlimited().await;

    let conn = raw_connection(dir.path(), gw.quic, "hostile").await;
    let (mut send, mut recv) = conn.open_bi().await.expect("stream");
    // Three hostile frames, then a ping, all in one write on one stream.
    let mut out = BytesMut::new();
    for _ in 0..3 {
        out.extend_from_slice(&long_body_frame());
    }
    frame::encode(
        &Request {
            id: 7,
            body: RequestBody::Ping,
        },
        &mut out,
    )
    .expect("a ping fits");
    send.write_all(&out).await.expect("write");

    let mut inbox = BytesMut::new();
    for _ in 0..3 {
        let reply = read_response(&mut recv, &mut inbox).await;
        assert_eq!(reply.id, 0, "the request's id could not be read");
        let ResponseBody::Error(e) = &reply.body else {
            panic!("expected an error, got {reply:?}")
        };
        assert_eq!(e.code, ErrorCode::MalformedFrame);
        assert!(
            e.message().len() <= ERROR_MESSAGE_MAX_BYTES,
            "{} bytes",
            e.message().len()
        );
        assert!(e.message().contains("unknown variant"), "{}", e.message());
    }
    let pong = read_response(&mut recv, &mut inbox).await;
    assert_eq!(
        (pong.id, pong.body),
        (7, ResponseBody::Pong),
        "the same stream still answers"
    );

    // Everyone else is served too, and the gateway logged no panic.
    let scanner = gw.scanner("bystander").await;
    assert!(
        scan(&scanner, &pass.token, "g", None)
            .await
            .decision
            .is_granted()
    );
    let metrics = gw.metrics().await;
    assert_eq!(
        common::metric(
            &metrics,
            "scangate_bad_frames_total",
            &[("cause", "malformed")]
        ),
        3.0
    );
    assert!(gw.sigterm().success(), "a clean exit: no task panicked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scangate_scan_of_a_qr_sized_token_is_a_clear_error_not_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let token = "A".repeat(QR_MAX_CHARS);
    let out = Command::new(bin())
        .args(["scan", &token, "--gate", "g", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("run scangate scan");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "undecided, not a panic: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one sentence: {stderr}");
    assert!(stderr.contains("too long"), "{stderr}");
    assert!(
        !stderr.contains(&token[..64]),
        "the token is not echoed: {stderr}"
    );

    // The gateway, which never saw it, still decides.
    let pass = gw.issue_unlimited().await;
    let scanner = gw.scanner("after").await;
    assert!(
        scan(&scanner, &pass.token, "g", None)
            .await
            .decision
            .is_granted()
    );
}
