//! The Pit's stale manager: keeps an artifact store within its limits
//! without ever losing what must be kept.
//!
//! A run is mark and sweep. It marks everything reachable (through lineage)
//! from a ref version, a pin, a root a live DAG supplies, a kept tag or
//! training data; those stay, whatever else the policy says. Every other
//! artifact is weighed against the limits (age, reads, quality, total size
//! by a value score) and kept, archived or deleted, each with the rule that
//! decided it. [`StaleManager::plan`] is the dry run; [`StaleManager::run`]
//! archives first, then removes; [`StaleManager::restore`] brings an
//! archived artifact back; [`Periodic`] runs it on a thread.

mod archive;
mod manager;
mod plan;
mod policy;

use std::fmt;

pub use archive::{Archive, DirArchive, info_from_json, info_to_json};
pub use manager::{Periodic, Report, Roots, StaleManager};
pub use plan::{Decision, Plan, Rule, Verdict, plan};
pub use policy::{Action, Policy, Weights};

#[derive(Debug)]
pub enum StaleError {
    /// The store failed.
    Store(pit_artifacts::ArtifactError),
    /// A setting that cannot mean anything.
    Policy(String),
    /// The archive could not be written or read.
    Archive(String),
    /// Restore of something the archive does not hold.
    NotArchived(String),
    /// Roots could not be had from their source.
    Roots(String),
}

pub type Result<T> = std::result::Result<T, StaleError>;

impl fmt::Display for StaleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StaleError::Store(e) => e.fmt(f),
            StaleError::Policy(why) => write!(f, "stale policy: {why}"),
            StaleError::Archive(why) => write!(f, "archive: {why}"),
            StaleError::NotArchived(why) => write!(f, "cannot restore: {why}"),
            StaleError::Roots(why) => write!(f, "DAG roots: {why}"),
        }
    }
}

impl std::error::Error for StaleError {}

impl From<pit_artifacts::ArtifactError> for StaleError {
    fn from(e: pit_artifacts::ArtifactError) -> Self {
        StaleError::Store(e)
    }
}
