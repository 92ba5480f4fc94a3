//! Holder links: kept as the hash of their secret, one per pass, replaced by
//! a newer one, removed for good.

use super::fixtures::inserted;
use super::{new_id, now_ms};
use crate::{HolderLink, Store};
use std::sync::Arc;

/// A link is read back as stored; a second link replaces the first; a
/// removal answers whether there was one and leaves none; other passes'
/// links are untouched.
pub async fn holder_links_replace_and_remove(store: Arc<dyn Store>) {
    let pass = inserted(&store, Some(1)).await;
    let other = inserted(&store, Some(1)).await;
    assert_eq!(store.holder_link(pass.id).await.expect("read"), None);
    let first = HolderLink {
        pass_id: pass.id,
        secret_sha256: [1; 32],
        created_ms: now_ms(),
    };
    let kept = HolderLink {
        pass_id: other.id,
        secret_sha256: [7; 32],
        created_ms: now_ms(),
    };
    store.put_holder_link(first).await.expect("put");
    store.put_holder_link(kept).await.expect("put other");
    assert_eq!(store.holder_link(pass.id).await.expect("read"), Some(first));
    let second = HolderLink {
        secret_sha256: [2; 32],
        created_ms: first.created_ms + 1,
        ..first
    };
    store.put_holder_link(second).await.expect("replace");
    assert_eq!(
        store.holder_link(pass.id).await.expect("read"),
        Some(second),
        "a new link replaces the old"
    );
    assert!(store.remove_holder_link(pass.id).await.expect("remove"));
    assert_eq!(store.holder_link(pass.id).await.expect("read"), None);
    assert!(
        !store.remove_holder_link(pass.id).await.expect("again"),
        "a second removal finds none"
    );
    assert!(!store.remove_holder_link(new_id()).await.expect("unknown"));
    assert_eq!(store.holder_link(other.id).await.expect("read"), Some(kept));
}
