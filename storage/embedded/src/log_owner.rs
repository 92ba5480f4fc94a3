//! Which store a redo log directory belongs to. `store/redo` may be a link
//! to, or a mount of, a directory on a file system of its own (a second
//! disk: docs/operations.md, "The redo log on its own disk"). Then it can
//! be missing (a mount that did not come up leaves an empty directory) or
//! another store's, and replaying it would lose acknowledged grants or
//! apply another store's. So a store and its log directory name each other:
//! a random id in fjall's `meta/store_id` and in the directory's `STORE`
//! file, checked before any replay.
//!
//! Rules (`claim`): both agree, or the store opens; the directory names
//! another store, or is missing its file while the store has logged
//! before, and the store refuses to open, naming the directory and what
//! to do. A store of a build before this names none yet: it claims its
//! directory at its first open, as a new store does. The id is written to
//! `meta` (durably) before the file, so a crash between leaves a store
//! that has logged nothing with no file: it writes the file at its next
//! open.

use super::layout::{Tables, backend};
use super::segment::{io_error, sync_dir};
use fjall::PersistMode;
use scangate_storage::StoreError;
use std::fs;
use std::io::Write;
use std::path::Path;

/// The file in a redo log directory that names its store.
pub const OWNER_FILE: &str = "STORE";
/// The `meta` key of the store's id.
const META_STORE_ID: &[u8] = b"store_id";
/// Bytes of a store id.
const ID_BYTES: usize = 16;

type StoreId = [u8; ID_BYTES];

/// Checks that `dir` is this store's log directory, claiming it when
/// neither names the other yet. Runs before the log is read.
pub fn claim(dir: &Path, tables: &Tables) -> Result<(), StoreError> {
    let file = dir.join(OWNER_FILE);
    let named = read_file(&file)?;
    let ours = match tables.meta.get(META_STORE_ID).map_err(backend)? {
        Some(v) => Some(StoreId::try_from(&*v).map_err(|_| {
            StoreError::Corrupt(format!(
                "meta/store_id: {} bytes, expected {ID_BYTES}",
                v.len()
            ))
        })?),
        None => None,
    };
    match (ours, named) {
        (Some(ours), Some(named)) if ours == named => Ok(()),
        (Some(ours), None) if tables.load_logged()? == 0 => write_file(dir, &ours),
        (Some(ours), None) => Err(StoreError::Config(format!(
            "the redo log directory {} has no {OWNER_FILE} file, yet this store (id {}) has \
             written a log before: the log's disk is not mounted or its link points \
             elsewhere. Mount or link it; only if the gateway was stopped cleanly and that \
             log is gone, write the id into {} to start with an empty log",
            shown(dir),
            hex::encode(ours),
            file.display()
        ))),
        (ours, Some(named)) => Err(StoreError::Config(format!(
            "the redo log directory {} belongs to another store (its {OWNER_FILE} names {}, \
             this store's id is {}): give each data directory a log directory of its own",
            shown(dir),
            hex::encode(named),
            ours.map_or_else(|| "not named yet".to_owned(), hex::encode)
        ))),
        (None, None) => {
            let mut id = StoreId::default();
            getrandom::fill(&mut id)
                .map_err(|e| StoreError::Internal(format!("no random store id: {e}")))?;
            tables.meta.insert(META_STORE_ID, id).map_err(backend)?;
            tables.db.persist(PersistMode::SyncAll).map_err(backend)?;
            write_file(dir, &id)
        }
    }
}

/// `dir` as an operator set it up: where a link leads is said too.
fn shown(dir: &Path) -> String {
    match (fs::read_link(dir), fs::canonicalize(dir)) {
        (Ok(_), Ok(target)) => format!("{} (a link to {})", dir.display(), target.display()),
        _ => dir.display().to_string(),
    }
}

/// The id `file` names; `None` when there is no file.
fn read_file(file: &Path) -> Result<Option<StoreId>, StoreError> {
    let text = match fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error("cannot read", file, e)),
    };
    let mut id = StoreId::default();
    hex::decode_to_slice(text.trim(), &mut id).map_err(|_| {
        StoreError::Config(format!(
            "{}: expected a store id of {} hex digits",
            file.display(),
            2 * ID_BYTES
        ))
    })?;
    Ok(Some(id))
}

/// Writes `dir`'s file naming `id`, durably (a temporary file synced, then
/// renamed over, then the directory synced).
fn write_file(dir: &Path, id: &StoreId) -> Result<(), StoreError> {
    let file = dir.join(OWNER_FILE);
    let temp = dir.join(format!("{OWNER_FILE}.new"));
    let mut out = fs::File::create(&temp).map_err(|e| io_error("cannot create", &temp, e))?;
    out.write_all(format!("{}\n", hex::encode(id)).as_bytes())
        .and_then(|()| out.sync_all())
        .map_err(|e| io_error("cannot write", &temp, e))?;
    fs::rename(&temp, &file).map_err(|e| io_error("cannot rename", &temp, e))?;
    sync_dir(dir)
}
