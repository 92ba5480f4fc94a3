//! What zone capacity adds to a scan (issue 29): the rules' decision for
//! an entry into the festival's grounds (what every scan of a defined
//! event costs already), and on top of it the place an entry into a zone
//! with a capacity takes (`needs_place`, the event's lock, hold, then
//! release and apply as its commit settles) and an exit's apply.
//!
//! `cargo bench -p scangate-core --bench zones`.

use criterion::{Criterion, criterion_group, criterion_main};
use scangate_core::event::{EventDefinition, ZoneCounts, occupancy};
use scangate_core::rules::{self, ScanContext};
use scangate_core::{Pass, PassId};
use std::hint::black_box;
use std::sync::Mutex;
use std::time::Duration;

const FESTIVAL: &str = r#"
{"gates": [{"name": "main-in", "zone": "grounds", "direction": "in"},
           {"name": "main-out", "zone": "grounds", "direction": "out"},
           {"name": "stage", "zone": "stage", "direction": "both"},
           {"name": "crew", "zone": "backstage", "direction": "both"}],
 "zones": [{"name": "grounds", "capacity": 20000},
           {"name": "stage", "parent": "grounds", "capacity": 5000},
           {"name": "backstage", "parent": "stage"}],
 "policy": {"reentry": true, "anti_passback": "strict"}}"#;

fn pass() -> Pass {
    let mut p = scangate_core::testing::pass(PassId([7; 16]), Some(1));
    p.event = "festival".into();
    p
}

fn bench(c: &mut Criterion) {
    let def: EventDefinition = serde_json::from_str(FESTIVAL).expect("festival");
    let p = pass();
    let ctx = |gate| ScanContext {
        event: None,
        gate,
        token_not_after_ms: None,
        token_generation: Some(0),
        definition: Some(&def),
        direction: None,
    };
    let entry = rules::decide(&p, &ctx("main-in"), 0)
        .change
        .movement()
        .expect("an entry");
    let counts = Mutex::new(ZoneCounts::default());
    for _ in 0..15_000 {
        counts.lock().expect("lock").apply(&entry);
    }
    let mut inside = p.clone();
    inside.uses = 1;
    inside.presence = entry.after;
    let exit = rules::decide(&inside, &ctx("main-out"), 0)
        .change
        .movement()
        .expect("an exit");

    let mut g = c.benchmark_group("zones");
    g.measurement_time(Duration::from_secs(3));
    g.bench_function("decide an entry (every defined scan)", |b| {
        b.iter(|| black_box(rules::decide(black_box(&p), &ctx("main-in"), 0)))
    });
    g.bench_function("place for an entry: hold, then release + apply", |b| {
        b.iter(|| {
            assert!(occupancy::needs_place(&def, &entry));
            let place = counts.lock().expect("lock").hold(&def, &entry);
            let place = place.expect("room").expect("a place");
            let mut c = counts.lock().expect("lock");
            c.release(&place);
            c.apply(&entry);
            c.apply(&exit);
        })
    });
    g.bench_function("an exit's apply", |b| {
        b.iter(|| {
            let mut c = counts.lock().expect("lock");
            c.apply(&exit);
            c.apply(&entry);
        })
    });
    g.finish();
}

// The macro's generated function has no doc comment of its own.
#[allow(missing_docs)]
mod group {
    use super::*;
    criterion_group!(zones, bench);
}
criterion_main!(group::zones);
