//! Properties of personal data: sealed fields round-trip through loads and
//! listings, and an `erase` admin change removes them for good while the
//! pass, its scans and its audit stay.

use super::fixtures::{audit, audit_kept, inserted, new_pass, now_ms, scan};
use crate::{PassQuery, Store};
use scangate_core::pass::{Card, CardField};
use scangate_core::{AdminAction, Decision, Pass, Status};
use std::sync::Arc;

/// A pass with a display text and a card, two fields shared.
fn personal_pass() -> Pass {
    let mut pass = new_pass(Some(5));
    // An event of its own, so a listing by event finds it on the first page.
    pass.event = format!("personal-{}", pass.id.short());
    pass.display = Some("Grace H. · Row 9".into());
    let field = |value: &str, shared| {
        Some(CardField {
            value: value.into(),
            shared,
            consent_ms: now_ms(),
        })
    };
    pass.card = Some(Box::new(Card {
        name: field("Grace Hopper", true),
        email: field("grace@example.org", false),
        company: field("Navy", true),
        ..Card::default()
    }));
    pass
}

/// Display text and card fields come back from a load and from a listing.
pub async fn personal_fields_round_trip(store: Arc<dyn Store>) {
    let pass = personal_pass();
    store
        .insert_passes(vec![pass.clone()])
        .await
        .expect("insert");
    assert_eq!(
        store.load_pass(pass.id).await.expect("load"),
        Some(pass.clone())
    );
    let page = store
        .query_passes(PassQuery {
            event: Some(pass.event.clone()),
            limit: crate::PAGE_MAX,
            ..PassQuery::default()
        })
        .await
        .expect("list");
    let listed = page.items.iter().find(|p| p.id == pass.id);
    assert_eq!(
        listed,
        Some(&pass),
        "a listing shows the personal fields too"
    );
}

/// An erase revokes the pass and removes its display text and card; its
/// scans and audit stay; a second erase succeeds and changes nothing more.
pub async fn erase_removes_personal_data_and_keeps_the_record(store: Arc<dyn Store>) {
    let pass = personal_pass();
    store
        .insert_passes(vec![pass.clone()])
        .await
        .expect("insert");
    let granted = scan(pass.id, Decision::Granted, 1, now_ms());
    store.commit_scan(granted.clone()).await.expect("grant");
    let erase = audit(pass.id, AdminAction::Erase, Status::Active, Status::Revoked);
    store.commit_admin(erase.clone()).await.expect("erase");
    let loaded = store.load_pass(pass.id).await.expect("load").expect("kept");
    assert_eq!(
        (loaded.display, loaded.card, loaded.status, loaded.uses),
        (None, None, Status::Revoked, 1),
        "personal fields gone, the pass kept, revoked, its count kept"
    );
    let mut again = audit(
        pass.id,
        AdminAction::Erase,
        Status::Revoked,
        Status::Revoked,
    );
    again.at_ms = erase.at_ms + 1;
    store
        .commit_admin(again.clone())
        .await
        .expect("erase again");
    let loaded = store.load_pass(pass.id).await.expect("load").expect("kept");
    assert_eq!((loaded.display, loaded.status), (None, Status::Revoked));
    assert_eq!(
        store.list_scans(pass.id, 10).await.expect("scans"),
        vec![granted],
        "scans stay"
    );
    let audit = audit_kept(&store, pass.id).await;
    assert_eq!(audit, vec![erase, again], "both erasures audited");
    // A pass without personal data erases just as well.
    let plain = inserted(&store, Some(1)).await;
    let erase = audit_of(&plain);
    store.commit_admin(erase).await.expect("erase a plain pass");
}

fn audit_of(pass: &Pass) -> scangate_core::AuditRecord {
    audit(pass.id, AdminAction::Erase, pass.status, Status::Revoked)
}
