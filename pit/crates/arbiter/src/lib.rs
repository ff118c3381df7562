//! The Pit's arbitration engine: who runs what.
//!
//! Three independent parts, each deterministic and free of clocks, threads
//! and global state (the Python binding in `pit-py` adds blocking on top;
//! here time is always the caller's `now` in seconds):
//!
//! - [`Selector`]: choice among alternatives (models, tools, workers) by a
//!   [`Policy`], from fixed priorities to Thompson sampling, learning from
//!   recorded [`Outcome`]s.
//! - [`Scheduler`]: admission of [`Request`]s for shared resources, with
//!   priorities that age, weighted fair sharing across requesters (deficit
//!   round robin) and a [`Decision`] that explains itself.
//! - [`LockTable`]: readers–writer locks on named resources, granted a whole
//!   set at a time in FIFO order, so neither deadlock nor writer starvation.

mod error;
mod fairness;
mod locks;
mod policy;
mod priority;
mod rationale;
mod sampling;
mod scheduler;
mod selector;

pub use error::{ArbiterError, Result};
pub use fairness::gini;
pub use locks::{LockId, LockTable, Mode};
pub use policy::Policy;
pub use priority::{Conflict, Priority};
pub use scheduler::{Decision, Request, RequesterStats, ResourceId, Scheduler, SchedulerStats, Verdict};
pub use selector::{CandidateSpec, CandidateStats, Outcome, Selector};
