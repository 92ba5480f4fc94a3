//! The SDK's reconnect against a gateway slow to finish handshakes: one
//! reconnect per scanner, not cut short by the deadline of whichever scan
//! waits for it (issue 28).

use crate::support;

use scangate_certs::Pki;
use scangate_client::{ClientError, ScanReply, Scanner};
use std::sync::atomic::Ordering;
use std::time::Duration;
use support::{input, scanner_config, start_slow_server};

/// How long the test gateway leaves each connection attempt unanswered:
/// longer than one scan attempt, shorter than the SDK's shortest
/// handshake try (250 ms).
const ACCEPT_DELAY: Duration = Duration::from_millis(150);
/// Each scan attempt's deadline: every waiting scan gives up on an attempt
/// before a handshake can finish.
const ATTEMPT_MS: u64 = 100;
/// Scans waiting for the reconnect at once.
const WAITING: usize = 16;
/// Most connection attempts the gateway may see: the first connection and
/// a few reconnect tries (one handshake at a time). Before the fix each
/// scan's attempt began a handshake of its own and dropped it at its
/// deadline, so none finished and there were dozens.
const ATTEMPTS_MAX: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_waiting_on_a_slow_handshake_are_all_answered_from_one_reconnect() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::open(&dir.path().join("pki"));
    pki.init(&[]).expect("pki init");
    let mut server = start_slow_server(&pki, ACCEPT_DELAY);
    let mut config = scanner_config(&pki, "slow-gateway", server.addr);
    config.request_timeout_ms = ATTEMPT_MS;
    config.attempts = 10;
    config.max_in_flight = 32;
    let scanner = Scanner::connect(config).await.expect("connect");
    let attempts = std::sync::Arc::clone(&server.attempts);
    assert_eq!(attempts.load(Ordering::SeqCst), 1);

    // The gateway drops the link under the first scan.
    let first = tokio::spawn({
        let scanner = scanner.clone();
        async move { scanner.scan(input("T", "first")).await }
    });
    server.next().await.close_connection();

    // Many scans now need a link; the gateway answers whatever reaches it.
    let mut scans = vec![first];
    for n in 0..WAITING {
        let scanner = scanner.clone();
        let id = format!("waiting-{n}");
        scans.push(tokio::spawn(
            async move { scanner.scan(input("T", &id)).await },
        ));
    }
    let answering = tokio::spawn(async move {
        while let Some(req) = server.requests.recv().await {
            req.reply_ok().await;
        }
    });
    let mut answered = 0;
    for scan in scans {
        let result: Result<ScanReply, ClientError> = scan.await.expect("join");
        match result {
            Ok(_) => answered += 1,
            Err(e) => panic!("a scan was not answered: {e}"),
        }
    }
    assert_eq!(answered, WAITING + 1);
    answering.abort();
    let seen = attempts.load(Ordering::SeqCst);
    assert!(
        (2..=ATTEMPTS_MAX).contains(&seen),
        "{seen} connection attempts for one reconnect"
    );
}
