//! The SDK against an in-test QUIC server: pipelining, retries, reconnects.

use crate::support;

use scangate_client::{
    ClientError, ErrorCode, RequestBody, ResponseBody, ScanId, ScanInput, ScanReply, Scanner,
    WireError,
};
use scangate_core::decision::{Decision, Reason};
use std::collections::HashSet;
use support::{denied, granted, scanner_config, setup, start_server};

fn input(scan_id: Option<&str>) -> ScanInput {
    ScanInput {
        token: "AAAABBBBCCCCDDDD".into(),
        gate: "north-1".into(),
        event: Some("fest".into()),
        scan_id: scan_id.map(|s| ScanId::new(s).expect("scan id")),
    }
}

/// Answers every further request (all retries of one scan) with a grant
/// until the scan's task finishes; robust to a slow machine stretching an
/// attempt past its deadline.
async fn answer_until_done(
    server: &mut support::TestServer,
    mut task: tokio::task::JoinHandle<Result<ScanReply, ClientError>>,
) -> Result<ScanReply, ClientError> {
    loop {
        tokio::select! {
            done = &mut task => return done.expect("join"),
            req = server.next() => req.reply_ok().await,
        }
    }
}

#[tokio::test]
async fn ping_and_a_simple_scan() {
    let mut s = setup();
    let scanner = Scanner::connect(s.config.clone()).await.expect("connect");

    let ping = tokio::spawn({
        let scanner = scanner.clone();
        async move { scanner.ping().await }
    });
    let req = s.server.next().await;
    assert_eq!(req.request.body, RequestBody::Ping);
    req.reply_ok().await;
    ping.await.expect("join").expect("pong");

    let scan = tokio::spawn({
        let scanner = scanner.clone();
        async move { scanner.scan(input(None)).await }
    });
    let req = s.server.next().await;
    let scan_id = req.scan_id();
    assert_eq!(scan_id.as_str().len(), 32, "a random scan id was drawn");
    req.reply_ok().await;
    let reply = scan.await.expect("join").expect("reply");
    assert_eq!(reply.scan_id, scan_id);
    assert_eq!(reply.decision, Decision::Granted);
    assert_eq!(s.server.connection_count(), 1);
    scanner.close().await;
}

#[tokio::test]
async fn a_hundred_scans_share_one_connection_and_replies_may_come_back_reversed() {
    const N: usize = 100;
    let mut s = setup();
    let scanner = Scanner::connect(s.config.clone()).await.expect("connect");
    let mut tasks = Vec::new();
    for i in 0..N {
        let scanner = scanner.clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("scan-{i}");
            let reply = scanner.scan(input(Some(&id))).await;
            (id, reply)
        }));
    }
    // Hold every reply until all N are in flight, then answer last-first.
    let mut held = Vec::new();
    for _ in 0..N {
        held.push(s.server.next().await);
    }
    let request_ids: HashSet<u64> = held.iter().map(|r| r.request.id).collect();
    assert_eq!(request_ids.len(), N, "request ids are unique");
    assert!(held.iter().all(|r| r.connection_index == 0));
    for req in held.iter().rev() {
        // Deny odd ones, so a mix-up between replies would show.
        let id = req.scan_id();
        let n: usize = id.as_str()["scan-".len()..].parse().expect("n");
        let body = if n.is_multiple_of(2) {
            granted(id)
        } else {
            denied(id, Reason::UsedUp)
        };
        req.reply(body).await;
    }
    for task in tasks {
        let (id, reply) = task.await.expect("join");
        let reply = reply.expect("reply");
        assert_eq!(reply.scan_id.as_str(), id);
        let n: usize = id["scan-".len()..].parse().expect("n");
        assert_eq!(reply.decision.is_granted(), n.is_multiple_of(2), "{id}");
    }
    assert_eq!(s.server.connection_count(), 1);
}

#[tokio::test]
async fn a_timed_out_attempt_is_retried_with_the_same_scan_id_on_a_new_connection() {
    let mut s = setup();
    s.config.request_timeout_ms = 500;
    let scanner = Scanner::connect(s.config.clone()).await.expect("connect");
    let scan = tokio::spawn({
        let scanner = scanner.clone();
        async move { scanner.scan(input(None)).await }
    });
    let first = s.server.next().await; // dropped: never answered
    let second = s.server.next().await;
    assert_eq!(
        first.scan_id(),
        second.scan_id(),
        "a retry reuses the scan id"
    );
    assert_eq!(
        second.connection_index,
        first.connection_index + 1,
        "a link that missed the answer deadline is dead: the retry reconnects"
    );
    second.reply_ok().await;
    let reply = answer_until_done(&mut s.server, scan).await.expect("reply");
    assert_eq!(reply.scan_id, first.scan_id());
    assert_eq!(s.server.connection_count(), 2);
}

#[tokio::test]
async fn an_unanswered_scan_times_out_after_every_attempt() {
    let mut s = setup();
    s.config.request_timeout_ms = 200;
    s.config.attempts = 3;
    let scanner = Scanner::connect(s.config.clone()).await.expect("connect");
    let scan = tokio::spawn({
        let scanner = scanner.clone();
        async move { scanner.scan(input(Some("lonely"))).await }
    });
    for _ in 0..3 {
        assert_eq!(s.server.next().await.scan_id().as_str(), "lonely");
    }
    match scan.await.expect("join") {
        Err(ClientError::Timeout {
            attempts,
            per_attempt,
        }) => {
            assert_eq!(attempts, 3);
            assert_eq!(per_attempt.as_millis(), 200);
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[tokio::test]
async fn the_scanner_reconnects_after_the_gateway_closes_the_connection() {
    let mut s = setup();
    let scanner = Scanner::connect(s.config.clone()).await.expect("connect");
    let scan = |id: &'static str| {
        let scanner = scanner.clone();
        tokio::spawn(async move { scanner.scan(input(Some(id))).await })
    };
    let first = scan("one");
    let req = s.server.next().await;
    req.reply_ok().await;
    first.await.expect("join").expect("first reply");
    req.close_connection();

    let second = scan("two");
    // The request may first be sent on the dying connection; the answered
    // one must come over a new connection.
    let req = loop {
        let req = s.server.next().await;
        if req.connection_index > 0 {
            break req;
        }
    };
    assert_eq!(req.scan_id().as_str(), "two");
    req.reply_ok().await;
    let reply = second.await.expect("join").expect("second reply");
    assert_eq!(reply.scan_id.as_str(), "two");
    assert_eq!(s.server.connection_count(), 2);
}

#[tokio::test]
async fn unavailable_is_retried_other_errors_are_returned_and_denials_are_replies() {
    let mut s = setup();
    let scanner = Scanner::connect(s.config.clone()).await.expect("connect");
    let spawn_scan = |id: &'static str| {
        let scanner = scanner.clone();
        tokio::spawn(async move { scanner.scan(input(Some(id))).await })
    };
    let error = |code, message: &str| ResponseBody::Error(WireError::new(code, message));

    let retried = spawn_scan("retried");
    let req = s.server.next().await;
    req.reply(error(ErrorCode::Unavailable, "store slow")).await;
    let req = s.server.next().await;
    assert_eq!(req.scan_id().as_str(), "retried");
    req.reply_ok().await;
    assert!(
        retried
            .await
            .expect("join")
            .expect("reply")
            .decision
            .is_granted()
    );

    let refused = spawn_scan("refused");
    let req = s.server.next().await;
    req.reply(error(ErrorCode::InvalidRequest, "gate too long"))
        .await;
    match refused.await.expect("join") {
        Err(ClientError::Rejected(e)) => assert_eq!(e.code, ErrorCode::InvalidRequest),
        other => panic!("expected a rejection, got {other:?}"),
    }

    let busy = spawn_scan("busy");
    let req = s.server.next().await;
    req.reply(denied(req.scan_id(), Reason::Busy)).await;
    let reply = busy.await.expect("join").expect("a denial is a reply");
    assert_eq!(reply.decision, Decision::Denied(Reason::Busy));
    assert!(
        s.server.requests.try_recv().is_err(),
        "busy was not retried"
    );
}

#[tokio::test]
async fn waiting_for_an_in_flight_slot_is_bounded() {
    let mut s = setup();
    s.config.max_in_flight = 1;
    s.config.request_timeout_ms = 300;
    s.config.attempts = 10; // the first scan holds the only slot for ~3 s
    let scanner = Scanner::connect(s.config.clone()).await.expect("connect");
    let holder = tokio::spawn({
        let scanner = scanner.clone();
        async move { scanner.scan(input(Some("holder"))).await }
    });
    let held = s.server.next().await;
    match scanner.scan(input(Some("waiter"))).await {
        Err(ClientError::Saturated { max_in_flight, .. }) => assert_eq!(max_in_flight, 1),
        other => panic!("expected saturation, got {other:?}"),
    }
    // The holder's first attempt timed out meanwhile; answer the later ones.
    drop(held);
    answer_until_done(&mut s.server, holder)
        .await
        .expect("holder reply");
}

#[tokio::test]
async fn a_device_certificate_from_another_ca_gets_nothing_through() {
    let mut s = setup();
    let other_dir = tempfile::tempdir().expect("tempdir");
    let other = scangate_certs::Pki::open(other_dir.path());
    other.init(&[]).expect("init");
    let mut config = scanner_config(&other, "intruder", s.server.addr);
    config.ca_pem = s.pki.ca_pem().expect("ca"); // trusts the gateway, not trusted by it
    config.request_timeout_ms = 300;
    let result = match Scanner::connect(config).await {
        Ok(scanner) => scanner.scan(input(None)).await.map(|_| ()),
        Err(e) => Err(e),
    };
    assert!(result.is_err(), "a foreign device must not get a decision");
    assert!(s.server.requests.try_recv().is_err());
    assert_eq!(s.server.connection_count(), 0);
    let _ = start_server; // keep the helper referenced for other test files
}

#[tokio::test]
async fn a_closed_scanner_refuses_new_scans() {
    let s = setup();
    let scanner = Scanner::connect(s.config.clone()).await.expect("connect");
    scanner.close().await;
    assert!(matches!(
        scanner.scan(input(None)).await,
        Err(ClientError::Closed)
    ));
}

#[tokio::test]
async fn connect_reports_bad_configs_and_unreachable_gateways() {
    let s = setup();
    let mut bad = s.config.clone();
    bad.cert_pem = "garbage".into();
    assert!(matches!(
        Scanner::connect(bad).await,
        Err(ClientError::Config(_))
    ));
    let mut wrong_name = s.config.clone();
    wrong_name.server_name = "elsewhere.example.com".into();
    assert!(matches!(
        Scanner::connect(wrong_name).await,
        Err(ClientError::Connect { .. })
    ));
}
