//! Always-valid inference for interim looks: asymptotic confidence sequences.
//!
//! A fixed-horizon interval covers the effect with probability `1 - alpha` at one
//! pre-planned sample size; looking at it after every poll and stopping at the first
//! significant read inflates the false-positive rate far above alpha. A confidence
//! sequence covers the effect at every sample size simultaneously, so a read may be
//! taken (and acted upon) as often as the platform is polled.
//!
//! This is the asymptotic confidence sequence of Waudby-Smith et al. (2023, "Time-uniform
//! central limit theory and asymptotic confidence sequences", arXiv 2103.06476v7,
//! building on Howard et al. 2021), exactly as GrowthBook's `gbstats` (0.8.0,
//! `frequentist/tests.py`, `SequentialTwoSidedTTest`) computes it. With
//! - `alpha = 1 - confidence`,
//! - `N = n_control + n_treatment` the units seen so far,
//! - `V` the variance of the point estimate (absolute or relative: the formula only needs
//!   an asymptotically normal estimate), so `s^2 = N V` is the per-unit variance scale,
//! - `N*` the tuning parameter ("sequential_tuning_parameter", gbstats default 5000),
//!
//! the normal-mixture boundary uses the mixing precision (their eq. 161)
//! `rho^2 = (-2 ln alpha + ln(1 - 2 ln alpha)) / N*`, and the interval (their eq. 9) is
//! `estimate ± s sqrt( 2 (N rho^2 + 1) / (N^2 rho^2) · ln( sqrt(N rho^2 + 1) / alpha ) )`.
//!
//! `N*` is the total sample size (both arms) at which the sequence is tightest: `rho` is
//! chosen to minimise the width at `N = N*`, and the sequence is wider than that optimum
//! at every other N. It should be set near the total units the experiment is expected
//! to reach; a wrong guess costs width, never validity. rectune uses gbstats' default of
//! 5000 ([`DEFAULT_TUNING_N`]) unless the analysis options say otherwise.
//!
//! The always-valid p-value (gbstats, after their eq. 155) is the reciprocal of the
//! mixture e-value. With `v = N rho^2` and `z = estimate / sqrt(V)`:
//! `p = min(1, sqrt(v + 1) · exp(-z^2 v / (2 (v + 1))))`.
//! It is dual to the interval: `p < alpha` exactly when the interval excludes 0 (square
//! the half-width condition `|estimate| > half-width` and take logs). It depends on
//! alpha through `rho`, so it is valid at the confidence the sequence was tuned for.
//!
//! Both are asymptotic (normal approximation to the running mean), so they are not
//! exact for tiny samples; at experiment sizes the approximation is what the fixed
//! horizon test relies on too.

use super::error::{finite, open_unit, StatsError, StatsResult};
use crate::protocol::Interval;
use serde::{Deserialize, Serialize};

/// gbstats' default tuning parameter N*: total units at which the sequence is tightest.
pub const DEFAULT_TUNING_N: f64 = 5000.0;

/// An always-valid interval and p-value for one effect at one interim look.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SequentialEstimate {
    pub interval: Interval,
    pub half_width: f64,
    /// Always-valid two-sided p-value; below `1 - confidence` iff the interval excludes 0.
    pub p_value: f64,
    /// Units seen so far in both arms.
    pub n_total: u64,
    /// The tuning parameter N* the sequence was built with.
    pub tuning_n: f64,
}

impl SequentialEstimate {
    /// Whether this look may stop the experiment with a significant result.
    pub fn rejects_zero(&self) -> bool {
        self.interval.excludes_zero()
    }
}

/// The mixture's squared precision `rho^2` for level `alpha`, tuned to be tightest at
/// `tuning_n` total units (eq. 161 of Waudby-Smith et al.).
pub fn mixture_rho_sq(alpha: f64, tuning_n: f64) -> StatsResult<f64> {
    open_unit("alpha", alpha)?;
    if !(tuning_n.is_finite() && tuning_n > 0.0) {
        return Err(StatsError::OutOfRange { name: "sequential tuning N*", value: tuning_n, range: "(0, inf)" });
    }
    let l = -2.0 * alpha.ln();
    Ok((l + (l + 1.0).ln()) / tuning_n)
}

/// Half-width of the confidence sequence in units of the estimate's standard error,
/// from `v = N rho^2` (the `N` and `rho` of eq. 9 only enter through `v`).
fn half_width_in_se(v: f64, alpha: f64) -> f64 {
    (2.0 * (v + 1.0) / v * ((v + 1.0).sqrt() / alpha).ln()).sqrt()
}

/// `1 / e-value` of the normal mixture, capped at 1; `z` is `estimate / se`.
fn always_valid_p(z: f64, v: f64) -> f64 {
    // Logs, so that a huge z gives 0 rather than inf/inf.
    let log_p = 0.5 * (v + 1.0).ln() - z * z * v / (2.0 * (v + 1.0));
    log_p.exp().min(1.0)
}

/// The always-valid interval and p-value of an effect with point `estimate` and
/// `variance` (of the estimate, not per unit) after `n_total` units in both arms, at
/// `confidence`, for a sequence tuned to be tightest at `tuning_n` total units.
///
/// Works for absolute and relative effects alike. A zero variance means the effect is
/// known exactly: a zero-width interval and p = 1 if it is 0, else 0.
pub fn sequential_interval(
    estimate: f64,
    variance: f64,
    n_total: u64,
    confidence: f64,
    tuning_n: f64,
) -> StatsResult<SequentialEstimate> {
    finite("estimate", estimate)?;
    finite("variance of the estimate", variance)?;
    if variance < 0.0 {
        return Err(StatsError::OutOfRange { name: "variance of the estimate", value: variance, range: "[0, inf)" });
    }
    if n_total < 2 {
        return Err(StatsError::TooFewUnits { n: n_total, min: 2 });
    }
    let alpha = 1.0 - open_unit("confidence", confidence)?;
    let v = n_total as f64 * mixture_rho_sq(alpha, tuning_n)?;
    let se = variance.sqrt();
    let half_width = se * half_width_in_se(v, alpha);
    let p_value = if se > 0.0 { always_valid_p(estimate / se, v) } else { f64::from(u8::from(estimate == 0.0)) };
    Ok(SequentialEstimate {
        interval: Interval { estimate, low: estimate - half_width, high: estimate + half_width },
        half_width,
        p_value,
        n_total,
        tuning_n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-10 * b.abs().max(1e-12)
    }

    /// Reference values from gbstats' formulas evaluated with numpy (see module doc).
    #[test]
    fn matches_the_gbstats_formulas() {
        let cases = [
            // estimate, variance, N, confidence, N*, low, high, p
            (0.02, 1e-4, 10_000, 0.95, 5000.0, -0.010614772188674165, 0.05061477218867416, 0.6258618022543226),
            (0.05, 1e-4, 10_000, 0.95, 5000.0, 0.019385227811325838, 0.08061477218867416, 3.2111246171002824e-05),
            (-1.3, 0.09, 400, 0.90, 20_000.0, -3.2453387066273844, 0.6453387066273841, 0.36961191295418283),
            (0.02, 1e-4, 10_000, 0.95, 10_000.0, -0.010352089903762522, 0.050352089903762526, 0.5060410918018464),
        ];
        for (est, var, n, conf, tuning, low, high, p) in cases {
            let s = sequential_interval(est, var, n, conf, tuning).unwrap();
            assert!(close(s.interval.low, low) && close(s.interval.high, high), "{s:?}");
            assert!(close(s.p_value, p), "{} vs {p}", s.p_value);
        }
        let rho_sq = mixture_rho_sq(0.05, 5000.0).unwrap();
        assert!(close(rho_sq.sqrt(), 0.03984006677137368));
    }

    #[test]
    fn p_value_is_dual_to_the_interval() {
        for est in [0.0, 0.01, 0.025, 0.0306, 0.0307, 0.05, -0.04] {
            let s = sequential_interval(est, 1e-4, 10_000, 0.95, 5000.0).unwrap();
            assert_eq!(s.rejects_zero(), s.p_value < 0.05, "{s:?}");
        }
    }

    #[test]
    fn wider_than_the_fixed_horizon_interval_and_tightest_near_n_star() {
        let width = |tuning: f64| sequential_interval(0.0, 1e-4, 10_000, 0.95, tuning).unwrap().half_width;
        assert!(width(10_000.0) > 1.959964 * 0.01);
        assert!(width(10_000.0) < width(5_000.0) && width(10_000.0) < width(20_000.0));
    }

    #[test]
    fn degenerate_inputs() {
        let exact = sequential_interval(0.1, 0.0, 100, 0.95, 5000.0).unwrap();
        assert_eq!((exact.half_width, exact.p_value), (0.0, 0.0));
        assert_eq!(sequential_interval(0.0, 0.0, 100, 0.95, 5000.0).unwrap().p_value, 1.0);
        let huge = sequential_interval(1e6, 1e-12, 1_000_000, 0.95, 5000.0).unwrap();
        assert_eq!(huge.p_value, 0.0);
        assert!(sequential_interval(0.1, -1.0, 100, 0.95, 5000.0).is_err());
        assert!(sequential_interval(f64::NAN, 1.0, 100, 0.95, 5000.0).is_err());
        assert!(sequential_interval(0.1, 1.0, 1, 0.95, 5000.0).is_err());
        assert!(sequential_interval(0.1, 1.0, 100, 1.0, 5000.0).is_err());
        assert!(sequential_interval(0.1, 1.0, 100, 0.95, 0.0).is_err());
    }
}
