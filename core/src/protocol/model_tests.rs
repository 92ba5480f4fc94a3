//! The machine against a model: random scans, retries, admin changes,
//! annulments, store faults and (on a shared store) another gateway's
//! writes, driven through a store that keeps the contract (conditional
//! grants and annulments, scan ids refused twice). After every request the
//! answers must agree with a plain model of the pass: never more grants than
//! `max_uses`, a retried scan id never counted twice and answered with its
//! first decision, an annulment giving back exactly one use once, and every
//! scan decided from the pass as changed by every request ordered before it.
//! Offline facts (uploads of scans devices decided alone) are mixed in: each
//! counted once per scan id even beyond `max_uses`, flagged `over_limit`
//! exactly when the uses before it had reached the limit, so the count is
//! always online grants plus offline grants.

use super::model_offline::{check_offline, run_offline};
use super::tests::{ALONE, Fault, pass, scan};
use super::*;
use crate::pass::{AdminAction, Status, transition};
use crate::rules::AnnulRefusal;
use crate::scan::{Annulment, AuditRecord, ScanId};
use crate::{Decision, Reason};
use proptest::prelude::*;
use std::collections::HashMap;

/// What the store does with one write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fate {
    Lands,
    /// Queue full: nothing written.
    Busy,
    /// Fails before writing.
    Lost,
    /// Writes, then fails: the outcome the caller cannot know.
    Unknown,
}

#[derive(Debug, Clone)]
enum Op {
    /// A scan with id `s{n}` (a small range, so ids repeat: retries).
    Scan(u8, Fate),
    Admin(AdminAction, Fate),
    /// An annulment of the scan with id `s{n}`.
    Annul(u8, Fate),
    /// An uploaded offline scan with id `o{n}`: a device grant (`true`) or
    /// denial.
    Offline(u8, bool, Fate),
    /// Another gateway uses one use (a shared store only).
    OtherUse,
    /// Another gateway sets the status (a shared store only).
    OtherStatus(Status),
}

fn fate() -> impl Strategy<Value = Fate> {
    prop_oneof![6 => Just(Fate::Lands), 1 => Just(Fate::Busy), 1 => Just(Fate::Lost), 1 => Just(Fate::Unknown)]
}

fn action() -> impl Strategy<Value = AdminAction> {
    prop_oneof![
        Just(AdminAction::Revoke),
        Just(AdminAction::Suspend),
        Just(AdminAction::Reactivate)
    ]
}

fn status() -> impl Strategy<Value = Status> {
    prop_oneof![
        Just(Status::Active),
        Just(Status::Suspended),
        Just(Status::Revoked)
    ]
}

fn op(shared: bool) -> BoxedStrategy<Op> {
    let own = prop_oneof![
        6 => (0u8..8, fate()).prop_map(|(n, f)| Op::Scan(n, f)),
        2 => (action(), fate()).prop_map(|(a, f)| Op::Admin(a, f)),
        1 => (0u8..8, fate()).prop_map(|(n, f)| Op::Annul(n, f)),
        2 => (0u8..6, any::<bool>(), fate()).prop_map(|(n, g, f)| Op::Offline(n, g, f)),
    ];
    if !shared {
        return own.boxed();
    }
    prop_oneof![8 => own, 1 => Just(Op::OtherUse), 1 => status().prop_map(Op::OtherStatus)].boxed()
}

/// The store, keeping the contract of `scangate_storage::Store`.
pub(super) struct Store {
    pub(super) pass: Pass,
    pub(super) scan_ids: HashMap<ScanId, ScanRecord>,
    /// Uses spent through another gateway.
    other_uses: u32,
}

impl Store {
    fn fault(fate: Fate) -> Option<Fault> {
        match fate {
            Fate::Busy => Some(Fault::Busy),
            Fate::Lost => Some(Fault::Broken),
            Fate::Lands | Fate::Unknown => None,
        }
    }

    pub(super) fn commit_scan(&mut self, record: ScanRecord, fate: Fate) -> Result<(), Fault> {
        if let Some(fault) = Self::fault(fate) {
            return Err(fault);
        }
        if let Some(first) = self.scan_ids.get(&record.scan_id) {
            return Err(Fault::Duplicate(Box::new(first.clone())));
        }
        if record.decision.is_granted() {
            let p = &mut self.pass;
            // An offline fact is conditional on the count alone.
            let offline = record.offline.is_some();
            let applies = (offline || p.status == Status::Active)
                && record.uses_after == p.uses + 1
                && (offline || p.max_uses.is_none_or(|max| record.uses_after <= max));
            if !applies {
                return Err(Fault::Conflict);
            }
            p.uses = record.uses_after;
        }
        self.scan_ids.insert(record.scan_id.clone(), record);
        if fate == Fate::Unknown {
            Err(Fault::Broken)
        } else {
            Ok(())
        }
    }

    fn commit_annul(&mut self, write: AnnulWrite, fate: Fate) -> Result<ScanRecord, Fault> {
        if let Some(fault) = Self::fault(fate) {
            return Err(fault);
        }
        let Some(record) = self.scan_ids.get_mut(&write.scan_id) else {
            return Err(Fault::NotAnnullable(None));
        };
        let refusal = if record.pass_id != write.audit.pass_id {
            Some(AnnulRefusal::OtherPass)
        } else if !record.decision.is_granted() {
            Some(AnnulRefusal::NotGranted)
        } else if record.annulled.is_some() {
            Some(AnnulRefusal::AlreadyAnnulled)
        } else {
            None
        };
        if refusal.is_some() {
            return Err(Fault::NotAnnullable(refusal));
        }
        if self.pass.uses != write.expected_uses || self.pass.uses == 0 {
            return Err(Fault::Conflict);
        }
        self.pass.uses -= 1;
        record.annulled = Some(Annulment {
            at_ms: write.audit.at_ms,
            who: write.audit.who,
        });
        let annulled = record.clone();
        if fate == Fate::Unknown {
            Err(Fault::Broken)
        } else {
            Ok(annulled)
        }
    }

    fn commit_admin(&mut self, audit: &AuditRecord, fate: Fate) -> Result<(), Fault> {
        if let Some(fault) = Self::fault(fate) {
            return Err(fault);
        }
        self.pass.status = audit.status_after;
        self.pass.status_since_ms = Some(audit.at_ms);
        self.pass.status_reason = Some(audit.reason.clone());
        if fate == Fate::Unknown {
            Err(Fault::Broken)
        } else {
            Ok(())
        }
    }
}

/// The decision the model expects for a new scan id, from the store's pass.
fn expected(pass: &Pass) -> Decision {
    match pass.status {
        Status::Revoked => Decision::Denied(Reason::Revoked),
        Status::Suspended => Decision::Denied(Reason::Suspended),
        Status::Active if pass.remaining() == Some(0) => Decision::Denied(Reason::UsedUp),
        Status::Active => Decision::Granted,
    }
}

/// Runs one scan's turn to its answer; each write meets `fate` the first
/// time (the store does not fail twice in a row).
fn run_scan(
    m: &mut PassMachine,
    store: &mut Store,
    n: u8,
    mut fate: Fate,
    now: i64,
) -> Result<ScanOutcome, ScanFailure<Fault>> {
    let mut turn = m.on_scan(scan(&format!("s{n}")));
    let mut step = turn.start(now);
    loop {
        step = match step {
            ScanStep::Answer(answer) => return answer,
            ScanStep::Reload => turn.on_reload(Ok(store.pass.clone()), now),
            // The model's events have no definition: no zone, no place.
            ScanStep::Place(_) => turn.on_place(true),
            ScanStep::Persist(record) => {
                let written = store.commit_scan(record, std::mem::replace(&mut fate, Fate::Lands));
                turn.on_commit(written)
            }
        };
    }
}

fn run_admin(
    m: &mut PassMachine,
    store: &mut Store,
    action: AdminAction,
    fate: Fate,
    now: i64,
) -> Result<Pass, AdminFailure<Fault>> {
    let change = AdminChange {
        action,
        reason: "model".into(),
        who: "ops".into(),
    };
    let mut turn = m.on_admin(change);
    let mut step = turn.start(now);
    loop {
        step = match step {
            AdminStep::Answer(answer) => return answer,
            AdminStep::Reload => turn.on_reload(Ok(store.pass.clone()), now),
            AdminStep::Persist(audit) => turn.on_commit(store.commit_admin(&audit, fate)),
        };
    }
}

fn run_annul(
    m: &mut PassMachine,
    store: &mut Store,
    n: u8,
    mut fate: Fate,
    now: i64,
) -> Result<ScanRecord, AdminFailure<Fault>> {
    let request = AnnulRequest {
        scan_id: ScanId::new(format!("s{n}")).expect("id"),
        reason: "model".into(),
        who: "ops".into(),
    };
    let mut turn = m.on_annul(request);
    let mut step = turn.start();
    loop {
        step = match step {
            AnnulStep::Answer(answer) => return answer,
            AnnulStep::Find(id) => turn.on_found(Ok(store.scan_ids.get(&id).cloned()), now),
            AnnulStep::Reload => turn.on_reload(Ok(store.pass.clone()), now),
            AnnulStep::Persist(write) => {
                turn.on_commit(store.commit_annul(write, std::mem::replace(&mut fate, Fate::Lands)))
            }
        };
    }
}

/// Checks an admin change's answer against the transition from `held`,
/// the status this gateway held when the change arrived.
fn check_admin(
    answer: &Result<Pass, AdminFailure<Fault>>,
    held: Status,
    action: AdminAction,
    store: &Store,
    fate: Fate,
) -> Result<(), TestCaseError> {
    match (answer, transition(held, action)) {
        (Ok(after), Ok(status)) => {
            prop_assert_eq!((after.status, store.pass.status), (status, status));
        }
        (Err(AdminFailure::Transition(_)), Err(_)) => {}
        (Err(AdminFailure::Busy), Ok(_)) => prop_assert_eq!(fate, Fate::Busy),
        (Err(AdminFailure::Store(_)), Ok(_)) => {
            prop_assert!(matches!(fate, Fate::Lost | Fate::Unknown));
        }
        (other, expected) => {
            prop_assert!(
                false,
                "admin {action:?} on {held:?}: {other:?}, model {expected:?}"
            );
        }
    }
    Ok(())
}

/// Checks an annulment's answer (`known`: its scan's record before).
fn check_annul(
    answer: &Result<ScanRecord, AdminFailure<Fault>>,
    before: &Pass,
    known: Option<&ScanRecord>,
    store: &Store,
    fate: Fate,
) -> Result<(), TestCaseError> {
    let expected = match known {
        None => Err(AdminFailure::ScanNotFound),
        Some(r) if !r.decision.is_granted() => Err(AdminFailure::Annul(AnnulRefusal::NotGranted)),
        Some(r) if r.annulled.is_some() => Err(AdminFailure::Annul(AnnulRefusal::AlreadyAnnulled)),
        Some(_) => Ok(()),
    };
    match (answer, expected) {
        (Ok(record), Ok(())) => {
            prop_assert!(record.annulled.is_some());
            prop_assert_eq!(store.pass.uses + 1, before.uses, "one use given back");
        }
        (Err(AdminFailure::Busy), Ok(())) => prop_assert_eq!(fate, Fate::Busy),
        (Err(AdminFailure::Store(_)), Ok(())) => {
            prop_assert!(matches!(fate, Fate::Lost | Fate::Unknown));
        }
        (Err(got), Err(want)) => prop_assert_eq!(got, &want),
        (got, want) => prop_assert!(false, "annul: {got:?}, model {want:?}"),
    }
    Ok(())
}

/// Checks one scan's answer against the model (`before`: the store's pass
/// when the scan arrived, `known`: its scan id's record then).
fn check_scan(
    answer: &Result<ScanOutcome, ScanFailure<Fault>>,
    before: &Pass,
    known: Option<&ScanRecord>,
    store: &Store,
    fate: Fate,
) -> Result<(), TestCaseError> {
    match (answer, known) {
        (Ok(o), _) if o.decision == Decision::Denied(Reason::Busy) => {
            prop_assert!(!o.replayed);
            prop_assert_eq!(fate, Fate::Busy);
            prop_assert_eq!(store.pass.uses, before.uses, "busy counts nothing");
        }
        (Ok(o), Some(first)) => {
            prop_assert!(o.replayed, "a stored id is answered from its record");
            prop_assert_eq!(o.decision, first.decision);
            prop_assert_eq!(o.uses, Some(first.uses_after));
        }
        (Ok(o), None) => {
            prop_assert!(!o.replayed);
            prop_assert_eq!(
                o.decision,
                expected(before),
                "decided from every earlier change"
            );
            let uses = before.uses + u32::from(o.decision.is_granted());
            prop_assert_eq!((o.uses, store.pass.uses), (Some(uses), uses));
        }
        (Err(ScanFailure::Store(_)), _) => {
            prop_assert!(
                matches!(fate, Fate::Lost | Fate::Unknown),
                "only injected faults fail"
            );
        }
        (Err(ScanFailure::ScanIdConflict), _) => prop_assert!(false, "one pass: no id conflict"),
        (Err(ScanFailure::Busy), _) => prop_assert!(false, "a scan answers busy as a denial"),
    }
    Ok(())
}

fn run(max: u32, shared: bool, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let config = MachineConfig {
        recheck_after_ms: shared.then_some(0),
        ..ALONE
    };
    let mut store = Store {
        pass: pass(Some(max)),
        scan_ids: HashMap::new(),
        other_uses: 0,
    };
    let mut m = PassMachine::new(store.pass.clone(), 0, config);
    for (i, op) in ops.into_iter().enumerate() {
        let now = i64::try_from(i).unwrap_or(i64::MAX) * 10;
        let before = store.pass.clone();
        match op {
            Op::Scan(n, fate) => {
                let id = ScanId::new(format!("s{n}")).expect("id");
                let known = store.scan_ids.get(&id).cloned();
                let answer = run_scan(&mut m, &mut store, n, fate, now);
                check_scan(&answer, &before, known.as_ref(), &store, fate)?;
            }
            Op::Admin(action, fate) => {
                // Checked against the status this gateway holds (on a shared
                // store, another gateway may have changed it since).
                let held = m.pass().status;
                if !shared {
                    prop_assert_eq!(held, before.status, "alone, memory is the truth");
                }
                let answer = run_admin(&mut m, &mut store, action, fate, now);
                check_admin(&answer, held, action, &store, fate)?;
            }
            Op::Annul(n, fate) => {
                let id = ScanId::new(format!("s{n}")).expect("id");
                let known = store.scan_ids.get(&id).cloned();
                let answer = run_annul(&mut m, &mut store, n, fate, now);
                check_annul(&answer, &before, known.as_ref(), &store, fate)?;
            }
            Op::Offline(n, granted, fate) => {
                let id = ScanId::new(format!("o{n}")).expect("id");
                let known = store.scan_ids.get(&id).cloned();
                let answer = run_offline(&mut m, &mut store, n, granted, fate, now);
                check_offline(&answer, &before, known.as_ref(), &store, (granted, fate))?;
            }
            Op::OtherUse => {
                if store.pass.status == Status::Active && store.pass.remaining() != Some(0) {
                    store.pass.uses += 1;
                    store.other_uses += 1;
                }
            }
            Op::OtherStatus(status) => store.pass.status = status,
        }
        // A failed machine is replaced by one read from the store (the
        // actor's restart).
        if m.stop(now) == Some(Stop::Failed) {
            m = PassMachine::new(store.pass.clone(), now, config);
        }
        let live = |offline: bool| {
            store
                .scan_ids
                .values()
                .filter(|r| r.decision.is_granted() && r.annulled.is_none())
                .filter(|r| r.offline.is_some() == offline)
                .count()
        };
        let (online, offline) = (live(false), live(true));
        let granted = online + offline;
        prop_assert!(
            u32::try_from(online).unwrap_or(u32::MAX) <= max,
            "never more online grants than max_uses"
        );
        prop_assert_eq!(
            u32::try_from(granted).unwrap_or(u32::MAX) + store.other_uses,
            store.pass.uses,
            "each stored grant counted once, until annulled"
        );
        prop_assert!(
            m.pass().uses <= store.pass.uses,
            "memory never ahead of the store"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The only writer: memory is the truth between turns.
    #[test]
    fn alone_the_machine_agrees_with_the_model(max in 1u32..5, ops in proptest::collection::vec(op(false), 0..60)) {
        run(max, false, ops)?;
    }

    /// Another gateway writes the same pass: conflicts and stale denials
    /// are read again, so the answers still agree with the store's pass.
    #[test]
    fn shared_the_machine_agrees_with_the_model(max in 1u32..5, ops in proptest::collection::vec(op(true), 0..60)) {
        run(max, true, ops)?;
    }
}
