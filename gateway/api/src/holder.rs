//! The admin API's answers about holder links (`/v1/passes/{id}/link`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A pass's new holder link. `secret` and `path` are shown this once: the
/// gateway keeps only the secret's SHA-256, so a lost link is replaced by
/// making a new one (which revokes the old).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HolderLinkView {
    /// The pass, 32 hex digits.
    #[schema(pattern = "^[0-9a-f]{32}$")]
    pub pass_id: String,
    /// The link's secret: the pass id, `-`, and 160 random bits in hex.
    pub secret: String,
    /// The page on this gateway's HTTP plane: `/h/{secret}`.
    pub path: String,
    /// When it was made (RFC 3339).
    pub created: String,
}

/// The answer to revoking a pass's holder link.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HolderLinkRevoked {
    /// The pass, 32 hex digits.
    #[schema(pattern = "^[0-9a-f]{32}$")]
    pub pass_id: String,
    /// Whether the pass had a link (now revoked); false: it had none and
    /// nothing changed (revoking is idempotent).
    pub revoked: bool,
}
