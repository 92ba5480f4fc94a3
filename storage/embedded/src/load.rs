//! Loading one pass on the scan path ([`load_pass`]): its state from the
//! fold thread's held states (the state of record until they are written
//! out, see `states`) or fjall, its record, key and personal data from one
//! fjall snapshot, with no state newer or older than the record beside it.

use super::layout::{self, StateBytes, Tables, backend};
use super::progress::Progress;
use fjall::Readable;
use scangate_core::{Pass, PassId};
use scangate_storage::{PassState, StoreError, personal};

/// How many times a load looks again when the fold thread was handing a
/// newer state of the pass over while it read (an admin change of that
/// pass folding at that moment); each new look first waits for the fold.
/// Reached only if the same pass changes again and again during one load:
/// then the load answers `Busy`.
pub const LOAD_TRIES: usize = 4;

/// The pass `id` with every acknowledged change (the caller waited for the
/// fold of the batches that changed it).
pub async fn load_pass(
    tables: &Tables,
    progress: &Progress,
    id: PassId,
) -> Result<Option<Pass>, StoreError> {
    for _ in 0..LOAD_TRIES {
        match look(tables, progress, id)? {
            Ok(pass) => return Ok(pass),
            Err(again) => progress.folded_to(again).await?,
        }
    }
    Err(StoreError::Busy)
}

/// Reads the held state, takes a snapshot, and reads the held state again:
/// the same entry both times (or none) means the snapshot's record goes
/// with it, provided the snapshot holds the batch that wrote it (the fold
/// hands a batch's states over before committing its other writes). A
/// state written out meanwhile is in the snapshot (an entry leaves only
/// after its write-out is committed). `Ok(Err(batch))`: look again once
/// the fold has committed `batch` (0: the held state changed meanwhile).
type Look = Result<Option<Pass>, u64>;

fn look(tables: &Tables, progress: &Progress, id: PassId) -> Result<Look, StoreError> {
    let held = progress.states.get(&id.0);
    let snapshot = tables.db.snapshot();
    if progress.states.get(&id.0) != held {
        return Ok(Err(0));
    }
    let state = match held {
        Some((batch, value)) => {
            let logged = snapshot
                .get(&tables.meta, layout::logged_key())
                .map_err(backend)?;
            let logged = logged.map_or(Ok(0), |v| {
                <[u8; 8]>::try_from(v.as_ref())
                    .map(u64::from_be_bytes)
                    .map_err(|_| StoreError::Corrupt("redo record number: wrong length".into()))
            })?;
            if logged < batch {
                return Ok(Err(batch));
            }
            value
        }
        None => snapshot
            .get(&tables.pass_state, id.0)
            .map_err(backend)?
            .map(|v| v.to_vec()),
    };
    let Some(state) = state else {
        return Ok(Ok(None));
    };
    let state = PassState::decode(id, &state)?;
    let record = snapshot
        .get(&tables.passes, id.0)
        .map_err(backend)?
        .ok_or_else(|| StoreError::Corrupt(format!("pass {id} has a state but no record")))?;
    let mut pass = layout::merge_pass(id, &record, state)?;
    let key = snapshot.get(&tables.pass_keys, id.0).map_err(backend)?;
    let sealed = snapshot.get(&tables.personal, id.0).map_err(backend)?;
    personal::reunite(&mut pass, key.as_deref(), sealed.as_deref())?;
    Ok(Ok(Some(pass)))
}
