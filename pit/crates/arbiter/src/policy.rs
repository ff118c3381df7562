//! The policies a [`Selector`](crate::Selector) chooses by.

use std::fmt;
use std::str::FromStr;

use crate::error::ArbiterError;

/// How a [`Selector`](crate::Selector) picks one candidate among several.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Policy {
    /// Highest `priority`; ties go to the lowest index.
    Priority = 0,
    /// A cursor cycling through the candidates (through `among` when given).
    RoundRobin = 1,
    /// At random, with probability proportional to `weight`.
    WeightedRandom = 2,
    /// Fewest in flight; ties go to the lower mean latency, then the lowest index.
    LeastLoaded = 3,
    /// Highest smoothed success rate × quality estimate; ties go to the lower
    /// mean cost, then the lowest index.
    QualityFirst = 4,
    /// Upper confidence bound on reward = success × quality; every candidate
    /// never recorded is tried first.
    Ucb1 = 5,
    /// Thompson sampling: a Beta draw of the success rate × quality estimate.
    Thompson = 6,
}

impl Policy {
    pub const ALL: [Policy; 7] = [
        Policy::Priority,
        Policy::RoundRobin,
        Policy::WeightedRandom,
        Policy::LeastLoaded,
        Policy::QualityFirst,
        Policy::Ucb1,
        Policy::Thompson,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Policy::Priority => "priority",
            Policy::RoundRobin => "round_robin",
            Policy::WeightedRandom => "weighted_random",
            Policy::LeastLoaded => "least_loaded",
            Policy::QualityFirst => "quality_first",
            Policy::Ucb1 => "ucb1",
            Policy::Thompson => "thompson",
        }
    }
}

impl FromStr for Policy {
    type Err = ArbiterError;

    fn from_str(s: &str) -> Result<Policy, ArbiterError> {
        Policy::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| ArbiterError::InvalidPolicy(s.to_owned()))
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
