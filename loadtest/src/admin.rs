//! A small client of the gateway's admin API (`/v1/...`, bearer token):
//! bulk issue, revoke, and the read-back the checker needs.

use crate::LoadError;
use scangate::api::{ApiError, PassView, ScanView};
use scangate_core::{AuditRecord, Status};
use serde::de::DeserializeOwned;
use std::net::SocketAddr;
use std::time::Duration;

/// Deadline of one admin request. Issuing 10,000 passes is one durable
/// batch: well under a second, even with a load running.
pub const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Most scans or audit records one list request returns (the API's limit).
pub const LIST_LIMIT: usize = 1_000;
/// Attempts of a set-up revoke before the run gives up.
pub const REVOKE_ATTEMPTS: u32 = 5;
/// Pause after a set-up revoke's first failed attempt; doubled after each.
const REVOKE_BACKOFF: Duration = Duration::from_millis(100);

/// The admin API of one gateway.
#[derive(Debug, Clone)]
pub struct Admin {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Admin {
    /// A client for the gateway whose operator plane listens on `addr`.
    pub fn new(addr: SocketAddr, token: String) -> Result<Self, LoadError> {
        let http = reqwest::Client::builder()
            .timeout(ADMIN_TIMEOUT)
            .build()
            .map_err(|e| LoadError::Admin(format!("cannot build the HTTP client: {e}")))?;
        Ok(Admin {
            http,
            base: format!("http://{addr}"),
            token,
        })
    }

    /// `POST /v1/passes` with `body` (an issue request, `count` ≤ `ISSUE_MAX`).
    pub async fn issue(&self, body: &serde_json::Value) -> Result<Vec<PassView>, LoadError> {
        let req = self
            .http
            .post(format!("{}/v1/passes", self.base))
            .json(body);
        self.send("issue passes", req).await
    }

    /// `POST /v1/passes/{id}/revoke`.
    pub async fn revoke(&self, id: &str, reason: &str) -> Result<PassView, LoadError> {
        let req = self
            .http
            .post(format!("{}/v1/passes/{id}/revoke", self.base))
            .json(&serde_json::json!({ "reason": reason }));
        self.send("revoke a pass", req).await
    }

    /// Revokes a pass until it is revoked, for the run's set-up. A revoke
    /// answered 503 (the store past its deadline) may still be applied, so
    /// after any failure the pass is read, and a revoked pass is done (a
    /// second revoke of it is refused with 409). Gives up, with the last
    /// error, after [`REVOKE_ATTEMPTS`].
    pub async fn revoke_settled(&self, id: &str, reason: &str) -> Result<(), LoadError> {
        let (mut attempt, mut pause) = (1, REVOKE_BACKOFF);
        loop {
            let failed = match self.revoke(id, reason).await {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            if self
                .pass(id)
                .await
                .is_ok_and(|p| p.status == Status::Revoked)
            {
                return Ok(());
            }
            if attempt >= REVOKE_ATTEMPTS {
                return Err(failed);
            }
            tokio::time::sleep(pause).await;
            (attempt, pause) = (attempt + 1, pause * 2);
        }
    }

    /// `GET /v1/passes/{id}`.
    pub async fn pass(&self, id: &str) -> Result<PassView, LoadError> {
        let req = self.http.get(format!("{}/v1/passes/{id}", self.base));
        self.send("read a pass", req).await
    }

    /// `GET /v1/passes/{id}/scans?limit=1000`, oldest first.
    pub async fn scans(&self, id: &str) -> Result<Vec<ScanView>, LoadError> {
        let url = format!("{}/v1/passes/{id}/scans?limit={LIST_LIMIT}", self.base);
        self.send("list a pass's scans", self.http.get(url)).await
    }

    /// `GET /v1/passes/{id}/audit?limit=1000`, oldest first.
    pub async fn audit(&self, id: &str) -> Result<Vec<AuditRecord>, LoadError> {
        let url = format!("{}/v1/passes/{id}/audit?limit={LIST_LIMIT}", self.base);
        self.send("list a pass's audit log", self.http.get(url))
            .await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        what: &str,
        req: reqwest::RequestBuilder,
    ) -> Result<T, LoadError> {
        let fail = |e: String| LoadError::Admin(format!("cannot {what}: {e}"));
        let resp = req
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| fail(e.to_string()))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| fail(e.to_string()))?;
        if !status.is_success() {
            return Err(fail(ApiError::from_body(status, &text).to_string()));
        }
        serde_json::from_str(&text).map_err(|e| fail(format!("unexpected answer: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::Target;

    /// Against a real gateway in this process (the only test here that
    /// starts one: it installs the process's metrics recorder).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_set_up_revoke_is_done_once_the_pass_is_revoked() {
        let target = Target::spawn(1).await.expect("gateway");
        let admin = Admin::new(target.http, target.admin_token.clone()).expect("admin");
        let issued = admin
            .issue(&serde_json::json!({"event": "fest", "count": 2}))
            .await
            .expect("issue");
        admin
            .revoke_settled(&issued[0].id, "test")
            .await
            .expect("a plain revoke");
        // A revoke that landed although its answer was lost: the next
        // attempt is refused (409), and the pass, read back, is revoked.
        admin.revoke(&issued[1].id, "test").await.expect("revoke");
        assert!(admin.revoke(&issued[1].id, "again").await.is_err());
        admin
            .revoke_settled(&issued[1].id, "test")
            .await
            .expect("already revoked is done");
        for pass in &issued {
            assert_eq!(
                admin.pass(&pass.id).await.expect("read").status,
                Status::Revoked
            );
        }
        // A pass that does not exist is never revoked: the last error.
        let missing = admin
            .revoke_settled(&"0".repeat(32), "test")
            .await
            .expect_err("no such pass");
        assert!(
            missing.to_string().contains("cannot revoke a pass"),
            "{missing}"
        );
        target.stop().await.expect("stop");
    }
}
