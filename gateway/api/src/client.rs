//! The one client of the admin API (`/v1/...`, bearer token), used by the
//! `scangate` CLI commands and by `scangate-load`: sends a request, and
//! turns a non-2xx answer into the API's [`ApiError`] and a 2xx body into
//! the caller's type. Each caller gives its own request deadline, and may
//! have the client wait out the API's rate limit ([`AdminClient::waiting_out_rate_limits`]).

use crate::ApiError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::{Duration, Instant};

/// The pause before resending a request refused 429 whose answer carries no
/// `Retry-After` in seconds (the gateway always sends one; this is for a
/// proxy in between): the gateway's own smallest `Retry-After`.
pub const RETRY_AFTER_DEFAULT: Duration = Duration::from_secs(1);

/// Why an admin request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The HTTP client could not be built (TLS back end, settings).
    #[error("cannot build the HTTP client")]
    Build(#[source] reqwest::Error),
    /// No answer: connection refused, reset, or past the deadline.
    #[error("cannot reach the admin API at {base}")]
    Unreachable {
        /// The base URL asked.
        base: String,
        /// What reqwest saw.
        #[source]
        source: reqwest::Error,
    },
    /// The API answered with an error (status, code, message, field).
    #[error(transparent)]
    Api(#[from] ApiError),
    /// A 2xx answer that is not the JSON the caller expects.
    #[error("the admin API answered something unexpected")]
    Unexpected(#[source] serde_json::Error),
    /// The API still refused the request as over its token's rate (429)
    /// when waiting as its `Retry-After` said would have taken the client
    /// past its budget ([`AdminClient::waiting_out_rate_limits`]).
    #[error(
        "the admin API refused the call as over the token's rate (429) for {waited:?}; this client waits at most {budget:?}"
    )]
    RateLimited {
        /// Time since the request was first sent.
        waited: Duration,
        /// The client's budget.
        budget: Duration,
        /// The last refusal.
        #[source]
        last: ApiError,
    },
}

impl ClientError {
    /// True when nothing listens at the address (connection refused): a
    /// gateway that is gone, rather than one that failed.
    pub fn is_connect(&self) -> bool {
        matches!(self, ClientError::Unreachable { source, .. } if source.is_connect())
    }
}

/// A client of one gateway's admin API.
#[derive(Debug, Clone)]
pub struct AdminClient {
    http: reqwest::Client,
    base: String,
    token: String,
    /// How long a request refused 429 is resent for; `None`: not resent.
    rate_limit_budget: Option<Duration>,
}

/// The pause a 429's `Retry-After` asks for: whole seconds (what the
/// gateway sends); [`RETRY_AFTER_DEFAULT`] when absent or an HTTP date.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Duration {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(RETRY_AFTER_DEFAULT, Duration::from_secs)
}

/// No query string, for [`AdminClient::get_bytes`].
pub const NO_QUERY: &[(&str, &str)] = &[];

impl AdminClient {
    /// A client for the admin API at `base` (`http://host:port`; a trailing
    /// `/` is dropped) with the bearer `token`; each request is given up
    /// after `timeout`.
    pub fn new(base: &str, token: String, timeout: Duration) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(ClientError::Build)?;
        Ok(AdminClient {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token,
            rate_limit_budget: None,
        })
    }

    /// This client, resending a request the API refuses as over the
    /// token's rate (429) once the time its `Retry-After` gives has passed
    /// ([`RETRY_AFTER_DEFAULT`] without one), for at most `budget` from the
    /// request's first send; past it the request fails with
    /// [`ClientError::RateLimited`]. Resending is safe for every method: the
    /// gateway refuses an over-rate call in its authorization layer, before
    /// any handler runs, so the refused call changed nothing. Without this a
    /// 429 is returned at once as [`ClientError::Api`].
    pub fn waiting_out_rate_limits(mut self, budget: Duration) -> Self {
        self.rate_limit_budget = Some(budget);
        self
    }

    /// The base URL requests go to.
    pub fn base(&self) -> &str {
        &self.base
    }

    async fn call<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        let body = self.send(req).await?;
        serde_json::from_slice(&body).map_err(ClientError::Unexpected)
    }

    /// Sends a request; the body of a 2xx answer, or the API's error. A
    /// 429 is resent as [`Self::waiting_out_rate_limits`] says.
    async fn send(&self, req: reqwest::RequestBuilder) -> Result<bytes::Bytes, ClientError> {
        let unreachable = |source| ClientError::Unreachable {
            base: self.base.clone(),
            source,
        };
        let first_sent = Instant::now();
        let mut request = req.bearer_auth(&self.token).build().map_err(unreachable)?;
        loop {
            // A body that cannot be copied (a stream) is sent once.
            let again = request.try_clone();
            let resp = self.http.execute(request).await.map_err(unreachable)?;
            let status = resp.status();
            let pause = retry_after(resp.headers());
            let body = resp.bytes().await.map_err(unreachable)?;
            if status.is_success() {
                return Ok(body);
            }
            let refused = ApiError::from_body(status, &String::from_utf8_lossy(&body));
            let (budget, again) = match (self.rate_limit_budget, again) {
                (Some(budget), Some(again)) if status == http::StatusCode::TOO_MANY_REQUESTS => {
                    (budget, again)
                }
                _ => return Err(refused.into()),
            };
            let waited = first_sent.elapsed();
            if waited + pause > budget {
                return Err(ClientError::RateLimited {
                    waited,
                    budget,
                    last: refused,
                });
            }
            tokio::time::sleep(pause).await;
            request = again;
        }
    }

    /// GET `path` with `query` (pairs, or a struct; reqwest percent-encodes
    /// them; [`NO_QUERY`] for none), the raw body (images).
    pub async fn get_bytes<Q: Serialize + ?Sized>(
        &self,
        path: &str,
        query: &Q,
    ) -> Result<bytes::Bytes, ClientError> {
        self.send(self.http.get(format!("{}{path}", self.base)).query(query))
            .await
    }

    /// POST a raw body of `content_type` to `path`, decoding JSON.
    pub async fn post_raw<T: DeserializeOwned>(
        &self,
        path: &str,
        content_type: &'static str,
        body: Vec<u8>,
    ) -> Result<T, ClientError> {
        self.raw(reqwest::Method::POST, path, content_type, body)
            .await
    }

    /// PUT a raw body of `content_type` to `path`, decoding JSON.
    pub async fn put_raw<T: DeserializeOwned>(
        &self,
        path: &str,
        content_type: &'static str,
        body: Vec<u8>,
    ) -> Result<T, ClientError> {
        self.raw(reqwest::Method::PUT, path, content_type, body)
            .await
    }

    /// A raw body of `content_type` sent to `path` with `method`, decoding JSON.
    async fn raw<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: &'static str,
        body: Vec<u8>,
    ) -> Result<T, ClientError> {
        let req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body);
        self.call(req).await
    }

    /// GET `path`, decoding JSON.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.call(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    /// GET `path` with `query` (pairs, or a struct; reqwest percent-encodes
    /// them), decoding JSON.
    pub async fn get_query<Q: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        query: &Q,
    ) -> Result<T, ClientError> {
        self.call(self.http.get(format!("{}{path}", self.base)).query(query))
            .await
    }

    /// DELETE `path` with `body` as JSON, decoding JSON.
    pub async fn delete<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        self.call(self.http.delete(format!("{}{path}", self.base)).json(body))
            .await
    }

    /// POST `body` as JSON to `path`, decoding JSON.
    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        self.call(self.http.post(format!("{}{path}", self.base)).json(body))
            .await
    }
}
