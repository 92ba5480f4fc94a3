//! A stalled disk, made real for one part of a running gateway: the
//! threads that write the store (its writer and its folder; a segment
//! preparer when one runs) are frozen in place with ptrace, where they
//! stand (in a write, an `fdatasync`, or between two), while every other
//! thread of the process runs on, as when a disk stops answering writes.
//! The gateway is the test's child, which is what an unprivileged ptrace
//! needs.

use nix::sys::ptrace;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The name every thread of the embedded store carries: Linux keeps 15
/// bytes of a thread name (`scangate-store-writer` reads
/// `scangate-store-`).
pub const STORE_THREADS: &str = "scangate-store-";

/// How long freezing may take: a thread stops at its next instruction or
/// when its system call returns.
pub const FREEZE_DEADLINE: Duration = Duration::from_secs(10);

/// Threads of a process frozen by a tracer thread of the test, until
/// [`Frozen::thaw`] (or drop).
pub struct Frozen {
    /// How many threads are frozen.
    pub threads: usize,
    thaw: Option<mpsc::Sender<()>>,
    tracer: Option<JoinHandle<Result<(), String>>>,
}

/// The threads of `pid` whose name starts with `prefix`.
fn threads_named(pid: u32, prefix: &str) -> Vec<Pid> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("the process's threads");
    tasks
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let name = std::fs::read_to_string(path.join("comm")).ok()?;
            let tid: i32 = path.file_name()?.to_str()?.parse().ok()?;
            name.starts_with(prefix).then(|| Pid::from_raw(tid))
        })
        .collect()
}

/// Seizes and stops each of `tids`, waiting until each is in its stop.
fn stop_all(tids: &[Pid]) -> Result<(), String> {
    for &tid in tids {
        ptrace::seize(tid, ptrace::Options::empty()).map_err(|e| format!("seize {tid}: {e}"))?;
        ptrace::interrupt(tid).map_err(|e| format!("interrupt {tid}: {e}"))?;
    }
    for &tid in tids {
        match waitpid(tid, Some(WaitPidFlag::__WALL)) {
            Ok(WaitStatus::PtraceEvent(..) | WaitStatus::Stopped(..)) => {}
            other => return Err(format!("thread {tid} did not stop: {other:?}")),
        }
    }
    Ok(())
}

/// Freezes every thread of process `pid` named with `prefix` (at least
/// one). Ptrace requests must come from the thread that attached, so one
/// thread of the test attaches, holds and detaches.
pub fn freeze(pid: u32, prefix: &'static str) -> Frozen {
    let (stopped_tx, stopped) = mpsc::channel();
    let (thaw, thaw_rx) = mpsc::channel::<()>();
    let tracer = std::thread::spawn(move || {
        let tids = threads_named(pid, prefix);
        let result = if tids.is_empty() {
            Err(format!("process {pid} has no thread named {prefix}*"))
        } else {
            stop_all(&tids)
        };
        let failed = result.is_err();
        let _ = stopped_tx.send(result.map(|()| tids.len()));
        if !failed {
            // Until thawed, or until the test drops its end.
            let _ = thaw_rx.recv();
        }
        for tid in tids {
            // A thread that never stopped, or is gone, is not ours to detach.
            let _ = ptrace::detach(tid, None);
        }
        Ok(())
    });
    let threads = stopped
        .recv_timeout(FREEZE_DEADLINE)
        .expect("the tracer answers")
        .unwrap_or_else(|e| panic!("cannot freeze the store's threads: {e}"));
    Frozen {
        threads,
        thaw: Some(thaw),
        tracer: Some(tracer),
    }
}

impl Frozen {
    /// Lets the threads go on from where they stood.
    pub fn thaw(mut self) {
        self.release()
            .unwrap_or_else(|e| panic!("the store's threads were not let go: {e}"));
    }

    fn release(&mut self) -> Result<(), String> {
        drop(self.thaw.take());
        match self.tracer.take() {
            Some(tracer) => tracer
                .join()
                .map_err(|_| "the tracer panicked".to_owned())?,
            None => Ok(()),
        }
    }
}

impl Drop for Frozen {
    /// A test that fails while the threads are frozen lets them go too.
    fn drop(&mut self) {
        let _ = self.release();
    }
}
