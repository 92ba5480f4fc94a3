//! The proxy on real loopback sockets: an echo server behind it answers
//! each datagram with the address it came from, and counts them.

use super::*;
use std::time::Duration;

/// How long a test waits for a datagram or a condition.
const WAIT: Duration = Duration::from_secs(5);

/// An echo server: answers every datagram with its source address; counts them.
async fn echo() -> (SocketAddr, Arc<AtomicU64>, JoinHandle<()>) {
    server(true).await
}

/// A server that counts datagrams, and answers each when `answers`.
async fn server(answers: bool) -> (SocketAddr, Arc<AtomicU64>, JoinHandle<()>) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let addr = socket.local_addr().expect("addr");
    let seen = Arc::new(AtomicU64::new(0));
    let count = seen.clone();
    let task = tokio::spawn(async move {
        let mut buf = [0u8; 2_048];
        while let Ok((_, from)) = socket.recv_from(&mut buf).await {
            count.fetch_add(1, Ordering::SeqCst);
            if answers {
                let _ = socket.send_to(from.to_string().as_bytes(), from).await;
            }
        }
    });
    (addr, seen, task)
}

async fn scanner(proxy: &Proxy) -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    s.connect(proxy.addr()).await.expect("connect");
    s
}

/// The next answer: the address the echo server saw.
async fn answer(s: &UdpSocket) -> String {
    let mut buf = [0u8; 128];
    let n = tokio::time::timeout(WAIT, s.recv(&mut buf))
        .await
        .expect("an answer in time")
        .expect("recv");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

async fn until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "not within {WAIT:?}: {what}");
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test]
async fn without_faults_every_datagram_goes_through_both_ways() {
    let (gw, seen, _echo) = echo().await;
    let proxy = Proxy::start(gw, Faults::default(), 1).await.expect("proxy");
    let s = scanner(&proxy).await;
    for _ in 0..20 {
        s.send(b"scan").await.expect("send");
        assert!(answer(&s).await.starts_with("127.0.0.1:"));
    }
    assert_eq!(seen.load(Ordering::SeqCst), 20);
    let st = proxy.stats();
    assert_eq!((st.up, st.down, st.flows, st.lost), (20, 20, 1, 0));
}

#[tokio::test]
async fn a_delay_holds_each_datagram_that_long_each_way() {
    let (gw, _, _echo) = echo().await;
    let faults = Faults {
        delay: Duration::from_millis(30),
        ..Faults::default()
    };
    let proxy = Proxy::start(gw, faults, 1).await.expect("proxy");
    let s = scanner(&proxy).await;
    let sent = Instant::now();
    s.send(b"scan").await.expect("send");
    answer(&s).await;
    assert!(
        sent.elapsed() >= Duration::from_millis(60),
        "{:?}",
        sent.elapsed()
    );
}

#[tokio::test]
async fn duplicates_arrive_twice_and_losses_never() {
    // A silent gateway: every loss and duplicate is on the way up.
    let (gw, seen, _sink) = server(false).await;
    let faults = Faults {
        dup: 0.5,
        loss: 0.2,
        ..Faults::default()
    };
    let proxy = Proxy::start(gw, faults, 3).await.expect("proxy");
    let s = scanner(&proxy).await;
    for _ in 0..200 {
        s.send(b"scan").await.expect("send");
    }
    until("every datagram up decided and sent", || {
        let st = proxy.stats();
        st.up == 200 && seen.load(Ordering::SeqCst) == 200 - st.lost + st.duplicated
    })
    .await;
    let st = proxy.stats();
    assert!(st.lost > 10 && st.duplicated > 10, "{st:?}");
}

#[tokio::test]
async fn a_cut_path_drops_everything_until_it_heals() {
    let (gw, seen, _echo) = echo().await;
    let proxy = Proxy::start(gw, Faults::default(), 1).await.expect("proxy");
    let s = scanner(&proxy).await;
    s.send(b"before").await.expect("send");
    answer(&s).await;
    proxy.cut(true);
    s.send(b"during").await.expect("send");
    until("the datagram dropped", || proxy.stats().partitioned == 1).await;
    assert_eq!(seen.load(Ordering::SeqCst), 1, "nothing passed the cut");
    proxy.cut(false);
    s.send(b"after").await.expect("send");
    answer(&s).await;
    assert_eq!(seen.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_roam_moves_the_scanner_to_a_new_address_the_gateway_sees() {
    let (gw, _, _echo) = echo().await;
    let proxy = Proxy::start(gw, Faults::default(), 1).await.expect("proxy");
    let s = scanner(&proxy).await;
    s.send(b"one").await.expect("send");
    let first = answer(&s).await;
    assert_eq!(proxy.roam().await, 1);
    s.send(b"two").await.expect("send");
    let second = answer(&s).await;
    assert_ne!(first, second, "the gateway saw the same address");
    assert_eq!(proxy.stats().roamed, 1);
    assert_eq!(proxy.stats().flows, 1, "still one scanner address");
}

#[test]
fn an_initial_names_the_scanners_connection_id_and_nothing_else_does() {
    // Long header Initial, version 1, DCID of 4, SCID of 2, then the token length.
    let initial = [0xC3, 0, 0, 0, 1, 4, 1, 2, 3, 4, 2, 8, 9, 0x00, 7, 7];
    assert_eq!(initial_scid(&initial), Some(&[8u8, 9][..]));
    let mut handshake = initial;
    handshake[0] = 0xE3; // a Handshake packet
    assert_eq!(initial_scid(&handshake), None);
    assert_eq!(initial_scid(&[0x40, 1, 2, 3]), None, "a short header");
    assert_eq!(initial_scid(&[0xC3, 0, 0, 0, 1, 20, 1]), None, "cut short");
}

#[test]
fn a_connection_counts_once_however_its_initials_interleave_with_the_next() {
    let mut seen = VecDeque::new();
    let (a, b, c) = (&[1u8, 1][..], &[2u8, 2][..], &[3u8][..]);
    // An abandoned attempt's Initial (its retransmission or its close)
    // after the next attempt's first one: still two connections.
    let counted: Vec<bool> = [a, b, a, b, a, c]
        .into_iter()
        .map(|id| first_sight(&mut seen, id))
        .collect();
    assert_eq!(counted, [true, true, false, false, false, true]);
    // Bounded: past the cap the oldest is forgotten.
    for i in 0..SCIDS_PER_FLOW_MAX as u32 {
        first_sight(&mut seen, &i.to_be_bytes());
    }
    assert_eq!(seen.len(), SCIDS_PER_FLOW_MAX);
    assert!(first_sight(&mut seen, a), "forgotten beyond the cap");
}
