//! Reaching a pass's actor: finding it in the directory or starting it from
//! the store (exactly one per pass), and asking it one request through its
//! bounded queue. Never decides anything about a pass.

use super::{Asked, Registry, Route, RouteError};
use crate::directory::{Claim, Handle, Start, sweep_idle};
use crate::message::PassMsg;
use crate::pass_actor;
use crate::queue::{Refused, Ticket};
use crate::recent;
use crate::store_call::deadline;
use ractor::RpcReplyPort;
use ractor::rpc::CallResult;
use scangate_core::PassId;
use std::sync::Arc;

impl Registry {
    /// Finds the pass's actor, starting it if needed (exactly one per pass).
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
                    let settings = &self.inner.settings;
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
                    let handle = match pass_actor::spawn(pass, recent, settings.clone()).await {
                        Ok(handle) => handle,
                        Err(e) => {
                            tracing::error!(error = %e, "could not start a pass actor");
                            return Err(RouteError::Busy("spawn"));
                        }
                    };
                    return match guard.finish(handle) {
                        Ok(handle) => Ok(Route::Live(handle)),
                        Err(late) => {
                            late.actor.stop(Some("registry shut down".into()));
                            Err(RouteError::ShuttingDown)
                        }
                    };
                }
            }
        }
    }

    /// Sends one request to `handle`'s actor if its queue has room, and waits
    /// for the answer (under the caller's deadline).
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
        match call(handle, |reply| build(reply, ticket)).await {
            Some(answer) => Asked::Answer(answer),
            None => self.gone(id, handle),
        }
    }

    /// The actor stopped (idle or failed) or is stopping: forget it so the
    /// next attempt starts a fresh one from the store.
    fn gone<R>(&self, id: PassId, handle: &Handle) -> Asked<R> {
        self.inner.directory.forget(id, handle.actor.get_id());
        Asked::Gone
    }
}

/// A ractor call without its own timeout; `None` if the actor did not take
/// the message or dropped it unanswered.
async fn call<R, B>(handle: &Handle, build: B) -> Option<R>
where
    R: Send + 'static,
    B: FnOnce(RpcReplyPort<R>) -> PassMsg,
{
    match handle.actor.call(build, None).await {
        Ok(CallResult::Success(answer)) => Some(answer),
        Ok(CallResult::Timeout | CallResult::SenderError) | Err(_) => None,
    }
}
