//! The SDK asks its gateway to acknowledge at most every tenth request
//! packet (QUIC ACK frequency): a pipelining scanner's requests are then
//! acknowledged in the packets of their replies, not every second one by an
//! ACK-only datagram of its own.

mod support;

use scangate_client::Scanner;
use support::{ANY_TOKEN, input, setup};

/// Requests sent one packet each, none answered, after the first: QUIC's
/// default (an ACK for every second ack-eliciting packet) has the server
/// send one ACK per two of them, `REQUESTS / 2`.
const REQUESTS: u64 = 60;

#[tokio::test]
async fn the_gateway_is_asked_to_acknowledge_every_tenth_request_packet() {
    let mut s = setup();
    let scanner = Scanner::connect(s.config.clone()).await.expect("connect");
    let scan = |i: u64| {
        let scanner = scanner.clone();
        tokio::spawn(async move { scanner.scan(input(ANY_TOKEN, &format!("ack-{i}"))).await })
    };
    let mut tasks = vec![scan(0)];
    let first = s.server.next().await;
    let conn = first.connection().clone();
    let before = conn.stats();
    assert_eq!(
        before.frame_rx.ack_frequency, 1,
        "the scanner sent its ACK_FREQUENCY frame with its first request"
    );
    let mut read = vec![first];
    for i in 1..=REQUESTS {
        // The next scan is sent only once this one was read: a packet each.
        tasks.push(scan(i));
        read.push(s.server.next().await);
    }
    let after = conn.stats();
    let packets = after.udp_rx.datagrams - before.udp_rx.datagrams;
    assert!(
        packets >= REQUESTS,
        "{packets} datagrams carried {REQUESTS} requests read one by one"
    );
    // Every tenth packet, and once per 25 ms of delay: well under one per
    // two packets however slowly this machine ran the loop.
    let acks = after.frame_tx.acks - before.frame_tx.acks;
    assert!(
        acks < REQUESTS / 3,
        "the server acknowledged {REQUESTS} unanswered request packets with {acks} ACKs"
    );
    for req in &read {
        req.reply_ok().await;
    }
    for task in tasks {
        task.await.expect("join").expect("every scan is answered");
    }
    scanner.close().await;
}
