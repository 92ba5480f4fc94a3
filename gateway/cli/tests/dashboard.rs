//! The live dashboard in a real headless Chromium, driven over WebDriver
//! (`chromedriver`): load `/`, scan over QUIC, and wait until the page (fed
//! by server-sent events) shows the new numbers. No personal data and no
//! token may appear on the page. A store that fails (a disk filled under a
//! file-size limit) must show on the page as a warning with its cause.
//!
//! Needs Debian's `chromium` and `chromium-driver` (CI installs them). Set
//! `SCANGATE_SKIP_BROWSER=1` to skip on a machine without them. Set
//! `SCANGATE_DASHBOARD_SCREENSHOT=PATH` to save a PNG of the page at the end
//! (that is how docs/dashboard.png is made).

mod common;

use common::{Gateway, scan};
use scangate_core::{Decision, Reason};
use serde_json::{Value, json};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long chromedriver may take to listen, and the page to show a change
/// (snapshots go out once a second; this leaves room for a loaded CI machine).
const DEADLINE: Duration = Duration::from_secs(30);
/// Between two looks at the page while waiting for a condition.
const POLL: Duration = Duration::from_millis(100);

/// Kills chromedriver (and with it the browser) when the test ends, pass or fail.
struct Driver {
    child: Child,
    url: String,
    session: Option<String>,
    http: reqwest::Client,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    /// A fresh browser on `gw`'s dashboard.
    async fn open(gw: &Gateway, profile: &Path) -> Driver {
        let driver = Driver::start(profile).await;
        driver
            .call(
                "POST",
                "/url",
                Some(json!({"url": format!("http://{}/", gw.http)})),
            )
            .await;
        driver
    }

    async fn start(profile: &Path) -> Driver {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let mut driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            session: None,
            http: reqwest::Client::builder()
                .timeout(DEADLINE)
                .build()
                .expect("http client"),
        };
        let deadline = Instant::now() + DEADLINE;
        loop {
            let ready = driver
                .http
                .get(format!("{}/status", driver.url))
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success());
            if ready.is_some() {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(POLL).await;
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--disable-dev-shm-usage", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.display()),
                ]
            }
        }}});
        let created = driver.call("POST", "/session", Some(caps)).await;
        driver.session = Some(
            created["sessionId"]
                .as_str()
                .expect("a WebDriver session id")
                .to_owned(),
        );
        driver
    }

    /// One WebDriver command; panics on a WebDriver error.
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = match &self.session {
            Some(id) => format!("{}/session/{id}{path}", self.url),
            None => format!("{}{path}", self.url),
        };
        let req = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body.unwrap_or(json!({}))),
        };
        let resp = req.send().await.expect("webdriver request");
        let status = resp.status();
        let body: Value = resp.json().await.expect("webdriver json");
        assert!(
            status.is_success(),
            "WebDriver {method} {path}: {status} {body}"
        );
        body["value"].clone()
    }

    /// Runs `script` (a function body) in the page and returns its value.
    async fn js(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// Polls the page until `check` accepts what `script` returns.
    async fn wait_for(&self, what: &str, script: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let value = self.js(script).await;
            if check(&value) {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "the dashboard never showed {what}; last saw {value}"
            );
            tokio::time::sleep(POLL).await;
        }
    }
}

/// What the test reads from the page, in one round trip.
const READ_PAGE: &str = r##"
const t = (id) => document.getElementById(id).textContent.trim();
const cells = (sel) => Array.from(document.querySelectorAll(sel), (r) =>
    Array.from(r.children, (c) => c.textContent.trim()));
return {
  status: document.getElementById("status").dataset.state,
  scans: t("total-scans"), granted: t("total-granted"), denied: t("total-denied"),
  scanners: t("scanners"), p50: t("p50"),
  north: cells('#gates tr[data-gate="north"]')[0] || null,
  used_up: (document.querySelector('#reasons [data-reason="used_up"] .count') || {}).textContent || null,
  fest: cells('#events tr[data-event="fest"]')[0] || null,
  denials: cells("#denials tr"),
  disk: t("disk"),
  warnings: document.getElementById("warnings").hidden ? null : t("warnings"),
  html: document.documentElement.outerHTML,
};
"##;

fn browser_available() -> bool {
    if std::env::var("SCANGATE_SKIP_BROWSER").as_deref() == Ok("1") {
        eprintln!(
            "\n*** SKIPPED: the dashboard browser test (SCANGATE_SKIP_BROWSER=1). ***\n\
             *** Install chromium and chromium-driver and unset it to run it.   ***\n"
        );
        return false;
    }
    for path in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            Path::new(path).exists(),
            "{path} is missing: the dashboard test needs a real headless Chromium \
             (`apt-get install chromium chromium-driver`), or set SCANGATE_SKIP_BROWSER=1 to skip it"
        );
    }
    true
}

/// The temp dirs of a dashboard test: the gateway's data dir and the
/// browser's profile.
type Dirs = [TempDir; 2];

/// A gateway on a fresh data dir (`start` runs it) and a headless browser
/// on its dashboard, with their dirs; `None` where the browser tests are
/// skipped. A test binds the dirs first, so that they are removed after
/// the browser and the gateway.
async fn open_dashboard(start: impl FnOnce(&Path) -> Gateway) -> Option<(Dirs, Gateway, Driver)> {
    if !browser_available() {
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = tempfile::tempdir().expect("browser profile dir");
    let gw = start(dir.path());
    let driver = Driver::open(&gw, profile.path()).await;
    Some(([dir, profile], gw, driver))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_follows_real_scans_live() {
    let Some((_dirs, gw, driver)) = open_dashboard(|dir| Gateway::start(dir, &[])).await else {
        return;
    };

    // The page connects and shows an empty gateway, and its disk's room.
    let first = driver
        .wait_for("the first snapshot", READ_PAGE, |p| {
            p["status"] == "live" && p["scans"] == "0" && p["scanners"] == "0"
        })
        .await;
    let disk = first["disk"].as_str().expect("disk");
    assert!(
        disk.contains(" GiB free of ") && disk.ends_with(" GiB"),
        "{disk}"
    );
    // A healthy store raises no warning (a nearly full disk of this machine may).
    let warnings = first["warnings"].as_str().unwrap_or("");
    assert!(!warnings.contains("store failed"), "{warnings}");

    let passes = gw
        .issue(json!({"event": "fest", "max_uses": 2, "count": 2}))
        .await;
    let scanner = gw.scanner("dash-north").await;
    for pass in &passes {
        assert_eq!(
            scan(&scanner, &pass.token, "north", None).await.decision,
            Decision::Granted
        );
    }
    let a = &passes[0];
    assert_eq!(
        scan(&scanner, &a.token, "north", None).await.decision,
        Decision::Granted
    );
    assert_eq!(
        scan(&scanner, &a.token, "north", None).await.decision,
        Decision::Denied(Reason::UsedUp)
    );

    // 3 granted, 1 denied (used_up), 1 scanner, uses 3 of capacity 4.
    let page = driver
        .wait_for("the scans", READ_PAGE, |p| {
            p["scans"] == "4"
                && p["granted"] == "3"
                && p["denied"] == "1"
                && p["scanners"] == "1"
                && p["used_up"] == "1"
                && p["north"][2] == "3"
                && p["north"][3] == "1"
                && p["fest"][1] == "3"
                && p["fest"][2] == "4"
                // Latency quantiles come from the last seconds' samples and
                // may show a snapshot after the counts.
                && p["p50"] != "–"
        })
        .await;
    let short = &a.id[..8];
    let denial = &page["denials"][0];
    assert_eq!(denial[1], "north", "{denial}");
    assert_eq!(denial[2], "used_up", "{denial}");
    assert_eq!(denial[3], short, "the pass id, shortened: {denial}");
    let html = page["html"].as_str().expect("html");
    for pass in &passes {
        assert!(!html.contains(&pass.token), "a token on the page");
        assert!(!html.contains(&pass.id), "a full pass id on the page");
    }

    if let Ok(path) = std::env::var("SCANGATE_DASHBOARD_SCREENSHOT") {
        screenshot(&gw, &driver, &scanner, Path::new(&path)).await;
    }

    // The scanner leaves: the page follows.
    scanner.close().await;
    drop(scanner);
    driver
        .wait_for("the scanner leaving", READ_PAGE, |p| p["scanners"] == "0")
        .await;

    // A page still streaming does not hold up a graceful stop: the stream
    // ends with the HTTP plane (the harness fails the test past its deadline).
    let status = gw.sigterm();
    assert!(status.success(), "exit status after SIGTERM: {status}");
    driver.call("DELETE", "", None).await;
}

/// A store that fails (its disk full) shows on the page with its cause,
/// while the page stays live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_warns_when_the_store_fails() {
    let Some((_dirs, gw, driver)) = open_dashboard(Gateway::start_on_a_small_disk).await else {
        return;
    };
    let first = driver
        .wait_for("the first snapshot", READ_PAGE, |p| p["status"] == "live")
        .await;
    let warnings = first["warnings"].as_str().unwrap_or("");
    assert!(!warnings.contains("store failed"), "{warnings}");

    let (_, (status, body)) = gw.fill_disk().await;
    assert_eq!(status, reqwest::StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let page = driver
        .wait_for("the store failure", READ_PAGE, |p| {
            p["warnings"].as_str().is_some_and(|w| {
                w.contains("the store failed, so no scan is granted: ")
                    && w.contains("File too large")
            })
        })
        .await;
    assert_eq!(
        page["status"], "live",
        "the page keeps following the gateway"
    );

    let status = gw.sigterm();
    assert!(status.success(), "exit status after SIGTERM: {status}");
    driver.call("DELETE", "", None).await;
}

/// A few more gates and denial reasons, so the picture shows every panel,
/// then a PNG of the page.
async fn screenshot(
    gw: &Gateway,
    driver: &Driver,
    scanner: &scangate_client::Scanner,
    path: &Path,
) {
    let gated = gw
        .issue(json!({"event": "fest", "max_uses": 1, "gates": ["south"], "count": 40}))
        .await;
    gw.issue(json!({"event": "expo", "max_uses": 3, "count": 10}))
        .await;
    for (i, pass) in gated.iter().enumerate() {
        let gate = ["south", "south", "east"][i % 3];
        scan(scanner, &pass.token, gate, None).await;
    }
    scan(scanner, &gated[0].token, "south", None).await;
    scan(scanner, "NOT-A-TOKEN", "east", None).await;
    driver
        .wait_for("the extra scans", READ_PAGE, |p| p["scans"] == "46")
        .await;
    let png = driver.call("GET", "/screenshot", None).await;
    let png = data_encoding::BASE64
        .decode(png.as_str().expect("base64 png").as_bytes())
        .expect("png");
    std::fs::write(path, png).expect("write screenshot");
}

/// A gate name is a scanner's text: markup in it (allowed by the name rule,
/// `<`, `>` and `"` are ASCII punctuation) is shown as text, never parsed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markup_in_a_gate_name_is_shown_as_text() {
    let Some((_dirs, gw, driver)) = open_dashboard(|dir| Gateway::start(dir, &[])).await else {
        return;
    };
    let pass = gw.issue_one(1).await;
    let scanner = gw.scanner("dash-markup").await;
    let gate = r#"<img id="pwned" src="x">"#;
    assert!(
        scan(&scanner, &pass.token, gate, None)
            .await
            .decision
            .is_granted()
    );
    let read = r##"return {
        gates: Array.from(document.querySelectorAll("#gates tr td:first-child"), (c) => c.textContent),
        injected: document.getElementById("pwned") !== null || document.querySelector("#gates img") !== null,
    };"##;
    let page = driver
        .wait_for("the gate", read, |p| p["gates"][0] == gate)
        .await;
    assert_eq!(page["injected"], false, "markup was parsed: {page}");
    gw.kill9();
    driver.call("DELETE", "", None).await;
}
