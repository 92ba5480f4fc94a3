//! Test harness: starts the real `scangate` binary on loopback with a temp
//! data directory, and talks to it over real QUIC and HTTP.

#![allow(dead_code)]

pub mod floor;
pub mod frames;
pub mod gate_actions;
pub mod guard;
pub mod holder;
pub mod https;
pub mod offline;
pub mod pki;
pub mod privacy;
pub mod relay;
pub mod scanners;
pub mod stall;

use scangate_client::{ClientError, ScanInput, Scanner, ScannerConfig};
use scangate_core::ScanId;
use scangate_core::wire::ScanReply;
use scangate_gateway::operator::api::PassView;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The smallest file-size limit the gateway starts under: fjall gives its
/// journal file 64 MiB up front.
const FILE_SIZE_LIMIT: &str = "--fsize=67108864";

/// How long a gateway may take to become ready or to exit.
pub const START_DEADLINE: Duration = Duration::from_secs(60);

/// A running gateway process.
pub struct Gateway {
    pub child: Child,
    pub dir: PathBuf,
    pub quic: SocketAddr,
    pub http: SocketAddr,
    pub token: String,
    lines: mpsc::Receiver<String>,
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_scangate")
}

impl Gateway {
    /// Starts a gateway on `dir` with generous device rates (tests exercise the
    /// rate limit separately) and any extra flags; its log goes to the test's
    /// stderr.
    pub fn start(dir: &Path, extra: &[&str]) -> Gateway {
        Gateway::start_logging_to(dir, extra, Stdio::inherit())
    }

    /// [`Gateway::start`], with the gateway's stderr (its log) going to
    /// `stderr`; `NO_COLOR` is not passed on, so the log is coloured or not by
    /// where it goes alone.
    pub fn start_logging_to(dir: &Path, extra: &[&str], stderr: Stdio) -> Gateway {
        Gateway::launch(&[], dir, extra, stderr)
    }

    /// [`Gateway::start`] through `wrapper` (a command that runs the one
    /// after it in its own process, such as `prlimit --fsize=N`).
    pub fn start_under(wrapper: &[&str], dir: &Path, extra: &[&str]) -> Gateway {
        Gateway::launch(wrapper, dir, extra, Stdio::inherit())
    }

    /// [`Gateway::start`] on a disk that fills up, made real with a
    /// file-size limit (`prlimit --fsize`): a write past it fails (EFBIG) as
    /// a write to a full disk does (ENOSPC). [`Gateway::fill_disk`] fills it.
    pub fn start_on_a_small_disk(dir: &Path) -> Gateway {
        Gateway::start_under(&["prlimit", FILE_SIZE_LIMIT], dir, &[])
    }

    /// Issues passes of ~3 KB each (the longest display, 32 long gate
    /// names), 2,000 per request, until a request is refused (~20,000 fit
    /// under [`Gateway::start_on_a_small_disk`]'s limit). Returns the first
    /// pass of every acknowledged request, and the refusal's status and body.
    pub async fn fill_disk(&self) -> (Vec<String>, (reqwest::StatusCode, String)) {
        let gates: Vec<String> = (0..32)
            .map(|g| format!("{g:02}{}", "g".repeat(60)))
            .collect();
        let spec = json!({
            "event": "fest", "max_uses": 1, "count": 2_000,
            "display": "d".repeat(1_000), "gates": gates,
        });
        let mut acknowledged = Vec::new();
        for _ in 0..100 {
            let (status, body) = self.post_answer("/v1/passes", spec.clone()).await;
            if !status.is_success() {
                return (acknowledged, (status, body));
            }
            let issued: Vec<Value> = serde_json::from_str(&body).expect("passes");
            assert_eq!(issued.len(), 2_000);
            acknowledged.push(issued[0]["id"].as_str().expect("id").to_owned());
        }
        panic!("200,000 passes of ~3 KB fit under a 64 MiB file-size limit");
    }

    fn launch(wrapper: &[&str], dir: &Path, extra: &[&str], stderr: Stdio) -> Gateway {
        Gateway::try_launch(wrapper, dir, extra, stderr)
            .unwrap_or_else(|status| panic!("gateway did not become ready: it exited ({status})"))
    }

    /// [`Gateway::start_logging_to`], or the exit status of a gateway that
    /// stopped before it was ready (a start it refused).
    pub fn try_start_logging_to(
        dir: &Path,
        extra: &[&str],
        stderr: Stdio,
    ) -> Result<Gateway, ExitStatus> {
        Gateway::try_launch(&[], dir, extra, stderr)
    }

    fn try_launch(
        wrapper: &[&str],
        dir: &Path,
        extra: &[&str],
        stderr: Stdio,
    ) -> Result<Gateway, ExitStatus> {
        let mut args = vec!["serve", "--data-dir", dir.to_str().expect("utf-8 path")];
        // Any free port, unless the test names one (to restart on the same).
        for flag in ["--quic", "--http"] {
            if !extra.contains(&flag) {
                args.extend([flag, "127.0.0.1:0"]);
            }
        }
        if !extra.contains(&"--device-rate") {
            args.extend(["--device-rate", "100000", "--device-burst", "100000"]);
        }
        args.extend(extra);
        let mut command = match wrapper.split_first() {
            Some((program, before)) => {
                let mut c = Command::new(program);
                c.args(before).arg(bin());
                c
            }
            None => Command::new(bin()),
        };
        let mut child = command
            .args(&args)
            .env("SCANGATE_LOG", "scangate=debug,warn")
            .env_remove("NO_COLOR")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start scangate");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) if line.starts_with("scangate ready") => break,
                Ok(_) => continue,
                // Its stdout closed: it exited.
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(wait_with_deadline(&mut child));
                }
                Err(e) => panic!("gateway did not become ready: {e}"),
            }
        }
        let endpoints: Value =
            serde_json::from_slice(&std::fs::read(dir.join("gateway.json")).expect("gateway.json"))
                .expect("endpoints json");
        let token = std::fs::read_to_string(dir.join("admin-token"))
            .expect("admin token")
            .trim()
            .to_owned();
        Ok(Gateway {
            child,
            dir: dir.to_owned(),
            quic: endpoints["quic"]
                .as_str()
                .expect("quic")
                .parse()
                .expect("addr"),
            http: endpoints["http"]
                .as_str()
                .expect("http")
                .parse()
                .expect("addr"),
            token,
            lines,
        })
    }

    /// kill -9: no chance to flush anything.
    pub fn kill9(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("wait");
    }

    /// Waits for the gateway to exit by itself (after a signal sent elsewhere).
    pub fn wait_exit(mut self) -> ExitStatus {
        wait_with_deadline(&mut self.child)
    }

    /// Sends `signal` (as `kill` names it: `TERM`, `STOP`, `CONT`).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{signal}");
    }

    /// SIGTERM, then wait for the exit status.
    pub fn sigterm(mut self) -> ExitStatus {
        self.signal("TERM");
        wait_with_deadline(&mut self.child)
    }

    /// A line the gateway printed on stdout that contains `needle`, waiting
    /// up to the deadline.
    pub fn wait_for_line(&self, needle: &str) -> String {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => continue,
                Err(e) => panic!("no line with {needle:?}: {e}"),
            }
        }
    }

    /// Runs `scangate ARGS --data-dir DIR` as OS user `tester` (so the CLI's
    /// journal lines say `cli:tester`); stdout, panicking on failure.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(bin())
            .args(args)
            .args(["--data-dir", self.dir.to_str().expect("utf-8")])
            .env("USER", "tester")
            .output()
            .expect("run scangate");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    /// A new admin API token with `role`, named `name`, made with the CLI.
    pub fn token_for(&self, role: &str, name: &str) -> String {
        self.cli(&["token", "create", "--role", role, "--name", name])
            .trim()
            .to_owned()
    }

    /// GET `path` with `token`: the status and the body, whatever they are.
    pub async fn get_as(&self, path: &str, token: &str) -> (u16, String) {
        let resp = reqwest::Client::new()
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("get");
        let status = resp.status().as_u16();
        (status, resp.text().await.expect("body"))
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    /// POST to the admin API; panics unless 2xx.
    pub async fn post(&self, path: &str, body: Value) -> Value {
        let (status, text) = self.post_answer(path, body).await;
        assert!(status.is_success(), "POST {path}: {status} {text}");
        serde_json::from_str(&text).expect("json")
    }

    /// POST to the admin API: the status and the body, whatever they are.
    pub async fn post_answer(&self, path: &str, body: Value) -> (reqwest::StatusCode, String) {
        let resp = reqwest::Client::new()
            .post(self.url(path))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .expect("post");
        let status = resp.status();
        (status, resp.text().await.expect("body"))
    }

    /// An unauthenticated GET of an operations endpoint (`/readyz`,
    /// `/healthz`): the status and the body.
    pub async fn probe(&self, path: &str) -> (reqwest::StatusCode, String) {
        let resp = reqwest::get(self.url(path)).await.expect("probe");
        let status = resp.status();
        (status, resp.text().await.expect("body"))
    }

    /// GET from the admin API; panics unless 2xx.
    pub async fn get(&self, path: &str) -> Value {
        let resp = reqwest::Client::new()
            .get(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("get");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        assert!(status.is_success(), "GET {path}: {status} {text}");
        serde_json::from_str(&text).expect("json")
    }

    /// `/metrics` as text.
    pub async fn metrics(&self) -> String {
        reqwest::get(self.url("/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }

    /// Issues passes; `spec` is an issue request body.
    pub async fn issue(&self, spec: Value) -> Vec<PassView> {
        serde_json::from_value(self.post("/v1/passes", spec).await).expect("passes")
    }

    /// One pass with `max_uses`.
    pub async fn issue_one(&self, max_uses: u32) -> PassView {
        let mut v = self
            .issue(json!({"event": "fest", "max_uses": max_uses}))
            .await;
        v.pop().expect("one pass")
    }

    /// One pass with no use limit.
    pub async fn issue_unlimited(&self) -> PassView {
        let mut v = self
            .issue(json!({"event": "fest", "unlimited": true}))
            .await;
        v.pop().expect("one pass")
    }

    /// The pass as stored now.
    pub async fn pass(&self, id: &str) -> PassView {
        serde_json::from_value(self.get(&format!("/v1/passes/{id}")).await).expect("pass")
    }

    /// The pass's scans.
    pub async fn scans(&self, id: &str) -> Vec<Value> {
        serde_json::from_value(self.get(&format!("/v1/passes/{id}/scans")).await).expect("scans")
    }

    /// A scanner with its own device certificate, connected.
    pub async fn scanner(&self, device: &str) -> Scanner {
        connect(&self.dir, self.quic, device).await
    }

    /// [`Gateway::scanner`] with its SDK settings changed by `tweak` first.
    pub async fn scanner_with(
        &self,
        device: &str,
        tweak: impl FnOnce(&mut ScannerConfig),
    ) -> Scanner {
        connect_with(&self.dir, self.quic, device, tweak).await
    }
}

/// A test that fails half-way must not leave its gateway running.
impl Drop for Gateway {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Issues (or reuses) a scanner certificate in the data dir and connects.
pub async fn connect(dir: &Path, addr: SocketAddr, device: &str) -> Scanner {
    connect_with(dir, addr, device, |_| {}).await
}

/// [`connect`], with the SDK settings changed by `tweak` first.
pub async fn connect_with(
    dir: &Path,
    addr: SocketAddr,
    device: &str,
    tweak: impl FnOnce(&mut ScannerConfig),
) -> Scanner {
    let mut config = scanners::device_config(dir, addr, device);
    tweak(&mut config);
    Scanner::connect(config).await.expect("connect")
}

/// Waits for a child to exit, killing it if it overstays the deadline.
pub fn wait_with_deadline(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + START_DEADLINE;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            child.kill().expect("kill");
            panic!("process did not exit within {START_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A scan at `gate` with an optional scan id; panics unless it was decided.
pub async fn scan(scanner: &Scanner, token: &str, gate: &str, scan_id: Option<&str>) -> ScanReply {
    try_scan(scanner, token, gate, scan_id)
        .await
        .expect("scan decided")
}

/// [`scan`], returning what the SDK returned, errors included.
pub async fn try_scan(
    scanner: &Scanner,
    token: &str,
    gate: &str,
    scan_id: Option<&str>,
) -> Result<ScanReply, ClientError> {
    scanner
        .scan(ScanInput {
            token: token.to_owned(),
            gate: gate.to_owned(),
            event: None,
            scan_id: scan_id.map(|s| ScanId::new(s).expect("scan id")),
        })
        .await
}

/// The value of a Prometheus counter line that starts with `prefix` (name
/// plus labels), summed over matching lines; 0 when absent.
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A raw quinn client endpoint on loopback using `tls`.
pub fn quic_client(tls: rustls::ClientConfig) -> quinn::Endpoint {
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).expect("quic tls");
    let mut endpoint =
        quinn::Endpoint::client(SocketAddr::from(([127, 0, 0, 1], 0))).expect("endpoint");
    endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
    endpoint
}

/// A QUIC connection to the gateway at `addr` as scanner `device`, for
/// tests that write frames by hand (it keeps its endpoint running).
pub async fn raw_connection(dir: &Path, addr: SocketAddr, device: &str) -> quinn::Connection {
    quic_client(tls_for(dir, Some(device)))
        .connect(addr, "localhost")
        .expect("connect")
        .await
        .expect("handshake")
}

/// The next reply on a stream read by hand (`buf` keeps what was read past it).
pub async fn read_response(
    recv: &mut quinn::RecvStream,
    buf: &mut bytes::BytesMut,
) -> scangate_core::wire::Response {
    use scangate_core::frame;
    loop {
        if let Ok((v, payload)) = frame::split_frame(buf) {
            return frame::decode(v, &payload).expect("response");
        }
        let chunk = tokio::time::timeout(Duration::from_secs(10), recv.read_chunk(4096, true))
            .await
            .expect("reply in time")
            .expect("read")
            .expect("stream open");
        buf.extend_from_slice(&chunk.bytes);
    }
}

/// A PEM file as text.
pub fn pem(path: &Path) -> String {
    std::fs::read_to_string(path).expect("pem")
}

/// Scanner TLS for `device` (its certificate issued if missing), or with no
/// client certificate when `None`.
pub fn tls_for(dir: &Path, device: Option<&str>) -> rustls::ClientConfig {
    let pki = scangate_certs::Pki::open(&dir.join("pki"));
    let ca = pem(&pki.ca_cert_path());
    let identity = device.map(|d| {
        let files = pki.scanner_files(d).expect("name");
        if !files.cert.exists() {
            pki.issue_scanner(d).expect("issue");
        }
        (pem(&files.cert), pem(&files.key))
    });
    let identity = identity.as_ref().map(|(c, k)| (c.as_str(), k.as_str()));
    scangate_certs::client_config(&ca, identity, scangate_core::wire::ALPN).expect("client tls")
}
