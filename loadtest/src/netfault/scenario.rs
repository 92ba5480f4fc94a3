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

/// Now, on tokio's clock (the std clock outside tests; virtual time in them).
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
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
                log.cut = Some(now());
            }
            Next::Heal => {
                proxy.cut(false);
                log.healed = Some(now());
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
        log.healed = Some(now());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netfault::Faults;

    /// Carries out `spec` through a proxy to a silent gateway socket until
    /// `ms` after the start (on tokio's paused clock); the log and the start.
    async fn run_for(spec: &str, ms: u64) -> (NetLog, Instant) {
        let gateway = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = gateway.local_addr().expect("addr");
        let proxy = Proxy::start(addr, Faults::default(), 1)
            .await
            .expect("proxy");
        let nf = NetFault::parse(spec).expect("spec");
        let begin = now();
        let stop = CancellationToken::new();
        let ending = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            ending.cancel();
        });
        (carry_out(&proxy, &nf, begin, stop).await, begin)
    }

    #[tokio::test(start_paused = true)]
    async fn the_path_is_cut_and_healed_on_time_and_roams_come_every_interval() {
        let (log, begin) = run_for("partition=1:1,roam=400ms", 3_000).await;
        let at = |t: Option<Instant>| t.map(|t| t.duration_since(begin).as_millis());
        assert_eq!(at(log.cut), Some(1_000));
        assert_eq!(at(log.healed), Some(2_000));
        assert_eq!(log.roams, 7, "at 0.4, 0.8, ... 2.8 s");
    }

    #[tokio::test(start_paused = true)]
    async fn a_partition_still_on_when_the_schedule_ends_is_healed() {
        let (log, begin) = run_for("partition=0:10", 500).await;
        let healed = log.healed.expect("healed").duration_since(begin);
        assert_eq!(healed, Duration::from_millis(500));
        assert_eq!(log.roams, 0);
    }
}
