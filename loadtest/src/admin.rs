//! A small client of the gateway's admin API (`/v1/...`, bearer token):
//! bulk issue, revoke, and the read-back the checker needs.

use crate::LoadError;
use scangate::api::{ApiError, PassView, ScanView};
use scangate_core::AuditRecord;
use serde::de::DeserializeOwned;
use std::net::SocketAddr;
use std::time::Duration;

/// Deadline of one admin request. Issuing 10,000 passes is one durable
/// batch: well under a second, even with a load running.
pub const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Most scans or audit records one list request returns (the API's limit).
pub const LIST_LIMIT: usize = 1_000;

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
