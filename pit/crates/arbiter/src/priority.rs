//! Request priorities and the kinds of resource conflict the scheduler arbitrates.

use std::fmt;
use std::str::FromStr;

use crate::error::ArbiterError;

/// How urgent a request is. A waiting request rises one level per aging
/// interval, up to [`Priority::Critical`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Priority {
    Background = 0,
    Low = 1,
    Normal = 2,
    High = 3,
    Critical = 4,
}

impl Priority {
    pub const ALL: [Priority; 5] = [
        Priority::Background,
        Priority::Low,
        Priority::Normal,
        Priority::High,
        Priority::Critical,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Priority::Background => "background",
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Critical => "critical",
        }
    }

    pub fn level(self) -> u8 {
        self as u8
    }

    /// `self` raised by `levels`, capped at [`Priority::Critical`].
    pub fn raised(self, levels: u64) -> Priority {
        let level = (self as u64).saturating_add(levels).min(Priority::Critical as u64);
        Priority::ALL[level as usize]
    }
}

impl FromStr for Priority {
    type Err = ArbiterError;

    fn from_str(s: &str) -> Result<Priority, ArbiterError> {
        Priority::ALL.into_iter().find(|p| p.name() == s).ok_or_else(|| {
            ArbiterError::InvalidArgument(format!(
                "unknown priority '{s}'; expected one of: critical, high, normal, low, background"
            ))
        })
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What kind of contention a resource stands for. All but [`Conflict::CostLimit`]
/// are capacities given back on release; a cost limit is a budget that grants spend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Conflict {
    /// Slots of a model (or any exclusive worker) shared by several requesters.
    ModelContention = 0,
    /// Bytes (or any unit) of memory.
    MemoryPressure = 1,
    /// Cores or CPU shares.
    CpuSaturation = 2,
    /// A budget: what is granted is spent and not returned.
    CostLimit = 3,
}

impl Conflict {
    pub const ALL: [Conflict; 4] = [
        Conflict::ModelContention,
        Conflict::MemoryPressure,
        Conflict::CpuSaturation,
        Conflict::CostLimit,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Conflict::ModelContention => "model_contention",
            Conflict::MemoryPressure => "memory_pressure",
            Conflict::CpuSaturation => "cpu_saturation",
            Conflict::CostLimit => "cost_limit",
        }
    }

    /// The name for a sentence: "model contention".
    pub fn describe(self) -> &'static str {
        match self {
            Conflict::ModelContention => "model contention",
            Conflict::MemoryPressure => "memory pressure",
            Conflict::CpuSaturation => "cpu saturation",
            Conflict::CostLimit => "cost limit",
        }
    }

    /// Whether a release gives the granted amount back.
    pub fn returns_on_release(self) -> bool {
        self != Conflict::CostLimit
    }
}

impl FromStr for Conflict {
    type Err = ArbiterError;

    fn from_str(s: &str) -> Result<Conflict, ArbiterError> {
        Conflict::ALL.into_iter().find(|c| c.name() == s).ok_or_else(|| {
            ArbiterError::InvalidArgument(format!(
                "unknown conflict '{s}'; expected one of: model_contention, memory_pressure, cpu_saturation, cost_limit"
            ))
        })
    }
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
