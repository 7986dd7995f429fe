//! What an exploration runs: which seeds (a range, or as many as a time budget allows;
//! one shard of them), and which strategy.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One of `total` deterministic parts of the seed space (`--shard I/N`, 1-based): the
/// seeds `s` with `s mod N == I - 1`. The N shards together run every seed exactly once,
/// whatever the range, so a CI matrix of N jobs splits one exploration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Shard {
    /// 1-based.
    pub index: u64,
    /// How many shards.
    pub total: u64,
}

impl Shard {
    /// Whether `seed` is this shard's.
    pub fn contains(&self, seed: u64) -> bool {
        seed % self.total == self.index - 1
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.total)
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("{s:?}: a shard is I/N, with 1 <= I <= N (such as 2/4)");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u64 = i.trim().parse().map_err(|_| bad())?;
        let total: u64 = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || total == 0 || index > total {
            return Err(bad());
        }
        Ok(Shard { index, total })
    }
}

impl Serialize for Shard {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Shard {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Shard, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// `--policy` with its parameters; PCT's horizon is measured when not given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StrategyPlan {
    /// Every decision at random.
    Random,
    /// PCT with this bug depth; the horizon, when given.
    Pct {
        /// The bug depth.
        depth: u32,
        /// Decision points the change points are drawn from.
        horizon: Option<u64>,
    },
}

impl StrategyPlan {
    /// `random` or `pct`.
    pub fn name(self) -> &'static str {
        match self {
            StrategyPlan::Random => "random",
            StrategyPlan::Pct { .. } => "pct",
        }
    }
}

/// The seeds of an exploration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The first seed.
    pub first: u64,
    /// How many seeds (`None`: until the time budget runs out, or the seed space ends).
    pub count: Option<u64>,
    /// This run's part of them.
    pub shard: Option<Shard>,
}

impl Plan {
    /// The seeds this run explores, in order.
    pub fn seeds(&self) -> impl Iterator<Item = u64> + use<> {
        let end = match self.count {
            Some(n) => self.first.saturating_add(n),
            None => u64::MAX,
        };
        let shard = self.shard;
        (self.first..end).filter(move |&s| shard.is_none_or(|sh| sh.contains(s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_every_seed_exactly_once() {
        let whole: Vec<u64> = Plan {
            first: 5,
            count: Some(103),
            shard: None,
        }
        .seeds()
        .collect();
        for n in 1..=6 {
            let mut all: Vec<u64> = (1..=n)
                .flat_map(|i| {
                    Plan {
                        first: 5,
                        count: Some(103),
                        shard: Some(Shard { index: i, total: n }),
                    }
                    .seeds()
                })
                .collect();
            all.sort_unstable();
            assert_eq!(all, whole, "{n} shards");
        }
    }

    #[test]
    fn a_shard_reads_and_prints_as_i_of_n() {
        let s: Shard = "2/4".parse().unwrap();
        assert_eq!(s, Shard { index: 2, total: 4 });
        assert_eq!(s.to_string(), "2/4");
        for bad in ["0/4", "5/4", "2", "a/b", "1/0", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, "\"2/4\"");
        assert_eq!(serde_json::from_str::<Shard>(&json).unwrap(), s);
    }
}
