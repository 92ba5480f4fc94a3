//! The operators' side of the gateway: the HTTP plane on its own listener
//! (admin API under `/v1/`, the live dashboard, `/metrics`, `/healthz`,
//! `/readyz`) and the data-dir files operators change (admin tokens, revoked
//! devices) with the journal that records every change. It never serves a
//! scanner and never lets an operator request hold the scan path: its
//! connections, bodies and requests have their own caps and deadlines.
//!
//! Modules: [`http`] (assembles the plane; its accept loop and idle close),
//! [`state`] (what every handler shares), [`probes`] (`/healthz`, `/readyz`,
//! `/metrics`), [`admin`] (routes, roles and handlers), [`api`] (the admin
//! API's shapes on the server side), [`dashboard`], [`prometheus`] (the
//! `/metrics` recorder), [`journal`] (the operator journal of admin actions), [`tokens`] (admin
//! tokens), [`devices`] (revoked scanners), [`watched`] (data-dir files a
//! running gateway follows), [`scanner_page`] (the guard's page, `/scanner`),
//! [`holder`] (holder links' pages, no token),
//! [`throttle`] (rate limits per admin token and per holder address).

pub mod admin;
pub mod api;
pub mod dashboard;
pub mod devices;
pub mod holder;
pub mod http;
pub mod journal;
pub mod probes;
pub mod prometheus;
pub mod retention;
pub mod scanner_page;
pub mod state;
pub mod throttle;
pub mod tokens;
pub mod watched;
