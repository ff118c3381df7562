//! `VNode` and `VdomRoot` for Python: props converted to JSON values once,
//! when a node is built; handlers kept as the Python callables they are; a
//! render returns the patches as one JSON string for the page.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use pit_vdom::{Node, Vdom};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::Value;

/// The mime type of a tree in a notebook's outputs.
pub const MIME: &str = "application/vnd.symphony.vdom.v1+json";

/// An event handler: a Python callable, shared between renders.
type Handler = Arc<Py<PyAny>>;

/// A prop value as JSON: None, bools, numbers, strings, lists, tuples, dicts
/// with string keys, and anything with `tolist()` (numpy arrays).
fn to_json(obj: &Bound<'_, PyAny>, path: &str) -> PyResult<Value> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(s.to_str()?.to_owned()));
    }
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Value::from(i));
        }
        return Ok(Value::from(obj.extract::<f64>()?));
    }
    if obj.is_instance_of::<PyFloat>() {
        let x = obj.extract::<f64>()?;
        return serde_json::Number::from_f64(x)
            .map(Value::Number)
            .ok_or_else(|| PyValueError::new_err(format!("prop {path} is {x}, which JSON cannot carry")));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(s.to_str()?.to_owned()));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut m = serde_json::Map::new();
        for (k, v) in d.iter() {
            let k: String = k
                .extract()
                .map_err(|_| PyTypeError::new_err(format!("prop {path} has a key that is not a string: {k}")))?;
            let v = to_json(&v, &format!("{path}.{k}"))?;
            m.insert(k, v);
        }
        return Ok(Value::Object(m));
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let mut out = Vec::new();
        for (i, v) in obj.try_iter()?.enumerate() {
            out.push(to_json(&v?, &format!("{path}[{i}]"))?);
        }
        return Ok(Value::Array(out));
    }
    if obj.hasattr("tolist")? {
        return to_json(&obj.call_method0("tolist")?, path);
    }
    // numpy scalars and other numbers.
    if let Ok(x) = obj.call_method0("__float__").and_then(|f| f.extract::<f64>()) {
        return serde_json::Number::from_f64(x)
            .map(Value::Number)
            .ok_or_else(|| PyValueError::new_err(format!("prop {path} is {x}, which JSON cannot carry")));
    }
    Err(PyTypeError::new_err(format!(
        "prop {path} is a {}; props are None, bool, numbers, str, lists and dicts of them",
        obj.get_type().name()?
    )))
}

fn to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    let json = py.import("json")?;
    json.call_method1("loads", (v.to_string(),))
}

/// One node of a virtual DOM tree; build them with `symphony_lab.pit.h`.
#[pyclass(module = "symphony_lab.pit._pit", name = "VNode", frozen)]
pub struct PyVNode {
    node: Arc<Node<Handler>>,
}

fn add_children(node: &mut Node<Handler>, children: &Bound<'_, PyAny>) -> PyResult<()> {
    for child in children.try_iter()? {
        let child = child?;
        if child.is_none() || child.cast::<PyBool>().is_ok_and(|b| !b.is_true()) {
            continue; // `cond and h(...)` leaves False or None: nothing to draw
        }
        if let Ok(v) = child.cast::<PyVNode>() {
            node.children.push(v.get().node.clone());
        } else if let Ok(s) = child.cast::<PyString>() {
            node.children.push(Arc::new(Node::text(s.to_str()?)));
        } else if child.is_instance_of::<PyInt>() || child.is_instance_of::<PyFloat>() {
            node.children.push(Arc::new(Node::text(child.str()?.to_str()?)));
        } else if child.is_instance_of::<PyList>() || child.is_instance_of::<PyTuple>() {
            add_children(node, &child)?;
        } else {
            return Err(PyTypeError::new_err(format!(
                "a child of a '{}' is a {}; children are nodes, text, numbers or lists of them",
                node.kind,
                child.get_type().name()?
            )));
        }
    }
    Ok(())
}

fn build(
    kind: &str,
    props: Option<&Bound<'_, PyDict>>,
    children: Option<&Bound<'_, PyAny>>,
    key: Option<&Bound<'_, PyAny>>,
    on: Option<&Bound<'_, PyDict>>,
) -> PyResult<PyVNode> {
    if kind.is_empty() {
        return Err(PyValueError::new_err("a node needs a component type"));
    }
    let mut node: Node<Handler> = Node::new(kind);
    if let Some(props) = props {
        let mut map = BTreeMap::new();
        for (k, v) in props.iter() {
            let k = k
                .cast::<PyString>()
                .map_err(|_| PyTypeError::new_err(format!("a prop name of a '{kind}' is not a string: {k}")))?
                .to_str()?
                .to_owned();
            if !pit_vdom::valid_prop_name(&k) {
                return Err(PyValueError::new_err(if k.to_ascii_lowercase().starts_with("on") {
                    format!("prop '{k}' on a '{kind}': handlers go in on={{...}}, not in props")
                } else {
                    format!("prop '{k}' on a '{kind}' is not a valid attribute name")
                }));
            }
            let v = to_json(&v, &k)?;
            if pit_vdom::URL_PROPS.contains(&k.as_str())
                && let Value::String(url) = &v
                && !pit_vdom::safe_url(url)
            {
                return Err(PyValueError::new_err(format!(
                    "prop '{k}' on a '{kind}' is {url:?}: addresses are http(s), mailto, data:image/ or relative"
                )));
            }
            map.insert(k, v);
        }
        node.props = map;
    }
    if let Some(key) = key {
        node.key = Some(match key.cast::<PyString>() {
            Ok(s) => Arc::from(s.to_str()?),
            Err(_) => Arc::from(key.str()?.to_str()?),
        });
    }
    if let Some(on) = on {
        for (event, handler) in on.iter() {
            let event: String = event.extract()?;
            if !handler.is_callable() {
                return Err(PyTypeError::new_err(format!(
                    "the handler of '{event}' on a '{kind}' is not callable"
                )));
            }
            node = node.on(event, Arc::new(handler.unbind()));
        }
    }
    if let Some(children) = children {
        add_children(&mut node, children)?;
    }
    Ok(PyVNode { node: Arc::new(node) })
}

/// ``h(kind, props=None, *children, key=None, on=None)``: a node; see
/// `symphony_lab.pit.h`.
#[pyfunction]
#[pyo3(signature = (kind, props = None, *children, key = None, on = None))]
pub fn h(
    kind: &str,
    props: Option<&Bound<'_, PyDict>>,
    children: &Bound<'_, PyTuple>,
    key: Option<&Bound<'_, PyAny>>,
    on: Option<&Bound<'_, PyDict>>,
) -> PyResult<PyVNode> {
    build(kind, props, Some(children.as_any()), key, on)
}

#[pymethods]
impl PyVNode {
    #[new]
    #[pyo3(signature = (kind, props = None, children = None, *, key = None, on = None))]
    fn new(
        kind: &str,
        props: Option<&Bound<'_, PyDict>>,
        children: Option<&Bound<'_, PyAny>>,
        key: Option<&Bound<'_, PyAny>>,
        on: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        build(kind, props, children, key, on)
    }

    #[getter]
    fn kind(&self) -> &str {
        &self.node.kind
    }

    #[getter]
    fn key(&self) -> Option<&str> {
        self.node.key.as_deref()
    }

    #[getter]
    fn props<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &Value::Object(self.node.props.clone().into_iter().collect()))
    }

    #[getter]
    fn children(&self) -> Vec<PyVNode> {
        self.node.children.iter().map(|c| PyVNode { node: c.clone() }).collect()
    }

    #[getter]
    fn events(&self) -> Vec<String> {
        self.node.events.iter().map(|(e, _)| e.clone()).collect()
    }

    /// Nodes in this subtree.
    fn __len__(&self) -> usize {
        self.node.size()
    }

    /// The tree as static HTML (what a viewer without the widget shows).
    fn to_html(&self) -> String {
        pit_vdom::to_html(&self.node)
    }

    /// The tree as the page's JSON, every node numbered in order.
    fn to_json(&self) -> PyResult<String> {
        let mut v: Vdom<Handler> = Vdom::default();
        v.render(&self.node).map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(v.root().expect("just rendered").to_json())
    }

    /// Jupyter's rich display: the tree for the symphony renderer, and HTML
    /// for any other viewer (a saved notebook, nbviewer, GitHub).
    #[pyo3(signature = (include = None, exclude = None))]
    fn _repr_mimebundle_<'py>(
        &self,
        py: Python<'py>,
        include: Option<&Bound<'py, PyAny>>,
        exclude: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let _ = (include, exclude);
        let d = PyDict::new(py);
        let json = py.import("json")?;
        d.set_item(MIME, json.call_method1("loads", (self.to_json()?,))?)?;
        d.set_item("text/html", self.to_html())?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!(
            "VNode({:?}, {} props, {} children)",
            &*self.node.kind,
            self.node.props.len(),
            self.node.children.len()
        )
    }
}

/// A mounted tree: each render returns the patches from the last one.
#[pyclass(module = "symphony_lab.pit._pit", name = "VdomRoot", frozen)]
pub struct PyVdomRoot {
    vdom: Mutex<Vdom<Handler>>,
}

#[pymethods]
impl PyVdomRoot {
    /// ``registry``: the component types trees may use (``None``: any).
    #[new]
    #[pyo3(signature = (registry = None))]
    fn new(registry: Option<Vec<String>>) -> Self {
        let registry = registry.map(|r| r.into_iter().collect::<HashSet<_>>());
        PyVdomRoot {
            vdom: Mutex::new(Vdom::new(registry)),
        }
    }

    /// Makes ``node`` the tree; returns the patches as a JSON array.
    fn render(&self, py: Python<'_>, node: &Bound<'_, PyVNode>) -> PyResult<String> {
        let node = node.get().node.clone();
        py.detach(|| self.vdom.lock().unwrap_or_else(|p| p.into_inner()).render(&node))
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// Forgets the mounted tree: the next render creates it whole.
    fn reset(&self) {
        self.vdom.lock().unwrap_or_else(|p| p.into_inner()).reset();
    }

    /// The mounted tree as JSON, or ``None`` before the first render.
    fn tree_json(&self) -> Option<String> {
        self.vdom
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .root()
            .map(|r| r.to_json())
    }

    /// The handler of ``event`` on the mounted node ``id``, if it has one.
    fn handler(&self, py: Python<'_>, id: u64, event: &str) -> Option<Py<PyAny>> {
        let vdom = self.vdom.lock().unwrap_or_else(|p| p.into_inner());
        let node = vdom.root()?.find(id)?;
        node.node
            .events
            .iter()
            .find(|(e, _)| e == event)
            .map(|(_, h)| h.clone_ref(py))
    }
}
