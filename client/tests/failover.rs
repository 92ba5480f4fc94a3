//! Several gateway addresses: the scanner skips a dead one when it first
//! connects, moves on round robin when its link dies, and says how many
//! addresses it tried when none answers. Real QUIC on loopback; a dead
//! gateway is a bound UDP socket that never answers.

use crate::support;

use scangate_client::{ClientError, Scanner};
use std::net::{SocketAddr, UdpSocket};
use support::{ANY_TOKEN, input, scanner_config, setup, start_server};

/// A UDP port that takes packets and never answers (kept bound by the caller).
fn dead_gateway() -> (UdpSocket, SocketAddr) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = socket.local_addr().expect("addr");
    (socket, addr)
}

#[tokio::test]
async fn the_first_connection_skips_a_dead_address() {
    let mut s = setup();
    let (_dead, dead_addr) = dead_gateway();
    let mut config =
        scanner_config(&s.pki, "failover-1", dead_addr).with_other_addrs([s.server.addr]);
    config.connect_timeout_ms = 300;
    let scanner = Scanner::connect(config)
        .await
        .expect("connect to the second");
    let scan = tokio::spawn({
        let scanner = scanner.clone();
        async move { scanner.scan(input(ANY_TOKEN, "first")).await }
    });
    let req = s.server.next().await;
    assert_eq!(req.scan_id().as_str(), "first");
    req.reply_ok().await;
    let reply = scan.await.expect("join").expect("reply");
    assert!(reply.decision.is_granted());
    assert_eq!(s.server.connection_count(), 1);
    assert!(format!("{scanner:?}").contains(&s.server.addr.to_string()));
}

#[tokio::test]
async fn a_dead_link_fails_over_round_robin_past_a_dead_address() {
    let mut s = setup();
    let mut third = start_server(&s.pki);
    let (_dead, dead_addr) = dead_gateway();
    let mut config = s.config.clone().with_other_addrs([dead_addr, third.addr]);
    config.connect_timeout_ms = 300;
    let scanner = Scanner::connect(config)
        .await
        .expect("connect to the first");
    let spawn_scan = |id: &'static str| {
        let scanner = scanner.clone();
        tokio::spawn(async move { scanner.scan(input(ANY_TOKEN, id)).await })
    };
    let one = spawn_scan("one");
    let req = s.server.next().await;
    req.reply_ok().await;
    one.await.expect("join").expect("first reply");
    req.close_connection();

    // The first gateway's link is dead: the scan goes to the address after
    // it (dead, one handshake try), then to the third.
    let two = spawn_scan("two");
    let req = third.next().await;
    assert_eq!(req.scan_id().as_str(), "two");
    req.reply_ok().await;
    let reply = two.await.expect("join").expect("second reply");
    assert_eq!(reply.scan_id.as_str(), "two");
    assert_eq!(third.connection_count(), 1);
    assert_eq!(
        s.server.connection_count(),
        1,
        "the first gateway got no new connection"
    );
}

#[tokio::test]
async fn when_every_address_fails_the_error_says_how_many_were_tried() {
    let s = setup();
    let (_dead_a, a) = dead_gateway();
    let (_dead_b, b) = dead_gateway();
    let mut config = scanner_config(&s.pki, "failover-3", a).with_other_addrs([b]);
    config.connect_timeout_ms = 200;
    match Scanner::connect(config).await {
        Err(e @ ClientError::AllGatewaysFailed { .. }) => {
            let text = e.to_string();
            let ClientError::AllGatewaysFailed { tried, last } = e else {
                unreachable!()
            };
            assert_eq!(tried, 2);
            assert!(
                matches!(*last, ClientError::Connect { addr, .. } if addr == b),
                "{last:?}"
            );
            assert!(text.contains("none of the 2 gateway"), "{text}");
        }
        other => panic!("expected every gateway to fail, got {other:?}"),
    }
    // One address alone keeps today's error.
    let mut single = scanner_config(&s.pki, "failover-4", a);
    single.connect_timeout_ms = 200;
    assert!(matches!(
        Scanner::connect(single).await,
        Err(ClientError::Connect { addr, .. }) if addr == a
    ));
}
