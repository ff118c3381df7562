//! The frame: `u32` little-endian body length, then a msgpack array
//! `[[type, id, priority, deadline_ms], payload, metadata]`. The length is
//! checked against the limit before a byte of the body is allocated.

use std::io::{self, Read};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Instant;

use crate::error::{BusError, Result};
use crate::msgpack::{Cursor, Token};

/// Protocol spoken by this build; peers are compatible when the majors match.
pub const PROTOCOL_VERSION: &str = "1.0";
/// Default frame limit: artifacts travel by hash, so frames stay small.
pub const DEFAULT_MAX_FRAME: usize = 16 << 20;

#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Handshake = 1,
    Request = 2,
    Response = 3,
    Error = 4,
    Event = 5,
    Heartbeat = 6,
    Cancel = 7,
    Shutdown = 8,
}

impl Kind {
    pub fn from_u64(v: u64) -> Result<Self> {
        Ok(match v {
            1 => Self::Handshake,
            2 => Self::Request,
            3 => Self::Response,
            4 => Self::Error,
            5 => Self::Event,
            6 => Self::Heartbeat,
            7 => Self::Cancel,
            8 => Self::Shutdown,
            _ => return Err(BusError::Malformed(format!("unknown message type {v}"))),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Handshake => "handshake",
            Self::Request => "request",
            Self::Response => "response",
            Self::Error => "error",
            Self::Event => "event",
            Self::Heartbeat => "heartbeat",
            Self::Cancel => "cancel",
            Self::Shutdown => "shutdown",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub kind: Kind,
    pub id: u64,
    pub priority: u8,
    /// Milliseconds since the Unix epoch; 0 means none.
    pub deadline_ms: u64,
}

/// A decoded frame; payload and metadata stay msgpack bytes inside `body`.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub header: Header,
    body: Vec<u8>,
    payload: (usize, usize),
    meta: (usize, usize),
}

impl Frame {
    pub fn payload(&self) -> &[u8] {
        &self.body[self.payload.0..self.payload.1]
    }

    pub fn meta(&self) -> &[u8] {
        &self.body[self.meta.0..self.meta.1]
    }

    /// Parses one frame body (the bytes after the length prefix).
    pub fn decode(body: Vec<u8>) -> Result<Self> {
        let mut c = Cursor::new(&body);
        expect_array(&mut c, 3, "frame")?;
        expect_array(&mut c, 4, "header")?;
        let kind = Kind::from_u64(c.uint("message type")?)?;
        let id = c.uint("correlation id")?;
        let priority = u8::try_from(c.uint("priority")?)
            .map_err(|_| BusError::Malformed("priority must fit in 0..=255".into()))?;
        let deadline_ms = c.uint("deadline")?;
        let p0 = c.pos;
        c.skip(1)?;
        let p1 = c.pos;
        match c.token()? {
            Token::Map(n) => {
                for _ in 0..2 * n {
                    c.skip(2)?;
                }
            }
            Token::Nil => {}
            t => return Err(BusError::Malformed(format!("metadata must be a map, found {t:?}"))),
        }
        let m1 = c.pos;
        if c.remaining() != 0 {
            return Err(BusError::Malformed(format!(
                "{} stray bytes after the metadata",
                c.remaining()
            )));
        }
        Ok(Self {
            header: Header {
                kind,
                id,
                priority,
                deadline_ms,
            },
            payload: (p0, p1),
            meta: (p1, m1),
            body,
        })
    }
}

fn expect_array(c: &mut Cursor<'_>, n: usize, what: &str) -> Result<()> {
    match c.token()? {
        Token::Array(k) if k == n => Ok(()),
        t => Err(BusError::Malformed(format!(
            "{what} must be an array of {n}, found {t:?}"
        ))),
    }
}

/// Appends one frame (prefix included) to `out`. `payload` and `meta` must
/// already be msgpack; `meta` empty means an empty map.
pub fn encode(out: &mut Vec<u8>, header: &Header, payload: &[u8], meta: &[u8]) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.push(0x93);
    out.push(0x94);
    let _ = rmp::encode::write_uint(out, header.kind as u64);
    let _ = rmp::encode::write_uint(out, header.id);
    let _ = rmp::encode::write_uint(out, u64::from(header.priority));
    let _ = rmp::encode::write_uint(out, header.deadline_ms);
    if payload.is_empty() {
        out.push(0xc0);
    } else {
        out.extend_from_slice(payload);
    }
    if meta.is_empty() {
        out.push(0x80);
    } else {
        out.extend_from_slice(meta);
    }
    let len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
}

/// Buffered frame reader over a stream; waits with `poll(2)` so a read can
/// carry a deadline without changing the socket's mode.
pub struct FrameReader<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    max_frame: usize,
    /// SO_RCVTIMEO now set on the socket, in ms; 0 means none.
    timeout_ms: u64,
    spin: std::time::Duration,
    backoff: SpinBackoff,
}

/// When spinning pays. A spin that finds its answer saves a sleep and a
/// wake-up on each side; one that does not only burns a core, and when the
/// cores are all busy it takes the very core the peer needs to answer
/// (measured with one of two cores loaded: a 50 µs spin on both ends made a
/// round trip 70 µs, against 23 µs for a plain blocking pipe). So when spins
/// keep missing answers that then come just after them (contention, not an
/// idle peer), reads block at once for a stretch of reads that doubles each
/// time this repeats, up to [`SpinBackoff::MOST`]; one spin that finds its
/// answer brings spinning back. A peer that is merely idle (its answer comes
/// long after the spin) counts for nothing either way.
#[derive(Default)]
struct SpinBackoff {
    misses: u32,
    skip: u32,
    stretch: u32,
}

impl SpinBackoff {
    /// Near misses in a row before reads stop spinning.
    const MISSES: u32 = 3;
    const FIRST: u32 = 16;
    const MOST: u32 = 4096;
    /// An answer this soon after a spin began was a near miss.
    const NEAR: std::time::Duration = std::time::Duration::from_micros(500);

    fn wanted(&mut self) -> bool {
        if self.skip == 0 {
            return true;
        }
        self.skip -= 1;
        false
    }

    fn found(&mut self) {
        *self = Self::default();
    }

    /// A spin that began at `began` missed; the answer came `after` it began.
    fn missed(&mut self, after: std::time::Duration) {
        if after > Self::NEAR {
            self.misses = 0;
            return;
        }
        self.misses += 1;
        if self.misses >= Self::MISSES {
            self.misses = 0;
            self.stretch = (self.stretch * 2).clamp(Self::FIRST, Self::MOST);
            self.skip = self.stretch;
        }
    }
}

impl<R: Read + AsRawFd> FrameReader<R> {
    pub fn new(inner: R, max_frame: usize) -> Self {
        Self {
            inner,
            buf: vec![0; 64 << 10],
            start: 0,
            end: 0,
            max_frame,
            timeout_ms: 0,
            spin: std::time::Duration::ZERO,
            backoff: SpinBackoff::default(),
        }
    }

    /// A whole frame already in the buffer, if there is one.
    pub fn buffered(&mut self) -> Result<Option<Frame>> {
        let have = self.end - self.start;
        if have < 4 {
            return Ok(None);
        }
        let len = u32::from_le_bytes(self.buf[self.start..self.start + 4].try_into().unwrap()) as usize;
        if len > self.max_frame {
            return Err(BusError::Oversized {
                length: len,
                limit: self.max_frame,
            });
        }
        if have < 4 + len {
            if 4 + len > self.buf.len() {
                // Grow only to the announced size, which is within the limit.
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
                self.buf.resize(4 + len, 0);
            }
            return Ok(None);
        }
        let body = self.buf[self.start + 4..self.start + 4 + len].to_vec();
        self.start += 4 + len;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        Frame::decode(body).map(Some)
    }

    /// The next frame; `Ok(None)` when `deadline` passes first.
    pub fn next_frame(&mut self, deadline: Option<Instant>) -> Result<Option<Frame>> {
        let mut spun = self.spin.is_zero();
        let mut missed: Option<Instant> = None;
        loop {
            if let Some(f) = self.buffered()? {
                return Ok(Some(f));
            }
            if !spun {
                spun = true;
                if self.backoff.wanted() {
                    let began = Instant::now();
                    if self.spin_read()? {
                        self.backoff.found();
                        continue;
                    }
                    missed = Some(began);
                }
            }
            // The read itself waits, bounded by SO_RCVTIMEO: waiting in
            // poll(2) first costs a second wake-up path (measured: ~14 µs
            // more per round trip).
            match deadline {
                None => self.set_timeout(None)?,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        if !wait_readable(self.inner.as_raw_fd(), Some(d))? {
                            return Ok(None);
                        }
                    } else {
                        self.set_timeout(Some(left))?;
                    }
                }
            }
            if self.end == self.buf.len() {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    let got = self.end - self.start;
                    return Err(if got == 0 {
                        BusError::Closed("the peer hung up".into())
                    } else {
                        let expected = if got >= 4 {
                            4 + u32::from_le_bytes(self.buf[self.start..self.start + 4].try_into().unwrap()) as usize
                        } else {
                            4
                        };
                        BusError::Truncated { expected, got }
                    });
                }
                Ok(n) => {
                    self.end += n;
                    if let Some(began) = missed.take() {
                        self.backoff.missed(began.elapsed());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut => {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Ok(None);
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl<R: AsRawFd> FrameReader<R> {
    /// Polls the socket without blocking for up to `spin`: an answer that is
    /// microseconds away is then read without a sleep and a wake-up, which
    /// is most of a round trip's cost. `true` when bytes arrived.
    fn spin_read(&mut self) -> Result<bool> {
        if self.end == self.buf.len() {
            return Ok(false);
        }
        let until = Instant::now() + self.spin;
        loop {
            let free = &mut self.buf[self.end..];
            // SAFETY: reads into our own buffer's free tail.
            let n = unsafe {
                libc::recv(
                    self.inner.as_raw_fd(),
                    free.as_mut_ptr().cast(),
                    free.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if n > 0 {
                self.end += n as usize;
                return Ok(true);
            }
            if n == 0 {
                return Ok(false); // end of stream: the blocking read reports it
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::WouldBlock && e.kind() != io::ErrorKind::Interrupted {
                return Err(e.into());
            }
            if Instant::now() >= until {
                return Ok(false);
            }
            std::hint::spin_loop();
        }
    }

    /// How long reads poll before they block (zero: never).
    pub fn set_spin(&mut self, spin: std::time::Duration) {
        self.spin = spin;
    }

    /// Sets SO_RCVTIMEO when it differs from what is set (`None`: wait forever).
    fn set_timeout(&mut self, t: Option<std::time::Duration>) -> Result<()> {
        // Rounded up to whole milliseconds so that small changes cost no system call.
        let ms = t.map_or(0, |t| t.as_micros().div_ceil(1000).max(1) as u64);
        if ms == self.timeout_ms {
            return Ok(());
        }
        let tv = libc::timeval {
            tv_sec: (ms / 1000) as libc::time_t,
            tv_usec: ((ms % 1000) * 1000) as libc::suseconds_t,
        };
        // SAFETY: a valid timeval for the duration of the call.
        let r = unsafe {
            libc::setsockopt(
                self.inner.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error().into());
        }
        self.timeout_ms = ms;
        Ok(())
    }
}

/// `true` when `fd` is readable (or hung up) before `deadline`.
pub fn wait_readable(fd: RawFd, deadline: Option<Instant>) -> Result<bool> {
    loop {
        let timeout = match deadline {
            None => -1,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    0
                } else {
                    (left.as_micros().div_ceil(1000)).min(i32::MAX as u128) as i32
                }
            }
        };
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        let r = unsafe { libc::poll(&mut p, 1, timeout) };
        if r > 0 {
            return Ok(true);
        }
        if r == 0 {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(false);
            }
            continue;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e.into());
        }
    }
}

/// Milliseconds since the Unix epoch, the unit of deadlines on the wire.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The major number of a `major.minor` version string.
pub fn major(version: &str) -> &str {
    version.split('.').next().unwrap_or(version)
}

#[cfg(test)]
mod tests {
    use super::SpinBackoff;
    use std::time::Duration;

    #[test]
    fn near_misses_stop_spinning_for_a_growing_stretch_and_a_hit_restores_it() {
        let near = Duration::from_micros(60);
        let mut b = SpinBackoff::default();
        for _ in 0..SpinBackoff::MISSES {
            assert!(b.wanted());
            b.missed(near);
        }
        let skipped = (0..100).take_while(|_| !b.wanted()).count();
        assert_eq!(skipped, SpinBackoff::FIRST as usize);
        for _ in 0..SpinBackoff::MISSES {
            b.missed(near);
        }
        let skipped = (0..100).take_while(|_| !b.wanted()).count();
        assert_eq!(skipped, 2 * SpinBackoff::FIRST as usize);
        b.found();
        assert!(b.wanted());
    }

    #[test]
    fn an_idle_peer_is_no_reason_to_stop_spinning() {
        let mut b = SpinBackoff::default();
        for _ in 0..100 {
            assert!(b.wanted());
            b.missed(Duration::from_millis(20));
        }
        // Two near misses, then an idle wait: the count starts again.
        b.missed(Duration::from_micros(60));
        b.missed(Duration::from_micros(60));
        b.missed(Duration::from_secs(1));
        b.missed(Duration::from_micros(60));
        assert!(b.wanted());
    }
}
