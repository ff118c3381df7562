//! The Pit's pool manager: keeps function instances (models, tools, extension
//! processes) warm or cold within a memory budget.
//!
//! The core ([`Pool`]) is a state machine over seconds given by the caller,
//! so the same code runs real work on the wall clock and Function Quest on a
//! virtual [`Clock`] that a simulator advances without sleeping.

mod clock;
mod error;
mod list;
mod pool;
mod predict;
mod spec;
mod state;

pub use clock::Clock;
pub use error::PoolError;
pub use pool::{FunctionStats, Grant, Lease, Pool, PoolStats, Ticket};
pub use spec::{Eviction, FunctionSpec, PoolConfig};
pub use state::{Event, Health, InstanceState, Reason};
