//! An in-memory [`Store`] for the actor tests: it keeps the trait's contract
//! (conditional grants, duplicate scan ids) and can be told to fail, to fail
//! after writing, to answer busy, to hang, or to hold commits until released.
//! Like the embedded store's writer, it takes a held commit when it is
//! called: the commit lands on release, in call order, even if its caller
//! stopped waiting. Test code only; the gateway always runs on a real backend.

use async_trait::async_trait;
use scangate_core::event::EventDefinition;
use scangate_core::scan::Conflict;
use scangate_core::{AuditRecord, Pass, PassId, ScanId, ScanRecord, Status};
use scangate_storage::{
    Annul, AuditQuery, ConflictQuery, HolderLink, Page, PassQuery, PassState, ScanQuery, ScanScope,
    Store, StoreError,
};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::oneshot;

/// How commits (scan and admin) behave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CommitMode {
    /// As a healthy store.
    Normal,
    /// Fail before writing anything.
    Fail,
    /// Write, then report a timeout: the outcome the caller cannot know.
    FailAfterWrite,
    /// Answer `Busy` (commit queue full) without writing.
    Busy,
    /// Never answer.
    Hang,
    /// Take the commit now, apply it at [`MemStore::release`].
    Hold,
}

/// A held commit: applies itself and answers its caller, if still there.
type Held = Box<dyn FnOnce(&mut Data) + Send>;

#[derive(Default)]
struct Data {
    passes: HashMap<PassId, Pass>,
    scan_ids: HashMap<ScanId, ScanRecord>,
    log: Vec<ScanRecord>,
    audit: Vec<AuditRecord>,
    conflicts: Vec<Conflict>,
    holder_links: HashMap<PassId, HolderLink>,
    events: HashMap<String, EventDefinition>,
}

/// The in-memory store.
pub(crate) struct MemStore {
    data: Mutex<Data>,
    /// The mode, and the commits held in it, under one lock: a commit is
    /// either held or sees the mode [`MemStore::release`] left.
    mode: Mutex<(CommitMode, Vec<Held>)>,
    commits_started: AtomicUsize,
    loads: AtomicUsize,
    /// Answer for [`Store::shared`].
    shared: bool,
}

impl MemStore {
    pub(crate) fn new() -> Self {
        MemStore {
            data: Mutex::new(Data::default()),
            mode: Mutex::new((CommitMode::Normal, Vec::new())),
            commits_started: AtomicUsize::new(0),
            loads: AtomicUsize::new(0),
            shared: false,
        }
    }

    /// A store other gateways write too ([`Store::shared`]).
    pub(crate) fn new_shared() -> Self {
        MemStore {
            shared: true,
            ..MemStore::new()
        }
    }

    fn data(&self) -> std::sync::MutexGuard<'_, Data> {
        self.data.lock().expect("test store lock")
    }

    pub(crate) fn put(&self, pass: Pass) {
        self.data().passes.insert(pass.id, pass);
    }

    pub(crate) fn stored(&self, id: PassId) -> Pass {
        self.data().passes.get(&id).cloned().expect("stored pass")
    }

    /// Another gateway node granted a use behind this one's back.
    pub(crate) fn bump_uses(&self, id: PassId) {
        self.data().passes.get_mut(&id).expect("stored pass").uses += 1;
    }

    /// Another gateway node changed the pass's status behind this one's back.
    pub(crate) fn set_status(&self, id: PassId, status: Status) {
        self.data().passes.get_mut(&id).expect("stored pass").status = status;
    }

    pub(crate) fn audit_len(&self) -> usize {
        self.data().audit.len()
    }

    pub(crate) fn set_mode(&self, mode: CommitMode) {
        self.mode.lock().expect("mode lock").0 = mode;
    }

    /// Applies the held commits in the order they were made, and lets later
    /// ones through (the mode is `Normal` again).
    pub(crate) fn release(&self) {
        let held = {
            let mut mode = self.mode.lock().expect("mode lock");
            mode.0 = CommitMode::Normal;
            std::mem::take(&mut mode.1)
        };
        for commit in held {
            commit(&mut self.data());
        }
    }

    pub(crate) fn commits_started(&self) -> usize {
        self.commits_started.load(Ordering::SeqCst)
    }

    pub(crate) fn loads(&self) -> usize {
        self.loads.load(Ordering::SeqCst)
    }

    /// A write, as the commit mode says: `apply` changes the data (or
    /// refuses, as the contract says) and gives the answer.
    async fn write<T: Send + 'static>(
        &self,
        apply: impl FnOnce(&mut Data) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.commits_started.fetch_add(1, Ordering::SeqCst);
        // Let other tasks run between the caller's decision and the write.
        tokio::task::yield_now().await;
        let answer = {
            let mut mode = self.mode.lock().expect("mode lock");
            match mode.0 {
                CommitMode::Fail => {
                    return Err(StoreError::unavailable("test store", "injected failure"));
                }
                CommitMode::Busy => return Err(StoreError::Busy),
                CommitMode::Hang => None,
                CommitMode::Hold => {
                    let (tx, rx) = oneshot::channel();
                    mode.1.push(Box::new(move |data: &mut Data| {
                        let _ = tx.send(apply(data));
                    }));
                    Some(rx)
                }
                CommitMode::Normal => return apply(&mut self.data()),
                // The write lands; the caller cannot know it did.
                CommitMode::FailAfterWrite => {
                    return apply(&mut self.data())
                        .and_then(|_| Err(StoreError::Timeout(Duration::from_secs(1))));
                }
            }
        };
        match answer {
            Some(held) => held.await.unwrap_or_else(|_| {
                Err(StoreError::Internal(
                    "the test store dropped a held commit".into(),
                ))
            }),
            None => std::future::pending().await,
        }
    }
}

#[async_trait]
impl Store for MemStore {
    async fn load_pass(&self, id: PassId) -> Result<Option<Pass>, StoreError> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        Ok(self.data().passes.get(&id).cloned())
    }

    async fn insert_passes(&self, passes: Vec<Pass>) -> Result<(), StoreError> {
        let mut data = self.data();
        if let Some(taken) = passes.iter().find(|p| data.passes.contains_key(&p.id)) {
            return Err(StoreError::PassExists(taken.id));
        }
        for pass in passes {
            data.passes.insert(pass.id, pass);
        }
        Ok(())
    }

    async fn commit_scan(&self, record: ScanRecord) -> Result<(), StoreError> {
        self.write(move |data| {
            if let Some(existing) = data.scan_ids.get(&record.scan_id) {
                return Err(StoreError::DuplicateScanId {
                    existing: Box::new(existing.clone()),
                });
            }
            let pass = data
                .passes
                .get_mut(&record.pass_id)
                .ok_or(StoreError::NotFound(record.pass_id))?;
            if record.decision.is_granted() {
                // The condition every backend checks (offline: the count alone).
                let Some(after) = PassState::of(pass).grant(&record) else {
                    return Err(StoreError::Conflict {
                        pass: pass.id,
                        stored_uses: pass.uses,
                    });
                };
                pass.uses = after.uses;
                pass.presence = after.presence;
            }
            data.conflicts.extend(Conflict::of_record(&record));
            data.scan_ids.insert(record.scan_id.clone(), record.clone());
            data.log.push(record);
            Ok(())
        })
        .await
    }

    async fn commit_admin(&self, audit: AuditRecord) -> Result<(), StoreError> {
        self.write(move |data| {
            let pass = data
                .passes
                .get_mut(&audit.pass_id)
                .ok_or(StoreError::NotFound(audit.pass_id))?;
            pass.status = audit.status_after;
            pass.status_since_ms = Some(audit.at_ms);
            pass.status_reason = Some(audit.reason.clone());
            data.audit.push(audit);
            Ok(())
        })
        .await
    }

    async fn record_conflicts(&self, conflicts: Vec<Conflict>) -> Result<(), StoreError> {
        self.write(move |data| {
            data.conflicts.extend(conflicts);
            Ok(())
        })
        .await
    }

    /// Every conflict matching the query's filters, in one page (a test
    /// store holds a handful).
    async fn query_conflicts(&self, q: ConflictQuery) -> Result<Page<Conflict>, StoreError> {
        let data = self.data();
        let items = data.conflicts.iter().filter(|c| q.matches(c));
        Ok(Page {
            items: items.take(q.limit).cloned().collect(),
            next: None,
        })
    }

    async fn find_scan(&self, scan_id: &ScanId) -> Result<Option<ScanRecord>, StoreError> {
        Ok(self.data().scan_ids.get(scan_id).cloned())
    }

    async fn list_scans(&self, pass: PassId, limit: usize) -> Result<Vec<ScanRecord>, StoreError> {
        let data = self.data();
        let mine = data.log.iter().filter(|r| r.pass_id == pass);
        Ok(mine.take(limit).cloned().collect())
    }

    async fn list_audit(&self, pass: PassId, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
        let data = self.data();
        let mine = data.audit.iter().filter(|a| a.pass_id == pass);
        Ok(mine.take(limit).cloned().collect())
    }

    async fn query_passes(&self, _: PassQuery) -> Result<Page<Pass>, StoreError> {
        Err(StoreError::Internal(
            "queries are not in the test store".into(),
        ))
    }

    /// One pass's scans only (what an actor reads at its start), one page.
    async fn query_scans(&self, q: ScanQuery) -> Result<Page<ScanRecord>, StoreError> {
        let ScanScope::Pass(pass) = q.scope else {
            return Err(StoreError::Internal(
                "event queries are not in the test store".into(),
            ));
        };
        let data = self.data();
        let from = q.from_ms.unwrap_or(i64::MIN);
        let mine = data
            .log
            .iter()
            .filter(|r| r.pass_id == pass && r.at_ms >= from);
        let items = mine
            .filter(|r| q.matches(r))
            .take(q.limit)
            .cloned()
            .collect();
        Ok(Page { items, next: None })
    }

    async fn query_audit(&self, _: AuditQuery) -> Result<Page<AuditRecord>, StoreError> {
        Err(StoreError::Internal(
            "queries are not in the test store".into(),
        ))
    }

    async fn commit_annul(&self, annul: Annul) -> Result<ScanRecord, StoreError> {
        self.write(move |data| {
            let scan = data.scan_ids.get(&annul.scan_id).cloned();
            let uses = data.passes.get(&annul.audit.pass_id).map(|p| p.uses);
            let mut record = annul.check(scan, uses)?;
            let pass = data
                .passes
                .get_mut(&record.pass_id)
                .ok_or(StoreError::NotFound(record.pass_id))?;
            pass.uses -= 1;
            record.annulled = Some(scangate_core::Annulment {
                at_ms: annul.audit.at_ms,
                who: annul.audit.who.clone(),
            });
            data.scan_ids.insert(record.scan_id.clone(), record.clone());
            data.audit.push(annul.audit);
            Ok(record)
        })
        .await
    }

    async fn put_event(&self, event: &str, definition: &EventDefinition) -> Result<(), StoreError> {
        self.data()
            .events
            .insert(event.to_owned(), definition.clone());
        Ok(())
    }

    async fn load_event(&self, event: &str) -> Result<Option<EventDefinition>, StoreError> {
        Ok(self.data().events.get(event).cloned())
    }

    async fn list_events(&self) -> Result<Vec<(String, EventDefinition)>, StoreError> {
        let data = self.data();
        Ok(data
            .events
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    async fn purge_scan_ids(&self, before_ms: i64) -> Result<u64, StoreError> {
        let mut data = self.data();
        let before = data.scan_ids.len();
        data.scan_ids.retain(|_, r| r.at_ms >= before_ms);
        Ok((before - data.scan_ids.len()) as u64)
    }

    async fn put_holder_link(&self, link: HolderLink) -> Result<(), StoreError> {
        self.data().holder_links.insert(link.pass_id, link);
        Ok(())
    }

    async fn holder_link(&self, pass: PassId) -> Result<Option<HolderLink>, StoreError> {
        Ok(self.data().holder_links.get(&pass).copied())
    }

    async fn remove_holder_link(&self, pass: PassId) -> Result<bool, StoreError> {
        Ok(self.data().holder_links.remove(&pass).is_some())
    }

    fn shared(&self) -> bool {
        self.shared
    }

    async fn close(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
