//! Python objects to msgpack and back, for bus payloads. Only plain data
//! crosses the bus: large or custom data travels as an artifact hash.

use pit_bus::msgpack::{Cursor, MAX_DEPTH, Token};
use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

use crate::errors::bus_to_py;

pub fn write(obj: &Bound<'_, PyAny>, out: &mut Vec<u8>, depth: usize) -> PyResult<()> {
    use rmp::encode as e;
    if depth > MAX_DEPTH {
        return Err(PyValueError::new_err(format!(
            "bus payload nested deeper than {MAX_DEPTH}"
        )));
    }
    if obj.is_none() {
        e::write_nil(out).ok();
    } else if let Ok(b) = obj.cast::<PyBool>() {
        e::write_bool(out, b.is_true()).ok();
    } else if let Ok(i) = obj.cast::<PyInt>() {
        if let Ok(v) = i.extract::<i64>() {
            e::write_sint(out, v).ok();
        } else if let Ok(v) = i.extract::<u64>() {
            e::write_uint(out, v).ok();
        } else {
            return Err(PyOverflowError::new_err("bus integers must fit in 64 bits"));
        }
    } else if let Ok(f) = obj.cast::<PyFloat>() {
        e::write_f64(out, f.value()).ok();
    } else if let Ok(s) = obj.cast::<PyString>() {
        e::write_str(out, s.to_str()?).ok();
    } else if let Ok(b) = obj.cast::<PyBytes>() {
        e::write_bin(out, b.as_bytes()).ok();
    } else if let Ok(b) = obj.cast::<PyByteArray>() {
        e::write_bin(out, &b.to_vec()).ok();
    } else if let Ok(l) = obj.cast::<PyList>() {
        e::write_array_len(out, l.len() as u32).ok();
        for item in l.iter() {
            write(&item, out, depth + 1)?;
        }
    } else if let Ok(t) = obj.cast::<PyTuple>() {
        e::write_array_len(out, t.len() as u32).ok();
        for item in t.iter() {
            write(&item, out, depth + 1)?;
        }
    } else if let Ok(d) = obj.cast::<PyDict>() {
        e::write_map_len(out, d.len() as u32).ok();
        for (k, v) in d.iter() {
            write(&k, out, depth + 1)?;
            write(&v, out, depth + 1)?;
        }
    } else {
        let ty = obj.get_type().name()?;
        return Err(PyTypeError::new_err(format!(
            "cannot send a {ty} over the bus: payloads are None, bool, int, float, str, bytes, lists and dicts \
             (put large or custom data in the ArtifactStore and send its hash)"
        )));
    }
    Ok(())
}

pub fn to_vec(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    let mut out = Vec::new();
    write(obj, &mut out, 0)?;
    Ok(out)
}

/// Containers one payload may hold: an empty list costs a byte on the wire
/// but ~64 bytes as a Python object, so a hostile 16 MiB frame of them
/// would cost a gigabyte without this bound.
const MAX_CONTAINERS: usize = 1 << 20;

/// One msgpack value to a Python object; the bytes were validated with the
/// frame. Strings that are not UTF-8 decode with replacement characters, and
/// ext values (other languages' timestamps, say) arrive as `(type, bytes)`.
pub fn read(py: Python<'_>, bytes: &[u8]) -> PyResult<Py<PyAny>> {
    let mut c = Cursor::new(bytes);
    let mut budget = MAX_CONTAINERS;
    value(py, &mut c, 0, &mut budget)
}

fn value(py: Python<'_>, c: &mut Cursor<'_>, depth: usize, budget: &mut usize) -> PyResult<Py<PyAny>> {
    if depth > MAX_DEPTH {
        return Err(bus_to_py(
            py,
            pit_bus::BusError::Malformed(format!("msgpack nested deeper than {MAX_DEPTH}")),
        ));
    }
    let t = c.token().map_err(|e| bus_to_py(py, e))?;
    Ok(match t {
        Token::Nil => py.None(),
        Token::Bool(b) => PyBool::new(py, b).to_owned().into_any().unbind(),
        Token::UInt(v) => v.into_pyobject(py)?.into_any().unbind(),
        Token::Int(v) => v.into_pyobject(py)?.into_any().unbind(),
        Token::F32(v) => f64::from(v).into_pyobject(py)?.into_any().unbind(),
        Token::F64(v) => v.into_pyobject(py)?.into_any().unbind(),
        Token::Str(s) => PyString::new(py, &String::from_utf8_lossy(s)).into_any().unbind(),
        Token::Bin(b) => PyBytes::new(py, b).into_any().unbind(),
        Token::Array(_) | Token::Map(_) if *budget == 0 => {
            return Err(bus_to_py(
                py,
                pit_bus::BusError::Malformed(format!("a payload holds more than {MAX_CONTAINERS} lists and maps")),
            ));
        }
        Token::Array(n) => {
            *budget -= 1;
            let items = (0..n)
                .map(|_| value(py, c, depth + 1, budget))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any().unbind()
        }
        Token::Map(n) => {
            *budget -= 1;
            let d = PyDict::new(py);
            for _ in 0..n {
                let k = value(py, c, depth + 1, budget)?;
                let v = value(py, c, depth + 1, budget)?;
                // A list or map as a key is valid msgpack but no Python key.
                if k.bind(py).hash().is_err() {
                    let kind = k.bind(py).get_type().name()?.to_string();
                    return Err(bus_to_py(
                        py,
                        pit_bus::BusError::Malformed(format!("a msgpack map has a {kind} as a key")),
                    ));
                }
                d.set_item(k, v)?;
            }
            d.into_any().unbind()
        }
        Token::Ext(ty, data) => (ty, PyBytes::new(py, data)).into_pyobject(py)?.into_any().unbind(),
    })
}
