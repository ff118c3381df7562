//! `symphony_lab.pit._pit`: the compiled face of the Pit. Thin on purpose: convert
//! types, map errors to the classes of `symphony_lab.pit.errors`, and release the
//! GIL while Rust works.

mod arbiter;
mod artifacts;
mod artifacts_search;
mod artifacts_stream;
mod bus;
mod bus_msgpack;
mod convert;
mod dag;
mod enums;
mod errors;
mod kit;
mod pool;
mod quest;
mod stale;
mod vdom;

use pyo3::prelude::*;

// Small allocations are the Pit's hot path (virtual DOM nodes, DAG payloads,
// index rows): mimalloc serves them faster than glibc malloc, as polars
// and pydantic-core do too.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[pymodule]
fn _pit(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<dag::PyDagTracker>()?;
    m.add_class::<pool::PyPool>()?;
    m.add_class::<pool::PyLease>()?;
    m.add_class::<artifacts::PyArtifactStore>()?;
    m.add_class::<artifacts_stream::PyArtifactBuffer>()?;
    m.add_class::<arbiter::PyArbiter>()?;
    m.add_class::<arbiter::PyResourceLock>()?;
    m.add_class::<quest::PyQuestEpisode>()?;
    m.add_class::<stale::PyStaleManager>()?;
    m.add_class::<stale::PyPlan>()?;
    m.add_class::<vdom::PyVNode>()?;
    m.add_class::<vdom::PyVdomRoot>()?;
    m.add_class::<bus::PyBusListener>()?;
    m.add_class::<bus::PyBusConnection>()?;
    m.add_class::<bus::PyBusEndpoint>()?;
    m.add_function(wrap_pyfunction!(bus::encode_frame, m)?)?;
    m.add_function(wrap_pyfunction!(bus::decode_frame, m)?)?;
    m.add_function(wrap_pyfunction!(bus::spawn_process, m)?)?;
    m.add_function(wrap_pyfunction!(bus::network_isolation, m)?)?;
    m.add_function(wrap_pyfunction!(bus::sandbox_support, m)?)?;
    m.add_function(wrap_pyfunction!(bus::deny_exec, m)?)?;
    m.add("BUS_PROTOCOL", pit_bus::PROTOCOL_VERSION)?;
    m.add_function(wrap_pyfunction!(quest::quest_solve, m)?)?;
    m.add_function(wrap_pyfunction!(vdom::h, m)?)?;
    m.add_function(wrap_pyfunction!(quest::quest_expected, m)?)?;
    m.add_function(wrap_pyfunction!(quest::quest_h_add, m)?)?;
    m.add_class::<kit::PyPackageIndex>()?;
    for f in [
        wrap_pyfunction!(kit::kit_matches, m)?,
        wrap_pyfunction!(kit::kit_check_requirement, m)?,
        wrap_pyfunction!(kit::kit_sort_versions, m)?,
        wrap_pyfunction!(kit::kit_keygen, m)?,
        wrap_pyfunction!(kit::kit_sign, m)?,
        wrap_pyfunction!(kit::kit_verify, m)?,
        wrap_pyfunction!(kit::kit_signer, m)?,
        wrap_pyfunction!(kit::kit_key_id, m)?,
    ] {
        m.add_function(f)?;
    }
    m.add("CHECKPOINT_VERSION", pit_dag::CHECKPOINT_VERSION)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    enums::register(m)?;
    Ok(())
}
