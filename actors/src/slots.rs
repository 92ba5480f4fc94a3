//! The registry's [`ACTORS`] pass actors, one per slot of pass ids: each
//! started at the first pass of its slot, started again if it stopped (a
//! panic in a turn: its passes left the directory with it), and none
//! started after [`Actors::close`].

use crate::directory::{lock, spread};
use crate::message::ActorMsg;
use crate::pass_actor::PassActor;
use crate::settings::Settings;
use ractor::{Actor, ActorRef, ActorStatus, SpawnErr};
use scangate_core::PassId;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Pass actors per registry. Each costs ~6.4 KB allocated (ractor's cell,
/// its four channels, its task) once started, ~10 KB of RSS: ~40 MB for all
/// of them; more of them make two passes in flight at once less likely to
/// share one.
pub(crate) const ACTORS: usize = 4096;

/// The [`ACTORS`] slots, each started by [`Actors::start_all`] or at its
/// first pass, and started again if it stopped (a panic in a turn); none
/// after [`Actors::close`].
pub(crate) struct Actors {
    slots: Box<[Mutex<Option<ActorRef<ActorMsg>>>]>,
    settings: Settings,
    closed: AtomicBool,
}

impl Actors {
    pub(crate) fn new(settings: Settings) -> Self {
        Actors {
            slots: (0..ACTORS).map(|_| Mutex::default()).collect(),
            settings,
            closed: Default::default(),
        }
    }

    pub(crate) fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The running actor of `id`'s slot, started if there is none (`None`
    /// after [`Actors::close`]).
    pub(crate) async fn of(&self, id: PassId) -> Result<Option<ActorRef<ActorMsg>>, SpawnErr> {
        self.in_slot(spread(id, ACTORS)).await
    }

    /// Starts the actor of every slot that has none running, so no scan
    /// waits for one to start.
    pub(crate) async fn start_all(&self) -> Result<(), SpawnErr> {
        for n in 0..ACTORS {
            self.in_slot(n).await?;
        }
        Ok(())
    }

    async fn in_slot(&self, n: usize) -> Result<Option<ActorRef<ActorMsg>>, SpawnErr> {
        let slot = &self.slots[n];
        if let Some(actor) = running(&lock(slot)) {
            return Ok(Some(actor));
        }
        if self.closed.load(Ordering::Acquire) {
            return Ok(None);
        }
        let (actor, _join) = Actor::spawn(None, PassActor, self.settings.clone()).await?;
        let mut held = lock(slot);
        // Another caller may have started one meanwhile: keep the first.
        if let Some(first) = running(&held) {
            actor.stop(None);
            return Ok(Some(first));
        }
        *held = Some(actor.clone());
        Ok(Some(actor))
    }

    /// Starts no more actors and returns those started.
    pub(crate) fn close(&self) -> Vec<ActorRef<ActorMsg>> {
        self.closed.store(true, Ordering::Release);
        self.slots
            .iter()
            .filter_map(|slot| lock(slot).clone())
            .collect()
    }
}

fn running(slot: &Option<ActorRef<ActorMsg>>) -> Option<ActorRef<ActorMsg>> {
    slot.as_ref()
        .filter(|a| matches!(a.get_status(), ActorStatus::Starting | ActorStatus::Running))
        .cloned()
}
