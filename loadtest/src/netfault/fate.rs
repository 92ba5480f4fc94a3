//! What happens to one datagram: a pure function of the [`Faults`] and a
//! seeded random number generator, so a run's faults repeat with its seed.

use super::spec::{Faults, REORDER_HOLD};
use fastrand::Rng;
use std::time::Duration;

/// One datagram's fate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Dropped.
    Lost,
    /// Sent after `delay`; a second copy after `duplicate`, if any.
    Sent {
        /// Delay of the datagram.
        delay: Duration,
        /// Delay of its duplicate.
        duplicate: Option<Duration>,
        /// Held back [`REORDER_HOLD`] so that later datagrams overtake it.
        reordered: bool,
    },
}

/// The delay with its jitter (uniform from 0 to `jitter`, in microseconds).
fn delayed(f: &Faults, rng: &mut Rng) -> Duration {
    let jitter = u64::try_from(f.jitter.as_micros()).unwrap_or(u64::MAX);
    f.delay + Duration::from_micros(rng.u64(0..=jitter))
}

/// Decides one datagram's fate.
pub fn fate(f: &Faults, rng: &mut Rng) -> Fate {
    if f.loss > 0.0 && rng.f64() < f.loss {
        return Fate::Lost;
    }
    let reordered = f.reorder > 0.0 && rng.f64() < f.reorder;
    let mut delay = delayed(f, rng);
    if reordered {
        delay += REORDER_HOLD;
    }
    let duplicate = (f.dup > 0.0 && rng.f64() < f.dup).then(|| delayed(f, rng));
    Fate::Sent {
        delay,
        duplicate,
        reordered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(f: &Faults, n: u32) -> (u32, u32, u32, Duration) {
        let mut rng = Rng::with_seed(7);
        let (mut lost, mut dups, mut reordered, mut longest) = (0, 0, 0, Duration::ZERO);
        for _ in 0..n {
            match fate(f, &mut rng) {
                Fate::Lost => lost += 1,
                Fate::Sent {
                    delay,
                    duplicate,
                    reordered: r,
                } => {
                    dups += u32::from(duplicate.is_some());
                    reordered += u32::from(r);
                    longest = longest.max(delay);
                }
            }
        }
        (lost, dups, reordered, longest)
    }

    #[test]
    fn no_faults_send_everything_at_once() {
        assert_eq!(tally(&Faults::default(), 1_000), (0, 0, 0, Duration::ZERO));
    }

    #[test]
    fn shares_come_out_near_what_was_asked() {
        let f = Faults {
            loss: 0.1,
            dup: 0.05,
            reorder: 0.2,
            delay: Duration::from_millis(20),
            jitter: Duration::from_millis(10),
        };
        let (lost, dups, reordered, longest) = tally(&f, 10_000);
        assert!((800..1_200).contains(&lost), "lost {lost}");
        assert!((350..650).contains(&dups), "dups {dups}");
        assert!((1_600..2_000).contains(&reordered), "reordered {reordered}");
        assert!(longest <= Duration::from_millis(30) + REORDER_HOLD);
        assert!(longest > Duration::from_millis(30), "{longest:?}");
    }

    #[test]
    fn the_same_seed_gives_the_same_fates() {
        let f = Faults {
            loss: 0.3,
            dup: 0.3,
            jitter: Duration::from_millis(5),
            ..Faults::default()
        };
        let run = || {
            let mut rng = Rng::with_seed(42);
            (0..100).map(|_| fate(&f, &mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
    }
}
