//! One line saying why an offline operation failed, for the person at the
//! gate or the script around the CLI: the SDK's [`OfflineError`] with its
//! times as RFC 3339 and its repairs named as `scangate` commands (the
//! SDK's own messages name SDK functions). Never a token: no variant
//! carries one.

use scangate_api::rfc3339;
use scangate_client::OfflineError;
use scangate_core::offline::SnapshotError;
use std::path::Path;

/// Why `e` happened and what to do, in one line.
pub fn explain(e: &OfflineError) -> String {
    match e {
        OfflineError::Snapshot { source, key_file } => snapshot(source, key_file),
        OfflineError::NoSnapshot { event, dir } => format!(
            "no valid offline snapshot: there is none of event {event:?} in {}; fetch one with \
             `scangate scanner snapshot --event {event} --offline-dir {}` while the gateway is reachable",
            dir.display(),
            dir.display()
        ),
        OfflineError::NoKey { path } => format!(
            "no valid offline snapshot: no gateway snapshot key is pinned in {}; run \
             `scangate scanner snapshot` beside the gateway (it reads DATA/offline-signing-key.pub) \
             or give it --snapshot-key FILE",
            path.display()
        ),
        OfflineError::KeyMismatch {
            path,
            pinned,
            given,
        } => format!(
            "refused: the gateway snapshot key given ({given}) is not the one pinned in {} \
             ({pinned}); if the gateway's key was changed on purpose, remove that file and fetch \
             the snapshot again",
            path.display()
        ),
        other => other.to_string(),
    }
}

/// A held or downloaded snapshot refused.
fn snapshot(source: &SnapshotError, key_file: &Path) -> String {
    match source {
        SnapshotError::Expired { expires_ms, now_ms } => format!(
            "no valid offline snapshot: it expired at {} (now {}); refresh it with \
             `scangate scanner snapshot` while the gateway is reachable",
            rfc3339(*expires_ms),
            rfc3339(*now_ms)
        ),
        SnapshotError::WrongKey { expected, found } => format!(
            "no valid offline snapshot: it was signed by another key ({found}), not the gateway \
             key pinned in {} ({expected}); if the gateway's key was changed on purpose, remove \
             that file and fetch the snapshot again",
            key_file.display()
        ),
        other => format!("no valid offline snapshot: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scangate_core::offline::KeyFingerprint;
    use std::path::PathBuf;

    fn refused(source: SnapshotError) -> String {
        explain(&OfflineError::Snapshot {
            source,
            key_file: PathBuf::from("/dev/gate/gateway.pub"),
        })
    }

    #[test]
    fn each_refusal_says_why_in_one_line() {
        let expired = refused(SnapshotError::Expired {
            expires_ms: 0,
            now_ms: 1_000,
        });
        assert!(
            expired.contains("expired at 1970-01-01T00:00:00Z"),
            "{expired}"
        );
        let (a, b) = (KeyFingerprint([1; 8]), KeyFingerprint([2; 8]));
        let foreign = refused(SnapshotError::WrongKey {
            expected: a,
            found: b,
        });
        for part in [a.to_string(), b.to_string(), "/dev/gate/gateway.pub".into()] {
            assert!(foreign.contains(&part), "{foreign} lacks {part}");
        }
        let altered = refused(SnapshotError::BadSignature);
        assert!(altered.contains("signature"), "{altered}");
        let missing = explain(&OfflineError::NoSnapshot {
            event: "fest".into(),
            dir: PathBuf::from("/dev/gate"),
        });
        assert!(
            missing.contains("scanner snapshot --event fest"),
            "{missing}"
        );
        for line in [expired, foreign, altered, missing] {
            assert!(!line.contains('\n'), "{line}");
        }
    }
}
