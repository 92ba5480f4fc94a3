//! A UDP relay between one scanner and the gateway that can lose every
//! datagram the gateway sends back: the gateway reads, decides and records
//! each scan, and the scanner never hears the answer. A reply lost on the
//! way, made on purpose and without timing (a frozen gateway instead reads
//! the scan only after its thaw, on a connection its scanner gave up, and
//! within whatever time the host leaves it).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// Largest datagram relayed: UDP's own bound.
const DATAGRAM_MAX: usize = 65_535;

/// A running relay; dropping it stops it.
pub struct Relay {
    /// Where the scanner sends (in place of the gateway's QUIC address).
    pub addr: SocketAddr,
    lose_replies: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl Relay {
    /// Relays between the scanner that last sent to [`Relay::addr`] and
    /// `gateway`, both ways, until told to lose replies.
    pub async fn start(gateway: SocketAddr) -> Relay {
        let outer = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let inner = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        inner.connect(gateway).await.expect("connect");
        let addr = outer.local_addr().expect("local addr");
        let lose_replies = Arc::new(AtomicBool::new(false));
        let lose = Arc::clone(&lose_replies);
        let task = tokio::spawn(async move {
            let (mut up, mut down) = (vec![0; DATAGRAM_MAX], vec![0; DATAGRAM_MAX]);
            let mut scanner = None;
            loop {
                tokio::select! {
                    got = outer.recv_from(&mut up) => if let Ok((n, from)) = got {
                        scanner = Some(from);
                        let _ = inner.send(&up[..n]).await;
                    },
                    got = inner.recv(&mut down) => if let (Ok(n), Some(to)) = (got, scanner)
                        && !lose.load(Ordering::SeqCst)
                    {
                        let _ = outer.send_to(&down[..n], to).await;
                    },
                }
            }
        });
        Relay {
            addr,
            lose_replies,
            task,
        }
    }

    /// From now on, drops (`true`) or passes on (`false`) every datagram
    /// the gateway sends.
    pub fn lose_replies(&self, lose: bool) {
        self.lose_replies.store(lose, Ordering::SeqCst);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}
