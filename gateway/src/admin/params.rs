//! Query parameters: parsed by hand from the raw query so every problem is
//! a 400 naming the parameter, and unknown parameters are refused.

use crate::api::{ApiError, parse_rfc3339};
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

    /// `after`: a cursor from a previous page (hex).
    pub fn cursor(&self) -> Result<Option<Cursor>, ApiError> {
        let Some(hex_text) = self.get("after") else {
            return Ok(None);
        };
        if hex_text.len() > 2 * CURSOR_MAX_BYTES {
            return Err(ApiError::invalid(
                "after",
                "not a cursor from a previous page",
            ));
        }
        hex::decode(hex_text)
            .map(|b| Some(Cursor(b)))
            .map_err(|_| ApiError::invalid("after", "not a cursor from a previous page"))
    }

    /// An RFC 3339 time parameter as Unix ms.
    pub fn time(&self, name: &'static str) -> Result<Option<i64>, ApiError> {
        self.get(name).map(|v| parse_rfc3339(name, v)).transpose()
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

/// A pagination answer: `{"items": [...], "next": "hex" | null}`.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct PageView<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `after` for the next page; `null` at the end.
    pub next: Option<String>,
}

impl<T> PageView<T> {
    /// A view of a store page, its items mapped by `f`.
    pub fn of<U>(page: scangate_storage::Page<U>, f: impl Fn(&U) -> T) -> Self {
        PageView {
            items: page.items.iter().map(f).collect(),
            next: page.next.map(|c| hex::encode(c.0)),
        }
    }
}
