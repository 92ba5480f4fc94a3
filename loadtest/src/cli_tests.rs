//! The command line's validation: every bad argument one sentence.

use super::*;

fn args(extra: &[&str]) -> Args {
    let mut v = vec!["scangate-load"];
    v.extend(extra);
    Args::try_parse_from(v).expect("parses")
}

#[test]
fn defaults_are_the_stadium() {
    let p = args(&[]).plan().expect("plan");
    assert_eq!(p.window, Duration::from_secs(600));
    assert_eq!(p.total, 50_000); // 40,000 first scans at an 80 % share
    assert_eq!((p.devices, p.gates, p.device.depth), (16, 8, 32));
    assert!(p.outage.is_none());
}

#[test]
fn a_crash_loop_is_a_constant_rate_over_its_cycles_on_a_spawned_gateway() {
    let p = args(&["--spawn", "--crash-loop", "20", "--rate", "50"])
        .plan()
        .expect("plan");
    assert_eq!(p.crash_cycles, Some(20));
    assert_eq!(p.shape, Shape::Constant);
    assert_eq!(p.window, Duration::from_secs(3_600));
    assert_eq!(p.total, 180_000);
    for (bad, says) in [
        (vec!["--crash-loop", "2"], "--spawn"),
        (vec!["--spawn", "--crash-loop", "0"], "--crash-loop"),
        (
            vec!["--spawn", "--crash-loop", "2", "--outage", "1:1"],
            "combined",
        ),
    ] {
        let e = args(&bad).plan().expect_err("refused").to_string();
        assert!(e.contains(says), "{bad:?}: {e}");
    }
}

#[test]
fn an_outage_needs_spawn_a_time_in_the_window_and_no_retries() {
    let base = ["--profile", "constant", "--duration", "10"];
    let plan = |extra: &[&str]| {
        let mut v = base.to_vec();
        v.extend(extra);
        args(&v).plan()
    };
    let p = plan(&["--spawn", "--outage", "2:3", "--outage-kind", "pause"]).expect("plan");
    let o = p.outage.expect("outage");
    assert_eq!(
        (o.at, o.length),
        (Duration::from_secs(2), Duration::from_secs(3))
    );
    assert_eq!(o.kind, OutageKind::Pause);
    assert_eq!(
        p.mix.share(ScanKind::Retry),
        0.0,
        "the outage mix has no retries"
    );
    for (bad, says) in [
        (vec!["--outage", "2:3"], "--spawn"),
        (vec!["--spawn", "--outage", "10:3"], "after the schedule"),
        (vec!["--spawn", "--outage", "2"], "AT_S:FOR_S"),
        (vec!["--spawn", "--outage", "2:39"], "over 30 s after"),
        (
            vec!["--spawn", "--outage", "2:3", "--mix", "first=9,retry=1"],
            "retry=0",
        ),
    ] {
        let e = plan(&bad).expect_err("refused").to_string();
        assert!(e.contains(says) && !e.contains('\n'), "{bad:?}: {e}");
    }
}

#[test]
fn constant_rate_times_duration() {
    let p = args(&["--profile", "constant", "--rate", "500", "--duration", "2"])
        .plan()
        .expect("plan");
    assert_eq!(p.total, 1_000);
    assert_eq!(p.shape, Shape::Constant);
}

#[test]
fn bad_arguments_get_one_sentence() {
    for bad in [
        vec!["--profile", "constant", "--rate", "0"],
        vec!["--profile", "constant", "--duration", "99999"],
        vec!["--devices", "0"],
        vec!["--depth", "100000"],
        vec!["--mix", "first=0,forged=1"],
        vec!["--burst-ms", "20000"],
        vec!["--attempts", "0"],
        vec![
            "--profile",
            "constant",
            "--rate",
            "2000000",
            "--duration",
            "3600",
        ],
    ] {
        let e = args(&bad).plan().expect_err("refused").to_string();
        assert!(!e.contains('\n') && e.len() < 200, "{bad:?}: {e}");
    }
}

#[test]
fn a_floor_run_has_its_own_event_mix_and_bounds() {
    let base = ["--profile", "constant", "--duration", "2", "--floor"];
    let plan = |extra: &[&str]| {
        let mut v = base.to_vec();
        v.extend(extra);
        args(&v).plan()
    };
    let p = plan(&["--floor-capacity", "auto"]).expect("plan");
    assert_eq!(p.floor, Some(FloorCapacity::Auto));
    assert_eq!(p.event, FLOOR_EVENT_DEFAULT);
    assert_eq!(Ok(p.mix), MIX_FLOOR_DEFAULT.parse::<Mix>());
    assert_eq!(plan(&["--event", "gala"]).expect("plan").event, "gala");
    for (bad, says) in [
        (vec!["--gates", "5", "--devices", "5"], "at least 6 gates"),
        (vec!["--gates", "8", "--devices", "6"], "a device at each"),
        (vec!["--mix", "entry=5,first=1"], "first=0"),
        (vec!["--mix", "exit=5"], "entry"),
        (vec!["--passes", "passes.jsonl"], "--passes"),
    ] {
        let e = plan(&bad).expect_err("refused").to_string();
        assert!(e.contains(says) && !e.contains('\n'), "{bad:?}: {e}");
    }
    let e = args(&["--mix", "first=5,entry=1"])
        .plan()
        .expect_err("no floor");
    assert!(e.to_string().contains("entry needs --floor"), "{e}");
    assert_eq!(args(&[]).plan().expect("plan").floor, None);
}
