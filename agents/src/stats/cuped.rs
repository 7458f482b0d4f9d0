//! CUPED: variance reduction with each unit's pre-experiment value of the metric.
//!
//! `y_adj = y - theta (x - mean_x)` has the same expected difference between arms
//! (randomisation makes the pre-period means equal in expectation) and a variance
//! smaller by the factor `1 - corr(x, y)^2` at the optimal theta. Theta is pooled over
//! arms from within-arm centred sums, so that a treatment effect on y cannot leak into
//! the slope through differences between arm means, and every arm uses the same theta,
//! which keeps the comparison unbiased. `mean_x` is the grand pre-period mean over all
//! arms. The estimation error of theta is ignored, as is usual at experiment sizes.

use super::error::{finite, StatsError, StatsResult};
use super::moments::{check_n, sample_cov, ArmSummary};
use crate::platform::{MetricData, MetricKind, PreSums};

/// The sums CUPED needs from one arm.
struct Arm {
    n: f64,
    n_units: u64,
    sum_y: f64,
    sum_y2: f64,
    pre: PreSums,
}

fn arm(data: &MetricData) -> StatsResult<Arm> {
    match data {
        MetricData::Mean { n, sum, sum_sq, pre: Some(pre) } => {
            for (name, x) in [
                ("sum", *sum),
                ("sum of squares", *sum_sq),
                ("pre-period sum", pre.sum),
                ("pre-period sum of squares", pre.sum_sq),
                ("pre-period sum of products", pre.sum_product),
            ] {
                finite(name, x)?;
            }
            Ok(Arm { n: check_n(*n)?, n_units: *n, sum_y: *sum, sum_y2: *sum_sq, pre: *pre })
        }
        _ => Err(StatsError::MissingPre),
    }
}

/// The pooled within-arm slope of y on the pre-period value; 0 when the pre-period
/// value does not vary (no adjustment is then possible).
pub fn cuped_theta(arms: &[&MetricData]) -> StatsResult<f64> {
    let arms: Vec<Arm> = arms.iter().map(|d| arm(d)).collect::<StatsResult<_>>()?;
    Ok(theta(&arms))
}

fn theta(arms: &[Arm]) -> f64 {
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for a in arms {
        sxy += a.pre.sum_product - a.pre.sum * a.sum_y / a.n;
        sxx += a.pre.sum_sq - a.pre.sum * a.pre.sum / a.n;
    }
    if sxx > 0.0 {
        sxy / sxx
    } else {
        0.0
    }
}

/// CUPED-adjusted summaries of the arms, in the order given, ready for
/// `effect::compare_summaries`. Every arm must carry pre-period sums.
pub fn cuped_adjust(arms: &[&MetricData]) -> StatsResult<Vec<ArmSummary>> {
    let arms: Vec<Arm> = arms.iter().map(|d| arm(d)).collect::<StatsResult<_>>()?;
    let theta = theta(&arms);
    let total_n: f64 = arms.iter().map(|a| a.n).sum();
    let grand_x = arms.iter().map(|a| a.pre.sum).sum::<f64>() / total_n;
    Ok(arms.iter().map(|a| adjust(a, theta, grand_x)).collect())
}

fn adjust(a: &Arm, theta: f64, grand_x: f64) -> ArmSummary {
    let var_y = sample_cov(a.n, a.sum_y, a.sum_y, a.sum_y2);
    let var_x = sample_cov(a.n, a.pre.sum, a.pre.sum, a.pre.sum_sq);
    let cov = sample_cov(a.n, a.pre.sum, a.sum_y, a.pre.sum_product);
    let unit_var = (var_y + theta * theta * var_x - 2.0 * theta * cov).max(0.0);
    let mean = a.sum_y / a.n - theta * (a.pre.sum / a.n - grand_x);
    ArmSummary { kind: MetricKind::Mean, n: a.n_units, mean, unit_var }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-6 * b.abs().max(1e-12)
    }

    /// x_a = [1,2,3,4], y_a = [2,3,5,6]; x_b = [2,3,4,5], y_b = [3,5,6,9]. Reference
    /// values from numpy on the unit-level data.
    fn arms() -> (MetricData, MetricData) {
        let a = MetricData::Mean {
            n: 4,
            sum: 16.0,
            sum_sq: 74.0,
            pre: Some(PreSums { sum: 10.0, sum_sq: 30.0, sum_product: 47.0 }),
        };
        let b = MetricData::Mean {
            n: 4,
            sum: 23.0,
            sum_sq: 151.0,
            pre: Some(PreSums { sum: 14.0, sum_sq: 54.0, sum_product: 90.0 }),
        };
        (a, b)
    }

    #[test]
    fn adjusted_moments_match_unit_level_computation() {
        let (a, b) = arms();
        assert!(close(cuped_theta(&[&a, &b]).unwrap(), 1.65));
        let adj = cuped_adjust(&[&a, &b]).unwrap();
        assert!(close(adj[0].mean, 4.825) && close(adj[1].mean, 4.925));
        assert!(close(adj[0].unit_var, 0.17083333333333336));
        assert!(close(adj[1].unit_var, 0.3375000000000002));
    }

    #[test]
    fn arms_without_pre_period_are_an_error() {
        let (a, _) = arms();
        let plain = MetricData::Mean { n: 4, sum: 1.0, sum_sq: 1.0, pre: None };
        assert_eq!(cuped_adjust(&[&a, &plain]), Err(StatsError::MissingPre));
    }

    #[test]
    fn constant_pre_period_means_no_adjustment() {
        let flat = MetricData::Mean {
            n: 4,
            sum: 16.0,
            sum_sq: 74.0,
            pre: Some(PreSums { sum: 4.0, sum_sq: 4.0, sum_product: 16.0 }),
        };
        assert_eq!(cuped_theta(&[&flat]).unwrap(), 0.0);
        let adj = cuped_adjust(&[&flat]).unwrap();
        assert!(close(adj[0].mean, 4.0));
    }
}
