/// A function's recent demand: a usage rate decayed in time (time constant
/// `tau`), which says whether it will be used soon, and the peak of
/// concurrent leases decayed per acquire, which says how many instances a
/// use needs. The peak must not fade during quiet gaps: those are exactly
/// when it is needed, at the start of the next burst.
/// Weight an old peak keeps at each acquire: it fades over ~32 acquires.
const PEAK_KEEP: f64 = 1.0 - 1.0 / 32.0;

#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    rate: f64,
    peak: f64,
    last: f64,
    /// Mean seconds a lease is held (EWMA over releases).
    pub hold: f64,
    seen: bool,
}

impl Usage {
    #[inline]
    fn decay(&self, now: f64, tau: f64) -> f64 {
        if !self.seen {
            return 0.0;
        }
        let x = (now - self.last).max(0.0) / tau;
        // Back-to-back acquires on the hot path: 1 − x is within 5e-7 of e^−x here.
        if x < 1e-3 { 1.0 - x } else { (-x).exp() }
    }

    /// Counts one acquire at `now` made while `concurrent` leases were out (this one included).
    #[inline]
    pub fn on_acquire(&mut self, now: f64, tau: f64, concurrent: u32) {
        let k = self.decay(now, tau);
        self.rate = self.rate * k + 1.0 / tau;
        self.peak = (self.peak * PEAK_KEEP).max(f64::from(concurrent));
        self.last = now;
        self.seen = true;
    }

    #[inline]
    pub fn on_release(&mut self, held: f64) {
        self.hold = if self.hold == 0.0 {
            held
        } else {
            0.8 * self.hold + 0.2 * held
        };
    }

    /// Uses per second, decayed to `now`.
    pub fn rate(&self, now: f64, tau: f64) -> f64 {
        self.rate * self.decay(now, tau)
    }

    /// When the decayed rate falls to `rate`: the end of the time a use is
    /// expected. Callers compare against this instant rather than re-deriving
    /// the rate, so the decision is the same wherever it is made.
    pub fn active_until(&self, tau: f64, rate: f64) -> f64 {
        if !self.seen || self.rate <= rate {
            return self.last;
        }
        self.last + tau * (self.rate / rate).ln()
    }

    /// Leases held at once at the peak of recent use (about the last 32 acquires).
    pub fn peak(&self) -> f64 {
        self.peak
    }
}
