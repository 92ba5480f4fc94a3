//! The card columns of a CSV import: `card_name` … `card_links` (values),
//! `card_shared` (the shared fields, `;`-separated) and `card_consent_at`
//! (RFC 3339; default the import time).

use crate::operator::api::{self, ApiError};
use scangate_core::pass::Card;

/// The card columns an import understands.
pub const CARD_COLUMNS: [&str; 8] = [
    "card_name",
    "card_email",
    "card_phone",
    "card_company",
    "card_title",
    "card_links",
    "card_shared",
    "card_consent_at",
];

/// The card of one row from its card cells (`(column, value)`), or `None`
/// when no card value is given; consent defaults to `now_ms`.
pub fn card_of(cells: &[(&str, &str)], now_ms: i64) -> Result<Option<Card>, ApiError> {
    let mut values = Vec::with_capacity(6);
    let (mut shared, mut consent_ms) = (Vec::new(), now_ms);
    for (column, value) in cells {
        match *column {
            "card_shared" => {
                shared = value
                    .split(';')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect();
            }
            "card_consent_at" if !value.is_empty() => {
                consent_ms = api::parse_rfc3339("card_consent_at", value)?;
            }
            "card_consent_at" => {}
            other => {
                let field = other.strip_prefix("card_").unwrap_or(other);
                values.push((field, *value));
            }
        }
    }
    Card::from_parts(&values, &shared, consent_ms)
        .map_err(|e| ApiError::invalid("card", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_cells_make_a_card_with_its_share_choices() {
        let cells = [
            ("card_name", "Ada"),
            ("card_company", "Engines"),
            ("card_email", "a@x"),
            ("card_shared", "name; company"),
            ("card_consent_at", "2026-01-01T00:00:00Z"),
        ];
        let card = card_of(&cells, 5).expect("card").expect("some");
        let shared = card.shared();
        assert_eq!(
            (
                shared.name.as_deref(),
                shared.company.as_deref(),
                shared.email
            ),
            (Some("Ada"), Some("Engines"), None)
        );
        assert_eq!(card.name.expect("name").consent_ms, 1_767_225_600_000);
        assert_eq!(card_of(&[("card_shared", "")], 5).expect("none"), None);
        let bad = card_of(&[("card_shared", "phone")], 5).expect_err("no phone");
        assert_eq!(bad.field.as_deref(), Some("card"));
    }
}
