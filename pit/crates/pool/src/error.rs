use std::fmt;

/// Everything the pool refuses, each naming what was wrong.
#[derive(Debug, Clone, PartialEq)]
pub enum PoolError {
    /// No function is registered under this name.
    UnknownFunction(String),
    /// A function with this name is already registered.
    DuplicateFunction(String),
    /// A spec or config field is out of range; names the field and the value.
    InvalidSpec(String),
    /// The lease was already released, belongs to another pool, or never existed.
    InvalidLease(String),
    /// No instance became available before the deadline.
    Timeout { function: String, waited: f64 },
    /// The pool is shutting down or shut down.
    Closed,
    /// `shutdown` gave up waiting for leases to come back.
    ShutdownTimeout { leased: u32, waited: f64 },
    /// The instance id is not one of this pool's.
    UnknownInstance(u32),
    /// The operation needs a virtual clock (advancing time) or a wall one.
    Clock(String),
    /// A leased instance failed before it could be used.
    InstanceFailed(String),
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolError::UnknownFunction(name) => write!(f, "unknown function '{name}': register it first"),
            PoolError::DuplicateFunction(name) => write!(f, "function '{name}' is already registered"),
            PoolError::InvalidSpec(msg) => f.write_str(msg),
            PoolError::InvalidLease(msg) => f.write_str(msg),
            PoolError::Timeout { function, waited } => {
                write!(f, "no instance of '{function}' became available within {waited:.3} s")
            }
            PoolError::Closed => f.write_str("the pool is shut down"),
            PoolError::ShutdownTimeout { leased, waited } => {
                write!(f, "shutdown waited {waited:.3} s and {leased} lease(s) are still out")
            }
            PoolError::UnknownInstance(id) => write!(f, "no instance with id {id}"),
            PoolError::Clock(msg) | PoolError::InstanceFailed(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for PoolError {}
