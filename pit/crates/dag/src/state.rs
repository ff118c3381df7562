//! Task states and failure policies.

use std::fmt;

/// Where a task is in its life.
///
/// ```text
/// pending ──(all predecessors done)──► ready ──start──► running ──► done
///    ▲                                   │                 └──────► failed ──retry──► ready | pending
///    └──────(a new unfinished predecessor)┘
/// pending | ready | running ──cancel──► cancelled ──retry──► ready | pending
/// pending ──(an ancestor failed with policy skip, or was cancelled)──► skipped
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum TaskState {
    Pending = 0,
    Ready = 1,
    Running = 2,
    Done = 3,
    Failed = 4,
    Skipped = 5,
    Cancelled = 6,
}

impl TaskState {
    pub const ALL: [TaskState; 7] = [
        TaskState::Pending,
        TaskState::Ready,
        TaskState::Running,
        TaskState::Done,
        TaskState::Failed,
        TaskState::Skipped,
        TaskState::Cancelled,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TaskState::Pending => "pending",
            TaskState::Ready => "ready",
            TaskState::Running => "running",
            TaskState::Done => "done",
            TaskState::Failed => "failed",
            TaskState::Skipped => "skipped",
            TaskState::Cancelled => "cancelled",
        }
    }

    pub fn from_u8(v: u8) -> Option<TaskState> {
        TaskState::ALL.get(usize::from(v)).copied()
    }

    pub fn from_name(name: &str) -> Option<TaskState> {
        TaskState::ALL.into_iter().find(|s| s.name() == name)
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a failure does to the tasks that depend on the failed one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum FailPolicy {
    /// Descendants stay pending until the failed task is retried and done.
    Block = 0,
    /// Descendants become skipped; a retry brings them back to pending.
    Skip = 1,
}

impl FailPolicy {
    pub fn from_name(name: &str) -> Option<FailPolicy> {
        match name {
            "block" => Some(FailPolicy::Block),
            "skip" => Some(FailPolicy::Skip),
            _ => None,
        }
    }

    pub fn from_u8(v: u8) -> Option<FailPolicy> {
        match v {
            0 => Some(FailPolicy::Block),
            1 => Some(FailPolicy::Skip),
            _ => None,
        }
    }
}
