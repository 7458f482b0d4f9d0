//! A treatment arm against a reference arm on one metric.
//!
//! The absolute difference uses Welch's t-test: arms of an experiment have different
//! variances whenever the treatment works, so the pooled-variance test would be wrong
//! exactly when it matters. The relative effect (lift) uses the delta method and the
//! normal approximation, as GrowthBook's frequentist engine does: at experiment sizes the
//! t and normal quantiles agree, and the lift's variance has no exact df anyway.
//!
//! The lift is `(m_t - m_c) / |m_c|`, which is `m_t / m_c - 1` for a positive reference
//! mean and keeps the sign of "better" for a negative one, matching
//! `skillhub::task::lifts_pct`. Its variance is
//! `var_t / m_c^2 + m_t^2 var_c / m_c^4` with the variances of the arm estimates.

use super::dist::{t_two_sided, two_sided_p_t};
use super::error::{finite, open_unit, StatsError, StatsResult};
use super::moments::{summarize, ArmSummary};
use crate::platform::{MetricData, MetricKind};
use crate::protocol::{Interval, MetricEstimate};

/// The difference of means (or of ratios) with Welch's test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AbsoluteEffect {
    pub diff: Interval,
    pub std_err: f64,
    /// Welch–Satterthwaite degrees of freedom.
    pub df: f64,
    /// `diff / std_err`; 0 when both arms have zero variance (see `p_value`).
    pub t_stat: f64,
    /// Two-sided. With zero variance in both arms the difference is known exactly:
    /// 1 if it is zero, else 0.
    pub p_value: f64,
}

/// The relative effect as a fraction (0.01 = +1%).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RelativeEffect {
    pub lift: Interval,
    pub std_err: f64,
    /// `lift / std_err`; 0 when the lift is known exactly (see `p_value`).
    pub z_stat: f64,
    /// Two-sided, normal approximation; 1 or 0 when the lift has no variance.
    pub p_value: f64,
}

impl RelativeEffect {
    pub fn lift_pct(&self) -> Interval {
        scale(self.lift, 100.0)
    }
    pub fn std_err_pct(&self) -> f64 {
        100.0 * self.std_err
    }
}

/// Everything one comparison says, at one confidence level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Effect {
    pub mean_t: f64,
    pub mean_c: f64,
    pub n_t: u64,
    pub n_c: u64,
    pub confidence: f64,
    pub absolute: AbsoluteEffect,
    pub relative: RelativeEffect,
}

impl Effect {
    pub fn lift_pct(&self) -> Interval {
        self.relative.lift_pct()
    }
    pub fn lift_se_pct(&self) -> f64 {
        self.relative.std_err_pct()
    }
    /// The protocol's view: the p-value is the lift's, so that it agrees with the
    /// interval it is reported next to.
    pub fn to_estimate(&self, metric: &str) -> MetricEstimate {
        MetricEstimate {
            metric: metric.to_string(),
            mean: self.mean_t,
            reference_mean: self.mean_c,
            lift_pct: self.lift_pct(),
            std_err_pct: self.lift_se_pct(),
            p_value: self.relative.p_value,
            cuped_narrowing_pct: None,
        }
    }
}

fn scale(i: Interval, k: f64) -> Interval {
    Interval { estimate: i.estimate * k, low: i.low * k, high: i.high * k }
}

fn kind_name(k: MetricKind) -> &'static str {
    match k {
        MetricKind::Mean => "mean",
        MetricKind::Ratio => "ratio",
    }
}

fn same_kind(t: &ArmSummary, c: &ArmSummary) -> StatsResult<()> {
    if t.kind == c.kind {
        Ok(())
    } else {
        Err(StatsError::KindMismatch { treatment: kind_name(t.kind), reference: kind_name(c.kind) })
    }
}

/// Compares two arms' sufficient statistics at `confidence` (e.g. 0.95).
pub fn compare(treatment: &MetricData, reference: &MetricData, confidence: f64) -> StatsResult<Effect> {
    compare_summaries(&summarize(treatment)?, &summarize(reference)?, confidence)
}

/// Compares two arm summaries (plain or CUPED-adjusted) at `confidence`.
pub fn compare_summaries(t: &ArmSummary, c: &ArmSummary, confidence: f64) -> StatsResult<Effect> {
    Ok(Effect {
        mean_t: t.mean,
        mean_c: c.mean,
        n_t: t.n,
        n_c: c.n,
        confidence,
        absolute: welch(t, c, confidence)?,
        relative: relative_lift(t, c, confidence)?,
    })
}

/// Welch–Satterthwaite df. When both variances vanish the formula is 0/0; the pooled
/// df is the natural limit and only matters for the (degenerate) interval width.
fn welch_df(t: &ArmSummary, c: &ArmSummary) -> f64 {
    let (vt, vc) = (t.var_of_mean(), c.var_of_mean());
    let den = vt * vt / (t.n as f64 - 1.0) + vc * vc / (c.n as f64 - 1.0);
    if den > 0.0 {
        (vt + vc).powi(2) / den
    } else {
        (t.n + c.n) as f64 - 2.0
    }
}

/// p-value and statistic of an estimate with a standard error, handling a zero error.
fn test_stat(estimate: f64, se: f64, p_of: impl Fn(f64) -> StatsResult<f64>) -> StatsResult<(f64, f64)> {
    if se > 0.0 {
        let stat = estimate / se;
        Ok((stat, p_of(stat)?))
    } else {
        Ok((0.0, if estimate == 0.0 { 1.0 } else { 0.0 }))
    }
}

fn interval(estimate: f64, half_width: f64) -> Interval {
    Interval { estimate, low: estimate - half_width, high: estimate + half_width }
}

pub fn welch(t: &ArmSummary, c: &ArmSummary, confidence: f64) -> StatsResult<AbsoluteEffect> {
    same_kind(t, c)?;
    open_unit("confidence", confidence)?;
    let diff = finite("difference of means", t.mean - c.mean)?;
    let std_err = finite("standard error", (t.var_of_mean() + c.var_of_mean()).sqrt())?;
    let df = welch_df(t, c);
    let (t_stat, p_value) = test_stat(diff, std_err, |x| two_sided_p_t(x, df))?;
    let q = t_two_sided(confidence, df)?;
    Ok(AbsoluteEffect { diff: interval(diff, q * std_err), std_err, df, t_stat, p_value })
}

/// The relative lift with the delta-method variance and a t interval on the Welch df, as
/// gbstats' `TwoSidedTTest` computes it.
pub fn relative_lift(t: &ArmSummary, c: &ArmSummary, confidence: f64) -> StatsResult<RelativeEffect> {
    same_kind(t, c)?;
    let q = t_two_sided(confidence, welch_df(t, c))?;
    let mc = c.mean;
    if mc == 0.0 {
        return Err(StatsError::ZeroReference);
    }
    let lift = finite("lift", (t.mean - mc) / mc.abs())?;
    let mc2 = mc * mc;
    let var = t.var_of_mean() / mc2 + t.mean * t.mean * c.var_of_mean() / (mc2 * mc2);
    let std_err = finite("standard error of the lift", var.sqrt())?;
    let df = welch_df(t, c);
    let (z_stat, p_value) = test_stat(lift, std_err, |x| two_sided_p_t(x, df))?;
    Ok(RelativeEffect { lift: interval(lift, q * std_err), std_err, z_stat, p_value })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::Sums;
    use crate::stats::moments::mean_summary;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-6 * b.abs().max(1e-12)
    }

    /// t = [5.1, 4.9, 5.6, 5.8, 6.0, 5.5], c = [4.8, 5.0, 4.7, 5.2, 4.9].
    fn small_case() -> (MetricData, MetricData) {
        (
            MetricData::Mean { n: 6, sum: 32.9, sum_sq: 181.27, pre: None },
            MetricData::Mean { n: 5, sum: 24.6, sum_sq: 121.18, pre: None },
        )
    }

    #[test]
    fn welch_matches_scipy_on_a_small_case() {
        // scipy.stats.ttest_ind(t, c, equal_var=False) and t.ppf(0.975, df).
        let (t, c) = small_case();
        let e = compare(&t, &c, 0.95).unwrap();
        assert!(close(e.absolute.t_stat, 2.954924797081099));
        assert!(close(e.absolute.p_value, 0.020301725962812062));
        assert!(close(e.absolute.df, 7.287980878608591));
        assert!(close(e.absolute.diff.low, 0.11612219719551803));
        assert!(close(e.absolute.diff.high, 1.010544469471149));
    }

    #[test]
    fn lift_variance_follows_the_delta_method() {
        // lift = mt/mc - 1, var = vt/mc^2 + mt^2 vc/mc^4, computed with numpy; interval
        // and p-value from scipy's t at the Welch df (as gbstats).
        let (t, c) = small_case();
        let e = compare(&t, &c, 0.95).unwrap();
        assert!(close(e.relative.lift.estimate, 0.1144986449864498));
        assert!(close(e.relative.std_err, 0.03969197258749336));
        assert!(close(e.relative.p_value, 0.022488584895181657));
        assert!(close(e.relative.lift.low, 0.021388656078205545));
        assert!(close(e.relative.lift.high, 0.20760863389469403));
        assert!(close(e.lift_pct().estimate, 11.44986449864498));
        assert!(close(e.lift_se_pct(), 3.969197258749336));
        let est = e.to_estimate("dwell_s");
        assert_eq!(est.p_value, e.relative.p_value);
    }

    #[test]
    fn ratio_arms_compare_with_their_delta_method_variances() {
        let arm = |scale: f64| MetricData::Ratio {
            n: 7,
            num: Sums { sum: 22.0 * scale, sum_sq: 104.0 * scale * scale },
            den: Sums { sum: 66.0, sum_sq: 712.0 },
            sum_product: 262.0 * scale,
        };
        let e = compare(&arm(1.1), &arm(1.0), 0.95).unwrap();
        assert!(close(e.relative.lift.estimate, 0.1));
        // var_t = 1.21 var_c, so var = 1.21 vc/mc^2 + 1.21 vc/mc^2.
        let vc: f64 = 0.0022616739788456977;
        let want = (2.0 * 1.21 * vc * 9.0).sqrt();
        assert!(close(e.relative.std_err, want), "{} vs {want}", e.relative.std_err);
    }

    #[test]
    fn degenerate_inputs_give_typed_errors_or_defined_results() {
        let zero = MetricData::Mean { n: 10, sum: 0.0, sum_sq: 0.0, pre: None };
        let some = MetricData::Mean { n: 10, sum: 5.0, sum_sq: 5.0, pre: None };
        assert_eq!(compare(&some, &zero, 0.95), Err(StatsError::ZeroReference));
        let one = MetricData::Mean { n: 1, sum: 1.0, sum_sq: 1.0, pre: None };
        assert!(matches!(compare(&one, &some, 0.95), Err(StatsError::TooFewUnits { .. })));
        let ratio = MetricData::Ratio {
            n: 10,
            num: Sums { sum: 1.0, sum_sq: 1.0 },
            den: Sums { sum: 10.0, sum_sq: 10.0 },
            sum_product: 1.0,
        };
        assert!(matches!(compare(&ratio, &some, 0.95), Err(StatsError::KindMismatch { .. })));
        assert!(compare(&some, &some, 1.5).is_err());

        // Constant arms: no variance, the difference is known exactly.
        let (a, b) = (mean_summary(10, 10.0, 10.0).unwrap(), mean_summary(10, 20.0, 40.0).unwrap());
        let e = compare_summaries(&b, &a, 0.95).unwrap();
        assert_eq!((e.absolute.p_value, e.relative.p_value), (0.0, 0.0));
        assert_eq!(e.relative.lift.low, 1.0);
        let same = compare_summaries(&a, &a, 0.95).unwrap();
        assert_eq!((same.absolute.p_value, same.relative.p_value), (1.0, 1.0));
        assert!(!same.absolute.df.is_nan());
    }
}
