//! The spawned gateway's port: picked once per run, outside the range the
//! kernel hands out to sockets bound to port 0 (Linux's
//! `ip_local_port_range`), so that no other process's client socket can be
//! given it while the gateway is down between a crash and its restart. The
//! gateway's QUIC (UDP) and HTTP (TCP) listeners share its number.
//!
//! A process that asks for the port by number can still take it: a restart
//! first waits for it to be free, at most [`PORT_FREE_WAIT`], and then
//! names the port and what holds it ([`LoadError::PortTaken`]).

use crate::LoadError;
use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

/// Where Linux says which ports it hands to sockets bound to port 0.
pub const EPHEMERAL_RANGE_FILE: &str = "/proc/sys/net/ipv4/ip_local_port_range";
/// Linux's default ephemeral range, assumed when the file cannot be read.
pub const EPHEMERAL_RANGE_DEFAULT: (u16, u16) = (32_768, 60_999);
/// Lowest port picked: above 1024–9999, where services commonly listen
/// (databases, web servers, development servers).
pub const PORT_FLOOR: u16 = 10_000;
/// Ports tried before [`pick`] gives up: with tens of thousands of
/// candidates, 64 taken ones in a row means something is wrong.
pub const PICK_TRIES: u32 = 64;
/// How long a restart waits for its port to come free: a crashed gateway's
/// sockets are gone once the process is reaped, so the wait is only for a
/// stranger that took the port by number and may let it go.
pub const PORT_FREE_WAIT: Duration = Duration::from_secs(10);
/// How often the port is tried while waiting for it.
const PORT_FREE_POLL: Duration = Duration::from_millis(50);

/// The kernel's ephemeral port range (first, last), or
/// [`EPHEMERAL_RANGE_DEFAULT`] when it cannot be read.
pub fn ephemeral_range() -> (u16, u16) {
    std::fs::read_to_string(EPHEMERAL_RANGE_FILE)
        .ok()
        .and_then(|text| parse_range(&text))
        .unwrap_or(EPHEMERAL_RANGE_DEFAULT)
}

/// Parses `ip_local_port_range` ("32768\t60999").
pub fn parse_range(text: &str) -> Option<(u16, u16)> {
    let mut numbers = text.split_whitespace().map(str::parse::<u16>);
    match (numbers.next(), numbers.next(), numbers.next()) {
        (Some(Ok(first)), Some(Ok(last)), None) if first <= last => Some((first, last)),
        _ => None,
    }
}

/// The ports [`pick`] chooses from: from [`PORT_FLOOR`] up, less the
/// ephemeral range `(first, last)`.
pub fn candidates((first, last): (u16, u16)) -> Vec<RangeInclusive<u16>> {
    let mut ranges = Vec::with_capacity(2);
    if first > PORT_FLOOR {
        ranges.push(PORT_FLOOR..=first - 1);
    }
    if last < u16::MAX {
        ranges.push(last.max(PORT_FLOOR - 1) + 1..=u16::MAX);
    }
    ranges
}

/// A port on `ip` outside the ephemeral range, free for both UDP and TCP
/// now, chosen at random among [`candidates`].
pub fn pick(ip: std::net::IpAddr) -> Result<u16, LoadError> {
    let range = ephemeral_range();
    let ranges = candidates(range);
    let total: u32 = ranges
        .iter()
        .map(|r| u32::from(r.end() - r.start()) + 1)
        .sum();
    if total == 0 {
        return Err(LoadError::Spawn(format!(
            "no port from {PORT_FLOOR} up lies outside the ephemeral range {}-{} ({EPHEMERAL_RANGE_FILE})",
            range.0, range.1
        )));
    }
    let mut rng = fastrand::Rng::new();
    for _ in 0..PICK_TRIES {
        let port = nth(&ranges, rng.u32(0..total));
        if is_free(SocketAddr::new(ip, port)).is_ok() {
            return Ok(port);
        }
    }
    Err(LoadError::Spawn(format!(
        "no free port on {ip} outside the ephemeral range {}-{} in {PICK_TRIES} tries",
        range.0, range.1
    )))
}

/// The `n`th port of `ranges`, counted across them.
fn nth(ranges: &[RangeInclusive<u16>], mut n: u32) -> u16 {
    for r in ranges {
        let len = u32::from(r.end() - r.start()) + 1;
        if n < len {
            return r.start() + u16::try_from(n).unwrap_or(0);
        }
        n -= len;
    }
    *ranges.last().map_or(&PORT_FLOOR, RangeInclusive::end)
}

/// Whether the gateway could bind `addr` now, for QUIC (UDP) and for HTTP
/// (TCP, with `SO_REUSEADDR` as the gateway's listener has it): the
/// sockets are closed again at once. The error names the protocol.
pub fn is_free(addr: SocketAddr) -> Result<(), String> {
    let taken = |proto: &str, e: io::Error| format!("{proto}: {e}");
    UdpSocket::bind(addr).map_err(|e| taken("UDP", e))?;
    TcpListener::bind(addr).map_err(|e| taken("TCP", e))?;
    Ok(())
}

/// Waits until `addr` is free (polling every 50 ms), at most `limit`;
/// then [`LoadError::PortTaken`] naming it and what the bind said.
pub async fn wait_free(addr: SocketAddr, limit: Duration) -> Result<(), LoadError> {
    let deadline = Instant::now() + limit;
    loop {
        let reason = match is_free(addr) {
            Ok(()) => return Ok(()),
            Err(reason) => reason,
        };
        if Instant::now() >= deadline {
            return Err(LoadError::PortTaken {
                addr,
                reason: format!("{reason}, still after {limit:?}"),
            });
        }
        tokio::time::sleep(PORT_FREE_POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    #[test]
    fn the_kernels_range_is_read_and_bad_text_is_refused() {
        assert_eq!(parse_range("32768\t60999\n"), Some((32_768, 60_999)));
        assert_eq!(parse_range("1024 65535"), Some((1_024, 65_535)));
        for bad in ["", "32768", "60999 32768", "1 2 3", "a b", "70000 80000"] {
            assert_eq!(parse_range(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn candidates_lie_outside_the_ephemeral_range_and_above_the_floor() {
        assert_eq!(
            candidates((32_768, 60_999)),
            vec![10_000..=32_767, 61_000..=65_535]
        );
        assert_eq!(candidates((1_024, 60_999)), vec![61_000..=65_535]);
        assert_eq!(candidates((20_000, 65_535)), vec![10_000..=19_999]);
        assert_eq!(candidates((1_024, 5_000)), vec![10_000..=65_535]);
        assert!(candidates((1_024, 65_535)).is_empty());
        let ranges = candidates((32_768, 60_999));
        assert_eq!(nth(&ranges, 0), 10_000);
        assert_eq!(nth(&ranges, 22_767), 32_767);
        assert_eq!(nth(&ranges, 22_768), 61_000);
        assert_eq!(nth(&ranges, 22_768 + 4_535), 65_535);
    }

    #[test]
    fn a_picked_port_is_outside_the_kernels_range_and_free() {
        let (first, last) = ephemeral_range();
        for _ in 0..20 {
            let port = pick(LOCALHOST).expect("a port");
            assert!(
                port >= PORT_FLOOR && !(first..=last).contains(&port),
                "{port}"
            );
            is_free(SocketAddr::new(LOCALHOST, port)).expect("free when picked");
        }
    }

    #[tokio::test]
    async fn a_port_held_by_another_socket_is_named_after_the_wait() {
        let held = UdpSocket::bind((LOCALHOST, 0)).expect("bind");
        let addr = held.local_addr().expect("addr");
        let started = Instant::now();
        let err = wait_free(addr, Duration::from_millis(200))
            .await
            .expect_err("taken");
        assert!(started.elapsed() >= Duration::from_millis(200));
        let text = err.to_string();
        assert!(
            text.contains(&addr.to_string()) && text.contains("UDP"),
            "{text}"
        );
        drop(held);
        wait_free(addr, Duration::from_millis(200))
            .await
            .expect("free once let go");
    }
}
