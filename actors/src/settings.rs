//! What the pass actors share: the store, the directory, the clock, the
//! protocol's and the flags' settings, event definitions and zone
//! occupancy; and a pass's reload from the store.

use crate::clock::Clock;
use crate::directory::Directory;
use crate::error::Fault;
use crate::store_call::deadline;
use scangate_core::event::Definitions;
use scangate_core::flags::FlagPolicy;
use scangate_core::protocol::MachineConfig;
use scangate_core::{Pass, PassId};
use scangate_storage::{Store, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// What an actor needs besides its passes.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) directory: Arc<Directory>,
    /// Where decisions get their time.
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) store_timeout: Duration,
    /// The protocol's settings: the annul window, and on a store shared
    /// with other gateways how old a denial's copy may be.
    pub(crate) machine: MachineConfig,
    /// Which fraud flags a scan raises and which deny.
    pub(crate) flag_policy: Arc<FlagPolicy>,
    /// `flag_policy`'s horizon, computed once: how far back a pass's
    /// history read looks.
    pub(crate) flag_horizon_ms: i64,
    /// Event definitions, looked up (without waiting) for every scan.
    pub(crate) definitions: Arc<dyn Definitions>,
    /// Zone occupancy's owner: places for entries into zones with a capacity.
    pub(crate) occupancy: Arc<crate::occupancy::Occupancy>,
}

impl Settings {
    /// Reads the pass afresh from the store (past any cache) under the
    /// store deadline; a store without it answers `NotFound`.
    pub(crate) async fn reload(&self, id: PassId) -> Result<Pass, Fault> {
        self.store.invalidate(id);
        match deadline(self.store_timeout, self.store.load_pass(id)).await {
            Ok(Some(fresh)) => Ok(fresh),
            Ok(None) => Err(Fault(StoreError::NotFound(id))),
            Err(e) => Err(Fault(e)),
        }
    }
}
