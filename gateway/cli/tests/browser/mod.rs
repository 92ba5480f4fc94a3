//! A real headless Chromium driven over WebDriver (`chromedriver`), opened
//! on a gateway's pages, for the tests of every page a person uses
//! (the dashboard, the holder page, the guard scanner).
//!
//! Needs Debian's `chromium` and `chromium-driver` (CI installs them). Set
//! `SCANGATE_SKIP_BROWSER=1` to skip on a machine without them.

// Each test file uses a part of it.
#![allow(dead_code)]

use crate::common::Gateway;
use serde_json::{Value, json};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long chromedriver may take to listen, and the page to show a change
/// (snapshots go out once a second; this leaves room for a loaded CI machine).
pub const DEADLINE: Duration = Duration::from_secs(30);
/// Between two looks at the page while waiting for a condition.
pub const POLL: Duration = Duration::from_millis(100);

/// Ends the browser and chromedriver when the test ends, pass or fail: the
/// WebDriver session is deleted (chromedriver quits the browser), then
/// chromedriver's process group (it and whatever browser process is left)
/// is killed. Killing chromedriver alone leaves the browser running.
pub struct Driver {
    child: Child,
    url: String,
    session: Option<String>,
    http: reqwest::Client,
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(id) = &self.session {
            end_session(&self.url, id);
        }
        // chromedriver leads its own process group (see `start_with`).
        let group = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `DELETE /session/ID` to chromedriver at `base`, waiting (up to
/// [`DEADLINE`]) for its answer, which comes once the browser has quit.
/// Blocking, for `Drop`.
fn end_session(base: &str, id: &str) {
    use std::io::{Read, Write};
    let Some(addr) = base.strip_prefix("http://") else {
        return;
    };
    let Ok(mut conn) = std::net::TcpStream::connect(addr) else {
        return;
    };
    let _ = conn.set_read_timeout(Some(DEADLINE));
    let _ = conn.set_write_timeout(Some(DEADLINE));
    let request = format!(
        "DELETE /session/{id} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
    );
    if conn.write_all(request.as_bytes()).is_ok() {
        let mut answer = Vec::new();
        let _ = conn.read_to_end(&mut answer);
    }
}

impl Driver {
    /// A fresh browser on `gw`'s dashboard.
    pub async fn open(gw: &Gateway, profile: &Path) -> Driver {
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

    /// A fresh browser (with `extra` Chromium flags, such as a fake
    /// camera's) on `url`.
    pub async fn open_at(url: &str, profile: &Path, extra: &[String]) -> Driver {
        let driver = Driver::start_with(profile, extra).await;
        driver.call("POST", "/url", Some(json!({"url": url}))).await;
        driver
    }

    async fn start(profile: &Path) -> Driver {
        Driver::start_with(profile, &[]).await
    }

    async fn start_with(profile: &Path, extra: &[String]) -> Driver {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            // Its own process group, so `Drop` can end the browser with it.
            .process_group(0)
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
        let mut args: Vec<String> = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,1000",
        ]
        .map(String::from)
        .to_vec();
        args.push(format!("--user-data-dir={}", profile.display()));
        args.extend_from_slice(extra);
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args}
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
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
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
    pub async fn js(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// Saves the PNG a WebDriver screenshot command (`/screenshot`, or
    /// `/element/ID/screenshot`) answers to `file`.
    pub async fn save_png(&self, command: &str, file: &Path) {
        let png = self.call("GET", command, None).await;
        let png = data_encoding::BASE64
            .decode(png.as_str().expect("base64 png").as_bytes())
            .expect("png");
        std::fs::write(file, png).expect("write screenshot");
    }

    /// The WebDriver id of the element `css` selects.
    pub async fn element(&self, css: &str) -> String {
        let found = self
            .call(
                "POST",
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        // The W3C WebDriver key of an element reference.
        let id = &found["element-6066-11e4-a52e-4f735466cecf"];
        id.as_str().expect("an element id").to_owned()
    }

    /// Polls the page until `check` accepts what `script` returns.
    pub async fn wait_for(
        &self,
        what: &str,
        script: &str,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
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

/// Whether the browser tests run here: false where `SCANGATE_SKIP_BROWSER=1`;
/// a missing Chromium or chromedriver fails the test.
pub fn browser_available() -> bool {
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
pub type Dirs = [TempDir; 2];

/// A gateway on a fresh data dir (`start` runs it) and a headless browser
/// on its dashboard, with their dirs; `None` where the browser tests are
/// skipped. A test binds the dirs first, so that they are removed after
/// the browser and the gateway.
pub async fn open_dashboard(
    start: impl FnOnce(&Path) -> Gateway,
) -> Option<(Dirs, Gateway, Driver)> {
    if !browser_available() {
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = tempfile::tempdir().expect("browser profile dir");
    let gw = start(dir.path());
    let driver = Driver::open(&gw, profile.path()).await;
    Some(([dir, profile], gw, driver))
}
