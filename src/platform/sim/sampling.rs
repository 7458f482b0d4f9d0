//! Random streams and the few distributions the simulator samples from.
//!
//! Every stream is derived from a seed and a path of integers (arm, chunk, purpose), so
//! a result depends only on the request and never on timing or thread scheduling. The
//! distributions are written here because the workspace carries `rand` without
//! `rand_distr`.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Mixes a path of integers into one well-spread seed.
pub fn derive_seed(parts: &[u64]) -> u64 {
    parts.iter().fold(0x5EED_0F5E_ED5E_ED00, |h, p| splitmix(h ^ splitmix(*p)))
}

/// A sampler over its own ChaCha8 stream.
pub struct Sampler {
    rng: ChaCha8Rng,
    spare_normal: Option<f64>,
}

impl Sampler {
    pub fn new(parts: &[u64]) -> Self {
        Sampler { rng: ChaCha8Rng::seed_from_u64(derive_seed(parts)), spare_normal: None }
    }

    /// Uniform in the open interval (0, 1), safe to take the logarithm of.
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        ((self.rng.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
    }

    #[inline]
    pub fn below(&mut self, n: usize) -> usize {
        (((self.rng.next_u64() >> 32) * n as u64) >> 32) as usize
    }

    #[inline]
    pub fn bernoulli(&mut self, p: f64) -> bool {
        self.uniform() < p
    }

    /// Standard normal by Box-Muller; the second value of each pair is kept.
    pub fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare_normal.take() {
            return z;
        }
        let r = (-2.0 * self.uniform().ln()).sqrt();
        let (s, c) = (std::f64::consts::TAU * self.uniform()).sin_cos();
        self.spare_normal = Some(r * s);
        r * c
    }

    /// Log-normal with mean 1 and log-scale sigma.
    pub fn lognormal_mean_one(&mut self, sigma: f64) -> f64 {
        (sigma * self.normal() - 0.5 * sigma * sigma).exp()
    }

    pub fn poisson(&mut self, lambda: f64) -> u64 {
        // Also catches NaN, which fails every comparison.
        let usable = lambda > 0.0 && lambda.is_finite();
        if !usable {
            return 0;
        }
        if lambda < 10.0 {
            // Multiplication method: expected lambda + 1 uniforms, fine for small means.
            let limit = (-lambda).exp();
            let mut k = 0;
            let mut p = self.uniform();
            while p > limit {
                k += 1;
                p *= self.uniform();
            }
            return k;
        }
        self.poisson_ptrs(lambda)
    }

    /// Hörmann's transformed rejection with squeeze (PTRS), for lambda >= 10.
    fn poisson_ptrs(&mut self, lambda: f64) -> u64 {
        let slam = lambda.sqrt();
        let loglam = lambda.ln();
        let b = 0.931 + 2.53 * slam;
        let a = -0.059 + 0.02483 * b;
        let inv_alpha = 1.1239 + 1.1328 / (b - 3.4);
        let vr = 0.9277 - 3.6224 / (b - 2.0);
        loop {
            let u = self.uniform() - 0.5;
            let v = self.uniform();
            let us = 0.5 - u.abs();
            let k = ((2.0 * a / us + b) * u + lambda + 0.43).floor();
            if us >= 0.07 && v <= vr {
                return k as u64;
            }
            if k < 0.0 || (us < 0.013 && v > us) {
                continue;
            }
            let lhs = v.ln() + inv_alpha.ln() - (a / (us * us) + b).ln();
            let rhs = -lambda + k * loglam - ln_factorial(k as u64);
            if lhs <= rhs {
                return k as u64;
            }
        }
    }

    /// Gamma with integer-or-larger shape (>= 1) and the given mean, by Marsaglia-Tsang.
    pub fn gamma_mean(&mut self, shape: f64, mean: f64) -> f64 {
        let usable = shape >= 1.0 && mean > 0.0;
        if !usable {
            return 0.0;
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let z = self.normal();
            let t = 1.0 + c * z;
            if t <= 0.0 {
                continue;
            }
            let v = t * t * t;
            if self.uniform().ln() < 0.5 * z * z + d - d * v + d * v.ln() {
                return d * v * mean / shape;
            }
        }
    }
}

/// ln(k!), exact for small k and by Stirling's series above.
pub fn ln_factorial(k: u64) -> f64 {
    const SMALL: [f64; 10] = [1.0, 1.0, 2.0, 6.0, 24.0, 120.0, 720.0, 5040.0, 40320.0, 362880.0];
    if k < 10 {
        return SMALL[k as usize].ln();
    }
    let x = k as f64 + 1.0;
    let x2 = x * x;
    (x - 0.5) * x.ln() - x + 0.5 * (std::f64::consts::TAU).ln() + 1.0 / (12.0 * x) - 1.0 / (360.0 * x * x2)
        + 1.0 / (1260.0 * x * x2 * x2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moments(xs: impl Iterator<Item = f64>) -> (f64, f64) {
        let v: Vec<f64> = xs.collect();
        let n = v.len() as f64;
        let m = v.iter().sum::<f64>() / n;
        (m, v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0))
    }

    #[test]
    fn poisson_has_mean_and_variance_lambda_on_both_branches() {
        let mut s = Sampler::new(&[1, 2, 3]);
        for lambda in [0.7, 4.0, 12.5, 80.0, 600.0] {
            let (m, v) = moments((0..60_000).map(|_| s.poisson(lambda) as f64));
            assert!((m / lambda - 1.0).abs() < 0.02, "lambda {lambda}: mean {m}");
            assert!((v / lambda - 1.0).abs() < 0.05, "lambda {lambda}: variance {v}");
        }
    }

    #[test]
    fn gamma_and_lognormal_have_the_requested_means() {
        let mut s = Sampler::new(&[9]);
        let (m, v) = moments((0..60_000).map(|_| s.gamma_mean(4.0, 2.0)));
        assert!((m - 2.0).abs() < 0.02 && (v - 1.0).abs() < 0.05, "{m} {v}");
        let (m, _) = moments((0..60_000).map(|_| s.lognormal_mean_one(0.5)));
        assert!((m - 1.0).abs() < 0.01, "{m}");
    }

    #[test]
    fn ln_factorial_matches_the_product() {
        let exact: f64 = (1..=20u64).map(|i| (i as f64).ln()).sum();
        assert!((ln_factorial(20) - exact).abs() < 1e-9);
    }

    #[test]
    fn streams_differ_by_path_and_repeat_by_seed() {
        let a: Vec<u64> = (0..4).map(|_| Sampler::new(&[7, 0, 1]).poisson(5.0)).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(derive_seed(&[7, 0, 1]), derive_seed(&[7, 1, 0]));
    }
}
