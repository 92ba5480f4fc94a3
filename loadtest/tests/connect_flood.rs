//! The QUIC connection-attempt flood end to end (issue 28): real
//! handshakes against the real `scangate` binary, half with a device
//! certificate of its CA, half with another CA's. None of the foreign ones
//! may complete, and valid ones must, so it cannot pass by refusing all.

use crate::common;

use std::process::Command;

#[test]
fn a_connection_flood_completes_valid_handshakes_and_refuses_every_foreign_one() {
    let out = Command::new(env!("CARGO_BIN_EXE_scangate-load"))
        .args(["--spawn", "--connect-flood", "40", "--json"])
        .env("SCANGATE_LOG", "warn")
        .env("SCANGATE_BIN", common::scangate_bin())
        .output()
        .expect("run scangate-load");
    let f = common::json_report(&out);
    let n = |k: &str| f[k].as_u64().unwrap_or(u64::MAX);
    assert_eq!((n("attempts"), n("valid")), (40, 20), "{f:#}");
    assert_eq!(n("foreign_completed"), 0, "{f:#}");
    assert!(n("completed") >= 1, "{f:#}");
    // Each foreign attempt was refused or dropped.
    assert!(n("refused") + n("timed_out") >= 20, "{f:#}");
    assert_eq!(n("completed") + n("refused") + n("timed_out"), 40, "{f:#}");
}
