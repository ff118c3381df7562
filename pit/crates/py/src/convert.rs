//! Python values <-> Pit values: keys, batches of keys, numbers from lists or
//! any 1-D buffer (numpy arrays included, read without numpy's C API).

use pit_dag::{Key, KeyBatch, KeyRef};
use pyo3::buffer::{ElementType, PyBuffer, PyUntypedBuffer};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyInt, PyString};

pub fn key_ref<'a>(obj: &'a Bound<'_, PyAny>) -> PyResult<KeyRef<'a>> {
    if obj.is_instance_of::<PyInt>() {
        return obj
            .extract::<i64>()
            .map(KeyRef::Int)
            .map_err(|_| PyValueError::new_err(format!("task key {obj} does not fit in 64 bits")));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(KeyRef::Str(s.to_str()?));
    }
    // numpy integer scalars and other objects with __index__
    if let Ok(i) = obj.extract::<i64>() {
        return Ok(KeyRef::Int(i));
    }
    Err(PyTypeError::new_err(format!(
        "task keys must be int or str, not {}",
        obj.get_type().name()?
    )))
}

pub fn key_to_py<'py>(py: Python<'py>, key: KeyRef<'_>) -> Bound<'py, PyAny> {
    match key {
        KeyRef::Int(i) => i.into_pyobject(py).expect("infallible").into_any(),
        KeyRef::Str(s) => PyString::new(py, s).into_any(),
    }
}

fn refuse_text(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<()> {
    if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyBytes>() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be a list or array, not {}",
            obj.get_type().name()?
        )));
    }
    Ok(())
}

/// The integers of a buffer and its shape, or `None` if `obj` has no buffer.
fn int_buffer(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Option<(Vec<i64>, Vec<usize>)>> {
    let Ok(buf) = PyUntypedBuffer::get(obj) else {
        return Ok(None);
    };
    let py = obj.py();
    let shape = buf.shape().to_vec();
    fn widen<T: pyo3::buffer::Element + Copy>(
        b: PyUntypedBuffer,
        py: Python<'_>,
        f: impl Fn(T) -> i64,
    ) -> PyResult<Vec<i64>> {
        Ok(b.into_typed::<T>()?.to_vec(py)?.into_iter().map(f).collect())
    }
    let values = match ElementType::from_format(buf.format()) {
        ElementType::SignedInteger { bytes: 8 } => buf.into_typed::<i64>()?.to_vec(py)?,
        ElementType::SignedInteger { bytes: 4 } => widen::<i32>(buf, py, i64::from)?,
        ElementType::SignedInteger { bytes: 2 } => widen::<i16>(buf, py, i64::from)?,
        ElementType::SignedInteger { bytes: 1 } => widen::<i8>(buf, py, i64::from)?,
        ElementType::UnsignedInteger { bytes: 4 } => widen::<u32>(buf, py, i64::from)?,
        ElementType::UnsignedInteger { bytes: 2 } => widen::<u16>(buf, py, i64::from)?,
        ElementType::UnsignedInteger { bytes: 1 } => widen::<u8>(buf, py, i64::from)?,
        ElementType::UnsignedInteger { bytes: 8 } => {
            let v = buf.into_typed::<u64>()?.to_vec(py)?;
            if let Some(big) = v.iter().find(|&&x| x > i64::MAX as u64) {
                return Err(PyValueError::new_err(format!("{what}: {big} does not fit in 64 bits")));
            }
            v.into_iter().map(|x| x as i64).collect()
        }
        _ => {
            return Err(PyTypeError::new_err(format!(
                "{what} must hold integers, got an array of format '{}'",
                buf.format().to_string_lossy()
            )));
        }
    };
    Ok(Some((values, shape)))
}

/// Keys from a list, tuple, iterable or 1-D integer array.
pub fn key_batch(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<KeyBatch> {
    refuse_text(obj, what)?;
    if let Some((values, shape)) = int_buffer(obj, what)? {
        if shape.len() != 1 {
            return Err(PyValueError::new_err(format!(
                "{what} must be 1-D, got shape {shape:?}"
            )));
        }
        return Ok(KeyBatch::Ints(values));
    }
    let mut ints = Vec::with_capacity(obj.len().unwrap_or(0));
    let mut items = obj.try_iter()?;
    for item in items.by_ref() {
        let item = item?;
        match key_ref(&item)? {
            KeyRef::Int(i) => ints.push(i),
            KeyRef::Str(s) => {
                let mut keys: Vec<Key> = ints.drain(..).map(Key::Int).collect();
                keys.push(Key::Str(s.into()));
                for item in items.by_ref() {
                    keys.push(key_ref(&item?)?.to_owned());
                }
                return Ok(KeyBatch::Keys(keys));
            }
        }
    }
    Ok(KeyBatch::Ints(ints))
}

/// Edges as `(src, dst)` from two sequences, or from one sequence of pairs
/// or an `(m, 2)` integer array when `dst` is `None`.
pub fn edge_batch(src: &Bound<'_, PyAny>, dst: Option<&Bound<'_, PyAny>>) -> PyResult<(KeyBatch, KeyBatch)> {
    if let Some(dst) = dst {
        return Ok((key_batch(src, "src")?, key_batch(dst, "dst")?));
    }
    refuse_text(src, "edges")?;
    if let Some((values, shape)) = int_buffer(src, "edges")? {
        if shape.len() != 2 || shape[1] != 2 {
            return Err(PyValueError::new_err(format!(
                "an edge array must have shape (m, 2), got {shape:?}"
            )));
        }
        let (s, d) = values.chunks_exact(2).map(|p| (p[0], p[1])).unzip();
        return Ok((KeyBatch::Ints(s), KeyBatch::Ints(d)));
    }
    let (mut s, mut d) = (Vec::new(), Vec::new());
    for pair in src.try_iter()? {
        let pair = pair?;
        let (a, b): (Bound<'_, PyAny>, Bound<'_, PyAny>) = pair
            .extract()
            .map_err(|_| PyTypeError::new_err(format!("each edge must be a (src, dst) pair, got {pair}")))?;
        s.push(key_ref(&a)?.to_owned());
        d.push(key_ref(&b)?.to_owned());
    }
    Ok((KeyBatch::Keys(s), KeyBatch::Keys(d)))
}

/// Floats from a list or a 1-D float or integer array.
pub fn float_batch(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<f64>> {
    refuse_text(obj, what)?;
    if let Ok(buf) = PyUntypedBuffer::get(obj) {
        let py = obj.py();
        if buf.dimensions() != 1 {
            return Err(PyValueError::new_err(format!(
                "{what} must be 1-D, got shape {:?}",
                buf.shape()
            )));
        }
        return match ElementType::from_format(buf.format()) {
            ElementType::Float { bytes: 8 } => buf.into_typed::<f64>()?.to_vec(py),
            ElementType::Float { bytes: 4 } => Ok(PyBuffer::<f32>::get(obj)?
                .to_vec(py)?
                .into_iter()
                .map(f64::from)
                .collect()),
            _ => Ok(int_buffer(obj, what)?
                .map(|(v, _)| v.into_iter().map(|x| x as f64).collect())
                .unwrap_or_default()),
        };
    }
    obj.try_iter()?
        .map(|x| {
            x?.extract::<f64>()
                .map_err(|_| PyTypeError::new_err(format!("{what} must be numbers")))
        })
        .collect()
}
