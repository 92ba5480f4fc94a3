//! Reading a scan record by its scan id straight from the tables (the
//! writer's duplicate check and `Store::find_scan`).

use crate::layout::{self, Tables, backend};
use crate::writer_state::LogKey;
use scangate_core::{ScanId, ScanRecord};
use scangate_storage::StoreError;

/// The record under a scan id, read straight from the store.
pub fn find_scan(tables: &Tables, id: &ScanId) -> Result<Option<ScanRecord>, StoreError> {
    Ok(find_scan_keyed(tables, id)?.map(|(_, r)| r))
}

/// The record under a scan id with its `scans` key.
pub(super) fn find_scan_keyed(
    tables: &Tables,
    id: &ScanId,
) -> Result<Option<(LogKey, ScanRecord)>, StoreError> {
    let Some(scan_key) = tables.scan_ids.get(id.as_str()).map_err(backend)? else {
        return Ok(None);
    };
    let key: LogKey = scan_key
        .as_ref()
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("scan-id entry of {id}: wrong key length")))?;
    let bytes = tables
        .scans
        .get(&scan_key)
        .map_err(backend)?
        .ok_or_else(|| {
            StoreError::Corrupt(format!("scan id {id} points at a missing scan record"))
        })?;
    layout::decode_scan(&bytes).map(|r| Some((key, r)))
}
