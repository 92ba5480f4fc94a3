//! The security matrix, against the real binary on loopback.
//!
//! Admin plane: every route of the admin API's table ([`ROUTES`]) is called
//! with no token, with malformed and wrong tokens (401, the presented token
//! never echoed), and with each role's token (exactly 403 where the role may
//! not, never 401/403/5xx where it may). The roles a route admits are stated
//! a second time here ([`MATRIX`]), so a route added to the table without
//! its row, or a permission changed in one place only, fails the test.
//! Refused calls change nothing: the operator journal and the state they
//! would touch are the same afterwards.
//!
//! Scanner plane: no client certificate, a certificate of another CA, an
//! expired device certificate and a revoked device are each refused (a TLS
//! alert, or the `device_revoked` close code), 0-RTT is never offered, and a
//! good device beside them scans throughout.

use crate::common;

use common::pki::{
    Admission, TicketLog, admission, ca_signed, device_params, stranger_signed, tls_with,
};
use common::{Gateway, scan};
use rustls::AlertDescription;
use scangate_core::Decision;
use scangate_gateway::operator::admin::routes::{ROUTES, Route};
use scangate_gateway::operator::tokens::Role;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The roles that may call a route: the policy, written out.
const ANY_ROLE: &[Role] = &[Role::Admin, Role::Operator, Role::Viewer];
const OPERATORS: &[Role] = &[Role::Admin, Role::Operator];
const ADMINS: &[Role] = &[Role::Admin];

/// A request body that gets past the handler's own checks.
#[derive(Debug, Clone, Copy)]
enum Body {
    None,
    Json(&'static str),
    Csv(&'static str),
}

/// One row of the admin matrix.
struct Row {
    method: &'static str,
    path: &'static str,
    /// Who may call it.
    allowed: &'static [Role],
    /// A query string the handler needs (`""`: none).
    query: &'static str,
    body: Body,
    /// A status change made to the route's pass first (`""`: none), so
    /// that the call has something to do.
    first: &'static str,
}

const fn row(method: &'static str, path: &'static str, allowed: &'static [Role]) -> Row {
    Row {
        method,
        path,
        allowed,
        query: "",
        body: Body::None,
        first: "",
    }
}

const REASON: Body = Body::Json(r#"{"reason": "security matrix"}"#);

/// Every admin route, who may call it, and a request it accepts.
const MATRIX: &[Row] = &[
    Row {
        body: Body::Json(r#"{"event": "fest", "max_uses": 1}"#),
        ..row("POST", "/v1/passes", ADMINS)
    },
    row("GET", "/v1/passes", ANY_ROLE),
    Row {
        body: Body::Csv("event,max_uses\nfest,1\n"),
        ..row("POST", "/v1/passes/import", ADMINS)
    },
    row("GET", "/v1/passes/{id}", ANY_ROLE),
    row("GET", "/v1/passes/{id}/qr", OPERATORS),
    row("POST", "/v1/passes/{id}/link", OPERATORS),
    Row {
        first: "link",
        ..row("POST", "/v1/passes/{id}/link/revoke", OPERATORS)
    },
    row("GET", "/v1/passes/{id}/scans", ANY_ROLE),
    row("GET", "/v1/passes/{id}/audit", ANY_ROLE),
    Row {
        body: REASON,
        ..row("POST", "/v1/passes/{id}/revoke", OPERATORS)
    },
    Row {
        body: REASON,
        ..row("POST", "/v1/passes/{id}/suspend", OPERATORS)
    },
    Row {
        body: REASON,
        first: "suspend",
        ..row("POST", "/v1/passes/{id}/reactivate", OPERATORS)
    },
    Row {
        body: REASON,
        ..row("POST", "/v1/passes/{id}/reissue", OPERATORS)
    },
    Row {
        body: Body::Json(r#"{"gate": "north", "reason": "security matrix"}"#),
        ..row("POST", "/v1/passes/{id}/admit", OPERATORS)
    },
    Row {
        query: "?event=fest",
        ..row("GET", "/v1/scans", ANY_ROLE)
    },
    Row {
        body: REASON,
        ..row("POST", "/v1/scans/{scan_id}/annul", OPERATORS)
    },
    row("GET", "/v1/audit", ANY_ROLE),
    row("GET", "/v1/audit/operator", ANY_ROLE),
    row("GET", "/v1/conflicts", ANY_ROLE),
    Row {
        query: "?event=fest",
        ..row("GET", "/v1/flags", ANY_ROLE)
    },
    row("GET", "/v1/incidents", ANY_ROLE),
    row("GET", "/v1/devices", ANY_ROLE),
    Row {
        body: REASON,
        ..row("POST", "/v1/devices/{name}/revoke", ADMINS)
    },
    Row {
        body: Body::Json(
            r#"{"gates": [{"name": "A", "zone": "hall", "direction": "in"}], "zones": [{"name": "hall"}]}"#,
        ),
        ..row("PUT", "/v1/events/{event}", ADMINS)
    },
    row("GET", "/v1/events/{event}", ANY_ROLE),
    row("GET", "/v1/events/{event}/occupancy", ANY_ROLE),
    Row {
        body: REASON,
        ..row("DELETE", "/v1/passes/{id}", OPERATORS)
    },
];

/// The matrix row of `route`; panics when it has none (a new route must
/// get its row before it can ship).
fn row_of(route: &Route) -> &'static Row {
    let rows: Vec<&Row> = MATRIX
        .iter()
        .filter(|r| r.method == route.method && r.path == route.path)
        .collect();
    match rows[..] {
        [row] => row,
        [] => panic!(
            "{} {} is in the admin routes table but has no row in the security matrix \
             (gateway/cli/tests/security_matrix.rs): say which roles may call it",
            route.method, route.path
        ),
        _ => panic!("{} {} has several matrix rows", route.method, route.path),
    }
}

/// What one call is made with: the `Authorization` header, if any.
struct Caller {
    label: String,
    authorization: Option<String>,
}

impl Caller {
    fn new(label: impl Into<String>, authorization: Option<String>) -> Caller {
        Caller {
            label: label.into(),
            authorization,
        }
    }
}

/// Calls `method path` as `caller` with `body`: status and body text.
async fn call(
    gw: &Gateway,
    method: &str,
    path: &str,
    caller: &Caller,
    body: Body,
) -> (u16, String) {
    let url = format!("http://{}{path}", gw.http);
    let client = reqwest::Client::new();
    let mut req = match method {
        "POST" => client.post(url),
        "PUT" => client.put(url),
        "GET" => client.get(url),
        "DELETE" => client.delete(url),
        other => panic!("the matrix cannot call method {other}"),
    };
    if let Some(value) = &caller.authorization {
        req = req.header("authorization", value);
    }
    req = match body {
        Body::None => req,
        Body::Json(text) => req.header("content-type", "application/json").body(text),
        Body::Csv(text) => req.header("content-type", "text/csv").body(text),
    };
    let resp = req.send().await.expect("the admin API answers");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

/// The path parameters of the matrix: each route that names `{id}` gets
/// its own pass, so that one route's change (a revoke) leaves the others'
/// passes as they were.
struct Fixture {
    pass_of: BTreeMap<&'static str, String>,
    /// A granted scan of the annul route's pass.
    scan_id: String,
    device: &'static str,
}

impl Fixture {
    async fn new(gw: &Gateway) -> Fixture {
        let scanner = gw.scanner("matrix-gate").await;
        let mut pass_of = BTreeMap::new();
        let mut scan_id = String::new();
        for route in ROUTES {
            if !route.path.contains("{id}") && !route.path.contains("{scan_id}") {
                continue;
            }
            let pass = gw.issue_one(5).await;
            if route.path.contains("{scan_id}") {
                scan_id = format!("matrix-{}", pass.id);
                let reply = scan(&scanner, &pass.token, "A", Some(&scan_id)).await;
                assert_eq!(reply.decision, Decision::Granted);
            }
            let first = row_of(route).first;
            if !first.is_empty() {
                let path = format!("/v1/passes/{}/{first}", pass.id);
                gw.post(&path, json!({"reason": "the matrix's start"}))
                    .await;
            }
            pass_of.insert(route.path, pass.id);
        }
        scanner.close().await;
        Fixture {
            pass_of,
            scan_id,
            device: "matrix-device",
        }
    }

    /// `route`'s path with its parameters filled in, and the row's query.
    fn path(&self, route: &Route) -> String {
        let mut path = route.path.to_owned();
        if let Some(id) = self.pass_of.get(route.path) {
            path = path.replace("{id}", id);
        }
        path = path
            .replace("{scan_id}", &self.scan_id)
            .replace("{name}", self.device)
            .replace("{event}", "matrix-event");
        assert!(
            !path.contains('{'),
            "{path}: a path parameter the matrix does not know how to fill"
        );
        path + row_of(route).query
    }
}

/// Lines in the operator journal: one per admin action that was made.
fn journal_lines(gw: &Gateway) -> usize {
    std::fs::read_to_string(gw.dir.join("operator-audit.jsonl"))
        .map(|text| text.lines().count())
        .unwrap_or(0)
}

/// What the refused calls could have changed: journal, passes, devices.
async fn observable_state(gw: &Gateway, fx: &Fixture) -> (usize, Vec<Value>, Value, Value) {
    let mut passes = Vec::new();
    for id in fx.pass_of.values() {
        let mut pass = gw.get(&format!("/v1/passes/{id}")).await;
        // The view mints a fresh token each time: not state.
        pass.as_object_mut().expect("a pass").remove("token");
        passes.push(pass);
    }
    let listed = gw.get("/v1/passes?event=fest&limit=1000").await;
    let devices = gw.get("/v1/devices").await;
    (journal_lines(gw), passes, listed["items"].clone(), devices)
}

/// Callers that are nobody: no header, malformed headers, and tokens that
/// are not (or no longer) valid.
fn strangers(gw: &Gateway, revoked: &str) -> Vec<Caller> {
    let mut changed = gw.token.clone();
    let last = changed.pop().expect("a token");
    changed.push(if last == '0' { '1' } else { '0' });
    vec![
        Caller::new("no token", None),
        Caller::new("an empty bearer", Some("Bearer ".into())),
        Caller::new("another scheme", Some(format!("Basic {}", gw.token))),
        Caller::new("the token alone", Some(gw.token.clone())),
        Caller::new("not a token", Some("Bearer sgt_not-hex-%00".into())),
        Caller::new(
            "an unknown token",
            Some(format!("Bearer sgt_{}", "0".repeat(64))),
        ),
        Caller::new("a token one digit off", Some(format!("Bearer {changed}"))),
        Caller::new("a revoked token", Some(format!("Bearer {revoked}"))),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_admin_route_refuses_strangers_and_admits_exactly_its_roles() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    for route in ROUTES {
        let row = row_of(route);
        let by_table: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|r| r.allows(route.needs))
            .collect();
        assert_eq!(
            by_table, row.allowed,
            "{} {}: the routes table and the matrix disagree on who may call it",
            route.method, route.path
        );
    }
    assert_eq!(MATRIX.len(), ROUTES.len(), "a matrix row without a route");

    let fx = Fixture::new(&gw).await;
    let revoked = gw.token_for("viewer", "gone");
    gw.cli(&["token", "revoke", "gone"]);
    let roles: Vec<(Role, Caller)> = vec![
        (
            Role::Admin,
            Caller::new("admin", Some(format!("Bearer {}", gw.token))),
        ),
        (
            Role::Operator,
            Caller::new(
                "operator",
                Some(format!("Bearer {}", gw.token_for("operator", "op"))),
            ),
        ),
        (
            Role::Viewer,
            Caller::new(
                "viewer",
                Some(format!("Bearer {}", gw.token_for("viewer", "view"))),
            ),
        ),
    ];
    let strangers = strangers(&gw, &revoked);
    let before = observable_state(&gw, &fx).await;

    // Every refusal first, so that what they could have changed is seen.
    let mut refused = 0;
    for route in ROUTES {
        let (path, body) = (fx.path(route), row_of(route).body);
        for who in &strangers {
            let (status, text) = call(&gw, route.method, &path, who, body).await;
            let what = format!("{} {path} with {}", route.method, who.label);
            assert_eq!(status, 401, "{what}: {text}");
            assert!(text.contains("unauthorized"), "{what}: {text}");
            assert!(!text.contains(&gw.token), "{what} echoes a token: {text}");
            refused += 1;
        }
        for (role, who) in roles.iter().filter(|(r, _)| !r.allows(route.needs)) {
            let (status, text) = call(&gw, route.method, &path, who, body).await;
            let what = format!("{} {path} as {}", route.method, role.as_str());
            assert_eq!(status, 403, "{what}: {text}");
            assert!(text.contains("forbidden"), "{what}: {text}");
            refused += 1;
        }
    }
    assert_eq!(
        observable_state(&gw, &fx).await,
        before,
        "a refused call changed something"
    );

    // Then the roles that may: past authorization, never a server error;
    // and each route does its work for at least one of them.
    let mut admitted = 0;
    for route in ROUTES {
        let path = fx.path(route);
        let mut worked = false;
        for (role, who) in roles.iter().filter(|(r, _)| r.allows(route.needs)) {
            let (status, text) = call(&gw, route.method, &path, who, row_of(route).body).await;
            let what = format!("{} {path} as {}", route.method, role.as_str());
            assert!(
                !matches!(status, 401 | 403) && status < 500,
                "{what}: {status} {text}"
            );
            worked |= (200..300).contains(&status);
            admitted += 1;
        }
        assert!(worked, "{} {path}: no role got a 2xx", route.method);
    }
    eprintln!(
        "{} routes: {refused} calls refused, {admitted} admitted",
        ROUTES.len()
    );
    assert!(
        journal_lines(&gw) > before.0,
        "the admitted calls were journaled"
    );
    gw.kill9();
}

/// The alert number of `alert`.
fn alert(alert: AlertDescription) -> Admission {
    Admission::TlsAlert(u8::from(alert))
}

/// The QUIC close code of a revoked device (`docs/protocol.md`).
const DEVICE_REVOKED: u64 = 4;
/// A validity window that covers today, and one that ended years ago.
const VALID: ((i32, u8, u8), (i32, u8, u8)) = ((2020, 1, 1), (2040, 1, 1));
const EXPIRED: ((i32, u8, u8), (i32, u8, u8)) = ((2020, 1, 1), (2021, 1, 1));

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quic_edge_refuses_each_bad_client_while_a_good_device_scans() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let pass = gw.issue_unlimited().await;
    let good = gw.scanner("good-gate").await;
    let still_scans = || async {
        let reply = scan(&good, &pass.token, "A", None).await;
        assert_eq!(reply.decision, Decision::Granted, "the good device");
    };
    still_scans().await;

    // Another gateway's CA has our CA's name, so a device of it is refused
    // on its signature; an unrelated CA's is refused as unknown.
    let other_gateway = tempfile::tempdir().expect("tempdir");
    let other = scangate_certs::Pki::open(other_gateway.path());
    other.init(&[]).expect("another gateway's CA");
    let files = other.issue_scanner("stranger").expect("its device");
    let (cert, key) = (common::pem(&files.cert), common::pem(&files.key));
    let (from, until) = VALID;
    let unrelated = stranger_signed("another CA", &device_params("stranger", from, until));

    let (from, until) = EXPIRED;
    let expired = ca_signed(dir.path(), &device_params("expired-gate", from, until));
    let (from, until) = VALID;
    let twin = ca_signed(dir.path(), &device_params("expired-gate", from, until));

    gw.post("/v1/devices/lost-gate/revoke", json!({"reason": "lost"}))
        .await;
    let cases: [(&str, rustls::ClientConfig, Admission); 6] = [
        (
            "no client certificate",
            tls_with(dir.path(), None),
            alert(AlertDescription::CertificateRequired),
        ),
        (
            "a device of another gateway's CA",
            tls_with(dir.path(), Some((&cert, &key))),
            alert(AlertDescription::DecryptError),
        ),
        (
            "a certificate of an unrelated CA",
            tls_with(dir.path(), Some((&unrelated.0, &unrelated.1))),
            alert(AlertDescription::UnknownCA),
        ),
        (
            "an expired device certificate",
            tls_with(dir.path(), Some((&expired.0, &expired.1))),
            alert(AlertDescription::CertificateExpired),
        ),
        (
            "the same device, valid today",
            tls_with(dir.path(), Some((&twin.0, &twin.1))),
            Admission::Answered,
        ),
        (
            "a revoked device",
            common::tls_for(dir.path(), Some("lost-gate")),
            Admission::Closed(DEVICE_REVOKED),
        ),
    ];
    for (what, tls, want) in cases {
        assert_eq!(admission(gw.quic, tls).await, want, "{what}");
        still_scans().await;
    }

    // 0-RTT: a client that would send early data gets session tickets
    // from its first connection, and every one of them allows none; so its
    // next connection has no 0-RTT to send, and goes on with 1-RTT.
    let mut eager = common::tls_for(dir.path(), Some("eager-gate"));
    eager.enable_early_data = true;
    let tickets = TicketLog::install(&mut eager);
    assert_eq!(admission(gw.quic, eager.clone()).await, Admission::Answered);
    let allowed = tickets.early_data_allowed();
    assert!(!allowed.is_empty(), "no session ticket came");
    assert!(
        allowed.iter().all(|n| *n == 0),
        "tickets allow early data: {allowed:?}"
    );
    let endpoint = common::quic_client(eager);
    let again = endpoint.connect(gw.quic, "localhost").expect("connect");
    let Err(connecting) = again.into_0rtt() else {
        panic!("the client could send 0-RTT data");
    };
    connecting.await.expect("the 1-RTT handshake still works");
    still_scans().await;
    gw.kill9();
}
