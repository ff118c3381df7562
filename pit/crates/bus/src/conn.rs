//! The host's side of one extension's socket. Calls are pipelined: each
//! carries a correlation id, and answers may come back in any order.
//!
//! No thread is dedicated to reading. A waiting caller that finds nobody
//! reading becomes the reader ("leader/follower"): it reads frames, hands
//! other callers their answers, and returns with its own. A lone caller thus
//! reads its own answer, one wake-up per round trip instead of two.

use std::collections::VecDeque;
use std::io::Write;
use std::net::Shutdown;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};
use rustc_hash::FxHashMap;

use crate::error::{BusError, Result};
use crate::frame::{self, Frame, FrameReader, Header, Kind};

/// How long a caller polls for its answer before it sleeps in `read`: long
/// enough to catch a quick handler's reply on another core, short enough
/// that a slow call costs little CPU.
const HOST_SPIN: Duration = Duration::from_micros(50);

/// A write that cannot finish in this time means the extension stopped
/// reading (its endpoint reads even while handlers are busy): the
/// connection is closed as a hang rather than blocking callers for ever.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Events kept for a host that does not read them; older ones are dropped.
const MAX_EVENTS: usize = 1_000;

/// Calls from the extension to the host waiting to be served; past this
/// many, new ones are dropped (their caller times out) rather than hoarded.
const MAX_REQUESTS: usize = 1_000;

enum Slot {
    Waiting,
    Done(Frame),
}

struct Shared {
    reading: bool,
    slots: FxHashMap<u64, Slot>,
    events: VecDeque<Frame>,
    /// Calls the extension made to the host (through the Stage).
    requests: VecDeque<Frame>,
    closed: Option<BusError>,
}

pub struct Conn {
    out: Mutex<(UnixStream, Vec<u8>)>,
    reader: Mutex<FrameReader<UnixStream>>,
    shared: Mutex<Shared>,
    cv: Condvar,
    next_id: AtomicU64,
    stream: UnixStream,
}

/// A request to send: function name and arguments are already in `payload`.
pub struct Outgoing<'a> {
    pub kind: Kind,
    pub payload: &'a [u8],
    pub meta: &'a [u8],
    pub priority: u8,
    pub deadline_ms: u64,
}

/// Accepts one connection on `listener` before `deadline`.
/// The pid of the process at the other end of `stream` (SO_PEERCRED, in
/// this process's pid namespace), as the kernel recorded it at connect.
pub fn peer_pid(stream: &UnixStream) -> Option<u32> {
    use std::os::fd::AsRawFd;
    let mut cred = libc::ucred { pid: 0, uid: 0, gid: 0 };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cred`.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (rc == 0 && cred.pid > 0).then_some(cred.pid as u32)
}

pub fn accept(listener: &UnixListener, deadline: Instant) -> Result<UnixStream> {
    use std::os::fd::AsRawFd;
    if !frame::wait_readable(listener.as_raw_fd(), Some(deadline))? {
        return Err(BusError::Timeout {
            what: "waiting for the extension to connect".into(),
            after_ms: 0,
        });
    }
    let (s, _) = listener.accept()?;
    Ok(s)
}

impl Conn {
    pub fn new(stream: UnixStream, max_frame: usize) -> Result<Self> {
        stream.set_nonblocking(false)?;
        stream.set_write_timeout(Some(SEND_TIMEOUT))?;
        let out = stream.try_clone()?;
        let rd = stream.try_clone()?;
        Ok(Self {
            out: Mutex::new((out, Vec::with_capacity(4096))),
            reader: Mutex::new({
                let mut r = FrameReader::new(rd, max_frame);
                r.set_spin(HOST_SPIN);
                r
            }),
            shared: Mutex::new(Shared {
                reading: false,
                slots: FxHashMap::default(),
                events: VecDeque::new(),
                requests: VecDeque::new(),
                closed: None,
            }),
            cv: Condvar::new(),
            next_id: AtomicU64::new(1),
            stream,
        })
    }

    /// The host's half of the handshake: reads the extension's hello,
    /// checks the protocol's major version, answers, and returns the hello.
    pub fn handshake(&self, deadline: Instant) -> Result<Frame> {
        let hello = {
            let mut rd = self.reader.lock();
            match rd.next_frame(Some(deadline))? {
                Some(f) => f,
                None => {
                    return Err(BusError::Timeout {
                        what: "waiting for the extension's handshake".into(),
                        after_ms: 0,
                    });
                }
            }
        };
        if hello.header.kind != Kind::Handshake {
            return Err(BusError::Malformed(format!(
                "expected a handshake first, got a {}",
                hello.header.kind.name()
            )));
        }
        let theirs = protocol_of(hello.payload())?;
        let ours = frame::PROTOCOL_VERSION;
        let mut payload = Vec::new();
        let _ = rmp::encode::write_map_len(&mut payload, 1);
        let _ = rmp::encode::write_str(&mut payload, "protocol");
        let _ = rmp::encode::write_str(&mut payload, ours);
        let compatible = frame::major(&theirs) == frame::major(ours);
        let kind = if compatible { Kind::Handshake } else { Kind::Error };
        self.send(
            &[Outgoing {
                kind,
                payload: &payload,
                meta: &[],
                priority: 0,
                deadline_ms: 0,
            }],
            Some(hello.header.id),
        )?;
        if !compatible {
            return Err(BusError::Incompatible {
                ours: ours.into(),
                theirs,
            });
        }
        Ok(hello)
    }

    /// Sends frames in one write and returns their ids; `reply_to` reuses an id.
    pub fn send(&self, frames: &[Outgoing<'_>], reply_to: Option<u64>) -> Result<Vec<u64>> {
        let first = match reply_to {
            Some(id) => id,
            None => self.next_id.fetch_add(frames.len() as u64, Ordering::Relaxed),
        };
        let ids: Vec<u64> = (0..frames.len() as u64).map(|i| first + i).collect();
        {
            let mut sh = self.shared.lock();
            if let Some(e) = &sh.closed {
                return Err(e.clone());
            }
            for (f, &id) in frames.iter().zip(&ids) {
                if matches!(f.kind, Kind::Request | Kind::Heartbeat) {
                    sh.slots.insert(id, Slot::Waiting);
                }
            }
        }
        let mut out = self.out.lock();
        let (stream, buf) = &mut *out;
        buf.clear();
        for (f, &id) in frames.iter().zip(&ids) {
            let h = Header {
                kind: f.kind,
                id,
                priority: f.priority,
                deadline_ms: f.deadline_ms,
            };
            frame::encode(buf, &h, f.payload, f.meta);
        }
        if let Err(e) = stream.write_all(buf) {
            drop(out);
            let e = match e.kind() {
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => BusError::Timeout {
                    what: "writing to the extension (it stopped reading)".into(),
                    after_ms: SEND_TIMEOUT.as_millis() as u64,
                },
                _ => BusError::from(e),
            };
            self.close(e.clone());
            return Err(e);
        }
        Ok(ids)
    }

    /// Waits for the answer to `id` (a response, an error frame as
    /// `BusError::Remote`, or a heartbeat reply).
    pub fn wait(&self, id: u64, deadline: Option<Instant>) -> Result<Frame> {
        let mut sh = self.shared.lock();
        loop {
            match sh.slots.get(&id) {
                Some(Slot::Done(_)) => {
                    let Some(Slot::Done(f)) = sh.slots.remove(&id) else {
                        unreachable!()
                    };
                    return answer(f);
                }
                Some(Slot::Waiting) => {}
                None => return Err(BusError::Cancelled(id)),
            }
            if let Some(e) = sh.closed.clone() {
                sh.slots.remove(&id);
                return Err(e);
            }
            // The slot stays: the caller may wait again, or cancel.
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(BusError::Timeout {
                    what: format!("call {id}"),
                    after_ms: 0,
                });
            }
            self.wait_or_read(&mut sh, deadline);
        }
    }

    /// Waits while another caller reads; with nobody reading, reads one
    /// round itself, files what came in, and wakes the others.
    fn wait_or_read(&self, sh: &mut MutexGuard<'_, Shared>, deadline: Option<Instant>) {
        if sh.reading {
            match deadline {
                Some(d) => {
                    self.cv.wait_until(sh, d);
                }
                None => self.cv.wait(sh),
            }
            return;
        }
        sh.reading = true;
        let got = MutexGuard::unlocked(sh, || self.read_some(deadline));
        sh.reading = false;
        match got {
            Ok(frames) => frames.into_iter().for_each(|f| dispatch(sh, f)),
            Err(e) => {
                sh.closed.get_or_insert(e);
            }
        }
        self.cv.notify_all();
    }

    /// One blocking read, then whatever else is already buffered.
    fn read_some(&self, deadline: Option<Instant>) -> Result<Vec<Frame>> {
        let mut rd = self.reader.lock();
        let mut frames = Vec::new();
        if let Some(f) = rd.next_frame(deadline)? {
            frames.push(f);
            while let Some(f) = rd.buffered()? {
                frames.push(f);
            }
        }
        Ok(frames)
    }

    /// A request and its answer.
    pub fn call(&self, req: Outgoing<'_>, deadline: Option<Instant>) -> Result<Frame> {
        let id = self.send(&[req], None)?[0];
        self.wait(id, deadline)
    }

    /// Gives up on a call: its late answer is dropped, and the extension is told.
    pub fn cancel(&self, id: u64) -> Result<()> {
        self.shared.lock().slots.remove(&id);
        self.cv.notify_all();
        self.send(
            &[Outgoing {
                kind: Kind::Cancel,
                payload: &[],
                meta: &[],
                priority: 255,
                deadline_ms: 0,
            }],
            Some(id),
        )
        .map(|_| ())
    }

    /// Round trip of a heartbeat, answered by the extension's endpoint
    /// even while its handlers are busy; the reply's metadata says how busy.
    pub fn heartbeat(&self, timeout: Duration) -> Result<Frame> {
        let req = Outgoing {
            kind: Kind::Heartbeat,
            payload: &[],
            meta: &[],
            priority: 255,
            deadline_ms: 0,
        };
        self.call(req, Some(Instant::now() + timeout)).map_err(|e| match e {
            BusError::Timeout { .. } => BusError::Timeout {
                what: "heartbeat".into(),
                after_ms: timeout.as_millis() as u64,
            },
            e => e,
        })
    }

    /// Events the extension sent, waiting up to `deadline` for the first.
    pub fn events(&self, deadline: Option<Instant>) -> Result<Vec<Frame>> {
        self.take(deadline, |sh| &mut sh.events)
    }

    /// Calls the extension made to the host, waiting up to `deadline` for the
    /// first: answer each with [`Conn::answer`].
    pub fn requests(&self, deadline: Option<Instant>) -> Result<Vec<Frame>> {
        self.take(deadline, |sh| &mut sh.requests)
    }

    /// Empties one of the queues the reader fills, waiting (or reading) up to
    /// `deadline` for its first frame.
    fn take(&self, deadline: Option<Instant>, queue: fn(&mut Shared) -> &mut VecDeque<Frame>) -> Result<Vec<Frame>> {
        let mut sh = self.shared.lock();
        loop {
            let q = queue(&mut sh);
            if !q.is_empty() {
                return Ok(q.drain(..).collect());
            }
            if let Some(e) = &sh.closed {
                return Err(e.clone());
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(Vec::new());
            }
            self.wait_or_read(&mut sh, deadline);
        }
    }

    /// Answers the extension's call `id`: a msgpack payload, or an error's.
    pub fn answer(&self, id: u64, is_error: bool, payload: &[u8]) -> Result<()> {
        let kind = if is_error { Kind::Error } else { Kind::Response };
        self.send(
            &[Outgoing {
                kind,
                payload,
                meta: &[],
                priority: 0,
                deadline_ms: 0,
            }],
            Some(id),
        )
        .map(|_| ())
    }

    /// Ends the connection with `reason`: every waiting call returns it.
    pub fn close(&self, reason: BusError) {
        {
            let mut sh = self.shared.lock();
            sh.closed.get_or_insert(reason);
            self.cv.notify_all();
        }
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    pub fn closed(&self) -> Option<BusError> {
        self.shared.lock().closed.clone()
    }

    pub fn pending(&self) -> usize {
        self.shared.lock().slots.len()
    }
}

fn dispatch(sh: &mut Shared, f: Frame) {
    match f.header.kind {
        Kind::Response | Kind::Error | Kind::Heartbeat => {
            if let Some(slot) = sh.slots.get_mut(&f.header.id) {
                *slot = Slot::Done(f);
            }
            // An answer nobody waits for (cancelled or timed out) is dropped.
        }
        Kind::Event => {
            if sh.events.len() == MAX_EVENTS {
                sh.events.pop_front();
            }
            sh.events.push_back(f);
        }
        Kind::Request if sh.requests.len() < MAX_REQUESTS => sh.requests.push_back(f),
        _ => {}
    }
}

fn answer(f: Frame) -> Result<Frame> {
    if f.header.kind == Kind::Error {
        Err(BusError::Remote(f.payload().to_vec()))
    } else {
        Ok(f)
    }
}

/// The `protocol` field of a handshake payload (a msgpack map).
pub fn protocol_of(payload: &[u8]) -> Result<String> {
    use crate::msgpack::{Cursor, Token};
    let mut c = Cursor::new(payload);
    let Token::Map(n) = c.token()? else {
        return Err(BusError::Malformed("handshake payload must be a map".into()));
    };
    for _ in 0..n {
        let key = c.token()?;
        if key == Token::Str(b"protocol") {
            if let Token::Str(v) = c.token()? {
                return String::from_utf8(v.to_vec())
                    .map_err(|_| BusError::Malformed("handshake protocol is not UTF-8".into()));
            }
            return Err(BusError::Malformed("handshake protocol must be a string".into()));
        }
        c.skip(1)?;
    }
    Err(BusError::Malformed("handshake has no protocol version".into()))
}
