//! Orchestra Kit's core for Python: requirements, the PubGrub resolver over a
//! registry's index (solved detached from the interpreter), and minisign
//! signatures.

use std::collections::BTreeMap;

use pit_kit::{Index, KitError, Requirement, sign};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

static REQUIREMENT: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static RESOLUTION: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static SIGNATURE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static UNKNOWN_KEY: PyOnceLock<Py<PyType>> = PyOnceLock::new();

fn to_py(py: Python<'_>, e: KitError) -> PyErr {
    let (cell, name) = match &e {
        KitError::Requirement(_) => (&REQUIREMENT, "RequirementError"),
        KitError::Unsolvable(_) => (&RESOLUTION, "ResolutionError"),
        KitError::Signature(_) => (&SIGNATURE, "SignatureError"),
        KitError::UnknownKey(_) => (&UNKNOWN_KEY, "UnknownKeyError"),
    };
    match cell
        .import(py, "symphony_lab.pit.errors", name)
        .and_then(|t| t.call1((e.to_string(),)))
    {
        Ok(instance) => PyErr::from_value(instance),
        Err(err) => err,
    }
}

fn pairs(map: BTreeMap<String, String>) -> Vec<(String, String)> {
    map.into_iter().collect()
}

/// Every version of every package a registry offers and what each requires.
#[pyclass(name = "PackageIndex", module = "symphony_lab.pit._pit")]
pub struct PyPackageIndex {
    inner: Index,
}

#[pymethods]
impl PyPackageIndex {
    #[new]
    fn new() -> Self {
        Self { inner: Index::new() }
    }

    /// Adds (or replaces) ``name@version`` with its requirements on other packages.
    #[pyo3(signature = (name, version, requires = BTreeMap::new()))]
    fn add(&mut self, py: Python<'_>, name: &str, version: &str, requires: BTreeMap<String, String>) -> PyResult<()> {
        self.inner
            .add(name, version, &pairs(requires))
            .map_err(|e| to_py(py, e))
    }

    /// Adds many ``(name, version, requires)`` rows in one call.
    fn extend(&mut self, py: Python<'_>, rows: &Bound<'_, PyAny>) -> PyResult<()> {
        for row in rows.try_iter()? {
            let (name, version, requires): (String, String, BTreeMap<String, String>) = row?.extract()?;
            self.inner
                .add(&name, &version, &pairs(requires))
                .map_err(|e| to_py(py, e))?;
        }
        Ok(())
    }

    /// The newest version of every package the request reaches such that all
    /// requirements hold, as ``{name: version}``.
    fn resolve(&self, py: Python<'_>, request: BTreeMap<String, String>) -> PyResult<BTreeMap<String, String>> {
        let request = pairs(request);
        let solved = py.detach(|| self.inner.resolve(&request)).map_err(|e| to_py(py, e))?;
        Ok(solved.into_iter().map(|(k, v)| (k, v.to_string())).collect())
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }
}

/// Whether ``version`` satisfies ``requirement`` (pre-releases only when named).
#[pyfunction]
pub fn kit_matches(py: Python<'_>, requirement: &str, version: &str) -> PyResult<bool> {
    let r = Requirement::parse(requirement).map_err(|e| to_py(py, e))?;
    let v = semver::Version::parse(version).map_err(|e| {
        to_py(
            py,
            KitError::Requirement(format!("{version:?} is not a semantic version: {e}")),
        )
    })?;
    Ok(r.matches(&v))
}

/// Checks a requirement's syntax; the error names the text.
#[pyfunction]
pub fn kit_check_requirement(py: Python<'_>, requirement: &str) -> PyResult<()> {
    Requirement::parse(requirement).map(|_| ()).map_err(|e| to_py(py, e))
}

/// Versions sorted in semver.org's precedence, oldest first.
#[pyfunction]
pub fn kit_sort_versions(py: Python<'_>, versions: Vec<String>) -> PyResult<Vec<String>> {
    let mut parsed = versions
        .iter()
        .map(|v| {
            semver::Version::parse(v).map_err(|e| {
                to_py(
                    py,
                    KitError::Requirement(format!("{v:?} is not a semantic version: {e}")),
                )
            })
        })
        .collect::<PyResult<Vec<_>>>()?;
    parsed.sort_by(|a, b| a.cmp_precedence(b).then_with(|| a.cmp(b)));
    Ok(parsed.into_iter().map(|v| v.to_string()).collect())
}

/// A new key pair as minisign writes it: ``(key_id, public file, secret file)``.
#[pyfunction]
pub fn kit_keygen(py: Python<'_>) -> PyResult<(String, String, String)> {
    let k = sign::keygen().map_err(|e| to_py(py, e))?;
    Ok((k.key_id, k.public, k.secret))
}

/// A minisign signature file over ``data`` binding ``trusted`` into it.
#[pyfunction]
#[pyo3(signature = (secret, data, trusted, untrusted = "signature from symphony kit"))]
pub fn kit_sign(py: Python<'_>, secret: &str, data: &[u8], trusted: &str, untrusted: &str) -> PyResult<String> {
    py.detach(|| sign::sign(secret, data, trusted, untrusted))
        .map_err(|e| to_py(py, e))
}

/// Checks a minisign signature over ``data``; returns its trusted comment.
#[pyfunction]
pub fn kit_verify(py: Python<'_>, public: &str, data: &[u8], signature: &str) -> PyResult<String> {
    py.detach(|| sign::verify(public, data, signature))
        .map_err(|e| to_py(py, e))
}

/// The id of the key that made ``signature`` (to pick it from a keyring).
#[pyfunction]
pub fn kit_signer(py: Python<'_>, signature: &str) -> PyResult<String> {
    sign::signer(signature).map_err(|e| to_py(py, e))
}

/// The id of a public key (a whole ``.pub`` file or its base64 line).
#[pyfunction]
pub fn kit_key_id(py: Python<'_>, public: &str) -> PyResult<String> {
    let (id, _) = sign::public_key(public).map_err(|e| to_py(py, e))?;
    Ok(format!("{:016X}", u64::from_le_bytes(id)))
}
