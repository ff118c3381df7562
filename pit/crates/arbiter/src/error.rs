//! Errors of the arbiter; each message names the policy, candidate, resource,
//! request or argument at fault.

use std::fmt;

use crate::policy::Policy;

#[derive(Clone, Debug, PartialEq)]
pub enum ArbiterError {
    /// A policy name that is not one of [`Policy::ALL`].
    InvalidPolicy(String),
    DuplicateCandidate(String),
    /// A candidate index (or, from a binding, a name) the selector does not know;
    /// the string says which and, for an index, how many candidates there are.
    UnknownCandidate(String),
    /// A choice was asked of an empty selector or an empty `among`.
    NoCandidates,
    UnknownResource(String),
    DuplicateResource(String),
    /// A scheduler request id that was never issued, was denied, or is already
    /// released or cancelled.
    UnknownRequest(u64),
    /// A lock request id that was never issued, is already released or
    /// cancelled, or (for a release) is still waiting.
    UnknownLock(u64),
    InvalidArgument(String),
}

pub type Result<T, E = ArbiterError> = std::result::Result<T, E>;

impl fmt::Display for ArbiterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArbiterError::InvalidPolicy(name) => {
                write!(f, "unknown policy '{name}'; expected one of: ")?;
                for (i, p) in Policy::ALL.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(p.name())?;
                }
                Ok(())
            }
            ArbiterError::DuplicateCandidate(name) => write!(f, "candidate '{name}' already exists"),
            ArbiterError::UnknownCandidate(what) => write!(f, "unknown candidate {what}"),
            ArbiterError::NoCandidates => f.write_str("no candidates to choose from"),
            ArbiterError::UnknownResource(name) => write!(f, "unknown resource '{name}'"),
            ArbiterError::DuplicateResource(name) => write!(f, "resource '{name}' already exists"),
            ArbiterError::UnknownRequest(id) => {
                write!(
                    f,
                    "unknown request {id} (never submitted, denied, or already released or cancelled)"
                )
            }
            ArbiterError::UnknownLock(id) => {
                write!(
                    f,
                    "lock request {id} is unknown, already released or cancelled, or still waiting (only a granted one can be released)"
                )
            }
            ArbiterError::InvalidArgument(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ArbiterError {}
