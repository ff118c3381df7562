use crate::PoolError;

/// Where the pool reads the time. The pool itself only ever sees seconds as
/// `f64`; a simulator owns a virtual clock and moves it on explicitly, so the
/// same pool logic runs at full simulation speed without sleeping.
#[derive(Debug, Clone)]
pub enum Clock {
    /// Seconds since the clock was made, from the monotonic clock. `last` is
    /// the latest time handed out, so that the fast and precise readings
    /// together never go backwards.
    Wall { origin: f64, last: f64 },
    /// Seconds as last set by `advance_to`.
    Virtual(f64),
}

#[cfg(target_os = "linux")]
fn monotonic(coarse: bool) -> f64 {
    let id = if coarse {
        libc::CLOCK_MONOTONIC_COARSE
    } else {
        libc::CLOCK_MONOTONIC
    };
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; both clock ids exist on every Linux since 2.6.32.
    unsafe { libc::clock_gettime(id, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

#[cfg(not(target_os = "linux"))]
fn monotonic(_coarse: bool) -> f64 {
    use std::sync::OnceLock;
    use std::time::Instant;
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    ORIGIN.get_or_init(Instant::now).elapsed().as_secs_f64()
}

impl Clock {
    pub fn wall() -> Self {
        Clock::Wall {
            origin: monotonic(false),
            last: 0.0,
        }
    }

    pub fn virtual_at(start: f64) -> Self {
        Clock::Virtual(start)
    }

    pub fn is_virtual(&self) -> bool {
        matches!(self, Clock::Virtual(_))
    }

    /// The time, read precisely (timers, waits, warm-ups).
    #[inline]
    pub fn now(&mut self) -> f64 {
        match self {
            Clock::Wall { origin, last } => {
                *last = (monotonic(false) - *origin).max(*last);
                *last
            }
            Clock::Virtual(t) => *t,
        }
    }

    /// The time for the acquire/release hot path: on Linux the coarse
    /// monotonic clock (one scheduler tick of resolution, a few ns to read
    /// instead of ~20), which is plenty for idle timestamps and usage rates.
    #[inline]
    pub fn now_fast(&mut self) -> f64 {
        match self {
            Clock::Wall { origin, last } => {
                *last = (monotonic(true) - *origin).max(*last);
                *last
            }
            Clock::Virtual(t) => *t,
        }
    }

    /// Moves a virtual clock to `t`; time never goes backwards.
    pub fn advance_to(&mut self, t: f64) -> Result<f64, PoolError> {
        match self {
            Clock::Wall { .. } => Err(PoolError::Clock(
                "this pool runs on the wall clock; only a virtual clock can be advanced".into(),
            )),
            Clock::Virtual(now) => {
                if !t.is_finite() || t < *now {
                    return Err(PoolError::Clock(format!(
                        "cannot move the virtual clock from {now} to {t}: time only moves forward"
                    )));
                }
                *now = t;
                Ok(t)
            }
        }
    }
}
