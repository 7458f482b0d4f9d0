//! A/A calibration of interim looks: with no true difference, the fixed-horizon test
//! rejects about alpha of the time when read once, far more when read after every poll
//! and stopped at the first significant read ("peeking"), while the always-valid
//! sequential interval stays below alpha however often it is read.
//!
//! Arms are simulated as the platform reports them, sufficient statistics, drawn batch
//! by batch rather than unit by unit so that thousands of experiments run in well under
//! a second: a batch of m N(mu, sd^2) units has a normal mean and a sum of squared
//! deviations `sd^2 chi2(m - 1)`, drawn with the Wilson–Hilferty cube approximation
//! (accurate to well under 1% at hundreds of units, far below what the rates test).
//! Seeded, so every check is deterministic.

use super::dist::sample_normal as normal;
use super::sequential::{sequential_interval, DEFAULT_TUNING_N};
use crate::analysis::{absolute_effect, relative_effect, ArmMoments};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const MU: f64 = 10.0;
const SD: f64 = 3.0;
const CONFIDENCE: f64 = 0.95;
const ALPHA: f64 = 0.05;

/// Running sums of one arm.
#[derive(Default)]
struct Arm {
    n: u64,
    sum: f64,
    sum_sq: f64,
}

/// A chi-square draw with `k` degrees of freedom (Wilson–Hilferty).
fn chi_square(rng: &mut ChaCha8Rng, k: f64) -> f64 {
    let c = 2.0 / (9.0 * k);
    (k * (1.0 - c + normal(rng) * c.sqrt()).powi(3)).max(0.0)
}

impl Arm {
    /// Adds `m` units with mean `mu`.
    fn add_batch(&mut self, rng: &mut ChaCha8Rng, m: u64, mu: f64) {
        let mf = m as f64;
        let mean = mu + SD / mf.sqrt() * normal(rng);
        let squared_deviations = SD * SD * chi_square(rng, mf - 1.0);
        self.n += m;
        self.sum += mf * mean;
        self.sum_sq += squared_deviations + mf * mean * mean;
    }

    fn moments(&self) -> ArmMoments {
        let n = self.n as f64;
        let mean = self.sum / n;
        let unit_var = ((self.sum_sq - self.sum * mean) / (n - 1.0)).max(0.0);
        ArmMoments { n: self.n, mean, raw_mean: mean, unit_var }
    }
}

fn rate(hits: usize, trials: usize) -> f64 {
    hits as f64 / trials as f64
}

#[test]
fn fixed_horizon_false_positive_rate_is_alpha() {
    let mut rng = ChaCha8Rng::seed_from_u64(20240612);
    let trials = 6000;
    let (mut absolute_hits, mut relative_hits) = (0, 0);
    for _ in 0..trials {
        let (mut c, mut t) = (Arm::default(), Arm::default());
        c.add_batch(&mut rng, 1000, MU);
        t.add_batch(&mut rng, 1000, MU);
        let (c, t) = (c.moments(), t.moments());
        absolute_hits += usize::from(absolute_effect(&c, &t, CONFIDENCE).unwrap().p_value < ALPHA);
        relative_hits += usize::from(relative_effect(&c, &t, CONFIDENCE).unwrap().p_value < ALPHA);
    }
    // 6000 trials: the rate's standard deviation is 0.28 points, so [4%, 6%] is ±3.5 sd.
    for hits in [absolute_hits, relative_hits] {
        let fpr = rate(hits, trials);
        assert!((0.04..=0.06).contains(&fpr), "fixed-horizon false-positive rate {fpr}");
    }
}

/// Whether any of `looks` reads of one experiment rejects, by the fixed-horizon p-value
/// (peeking) and by the sequential interval, with a true lift of `lift`.
fn monitor(rng: &mut ChaCha8Rng, looks: usize, batch: u64, lift: f64) -> (bool, bool) {
    let (mut c, mut t) = (Arm::default(), Arm::default());
    let (mut peeking, mut sequential) = (false, false);
    for _ in 0..looks {
        c.add_batch(rng, batch, MU);
        t.add_batch(rng, batch, MU * (1.0 + lift));
        let (cm, tm) = (c.moments(), t.moments());
        let e = relative_effect(&cm, &tm, CONFIDENCE).unwrap();
        let s = sequential_interval(e.estimate(), e.std_err.powi(2), c.n + t.n, CONFIDENCE, DEFAULT_TUNING_N).unwrap();
        peeking |= e.p_value < ALPHA;
        sequential |= s.rejects_zero();
    }
    (peeking, sequential)
}

#[test]
fn sequential_interval_survives_twenty_looks_where_peeking_does_not() {
    let mut rng = ChaCha8Rng::seed_from_u64(20240613);
    let trials = 4000;
    let (mut peeking, mut sequential) = (0, 0);
    for _ in 0..trials {
        // 20 looks of 125 units per arm: 5000 units in all at the last look, N*.
        let (p, s) = monitor(&mut rng, 20, 125, 0.0);
        peeking += usize::from(p);
        sequential += usize::from(s);
    }
    let (peeking, sequential) = (rate(peeking, trials), rate(sequential, trials));
    assert!(sequential <= ALPHA, "sequential false-positive rate over 20 looks {sequential}");
    assert!(peeking > 0.10, "peeking false-positive rate over 20 looks {peeking}");
}

#[test]
fn sequential_interval_still_finds_a_real_effect() {
    // A 4% lift: the final look's z is about 4.7, so a valid but useless (never
    // rejecting) sequence would show here.
    let mut rng = ChaCha8Rng::seed_from_u64(20240614);
    let trials = 500;
    let found = (0..trials).filter(|_| monitor(&mut rng, 20, 125, 0.04).1).count();
    assert!(rate(found, trials) > 0.9, "sequential power {}", rate(found, trials));
}
