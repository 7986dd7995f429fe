//! The decisions of an exploration (`faxsim explore`): a [`Choices`] that varies, seed by
//! seed, what the protocol leaves open — the order a write's registrants hear of it, how
//! long each deferred notification waits, and which callback call fails with which of
//! its documented codes — so that bugs which show only under one order or one failure
//! turn up in a search over seeds.
//!
//! Two strategies:
//!
//! - [`Strategy::Random`]: every decision drawn at random (a uniform wait, a shuffled
//!   order, a failure on about one callback call in [`RANDOM_FAULT_ODDS`]).
//! - [`Strategy::Pct`]: probabilistic concurrency testing (Burckhardt et al., ASPLOS
//!   2010), adapted to the service's decisions. The run keeps its natural schedule
//!   (registration order, no wait, no failure) except at up to `depth - 1` change points drawn
//!   uniformly among the first `horizon` decision points (seed by seed, `seed mod depth`
//!   of them, so shallower bugs are not hidden behind a change too many); at a change
//!   point the decision
//!   goes the other way: the first recipient is visited last, the notification waits as
//!   long as the model lets it, or the call fails. A bug that needs `depth - 1` such
//!   inversions is found by a seed with probability at least `1 / (depth * horizon^(depth-1))`,
//!   however long the run — where random choices drown it in noise.
//!
//! A decision point is one call of [`Choices::order`], [`Choices::defer`],
//! [`Choices::inject`] (every callback call the plan lets through) or [`Choices::pause`]
//! (before each step of a driver while a notification is pending: a scenario's steps, the
//! battery's writes from outside, restarts and the stop), numbered from 1 in the order they are asked. A pause lets deferred
//! notifications fall due before the next step, so where a write from outside, a device
//! change, a restart or a stop falls relative to the extension's own activity varies too.

use faxsim_abi::Callback;
use serde::{Deserialize, Serialize};

use crate::choices::{CallPoint, Choices, WritePoint};
use crate::registry::Recipient;
use crate::seed::{Component, DetRng};

/// Under [`Strategy::Random`], about one callback call in this many fails.
pub const RANDOM_FAULT_ODDS: u64 = 16;

/// How an exploration varies the decisions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Every decision at random.
    Random,
    /// PCT: the natural schedule but for up to `depth - 1` change points among the first
    /// `horizon` decision points.
    Pct {
        /// The bug depth searched for (1: the natural schedule only).
        depth: u32,
        /// How many decision points the change points are drawn from (a natural run's
        /// count: see [`ExploringChoices::points`]).
        horizon: u64,
    },
}

/// An exploration's decisions for one seed (see the module docs).
#[derive(Clone, Debug)]
pub struct ExploringChoices {
    strategy: Strategy,
    rng: DetRng,
    /// Decision points so far.
    points: u64,
    /// The PCT change points, ascending.
    changes: Vec<u64>,
}

impl ExploringChoices {
    /// The decisions of `seed` under `strategy`.
    pub fn new(seed: u64, strategy: Strategy) -> ExploringChoices {
        let mut rng = DetRng::new(seed, Component::Explore);
        let mut changes = Vec::new();
        if let Strategy::Pct { depth, horizon } = strategy {
            // Seed by seed, every depth up to the one asked for: a change point is a
            // failure or a delay, and one too many can hide a shallower bug (a failed
            // GetData leaks nothing).
            let want = (seed % u64::from(depth.max(1))).min(horizon);
            while (changes.len() as u64) < want {
                let p = 1 + rng.below(horizon);
                if !changes.contains(&p) {
                    changes.push(p);
                }
            }
            changes.sort_unstable();
        }
        ExploringChoices {
            strategy,
            rng,
            points: 0,
            changes,
        }
    }

    /// The decision points passed so far (after a natural run: the horizon to give PCT).
    pub fn points(&self) -> u64 {
        self.points
    }

    /// The PCT change points, ascending (empty under `Random`).
    pub fn change_points(&self) -> &[u64] {
        &self.changes
    }

    /// Counts a decision point; whether it is a change point.
    fn change_here(&mut self) -> bool {
        self.points += 1;
        self.changes.binary_search(&self.points).is_ok()
    }

    /// One of the callback's documented codes, drawn at random.
    fn code_for(&mut self, callback: Callback) -> Option<u32> {
        let codes = callback.injectable_anywhere();
        if codes.is_empty() {
            return None;
        }
        Some(codes[self.rng.below(codes.len() as u64) as usize])
    }
}

impl Choices for ExploringChoices {
    fn order(&mut self, _write: &WritePoint<'_>, order: &mut [usize]) {
        let change = self.change_here();
        match self.strategy {
            Strategy::Random => self.rng.shuffle(order),
            Strategy::Pct { .. } if change && !order.is_empty() => order.rotate_left(1),
            Strategy::Pct { .. } => {}
        }
    }

    fn defer(&mut self, _write: &WritePoint<'_>, _recipient: &Recipient, max_wait: u32) -> u64 {
        let change = self.change_here();
        match self.strategy {
            Strategy::Random => self.rng.below(u64::from(max_wait) + 1),
            Strategy::Pct { .. } if change => u64::from(max_wait),
            Strategy::Pct { .. } => 0,
        }
    }

    fn fires(&mut self, _call: &CallPoint, per_million: u32) -> bool {
        // Planned probabilistic faults keep their own odds.
        self.rng.chance_per_million(per_million)
    }

    fn pause(&mut self, _index: u64, max: u32) -> u64 {
        let change = self.change_here();
        match self.strategy {
            Strategy::Random => self.rng.below(u64::from(max) + 1),
            Strategy::Pct { .. } if change => u64::from(max),
            Strategy::Pct { .. } => 0,
        }
    }

    fn inject(&mut self, call: &CallPoint) -> Option<u32> {
        if call.callback == Callback::FreeBuffer {
            return None;
        }
        let change = self.change_here();
        match self.strategy {
            Strategy::Random if self.rng.below(RANDOM_FAULT_ODDS) == 0 => {
                self.code_for(call.callback)
            }
            Strategy::Random => None,
            Strategy::Pct { .. } if change => self.code_for(call.callback),
            Strategy::Pct { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faxsim_trace::ExtId;

    fn call(nth: u64) -> CallPoint {
        CallPoint {
            ext: ExtId(0),
            callback: Callback::GetData,
            nth,
            seq: nth,
        }
    }

    #[test]
    fn pct_departs_from_the_natural_schedule_at_its_change_points_only() {
        for seed in (0..600).filter(|s| s % 3 == 2) {
            let mut c = ExploringChoices::new(
                seed,
                Strategy::Pct {
                    depth: 3,
                    horizon: 10,
                },
            );
            let changes = c.change_points().to_vec();
            assert_eq!(changes.len(), 2, "seed {seed}");
            assert!(changes.iter().all(|&p| (1..=10).contains(&p)));
            let injected: Vec<u64> = (1..=12).filter(|&n| c.inject(&call(n)).is_some()).collect();
            assert_eq!(injected, changes, "seed {seed}");
            assert_eq!(c.points(), 12);
        }
    }

    #[test]
    fn depth_one_is_the_natural_schedule() {
        let mut c = ExploringChoices::new(
            7,
            Strategy::Pct {
                depth: 1,
                horizon: 50,
            },
        );
        assert!((1..=50).all(|n| c.inject(&call(n)).is_none()));
    }

    #[test]
    fn the_same_seed_decides_the_same_way() {
        let run = |seed| {
            let mut c = ExploringChoices::new(seed, Strategy::Random);
            (1..=200).map(|n| c.inject(&call(n))).collect::<Vec<_>>()
        };
        for seed in 0..50 {
            assert_eq!(run(seed), run(seed));
        }
        // About one call in RANDOM_FAULT_ODDS fails.
        let failed: usize = (0..50u64)
            .map(|s| run(s).iter().filter(|c| c.is_some()).count())
            .sum();
        let expected = 50 * 200 / RANDOM_FAULT_ODDS as usize;
        assert!(failed > expected / 2 && failed < expected * 2, "{failed}");
    }
}
