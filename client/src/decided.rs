//! A decision and where it was made: by the gateway, or on the device.

use crate::Mode;
use scangate_core::wire::ScanReply;

/// A scan's decision and whether the gateway ([`Mode::Online`]) or the
/// device itself ([`Mode::Offline`]) made it.
///
/// [`crate::Scanner::scan`] keeps answering a plain [`ScanReply`] (always
/// the gateway's); the offline mode, which decides on the device when the
/// gateway is out of reach, answers this, so an app and
/// `scangate scan --json` (`"offline": true|false`) can tell the two apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    /// The decision, in the gateway's shape. An offline decision names no
    /// pass id and no display text (a device holds neither).
    pub reply: ScanReply,
    /// Who decided.
    pub mode: Mode,
}

impl Decided {
    /// A decision the gateway made.
    pub fn online(reply: ScanReply) -> Decided {
        Decided {
            reply,
            mode: Mode::Online,
        }
    }

    /// A decision the device made alone (to be uploaded later).
    pub fn offline(reply: ScanReply) -> Decided {
        Decided {
            reply,
            mode: Mode::Offline,
        }
    }

    /// True when the device decided alone.
    pub fn is_offline(&self) -> bool {
        self.mode == Mode::Offline
    }
}

impl From<ScanReply> for Decided {
    /// Every [`crate::Scanner::scan`] reply was decided online.
    fn from(reply: ScanReply) -> Decided {
        Decided::online(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scangate_core::scan::ScanId;
    use scangate_core::testing::granted_reply;

    fn reply() -> ScanReply {
        granted_reply(ScanId::new("s-1").expect("scan id"))
    }

    #[test]
    fn a_decision_says_who_made_it() {
        let online: Decided = reply().into();
        assert!(!online.is_offline());
        assert_eq!(online.mode, Mode::Online);
        let offline = Decided::offline(reply());
        assert!(offline.is_offline());
        assert_eq!(offline.reply, online.reply);
    }
}
