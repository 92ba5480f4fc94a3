//! `scangate serve`'s flags turned into the gateway's configuration: one
//! assignment per flag (the flag policy read from its file), nothing decided
//! here.

use crate::cli::ServeArgs;
use anyhow::Result;
use scangate_gateway::config::{Rate, ServeConfig};
use std::path::PathBuf;

impl ServeArgs {
    /// The configuration these flags ask for, on the data directory given.
    pub fn into_config(self, data_dir: PathBuf) -> Result<ServeConfig> {
        let args = self;
        let mut config = ServeConfig::new(data_dir);
        config.backend = args.backend()?;
        config.quic_addr = args.quic;
        config.http_addr = args.http;
        config.gateway_names = args.names;
        config.rate.scans_per_s = args.device_rate;
        config.rate.burst = args.device_burst;
        config.registry.max_queued_per_pass = args.max_queued_per_pass;
        config.registry.max_live_actors = args.max_live_actors;
        config.registry.store_timeout_ms = args.store_timeout_ms;
        if let Some(path) = &args.flag_policy {
            config.registry.flag_policy = crate::flags_cmd::read_policy(path)?.into();
        }
        config.quic.max_in_flight_per_connection = args.max_in_flight_per_connection;
        config.quic.udp_receive_buffer_bytes = args.udp_receive_buffer;
        config.http.max_connections = args.http_max_connections;
        config.http.header_read_timeout_ms = args.http_header_timeout_ms;
        config.http.idle_timeout_ms = args.http_idle_timeout_ms;
        config.http_tls = args.http_tls;
        config.http.admin_rate = Rate {
            per_s: args.admin_rate,
            burst: args.admin_burst,
        };
        config.http.holder_rate = Rate {
            per_s: args.holder_rate,
            burst: args.holder_burst,
        };
        config.quic.max_connections = args.max_connections;
        config.quic.max_handshakes = args.max_handshakes;
        config.quic.max_handshakes_per_source = args.max_handshakes_per_source;
        config.retention_s = args.retention_s;
        config.public = args.public.listener(&config.http);
        Ok(config)
    }
}
