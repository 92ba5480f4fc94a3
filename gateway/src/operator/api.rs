//! The admin API on the server's side: the JSON shapes come from
//! `scangate-api` (re-exported here, so `crate::operator::api::PassView` and the
//! others keep their paths); this module adds what needs the server: a
//! pass's view with its token signed by the keyring and withheld from roles
//! below [`Permission::Operate`], passes built from an issue request with
//! fresh random ids, and axum's extractor refusals as [`ApiError`].

use crate::operator::tokens::{Permission, Role};
use scangate_core::PassId;
use scangate_core::Status;
use scangate_core::pass::Pass;
use scangate_core::token::Keyring;

pub use scangate_api::types::{
    DecisionWord, GateName, ISSUE_MAX, ImportReport, IssueRequest, PassView, Rejected, ScanView,
    decision_word, parse_rfc3339, rfc3339,
};
pub use scangate_api::{ApiError, ErrorBody, from_json_object};

/// The view of a pass, with its token signed by the active key. A dynamic
/// pass gets a freshly minted token that stops working after its
/// `dynamic_ttl_s` (an old screenshot is refused as `expired`); its static
/// token is never handed out, since the gateway refuses it.
pub fn pass_view(pass: &Pass, keyring: &Keyring) -> PassView {
    PassView::with_token(pass, signed_token(pass, keyring))
}

/// The view `role` may read: [`pass_view`] for a role allowed
/// [`Permission::Operate`]; below that, no token is signed or minted and the
/// display payload (holder data) is withheld ([`PassView::withheld`]), so a
/// read-only token can neither copy a ticket nor read what the holder shares.
pub fn pass_view_for_role(pass: &Pass, keyring: &Keyring, role: Role) -> PassView {
    if role.allows(Permission::Operate) {
        pass_view(pass, keyring)
    } else {
        PassView::withheld(pass)
    }
}

/// A body that could not be read, or not as JSON (axum's rejection). A bytes
/// rejection is one of the ways a JSON body fails, so both come here. See
/// [`ApiError::rejected`] for the status and code.
pub fn from_rejection(e: impl Into<axum::extract::rejection::JsonRejection>) -> ApiError {
    let e = e.into();
    ApiError::rejected(e.status(), e.body_text())
}

/// The token of `pass`, signed by the active key for its current
/// generation (older ones are `superseded`): for a dynamic pass a freshly
/// minted one that stops working `dynamic_ttl_s` from now. Only for callers
/// allowed [`Permission::Operate`].
pub fn signed_token(pass: &Pass, keyring: &Keyring) -> String {
    let not_after = pass.dynamic_ttl_s.map(|ttl| {
        let now_s = u32::try_from(crate::now_ms() / 1000).unwrap_or(u32::MAX);
        now_s.saturating_add(ttl)
    });
    let active = keyring.active_key_id();
    keyring
        .sign_generation(active, pass.id, not_after, pass.token_generation)
        .unwrap_or_else(|| keyring.sign(pass.id, not_after))
}

/// Turns an issue request into passes with fresh random ids.
pub fn build_passes(req: &IssueRequest, now_ms: i64) -> Result<Vec<Pass>, ApiError> {
    let count = req.count.unwrap_or(1);
    if !(1..=ISSUE_MAX).contains(&count) {
        return Err(ApiError::invalid(
            "count",
            format!("must be between 1 and {ISSUE_MAX}"),
        ));
    }
    if req.unlimited && req.max_uses.is_some() {
        return Err(ApiError::invalid(
            "max_uses",
            "give max_uses or unlimited, not both",
        ));
    }
    let template = Pass {
        id: PassId([0; 16]),
        event: req.event.clone(),
        kind: req.kind,
        status: Status::Active,
        status_reason: None,
        valid_from_ms: req
            .valid_from
            .as_deref()
            .map(|s| parse_rfc3339("valid_from", s))
            .transpose()?,
        valid_until_ms: req
            .valid_until
            .as_deref()
            .map(|s| parse_rfc3339("valid_until", s))
            .transpose()?,
        max_uses: if req.unlimited {
            None
        } else {
            Some(req.max_uses.unwrap_or(1))
        },
        uses: 0,
        gates: req.gates.clone(),
        display: req.display.clone(),
        created_ms: now_ms,
        dynamic_ttl_s: req.dynamic_ttl_s,
        status_since_ms: None,
        token_generation: 0,
        card: req.card.clone(),
        zones: req.zones.clone(),
        presence: scangate_core::pass::Presence::Outside,
    };
    template
        .check_issue(now_ms)
        .map_err(|e| ApiError::invalid(e.field(), e.to_string()))?;
    Ok((0..count)
        .map(|_| Pass {
            id: PassId(crate::secret::random_bytes()),
            ..template.clone()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use scangate_core::Kind;

    fn req() -> IssueRequest {
        IssueRequest {
            event: "fest".into(),
            kind: Kind::Ticket,
            max_uses: None,
            unlimited: false,
            valid_from: Some("2026-07-01T10:00:00Z".into()),
            valid_until: None,
            gates: vec![],
            display: None,
            count: Some(3),
            dynamic_ttl_s: None,
            card: None,
            zones: vec![],
        }
    }

    #[test]
    fn only_operator_and_admin_views_hold_the_token_and_display() {
        let key = scangate_core::token::SigningKey {
            id: 1,
            secret: [7; 32],
        };
        let keyring = Keyring::new(&[key], 1).expect("keyring");
        let mut r = req();
        r.display = Some("Ada".into());
        let pass = build_passes(&r, 5).expect("passes").remove(0);
        for role in [Role::Admin, Role::Operator] {
            let view = pass_view_for_role(&pass, &keyring, role);
            assert!(keyring.verify(&view.token).is_ok(), "{role:?}");
            assert_eq!(view.display.as_deref(), Some("Ada"));
        }
        let view = pass_view_for_role(&pass, &keyring, Role::Viewer);
        assert_eq!((view.token.as_str(), view.display), ("", None));
        let json =
            serde_json::to_value(pass_view_for_role(&pass, &keyring, Role::Viewer)).expect("json");
        assert!(json.get("token").is_none(), "{json}");
    }

    #[test]
    fn builds_distinct_passes_with_defaults() {
        let passes = build_passes(&req(), 5).expect("passes");
        assert_eq!(passes.len(), 3);
        assert_ne!(passes[0].id, passes[1].id);
        assert_eq!(passes[0].max_uses, Some(1));
        assert_eq!(passes[0].valid_from_ms, Some(1_782_900_000_000));
        assert_eq!(rfc3339(1_782_900_000_000), "2026-07-01T10:00:00Z");
    }

    #[test]
    fn rejects_bad_fields_by_name() {
        let mut r = req();
        r.count = Some(ISSUE_MAX + 1);
        assert_eq!(
            build_passes(&r, 0).expect_err("count").field.as_deref(),
            Some("count")
        );
        let mut r = req();
        r.valid_from = Some("tomorrow".into());
        assert_eq!(
            build_passes(&r, 0).expect_err("time").field.as_deref(),
            Some("valid_from")
        );
        let mut r = req();
        r.unlimited = true;
        r.max_uses = Some(2);
        assert_eq!(
            build_passes(&r, 0).expect_err("both").field.as_deref(),
            Some("max_uses")
        );
        let mut r = req();
        r.event = String::new();
        assert!(
            build_passes(&r, 0)
                .expect_err("event")
                .message
                .contains("event")
        );
    }
}
