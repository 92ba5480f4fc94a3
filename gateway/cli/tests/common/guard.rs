//! Web scanners for the tests of the guard page and its HTTP transport
//! (`guard_page.rs`, `http_tls.rs`): enroll one with the real CLI and redeem
//! its link over HTTP, scan with its credential, and a fake camera's video
//! (a `.y4m` file for Chromium) showing a QR code.

use super::Gateway;
use qrcode::{Color, QrCode};
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;

/// An enrolled web scanner.
pub struct WebScanner {
    /// Its device name.
    pub device: String,
    /// Its device credential (`sgw_...`).
    pub credential: String,
}

/// The link `scangate scanner enroll NAME --gate GATE --json` prints.
pub fn enroll_link(gw: &Gateway, name: &str, gate: &str) -> String {
    let out = gw.cli(&["scanner", "enroll", name, "--gate", gate, "--json"]);
    let v: Value = serde_json::from_str(out.trim()).expect("enroll json");
    assert_eq!(v["device"], name);
    v["link"].as_str().expect("link").to_owned()
}

/// The enrollment secret inside a link (`...#enroll=SECRET&gate=...`).
pub fn secret_of(link: &str) -> &str {
    let (_, fragment) = link.split_once("#enroll=").expect("an enroll fragment");
    fragment.split('&').next().expect("secret")
}

/// POST `path` with a JSON body and an optional bearer: status and body.
pub async fn post(gw: &Gateway, path: &str, bearer: Option<&str>, body: &Value) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("http://{}{path}", gw.http))
        .json(body);
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    let resp = req.send().await.expect("post");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Enrolls web scanner `name` at `gate` (CLI link, redeemed over HTTP).
pub async fn enroll(gw: &Gateway, name: &str, gate: &str) -> WebScanner {
    let link = enroll_link(gw, name, gate);
    let body = json!({"enrollment": secret_of(&link)});
    let (status, v) = post(gw, "/v1/scanner/enroll", None, &body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["device"], name);
    WebScanner {
        device: name.to_owned(),
        credential: v["credential"].as_str().expect("credential").to_owned(),
    }
}

/// `POST /v1/scan` of `token` at `gate` with `credential`: status and body.
pub async fn web_scan(
    gw: &Gateway,
    credential: &str,
    token: &str,
    gate: &str,
    scan_id: &str,
) -> (u16, Value) {
    let body = json!({"token": token, "gate": gate, "scan_id": scan_id});
    post(gw, "/v1/scan", Some(credential), &body).await
}

/// Video side, pixels (a multiple of 2, as 4:2:0 chroma needs).
const SIDE: usize = 400;
/// Frames a second of the video.
pub const VIDEO_FPS: usize = 5;
/// Pixels per QR module in the video.
const MODULE_PX: usize = 8;

/// Writes a `.y4m` video (YUV4MPEG2, 4:2:0, [`VIDEO_FPS`] frames a second) for
/// Chromium's fake camera: `shown` frames of `text`'s QR code, then `blank`
/// white frames, so that the looping video presents the code again and
/// again, each time after it was out of view.
pub fn write_qr_video(file: &Path, text: &str, shown: usize, blank: usize) {
    let code = QrCode::new(text.as_bytes()).expect("qr");
    let width = code.width();
    let colors = code.to_colors();
    let size = width * MODULE_PX;
    assert!(size < SIDE, "the code fits the frame");
    let offset = (SIDE - size) / 2;
    let mut luma = vec![255u8; SIDE * SIDE];
    for (i, color) in colors.iter().enumerate() {
        if *color != Color::Dark {
            continue;
        }
        let (mx, my) = (i % width, i / width);
        for y in 0..MODULE_PX {
            let row = (offset + my * MODULE_PX + y) * SIDE + offset + mx * MODULE_PX;
            luma[row..row + MODULE_PX].fill(0);
        }
    }
    let chroma = vec![128u8; SIDE * SIDE / 2];
    let white = vec![255u8; SIDE * SIDE];
    let mut out = std::io::BufWriter::new(std::fs::File::create(file).expect("video file"));
    writeln!(
        out,
        "YUV4MPEG2 W{SIDE} H{SIDE} F{VIDEO_FPS}:1 Ip A1:1 C420jpeg"
    )
    .expect("header");
    for frame in 0..shown + blank {
        out.write_all(b"FRAME\n").expect("frame");
        out.write_all(if frame < shown { &luma } else { &white })
            .expect("luma");
        out.write_all(&chroma).expect("chroma");
    }
    out.flush().expect("flush");
}
