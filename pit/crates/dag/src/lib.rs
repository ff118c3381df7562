//! The Pit's DAG tracker: tasks with user keys, costs and payloads; edges kept
//! acyclic as they arrive (a dynamic topological order, so adding an edge to a
//! live DAG of millions of tasks does not cost O(V+E)); task states with a FIFO
//! ready set; queries; and a versioned, checksummed binary checkpoint.
//!
//! Plain Rust on top of `petgraph`; the Python binding lives in `pit-py`.

mod bulk;
mod checkpoint;
mod error;
mod key;
mod layout;
mod order;
mod query;
mod state;
mod tracker;

pub use checkpoint::{CHECKPOINT_VERSION, write_atomic};
pub use error::{DagError, Result};
pub use key::{Key, KeyRef};
pub use layout::{Layout, layered};
pub use state::{FailPolicy, TaskState};
pub use tracker::{DagTracker, KeyBatch};
