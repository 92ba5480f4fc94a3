//! Admin API tokens and their roles.
//!
//! A token is 32 random bytes (`sgt_` + 64 hex digits), shown once by
//! `scangate token create` and stored only as its SHA-256 in
//! `DATA/admin-tokens.json` (0600). A presented token is hashed and compared
//! with every stored hash in constant time. The first-start `admin-token`
//! keeps working as an `admin` named `bootstrap`. The gateway rereads the
//! file when it changes ([`crate::watched`]), so created and revoked tokens
//! take effect at the next request, without a restart.

use crate::watched::{self, Watched};
use anyhow::{Result, bail};
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
    let token = format!("sgt_{}", hex::encode(crate::random_bytes::<32>()));
    file.tokens.push(TokenEntry {
        name: name.to_owned(),
        role,
        sha256: hex::encode(digest(&token)),
        created_ms: now_ms,
    });
    watched::write_json(path, &file)?;
    Ok(token)
}

/// Removes the token named `name`.
pub fn revoke(path: &Path, name: &str) -> Result<()> {
    let mut file: TokenFile = watched::read_json(path)?;
    let before = file.tokens.len();
    file.tokens.retain(|t| t.name != name);
    if file.tokens.len() == before {
        bail!("no token named {name:?}");
    }
    watched::write_json(path, &file)
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
}
