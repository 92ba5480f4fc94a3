//! A scanner killed with SIGKILL right after a push keeps the entry: a
//! child process re-runs this test binary, pushes, says so, and is killed.
//! Alone in its binary: the queue's lock is an `flock` on an open file, and
//! a child forked while a test in the same process opens a queue would hold
//! that lock until it execs.

use crate::support;

use scangate_client::Pushed;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::queue::{ids, open, scan};

/// Set in the child process: the queue directory and the scan id to push.
const CHILD_DIR: &str = "SCANGATE_QUEUE_CHILD_DIR";
const CHILD_SCAN_ID: &str = "SCANGATE_QUEUE_CHILD_SCAN_ID";
/// The line the child prints once `push` has returned.
const PUSHED: &str = "queue-child: pushed";
/// Longest the parent waits for the child's line.
const CHILD_WAIT: Duration = Duration::from_secs(30);

/// Kills the child however the test ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_scanner_killed_right_after_a_push_keeps_the_entry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("test binary");
    let mut child = KillOnDrop(
        Command::new(exe)
            .args([
                "--exact",
                "queue_crash::queue_child",
                "--ignored",
                "--nocapture",
            ])
            .args(["--test-threads", "1"])
            .env(CHILD_DIR, dir.path())
            .env(CHILD_SCAN_ID, "killed-1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the child"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            // libtest may have written "test queue_crash::queue_child ... " on the same line.
            if line.ends_with(PUSHED) {
                let _ = tx.send(());
                return;
            }
        }
    });
    rx.recv_timeout(CHILD_WAIT)
        .expect("the child pushed within the deadline");
    child.0.kill().expect("SIGKILL");
    child.0.wait().expect("reap");
    // The lock died with the child; the entry is there, once.
    let q = open(dir.path());
    assert_eq!(ids(&q), ["killed-1"]);
}

/// The child of the test above; does nothing unless started by it.
#[test]
#[ignore = "started as a child process by a_scanner_killed_right_after_a_push_keeps_the_entry"]
fn queue_child() {
    let (Some(dir), Some(scan_id)) = (
        std::env::var_os(CHILD_DIR),
        std::env::var(CHILD_SCAN_ID).ok(),
    ) else {
        return;
    };
    let mut q = open(Path::new(&dir));
    assert_eq!(q.push(scan(&scan_id)).expect("push"), Pushed::Queued);
    println!("{PUSHED}");
    // Wait to be killed: no exit, no destructor, as in a crash.
    loop {
        std::thread::park();
    }
}
