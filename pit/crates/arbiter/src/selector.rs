//! Choice among alternatives: named candidates with a weight, a priority and a
//! prior quality, their running statistics, and the [`Policy`] that picks one.

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rustc_hash::FxHashMap;

use crate::error::{ArbiterError, Result};
use crate::policy::Policy;
use crate::sampling::{BetaConst, thompson_argmax};

/// What is fixed about a candidate when it is added.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CandidateSpec {
    /// Share under [`Policy::WeightedRandom`]; finite and > 0.
    pub weight: f64,
    /// Rank under [`Policy::Priority`]; higher wins.
    pub priority: i32,
    /// Quality assumed until the first outcome is recorded; in [0, 1].
    pub prior_quality: f64,
}

impl Default for CandidateSpec {
    fn default() -> CandidateSpec {
        CandidateSpec {
            weight: 1.0,
            priority: 0,
            prior_quality: 1.0,
        }
    }
}

/// What a candidate has done so far; the means run over every recorded outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CandidateStats {
    pub successes: u64,
    pub failures: u64,
    /// Chosen and not yet recorded.
    pub in_flight: u64,
    pub mean_latency: f64,
    pub mean_cost: f64,
    pub mean_quality: f64,
    pub chosen: u64,
}

impl CandidateStats {
    /// Outcomes recorded: successes + failures.
    pub fn records(&self) -> u64 {
        self.successes + self.failures
    }
}

/// The result of one run of a chosen candidate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Outcome {
    pub success: bool,
    /// Seconds; finite and ≥ 0.
    pub latency: f64,
    /// Any unit; finite and ≥ 0.
    pub cost: f64,
    /// In [0, 1].
    pub quality: f64,
}

impl Outcome {
    fn check(&self) -> Result<()> {
        let bad = |field: &str, v: f64, want: &str| {
            Err(ArbiterError::InvalidArgument(format!(
                "outcome {field} must be {want}, got {v}"
            )))
        };
        if !(self.latency.is_finite() && self.latency >= 0.0) {
            return bad("latency", self.latency, "finite and >= 0");
        }
        if !(self.cost.is_finite() && self.cost >= 0.0) {
            return bad("cost", self.cost, "finite and >= 0");
        }
        if !(0.0..=1.0).contains(&self.quality) {
            return bad("quality", self.quality, "in [0, 1]");
        }
        Ok(())
    }
}

/// Picks among named candidates by a [`Policy`] and learns from recorded
/// outcomes. Deterministic for a given seed: the same calls give the same
/// choices.
#[derive(Clone, Debug)]
pub struct Selector {
    policy: Policy,
    rng: Xoshiro256PlusPlus,
    names: Vec<String>,
    index: FxHashMap<String, usize>,
    specs: Vec<CandidateSpec>,
    stats: Vec<CandidateStats>,
    /// Σ success × quality per candidate: UCB1's reward.
    reward_sum: Vec<f64>,
    total_records: u64,
    /// Round robin: the next index to consider.
    cursor: usize,
    /// Running sums of the weights, for a binary search under weighted random.
    cum_weight: Vec<f64>,
    /// Thompson: per-candidate Beta constants and quality estimates, rebuilt
    /// per call; kept here only to reuse the allocation.
    beta: Vec<BetaConst>,
    quality: Vec<f64>,
}

impl Selector {
    pub fn new(policy: Policy, seed: u64) -> Selector {
        Selector {
            policy,
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            names: Vec::new(),
            index: FxHashMap::default(),
            specs: Vec::new(),
            stats: Vec::new(),
            reward_sum: Vec::new(),
            total_records: 0,
            cursor: 0,
            cum_weight: Vec::new(),
            beta: Vec::new(),
            quality: Vec::new(),
        }
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Changes the policy; statistics and the round-robin cursor are kept.
    pub fn set_policy(&mut self, policy: Policy) {
        self.policy = policy;
    }

    /// Adds a candidate and returns its index (indices are dense, in order of addition).
    pub fn add(&mut self, name: &str, spec: CandidateSpec) -> Result<usize> {
        if self.index.contains_key(name) {
            return Err(ArbiterError::DuplicateCandidate(name.to_owned()));
        }
        let invalid = |m: String| Err(ArbiterError::InvalidArgument(format!("candidate '{name}': {m}")));
        if !(spec.weight.is_finite() && spec.weight > 0.0) {
            return invalid(format!("weight must be finite and > 0, got {}", spec.weight));
        }
        if !(0.0..=1.0).contains(&spec.prior_quality) {
            return invalid(format!("prior_quality must be in [0, 1], got {}", spec.prior_quality));
        }
        let total = self.cum_weight.last().copied().unwrap_or(0.0) + spec.weight;
        if !total.is_finite() {
            return invalid(format!("weight {} makes the total weight overflow", spec.weight));
        }
        let idx = self.names.len();
        self.names.push(name.to_owned());
        self.index.insert(name.to_owned(), idx);
        self.specs.push(spec);
        self.stats.push(CandidateStats::default());
        self.reward_sum.push(0.0);
        self.cum_weight.push(total);
        Ok(idx)
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn index(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    pub fn name(&self, idx: usize) -> Option<&str> {
        self.names.get(idx).map(String::as_str)
    }

    /// The spec a candidate was added with. Panics if `idx` is out of range.
    pub fn spec(&self, idx: usize) -> &CandidateSpec {
        &self.specs[idx]
    }

    /// A candidate's statistics. Panics if `idx` is out of range.
    pub fn stats(&self, idx: usize) -> &CandidateStats {
        &self.stats[idx]
    }

    /// Outcomes recorded over all candidates.
    pub fn total_records(&self) -> u64 {
        self.total_records
    }

    /// Picks a candidate by the policy and counts it as chosen and in flight.
    pub fn choose(&mut self) -> Result<usize> {
        if self.is_empty() {
            return Err(ArbiterError::NoCandidates);
        }
        let i = self.pick(None);
        self.mark_chosen(i, 1);
        Ok(i)
    }

    /// Like [`choose`](Self::choose), restricted to the candidates `among`.
    pub fn choose_among(&mut self, among: &[usize]) -> Result<usize> {
        if among.is_empty() {
            return Err(ArbiterError::NoCandidates);
        }
        if let Some(&bad) = among.iter().find(|&&i| i >= self.len()) {
            return Err(self.unknown(bad));
        }
        let i = self.pick(Some(among));
        self.mark_chosen(i, 1);
        Ok(i)
    }

    /// Appends `n` choices to `out`: the same choices, and the same random
    /// stream, as `n` calls of [`choose`](Self::choose) with nothing recorded
    /// in between, without redoing per-call set-up. Priority, quality_first
    /// and ucb1 read nothing that changes between choices, so they repeat one
    /// choice `n` times (ucb1 explores only as outcomes are recorded).
    pub fn choose_many(&mut self, n: usize, out: &mut Vec<usize>) -> Result<()> {
        if self.is_empty() {
            return Err(ArbiterError::NoCandidates);
        }
        out.reserve(n);
        match self.policy {
            // Nothing these read changes between choices, so one pick stands for all.
            Policy::Priority | Policy::QualityFirst | Policy::Ucb1 => {
                if n > 0 {
                    let i = self.pick(None);
                    out.extend(std::iter::repeat_n(i, n));
                    self.mark_chosen(i, n as u64);
                }
            }
            Policy::Thompson => {
                self.prepare_thompson(None);
                // A local copy of the generator stays in registers across the
                // loop; through `self` every draw would store it back.
                let mut rng = self.rng.clone();
                for _ in 0..n {
                    let (i, _) = thompson_argmax(&mut rng, &self.beta, &self.quality);
                    out.push(i);
                    self.mark_chosen(i, 1);
                }
                self.rng = rng;
            }
            Policy::WeightedRandom => {
                for _ in 0..n {
                    let i = self.weighted_all();
                    out.push(i);
                    self.mark_chosen(i, 1);
                }
            }
            // The cursor and the loads move with every choice.
            Policy::RoundRobin | Policy::LeastLoaded => {
                for _ in 0..n {
                    let i = self.pick(None);
                    out.push(i);
                    self.mark_chosen(i, 1);
                }
            }
        }
        Ok(())
    }

    /// Records the outcome of a run of candidate `idx`: it leaves flight
    /// (saturating at zero) and its running means take the new values in.
    pub fn record(&mut self, idx: usize, outcome: Outcome) -> Result<()> {
        if idx >= self.len() {
            return Err(self.unknown(idx));
        }
        outcome.check()?;
        self.apply(idx, &outcome);
        Ok(())
    }

    /// Records several outcomes; if any is invalid, none is recorded.
    pub fn record_many(&mut self, outcomes: &[(usize, Outcome)]) -> Result<()> {
        for (idx, outcome) in outcomes {
            if *idx >= self.len() {
                return Err(self.unknown(*idx));
            }
            outcome.check()?;
        }
        for (idx, outcome) in outcomes {
            self.apply(*idx, outcome);
        }
        Ok(())
    }

    fn unknown(&self, idx: usize) -> ArbiterError {
        ArbiterError::UnknownCandidate(format!("index {idx} (there are {})", self.len()))
    }

    fn apply(&mut self, idx: usize, o: &Outcome) {
        let s = &mut self.stats[idx];
        s.in_flight = s.in_flight.saturating_sub(1);
        if o.success {
            s.successes += 1;
        } else {
            s.failures += 1;
        }
        let n = s.records() as f64;
        s.mean_latency += (o.latency - s.mean_latency) / n;
        s.mean_cost += (o.cost - s.mean_cost) / n;
        s.mean_quality += (o.quality - s.mean_quality) / n;
        if o.success {
            self.reward_sum[idx] += o.quality;
        }
        self.total_records += 1;
    }

    fn mark_chosen(&mut self, i: usize, n: u64) {
        let s = &mut self.stats[i];
        s.chosen += n;
        s.in_flight += n;
    }

    /// The recorded mean quality once there is one, the prior before.
    fn quality_estimate(&self, i: usize) -> f64 {
        if self.stats[i].records() > 0 {
            self.stats[i].mean_quality
        } else {
            self.specs[i].prior_quality
        }
    }

    /// One choice by the policy over `among` (all candidates when `None`);
    /// the caller has checked that the set is non-empty and in range.
    fn pick(&mut self, among: Option<&[usize]>) -> usize {
        match self.policy {
            Policy::Priority => self.best_by(among, |s, i| (s.specs[i].priority, 0.0)),
            Policy::RoundRobin => self.round_robin(among),
            Policy::WeightedRandom => match among {
                None => self.weighted_all(),
                Some(among) => self.weighted_among(among),
            },
            // Fewest in flight, then lowest latency: negate both so bigger is better.
            Policy::LeastLoaded => self.best_by(among, |s, i| {
                let st = &s.stats[i];
                (std::cmp::Reverse(st.in_flight), -st.mean_latency)
            }),
            Policy::QualityFirst => self.best_by(among, |s, i| {
                let st = &s.stats[i];
                let rate = (st.successes as f64 + 1.0) / (st.records() as f64 + 2.0);
                (rate * s.quality_estimate(i), -st.mean_cost)
            }),
            Policy::Ucb1 => self.ucb1(among),
            Policy::Thompson => {
                self.prepare_thompson(among);
                self.draw_thompson(among)
            }
        }
    }

    /// The candidate with the greatest `(key, tiebreak)`; among equals, the lowest index.
    fn best_by<K: PartialOrd>(&self, among: Option<&[usize]>, key: impl Fn(&Selector, usize) -> (K, f64)) -> usize {
        let mut best: Option<(usize, (K, f64))> = None;
        for i in Among::new(among, self.len()) {
            let k = key(self, i);
            let better = match &best {
                None => true,
                Some((b, bk)) => match k.partial_cmp(bk) {
                    Some(std::cmp::Ordering::Greater) => true,
                    Some(std::cmp::Ordering::Equal) => i < *b,
                    _ => false,
                },
            };
            if better {
                best = Some((i, k));
            }
        }
        best.map_or(0, |(i, _)| i)
    }

    fn round_robin(&mut self, among: Option<&[usize]>) -> usize {
        let n = self.len();
        let i = match among {
            None => self.cursor % n,
            // The first of `among` at or after the cursor, else the first of `among`.
            Some(among) => {
                let after = among.iter().copied().filter(|&i| i >= self.cursor).min();
                after.unwrap_or_else(|| among.iter().copied().min().unwrap_or(0))
            }
        };
        self.cursor = (i + 1) % n;
        i
    }

    fn weighted_all(&mut self) -> usize {
        let total = self.cum_weight[self.cum_weight.len() - 1];
        let u = self.rng.random::<f64>() * total;
        self.cum_weight.partition_point(|&c| c <= u).min(self.len() - 1)
    }

    fn weighted_among(&mut self, among: &[usize]) -> usize {
        let total: f64 = among.iter().map(|&i| self.specs[i].weight).sum();
        let mut u = self.rng.random::<f64>() * total;
        for &i in among {
            u -= self.specs[i].weight;
            if u < 0.0 {
                return i;
            }
        }
        among[among.len() - 1]
    }

    fn ucb1(&self, among: Option<&[usize]>) -> usize {
        let untried = Among::new(among, self.len())
            .filter(|&i| self.stats[i].records() == 0)
            .min();
        if let Some(i) = untried {
            return i;
        }
        let log_n = 2.0 * (self.total_records as f64).ln();
        self.best_by(among, |s, i| {
            let n = s.stats[i].records() as f64;
            (s.reward_sum[i] / n + (log_n / n).sqrt(), 0.0)
        })
    }

    fn prepare_thompson(&mut self, among: Option<&[usize]>) {
        self.beta.clear();
        self.quality.clear();
        for i in Among::new(among, self.len()) {
            let st = &self.stats[i];
            self.beta
                .push(BetaConst::new(st.successes as f64 + 1.0, st.failures as f64 + 1.0));
            self.quality.push(self.quality_estimate(i));
        }
    }

    /// One Thompson draw with the constants from [`prepare_thompson`](Self::prepare_thompson).
    fn draw_thompson(&mut self, among: Option<&[usize]>) -> usize {
        let (best, best_score) = thompson_argmax(&mut self.rng, &self.beta, &self.quality);
        match among {
            None => best,
            // Draws are continuous, so ties (all qualities 0) are the only
            // equal scores; they still go to the lowest index.
            Some(among) if best_score <= 0.0 => among.iter().copied().min().unwrap_or(0),
            Some(among) => among[best],
        }
    }
}

/// Iterates `among`, or all of `0..n` when it is `None`.
enum Among<'a> {
    All(std::ops::Range<usize>),
    Some(std::iter::Copied<std::slice::Iter<'a, usize>>),
}

impl<'a> Among<'a> {
    fn new(among: Option<&'a [usize]>, n: usize) -> Among<'a> {
        match among {
            None => Among::All(0..n),
            Some(a) => Among::Some(a.iter().copied()),
        }
    }
}

impl Iterator for Among<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        match self {
            Among::All(r) => r.next(),
            Among::Some(it) => it.next(),
        }
    }
}
