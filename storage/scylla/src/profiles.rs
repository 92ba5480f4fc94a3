//! The execution profile of each statement class: consistency, serial
//! consistency, deadline, retry policy, no speculative execution, and
//! token-aware routing. Every request the backend sends runs under one.

use super::config::{ScyllaConfig, SerialChoice, WriteConsistency};
use super::statements::Class;
use scylla::client::execution_profile::{ExecutionProfile, ExecutionProfileHandle};
use scylla::policies::load_balancing::DefaultPolicy;
use scylla::policies::retry::{DefaultRetryPolicy, FallthroughRetryPolicy};
use scylla::statement::{Consistency, SerialConsistency};
use std::sync::Arc;
use std::time::Duration;

/// The driver's consistency for the configured write consistency.
pub fn consistency(config: &ScyllaConfig) -> Consistency {
    match config.consistency {
        WriteConsistency::LocalQuorum => Consistency::LocalQuorum,
        WriteConsistency::Quorum => Consistency::Quorum,
    }
}

/// The driver's serial consistency for the configured one.
pub fn serial_consistency(config: &ScyllaConfig) -> SerialConsistency {
    match config.serial_consistency {
        SerialChoice::LocalSerial => SerialConsistency::LocalSerial,
        SerialChoice::Serial => SerialConsistency::Serial,
    }
}

/// The execution profile of a class: explicit consistency, serial
/// consistency, deadline, retry policy, no speculative execution, and
/// token-aware routing (preferring the local datacenter when one is named).
pub fn profile(class: Class, config: &ScyllaConfig) -> ExecutionProfile {
    let mut routing = DefaultPolicy::builder()
        .token_aware(true)
        .permit_dc_failover(false);
    if let Some(dc) = &config.local_datacenter {
        routing = routing.prefer_datacenter(dc.clone());
    }
    let serial = serial_consistency(config);
    let (consistency, timeout_ms) = match class {
        Class::Lwt => (consistency(config), config.lwt_timeout_ms),
        Class::SerialRead => (
            match serial {
                SerialConsistency::Serial => Consistency::Serial,
                SerialConsistency::LocalSerial => Consistency::LocalSerial,
            },
            config.serial_read_timeout_ms,
        ),
        Class::Read => (consistency(config), config.read_timeout_ms),
        Class::Write => (consistency(config), config.write_timeout_ms),
        Class::Query => (consistency(config), config.query_timeout_ms),
    };
    let builder = ExecutionProfile::builder()
        .consistency(consistency)
        .serial_consistency(Some(serial))
        .request_timeout(Some(Duration::from_millis(timeout_ms)))
        .load_balancing_policy(routing.build())
        .speculative_execution_policy(None);
    if class.idempotent() {
        builder.retry_policy(Arc::new(DefaultRetryPolicy::new()))
    } else {
        builder.retry_policy(Arc::new(FallthroughRetryPolicy::new()))
    }
    .build()
}

/// One profile handle per class.
pub struct Profiles {
    handles: Vec<(Class, ExecutionProfileHandle)>,
}

impl Profiles {
    /// One profile per class, built from `config`.
    pub fn new(config: &ScyllaConfig) -> Profiles {
        let handles = Class::ALL
            .iter()
            .map(|&c| (c, profile(c, config).into_handle()))
            .collect();
        Profiles { handles }
    }

    /// The handle of `class`'s profile.
    pub fn get(&self, class: Class) -> Option<ExecutionProfileHandle> {
        self.handles
            .iter()
            .find(|(c, _)| *c == class)
            .map(|(_, h)| h.clone())
    }
}
