//! The extension's side of the socket. Handler threads ask for work with
//! [`Endpoint::next`]; an idle one reads the socket itself. While all of
//! them are busy in a handler, a watchdog thread reads instead, so
//! heartbeats and cancels are answered even during a long call.

use std::collections::{BinaryHeap, VecDeque};
use std::io::Write;
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use rustc_hash::FxHashSet;

use crate::error::{BusError, Result};
use crate::frame::{self, Frame, FrameReader, Header, Kind};

/// How long the watchdog reads before looking whether a handler is free again,
/// and how long handlers must all have been busy before it reads at all
/// (taking over at once would put a thread hop into every short call).
const WATCH_SLICE: Duration = Duration::from_millis(20);

/// A handler back from a call polls this long for the next request before
/// it sleeps: callers that issue calls back to back then skip a wake-up.
const ENDPOINT_SPIN: Duration = Duration::from_micros(50);

/// The extension's own calls to the host carry ids with the top bit set, so
/// they never meet the ids of the host's calls.
const HOST_CALL: u64 = 1 << 63;

/// A queued request: higher priority first, then arrival order.
struct Queued {
    priority: u8,
    seq: u64,
    frame: Frame,
}

impl PartialEq for Queued {
    fn eq(&self, o: &Self) -> bool {
        (self.priority, self.seq) == (o.priority, o.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Queued {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.priority.cmp(&o.priority).then(o.seq.cmp(&self.seq))
    }
}

struct Shared {
    reading: bool,
    queue: BinaryHeap<Queued>,
    seq: u64,
    cancelled: FxHashSet<u64>,
    /// Handlers running now, and handlers waiting in `next`.
    busy: usize,
    busy_since: Option<Instant>,
    idle: usize,
    shutdown: bool,
    closed: Option<BusError>,
    /// Answers the reader owes (heartbeats, expired deadlines), written outside the lock.
    owed: VecDeque<(Header, Vec<u8>)>,
    /// The extension's calls to the host in flight, and their answers.
    host_calls: u64,
    answers: rustc_hash::FxHashMap<u64, Option<Frame>>,
}

pub struct Endpoint {
    out: Mutex<(UnixStream, Vec<u8>)>,
    reader: Mutex<FrameReader<UnixStream>>,
    shared: Mutex<Shared>,
    cv: Condvar,
    stream: UnixStream,
}

/// What `next` hands a handler.
pub enum Work {
    Requests(Vec<Frame>),
    /// The host asked the extension to stop, and the queue is empty.
    Shutdown,
}

impl Endpoint {
    /// Connects to the host's socket and sends the hello (`hello` is a msgpack
    /// map that must include `protocol`); returns once the host accepted it.
    pub fn connect(path: &Path, hello: &[u8], timeout: Duration, max_frame: usize) -> Result<Arc<Self>> {
        let stream = UnixStream::connect(path)
            .map_err(|e| BusError::Io(format!("cannot connect to the Stage at {}: {e}", path.display())))?;
        let ep = Arc::new(Self {
            out: Mutex::new((stream.try_clone()?, Vec::with_capacity(4096))),
            reader: Mutex::new({
                let mut r = FrameReader::new(stream.try_clone()?, max_frame);
                r.set_spin(ENDPOINT_SPIN);
                r
            }),
            shared: Mutex::new(Shared {
                reading: false,
                queue: BinaryHeap::new(),
                seq: 0,
                cancelled: FxHashSet::default(),
                busy: 0,
                busy_since: None,
                idle: 0,
                shutdown: false,
                closed: None,
                owed: VecDeque::new(),
                host_calls: 0,
                answers: Default::default(),
            }),
            cv: Condvar::new(),
            stream,
        });
        ep.write(&[(
            Header {
                kind: Kind::Handshake,
                id: 0,
                priority: 0,
                deadline_ms: 0,
            },
            hello,
        )])?;
        let reply = ep.reader.lock().next_frame(Some(Instant::now() + timeout))?;
        match reply {
            Some(f) if f.header.kind == Kind::Handshake => {}
            Some(f) if f.header.kind == Kind::Error => {
                let theirs = crate::conn::protocol_of(f.payload()).unwrap_or_default();
                return Err(BusError::Incompatible {
                    ours: theirs,
                    theirs: crate::conn::protocol_of(hello)?,
                });
            }
            Some(f) => {
                return Err(BusError::Malformed(format!(
                    "expected the host's handshake, got a {}",
                    f.header.kind.name()
                )));
            }
            None => {
                return Err(BusError::Timeout {
                    what: "handshake with the Stage".into(),
                    after_ms: timeout.as_millis() as u64,
                });
            }
        }
        let watch = Arc::downgrade(&ep);
        std::thread::Builder::new()
            .name("bus-watchdog".into())
            .spawn(move || watchdog(watch))?;
        Ok(ep)
    }

    fn write(&self, frames: &[(Header, &[u8])]) -> Result<()> {
        let mut out = self.out.lock();
        let (stream, buf) = &mut *out;
        buf.clear();
        for (h, payload) in frames {
            frame::encode(buf, h, payload, &[]);
        }
        stream.write_all(buf).map_err(BusError::from)
    }

    /// Up to `max` requests, highest priority first; waits for the first.
    /// Marks the caller busy until its next call of `next`.
    pub fn next(&self, max: usize, was_busy: bool) -> Result<Work> {
        let mut sh = self.shared.lock();
        if was_busy {
            sh.busy -= 1;
            if sh.busy == 0 {
                sh.busy_since = None;
            }
        }
        loop {
            self.flush_owed(&mut sh)?;
            if !sh.queue.is_empty() {
                let now = frame::now_ms();
                let mut batch = Vec::new();
                while batch.len() < max {
                    let Some(q) = sh.queue.pop() else { break };
                    let h = q.frame.header;
                    if sh.cancelled.remove(&h.id) {
                        continue;
                    }
                    if h.deadline_ms != 0 && h.deadline_ms < now {
                        sh.owed.push_back((Header { kind: Kind::Error, ..h }, deadline_error()));
                        continue;
                    }
                    batch.push(q.frame);
                }
                if !batch.is_empty() {
                    sh.busy += 1;
                    sh.busy_since.get_or_insert_with(Instant::now);
                    self.flush_owed(&mut sh)?;
                    return Ok(Work::Requests(batch));
                }
                continue;
            }
            if let Some(e) = &sh.closed {
                return Err(e.clone());
            }
            if sh.shutdown {
                return Ok(Work::Shutdown);
            }
            if sh.reading {
                sh.idle += 1;
                self.cv.wait(&mut sh);
                sh.idle -= 1;
                continue;
            }
            self.read_round(&mut sh, None);
        }
    }

    /// Reads once as the reader, files what came in, wakes the others.
    fn read_round(&self, sh: &mut parking_lot::MutexGuard<'_, Shared>, deadline: Option<Instant>) {
        sh.reading = true;
        let got = parking_lot::MutexGuard::unlocked(sh, || {
            let mut rd = self.reader.lock();
            let mut frames = Vec::new();
            match rd.next_frame(deadline) {
                Ok(Some(f)) => {
                    frames.push(f);
                    loop {
                        match rd.buffered() {
                            Ok(Some(f)) => frames.push(f),
                            Ok(None) => break,
                            Err(e) => return (frames, Some(e)),
                        }
                    }
                    (frames, None)
                }
                Ok(None) => (frames, None),
                Err(e) => (frames, Some(e)),
            }
        });
        sh.reading = false;
        let (frames, err) = got;
        for f in frames {
            let h = f.header;
            match h.kind {
                Kind::Request => {
                    sh.seq += 1;
                    let seq = sh.seq;
                    sh.queue.push(Queued {
                        priority: h.priority,
                        seq,
                        frame: f,
                    });
                }
                Kind::Heartbeat => {
                    let mut meta = Vec::new();
                    let _ = rmp::encode::write_map_len(&mut meta, 2);
                    let _ = rmp::encode::write_str(&mut meta, "busy");
                    let _ = rmp::encode::write_uint(&mut meta, sh.busy as u64);
                    let _ = rmp::encode::write_str(&mut meta, "queued");
                    let _ = rmp::encode::write_uint(&mut meta, sh.queue.len() as u64);
                    sh.owed.push_back((h, meta));
                }
                Kind::Cancel => {
                    sh.cancelled.insert(h.id);
                }
                Kind::Shutdown => sh.shutdown = true,
                Kind::Response | Kind::Error => {
                    // An answer nobody waits for any more (timed out) is dropped.
                    if let Some(slot) = sh.answers.get_mut(&h.id) {
                        *slot = Some(f);
                    }
                }
                _ => {}
            }
        }
        if let Some(e) = err {
            sh.closed.get_or_insert(e);
        }
        self.cv.notify_all();
    }

    fn flush_owed(&self, sh: &mut parking_lot::MutexGuard<'_, Shared>) -> Result<()> {
        if sh.owed.is_empty() {
            return Ok(());
        }
        let owed: Vec<_> = sh.owed.drain(..).collect();
        parking_lot::MutexGuard::unlocked(sh, || {
            let frames: Vec<(Header, &[u8])> = owed.iter().map(|(h, p)| (*h, p.as_slice())).collect();
            // A heartbeat answer carries its numbers as payload.
            self.write(&frames)
        })
    }

    /// Answers requests: `(id, is_error, msgpack payload)`. Answers to
    /// cancelled calls are dropped.
    pub fn respond(&self, answers: &[(u64, bool, &[u8])]) -> Result<()> {
        let keep: Vec<(Header, &[u8])> = {
            let mut sh = self.shared.lock();
            answers
                .iter()
                .filter(|(id, _, _)| !sh.cancelled.remove(id))
                .map(|&(id, err, p)| {
                    let kind = if err { Kind::Error } else { Kind::Response };
                    (
                        Header {
                            kind,
                            id,
                            priority: 0,
                            deadline_ms: 0,
                        },
                        p,
                    )
                })
                .collect()
        };
        if keep.is_empty() {
            return Ok(());
        }
        self.write(&keep)
    }

    /// Calls the host (a function on the Stage, named in `payload`) and waits
    /// for its answer: the response frame, or the host's error as
    /// `BusError::Remote`. The caller reads the socket itself when nobody
    /// else does, so a lone handler gets its answer without a thread hop.
    pub fn call_host(&self, payload: &[u8], timeout: Option<Duration>) -> Result<Frame> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let id = {
            let mut sh = self.shared.lock();
            sh.host_calls += 1;
            let id = HOST_CALL | sh.host_calls;
            sh.answers.insert(id, None);
            id
        };
        let header = Header {
            kind: Kind::Request,
            id,
            priority: 0,
            deadline_ms: 0,
        };
        if let Err(e) = self.write(&[(header, payload)]) {
            self.shared.lock().answers.remove(&id);
            return Err(e);
        }
        let mut sh = self.shared.lock();
        loop {
            if matches!(sh.answers.get(&id), Some(Some(_))) {
                let f = sh.answers.remove(&id).flatten().expect("just seen");
                return if f.header.kind == Kind::Error {
                    Err(BusError::Remote(f.payload().to_vec()))
                } else {
                    Ok(f)
                };
            }
            if let Some(e) = sh.closed.clone() {
                sh.answers.remove(&id);
                return Err(e);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                sh.answers.remove(&id);
                return Err(BusError::Timeout {
                    what: "a call to the host".into(),
                    after_ms: timeout.map_or(0, |t| t.as_millis() as u64),
                });
            }
            if sh.reading {
                match deadline {
                    Some(d) => {
                        self.cv.wait_until(&mut sh, d);
                    }
                    None => self.cv.wait(&mut sh),
                }
            } else {
                self.read_round(&mut sh, deadline);
            }
            // Heartbeats read meanwhile are answered now.
            if let Err(e) = self.flush_owed(&mut sh) {
                sh.answers.remove(&id);
                return Err(e);
            }
        }
    }

    /// Whether the host has cancelled call `id`.
    pub fn is_cancelled(&self, id: u64) -> bool {
        self.shared.lock().cancelled.contains(&id)
    }

    /// Sends an event (id 0) to the host.
    pub fn emit(&self, payload: &[u8]) -> Result<()> {
        self.write(&[(
            Header {
                kind: Kind::Event,
                id: 0,
                priority: 0,
                deadline_ms: 0,
            },
            payload,
        )])
    }

    pub fn close(&self) {
        self.shared
            .lock()
            .closed
            .get_or_insert(BusError::Closed("closed by the extension".into()));
        self.cv.notify_all();
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

fn deadline_error() -> Vec<u8> {
    let mut p = Vec::new();
    let _ = rmp::encode::write_map_len(&mut p, 2);
    let _ = rmp::encode::write_str(&mut p, "type");
    let _ = rmp::encode::write_str(&mut p, "DeadlineExceeded");
    let _ = rmp::encode::write_str(&mut p, "message");
    let _ = rmp::encode::write_str(&mut p, "the call's deadline passed before a handler was free");
    p
}

/// Reads the socket while every handler is busy.
fn watchdog(ep: std::sync::Weak<Endpoint>) {
    loop {
        let Some(ep) = ep.upgrade() else { return };
        let mut sh = ep.shared.lock();
        if sh.closed.is_some() {
            return;
        }
        let stuck = sh.busy_since.is_some_and(|t| t.elapsed() >= WATCH_SLICE);
        if stuck && sh.idle == 0 && !sh.reading {
            ep.read_round(&mut sh, Some(Instant::now() + WATCH_SLICE));
            if ep.flush_owed(&mut sh).is_err() {
                return;
            }
        } else {
            drop(sh);
            drop(ep);
            std::thread::sleep(WATCH_SLICE / 2);
        }
    }
}
