//! `symphony_lab._pit`: the Python face of the Pit. Thin on purpose: convert
//! types, map errors to the classes of `symphony_lab.errors`, and release the
//! GIL while Rust works.

mod convert;
mod dag;
mod errors;

use pyo3::prelude::*;

#[pymodule]
fn _pit(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<dag::PyDagTracker>()?;
    m.add("CHECKPOINT_VERSION", pit_dag::CHECKPOINT_VERSION)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
