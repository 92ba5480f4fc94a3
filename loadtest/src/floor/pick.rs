//! Chooses each floor scan: its pass and gate, from where the tool last
//! heard the pass is ([`Belief`]). Entries go to passes outside (or to a
//! zone deeper than the one they are in), exits to passes inside; a wrong
//! zone is a pass at an entry gate of a zone it does not admit to; a
//! check is any pass at any gate. Deterministic for a seed and the
//! replies heard; no I/O.

use super::{Belief, FloorAsk, FloorLayout, FloorPass, Where};
use crate::mix::ScanKind;
use fastrand::Rng;
use scangate_core::event::Direction;
use std::sync::Arc;

/// Passes tried for a scan of the wanted kind before the last one tried
/// is sent anyway (an entry to a pass inside is then `already_inside`,
/// an exit of one outside `not_inside`: both are answers the checker
/// judges). Keeps the pick O(1) however full the zones are.
pub const PICK_TRIES: usize = 8;

/// The floor's part of the picker.
pub struct FloorPicker {
    layout: Arc<FloorLayout>,
    belief: Arc<Belief>,
    passes: Vec<FloorPass>,
}

impl FloorPicker {
    /// A picker over `passes`, reading `belief`.
    pub fn new(layout: Arc<FloorLayout>, belief: Arc<Belief>, passes: Vec<FloorPass>) -> Self {
        FloorPicker {
            layout,
            belief,
            passes,
        }
    }

    /// A scan of `kind` (a floor kind): its pass and what to ask, or
    /// `None` when there is no floor pass (or no wrong zone for any pass
    /// tried).
    pub fn pick(&self, kind: ScanKind, rng: &mut Rng) -> Option<(FloorPass, FloorAsk)> {
        match kind {
            ScanKind::Entry => self.moving(rng, Direction::In),
            ScanKind::Exit => self.moving(rng, Direction::Out),
            ScanKind::WrongZone => self.wrong_zone(rng),
            ScanKind::Check => self.check(rng),
            _ => None,
        }
    }

    fn any_pass(&self, rng: &mut Rng) -> Option<FloorPass> {
        (!self.passes.is_empty()).then(|| self.passes[rng.usize(..self.passes.len())])
    }

    fn gate_of(&self, rng: &mut Rng, fits: impl Fn(usize) -> bool) -> Option<u32> {
        let fitting: Vec<usize> = (0..self.layout.gates.len()).filter(|g| fits(*g)).collect();
        let g = *fitting.get(rng.usize(..fitting.len().max(1)))?;
        u32::try_from(g).ok()
    }

    fn ask(&self, gate: u32, direction: Direction, check_only: bool) -> FloorAsk {
        FloorAsk {
            gate,
            direction: self.layout.gates[gate as usize].ask(direction),
            check_only,
        }
    }

    /// An entry (to a pass believed out, or one inside a zone with a zone
    /// within it the pass admits to) or an exit (of a pass believed inside,
    /// at an exit gate of its zone or a zone around it).
    fn moving(&self, rng: &mut Rng, direction: Direction) -> Option<(FloorPass, FloorAsk)> {
        let l = &self.layout;
        let mut last = None;
        for _ in 0..PICK_TRIES {
            let p = self.any_pass(rng)?;
            let at = self.belief.get(p.pass);
            let fits = |g: usize| {
                let gate = l.gates[g];
                match (direction, at) {
                    (Direction::In, Where::Out) => gate.enters() && l.admits(p.class, gate.zone),
                    (Direction::In, Where::Inside(z)) => {
                        gate.enters()
                            && gate.zone != z
                            && l.within(gate.zone, z)
                            && l.admits(p.class, gate.zone)
                    }
                    (Direction::Out, Where::Inside(z)) => gate.exits() && l.within(z, gate.zone),
                    (Direction::Out, Where::Out) => false,
                }
            };
            if let Some(g) = self.gate_of(rng, fits) {
                return Some((p, self.ask(g, direction, false)));
            }
            last = Some(p);
        }
        // None fitted: the last pass tried, at a gate of that direction
        // in a zone it admits to (a presence denial is expected).
        let p = last?;
        let g = self.gate_of(rng, |g| {
            let gate = l.gates[g];
            let way = match direction {
                Direction::In => gate.enters(),
                Direction::Out => gate.exits(),
            };
            way && l.admits(p.class, gate.zone)
        })?;
        Some((p, self.ask(g, direction, false)))
    }

    /// A pass at an entry gate of a zone it does not admit to.
    fn wrong_zone(&self, rng: &mut Rng) -> Option<(FloorPass, FloorAsk)> {
        let l = &self.layout;
        for _ in 0..PICK_TRIES {
            let p = self.any_pass(rng)?;
            let fits = |g: usize| l.gates[g].enters() && !l.admits(p.class, l.gates[g].zone);
            if let Some(g) = self.gate_of(rng, fits) {
                return Some((p, self.ask(g, Direction::In, false)));
            }
        }
        None
    }

    /// Any pass at any gate, either way at a `both` gate, check-only.
    fn check(&self, rng: &mut Rng) -> Option<(FloorPass, FloorAsk)> {
        let p = self.any_pass(rng)?;
        let g = self.gate_of(rng, |_| true)?;
        let gate = self.layout.gates[g as usize];
        let direction = if gate.enters() && (!gate.exits() || rng.bool()) {
            Direction::In
        } else {
            Direction::Out
        };
        Some((p, self.ask(g, direction, true)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::floor::{GATE_ROLES, class_of};
    use scangate_core::event::GateDirection;

    fn picker(passes: u32) -> FloorPicker {
        let layout = Arc::new(FloorLayout::new(6, 64, true).expect("layout"));
        let belief = Arc::new(Belief::new(passes as usize));
        let passes = (0..passes)
            .map(|i| FloorPass {
                pass: i,
                class: class_of(i as usize),
            })
            .collect();
        FloorPicker::new(layout, belief, passes)
    }

    #[test]
    fn entries_exits_and_wrong_zones_go_where_the_rules_say() {
        let p = picker(20);
        let mut rng = Rng::with_seed(3);
        for _ in 0..200 {
            let (pass, ask) = p.pick(ScanKind::Entry, &mut rng).expect("entry");
            let gate = p.layout.gates[ask.gate as usize];
            assert!(gate.enters() && p.layout.admits(pass.class, gate.zone));
            assert!(!ask.check_only);
            assert_eq!(
                ask.direction.is_some(),
                gate.direction == GateDirection::Both
            );
            let (pass, ask) = p.pick(ScanKind::WrongZone, &mut rng).expect("wrong zone");
            let gate = p.layout.gates[ask.gate as usize];
            assert!(gate.enters() && !p.layout.admits(pass.class, gate.zone));
        }
        // Everyone out: an exit finds no one inside and falls back to an
        // exit gate of a zone the pass admits to.
        let (_, ask) = p.pick(ScanKind::Exit, &mut rng).expect("exit");
        assert!(p.layout.gates[ask.gate as usize].exits());
        // Pass 4 (a stage pass) inside the stage: its exits leave the stage
        // or the hall; its entries (none deeper) fall back.
        p.belief.heard(4, Some(true), Some("stage"));
        let only_4 = FloorPicker::new(p.layout.clone(), p.belief.clone(), vec![p.passes[4]]);
        for _ in 0..50 {
            let (_, ask) = only_4.pick(ScanKind::Exit, &mut rng).expect("exit");
            let (zone, direction) = GATE_ROLES[ask.gate as usize];
            assert!(direction != GateDirection::In && (zone == 0 || zone == 1));
        }
        let (_, check) = p.pick(ScanKind::Check, &mut rng).expect("check");
        assert!(check.check_only);
    }
}
