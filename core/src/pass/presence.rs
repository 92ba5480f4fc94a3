//! Where a pass's holder is: outside, inside which zone, or gone out after
//! an admission. Part of a pass's durable state, changed only by a granted
//! entry or exit in the same commit as its scan record.

use crate::name::check_name;
use crate::pass::PassError;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Longest zone name, in bytes (the same as a gate's).
pub const ZONE_MAX_BYTES: usize = 64;

/// A zone's name, held inline ([`ZONE_MAX_BYTES`] bytes) so that a pass's
/// state, which every grant reads and writes, stays a small `Copy` value
/// with no allocation.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ZoneName {
    len: u8,
    bytes: [u8; ZONE_MAX_BYTES],
}

impl ZoneName {
    /// A checked zone name (the rules of [`check_name`]).
    pub fn new(name: &str) -> Result<ZoneName, PassError> {
        check_name("zone", name, ZONE_MAX_BYTES)?;
        let mut bytes = [0u8; ZONE_MAX_BYTES];
        bytes[..name.len()].copy_from_slice(name.as_bytes());
        // `check_name` bounds the length to ZONE_MAX_BYTES (64 < 256).
        let len = u8::try_from(name.len()).map_err(|_| PassError::TooLong {
            field: "zone",
            max: ZONE_MAX_BYTES,
        })?;
        Ok(ZoneName { len, bytes })
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        // Built only from a `&str` cut at its own length: always UTF-8.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl fmt::Display for ZoneName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ZoneName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ZoneName({})", self.as_str())
    }
}

impl PartialEq<str> for ZoneName {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl Serialize for ZoneName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ZoneName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        ZoneName::new(&s).map_err(serde::de::Error::custom)
    }
}

/// Where a pass's holder is, as far as the event's gates saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    /// Never admitted through a gate of an event definition (every pass
    /// starts here, and every pass of an event without a definition stays).
    #[default]
    Outside,
    /// Admitted once, then scanned out: with re-entry allowed, the next
    /// entry does not spend a use.
    Left,
    /// Inside this zone (the innermost one entered).
    Inside(ZoneName),
}

impl Presence {
    /// The zone the holder is in, if inside.
    pub fn zone(&self) -> Option<&ZoneName> {
        match self {
            Presence::Inside(zone) => Some(zone),
            Presence::Outside | Presence::Left => None,
        }
    }

    /// True when inside some zone.
    pub fn is_inside(&self) -> bool {
        matches!(self, Presence::Inside(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_names_are_checked_and_round_trip() {
        let hall = ZoneName::new("Halle Süd").expect("a name");
        assert_eq!(hall.as_str(), "Halle Süd");
        assert!(ZoneName::new("").is_err());
        assert!(ZoneName::new(&"z".repeat(ZONE_MAX_BYTES + 1)).is_err());
        assert!(ZoneName::new(&"z".repeat(ZONE_MAX_BYTES)).is_ok());
        assert!(ZoneName::new("bad\nzone").is_err());
        let p = Presence::Inside(hall);
        let json = serde_json::to_value(p).expect("json");
        assert_eq!(json, serde_json::json!({"inside": "Halle Süd"}));
        assert_eq!(serde_json::from_value::<Presence>(json).expect("back"), p);
        let bytes = rmp_serde::to_vec(&Presence::Left).expect("msgpack");
        assert_eq!(
            rmp_serde::from_slice::<Presence>(&bytes).expect("back"),
            Presence::Left
        );
    }
}
