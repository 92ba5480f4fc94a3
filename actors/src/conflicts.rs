//! Listing conflicts (flagged offline scans) for the operator, with what an
//! `over_limit` conflict needs to be read: the devices of the pass's other
//! grants.

use crate::registry::Registry;
use crate::store_call::deadline;
use scangate_core::offline::messages::ConflictKind;
use scangate_core::scan::Conflict;
use scangate_core::{PassId, ScanId};
use scangate_storage::{ConflictQuery, Page, StoreError};
use std::collections::HashMap;
use std::collections::hash_map::Entry;

/// Most scan records read per `over_limit` pass of a page (1,000): a
/// single-use ticket over its limit has a handful, a multi-use pass shared
/// by a crowd is named by the first thousand. Each pass is read once per
/// page, so one page reads at most `PAGE_MAX` times this.
pub const OVER_LIMIT_SCANS_READ_MAX: usize = 1_000;

/// Most devices named per conflict (16): enough to see who shared a ticket;
/// a longer list says "many" as well.
pub const OTHER_DEVICES_MAX: usize = 16;

/// A conflict as the operator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflictView {
    /// The conflict as stored.
    pub conflict: Conflict,
    /// For `over_limit`: the devices of the pass's other live grants
    /// (online or offline, not annulled), each once, oldest first, at most
    /// [`OTHER_DEVICES_MAX`]; empty for other kinds.
    pub other_devices: Vec<String>,
}

impl Registry {
    /// One page of conflicts (see [`scangate_storage::Store::query_conflicts`]);
    /// each `over_limit` one names the devices of its pass's other grants,
    /// read from the pass's scan records (at most
    /// [`OVER_LIMIT_SCANS_READ_MAX`] per pass, each pass once per page).
    pub async fn conflicts(&self, query: ConflictQuery) -> Result<Page<ConflictView>, StoreError> {
        let (store, timeout) = self.store();
        let page = deadline(timeout, store.query_conflicts(query)).await?;
        let mut grants: HashMap<PassId, Vec<(ScanId, String)>> = HashMap::new();
        let mut items = Vec::with_capacity(page.items.len());
        for conflict in page.items {
            let other_devices = match (conflict.kind, conflict.pass_id) {
                (ConflictKind::OverLimit, Some(pass)) => {
                    let of_pass = match grants.entry(pass) {
                        Entry::Occupied(known) => known.into_mut(),
                        Entry::Vacant(slot) => {
                            let scans = store.list_scans(pass, OVER_LIMIT_SCANS_READ_MAX);
                            let live = deadline(timeout, scans)
                                .await?
                                .into_iter()
                                .filter(|r| r.decision.is_granted() && r.annulled.is_none())
                                .map(|r| (r.scan_id, r.device))
                                .collect();
                            slot.insert(live)
                        }
                    };
                    other_devices(of_pass, &conflict.scan_id)
                }
                _ => Vec::new(),
            };
            items.push(ConflictView {
                conflict,
                other_devices,
            });
        }
        Ok(Page {
            items,
            next: page.next,
        })
    }
}

/// The devices of `grants` other than the scan `own`, each once, in order,
/// at most [`OTHER_DEVICES_MAX`].
fn other_devices(grants: &[(ScanId, String)], own: &ScanId) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (scan_id, device) in grants {
        if scan_id != own && !out.contains(device) {
            out.push(device.clone());
            if out.len() == OTHER_DEVICES_MAX {
                break;
            }
        }
    }
    out
}
