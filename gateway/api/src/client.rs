//! The one client of the admin API (`/v1/...`, bearer token), used by the
//! `scangate` CLI commands and by `scangate-load`: sends a request, and
//! turns a non-2xx answer into the API's [`ApiError`] and a 2xx body into
//! the caller's type. Each caller gives its own request deadline.

use crate::ApiError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

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
        })
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

    /// Sends a request; the body of a 2xx answer, or the API's error.
    async fn send(&self, req: reqwest::RequestBuilder) -> Result<bytes::Bytes, ClientError> {
        let unreachable = |source| ClientError::Unreachable {
            base: self.base.clone(),
            source,
        };
        let resp = req
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(unreachable)?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(unreachable)?;
        if !status.is_success() {
            return Err(ApiError::from_body(status, &String::from_utf8_lossy(&body)).into());
        }
        Ok(body)
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
