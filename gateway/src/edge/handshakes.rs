//! Admission of QUIC handshakes, before any connection slot is taken.
//!
//! The rule: a connection attempt whose address is not validated gets a
//! stateless Retry and nothing else (spoofed sources never get further); a
//! validated one needs a slot here — at most `max_handshakes` in progress,
//! and at most `max_handshakes_per_source` from one source — and holds it
//! only until its handshake ends or its deadline passes. One of the
//! `max_connections` slots is taken only after the handshake has finished
//! with a named device certificate (see [`crate::edge::quic`]).
//!
//! The map of sources is bounded by `max_handshakes`: a source has an entry
//! only while it has a handshake in progress.

use metrics::gauge;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, PoisonError};

/// Handshakes in progress, in total and by source.
pub struct Handshakes {
    max_total: usize,
    max_per_source: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    total: usize,
    by_source: HashMap<Source, usize>,
}

/// Where handshakes are counted together: an IPv4 address, or the /64 of an
/// IPv6 address (one host usually holds a whole /64, so counting single
/// IPv6 addresses would bound nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Source(IpAddr);

impl Source {
    /// The source `ip` is counted under.
    pub fn of(ip: IpAddr) -> Source {
        match ip {
            IpAddr::V4(v4) => Source(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Source(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    Source(IpAddr::V6(Ipv6Addr::from(prefix)))
                }
            },
        }
    }
}

/// Why a handshake was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refused {
    /// `max_handshakes` are in progress.
    #[error("{0} handshakes are in progress already")]
    Busy(usize),
    /// `max_handshakes_per_source` are in progress from this source.
    #[error("{0} handshakes from this source are in progress already")]
    Source(usize),
}

impl Refused {
    /// The `cause` label of `scangate_connections_refused_total`.
    pub fn cause(self) -> &'static str {
        match self {
            Refused::Busy(_) => "handshakes",
            Refused::Source(_) => "source",
        }
    }
}

/// One handshake's slot; freed when dropped.
pub struct Slot {
    handshakes: Arc<Handshakes>,
    source: Source,
}

impl Handshakes {
    /// At most `max_total` handshakes at once, `max_per_source` from one source.
    pub fn new(max_total: usize, max_per_source: usize) -> Arc<Self> {
        gauge!("scangate_handshakes_in_progress").set(0.0);
        Arc::new(Handshakes {
            max_total,
            max_per_source,
            state: Mutex::new(State::default()),
        })
    }

    /// A slot for a handshake from `ip`, or why not.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Refused> {
        let source = Source::of(ip);
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.total >= self.max_total {
            return Err(Refused::Busy(self.max_total));
        }
        let from_source = state.by_source.entry(source).or_insert(0);
        if *from_source >= self.max_per_source {
            return Err(Refused::Source(self.max_per_source));
        }
        *from_source += 1;
        state.total += 1;
        debug_assert!(state.by_source.len() <= state.total);
        gauge!("scangate_handshakes_in_progress").set(state.total as f64);
        Ok(Slot {
            handshakes: self.clone(),
            source,
        })
    }

    /// Handshakes in progress now.
    pub fn in_progress(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .total
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut state = self
            .handshakes
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        state.total -= 1;
        if let Some(n) = state.by_source.get_mut(&self.source) {
            *n -= 1;
            if *n == 0 {
                state.by_source.remove(&self.source);
            }
        }
        gauge!("scangate_handshakes_in_progress").set(state.total as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn the_total_and_each_source_are_bounded_and_freed_on_drop() {
        let handshakes = Handshakes::new(3, 2);
        let a1 = handshakes.admit(ip("10.0.0.1")).expect("a1");
        let _a2 = handshakes.admit(ip("10.0.0.1")).expect("a2");
        assert_eq!(
            handshakes.admit(ip("10.0.0.1")).err(),
            Some(Refused::Source(2))
        );
        let _b1 = handshakes.admit(ip("10.0.0.2")).expect("b1");
        assert_eq!(
            handshakes.admit(ip("10.0.0.3")).err(),
            Some(Refused::Busy(3))
        );
        drop(a1);
        assert_eq!(handshakes.in_progress(), 2);
        let _a3 = handshakes.admit(ip("10.0.0.1")).expect("a slot freed");
        assert_eq!(handshakes.in_progress(), 3);
    }

    #[test]
    fn sources_forget_addresses_with_nothing_in_progress() {
        let handshakes = Handshakes::new(10, 1);
        for _ in 0..3 {
            drop(handshakes.admit(ip("10.0.0.1")).expect("freed each time"));
        }
        let state = handshakes.state.lock().expect("lock");
        assert_eq!((state.total, state.by_source.len()), (0, 0));
    }

    #[test]
    fn an_ipv6_64_is_one_source_and_mapped_ipv4_is_its_ipv4() {
        assert_eq!(
            Source::of(ip("2001:db8:1:2:aaaa::1")),
            Source::of(ip("2001:db8:1:2:bbbb::9"))
        );
        assert_ne!(
            Source::of(ip("2001:db8:1:2::1")),
            Source::of(ip("2001:db8:1:3::1"))
        );
        assert_eq!(
            Source::of(ip("::ffff:10.0.0.1")),
            Source::of(ip("10.0.0.1"))
        );
    }
}
