use std::str::FromStr;

use crate::PoolError;

/// How a function's instances behave: how many may exist, what they cost to
/// start and hold, and when an unused one is cooled.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionSpec {
    /// Most instances of this function alive at once (warming, hot or cooling).
    pub max_instances: u32,
    /// Seconds from cold to hot.
    pub warmup: f64,
    /// Seconds from the start of cooling to cold; memory stays held meanwhile.
    pub cooldown: f64,
    /// Memory one instance holds while not cold, in the budget's unit (bytes by convention).
    pub memory: u64,
    /// Seconds an idle hot instance waits before it is cooled.
    pub idle_timeout: f64,
}

impl Default for FunctionSpec {
    fn default() -> Self {
        FunctionSpec {
            max_instances: 1,
            warmup: 0.0,
            cooldown: 0.0,
            memory: 0,
            idle_timeout: 300.0,
        }
    }
}

impl FunctionSpec {
    pub(crate) fn check(&self, name: &str) -> Result<(), PoolError> {
        let bad = |field: &str, value: f64| {
            Err(PoolError::InvalidSpec(format!(
                "function '{name}': {field} must be finite and >= 0, got {value}"
            )))
        };
        if self.max_instances == 0 {
            return Err(PoolError::InvalidSpec(format!(
                "function '{name}': max_instances must be >= 1, got 0"
            )));
        }
        for (field, value) in [
            ("warmup", self.warmup),
            ("cooldown", self.cooldown),
            ("idle_timeout", self.idle_timeout),
        ] {
            let never = field == "idle_timeout" && value == f64::INFINITY;
            if !(value.is_finite() && value >= 0.0 || never) {
                return bad(field, value);
            }
        }
        Ok(())
    }
}

/// Which idle instances go first when memory is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Eviction {
    /// Least recently released first.
    #[default]
    Lru,
    /// Fewest uses first, then least recently released.
    Lfu,
    /// Largest memory first, then least recently released.
    Largest,
}

impl Eviction {
    pub const ALL: [Eviction; 3] = [Eviction::Lru, Eviction::Lfu, Eviction::Largest];

    pub fn name(self) -> &'static str {
        match self {
            Eviction::Lru => "lru",
            Eviction::Lfu => "lfu",
            Eviction::Largest => "largest",
        }
    }
}

impl FromStr for Eviction {
    type Err = PoolError;
    fn from_str(s: &str) -> Result<Self, PoolError> {
        Eviction::ALL.into_iter().find(|e| e.name() == s).ok_or_else(|| {
            PoolError::InvalidSpec(format!(
                "unknown eviction policy '{s}'; expected one of: lru, lfu, largest"
            ))
        })
    }
}

/// Pool-wide settings.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolConfig {
    /// Memory all non-cold instances may hold together.
    pub memory_budget: u64,
    pub eviction: Eviction,
    /// Events kept for `events()`; older ones are dropped (they stay counted).
    pub event_capacity: usize,
    /// Time constant of the usage-rate EWMA, in seconds.
    pub rate_tau: f64,
    /// Prewarm a function when at least `prewarm_threshold` uses are expected
    /// within this many seconds.
    pub prewarm_horizon: f64,
    pub prewarm_threshold: f64,
    /// Keep instances that prediction says will be needed past their idle timeout.
    pub predictive: bool,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            memory_budget: u64::MAX,
            eviction: Eviction::Lru,
            event_capacity: 10_000,
            rate_tau: 60.0,
            prewarm_horizon: 30.0,
            prewarm_threshold: 1.0,
            predictive: false,
        }
    }
}

impl PoolConfig {
    pub(crate) fn check(&self) -> Result<(), PoolError> {
        for (field, value) in [
            ("rate_tau", self.rate_tau),
            ("prewarm_horizon", self.prewarm_horizon),
            ("prewarm_threshold", self.prewarm_threshold),
        ] {
            if !(value.is_finite() && value > 0.0) {
                return Err(PoolError::InvalidSpec(format!(
                    "{field} must be finite and > 0, got {value}"
                )));
            }
        }
        Ok(())
    }
}
