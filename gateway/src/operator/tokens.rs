//! Admin API tokens and their roles.
//!
//! A token is 32 random bytes (`sgt_` + 64 hex digits), shown once by
//! `scangate token create` and stored only as its SHA-256 in
//! `DATA/admin-tokens.json` (0600). A presented token is hashed and compared
//! with every stored hash in constant time. The first-start `admin-token`
//! keeps working as an `admin` named `bootstrap`. The gateway rereads the
//! file when it changes ([`crate::operator::watched`]), so created and revoked tokens
//! take effect at the next request, without a restart. `scangate token
//! create|revoke` go through [`create_recorded`] and [`revoke_recorded`]:
//! one edit at a time ([`EditLock`]), each recorded in the operator journal.

use crate::datadir::DataDir;
use crate::operator::journal::{EditLock, Journal, OperatorAction, OperatorRecord};
use crate::operator::watched::{self, Watched};
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use subtle::ConstantTimeEq;

/// Most named tokens: each request compares against all of them, and an
/// event's staff needs tens, not thousands.
pub const TOKENS_MAX: usize = 1_000;
/// Longest token name, bytes (it is the `who` of audit records).
pub const NAME_MAX_BYTES: usize = 64;
/// The name of the first-start `admin-token`.
pub const BOOTSTRAP: &str = "bootstrap";

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything.
    Admin,
    /// Revoke, suspend, reactivate, annul, and read.
    Operator,
    /// Read only.
    Viewer,
}

/// What an endpoint needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Read passes, scans, audit, devices.
    Read,
    /// Change a pass's status or annul a scan.
    Operate,
    /// Issue and import passes, revoke devices.
    Admin,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 3] = [Role::Admin, Role::Operator, Role::Viewer];

    /// The spelling, e.g. `operator`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Viewer => "viewer",
        }
    }

    /// Whether this role may use an endpoint that needs `p`.
    pub fn allows(self, p: Permission) -> bool {
        match self {
            Role::Admin => true,
            Role::Operator => matches!(p, Permission::Read | Permission::Operate),
            Role::Viewer => p == Permission::Read,
        }
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "admin" => Ok(Role::Admin),
            "operator" => Ok(Role::Operator),
            "viewer" => Ok(Role::Viewer),
            _ => Err(format!(
                "unknown role {s:?}: expected admin, operator or viewer"
            )),
        }
    }
}

/// One stored token: never the token itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenEntry {
    /// Its name (the `who` in the audit log).
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// SHA-256 of the token, hex.
    pub sha256: String,
    /// When it was created (Unix ms).
    pub created_ms: i64,
}

/// `admin-tokens.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TokenFile {
    /// The tokens.
    pub tokens: Vec<TokenEntry>,
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's name.
    pub name: String,
    /// Its role.
    pub role: Role,
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Checks a token name: 1 to 64 of `a-z A-Z 0-9 . _ -`, not `bootstrap`.
pub fn check_name(name: &str) -> Result<()> {
    let ok = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
    if name.is_empty() || name.len() > NAME_MAX_BYTES || !name.bytes().all(ok) {
        bail!("a token name is 1 to {NAME_MAX_BYTES} characters of a-z, A-Z, 0-9, '.', '_' or '-'");
    }
    if name == BOOTSTRAP {
        bail!("the name {BOOTSTRAP:?} is the first-start admin token's");
    }
    Ok(())
}

/// Creates a token named `name` with `role` in `path`; returns the token,
/// which is shown once and never stored.
pub fn create(path: &Path, name: &str, role: Role, now_ms: i64) -> Result<String> {
    check_name(name)?;
    let mut file: TokenFile = watched::read_json(path)?;
    if file.tokens.iter().any(|t| t.name == name) {
        bail!("a token named {name:?} exists; revoke it first");
    }
    if file.tokens.len() >= TOKENS_MAX {
        bail!("there are already {TOKENS_MAX} tokens; revoke some first");
    }
    let token = format!("sgt_{}", hex::encode(crate::secret::random_bytes::<32>()));
    file.tokens.push(TokenEntry {
        name: name.to_owned(),
        role,
        sha256: hex::encode(digest(&token)),
        created_ms: now_ms,
    });
    watched::write_json(path, &file)?;
    Ok(token)
}

/// Removes the token named `name`; answers what it was.
pub fn revoke(path: &Path, name: &str) -> Result<TokenEntry> {
    let mut file: TokenFile = watched::read_json(path)?;
    let Some(at) = file.tokens.iter().position(|t| t.name == name) else {
        bail!("no token named {name:?}");
    };
    let removed = file.tokens.remove(at);
    watched::write_json(path, &file)?;
    Ok(removed)
}

/// `scangate token create`: [`create`] under the file's edit lock, recorded
/// in the operator journal (`token.create`, the name and role, never the
/// token) before the token is handed back to be shown. When the journal
/// line cannot be written the token is removed again (nobody has seen it),
/// so no token exists that the journal does not know of.
pub fn create_recorded(
    data: &DataDir,
    name: &str,
    role: Role,
    who: &str,
    reason: Option<&str>,
    now_ms: i64,
) -> Result<String> {
    check_reason(reason)?;
    let path = data.admin_tokens();
    let _lock = EditLock::acquire(&path)?;
    let token = create(&path, name, role, now_ms)?;
    let record = OperatorRecord::new(now_ms, who, OperatorAction::TokenCreate, name)
        .reason(reason)
        .detail(format!("role {}", role.as_str()));
    if let Err(e) = Journal::new(data.operator_journal()).append(&record) {
        revoke(&path, name).context("and the new token could not be removed again")?;
        bail!("token {name:?} was not created: its audit line could not be written: {e}");
    }
    Ok(token)
}

/// `scangate token revoke`: [`revoke`] under the file's edit lock, recorded
/// in the operator journal (`token.revoke`, the name and the role it had).
/// The revocation stands even when the journal line cannot be written
/// (that is then the error).
pub fn revoke_recorded(
    data: &DataDir,
    name: &str,
    who: &str,
    reason: Option<&str>,
    now_ms: i64,
) -> Result<()> {
    check_reason(reason)?;
    let path = data.admin_tokens();
    let _lock = EditLock::acquire(&path)?;
    let removed = revoke(&path, name)?;
    let record = OperatorRecord::new(now_ms, who, OperatorAction::TokenRevoke, name)
        .reason(reason)
        .detail(format!("role {}", removed.role.as_str()));
    Journal::new(data.operator_journal())
        .append(&record)
        .with_context(|| {
            format!("token {name:?} is revoked, but its audit line could not be written")
        })
}

/// An optional operator reason: at most [`crate::operator::journal::REASON_MAX_BYTES`].
pub fn check_reason(reason: Option<&str>) -> Result<()> {
    if let Some(r) = reason
        && r.len() > crate::operator::journal::REASON_MAX_BYTES
    {
        bail!(
            "a reason is at most {} bytes",
            crate::operator::journal::REASON_MAX_BYTES
        );
    }
    Ok(())
}

/// The stored tokens (names, roles, creation times).
pub fn list(path: &Path) -> Result<Vec<TokenEntry>> {
    Ok(watched::read_json::<TokenFile>(path)?.tokens)
}

/// The gateway's view of the tokens: the bootstrap token plus the file.
pub struct TokenBook {
    bootstrap: [u8; 32],
    file: Watched<TokenFile>,
}

impl TokenBook {
    /// The book for a bootstrap token and a token file.
    pub fn new(bootstrap_token: &str, file: PathBuf) -> Self {
        TokenBook {
            bootstrap: digest(bootstrap_token),
            file: Watched::new(file),
        }
    }

    /// Who `presented` belongs to, if anyone. Compares its hash with every
    /// known hash in constant time (no early exit on a match).
    pub fn authenticate(&self, presented: &str) -> Option<Caller> {
        let hash = digest(presented);
        let mut found: Option<Caller> = None;
        if bool::from(hash.ct_eq(&self.bootstrap)) {
            found = Some(Caller {
                name: BOOTSTRAP.to_owned(),
                role: Role::Admin,
            });
        }
        let file = self.file.get();
        for entry in file.tokens.iter().take(TOKENS_MAX) {
            let mut stored = [0u8; 32];
            if hex::decode_to_slice(&entry.sha256, &mut stored).is_err() {
                continue;
            }
            if bool::from(hash.ct_eq(&stored)) && found.is_none() {
                found = Some(Caller {
                    name: entry.name.clone(),
                    role: entry.role,
                });
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_allow_what_the_table_says() {
        use Permission::*;
        assert!(Role::Admin.allows(Admin) && Role::Admin.allows(Operate));
        assert!(Role::Operator.allows(Operate) && !Role::Operator.allows(Admin));
        assert!(Role::Viewer.allows(Read) && !Role::Viewer.allows(Operate));
    }

    #[test]
    fn created_tokens_authenticate_until_revoked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("admin-tokens.json");
        let book = TokenBook::new("boot", path.clone());
        assert_eq!(book.authenticate("boot").map(|c| c.role), Some(Role::Admin));
        assert_eq!(book.authenticate("nope"), None);
        let t = create(&path, "gate-lead", Role::Operator, 1).expect("create");
        assert!(create(&path, "gate-lead", Role::Viewer, 2).is_err());
        assert!(create(&path, BOOTSTRAP, Role::Viewer, 2).is_err());
        let caller = book.authenticate(&t).expect("known");
        assert_eq!(
            (caller.name.as_str(), caller.role),
            ("gate-lead", Role::Operator)
        );
        assert!(!std::fs::read_to_string(&path).expect("file").contains(&t));
        revoke(&path, "gate-lead").expect("revoke");
        assert_eq!(book.authenticate(&t), None);
        assert!(revoke(&path, "gate-lead").is_err());
    }

    #[test]
    fn recorded_changes_are_journaled_without_the_token() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = DataDir::new(dir.path());
        let t = create_recorded(
            &data,
            "door",
            Role::Viewer,
            "cli:ada",
            Some("night shift"),
            5,
        )
        .expect("create");
        assert!(create_recorded(&data, "door", Role::Viewer, "cli:ada", None, 6).is_err());
        assert!(
            create_recorded(
                &data,
                "x",
                Role::Viewer,
                "cli:ada",
                Some(&"r".repeat(300)),
                6
            )
            .is_err()
        );
        revoke_recorded(&data, "door", "cli:bob", None, 7).expect("revoke");
        assert!(revoke_recorded(&data, "door", "cli:bob", None, 8).is_err());
        let text = std::fs::read_to_string(data.operator_journal()).expect("journal");
        assert!(!text.contains(&t) && !text.contains(&t[4..]), "{text}");
        let page = Journal::new(data.operator_journal())
            .read(&crate::operator::journal::JournalQuery {
                limit: 10,
                ..Default::default()
            })
            .expect("read");
        let got: Vec<_> = page
            .items
            .iter()
            .map(|r| {
                (
                    r.who.as_str(),
                    r.action,
                    r.subject.as_str(),
                    r.reason.as_deref(),
                    r.detail.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "cli:ada",
                    OperatorAction::TokenCreate,
                    "door",
                    Some("night shift"),
                    Some("role viewer")
                ),
                (
                    "cli:bob",
                    OperatorAction::TokenRevoke,
                    "door",
                    None,
                    Some("role viewer")
                ),
            ],
            "one line per change, none for refused ones"
        );
    }

    #[test]
    fn a_token_is_not_created_when_its_journal_line_cannot_be_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = DataDir::new(dir.path());
        // The journal's path is a directory: appends fail.
        std::fs::create_dir(data.operator_journal()).expect("mkdir");
        let err =
            create_recorded(&data, "door", Role::Admin, "cli:ada", None, 5).expect_err("refused");
        assert!(format!("{err:#}").contains("was not created"), "{err:#}");
        assert!(list(&data.admin_tokens()).expect("list").is_empty());
    }
}
