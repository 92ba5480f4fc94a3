//! `scangate pass link` prints the link a holder opens: with `--http-tls`
//! and no public listener, an `https://` link to the HTTP plane (the CLI
//! itself still speaks plain HTTP to it over loopback), which opens over
//! TLS for a client trusting the gateway's CA.

use crate::common;

use common::Gateway;

/// Under `--http-tls` without a public listener, `scangate pass link`
/// prints the link with the scheme the plane serves, and it opens over
/// TLS for a client trusting the gateway's CA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pass_link_prints_https_when_the_plane_serves_tls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &["--http-tls"]);
    let pass = gw.issue_one(1).await;
    let out = gw.cli(&["pass", "link", &pass.id]);
    let url = out.trim();
    let prefix = format!("https://{}/h/", gw.http);
    assert!(url.starts_with(&prefix), "{url}");
    let path = &url[prefix.len() - "/h/".len()..];
    let tls = common::https::trusting(&gw.dir.join("pki/ca.pem"));
    let (status, page) = common::https::get(gw.http, "localhost", &tls, path)
        .await
        .expect("https holder page");
    assert_eq!(status, 200, "{page}");
}
