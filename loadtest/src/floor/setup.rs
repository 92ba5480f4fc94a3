//! Sets up a floor run: whether its zones get capacities (`--floor-capacity`,
//! `auto` probing the gateway), the event's definition (`PUT
//! /v1/events/{event}`), the zoned passes, and the zones' occupancy before
//! the run (other passes of the event may be inside).

use super::observe::{self, Occupancy};
use super::{CLASSES, FloorLayout, FloorPass, class_of};
use crate::LoadError;
use crate::admin::Admin;
use crate::devices::{self, DeviceSettings};
use crate::history::FloorHistory;
use crate::report::FloorReport;
use crate::setup::{self, Pools};
use scangate_client::ScanInput;
use scangate_core::Decision;
use scangate_core::event::EventDefinition;
use serde::Serialize;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

/// The event the capacity probe defines (one gate into one zone of
/// capacity 0) and issues one pass of; set again by every probe.
pub const PROBE_EVENT: &str = "scangate-load-capacity-probe";
/// The wire word of a capacity denial, matched as text: the tool builds
/// against gateways with and without it.
pub const ZONE_FULL: &str = "zone_full";

/// Whether a floor run's zones get capacities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FloorCapacity {
    /// Capacities (shares of the passes); the checker judges them.
    On,
    /// No capacities: zones only count.
    Off,
    /// Probe the gateway first: capacities when it answers `zone_full`.
    Auto,
}

/// What a floor run's set-up did.
#[derive(Debug, Clone)]
pub struct FloorSetup {
    /// The layout, as set.
    pub layout: Arc<FloorLayout>,
    /// The event.
    pub event: String,
    /// The probe's answer: the gateway denied an entry `zone_full`
    /// (`None`: not probed).
    pub capacity_enforced: Option<bool>,
    /// Occupancy before the run (`None`: the gateway has no occupancy route).
    pub baseline: Option<Occupancy>,
    /// What could only be done in part, and why.
    pub notes: Vec<String>,
}

impl FloorSetup {
    /// What the checker must know of the floor.
    pub fn history(&self) -> FloorHistory {
        FloorHistory {
            layout: self.layout.clone(),
            event: self.event.clone(),
        }
    }

    /// The report's floor section, for `passes` floor passes.
    pub fn report(self, passes: usize) -> FloorReport {
        FloorReport {
            event: self.event,
            capacity_enforced: self.capacity_enforced,
            passes,
        }
    }
}

/// Where the floor's set-up reaches the gateway.
pub struct FloorTarget<'a> {
    /// The admin API.
    pub admin: &'a Admin,
    /// The gateway's data dir (device certificates, for the probe).
    pub data_dir: &'a Path,
    /// Its QUIC address.
    pub quic: SocketAddr,
    /// How the probe's device connects.
    pub device: &'a DeviceSettings,
}

/// What the floor run asks for.
#[derive(Debug, Clone)]
pub struct FloorPlan {
    /// The event.
    pub event: String,
    /// Scans the run sends.
    pub total: u64,
    /// Gates.
    pub gates: u32,
    /// Whether zones get capacities.
    pub capacity: FloorCapacity,
    /// `max_uses` of the passes.
    pub uses_per_pass: u32,
}

/// Sets the floor up: the probe (with `auto`), the definition, the passes
/// (one issue request per class), the occupancy before the run.
pub async fn prepare(
    t: &FloorTarget<'_>,
    plan: &FloorPlan,
) -> Result<(Pools, FloorSetup), LoadError> {
    let mut notes = Vec::new();
    let (capacity, capacity_enforced) = match plan.capacity {
        FloorCapacity::On => (true, None),
        FloorCapacity::Off => (false, None),
        FloorCapacity::Auto => {
            let enforced = probe(t).await?;
            if !enforced {
                notes.push(format!(
                    "the gateway granted an entry into a zone of capacity 0 (no {ZONE_FULL}): this run's zones have no capacity"
                ));
            }
            (enforced, Some(enforced))
        }
    };
    let n = super::passes_for(plan.total);
    let layout =
        FloorLayout::new(plan.gates, n, capacity).map_err(|e| LoadError::Invalid(e.to_string()))?;
    t.admin.put_event(&plan.event, &layout.definition).await?;
    let mut pools = Pools::default();
    for (class, zones) in CLASSES.iter().enumerate() {
        let count = (0..n as usize)
            .filter(|k| usize::from(class_of(*k)) == class)
            .count();
        let mut spec = serde_json::json!({"event": plan.event, "max_uses": plan.uses_per_pass});
        if !zones.is_empty() {
            spec["zones"] = serde_json::json!(zones);
        }
        let issued = setup::issue(t.admin, &spec, count as u64).await?;
        for entry in issued {
            let pass = u32::try_from(pools.passes.len()).unwrap_or(u32::MAX);
            pools.passes.push(entry);
            pools.floor.push(FloorPass {
                pass,
                class: u8::try_from(class).unwrap_or(0),
            });
        }
    }
    let baseline = observe::occupancy(t.admin, &plan.event, &mut notes).await?;
    let setup = FloorSetup {
        layout: Arc::new(layout),
        event: plan.event.clone(),
        capacity_enforced,
        baseline,
        notes,
    };
    Ok((pools, setup))
}

/// Whether the gateway enforces zone capacity: [`PROBE_EVENT`] gets one
/// gate into a zone of capacity 0, one pass is issued and scanned in
/// there from the run's first device. `zone_full`: enforced; granted: not;
/// any other answer fails the run (the probe cannot tell).
pub async fn probe(t: &FloorTarget<'_>) -> Result<bool, LoadError> {
    let definition: EventDefinition = serde_json::from_value(serde_json::json!({
        "gates": [{"name": "probe", "zone": "probe", "direction": "in"}],
        "zones": [{"name": "probe", "capacity": 0}],
    }))
    .map_err(|e| LoadError::Invalid(format!("the probe's definition does not parse: {e}")))?;
    t.admin.put_event(PROBE_EVENT, &definition).await?;
    let spec = serde_json::json!({"event": PROBE_EVENT, "max_uses": 1});
    let pass = setup::issue(t.admin, &spec, 1).await?;
    let token = pass
        .first()
        .map(|p| p.token.clone())
        .ok_or_else(|| LoadError::Admin("the probe's pass was not issued".into()))?;
    let device = devices::connect_all(t.data_dir, t.quic, 1, 1, t.device).await?;
    let Some(device) = device.first() else {
        return Err(LoadError::Invalid("the probe has no device".into()));
    };
    let input = ScanInput {
        token,
        gate: "probe".into(),
        event: None,
        scan_id: None,
    };
    let answer = device.scanner.scan(input).await;
    devices::close_all(std::slice::from_ref(device)).await;
    let reply = answer.map_err(|e| LoadError::Device {
        device: device.name.clone(),
        reason: format!("the capacity probe's scan failed: {e}"),
    })?;
    match reply.decision {
        Decision::Granted => Ok(false),
        Decision::Denied(r) if r.as_str() == ZONE_FULL => Ok(true),
        Decision::Denied(r) => Err(LoadError::Invalid(format!(
            "the capacity probe's entry was denied {r}, neither granted nor {ZONE_FULL}"
        ))),
    }
}
