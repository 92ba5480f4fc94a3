//! What the load tool's tests share: the `scangate` binary `--spawn` starts.
//! The load tool does not link the gateway, so cargo does not build it for
//! these tests: it is built here, once, by the same cargo and profile, into
//! the same target directory (a no-op when up to date).

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The `scangate` binary next to `scangate-load`, freshly built.
pub fn scangate_bin() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let load = PathBuf::from(env!("CARGO_BIN_EXE_scangate-load"));
            let dir = load.parent().expect("the binaries' directory");
            let mut build = Command::new(env!("CARGO"));
            build.args(["build", "--quiet", "-p", "scangate", "--bin", "scangate"]);
            if dir.file_name().is_some_and(|n| n == "release") {
                build.arg("--release");
            }
            let status = build.status().expect("run cargo build");
            assert!(status.success(), "cargo build -p scangate failed: {status}");
            let bin = dir.join("scangate");
            assert!(bin.exists(), "{} was not built", bin.display());
            bin
        })
        .clone()
}

/// The report of a run that must have succeeded: its last line of stdout,
/// one JSON object (`--json`); fails the test with both streams otherwise.
pub fn json_report(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    let last = stdout.lines().last().expect("a JSON line");
    serde_json::from_str(last).expect("the last line is one JSON object")
}
