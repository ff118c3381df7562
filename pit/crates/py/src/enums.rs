//! The Pit's enums as Python `enum.StrEnum` classes, built at import from the
//! Rust enums themselves: their members have one source, and Python code
//! compares them with plain strings as before.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

fn str_enum(m: &Bound<'_, PyModule>, name: &str, doc: &str, values: &[&'static str]) -> PyResult<()> {
    let py = m.py();
    let members = PyList::empty(py);
    for v in values {
        members.append((v.to_uppercase(), *v))?;
    }
    let kwargs = PyDict::new(py);
    kwargs.set_item("module", m.name()?)?;
    kwargs.set_item("qualname", name)?;
    let class = py
        .import("enum")?
        .getattr("StrEnum")?
        .call((name, members), Some(&kwargs))?;
    class.setattr("__doc__", doc)?;
    m.add(name, class)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    use pit_arbiter::{Conflict, Policy, Priority, Verdict};
    use pit_pool::{Eviction, Health, InstanceState, Reason};

    str_enum(
        m,
        "TaskState",
        "Where a DagTracker task is: pending, ready, running, then done, failed, skipped or cancelled.",
        &pit_dag::TaskState::ALL.map(|s| s.name()),
    )?;
    str_enum(
        m,
        "InstanceState",
        "Where a pool instance is in its life: cold, warming, idle, busy, cooling, failed.",
        &InstanceState::ALL.map(|s| s.name()),
    )?;
    str_enum(
        m,
        "Reason",
        "Why an instance changed state.",
        &Reason::ALL.map(|r| r.name()),
    )?;
    str_enum(
        m,
        "Health",
        "What the last health check said of an instance.",
        &Health::ALL.map(|h| h.name()),
    )?;
    str_enum(
        m,
        "Eviction",
        "Which idle instance a full pool cools first.",
        &Eviction::ALL.map(|e| e.name()),
    )?;
    str_enum(
        m,
        "ArbiterPolicy",
        "How an Arbiter chooses among candidates.",
        &Policy::ALL.map(|p| p.name()),
    )?;
    // Most urgent first, as people list them.
    let mut priorities = Priority::ALL.map(|p| p.name());
    priorities.reverse();
    str_enum(
        m,
        "Priority",
        "How urgent a request is; a waiting one rises a level per aging interval.",
        &priorities,
    )?;
    str_enum(
        m,
        "Conflict",
        "What kind of contention a resource stands for.",
        &Conflict::ALL.map(|c| c.name()),
    )?;
    str_enum(
        m,
        "Verdict",
        "What was decided about a request.",
        &Verdict::ALL.map(|v| v.name()),
    )
}
