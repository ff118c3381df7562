//! pit-bus: the Stage's IPC bus.
//!
//! One Unix domain socket per extension. Frames are a `u32` little-endian
//! length and a msgpack body `[[type, id, priority, deadline_ms], payload,
//! metadata]`; see [`frame`]. The host side ([`Conn`]) pipelines calls by
//! correlation id; the extension side ([`Endpoint`]) queues requests by
//! priority and answers heartbeats while its handlers run. [`spawn`] starts an
//! extension process in its own process group, with rlimits, a parent-death
//! signal and, where the kernel allows, no network.

pub mod conn;
pub mod endpoint;
pub mod error;
pub mod frame;
pub mod msgpack;
pub mod sandbox;
pub mod spawn;

pub use conn::{Conn, Outgoing};
pub use endpoint::{Endpoint, Work};
pub use error::{BusError, Result};
pub use frame::{DEFAULT_MAX_FRAME, Frame, FrameReader, Header, Kind, PROTOCOL_VERSION};
