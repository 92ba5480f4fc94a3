//! scangate-api: the admin API's JSON shapes and the one HTTP client that
//! speaks them, shared by the gateway (which serves them), the `scangate`
//! CLI commands and `scangate-load` (which call them).
//!
//! It must never hold server logic: no store, no actors, no token signing,
//! no HTTP server. The server builds views and answers errors from these
//! types; a client only needs this crate, `scangate-core` and reqwest (the
//! `axum` feature, which only the server turns on, adds `IntoResponse` for
//! [`ApiError`]).
//!
//! Modules:
//! - [`types`]: request and view bodies (`IssueRequest`, `PassView`,
//!   `ScanView`), their limits and the RFC 3339 times they carry.
//! - [`conflicts`]: `ConflictView`, a flagged offline scan.
//! - [`holder`]: holder links, made (`HolderLinkView`, whose secret is
//!   shown once) and revoked (`HolderLinkRevoked`).
//! - [`flags`]: `FlagView` (a fraud flag a scan raised) and `IncidentView`
//!   (a forged or malformed token refused).
//! - [`error`]: the error answer `{"error": {...}}` ([`ApiError`]).
//! - `client` (feature `client`, on by default; the server turns it off):
//!   `AdminClient`, a bearer-token client of `/v1/...`.
//! - [`discovery`]: the files in a data directory that say where the
//!   running gateway is and hold its admin token.

#[cfg(feature = "client")]
pub mod client;
pub mod conflicts;
pub mod discovery;
pub mod error;
pub mod flags;
pub mod holder;
pub mod types;

#[cfg(feature = "client")]
pub use client::{AdminClient, ClientError};
pub use conflicts::{ConflictKindName, ConflictView};
pub use error::{ApiError, ErrorBody, from_json_object};
pub use flags::{FlagName, FlagView, IncidentView};
pub use holder::{HolderLinkRevoked, HolderLinkView};
pub use types::{
    DecisionWord, GateName, ISSUE_MAX, ImportReport, IssueRequest, PageView, PassView, Rejected,
    ScanView, decision_word, parse_rfc3339, rfc3339,
};
