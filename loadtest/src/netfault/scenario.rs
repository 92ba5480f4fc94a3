//! The timed faults of a run: the path cut at `AT` from the start of the
//! schedule and healed `FOR` later, and every flow moved to a new address
//! each `EVERY`, until the schedule ends (the path is then healed, so the
//! drain and the check see it whole).

use super::proxy::Proxy;
use super::spec::NetFault;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// What the timed faults did.
#[derive(Debug, Default, Clone)]
pub struct NetLog {
    /// When the path was cut.
    pub cut: Option<Instant>,
    /// When it healed.
    pub healed: Option<Instant>,
    /// Roams done (each moved every flow).
    pub roams: u32,
}

/// The next timed event.
enum Next {
    Cut,
    Heal,
    Roam,
}

/// Carries out `nf`'s partition and roams from `begin` until `stop` is
/// cancelled (the schedule is over); heals the path at the end whatever
/// happened.
pub async fn carry_out(
    proxy: &Proxy,
    nf: &NetFault,
    begin: Instant,
    stop: CancellationToken,
) -> NetLog {
    let mut log = NetLog::default();
    let mut next_roam = nf.roam_every.map(|every| begin + every);
    loop {
        let Some((at, next)) = next_event(nf, begin, &log, next_roam) else {
            stop.cancelled().await;
            break;
        };
        tokio::select! {
            () = tokio::time::sleep_until(at.into()) => {}
            () = stop.cancelled() => break,
        }
        match next {
            Next::Cut => {
                proxy.cut(true);
                log.cut = Some(Instant::now());
            }
            Next::Heal => {
                proxy.cut(false);
                log.healed = Some(Instant::now());
            }
            Next::Roam => {
                proxy.roam().await;
                log.roams += 1;
                next_roam = nf.roam_every.map(|every| at + every);
            }
        }
    }
    if log.cut.is_some() && log.healed.is_none() {
        proxy.cut(false);
        log.healed = Some(Instant::now());
    }
    log
}

/// The earliest of: the cut, the heal, the next roam.
fn next_event(
    nf: &NetFault,
    begin: Instant,
    log: &NetLog,
    next_roam: Option<Instant>,
) -> Option<(Instant, Next)> {
    let partition =
        nf.partition.and_then(
            |(at, length): (Duration, Duration)| match (log.cut, log.healed) {
                (None, _) => Some((begin + at, Next::Cut)),
                (Some(cut), None) => Some((cut + length, Next::Heal)),
                (Some(_), Some(_)) => None,
            },
        );
    let roam = next_roam.map(|t| (t, Next::Roam));
    match (partition, roam) {
        (Some(p), Some(r)) => Some(if p.0 <= r.0 { p } else { r }),
        (p, r) => p.or(r),
    }
}
