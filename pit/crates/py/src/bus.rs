//! The bus for Python: `BusListener`/`BusConnection` on the host side,
//! `BusEndpoint` in the extension, and `spawn_process`. Payloads are
//! converted to msgpack here; every wait runs detached from the interpreter.

use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use pit_bus::{BusError, Conn, DEFAULT_MAX_FRAME, Endpoint, Frame, Kind, Outgoing, Work};
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};

use crate::bus_msgpack as mp;
use crate::errors::bus_to_py;

fn deadline(timeout: Option<f64>) -> PyResult<Option<Instant>> {
    timeout
        .map(|t| {
            if t.is_finite() && t >= 0.0 {
                Ok(Instant::now() + Duration::from_secs_f64(t.min(1e9)))
            } else {
                Err(PyValueError::new_err(format!(
                    "timeout must be a finite number of seconds >= 0, got {t}"
                )))
            }
        })
        .transpose()
}

fn deadline_ms(timeout: Option<f64>) -> u64 {
    // Float-to-int casts saturate; the sum must too (a huge timeout is "never").
    timeout.map_or(0, |t| {
        pit_bus::frame::now_ms().saturating_add((t.max(0.0) * 1000.0) as u64)
    })
}

/// `[function, args]`, the payload of a request.
fn request_payload(function: &str, args: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    let mut out = Vec::with_capacity(32 + function.len());
    rmp::encode::write_array_len(&mut out, 2).ok();
    rmp::encode::write_str(&mut out, function).ok();
    mp::write(args, &mut out, 1)?;
    Ok(out)
}

fn rename_timeout(e: BusError, what: &str, timeout: Option<f64>) -> BusError {
    match e {
        BusError::Timeout { .. } => BusError::Timeout {
            what: what.to_string(),
            after_ms: (timeout.unwrap_or(0.0) * 1000.0) as u64,
        },
        e => e,
    }
}

/// A listening socket for one extension.
#[pyclass(module = "symphony_lab.pit._pit", name = "BusListener", frozen)]
pub struct PyBusListener {
    listener: Mutex<Option<UnixListener>>,
    path: PathBuf,
}

#[pymethods]
impl PyBusListener {
    #[new]
    fn new(path: PathBuf) -> PyResult<Self> {
        // A socket file left by a killed host is replaced; any other file is not.
        if let Ok(meta) = std::fs::symlink_metadata(&path) {
            use std::os::unix::fs::FileTypeExt;
            if !meta.file_type().is_socket() {
                return Err(PyOSError::new_err(format!(
                    "{} exists and is not a socket",
                    path.display()
                )));
            }
            std::fs::remove_file(&path)?;
        }
        let listener = UnixListener::bind(&path)
            .map_err(|e| PyOSError::new_err(format!("cannot listen on {}: {e}", path.display())))?;
        Ok(Self {
            listener: Mutex::new(Some(listener)),
            path,
        })
    }

    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// Waits for the extension to connect; returns its connection.
    #[pyo3(signature = (timeout, max_frame = DEFAULT_MAX_FRAME))]
    fn accept(&self, py: Python<'_>, timeout: f64, max_frame: usize) -> PyResult<PyBusConnection> {
        let d = deadline(Some(timeout))?.unwrap();
        let guard = self.listener.lock();
        let Some(l) = guard.as_ref() else {
            return Err(bus_to_py(py, BusError::Closed("the listener is closed".into())));
        };
        let stream = py.detach(|| pit_bus::conn::accept(l, d)).map_err(|e| {
            bus_to_py(
                py,
                rename_timeout(e, "waiting for the extension to connect", Some(timeout)),
            )
        })?;
        let peer_pid = pit_bus::conn::peer_pid(&stream);
        let conn = Conn::new(stream, max_frame).map_err(|e| bus_to_py(py, e))?;
        Ok(PyBusConnection {
            conn: Arc::new(conn),
            max_frame,
            peer_pid,
        })
    }

    fn close(&self) {
        if self.listener.lock().take().is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The host's connection to one extension: pipelined calls by correlation id.
#[pyclass(module = "symphony_lab.pit._pit", name = "BusConnection", frozen)]
pub struct PyBusConnection {
    conn: Arc<Conn>,
    max_frame: usize,
    peer_pid: Option<u32>,
}

/// Room for the header and framing around a payload.
const FRAME_OVERHEAD: usize = 64;

/// Large data goes through the ArtifactStore: say so before the peer has to.
fn check_size(len: usize, max_frame: usize, what: &str) -> PyResult<()> {
    if len + FRAME_OVERHEAD > max_frame {
        return Err(PyValueError::new_err(format!(
            "{what} of {len} bytes exceed the bus frame limit of {max_frame} bytes: \
             put large data in the ArtifactStore and pass its hash"
        )));
    }
    Ok(())
}

impl PyBusConnection {
    fn answer(&self, py: Python<'_>, frame: Frame) -> PyResult<Py<PyAny>> {
        mp::read(py, frame.payload())
    }

    /// A request's payload, checked against the frame limit.
    fn request(&self, py: Python<'_>, function: &str, args: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<u8>> {
        let none = py.None().into_bound(py);
        let payload = request_payload(function, args.unwrap_or(&none))?;
        check_size(payload.len(), self.max_frame, &format!("the arguments of {function:?}"))?;
        Ok(payload)
    }
}

#[pymethods]
impl PyBusConnection {
    /// The pid of the process that connected, as the kernel saw it.
    #[getter]
    fn peer_pid(&self) -> Option<u32> {
        self.peer_pid
    }

    /// Reads and accepts the extension's hello; returns it (a dict).
    fn handshake(&self, py: Python<'_>, timeout: f64) -> PyResult<Py<PyAny>> {
        let d = deadline(Some(timeout))?.unwrap();
        let conn = Arc::clone(&self.conn);
        let hello = py.detach(move || conn.handshake(d)).map_err(|e| {
            bus_to_py(
                py,
                rename_timeout(e, "waiting for the extension's handshake", Some(timeout)),
            )
        })?;
        mp::read(py, hello.payload())
    }

    /// Calls `function(args)` in the extension and returns its answer.
    #[pyo3(signature = (function, args = None, *, timeout = None, priority = 0))]
    fn call(
        &self,
        py: Python<'_>,
        function: &str,
        args: Option<&Bound<'_, PyAny>>,
        timeout: Option<f64>,
        priority: u8,
    ) -> PyResult<Py<PyAny>> {
        let payload = self.request(py, function, args)?;
        let d = deadline(timeout)?;
        let dl = deadline_ms(timeout);
        let conn = &*self.conn;
        let got = py.detach(|| {
            let req = Outgoing {
                kind: Kind::Request,
                payload: &payload,
                meta: &[],
                priority,
                deadline_ms: dl,
            };
            let id = conn.send(&[req], None)?[0];
            conn.wait(id, d).map_err(|e| {
                if matches!(e, BusError::Timeout { .. }) {
                    let _ = conn.cancel(id);
                }
                e
            })
        });
        match got {
            Ok(f) => self.answer(py, f),
            Err(e) => Err(bus_to_py(
                py,
                rename_timeout(e, &format!("call of {function:?}"), timeout),
            )),
        }
    }

    /// Sends one call per item of `args_list` in one write and returns the
    /// answers in order (pipelined); the first failure is raised.
    #[pyo3(signature = (function, args_list, *, timeout = None, priority = 0))]
    fn call_many(
        &self,
        py: Python<'_>,
        function: &str,
        args_list: &Bound<'_, PyAny>,
        timeout: Option<f64>,
        priority: u8,
    ) -> PyResult<Py<PyList>> {
        let payloads = args_list
            .try_iter()?
            .map(|a| self.request(py, function, Some(&a?)))
            .collect::<PyResult<Vec<_>>>()?;
        let d = deadline(timeout)?;
        let dl = deadline_ms(timeout);
        let conn = &*self.conn;
        let got = py.detach(|| {
            let reqs: Vec<_> = payloads
                .iter()
                .map(|p| Outgoing {
                    kind: Kind::Request,
                    payload: p,
                    meta: &[],
                    priority,
                    deadline_ms: dl,
                })
                .collect();
            let ids = conn.send(&reqs, None)?;
            let mut out = Vec::with_capacity(ids.len());
            for (i, &id) in ids.iter().enumerate() {
                match conn.wait(id, d) {
                    Ok(f) => out.push(f),
                    Err(e) => {
                        ids[i..].iter().for_each(|&id| {
                            let _ = conn.cancel(id);
                        });
                        return Err(e);
                    }
                }
            }
            Ok(out)
        });
        let frames = got.map_err(|e| bus_to_py(py, rename_timeout(e, &format!("calls of {function:?}"), timeout)))?;
        let items = frames
            .into_iter()
            .map(|f| self.answer(py, f))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(PyList::new(py, items)?.unbind())
    }

    /// Sends a call without waiting; returns its id for `wait` or `cancel`.
    #[pyo3(signature = (function, args = None, *, timeout = None, priority = 0))]
    fn submit(
        &self,
        py: Python<'_>,
        function: &str,
        args: Option<&Bound<'_, PyAny>>,
        timeout: Option<f64>,
        priority: u8,
    ) -> PyResult<u64> {
        let payload = self.request(py, function, args)?;
        deadline(timeout)?;
        let dl = deadline_ms(timeout);
        let req = Outgoing {
            kind: Kind::Request,
            payload: &payload,
            meta: &[],
            priority,
            deadline_ms: dl,
        };
        let conn = &*self.conn;
        py.detach(|| conn.send(&[req], None))
            .map(|ids| ids[0])
            .map_err(|e| bus_to_py(py, e))
    }

    /// The answer to a call sent with `submit`.
    #[pyo3(signature = (id, timeout = None))]
    fn wait(&self, py: Python<'_>, id: u64, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        let d = deadline(timeout)?;
        let conn = &*self.conn;
        match py.detach(|| conn.wait(id, d)) {
            Ok(f) => self.answer(py, f),
            Err(e) => Err(bus_to_py(py, rename_timeout(e, &format!("call {id}"), timeout))),
        }
    }

    /// Gives up on call `id`; the extension drops it or its answer.
    fn cancel(&self, py: Python<'_>, id: u64) -> PyResult<()> {
        let conn = &*self.conn;
        py.detach(|| conn.cancel(id)).map_err(|e| bus_to_py(py, e))
    }

    /// Round trip of a heartbeat; returns the extension's `{busy, queued}`.
    fn heartbeat(&self, py: Python<'_>, timeout: f64) -> PyResult<Py<PyAny>> {
        deadline(Some(timeout))?;
        let conn = &*self.conn;
        let f = py
            .detach(|| conn.heartbeat(Duration::from_secs_f64(timeout.min(1e9))))
            .map_err(|e| bus_to_py(py, e))?;
        mp::read(py, f.payload())
    }

    /// Payloads of the events the extension sent (waits up to `timeout` for one).
    #[pyo3(signature = (timeout = 0.0))]
    fn events(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Py<PyList>> {
        let d = deadline(timeout)?;
        let conn = &*self.conn;
        let frames = py.detach(|| conn.events(d)).map_err(|e| bus_to_py(py, e))?;
        let items = frames
            .iter()
            .map(|f| mp::read(py, f.payload()))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(PyList::new(py, items)?.unbind())
    }

    /// Calls the extension made to the host, as `(id, target, args)`;
    /// waits up to `timeout` for one. Answer each with `reply` or `refuse`.
    #[pyo3(signature = (timeout = 0.0))]
    fn requests(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Py<PyList>> {
        let d = deadline(timeout)?;
        let conn = &*self.conn;
        let frames = py.detach(|| conn.requests(d)).map_err(|e| bus_to_py(py, e))?;
        let mut items = Vec::with_capacity(frames.len());
        for f in frames {
            // A payload that does not decode is that call's error, not the
            // end of the others.
            let refuse = |why: &str| {
                let e = error_payload("FrameError", why, "");
                py.detach(|| conn.answer(f.header.id, true, &e))
                    .map_err(|e| bus_to_py(py, e))
            };
            let payload = match mp::read(py, f.payload()) {
                Ok(p) => p,
                Err(e) => {
                    refuse(&e.value(py).to_string())?;
                    continue;
                }
            };
            let pair = payload.bind(py).cast::<PyList>().ok().filter(|l| l.len() == 2);
            let target = pair.as_ref().and_then(|p| p.get_item(0).ok()?.extract::<String>().ok());
            let (Some(pair), Some(target)) = (pair.as_ref(), target) else {
                refuse("a call to the host must be [target, args]")?;
                continue;
            };
            items.push((f.header.id, target, pair.get_item(1)?));
        }
        Ok(PyList::new(py, items)?.unbind())
    }

    /// Answers the extension's call `id` with `value`.
    fn reply(&self, py: Python<'_>, id: u64, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let (is_error, p) = encode_answer(py, value, self.max_frame);
        let conn = &*self.conn;
        py.detach(|| conn.answer(id, is_error, &p))
            .map_err(|e| bus_to_py(py, e))
    }

    /// Answers the extension's call `id` with an error.
    #[pyo3(signature = (id, error_type, message, traceback = ""))]
    fn refuse(&self, py: Python<'_>, id: u64, error_type: &str, message: &str, traceback: &str) -> PyResult<()> {
        let p = error_payload(error_type, message, traceback);
        let conn = &*self.conn;
        py.detach(|| conn.answer(id, true, &p)).map_err(|e| bus_to_py(py, e))
    }

    /// Asks the extension to finish its queue and exit.
    fn shutdown(&self, py: Python<'_>) -> PyResult<()> {
        let conn = &*self.conn;
        py.detach(|| {
            conn.send(
                &[Outgoing {
                    kind: Kind::Shutdown,
                    payload: &[],
                    meta: &[],
                    priority: 255,
                    deadline_ms: 0,
                }],
                None,
            )
        })
        .map(|_| ())
        .map_err(|e| bus_to_py(py, e))
    }

    /// Closes the connection; every waiting call raises `BusClosed(reason)`.
    #[pyo3(signature = (reason = "closed by the host"))]
    fn close(&self, reason: &str) {
        self.conn.close(BusError::Closed(reason.to_string()));
    }

    /// Why the connection is closed, or None while it is open.
    #[getter]
    fn closed(&self) -> Option<String> {
        self.conn.closed().map(|e| e.to_string())
    }

    /// Calls waiting for an answer.
    #[getter]
    fn pending(&self) -> usize {
        self.conn.pending()
    }
}

/// The extension's side of the bus.
#[pyclass(module = "symphony_lab.pit._pit", name = "BusEndpoint", frozen)]
pub struct PyBusEndpoint {
    ep: Arc<Endpoint>,
    max_frame: usize,
}

#[pymethods]
impl PyBusEndpoint {
    /// Connects to the Stage at `path` and sends `hello` (a dict; the bus
    /// protocol version is added); returns once the host accepted it.
    #[staticmethod]
    #[pyo3(signature = (path, hello, timeout = 10.0, max_frame = DEFAULT_MAX_FRAME))]
    fn connect(
        py: Python<'_>,
        path: PathBuf,
        hello: &Bound<'_, PyDict>,
        timeout: f64,
        max_frame: usize,
    ) -> PyResult<Self> {
        let hello = hello.copy()?;
        if !hello.contains("protocol")? {
            hello.set_item("protocol", pit_bus::PROTOCOL_VERSION)?;
        }
        let payload = mp::to_vec(hello.as_any())?;
        deadline(Some(timeout))?;
        let ep = py
            .detach(|| Endpoint::connect(&path, &payload, Duration::from_secs_f64(timeout), max_frame))
            .map_err(|e| bus_to_py(py, e))?;
        Ok(Self { ep, max_frame })
    }

    /// Up to `max` requests as `(id, function, args)`, highest priority
    /// first; None once the host asked for shutdown. `busy` says the caller
    /// is done with the batch it took before.
    #[pyo3(signature = (max = 64, busy = false))]
    fn next(&self, py: Python<'_>, max: usize, busy: bool) -> PyResult<Option<Py<PyList>>> {
        let ep = &*self.ep;
        let work = py.detach(|| ep.next(max.max(1), busy)).map_err(|e| bus_to_py(py, e))?;
        let Work::Requests(frames) = work else { return Ok(None) };
        let mut items = Vec::with_capacity(frames.len());
        for f in frames {
            let payload = mp::read(py, f.payload())?;
            let pair = payload.bind(py).cast::<PyList>().ok().filter(|l| l.len() == 2);
            let Some(pair) = pair else {
                let e = error_payload("FrameError", "a request payload must be [function, args]", "");
                ep.respond(&[(f.header.id, true, &e)]).map_err(|e| bus_to_py(py, e))?;
                continue;
            };
            items.push((f.header.id, pair.get_item(0)?, pair.get_item(1)?));
        }
        Ok(Some(PyList::new(py, items)?.unbind()))
    }

    /// Answers calls: `[(id, value), ...]`. A value that cannot cross the bus
    /// becomes a `TypeError` answer for its call.
    fn respond(&self, py: Python<'_>, answers: Vec<(u64, Bound<'_, PyAny>)>) -> PyResult<()> {
        let encoded: Vec<(u64, bool, Vec<u8>)> = answers
            .iter()
            .map(|(id, v)| {
                let (is_error, p) = encode_answer(py, v, self.max_frame);
                (*id, is_error, p)
            })
            .collect();
        let ep = &*self.ep;
        py.detach(|| {
            let refs: Vec<_> = encoded.iter().map(|(id, err, p)| (*id, *err, p.as_slice())).collect();
            ep.respond(&refs)
        })
        .map_err(|e| bus_to_py(py, e))
    }

    /// Answers call `id` with an error.
    #[pyo3(signature = (id, error_type, message, traceback = ""))]
    fn fail(&self, py: Python<'_>, id: u64, error_type: &str, message: &str, traceback: &str) -> PyResult<()> {
        let p = error_payload(error_type, message, traceback);
        let ep = &*self.ep;
        py.detach(|| ep.respond(&[(id, true, &p)]))
            .map_err(|e| bus_to_py(py, e))
    }

    /// Calls ``target`` ("extension.function") through the host's Stage and
    /// returns its result; the host's refusal or the callee's error arrives
    /// as ``RemoteError``.
    #[pyo3(signature = (target, args = None, timeout = Some(60.0)))]
    fn call_host(
        &self,
        py: Python<'_>,
        target: &str,
        args: Option<&Bound<'_, PyAny>>,
        timeout: Option<f64>,
    ) -> PyResult<Py<PyAny>> {
        let none = py.None().into_bound(py);
        let pair = PyList::new(
            py,
            [PyString::new(py, target).into_any(), args.cloned().unwrap_or(none)],
        )?;
        let p = mp::to_vec(pair.as_any())?;
        check_size(p.len(), self.max_frame, "the call's arguments")?;
        deadline(timeout)?;
        let wait = timeout.map(|t| Duration::from_secs_f64(t.min(1e9)));
        let ep = &*self.ep;
        let f = py.detach(|| ep.call_host(&p, wait)).map_err(|e| bus_to_py(py, e))?;
        mp::read(py, f.payload())
    }

    /// Sends an event to the host.
    fn emit(&self, py: Python<'_>, payload: &Bound<'_, PyAny>) -> PyResult<()> {
        let p = mp::to_vec(payload)?;
        check_size(p.len(), self.max_frame, "the event")?;
        let ep = &*self.ep;
        py.detach(|| ep.emit(&p)).map_err(|e| bus_to_py(py, e))
    }

    fn is_cancelled(&self, id: u64) -> bool {
        self.ep.is_cancelled(id)
    }

    fn close(&self) {
        self.ep.close();
    }
}

/// A call's answer as msgpack: the value, or (`true`, an error's payload) for
/// a value that cannot cross the bus or would not fit in a frame.
fn encode_answer(py: Python<'_>, value: &Bound<'_, PyAny>, max_frame: usize) -> (bool, Vec<u8>) {
    match mp::to_vec(value) {
        Ok(p) if p.len() + FRAME_OVERHEAD <= max_frame => (false, p),
        Ok(p) => {
            let msg = format!(
                "the result of {} bytes exceeds the bus frame limit of {max_frame} bytes: \
                 store it with ctx.put(...) and return the hash",
                p.len()
            );
            (true, error_payload("ResultTooLarge", &msg, ""))
        }
        Err(e) => (true, error_payload("TypeError", &e.value(py).to_string(), "")),
    }
}

fn error_payload(ty: &str, message: &str, traceback: &str) -> Vec<u8> {
    let mut p = Vec::new();
    rmp::encode::write_map_len(&mut p, 3).ok();
    for (k, v) in [("type", ty), ("message", message), ("traceback", traceback)] {
        rmp::encode::write_str(&mut p, k).ok();
        rmp::encode::write_str(&mut p, v).ok();
    }
    p
}

/// One whole frame (length prefix included) as bytes: for tests and for
/// extensions written without this module.
#[pyfunction]
#[pyo3(signature = (kind, id, payload = None, meta = None, priority = 0, deadline_ms = 0))]
pub fn encode_frame(
    py: Python<'_>,
    kind: u64,
    id: u64,
    payload: Option<&Bound<'_, PyAny>>,
    meta: Option<&Bound<'_, PyDict>>,
    priority: u8,
    deadline_ms: u64,
) -> PyResult<Py<PyBytes>> {
    let kind = Kind::from_u64(kind).map_err(|e| bus_to_py(py, e))?;
    let p = payload.map(mp::to_vec).transpose()?.unwrap_or_default();
    let m = meta.map(|m| mp::to_vec(m.as_any())).transpose()?.unwrap_or_default();
    let mut out = Vec::new();
    pit_bus::frame::encode(
        &mut out,
        &pit_bus::Header {
            kind,
            id,
            priority,
            deadline_ms,
        },
        &p,
        &m,
    );
    Ok(PyBytes::new(py, &out).unbind())
}

/// Parses one whole frame: `(kind, id, priority, deadline_ms, payload, meta)`.
#[pyfunction]
#[pyo3(signature = (data, max_frame = DEFAULT_MAX_FRAME))]
#[allow(clippy::type_complexity)]
pub fn decode_frame(
    py: Python<'_>,
    data: &[u8],
    max_frame: usize,
) -> PyResult<(u64, u64, u8, u64, Py<PyAny>, Py<PyAny>)> {
    if data.len() < 4 {
        return Err(bus_to_py(
            py,
            BusError::Truncated {
                expected: 4,
                got: data.len(),
            },
        ));
    }
    let len = u32::from_le_bytes(data[..4].try_into().unwrap()) as usize;
    if len > max_frame {
        return Err(bus_to_py(
            py,
            BusError::Oversized {
                length: len,
                limit: max_frame,
            },
        ));
    }
    if data.len() != 4 + len {
        return Err(bus_to_py(
            py,
            BusError::Truncated {
                expected: 4 + len,
                got: data.len(),
            },
        ));
    }
    let f = Frame::decode(data[4..].to_vec()).map_err(|e| bus_to_py(py, e))?;
    let h = f.header;
    Ok((
        h.kind as u64,
        h.id,
        h.priority,
        h.deadline_ms,
        mp::read(py, f.payload())?,
        mp::read(py, f.meta())?,
    ))
}

/// Starts an extension process (see `pit_bus::spawn`); returns its pid.
#[pyfunction]
#[pyo3(signature = (argv, cwd, env, log, *, address_space = None, cpu_seconds = None, open_files = None, processes = None, file_size = None, isolate_network = false, read = None, write = Vec::new(), execute = Vec::new(), deny_tcp = false, cgroup = None, landlock = true, seccomp = true, scratch_bytes = None))]
#[allow(clippy::too_many_arguments)]
pub fn spawn_process(
    py: Python<'_>,
    argv: Vec<String>,
    cwd: PathBuf,
    env: Vec<(String, String)>,
    log: PathBuf,
    address_space: Option<u64>,
    cpu_seconds: Option<u64>,
    open_files: Option<u64>,
    processes: Option<u64>,
    file_size: Option<u64>,
    isolate_network: bool,
    read: Option<Vec<PathBuf>>,
    write: Vec<PathBuf>,
    execute: Vec<PathBuf>,
    deny_tcp: bool,
    cgroup: Option<PathBuf>,
    landlock: bool,
    seccomp: bool,
    scratch_bytes: Option<u64>,
) -> PyResult<u32> {
    // The work folder becomes a tmpfs of that size, in the child's namespace.
    let scratch = scratch_bytes.map(|bytes| (cwd.clone(), bytes));
    // Given `read`, the process runs in the sandbox: it reaches only the
    // paths listed.
    let sandbox = read.map(|read| pit_bus::sandbox::Policy {
        read,
        write,
        execute,
        deny_tcp,
        cgroup,
        landlock,
        seccomp,
    });
    let spec = pit_bus::spawn::Spec {
        argv,
        cwd,
        env,
        limits: pit_bus::spawn::Limits {
            address_space,
            cpu_seconds,
            open_files,
            processes,
            file_size,
        },
        isolate_network,
        log,
        sandbox,
        scratch,
    };
    py.detach(|| pit_bus::spawn::spawn(spec)).map_err(PyOSError::new_err)
}

/// What this kernel can enforce: `landlock_abi` (0 for none), `seccomp`,
/// `pids_cgroup` (the folder to make pids cgroups in, or None).
#[pyfunction]
pub fn sandbox_support(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let s = pit_bus::sandbox::support();
    let out = PyDict::new(py);
    out.set_item("landlock_abi", s.landlock_abi)?;
    out.set_item("landlock_abi_needed", pit_bus::sandbox::LANDLOCK_ABI)?;
    out.set_item("seccomp", s.seccomp)?;
    out.set_item("pids_cgroup", s.pids_cgroup)?;
    out.set_item("denied_calls", pit_bus::sandbox::DENIED.to_vec())?;
    Ok(out)
}

/// From now on this process and its children cannot run programs: `execve`
/// and `execveat` fail with EPERM (a seccomp filter on every thread).
#[pyfunction]
pub fn deny_exec() -> PyResult<()> {
    pit_bus::sandbox::deny_exec().map_err(PyOSError::new_err)
}

/// None when extensions can be denied the network here, else why not.
#[pyfunction]
pub fn network_isolation(py: Python<'_>) -> Option<String> {
    py.detach(pit_bus::spawn::network_isolation).err()
}
