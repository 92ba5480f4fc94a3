//! The gateway's own health, beside its counters: whether the store can
//! still make anything durable, and the room left on the data dir's disk
//! (a full disk is what fails the store). Read fresh by `/metrics` and by
//! the live dashboard's snapshots.

use scangate_storage::Store;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;

/// Reads the health of one gateway.
pub struct HealthProbe {
    store: Arc<dyn Store>,
    data_dir: PathBuf,
}

/// The health at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Health {
    /// Why the store can make nothing more durable until a restart, if so.
    pub store_failure: Option<String>,
    /// The data dir's filesystem; `None` if it could not be read.
    pub disk: Option<Disk>,
}

/// Room on a filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Disk {
    /// Bytes the gateway may still write (`df`'s "available").
    pub available_bytes: u64,
    /// The filesystem's size in bytes.
    pub size_bytes: u64,
}

impl HealthProbe {
    /// A probe of `store` and of the filesystem holding `data_dir`.
    pub fn new(store: Arc<dyn Store>, data_dir: PathBuf) -> Self {
        HealthProbe { store, data_dir }
    }

    /// The health now: one call to the store and one `statvfs`.
    pub fn sample(&self) -> Health {
        let disk = match rustix::fs::statvfs(&self.data_dir) {
            Ok(fs) => Some(Disk {
                available_bytes: fs.f_bavail * fs.f_frsize,
                size_bytes: fs.f_blocks * fs.f_frsize,
            }),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the data dir's free space");
                None
            }
        };
        Health {
            store_failure: self.store.failure(),
            disk,
        }
    }
}
