//! The OpenAPI document (`GET /v1/openapi.json`): it is OpenAPI 3.x, it and
//! the admin route table (`ROUTES`) describe the same endpoints in both
//! directions, every admin operation needs the bearer scheme and documents
//! its errors with the error body, every `$ref` resolves, and the running
//! gateway serves exactly this document without a token. When
//! `openapi-spec-validator` (PyPI) is installed, it validates the document
//! too; otherwise that check says loudly that it was skipped. `contract.rs`
//! checks that the running gateway answers as the document says.

use crate::common;

use common::Gateway;
use scangate_gateway::operator::admin::openapi::{self, PUBLIC, SECURITY_SCHEME};
use scangate_gateway::operator::admin::routes::{ROUTES, Route};
use scangate_gateway::operator::tokens::Permission;
use serde_json::Value;
use std::collections::BTreeSet;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn doc() -> Value {
    serde_json::from_str(openapi::json()).expect("the document is JSON")
}

/// Every `(METHOD, path)` the document describes.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("paths");
    let mut out = BTreeSet::new();
    for (path, item) in paths {
        for m in METHODS {
            if item.get(m).is_some() {
                out.insert((m.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    out
}

fn op<'a>(doc: &'a Value, method: &str, path: &str) -> &'a Value {
    &doc["paths"][path][method.to_ascii_lowercase()]
}

fn needs_bearer(op: &Value) -> bool {
    op["security"]
        .as_array()
        .is_some_and(|reqs| reqs.iter().any(|r| r.get(SECURITY_SCHEME).is_some()))
}

fn is_error_body(response: &Value) -> bool {
    response["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/ErrorBody"
}

#[test]
fn is_openapi_3_with_a_bearer_scheme() {
    let doc = doc();
    let version = doc["openapi"].as_str().expect("openapi version");
    assert!(version.starts_with("3."), "OpenAPI version {version}");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let scheme = &doc["components"]["securitySchemes"][SECURITY_SCHEME];
    assert_eq!(scheme["type"], "http", "{scheme}");
    assert_eq!(scheme["scheme"], "bearer", "{scheme}");
}

#[test]
fn documents_exactly_the_admin_routes_and_the_public_endpoints() {
    let doc = doc();
    let documented = operations(&doc);
    let mut expected: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(expected.len(), ROUTES.len(), "ROUTES has a duplicate");
    for (m, p) in PUBLIC {
        assert!(
            expected.insert(((*m).to_owned(), (*p).to_owned())),
            "{m} {p} is both public and in ROUTES"
        );
    }
    let missing: Vec<_> = expected.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "routes missing from the document: {missing:?}; documented but not routed: {extra:?}"
    );
    // The public ones need no token; every documented bearer operation is a
    // ROUTES entry.
    for (m, p) in PUBLIC {
        assert!(!needs_bearer(op(&doc, m, p)), "{m} {p} should be public");
    }
    for (m, p) in &documented {
        if needs_bearer(op(&doc, m, p)) {
            assert!(
                ROUTES.iter().any(|r| r.method == m && r.path == p),
                "{m} {p} needs a token but is not in ROUTES"
            );
        }
    }
}

fn check_admin_operation(doc: &Value, r: &Route) {
    let what = format!("{} {}", r.method, r.path);
    let o = op(doc, r.method, r.path);
    assert!(needs_bearer(o), "{what}: no bearer security requirement");
    assert_eq!(
        o["summary"], r.summary,
        "{what}: summary is the ROUTES line"
    );
    let role = match r.needs {
        Permission::Read => "viewer",
        Permission::Operate => "operator",
        Permission::Admin => "admin",
    };
    let description = o["description"].as_str().unwrap_or_default();
    assert!(
        description.contains(&format!("`{role}`")),
        "{what}: the description names the role: {description}"
    );
    let responses = o["responses"].as_object().expect("responses");
    assert!(
        responses.keys().any(|s| s.starts_with('2')),
        "{what}: no success answer"
    );
    let mut errors = vec!["401"];
    if r.needs != Permission::Read {
        errors.push("403");
    }
    // Every path parameter can be malformed; every JSON body can be too large.
    if r.path.contains('{') {
        errors.push("400");
    }
    if o["requestBody"]["content"]
        .as_object()
        .is_some_and(|c| c.contains_key("application/json"))
    {
        errors.extend(["400", "413"]);
    }
    for code in errors {
        let resp = responses
            .get(code)
            .unwrap_or_else(|| panic!("{what}: no {code} answer"));
        assert!(is_error_body(resp), "{what}: {code} is not an ErrorBody");
    }
    for (code, resp) in responses {
        if code.starts_with('4') || code.starts_with('5') {
            assert!(is_error_body(resp), "{what}: {code} is not an ErrorBody");
        }
    }
    // Path parameters are declared, named as in the path.
    for seg in r.path.split('/') {
        if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            let declared = o["parameters"].as_array().is_some_and(|ps| {
                ps.iter()
                    .any(|p| p["name"] == name && p["in"] == "path" && p["required"] == true)
            });
            assert!(declared, "{what}: path parameter {name} not declared");
        }
    }
}

#[test]
fn every_admin_operation_needs_a_token_and_documents_its_errors() {
    let doc = doc();
    for r in ROUTES {
        check_admin_operation(&doc, r);
    }
    // A few shapes the clients rely on.
    let issue = op(&doc, "POST", "/v1/passes");
    assert!(issue["requestBody"]["content"]["application/x-ndjson"].is_object());
    assert_eq!(
        issue["responses"]["201"]["content"]["application/json"]["schema"]["items"]["$ref"],
        "#/components/schemas/PassView"
    );
    let qr = &op(&doc, "GET", "/v1/passes/{id}/qr")["responses"]["200"]["content"];
    assert!(
        qr["image/svg+xml"].is_object() && qr["image/png"].is_object(),
        "{qr}"
    );
    let list = op(&doc, "GET", "/v1/passes");
    let names: BTreeSet<&str> = list["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .filter(|p| p["in"] == "query")
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["event", "kind", "status", "limit", "after", "tokens"])
    );
    let kind = &doc["components"]["schemas"]["Kind"]["enum"];
    assert_eq!(
        *kind,
        serde_json::json!(["ticket", "pass", "access_code", "card_share"]),
        "Kind is described in its wire spelling"
    );
}

#[test]
fn operation_ids_are_unique() {
    let doc = doc();
    let mut seen = BTreeSet::new();
    for (m, p) in operations(&doc) {
        let id = op(&doc, &m, &p)["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{m} {p}: no operationId"))
            .to_owned();
        assert!(seen.insert(id.clone()), "{m} {p}: operationId {id} repeats");
    }
}

/// Every `$ref` in `v`, recursively.
fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                match (k.as_str(), x) {
                    ("$ref", Value::String(s)) => out.push(s),
                    _ => refs(x, out),
                }
            }
        }
        Value::Array(xs) => xs.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[test]
fn every_reference_resolves() {
    let doc = doc();
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("external $ref {r}"));
        assert!(doc.pointer(pointer).is_some(), "dangling $ref {r}");
    }
}

/// `openapi-spec-validator` (PyPI), when present, validates the document
/// against the OpenAPI schema. Not installed: skipped, loudly.
#[test]
fn a_real_validator_accepts_it_when_installed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, openapi::json()).expect("write");
    let out = std::process::Command::new("openapi-spec-validator")
        .arg(&file)
        .output();
    match out {
        Err(e) => eprintln!(
            "SKIPPED: openapi-spec-validator is not installed ({e}); \
             `pip install openapi-spec-validator` to run this check"
        ),
        // A pyenv or asdf shim without the tool behind it.
        Ok(out) if out.status.code() == Some(127) => eprintln!(
            "SKIPPED: openapi-spec-validator is not installed (exit 127: {}); \
             `pip install openapi-spec-validator` to run this check",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Ok(out) => assert!(
            out.status.success(),
            "openapi-spec-validator rejects the document:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_serves_it_without_a_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &[]);
    let resp = reqwest::get(format!("http://{}/v1/openapi.json", gw.http))
        .await
        .expect("get");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let served: Value = resp.json().await.expect("json");
    assert_eq!(served, doc(), "the gateway serves the generated document");
}
