//! Loading one pass on the scan path ([`load_pass`]): its state from the
//! fold thread's held states (the state of record until they are written
//! out, see `states`) or fjall, its record, key and personal data from one
//! fjall snapshot, with no state newer or older than the record beside it.

use super::layout::{self, StateBytes, Tables, backend};
use super::progress::Progress;
use super::states::Held;
use fjall::Readable;
use scangate_core::{Pass, PassId};
use scangate_storage::{PassState, StoreError, personal};

/// How many times a load looks again when the pass's record was written
/// by a batch the fold has not committed yet (an issue, revocation or
/// erasure of that pass folding at that moment); each new look first waits
/// for that batch. Scans of the pass never make a load look again (they
/// change only its state), so this is reached only if the same pass's
/// record changes again and again during one load: then it answers `Busy`.
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

/// Takes the held state and a fjall snapshot together (see
/// [`DirtyStates::look`](super::states::DirtyStates::look)) and reads the
/// pass's record, key and personal data from that snapshot.
/// `Ok(Err(batch))`: look again once the fold has committed `batch`.
type Look = Result<Option<Pass>, u64>;

fn look(tables: &Tables, progress: &Progress, id: PassId) -> Result<Look, StoreError> {
    let (held, snapshot) = progress.states.look(&id.0, || tables.db.snapshot());
    let state = match held {
        Held::Wait(batch) => return Ok(Err(batch)),
        Held::State(value) => value,
        Held::InFjall => snapshot
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
