//! One line of the operator journal: what an admin did ([`OperatorAction`]),
//! who, to what, why ([`OperatorRecord`]), each field clamped to its bound,
//! and the `who` of a CLI action ([`cli_who`]).

use serde::{Deserialize, Serialize};

/// Longest journal line, bytes, newline included: a record's fields are
/// clamped below this ([`WHO_MAX_BYTES`], [`SUBJECT_MAX_BYTES`],
/// [`REASON_MAX_BYTES`], [`DETAIL_MAX_BYTES`] plus two pass ids and
/// JSON escaping), and a reader skips any longer line without holding it.
pub const LINE_MAX_BYTES: usize = 4096;
/// Longest `who`, bytes: a token name is at most 64 bytes, `cli:` + a user
/// name at most 4 + [`CLI_USER_MAX_BYTES`], `device:` + a certificate name
/// at most 7 + 64.
pub const WHO_MAX_BYTES: usize = 80;
/// Longest OS user name kept in a CLI `who`.
pub const CLI_USER_MAX_BYTES: usize = 32;
/// Longest `subject`, bytes: a name, an id, or a few event names.
pub const SUBJECT_MAX_BYTES: usize = 256;
/// Longest `reason`, bytes: the same bound as a pass's status reason.
pub const REASON_MAX_BYTES: usize = scangate_core::pass::REASON_MAX_BYTES;
/// Longest `detail`, bytes.
pub const DETAIL_MAX_BYTES: usize = 512;

/// What an admin did, or (`offline.conflict`) what an offline scanner
/// let through against a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum OperatorAction {
    /// Issued passes (`POST /v1/passes`).
    #[serde(rename = "passes.issue")]
    PassesIssue,
    /// Imported passes from CSV (`POST /v1/passes/import`).
    #[serde(rename = "passes.import")]
    PassesImport,
    /// Revoked a pass.
    #[serde(rename = "pass.revoke")]
    PassRevoke,
    /// Suspended a pass.
    #[serde(rename = "pass.suspend")]
    PassSuspend,
    /// Reactivated a pass.
    #[serde(rename = "pass.reactivate")]
    PassReactivate,
    /// Annulled a granted scan.
    #[serde(rename = "scan.annul")]
    ScanAnnul,
    /// A guard's override: admitted a pass by hand at a gate.
    #[serde(rename = "pass.admit")]
    PassAdmit,
    /// Gave a pass a new token (the old one is `superseded`).
    #[serde(rename = "pass.reissue")]
    PassReissue,
    /// Created an admin token (`scangate token create`).
    #[serde(rename = "token.create")]
    TokenCreate,
    /// Revoked an admin token (`scangate token revoke`).
    #[serde(rename = "token.revoke")]
    TokenRevoke,
    /// Revoked a scanner device (API or `scangate certs revoke`).
    #[serde(rename = "device.revoke")]
    DeviceRevoke,
    /// Enrolled a web scanner (`scangate scanner enroll`): a one-time link
    /// issued (detail `link issued`), or redeemed by a browser (detail
    /// `enrolled`; `who` is `device:NAME`).
    #[serde(rename = "device.enroll")]
    DeviceEnroll,
    /// An offline scan uploaded by a scanner broke a rule (one line per
    /// conflict; `who` is `device:NAME`).
    #[serde(rename = "offline.conflict")]
    OfflineConflict,
    /// Made a pass's holder link (`POST /v1/passes/{id}/link`); never the secret.
    #[serde(rename = "pass.link")]
    PassLink,
    /// Revoked a pass's holder link (`POST /v1/passes/{id}/link/revoke`).
    #[serde(rename = "pass.unlink")]
    PassUnlink,
    /// Erased a pass's personal data (and revoked it): `DELETE /v1/passes/{id}`.
    #[serde(rename = "pass.erase")]
    PassErase,
    /// Set an event's definition (`PUT /v1/events/{event}`).
    #[serde(rename = "event.set")]
    EventSet,
}

impl OperatorAction {
    /// Every action.
    pub const ALL: [OperatorAction; 17] = [
        OperatorAction::PassesIssue,
        OperatorAction::PassesImport,
        OperatorAction::PassRevoke,
        OperatorAction::PassSuspend,
        OperatorAction::PassReactivate,
        OperatorAction::ScanAnnul,
        OperatorAction::PassAdmit,
        OperatorAction::PassReissue,
        OperatorAction::TokenCreate,
        OperatorAction::TokenRevoke,
        OperatorAction::DeviceRevoke,
        OperatorAction::OfflineConflict,
        OperatorAction::DeviceEnroll,
        OperatorAction::PassLink,
        OperatorAction::PassUnlink,
        OperatorAction::PassErase,
        OperatorAction::EventSet,
    ];

    /// The spelling, e.g. `token.create`.
    pub fn as_str(self) -> &'static str {
        match self {
            OperatorAction::PassesIssue => "passes.issue",
            OperatorAction::PassesImport => "passes.import",
            OperatorAction::PassRevoke => "pass.revoke",
            OperatorAction::PassSuspend => "pass.suspend",
            OperatorAction::PassReactivate => "pass.reactivate",
            OperatorAction::ScanAnnul => "scan.annul",
            OperatorAction::PassAdmit => "pass.admit",
            OperatorAction::PassReissue => "pass.reissue",
            OperatorAction::TokenCreate => "token.create",
            OperatorAction::TokenRevoke => "token.revoke",
            OperatorAction::DeviceRevoke => "device.revoke",
            OperatorAction::DeviceEnroll => "device.enroll",
            OperatorAction::OfflineConflict => "offline.conflict",
            OperatorAction::PassLink => "pass.link",
            OperatorAction::PassUnlink => "pass.unlink",
            OperatorAction::PassErase => "pass.erase",
            OperatorAction::EventSet => "event.set",
        }
    }
}

impl std::str::FromStr for OperatorAction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        OperatorAction::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| {
                let all: Vec<_> = OperatorAction::ALL.iter().map(|a| a.as_str()).collect();
                format!("unknown action {s:?}: expected one of {}", all.join(", "))
            })
    }
}

/// One admin action: one line of the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OperatorRecord {
    /// When (Unix milliseconds).
    pub at_ms: i64,
    /// Who: the admin token's name, `cli:USER` for a command run on the
    /// gateway's machine, or `device:NAME` for an offline scanner's conflict.
    pub who: String,
    /// What.
    pub action: OperatorAction,
    /// What it was done to: a token or device name, a pass or scan id, or
    /// for an issue or import the event (`"a, b"` when several).
    pub subject: String,
    /// How many passes an issue or import created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// The first pass id an issue or import created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_pass: Option<String>,
    /// The last pass id an issue or import created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_pass: Option<String>,
    /// Why, in the operator's words, when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// More about it: a token's role, an import's rejected lines, the pass
    /// an annulled scan belonged to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl OperatorRecord {
    /// A record with no count, passes, reason or detail.
    pub fn new(
        at_ms: i64,
        who: impl Into<String>,
        action: OperatorAction,
        subject: impl Into<String>,
    ) -> Self {
        OperatorRecord {
            at_ms,
            who: who.into(),
            action,
            subject: subject.into(),
            count: None,
            first_pass: None,
            last_pass: None,
            reason: None,
            detail: None,
        }
    }

    /// With a reason (`None` or blank: none).
    pub fn reason(mut self, reason: Option<&str>) -> Self {
        self.reason = reason
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned);
        self
    }

    /// With a detail.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// An issue or import of `ids` (in issue order) for `events`.
    pub fn passes<'a>(
        at_ms: i64,
        who: impl Into<String>,
        action: OperatorAction,
        events: impl IntoIterator<Item = &'a str>,
        ids: &[scangate_core::PassId],
    ) -> Self {
        let mut distinct: Vec<&str> = Vec::new();
        for e in events {
            if !distinct.contains(&e) {
                distinct.push(e);
            }
            if distinct.len() > 8 {
                break;
            }
        }
        let mut subject = distinct.join(", ");
        if distinct.len() > 8 {
            subject = format!("{}, ...", distinct[..8].join(", "));
        }
        let mut r = OperatorRecord::new(at_ms, who, action, subject);
        r.count = Some(ids.len() as u64);
        r.first_pass = ids.first().map(ToString::to_string);
        r.last_pass = ids.last().map(ToString::to_string);
        r
    }

    /// Every field within its bound (cut at a character boundary).
    pub(super) fn clamped(mut self) -> Self {
        clamp(&mut self.who, WHO_MAX_BYTES);
        clamp(&mut self.subject, SUBJECT_MAX_BYTES);
        for (field, max) in [
            (&mut self.first_pass, 64),
            (&mut self.last_pass, 64),
            (&mut self.reason, REASON_MAX_BYTES),
            (&mut self.detail, DETAIL_MAX_BYTES),
        ] {
            if let Some(s) = field {
                clamp(s, max);
            }
        }
        self
    }
}

pub(super) fn clamp(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

/// The `who` of a CLI action: `cli:` + `$USER` (letters, digits, `.`, `_`,
/// `-`, at most [`CLI_USER_MAX_BYTES`]), or `cli:uid-N` without one. It is
/// as trustworthy as the OS account that may write the data directory.
pub fn cli_who() -> String {
    let ok = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
    match std::env::var("USER") {
        Ok(u) if !u.is_empty() && u.len() <= CLI_USER_MAX_BYTES && u.bytes().all(ok) => {
            format!("cli:{u}")
        }
        _ => {
            use std::os::unix::fs::MetadataExt;
            match std::fs::metadata("/proc/self") {
                Ok(m) => format!("cli:uid-{}", m.uid()),
                Err(_) => "cli:unknown".to_owned(),
            }
        }
    }
}
