//! Annul: a granted scan taken back through the pass's actor.

use super::*;
use crate::{AdminError, AnnulRequest};
use scangate_core::ScanId;
use scangate_core::rules::AnnulRefusal;

fn annul(scan_id: &str) -> AnnulRequest {
    AnnulRequest {
        scan_id: ScanId::new(scan_id).expect("scan id"),
        reason: "scanned twice by mistake".into(),
        who: "ops".into(),
    }
}

#[tokio::test]
async fn annul_gives_the_use_back_once_and_is_audited() {
    let p = pass(Some(1));
    let (registry, store) = setup(config(), &[&p]);
    assert!(granted(
        &registry.scan(p.id, scan("g1")).await.expect("grant")
    ));
    let used_up = registry.scan(p.id, scan("g2")).await.expect("second");
    assert_eq!(used_up.decision, denied(Reason::UsedUp));

    let record = registry.annul(p.id, annul("g1")).await.expect("annul");
    assert_eq!(
        record.annulled.as_ref().map(|a| a.who.as_str()),
        Some("ops")
    );
    assert_eq!(store.stored(p.id).uses, 0);
    assert_eq!(store.audit_len(), 1);
    let again = registry.annul(p.id, annul("g1")).await;
    assert!(
        matches!(again, Err(AdminError::Annul(AnnulRefusal::AlreadyAnnulled))),
        "got {again:?}"
    );
    let denial = registry.annul(p.id, annul("g2")).await;
    assert!(
        matches!(denial, Err(AdminError::Annul(AnnulRefusal::NotGranted))),
        "got {denial:?}"
    );
    let unknown = registry.annul(p.id, annul("nope")).await;
    assert!(
        matches!(unknown, Err(AdminError::ScanNotFound)),
        "got {unknown:?}"
    );
    // The use is back, in order with the scans.
    let regrant = registry.scan(p.id, scan("g3")).await.expect("regrant");
    assert!(granted(&regrant));
    assert_eq!(regrant.uses, Some(1));
}

#[tokio::test]
async fn annul_after_the_window_is_refused() {
    let p = pass(Some(1));
    let cfg = RegistryConfig {
        annul_window_ms: -1, // every grant is already too old
        ..config()
    };
    let (registry, store) = setup(cfg, &[&p]);
    assert!(granted(
        &registry.scan(p.id, scan("w1")).await.expect("grant")
    ));
    let late = registry.annul(p.id, annul("w1")).await;
    assert!(
        matches!(late, Err(AdminError::Annul(AnnulRefusal::TooLate { .. }))),
        "got {late:?}"
    );
    assert_eq!(store.stored(p.id).uses, 1);
}

#[tokio::test]
async fn annul_of_another_pass_scan_is_refused() {
    let (p, q) = (pass(Some(1)), pass(Some(1)));
    let (registry, _store) = setup(config(), &[&p, &q]);
    assert!(granted(
        &registry.scan(p.id, scan("o1")).await.expect("grant")
    ));
    let wrong = registry.annul(q.id, annul("o1")).await;
    assert!(
        matches!(wrong, Err(AdminError::Annul(AnnulRefusal::OtherPass))),
        "got {wrong:?}"
    );
}
