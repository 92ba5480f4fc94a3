//! The admin API's client side, shared by `scangate pass`, `scangate audit`
//! and the other operator commands: finds the gateway and the admin token in
//! the data directory (or takes them from flags), and turns error bodies into
//! one clear sentence.

use crate::api::ApiError;
use crate::datadir::DataDir;
use anyhow::{Context, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// How long one admin request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the admin API is and how to authenticate.
#[derive(Debug, clap::Args)]
pub struct AdminArgs {
    /// The admin API's base URL (default: the gateway running on this data dir).
    #[arg(long, global = true, env = "SCANGATE_HTTP")]
    pub http: Option<String>,
    /// Print JSON (one object per line).
    #[arg(long, global = true)]
    pub json: bool,
}

/// A client of the admin API.
pub struct AdminClient {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl AdminClient {
    /// A client for the gateway of `data` (or `--http`), with its admin token.
    pub fn new(data: &DataDir, args: &AdminArgs) -> Result<Self> {
        let base = match &args.http {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", data.read_endpoints()?.http),
        };
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()?;
        Ok(AdminClient {
            http,
            base,
            token: data.read_admin_token()?,
        })
    }

    async fn call<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<T> {
        let body = self.send(req).await?;
        serde_json::from_slice(&body).context("the admin API answered something unexpected")
    }

    /// Sends a request; the body of a 2xx answer, or the API's error.
    async fn send(&self, req: reqwest::RequestBuilder) -> Result<bytes::Bytes> {
        let resp = req
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| format!("cannot reach the admin API at {}", self.base))?;
        let status = resp.status();
        let body = resp.bytes().await?;
        if !status.is_success() {
            return Err(ApiError::from_body(status, &String::from_utf8_lossy(&body)).into());
        }
        Ok(body)
    }

    /// GET `path` with `query` (pairs, or a struct; reqwest percent-encodes
    /// them), the raw body (images).
    pub async fn get_bytes<Q: Serialize + ?Sized>(
        &self,
        path: &str,
        query: &Q,
    ) -> Result<bytes::Bytes> {
        self.send(self.http.get(format!("{}{path}", self.base)).query(query))
            .await
    }

    /// POST a raw body of `content_type` to `path`, decoding JSON.
    pub async fn post_raw<T: DeserializeOwned>(
        &self,
        path: &str,
        content_type: &'static str,
        body: Vec<u8>,
    ) -> Result<T> {
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body);
        self.call(req).await
    }

    /// GET `path`, decoding JSON.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.call(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    /// GET `path` with `query` (pairs, or a struct; reqwest percent-encodes
    /// them), decoding JSON.
    pub async fn get_query<Q: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        query: &Q,
    ) -> Result<T> {
        self.call(self.http.get(format!("{}{path}", self.base)).query(query))
            .await
    }

    /// POST `body` as JSON to `path`, decoding JSON.
    pub async fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T> {
        self.call(self.http.post(format!("{}{path}", self.base)).json(body))
            .await
    }
}
