//! The admin API under `/v1/`: one table of routes ([`routes::ROUTES`]) says what
//! each endpoint needs; the router, the role matrix test and the docs follow
//! it. Every request is authenticated by bearer token ([`crate::operator::tokens`]);
//! a missing or unknown token gets 401, a role without the permission 403.
//! A pass's token is a working ticket: only roles allowed
//! [`Permission::Operate`](crate::operator::tokens::Permission::Operate) read one (a pass view, a QR code, a minted
//! dynamic token); a `viewer` gets the pass without it
//! ([`crate::operator::api::pass_view_for_role`]).
//!
//! Modules: [`passes`] (issue, list, show, status changes), [`import`] (CSV),
//! [`gate`] (a guard's override), [`logs`] (scans, audit, annul), [`devices`] (scanner revocation),
//! [`events`] (event definitions), [`occupancy`] (who is inside each zone),
//! [`qr`] (QR images, minting dynamic tokens), [`links`] (holder links:
//! made and revoked; the pages are [`crate::operator::holder`]'s), [`operator`] (the operator
//! journal: every route that needs more than `Read` is an admin action and
//! records one line in it before answering; `GET /v1/audit/operator`),
//! [`params`] (query parameters, path segments and cursors), [`reason`] (the
//! `{"reason": ...}` body), [`failures`] (store and actor failures as API
//! errors), [`schema`] (what the document says of paths, queries and
//! bodies), [`routes`] (the table and body bounds), [`router`] (the table
//! bound to the handlers), [`openapi`] (the OpenAPI document,
//! `GET /v1/openapi.json`).

pub mod card_csv;
pub mod conflicts;
pub mod devices;
pub mod erase;
pub mod events;
pub mod failures;
pub mod flags;
pub mod gate;
pub mod import;
pub mod links;
pub mod logs;
pub mod occupancy;
pub mod openapi;
pub mod operator;
pub mod params;
pub mod passes;
pub mod qr;
pub mod reason;
pub mod router;
pub mod routes;
pub mod schema;
