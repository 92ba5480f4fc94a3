//! A card share's structured fields ([`Card`]), each with its holder's share
//! choice and the time of that consent, and what a scan may reveal of them
//! ([`SharedCard`]: the shared fields only).

use super::{PassError, check_len};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The contract names of a card's fields, in order.
pub const CARD_FIELDS: [&str; 6] = ["name", "email", "phone", "company", "title", "links"];

/// A card given as name/value pairs (a CSV row, command-line flags) that
/// does not make a card.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CardError {
    /// A field name outside [`CARD_FIELDS`].
    #[error("unknown card field {0:?}: expected name, email, phone, company, title or links")]
    UnknownField(String),
    /// A field named shared that has no value.
    #[error("card field {0:?} is shared but has no value")]
    SharedWithoutValue(String),
}

/// Longest value of one card field, in bytes: a name, an address or a few
/// links, not a document (together about [`crate::pass::DISPLAY_MAX_BYTES`]
/// times six at most, still well inside a scan reply's frame).
pub const CARD_FIELD_MAX_BYTES: usize = 256;

/// One field of a card: its value, whether the holder shares it with a
/// scanner, and when the holder made that choice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CardField {
    /// The value, at most [`CARD_FIELD_MAX_BYTES`].
    pub value: String,
    /// The holder's choice: `true` lets a scan reveal the value.
    pub shared: bool,
    /// When the holder gave (or withheld) consent, Unix milliseconds.
    pub consent_ms: i64,
}

/// A card share's personal fields; each may be absent. Stored sealed with
/// the display text, and erased with it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Card {
    /// The holder's name.
    #[serde(default)]
    pub name: Option<CardField>,
    /// An e-mail address.
    #[serde(default)]
    pub email: Option<CardField>,
    /// A telephone number.
    #[serde(default)]
    pub phone: Option<CardField>,
    /// The company or organisation.
    #[serde(default)]
    pub company: Option<CardField>,
    /// The holder's title or role.
    #[serde(default)]
    pub title: Option<CardField>,
    /// Links (web site, profiles), as the holder wrote them.
    #[serde(default)]
    pub links: Option<CardField>,
}

/// What a scan of a card share reveals: the value of each shared field,
/// nothing of a field the holder did not share.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SharedCard {
    /// The name, if shared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The e-mail address, if shared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The telephone number, if shared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// The company, if shared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    /// The title, if shared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The links, if shared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<String>,
}

impl Card {
    /// Every field with its contract name, in a fixed order.
    pub fn fields(&self) -> [(&'static str, Option<&CardField>); 6] {
        [
            ("name", self.name.as_ref()),
            ("email", self.email.as_ref()),
            ("phone", self.phone.as_ref()),
            ("company", self.company.as_ref()),
            ("title", self.title.as_ref()),
            ("links", self.links.as_ref()),
        ]
    }

    /// The field named `name` (a contract name of [`Card::fields`]).
    pub fn field_mut(&mut self, name: &str) -> Option<&mut Option<CardField>> {
        Some(match name {
            "name" => &mut self.name,
            "email" => &mut self.email,
            "phone" => &mut self.phone,
            "company" => &mut self.company,
            "title" => &mut self.title,
            "links" => &mut self.links,
            _ => return None,
        })
    }

    /// A card from `(field, value)` pairs (empty values skipped), with the
    /// fields named in `shared` shared and every choice made at
    /// `consent_ms`; `None` when no field has a value.
    pub fn from_parts(
        values: &[(&str, &str)],
        shared: &[&str],
        consent_ms: i64,
    ) -> Result<Option<Card>, CardError> {
        let mut card = Card::default();
        for (name, value) in values.iter().filter(|(_, v)| !v.is_empty()) {
            let slot = card
                .field_mut(name)
                .ok_or_else(|| CardError::UnknownField((*name).to_owned()))?;
            *slot = Some(CardField {
                value: (*value).to_owned(),
                shared: false,
                consent_ms,
            });
        }
        for name in shared {
            let slot = card
                .field_mut(name)
                .ok_or_else(|| CardError::UnknownField((*name).to_owned()))?;
            let field = slot
                .as_mut()
                .ok_or_else(|| CardError::SharedWithoutValue((*name).to_owned()))?;
            field.shared = true;
        }
        Ok(card
            .fields()
            .iter()
            .any(|(_, f)| f.is_some())
            .then_some(card))
    }

    /// Checks every value against [`CARD_FIELD_MAX_BYTES`].
    pub fn validate(&self) -> Result<(), PassError> {
        for (name, field) in self.fields() {
            if let Some(f) = field {
                check_len(name, &f.value, CARD_FIELD_MAX_BYTES)?;
            }
        }
        Ok(())
    }

    /// The shared fields only: what a scan may reveal.
    pub fn shared(&self) -> SharedCard {
        let pick = |f: &Option<CardField>| f.as_ref().filter(|f| f.shared).map(|f| f.value.clone());
        SharedCard {
            name: pick(&self.name),
            email: pick(&self.email),
            phone: pick(&self.phone),
            company: pick(&self.company),
            title: pick(&self.title),
            links: pick(&self.links),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(value: &str, shared: bool) -> Option<CardField> {
        Some(CardField {
            value: value.into(),
            shared,
            consent_ms: 1_000,
        })
    }

    #[test]
    fn a_scan_reveals_exactly_the_shared_fields() {
        let card = Card {
            name: field("Ada Lovelace", true),
            email: field("ada@example.org", false),
            phone: field("+44 1", false),
            company: field("Analytical Engines", true),
            title: None,
            links: field("https://example.org/ada", false),
        };
        let shared = card.shared();
        assert_eq!(
            shared,
            SharedCard {
                name: Some("Ada Lovelace".into()),
                company: Some("Analytical Engines".into()),
                ..SharedCard::default()
            }
        );
        let json = serde_json::to_value(&shared).expect("json");
        assert_eq!(
            json.as_object().expect("object").len(),
            2,
            "unshared fields are not even named: {json}"
        );
    }

    #[test]
    fn a_card_from_parts_shares_only_the_named_fields() {
        let card = Card::from_parts(
            &[("name", "Ada"), ("email", "a@x"), ("phone", "")],
            &["name"],
            9,
        )
        .expect("card")
        .expect("some");
        assert_eq!(
            card.name,
            field("Ada", true).map(|f| CardField { consent_ms: 9, ..f })
        );
        assert_eq!(card.email.as_ref().map(|f| f.shared), Some(false));
        assert_eq!(card.phone, None, "an empty value is no field");
        assert_eq!(Card::from_parts(&[], &[], 9), Ok(None));
        assert_eq!(
            Card::from_parts(&[("fax", "1")], &[], 9),
            Err(CardError::UnknownField("fax".into()))
        );
        assert_eq!(
            Card::from_parts(&[("name", "Ada")], &["email"], 9),
            Err(CardError::SharedWithoutValue("email".into()))
        );
    }

    #[test]
    fn field_values_are_bounded() {
        let mut card = Card::default();
        assert_eq!(card.validate(), Ok(()));
        *card.field_mut("title").expect("title") =
            field(&"x".repeat(CARD_FIELD_MAX_BYTES + 1), true);
        assert_eq!(
            card.validate(),
            Err(PassError::TooLong {
                field: "title",
                max: CARD_FIELD_MAX_BYTES
            })
        );
        assert!(card.field_mut("address").is_none());
    }
}
