/// Where an instance is in its life: cold → warming → hot (idle | busy) →
/// cooling → cold, and failed → cold from warming, hot or cooling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum InstanceState {
    Cold = 0,
    Warming = 1,
    Idle = 2,
    Busy = 3,
    Cooling = 4,
    Failed = 5,
}

impl InstanceState {
    pub const ALL: [InstanceState; 6] = [
        InstanceState::Cold,
        InstanceState::Warming,
        InstanceState::Idle,
        InstanceState::Busy,
        InstanceState::Cooling,
        InstanceState::Failed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            InstanceState::Cold => "cold",
            InstanceState::Warming => "warming",
            InstanceState::Idle => "idle",
            InstanceState::Busy => "busy",
            InstanceState::Cooling => "cooling",
            InstanceState::Failed => "failed",
        }
    }

    /// Holds memory: everything but cold.
    pub fn is_alive(self) -> bool {
        !matches!(self, InstanceState::Cold)
    }
}

/// Why a transition happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Reason {
    UserRequest = 0,
    IdleTimeout = 1,
    HealthCheckFailure = 2,
    ResourcePressure = 3,
    PredictivePrewarm = 4,
    ScheduledCooldown = 5,
    ErrorRecovery = 6,
}

impl Reason {
    pub const ALL: [Reason; 7] = [
        Reason::UserRequest,
        Reason::IdleTimeout,
        Reason::HealthCheckFailure,
        Reason::ResourcePressure,
        Reason::PredictivePrewarm,
        Reason::ScheduledCooldown,
        Reason::ErrorRecovery,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Reason::UserRequest => "user_request",
            Reason::IdleTimeout => "idle_timeout",
            Reason::HealthCheckFailure => "health_check_failure",
            Reason::ResourcePressure => "resource_pressure",
            Reason::PredictivePrewarm => "predictive_prewarm",
            Reason::ScheduledCooldown => "scheduled_cooldown",
            Reason::ErrorRecovery => "error_recovery",
        }
    }
}

/// What the last health check said of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum Health {
    #[default]
    Unknown = 0,
    Healthy = 1,
    Degraded = 2,
    Unhealthy = 3,
}

impl Health {
    pub const ALL: [Health; 4] = [Health::Unknown, Health::Healthy, Health::Degraded, Health::Unhealthy];

    pub fn name(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Healthy => "healthy",
            Health::Degraded => "degraded",
            Health::Unhealthy => "unhealthy",
        }
    }
}

/// One lifecycle transition. Idle ↔ busy flips are not events (they are the
/// hot path, counted as hits); every other change of state is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event {
    /// Position in the pool's whole history, from 0.
    pub seq: u64,
    pub time: f64,
    pub function: u32,
    pub instance: u32,
    pub from: InstanceState,
    pub to: InstanceState,
    pub reason: Reason,
}
