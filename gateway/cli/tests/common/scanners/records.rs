//! The gateway's records against every decision the lanes showed: what an
//! end-to-end offline test asserts once the run is over.

use super::{Board, Shown};
use crate::common::Gateway;
use scangate_api::ConflictView;
use scangate_api::types::PageView;
use scangate_client::Mode;
use scangate_core::ScanId;
use scangate_gateway::operator::api::{PassView, ScanView};
use std::collections::{HashMap, HashSet};
use std::time::Instant;

/// Conflicts asked for per page: the most the admin API gives.
const CONFLICTS_PAGE: usize = scangate_storage::PAGE_MAX;

/// A scan whose online try ran into its deadline after the gateway had
/// granted it, and that the lane then denied offline under the same scan
/// id: the gateway counts a use no one made (the safe side; devices do not
/// upload denials). Counted in [`Accounted::lost`]. The opposite (denied
/// online, granted offline) is no loss: the gateway records the offline
/// grant under `ScanId::offline` of the id, counted and flagged.
#[derive(Debug)]
pub struct LostAnswer {
    /// The scan id.
    pub scan_id: String,
    /// Asked before the kill (the request was in flight when it came).
    pub asked_before_kill: bool,
}

/// What [`check_records`] counted.
#[derive(Debug, Default)]
pub struct Accounted {
    /// Decisions shown by every lane.
    pub shown: usize,
    /// Of them, grants made offline.
    pub offline_grants: usize,
    /// Offline grants the gateway acknowledged on upload.
    pub uploaded: usize,
    /// Scan records the gateway holds.
    pub recorded: usize,
    /// `over_limit` conflicts listed.
    pub over_limit: usize,
    /// Scans whose online answer was lost after the gateway decided them.
    pub lost: Vec<LostAnswer>,
}

/// What the gateway holds of one pass.
struct Recorded {
    uses: u32,
    scans: Vec<ScanView>,
}

/// Every decision shown, by scan id (each shown once), and by the id an
/// offline grant past an online denial is recorded under (`ScanId::offline`).
struct ShownById<'a> {
    by_id: HashMap<&'a str, &'a Shown>,
    by_offline_id: HashMap<String, &'a Shown>,
}

impl<'a> ShownById<'a> {
    fn new(board: &'a Board) -> Self {
        let mut by_id = HashMap::new();
        let mut by_offline_id = HashMap::new();
        for s in board.iter().flat_map(|l| &l.shown) {
            let first = by_id.insert(s.scan_id.as_str(), s).is_none();
            assert!(first, "scan id {} shown twice", s.scan_id);
            let id = ScanId::new(s.scan_id.as_str()).expect("a scan id");
            by_offline_id.insert(id.offline().as_str().to_owned(), s);
        }
        ShownById {
            by_id,
            by_offline_id,
        }
    }

    /// The decision shown that a record of `id` stands for.
    fn of_record(&self, id: &str) -> Option<&'a Shown> {
        let shown = self.by_id.get(id).copied();
        shown.or_else(|| self.by_offline_id.get(id).copied())
    }
}

/// The gateway's records against every decision shown (`passes[i]` is
/// token `i`): each scan id recorded at most once and only if shown, every
/// grant shown recorded, every online decision recorded as shown, use
/// counts = online grants + offline grants, no online grant beyond
/// `max_uses`, every grant beyond it an `over_limit` conflict, and no
/// other conflict. `killing`: when the gateway was killed.
pub async fn check_records(
    gw: &Gateway,
    passes: &[PassView],
    board: &Board,
    killing: Instant,
) -> Accounted {
    let shown = ShownById::new(board);
    let conflicts = conflicts(gw).await;
    let mut over_limit = over_limit_by_pass(&conflicts);
    let mut counted = Accounted {
        shown: shown.by_id.len(),
        over_limit: conflicts.len(),
        ..Accounted::default()
    };
    for (token, pass) in passes.iter().enumerate() {
        let scans = gw.get(&format!("/v1/passes/{}/scans", pass.id)).await;
        let record = Recorded {
            uses: gw.pass(&pass.id).await.uses,
            scans: serde_json::from_value(scans).expect("scans"),
        };
        counted.recorded += record.scans.len();
        let flagged = over_limit.remove(&pass.id).unwrap_or_default();
        let lost = check_pass(token, pass, &record, &shown, killing);
        check_limit(pass, &record, &shown, &flagged);
        counted.lost.extend(lost);
    }
    assert!(
        over_limit.is_empty(),
        "conflicts of other passes: {over_limit:?}"
    );
    counted.offline_grants = shown
        .by_id
        .values()
        .filter(|s| s.mode == Mode::Offline && s.granted())
        .count();
    counted.uploaded = board.iter().map(|l| l.uploaded).sum();
    if board.iter().all(|l| l.sync_failures.is_empty()) {
        assert_eq!(
            counted.uploaded, counted.offline_grants,
            "each offline grant uploaded once"
        );
    }
    counted
}

/// Every conflict of event `fest`, page by page.
async fn conflicts(gw: &Gateway) -> Vec<ConflictView> {
    let first = format!("/v1/conflicts?event=fest&limit={CONFLICTS_PAGE}");
    let mut path = first.clone();
    let mut all = Vec::new();
    loop {
        let page: PageView<ConflictView> =
            serde_json::from_value(gw.get(&path).await).expect("a page of conflicts");
        all.extend(page.items);
        match page.next {
            Some(next) => path = format!("{first}&after={next}"),
            None => return all,
        }
    }
}

/// The scan ids of the `over_limit` conflicts, by pass; any other kind of
/// conflict fails the test (every pass is active, ungated and valid, and
/// every device clock is the gateway's).
fn over_limit_by_pass(conflicts: &[ConflictView]) -> HashMap<String, HashSet<String>> {
    let mut by_pass: HashMap<String, HashSet<String>> = HashMap::new();
    for c in conflicts {
        assert_eq!(c.kind, "over_limit", "no other rule broken: {c:?}");
        let pass = c
            .pass_id
            .clone()
            .expect("an over_limit conflict names its pass");
        by_pass.entry(pass).or_default().insert(c.scan_id.clone());
    }
    by_pass
}

/// One pass's records against the decisions shown for token `token`;
/// returns the lost answers among them.
fn check_pass(
    token: usize,
    pass: &PassView,
    record: &Recorded,
    shown: &ShownById,
    killing: Instant,
) -> Vec<LostAnswer> {
    let name = &pass.id[..8];
    let mut by_id: HashMap<&str, &ScanView> = HashMap::new();
    for r in &record.scans {
        let s = shown.of_record(&r.scan_id);
        let s = s.unwrap_or_else(|| panic!("pass {name}: {} recorded, never shown", r.scan_id));
        assert_eq!(s.token, token, "{} recorded on pass {name}", r.scan_id);
        let first = by_id.insert(&r.scan_id, r).is_none();
        assert!(first, "{} recorded twice", r.scan_id);
    }
    let mut counted: Vec<u32> = record
        .scans
        .iter()
        .filter(|r| granted(r))
        .map(|r| r.uses_after)
        .collect();
    counted.sort_unstable();
    assert!(
        counted.iter().copied().eq(1..=record.uses),
        "pass {name}: {} uses, each grant counted once: {counted:?}",
        record.uses
    );
    let ours: Vec<&Shown> = shown
        .by_id
        .values()
        .copied()
        .filter(|s| s.token == token)
        .collect();
    let lost: Vec<LostAnswer> = ours
        .iter()
        .filter_map(|s| lost_answer(name, s, &by_id, killing))
        .collect();
    let grants = ours.iter().filter(|s| s.granted()).count();
    let online = ours
        .iter()
        .filter(|s| s.granted() && s.mode == Mode::Online)
        .count();
    assert_eq!(
        usize::try_from(record.uses).expect("count"),
        grants + lost.len(),
        "pass {name}: uses = {online} online grants + {} offline grants",
        grants - online
    );
    lost
}

/// One decision shown against the gateway's records of its scan id (and
/// of the id an offline grant past an online denial is recorded under):
/// `Some` for an online grant whose answer was lost and that the lane then
/// denied offline.
fn lost_answer(
    name: &str,
    s: &Shown,
    by_id: &HashMap<&str, &ScanView>,
    killing: Instant,
) -> Option<LostAnswer> {
    let id = &s.scan_id;
    match (s.mode, by_id.get(id.as_str())) {
        (Mode::Online, Some(r)) => assert_eq!(granted(r), s.granted(), "{id} recorded as shown"),
        (Mode::Online, None) => assert!(
            s.denied.is_some_and(|r| r.is_transient()),
            "pass {name}: acknowledged online decision {id} lost across the kill"
        ),
        (Mode::Offline, None) => assert!(!s.granted(), "pass {name}: offline grant {id} lost"),
        (Mode::Offline, Some(r)) if granted(r) && !s.granted() => {
            return Some(LostAnswer {
                scan_id: id.clone(),
                asked_before_kill: s.started < killing,
            });
        }
        (Mode::Offline, Some(r)) if !granted(r) && s.granted() => {
            let moved = ScanId::new(id.as_str()).expect("a scan id").offline();
            let past = by_id.get(moved.as_str());
            assert!(
                past.is_some_and(|m| granted(m)),
                "pass {name}: offline grant {id} past the online denial not counted as {moved}"
            );
        }
        (Mode::Offline, Some(_)) => {}
    }
    None
}

fn granted(r: &ScanView) -> bool {
    r.decision == "granted"
}

/// No online grant beyond `max_uses`; the grants beyond it are exactly the
/// pass's `over_limit` conflicts (`flagged`), each one shown offline.
fn check_limit(pass: &PassView, record: &Recorded, shown: &ShownById, flagged: &HashSet<String>) {
    let name = &pass.id[..8];
    let Some(max) = pass.max_uses else {
        assert!(flagged.is_empty(), "pass {name} has no limit: {flagged:?}");
        return;
    };
    let over: HashSet<String> = record
        .scans
        .iter()
        .filter(|r| granted(r) && r.uses_after > max)
        .map(|r| r.scan_id.clone())
        .collect();
    for id in &over {
        let mode = shown.of_record(id).expect("shown").mode;
        assert_eq!(
            mode,
            Mode::Offline,
            "pass {name}: online grant {id} beyond {max}"
        );
    }
    assert_eq!(
        &over, flagged,
        "pass {name}: over_limit = the grants beyond {max}"
    );
}
