//! Query and path parameters: the query parsed by hand from the raw query
//! so every problem is a 400 naming the parameter, and unknown parameters
//! are refused; a path segment through [`PathParam`], so even one that is
//! not UTF-8 gets the JSON error answer.

use crate::operator::api::{ApiError, parse_rfc3339};
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
pub use scangate_api::types::PageView;
use scangate_core::PassId;
use scangate_storage::query::CURSOR_MAX_BYTES;
use scangate_storage::{Cursor, PAGE_MAX};
use std::collections::HashMap;

/// Most parameters one query may carry.
const PARAMS_MAX: usize = 16;

/// A query's parameters, each at most once.
pub struct Params(HashMap<String, String>);

impl Params {
    /// Parses `raw` (the part after `?`), allowing only `allowed` names.
    pub fn parse(raw: Option<&str>, allowed: &[&str]) -> Result<Params, ApiError> {
        let mut map = HashMap::new();
        for (n, (k, v)) in form_urlencoded(raw.unwrap_or("")).into_iter().enumerate() {
            if n >= PARAMS_MAX {
                return Err(ApiError::invalid(
                    "query",
                    format!("at most {PARAMS_MAX} parameters"),
                ));
            }
            if !allowed.contains(&k.as_str()) {
                return Err(ApiError::invalid(
                    &k,
                    format!("unknown parameter; expected one of {}", allowed.join(", ")),
                ));
            }
            if map.insert(k.clone(), v).is_some() {
                return Err(ApiError::invalid(&k, "given more than once"));
            }
        }
        Ok(Params(map))
    }

    /// The raw value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Parses a value with `FromStr`, naming the parameter on failure.
    pub fn parsed<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, ApiError>
    where
        T::Err: std::fmt::Display,
    {
        self.get(name)
            .map(|v| {
                v.parse::<T>()
                    .map_err(|e| ApiError::invalid(name, e.to_string()))
            })
            .transpose()
    }

    /// `limit`: 1 to [`PAGE_MAX`], default `default`.
    pub fn limit(&self, default: usize) -> Result<usize, ApiError> {
        match self.parsed::<usize>("limit")? {
            None => Ok(default),
            Some(n) if (1..=PAGE_MAX).contains(&n) => Ok(n),
            Some(_) => Err(ApiError::invalid(
                "limit",
                format!("must be between 1 and {PAGE_MAX}"),
            )),
        }
    }

    /// `after`: a cursor from a previous page (hex, 1 to
    /// [`CURSOR_MAX_BYTES`] bytes; empty is refused, as the document says).
    pub fn cursor(&self) -> Result<Option<Cursor>, ApiError> {
        let Some(hex_text) = self.get("after") else {
            return Ok(None);
        };
        if hex_text.is_empty() || hex_text.len() > 2 * CURSOR_MAX_BYTES {
            return Err(ApiError::invalid(
                "after",
                "not a cursor from a previous page",
            ));
        }
        hex::decode(hex_text)
            .map(|b| Some(Cursor(b)))
            .map_err(|_| ApiError::invalid("after", "not a cursor from a previous page"))
    }

    /// A name filter (`event`, `gate`): when given, 1 to `max_bytes` bytes,
    /// the bounds a stored name has, as the OpenAPI document states them.
    pub fn name(&self, field: &str, max_bytes: usize) -> Result<Option<&str>, ApiError> {
        match self.get(field) {
            Some(v) if v.is_empty() || v.len() > max_bytes => Err(ApiError::invalid(
                field,
                format!("must be 1 to {max_bytes} bytes"),
            )),
            v => Ok(v),
        }
    }

    /// An RFC 3339 time parameter as Unix ms.
    pub fn time(&self, name: &'static str) -> Result<Option<i64>, ApiError> {
        self.get(name).map(|v| parse_rfc3339(name, v)).transpose()
    }
}

/// The route's one path parameter (`{id}`, `{scan_id}`, `{name}`), as
/// text. A segment axum cannot decode (bad percent-encoding, not UTF-8) is a
/// 400 `invalid` in the documented JSON shape, not axum's plain-text answer.
pub struct PathParam(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(PathParam(value)),
            Err(e) => Err(ApiError {
                field: Some("path".into()),
                ..ApiError::rejected(e.status(), e.body_text())
            }),
        }
    }
}

/// `application/x-www-form-urlencoded` pairs, percent- and plus-decoded.
fn form_urlencoded(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let pair = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz");
                match u8::from_str_radix(pair, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A view of a store page, its items mapped by `f`; its cursor as hex.
pub fn page_view<T, U>(page: scangate_storage::Page<U>, f: impl Fn(&U) -> T) -> PageView<T> {
    PageView {
        items: page.items.iter().map(f).collect(),
        next: page.next.map(|c| hex::encode(c.0)),
    }
}

/// Parses a pass id path segment.
pub fn parse_id(id: &str) -> Result<PassId, ApiError> {
    id.parse()
        .map_err(|e| ApiError::invalid("id", format!("{e}")))
}
