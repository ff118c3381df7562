//! Errors of the DAG tracker; each message names the task, edge or byte at fault.

use std::fmt;

use crate::key::Key;
use crate::state::TaskState;

#[derive(Clone, Debug, PartialEq)]
pub enum DagError {
    /// The edge(s) would close a cycle; `path` starts and ends at the same task.
    Cycle {
        path: Vec<Key>,
    },
    UnknownTask(Key),
    DuplicateTask(Key),
    /// `action` is not allowed from the task's state.
    State {
        task: Key,
        from: TaskState,
        to: TaskState,
        action: &'static str,
    },
    /// A new dependency on a task that has already started.
    EdgeState {
        src: Key,
        dst: Key,
        dst_state: TaskState,
    },
    Checkpoint(String),
    Invalid(String),
}

pub type Result<T, E = DagError> = std::result::Result<T, E>;

impl fmt::Display for DagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DagError::Cycle { path } => {
                f.write_str("edge would create a cycle: ")?;
                for (i, k) in path.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" -> ")?;
                    }
                    write!(f, "{k}")?;
                }
                Ok(())
            }
            DagError::UnknownTask(k) => write!(f, "unknown task {k}"),
            DagError::DuplicateTask(k) => write!(f, "task {k} already exists"),
            DagError::State { task, from, to, action } => {
                write!(f, "task {task}: {action}() cannot move it from {from} to {to}")
            }
            DagError::EdgeState { src, dst, dst_state } => write!(
                f,
                "cannot add edge {src} -> {dst}: task {dst} is already {dst_state} and {src} is not done"
            ),
            DagError::Checkpoint(m) => write!(f, "bad checkpoint: {m}"),
            DagError::Invalid(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for DagError {}
