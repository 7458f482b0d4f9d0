//! Non-inferiority verdicts on guardrails.
//!
//! Each limit is a one-sided question ("is the drop smaller than p%?") asked at level
//! `alpha`. A one-sided test at alpha is the same as checking one end of the two-sided
//! interval at confidence `1 - 2 alpha`, and that interval is what the reason shows, so
//! one interval answers both "holds" (the whole interval is on the safe side) and
//! "breached" (the whole interval is on the unsafe side); a straddling interval is
//! inconclusive, which is not shippable.
//!
//! Relative limits read the lift against the production baseline (delta method, normal);
//! absolute limits read the treatment's own mean with a t interval (df = n - 1).

use super::dist::t_two_sided;
use super::effect::relative_lift;
use super::error::{StatsError, StatsResult};
use super::moments::summarize;
use crate::platform::MetricData;
use crate::protocol::{GuardrailStatus, GuardrailVerdict, Interval};
use skillhub::{Guardrail, Limit};

/// Reads a guardrail on `treatment` against the `baseline` arm at one-sided level
/// `alpha` (in (0, 0.5)). Fails only when the data cannot be read; see
/// [`guardrail_verdict`] for a version that turns that into `Inconclusive`.
pub fn check_guardrail(
    g: &Guardrail,
    treatment: &MetricData,
    baseline: &MetricData,
    alpha: f64,
) -> StatsResult<GuardrailVerdict> {
    let confidence = confidence_of(alpha)?;
    let read = interval(g, treatment, baseline, confidence)?;
    let (status, reason) = match g.limit {
        Limit::MaxDropPct(p) => relative(g, read, -p, confidence),
        Limit::MaxRisePct(p) => relative(g, read, p, confidence),
        Limit::AtMost(v) | Limit::AtLeast(v) => absolute(g, read, v, confidence),
    };
    Ok(GuardrailVerdict { metric: g.metric.clone(), rule: g.describe(), status, reason })
}

/// How far inside its limit a treatment must read for the guardrail to be shown to hold
/// at one-sided level `alpha`: the half-width of the interval [`check_guardrail`] judges,
/// in the limit's units (lift points for relative limits, metric units for absolute
/// ones). Used to ask which configurations an experiment of this size could ever ship.
pub fn proof_margin(g: &Guardrail, treatment: &MetricData, baseline: &MetricData, alpha: f64) -> StatsResult<f64> {
    let read = interval(g, treatment, baseline, confidence_of(alpha)?)?;
    Ok(if g.higher_is_safe() { read.estimate - read.low } else { read.high - read.estimate })
}

/// The interval a guardrail is judged on: the relative lift against the baseline for
/// relative limits, the treatment's own mean (t interval) for absolute ones.
fn interval(g: &Guardrail, treatment: &MetricData, baseline: &MetricData, confidence: f64) -> StatsResult<Interval> {
    let t = summarize(treatment)?;
    match g.limit {
        Limit::MaxDropPct(_) | Limit::MaxRisePct(_) => {
            Ok(relative_lift(&t, &summarize(baseline)?, confidence)?.lift_pct())
        }
        Limit::AtMost(_) | Limit::AtLeast(_) => {
            let half = t_two_sided(confidence, t.n as f64 - 1.0)? * t.std_err();
            Ok(Interval { estimate: t.mean, low: t.mean - half, high: t.mean + half })
        }
    }
}

/// Like [`check_guardrail`], but data that cannot be read gives `Inconclusive` with the
/// cause as reason: a guardrail that cannot be shown to hold must block shipping.
pub fn guardrail_verdict(g: &Guardrail, treatment: &MetricData, baseline: &MetricData, alpha: f64) -> GuardrailVerdict {
    check_guardrail(g, treatment, baseline, alpha).unwrap_or_else(|e| GuardrailVerdict {
        metric: g.metric.clone(),
        rule: g.describe(),
        status: GuardrailStatus::Inconclusive,
        reason: format!("{}: cannot be read ({e}): inconclusive", g.metric),
    })
}

fn confidence_of(alpha: f64) -> StatsResult<f64> {
    if alpha > 0.0 && alpha < 0.5 {
        Ok(1.0 - 2.0 * alpha)
    } else {
        Err(StatsError::OutOfRange { name: "alpha", value: alpha, range: "(0, 0.5)" })
    }
}

/// Holds when the interval is entirely on the safe side of `threshold`, breached when
/// entirely on the unsafe side. Touching the threshold counts as safe, as in
/// `Guardrail::holds`.
fn status(i: Interval, threshold: f64, higher_is_safe: bool) -> GuardrailStatus {
    let (safe_end, unsafe_end) = if higher_is_safe { (i.low, i.high) } else { (i.high, i.low) };
    let on_safe_side = |x: f64| if higher_is_safe { x >= threshold } else { x <= threshold };
    if on_safe_side(safe_end) {
        GuardrailStatus::Holds
    } else if !on_safe_side(unsafe_end) {
        GuardrailStatus::Breached
    } else {
        GuardrailStatus::Inconclusive
    }
}

fn status_word(s: GuardrailStatus) -> &'static str {
    match s {
        GuardrailStatus::Holds => "holds",
        GuardrailStatus::Breached => "breached",
        GuardrailStatus::Inconclusive => "inconclusive",
    }
}

/// `limit_pct` is the signed lift at the edge: -p for a maximum drop, +p for a rise.
fn relative(g: &Guardrail, lift: Interval, limit_pct: f64, confidence: f64) -> (GuardrailStatus, String) {
    let s = status(lift, limit_pct, g.higher_is_safe());
    let reason = format!(
        "{} lift {:+.2}% [{:+.2}%, {:+.2}%] ({:.0}% CI) vs limit {:+}%: {}",
        g.metric,
        lift.estimate,
        lift.low,
        lift.high,
        100.0 * confidence,
        limit_pct,
        status_word(s)
    );
    (s, reason)
}

fn absolute(g: &Guardrail, mean: Interval, threshold: f64, confidence: f64) -> (GuardrailStatus, String) {
    let s = status(mean, threshold, g.higher_is_safe());
    let op = if g.higher_is_safe() { ">=" } else { "<=" };
    let reason = format!(
        "{} mean {} [{}, {}] ({:.0}% CI) vs limit {op} {threshold}: {}",
        g.metric,
        sig(mean.estimate),
        sig(mean.low),
        sig(mean.high),
        100.0 * confidence,
        status_word(s)
    );
    (s, reason)
}

/// Four significant digits: enough to see why a verdict fell as it did.
fn sig(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let decimals = (3 - x.abs().log10().floor() as i32).max(0) as usize;
    format!("{x:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An arm of `n` units with the given mean and unit standard deviation.
    fn arm(n: u64, mean: f64, sd: f64) -> MetricData {
        let nf = n as f64;
        let sum = nf * mean;
        let sum_sq = sd * sd * (nf - 1.0) + sum * sum / nf;
        MetricData::Mean { n, sum, sum_sq, pre: None }
    }

    fn drop(p: f64) -> Guardrail {
        Guardrail { metric: "dwell_s".into(), limit: Limit::MaxDropPct(p) }
    }

    #[test]
    fn drop_guardrail_holds_breaches_and_is_inconclusive() {
        // 10000 units, sd 10, mean 100: se of the lift ~0.141%, 90% half width ~0.23%.
        let base = arm(10_000, 100.0, 10.0);
        let holds = check_guardrail(&drop(0.5), &arm(10_000, 100.0, 10.0), &base, 0.05).unwrap();
        assert_eq!(holds.status, GuardrailStatus::Holds, "{}", holds.reason);
        let breached = check_guardrail(&drop(0.5), &arm(10_000, 99.0, 10.0), &base, 0.05).unwrap();
        assert_eq!(breached.status, GuardrailStatus::Breached, "{}", breached.reason);
        let unsure = check_guardrail(&drop(0.5), &arm(10_000, 99.5, 10.0), &base, 0.05).unwrap();
        assert_eq!(unsure.status, GuardrailStatus::Inconclusive, "{}", unsure.reason);
        assert!(
            unsure.reason.starts_with("dwell_s lift -0.50% [-0.73%, -0.27%] (90% CI) vs limit -0.5%"),
            "{}",
            unsure.reason
        );
        assert!(unsure.reason.ends_with("inconclusive"));
    }

    #[test]
    fn rise_guardrail_is_the_mirror_image() {
        let g = Guardrail { metric: "latency_p99_ms".into(), limit: Limit::MaxRisePct(1.0) };
        let base = arm(10_000, 100.0, 10.0);
        let status = |m: f64| check_guardrail(&g, &arm(10_000, m, 10.0), &base, 0.05).unwrap().status;
        assert_eq!(status(100.0), GuardrailStatus::Holds);
        assert_eq!(status(102.0), GuardrailStatus::Breached);
        assert_eq!(status(101.0), GuardrailStatus::Inconclusive);
    }

    #[test]
    fn absolute_limits_read_the_treatment_mean() {
        let g = Guardrail { metric: "latency_p99_ms".into(), limit: Limit::AtMost(120.0) };
        let base = arm(1000, 100.0, 5.0);
        let v = |m: f64| check_guardrail(&g, &arm(1000, m, 5.0), &base, 0.05).unwrap();
        assert_eq!(v(110.0).status, GuardrailStatus::Holds);
        assert_eq!(v(125.0).status, GuardrailStatus::Breached);
        let unsure = v(120.1);
        assert_eq!(unsure.status, GuardrailStatus::Inconclusive);
        assert!(unsure.reason.contains("vs limit <= 120"), "{}", unsure.reason);
        let min = Guardrail { metric: "categories".into(), limit: Limit::AtLeast(3.0) };
        let s = check_guardrail(&min, &arm(1000, 3.5, 1.0), &base, 0.05).unwrap().status;
        assert_eq!(s, GuardrailStatus::Holds);
    }

    #[test]
    fn proof_margin_is_where_the_verdict_turns_to_holds() {
        let base = arm(10_000, 100.0, 10.0);
        // se of the lift ~0.141%, one-sided 5%: about 1.645 x 0.141 = 0.233 points.
        let m = proof_margin(&drop(0.5), &base, &base, 0.05).unwrap();
        assert!((m - 0.2327).abs() < 0.002, "{m}");
        let status = |lift_pct: f64| {
            let t = arm(10_000, 100.0 * (1.0 + lift_pct / 100.0), 10.0);
            check_guardrail(&drop(0.5), &t, &base, 0.05).unwrap().status
        };
        assert_eq!(status(-(0.5 - m) + 0.01), GuardrailStatus::Holds);
        assert_eq!(status(-(0.5 - m) - 0.01), GuardrailStatus::Inconclusive);
        // Absolute limits: the t half-width of the treatment's own mean.
        let g = Guardrail { metric: "latency_p99_ms".into(), limit: Limit::AtMost(120.0) };
        let m = proof_margin(&g, &arm(1000, 110.0, 5.0), &base, 0.05).unwrap();
        assert!((m - 1.6464 * 5.0 / 1000f64.sqrt()).abs() < 1e-3, "{m}");
    }

    #[test]
    fn unreadable_data_is_inconclusive_not_a_panic() {
        let zero = MetricData::Mean { n: 10, sum: 0.0, sum_sq: 0.0, pre: None };
        let v = guardrail_verdict(&drop(0.5), &arm(10, 1.0, 1.0), &zero, 0.05);
        assert_eq!(v.status, GuardrailStatus::Inconclusive);
        assert!(check_guardrail(&drop(0.5), &zero, &zero, 0.7).is_err());
    }
}
