//! `scangate serve`'s flags of the public listener for phones
//! (`--public-listen`, its certificate and its connection cap).

use clap::Args;
use scangate_gateway::config::{HttpLimits, PublicListener, PublicTls};
use std::net::SocketAddr;
use std::path::PathBuf;

/// The public listener's flags.
#[derive(Debug, Args)]
pub struct PublicArgs {
    /// TCP address for phones, e.g. 0.0.0.0:8443: the holder pages, the
    /// guard page and its scan transport only (every other path is 404
    /// there), over https; the operator plane (--http) can then stay on
    /// 127.0.0.1.
    #[arg(long)]
    pub public_listen: Option<SocketAddr>,
    /// The public listener's certificate chain (PEM, leaf first): a venue's
    /// own certificate for the name phones use (default: the gateway's).
    #[arg(long, requires_all = ["public_key", "public_listen"])]
    pub public_cert: Option<PathBuf>,
    /// The private key (PEM) of --public-cert.
    #[arg(long, requires = "public_cert")]
    pub public_key: Option<PathBuf>,
    /// Most connections open at once on the public listener (its own cap;
    /// its timeouts are the HTTP plane's).
    #[arg(long, default_value_t = HttpLimits::default().max_connections,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub public_max_connections: usize,
}

impl PublicArgs {
    /// The public listener these flags ask for, if any: the HTTP plane's
    /// bounds (`http`) with its own connection cap.
    pub fn listener(&self, http: &HttpLimits) -> Option<PublicListener> {
        let addr = self.public_listen?;
        let tls = match (&self.public_cert, &self.public_key) {
            (Some(cert), Some(key)) => PublicTls::Files {
                cert: cert.clone(),
                key: key.clone(),
            },
            _ => PublicTls::Gateway,
        };
        Some(PublicListener {
            addr,
            tls,
            limits: HttpLimits {
                max_connections: self.public_max_connections,
                ..http.clone()
            },
        })
    }
}
