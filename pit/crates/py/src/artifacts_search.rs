//! `ArtifactStore.search`: full-text search over the store's text artifacts
//! and metadata, the interpreter released while the index catches up with
//! the journal and the query runs.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::artifact_to_py;

#[pymethods]
impl crate::artifacts::PyArtifactStore {
    /// The artifacts matching ``query``, best first, at most ``limit``; only
    /// those of ``kind`` when given. The query (tantivy's syntax) searches
    /// names, text (of text artifacts: the first MiB), tags, producer and
    /// kind: words (any may match; ``+word`` must, ``-word`` must not),
    /// ``"a phrase"``, ``field:word``, ``prefix*``. Each hit is a dict:
    /// ``{"hash", "score", "kind", "media_type", "names"}``. A query that
    /// does not parse, or ``limit`` 0, raises ``ValueError``.
    #[pyo3(signature = (query, *, kind = None, limit = 10))]
    fn search<'py>(
        &self,
        py: Python<'py>,
        query: &str,
        kind: Option<&str>,
        limit: usize,
    ) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let hits = py
            .detach(|| self.store.search(query, kind, limit))
            .map_err(|e| artifact_to_py(py, e))?;
        hits.into_iter()
            .map(|h| {
                let d = PyDict::new(py);
                d.set_item("hash", h.hash.to_hex())?;
                d.set_item("score", h.score)?;
                d.set_item("kind", h.kind)?;
                d.set_item("media_type", h.media_type)?;
                d.set_item("names", h.names)?;
                Ok(d)
            })
            .collect()
    }
}
