//! Everything that can go wrong on the bus, each variant naming what and where.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusError {
    /// The peer announced a frame longer than the limit; nothing was allocated.
    Oversized {
        length: usize,
        limit: usize,
    },
    /// The stream ended inside a frame.
    Truncated {
        expected: usize,
        got: usize,
    },
    /// The bytes of a frame are not the frame layout.
    Malformed(String),
    /// The handshake found protocol versions whose major numbers differ.
    Incompatible {
        ours: String,
        theirs: String,
    },
    /// No answer before the deadline.
    Timeout {
        what: String,
        after_ms: u64,
    },
    /// The connection is gone: the peer hung up, or the host closed it (the reason says which).
    Closed(String),
    /// The call was cancelled (or answered and collected) before this wait.
    Cancelled(u64),
    /// The extension answered with an error frame (payload still msgpack).
    Remote(Vec<u8>),
    Io(String),
}

impl fmt::Display for BusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Oversized { length, limit } => {
                write!(f, "frame of {length} bytes exceeds the limit of {limit} bytes")
            }
            Self::Truncated { expected, got } => {
                write!(
                    f,
                    "truncated frame: expected {expected} bytes, the stream ended after {got}"
                )
            }
            Self::Malformed(why) => write!(f, "malformed frame: {why}"),
            Self::Incompatible { ours, theirs } => write!(
                f,
                "incompatible bus protocol: host speaks {ours}, extension speaks {theirs} (major versions must match)"
            ),
            Self::Timeout { what, after_ms } => write!(f, "{what}: no answer after {after_ms} ms"),
            Self::Closed(why) => write!(f, "bus connection closed: {why}"),
            Self::Cancelled(id) => write!(f, "call {id} was cancelled, or its answer was already taken"),
            Self::Remote(_) => write!(f, "the extension answered with an error"),
            Self::Io(e) => write!(f, "bus I/O error: {e}"),
        }
    }
}

impl std::error::Error for BusError {}

impl From<std::io::Error> for BusError {
    fn from(e: std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset => Self::Closed(e.to_string()),
            _ => Self::Io(e.to_string()),
        }
    }
}

pub type Result<T> = std::result::Result<T, BusError>;
