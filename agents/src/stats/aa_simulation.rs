//! A/A calibration: with no true difference, a test at alpha must reject about alpha of
//! the time. Seeded, so the check is deterministic.

use super::dist::sample_normal as normal;
use super::effect::compare;
use crate::platform::MetricData;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn arm(rng: &mut ChaCha8Rng, n: u64) -> MetricData {
    let (mut sum, mut sum_sq) = (0.0, 0.0);
    for _ in 0..n {
        let y = 10.0 + 3.0 * normal(rng);
        sum += y;
        sum_sq += y * y;
    }
    MetricData::Mean { n, sum, sum_sq, pre: None }
}

#[test]
fn aa_false_positive_rate_is_alpha() {
    let mut rng = ChaCha8Rng::seed_from_u64(20240611);
    let trials = 2000;
    let (mut welch_hits, mut lift_hits) = (0, 0);
    for _ in 0..trials {
        let (a, b) = (arm(&mut rng, 500), arm(&mut rng, 500));
        let e = compare(&a, &b, 0.95).expect("A/A arms are well formed");
        welch_hits += usize::from(e.absolute.p_value < 0.05);
        lift_hits += usize::from(e.relative.p_value < 0.05);
        assert_eq!(e.absolute.p_value < 0.05, e.absolute.diff.excludes_zero());
    }
    for hits in [welch_hits, lift_hits] {
        let rate = hits as f64 / trials as f64;
        assert!((0.035..=0.065).contains(&rate), "false-positive rate {rate}");
    }
}
