//! Fast Beta draws for Thompson sampling.
//!
//! Beta(α, β) = X / (X + Y) with X ~ Gamma(α), Y ~ Gamma(β), each drawn by
//! Marsaglia–Tsang. The per-shape constants are computed once per batch of
//! choices rather than once per draw (`rand_distr::Beta::new` would redo the
//! square root and its own set-up every time). Both shapes are
//! successes + 1 and failures + 1, so never below 1 and the α < 1 boost is
//! never needed.

use rand::Rng;
use rand_distr::StandardNormal;

/// Marsaglia–Tsang constants for Gamma(α, 1), α ≥ 1: d = α − 1/3, c = 1/√(9d).
#[derive(Clone, Copy, Debug)]
pub(crate) struct GammaConst {
    d: f64,
    c: f64,
}

impl GammaConst {
    pub fn new(alpha: f64) -> GammaConst {
        debug_assert!(alpha >= 1.0);
        let d = alpha - 1.0 / 3.0;
        GammaConst {
            d,
            c: 1.0 / (9.0 * d).sqrt(),
        }
    }

    #[inline(always)]
    pub fn sample<R: Rng + ?Sized>(self, rng: &mut R) -> f64 {
        loop {
            let x: f64 = rng.sample(StandardNormal);
            let v = 1.0 + self.c * x;
            if v <= 0.0 {
                continue;
            }
            let v = v * v * v;
            let u: f64 = rng.random();
            let x2 = x * x;
            // The squeeze accepts ~98% of draws without a logarithm.
            if u < 1.0 - 0.0331 * x2 * x2 || u.ln() < 0.5 * x2 + self.d * (1.0 - v + v.ln()) {
                return self.d * v;
            }
        }
    }
}

/// Constants for Beta(α, β), α, β ≥ 1.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BetaConst {
    a: GammaConst,
    b: GammaConst,
    /// Beta(1, 1), a candidate with no record yet, is uniform: one draw, not two gammas.
    uniform: bool,
}

impl BetaConst {
    pub fn new(alpha: f64, beta: f64) -> BetaConst {
        BetaConst {
            a: GammaConst::new(alpha),
            b: GammaConst::new(beta),
            uniform: alpha == 1.0 && beta == 1.0,
        }
    }

    #[inline(always)]
    pub fn sample<R: Rng + ?Sized>(self, rng: &mut R) -> f64 {
        if self.uniform {
            return rng.random();
        }
        let x = self.a.sample(rng);
        let y = self.b.sample(rng);
        x / (x + y)
    }
}

/// One Thompson decision: the index of the largest Beta draw × quality
/// (the first on ties) and that score. `beta` and `quality` are parallel.
#[inline(always)]
pub(crate) fn thompson_argmax<R: Rng + ?Sized>(rng: &mut R, beta: &[BetaConst], quality: &[f64]) -> (usize, f64) {
    let mut best = 0usize;
    let mut best_score = f64::NEG_INFINITY;
    for (k, (b, q)) in beta.iter().zip(quality).enumerate() {
        let score = b.sample(rng) * q;
        if score > best_score {
            best = k;
            best_score = score;
        }
    }
    (best, best_score)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    use super::*;

    fn moments(draws: impl Iterator<Item = f64>) -> (f64, f64) {
        let v: Vec<f64> = draws.collect();
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
        (mean, var)
    }

    #[test]
    fn gamma_has_the_right_mean_and_variance() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        for alpha in [1.0, 1.5, 3.0, 10.0, 200.0] {
            let g = GammaConst::new(alpha);
            let (mean, var) = moments((0..200_000).map(|_| g.sample(&mut rng)));
            // Gamma(α, 1): mean = var = α; 200k draws put the standard error
            // of the mean at √(α/200k), so 1% relative is many sigmas.
            assert!((mean - alpha).abs() < 0.01 * alpha + 0.01, "alpha {alpha}: mean {mean}");
            assert!((var - alpha).abs() < 0.03 * alpha + 0.02, "alpha {alpha}: var {var}");
        }
    }

    #[test]
    fn beta_has_the_right_mean_and_variance() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(2);
        for (a, b) in [(1.0, 1.0), (2.0, 5.0), (30.0, 3.0), (500.0, 400.0)] {
            let k = BetaConst::new(a, b);
            let (mean, var) = moments((0..200_000).map(|_| k.sample(&mut rng)));
            let m = a / (a + b);
            let v = a * b / ((a + b) * (a + b) * (a + b + 1.0));
            assert!((mean - m).abs() < 0.003, "Beta({a},{b}): mean {mean} vs {m}");
            assert!((var - v).abs() < 0.03 * v, "Beta({a},{b}): var {var} vs {v}");
        }
    }

    #[test]
    fn beta_draws_stay_in_the_unit_interval() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        let k = BetaConst::new(1.0, 1.0e6);
        for _ in 0..10_000 {
            let x = k.sample(&mut rng);
            assert!((0.0..=1.0).contains(&x));
        }
    }
}
