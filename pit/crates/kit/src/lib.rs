//! pit-kit: the core of Orchestra Kit, the extension package manager.
//!
//! - [`requirement`]: version requirements as Cargo writes them, as PubGrub sets;
//! - [`resolve`]: PubGrub resolution over a registry's index, with explanations;
//! - [`sign`]: Ed25519 signatures in minisign's file format.

pub mod requirement;
pub mod resolve;
pub mod sign;

use std::fmt;

pub use requirement::Requirement;
pub use resolve::Index;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KitError {
    /// A version or a requirement that does not parse.
    Requirement(String),
    /// No set of versions satisfies the request; the text says why.
    Unsolvable(String),
    /// A signature or key that is malformed or does not verify.
    Signature(String),
    /// Signed by a key other than the one given.
    UnknownKey(String),
}

impl fmt::Display for KitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Requirement(m) | Self::Unsolvable(m) | Self::Signature(m) | Self::UnknownKey(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for KitError {}
