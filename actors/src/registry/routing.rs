//! Reaching a pass's actor: finding the pass in the directory, or loading it
//! from the store and handing it to the actor of its slot (held once), and
//! asking that actor one request through the pass's bounded queue. Never
//! decides anything about a pass.

use super::{Asked, Registry, Route, RouteError};
use crate::directory::{Claim, Handle, Start, sweep_idle};
use crate::message::{ActorMsg, PassMsg};
use crate::queue::{Queue, Refused, Ticket};
use crate::recent;
use crate::store_call::deadline;
use ractor::RpcReplyPort;
use ractor::rpc::CallResult;
use scangate_core::PassId;
use std::sync::Arc;

impl Registry {
    /// Finds the pass's actor, handing it the pass first if it does not hold
    /// it (one start per pass at a time).
    pub(super) async fn route(&self, id: PassId) -> Result<Route, RouteError> {
        loop {
            match self.inner.directory.claim(id) {
                Claim::Live(handle) => return Ok(Route::Live(handle)),
                Claim::Full => return Err(RouteError::Busy("actors")),
                Claim::Closed => return Err(RouteError::ShuttingDown),
                Claim::Wait(mut rx) => {
                    // Ok: the starter found no such pass. Err: it finished or
                    // gave up; either way, look again.
                    if rx.changed().await.is_ok() && *rx.borrow() == Start::Unknown {
                        return Ok(Route::Unknown);
                    }
                }
                Claim::Start(guard) => {
                    self.inner.sweep.call_once(|| {
                        let directory = Arc::downgrade(&self.inner.directory);
                        tokio::spawn(sweep_idle(directory, self.inner.config.idle_stop()));
                    });
                    let settings = self.inner.actors.settings();
                    let loaded =
                        deadline(settings.store_timeout, settings.store.load_pass(id)).await;
                    let pass = match loaded {
                        Ok(Some(pass)) => pass,
                        Ok(None) => {
                            guard.unknown();
                            return Ok(Route::Unknown);
                        }
                        // Dropping the guard frees the slot for the next caller.
                        Err(e) => return Err(RouteError::Store(e)),
                    };
                    let now = settings.clock.now_ms();
                    let recent = recent::load(settings, &pass, now).await;
                    let actor = match self.inner.actors.of(id).await {
                        Ok(Some(actor)) => actor,
                        Ok(None) => return Err(RouteError::ShuttingDown),
                        Err(e) => {
                            tracing::error!(error = %e, "could not start a pass actor");
                            return Err(RouteError::Busy("spawn"));
                        }
                    };
                    let queue = Arc::new(Queue::new(self.inner.directory.clock_ms()));
                    let start = ActorMsg::Start {
                        pass: Box::new(pass),
                        recent,
                        queue: Arc::clone(&queue),
                    };
                    // Sent before the slot is live, so before any request.
                    if actor.send_message(start).is_err() {
                        return Err(RouteError::Busy("spawn"));
                    }
                    // A close that came meanwhile: the actor is drained and
                    // stops, the pass with it.
                    return guard
                        .finish(Handle { actor, queue })
                        .map(Route::Live)
                        .map_err(|_| RouteError::ShuttingDown);
                }
            }
        }
    }

    pub(super) async fn ask<R, B>(&self, id: PassId, handle: &Handle, build: B) -> Asked<R>
    where
        R: Send + 'static,
        B: FnOnce(RpcReplyPort<R>, Ticket) -> PassMsg,
    {
        let now = self.inner.directory.clock_ms();
        let ticket = match handle
            .queue
            .enter(self.inner.config.max_queued_per_pass, now)
        {
            Ok(ticket) => ticket,
            Err(Refused::Full) => return Asked::Full,
            Err(Refused::Closed) => return self.gone(id, handle),
        };
        // No ractor timeout: the caller's deadline wraps the whole request.
        match call(handle, |reply| ActorMsg::To(id, build(reply, ticket))).await {
            Some(answer) => Asked::Answer(answer),
            None => self.gone(id, handle),
        }
    }

    /// The actor stopped (idle or failed) or is stopping: forget it so the
    /// next attempt starts a fresh one from the store.
    fn gone<R>(&self, id: PassId, handle: &Handle) -> Asked<R> {
        self.inner.directory.forget(id, &handle.queue);
        Asked::Gone
    }
}

/// A ractor call without its own timeout; `None` if the actor did not take
/// the message or dropped it unanswered.
async fn call<R, B>(handle: &Handle, build: B) -> Option<R>
where
    R: Send + 'static,
    B: FnOnce(RpcReplyPort<R>) -> ActorMsg,
{
    match handle.actor.call(build, None).await {
        Ok(CallResult::Success(answer)) => Some(answer),
        Ok(CallResult::Timeout | CallResult::SenderError) | Err(_) => None,
    }
}
