//! Per-arm summaries from the platform's sufficient statistics.
//!
//! Both metric kinds reduce to the same shape, an estimate and the per-unit variance of
//! its linearisation, so that every comparison downstream is written once:
//! - mean metric: the mean per unit and the sample variance (n - 1);
//! - ratio metric: R = sum_num / sum_den and, by the delta method,
//!   `n var(R) = (var_num - 2 R cov_num_den + R^2 var_den) / mean_den^2`
//!   with the unit-level (co)variances (n - 1) computed from the sums.

use super::error::{finite, StatsError, StatsResult};
use crate::platform::{MetricData, MetricKind, Sums};

/// What one arm says about one metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArmSummary {
    pub kind: MetricKind,
    pub n: u64,
    /// The mean per unit, or the ratio of sums for a ratio metric.
    pub mean: f64,
    /// Per-unit variance, so that the variance of `mean` is `unit_var / n`. For a ratio
    /// metric this is the delta-method variance of the linearised unit values.
    pub unit_var: f64,
}

impl ArmSummary {
    /// Variance of the arm's estimate (of the mean, or of R).
    pub fn var_of_mean(&self) -> f64 {
        self.unit_var / self.n as f64
    }

    pub fn std_err(&self) -> f64 {
        self.var_of_mean().sqrt()
    }

    /// Coefficient of variation per unit, what a power calculation needs; `None` when
    /// the mean is zero.
    pub fn cv(&self) -> Option<f64> {
        (self.mean != 0.0).then(|| self.unit_var.sqrt() / self.mean.abs())
    }
}

/// Summarises one arm's metric, or says why it cannot be summarised.
pub fn summarize(data: &MetricData) -> StatsResult<ArmSummary> {
    match data {
        MetricData::Mean { n, sum, sum_sq, .. } => mean_summary(*n, *sum, *sum_sq),
        MetricData::Ratio { n, num, den, sum_product } => ratio_summary(*n, num, den, *sum_product),
    }
}

pub(crate) fn check_n(n: u64) -> StatsResult<f64> {
    if n < 2 {
        return Err(StatsError::TooFewUnits { n, min: 2 });
    }
    Ok(n as f64)
}

/// Sample covariance (n - 1) from sums. Rounding can push a true zero slightly
/// negative for a variance; callers clamp where a variance is meant.
pub(crate) fn sample_cov(n: f64, sum_x: f64, sum_y: f64, sum_xy: f64) -> f64 {
    (sum_xy - sum_x * sum_y / n) / (n - 1.0)
}

pub fn mean_summary(n: u64, sum: f64, sum_sq: f64) -> StatsResult<ArmSummary> {
    let nf = check_n(n)?;
    finite("sum", sum)?;
    finite("sum of squares", sum_sq)?;
    let unit_var = sample_cov(nf, sum, sum, sum_sq).max(0.0);
    Ok(ArmSummary { kind: MetricKind::Mean, n, mean: sum / nf, unit_var })
}

pub fn ratio_summary(n: u64, num: &Sums, den: &Sums, sum_product: f64) -> StatsResult<ArmSummary> {
    let nf = check_n(n)?;
    for (name, x) in [
        ("numerator sum", num.sum),
        ("numerator sum of squares", num.sum_sq),
        ("denominator sum", den.sum),
        ("denominator sum of squares", den.sum_sq),
        ("sum of products", sum_product),
    ] {
        finite(name, x)?;
    }
    if den.sum == 0.0 {
        return Err(StatsError::ZeroDenominator);
    }
    let r = num.sum / den.sum;
    let mean_den = den.sum / nf;
    let var_num = sample_cov(nf, num.sum, num.sum, num.sum_sq).max(0.0);
    let var_den = sample_cov(nf, den.sum, den.sum, den.sum_sq).max(0.0);
    let cov = sample_cov(nf, num.sum, den.sum, sum_product);
    let unit_var = ((var_num - 2.0 * r * cov + r * r * var_den) / (mean_den * mean_den)).max(0.0);
    Ok(ArmSummary { kind: MetricKind::Ratio, n, mean: r, unit_var })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-6 * b.abs().max(1e-12)
    }

    #[test]
    fn mean_metric_uses_sample_variance() {
        // Values 5.1, 4.9, 5.6, 5.8, 6.0, 5.5: mean 5.48333, sample variance 0.173667 (numpy, ddof 1).
        let s = summarize(&MetricData::Mean { n: 6, sum: 32.9, sum_sq: 181.27, pre: None }).unwrap();
        assert!(close(s.mean, 32.9 / 6.0));
        assert!(close(s.unit_var, 0.17366666666666664), "{}", s.unit_var);
    }

    #[test]
    fn ratio_metric_variance_matches_the_delta_method() {
        // Units num = [3,0,5,2,7,1,4], den = [10,4,12,9,15,5,11]; reference
        // g' Cov g / n with numpy's covariance (ddof 1) and g = (1/md, -mn/md^2).
        let data = MetricData::Ratio {
            n: 7,
            num: Sums { sum: 22.0, sum_sq: 104.0 },
            den: Sums { sum: 66.0, sum_sq: 712.0 },
            sum_product: 262.0,
        };
        let s = summarize(&data).unwrap();
        assert!(close(s.mean, 1.0 / 3.0));
        assert!(close(s.var_of_mean(), 0.0022616739788456977), "{}", s.var_of_mean());
    }

    #[test]
    fn degenerate_arms_are_typed_errors() {
        let one = MetricData::Mean { n: 1, sum: 1.0, sum_sq: 1.0, pre: None };
        assert_eq!(summarize(&one), Err(StatsError::TooFewUnits { n: 1, min: 2 }));
        let nan = MetricData::Mean { n: 5, sum: f64::NAN, sum_sq: 1.0, pre: None };
        assert!(matches!(summarize(&nan), Err(StatsError::NonFinite(_))));
        let zero_den = MetricData::Ratio { n: 5, num: Sums::default(), den: Sums::default(), sum_product: 0.0 };
        assert_eq!(summarize(&zero_den), Err(StatsError::ZeroDenominator));
    }

    #[test]
    fn constant_values_have_zero_variance_not_negative() {
        // 0.1 is not exact in binary, so the sums cancel only up to rounding.
        let s = mean_summary(1000, 100.0, 10.0).unwrap();
        assert!(s.unit_var >= 0.0 && s.unit_var < 1e-12);
    }
}
