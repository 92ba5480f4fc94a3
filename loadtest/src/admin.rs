//! The admin API calls the run makes (bulk issue, revoke, and the read-back
//! the checker needs), over the one admin client of `scangate-api`.

use crate::LoadError;
use scangate_api::{AdminClient, ClientError, ConflictView, PageView, PassView, ScanView};
use scangate_core::{AuditRecord, Status};
use std::net::SocketAddr;
use std::time::Duration;

/// Deadline of one admin request. Issuing 10,000 passes is one durable
/// batch: well under a second, even with a load running.
pub const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Most scans or audit records one list request returns (the API's limit).
pub const LIST_LIMIT: usize = 1_000;
/// How long one admin call is sent again while the API refuses it as over
/// the admin token's rate (429), each time after the wait its `Retry-After`
/// gives. The gateway's default rate (2,000 calls/s, a burst of 4,000)
/// refuses a read-back of a few thousand passes (2 or 3 calls each) for a
/// second or two; a minute covers a rate some 30 times lower. Past it the
/// call fails naming the 429, and a pass it was reading is unchecked.
pub const RATE_LIMIT_WAIT_MAX: Duration = Duration::from_secs(60);
/// Attempts of a set-up revoke before the run gives up.
pub const REVOKE_ATTEMPTS: u32 = 5;
/// Pause after a set-up revoke's first failed attempt; doubled after each.
const REVOKE_BACKOFF: Duration = Duration::from_millis(100);

/// The admin API of one gateway.
#[derive(Debug, Clone)]
pub struct Admin {
    client: AdminClient,
}

impl Admin {
    /// A client for the gateway whose operator plane listens on `addr`.
    pub fn new(addr: SocketAddr, token: String) -> Result<Self, LoadError> {
        let client = AdminClient::new(&format!("http://{addr}"), token, ADMIN_TIMEOUT)
            .map_err(|e| failed("build the HTTP client", e))?
            .waiting_out_rate_limits(RATE_LIMIT_WAIT_MAX);
        Ok(Admin { client })
    }

    /// `POST /v1/passes` with `body` (an issue request, `count` ≤ `ISSUE_MAX`).
    pub async fn issue(&self, body: &serde_json::Value) -> Result<Vec<PassView>, LoadError> {
        let asked = self.client.post("/v1/passes", body).await;
        asked.map_err(|e| failed("issue passes", e))
    }

    /// `POST /v1/passes/{id}/revoke`.
    pub async fn revoke(&self, id: &str, reason: &str) -> Result<PassView, LoadError> {
        let body = serde_json::json!({ "reason": reason });
        let asked = self
            .client
            .post(&format!("/v1/passes/{id}/revoke"), &body)
            .await;
        asked.map_err(|e| failed("revoke a pass", e))
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
        let asked = self.client.get(&format!("/v1/passes/{id}")).await;
        asked.map_err(|e| failed("read a pass", e))
    }

    /// `GET /v1/passes/{id}/scans?limit=1000`, oldest first.
    pub async fn scans(&self, id: &str) -> Result<Vec<ScanView>, LoadError> {
        let path = format!("/v1/passes/{id}/scans?limit={LIST_LIMIT}");
        let asked = self.client.get(&path).await;
        asked.map_err(|e| failed("list a pass's scans", e))
    }

    /// `GET /v1/passes/{id}/audit?limit=1000`, oldest first.
    pub async fn audit(&self, id: &str) -> Result<Vec<AuditRecord>, LoadError> {
        let path = format!("/v1/passes/{id}/audit?limit={LIST_LIMIT}");
        let asked = self.client.get(&path).await;
        asked.map_err(|e| failed("list a pass's audit log", e))
    }
}

impl Admin {
    /// `GET /v1/conflicts?from=FROM&limit=1000[&after=CURSOR]`: one page of
    /// the conflicts recorded since `from` (RFC 3339), oldest first.
    pub async fn conflicts(
        &self,
        from: &str,
        after: Option<&str>,
    ) -> Result<PageView<ConflictView>, LoadError> {
        let mut path = format!("/v1/conflicts?from={from}&limit={LIST_LIMIT}");
        if let Some(cursor) = after {
            path.push_str("&after=");
            path.push_str(cursor);
        }
        let asked = self.client.get(&path).await;
        asked.map_err(|e| failed("list the conflicts", e))
    }
}

impl Admin {
    /// `PUT /v1/events/{event}`: sets the event's definition.
    pub async fn put_event(
        &self,
        event: &str,
        definition: &scangate_core::event::EventDefinition,
    ) -> Result<(), LoadError> {
        let body = serde_json::to_vec(definition)
            .map_err(|e| LoadError::Admin(format!("cannot encode a definition: {e}")))?;
        let path = format!("/v1/events/{event}");
        let asked = self
            .client
            .put_raw::<serde_json::Value>(&path, "application/json", body)
            .await;
        asked
            .map(|_| ())
            .map_err(|e| failed("set the event's definition", e))
    }

    /// `GET /v1/events/{event}/occupancy` as JSON; `None` when the gateway
    /// answers 404 (one without the route, or an event it has no
    /// definition of).
    pub async fn occupancy(&self, event: &str) -> Result<Option<serde_json::Value>, LoadError> {
        let asked = self
            .client
            .get(&format!("/v1/events/{event}/occupancy"))
            .await;
        match asked {
            Ok(v) => Ok(Some(v)),
            Err(ClientError::Api(e)) if e.status.as_u16() == 404 => Ok(None),
            Err(e) => Err(failed("read the event's occupancy", e)),
        }
    }

    /// `GET /v1/scans?event=EVENT&from=FROM&limit=1000[&after=CURSOR]`:
    /// one page of the event's scans, in the gateway's order (decision
    /// time, then the store's commit order).
    pub async fn event_scans(
        &self,
        event: &str,
        from: &str,
        after: Option<&str>,
    ) -> Result<PageView<ScanView>, LoadError> {
        let limit = LIST_LIMIT.to_string();
        let mut query = vec![("event", event), ("from", from), ("limit", &limit)];
        if let Some(cursor) = after {
            query.push(("after", cursor));
        }
        let asked = self.client.get_query("/v1/scans", &query).await;
        asked.map_err(|e| failed("list the event's scans", e))
    }
}

/// `what` failed, with the whole cause (the API's sentence, or why the
/// gateway could not be reached).
fn failed(what: &str, e: ClientError) -> LoadError {
    LoadError::Admin(format!("cannot {what}: {:#}", anyhow::Error::from(e)))
}
