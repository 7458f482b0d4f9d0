//! Interim looks at a running experiment with always-valid inference, so that looking
//! early does not inflate false positives the way naive peeking does.
//!
//! Method: GrowthBook's asymptotic confidence sequences ([`crate::stats::sequential`]),
//! tuned to be tightest at the experiment's planned total units. At a look:
//! - a treatment is a *clear winner* when the sequence of its objective score against
//!   the control excludes 0 upwards and every guardrail's sequence against the
//!   production baseline lies on the safe side of its margin (Bonferroni over the
//!   treatments, guardrails one-sided); absolute-limit guardrails cannot be judged by a
//!   lift, so a task with one never stops early for a win;
//! - a treatment is *clearly harmful* when some guardrail's sequence lies entirely
//!   beyond its margin.
//!
//! The experiment stops early when any treatment is a clear winner or every treatment
//! is clearly harmful. After an early stop only the clear winners may ship: the other
//! arms' fixed-horizon tests were never meant to be read at an arbitrary time.

use crate::protocol::{ArmResult, ExperimentResult, Interval, MetricEstimate};
use crate::stats::sequential_interval;
use skillhub::{Guardrail, Limit, TaskSpec};

#[derive(Debug, Clone, PartialEq)]
pub struct Look {
    /// Arms whose objective win and guardrail safety are already proven.
    pub winners: Vec<String>,
    /// Arms with a guardrail breach already proven.
    pub harmful: Vec<String>,
    pub treatments: usize,
}

impl Look {
    /// Why to stop now, if so.
    pub fn stop_reason(&self) -> Option<String> {
        if !self.winners.is_empty() {
            Some(format!("clear winner(s) {} by always-valid intervals", self.winners.join(", ")))
        } else if self.treatments > 0 && self.harmful.len() == self.treatments {
            Some("every treatment breaches a guardrail by always-valid intervals".into())
        } else {
            None
        }
    }
}

/// Reads an interim (or stopped) result with always-valid intervals.
pub fn look(task: &TaskSpec, result: &ExperimentResult, tuning_n: f64) -> Look {
    let treatments: Vec<&ArmResult> = result.arms.iter().filter(|a| !a.vs_control.is_empty()).collect();
    let alpha = (1.0 - result.confidence) / treatments.len().max(1) as f64;
    let control_units = result.arms.iter().find(|a| a.vs_control.is_empty()).map_or(0, |a| a.units);
    let absolute_limits = task.guardrails.iter().any(|g| matches!(g.limit, Limit::AtMost(_) | Limit::AtLeast(_)));
    let mut look = Look { winners: Vec::new(), harmful: Vec::new(), treatments: treatments.len() };
    if result.blocked.is_some() {
        return look;
    }
    for arm in treatments {
        let n_total = arm.units + control_units;
        let guards: Vec<Option<Interval>> =
            task.guardrails.iter().map(|g| guardrail_sequence(g, arm, n_total, 1.0 - 2.0 * alpha, tuning_n)).collect();
        let breached = task.guardrails.iter().zip(&guards).any(|(g, i)| i.is_some_and(|i| beyond(g, &i)));
        let safe =
            !absolute_limits && task.guardrails.iter().zip(&guards).all(|(g, i)| i.is_some_and(|i| within(g, &i)));
        let score = sequence(arm.score_vs_control.estimate, arm.score_se_vs_control, n_total, 1.0 - alpha, tuning_n);
        if breached {
            look.harmful.push(arm.arm_id.clone());
        } else if safe && score.is_some_and(|s| s.low > 0.0) {
            look.winners.push(arm.arm_id.clone());
        }
    }
    look
}

fn sequence(estimate: f64, std_err: f64, n_total: u64, confidence: f64, tuning_n: f64) -> Option<Interval> {
    sequential_interval(estimate, std_err * std_err, n_total, confidence, tuning_n).ok().map(|s| s.interval)
}

/// The guardrail metric's lift against the production baseline (the control when the
/// control is production), as an always-valid interval in %.
fn guardrail_sequence(g: &Guardrail, arm: &ArmResult, n_total: u64, confidence: f64, n: f64) -> Option<Interval> {
    let reads: &[MetricEstimate] = if arm.vs_baseline.is_empty() { &arm.vs_control } else { &arm.vs_baseline };
    let e = reads.iter().find(|e| e.metric == g.metric)?;
    sequence(e.lift_pct.estimate, e.std_err_pct, n_total, confidence, n)
}

fn limit_pct(g: &Guardrail) -> Option<f64> {
    match g.limit {
        Limit::MaxDropPct(p) => Some(-p),
        Limit::MaxRisePct(p) => Some(p),
        Limit::AtMost(_) | Limit::AtLeast(_) => None,
    }
}

fn within(g: &Guardrail, i: &Interval) -> bool {
    limit_pct(g).is_some_and(|l| if g.higher_is_safe() { i.low >= l } else { i.high <= l })
}

fn beyond(g: &Guardrail, i: &Interval) -> bool {
    limit_pct(g).is_some_and(|l| if g.higher_is_safe() { i.high < l } else { i.low > l })
}

#[cfg(test)]
mod tests {
    use super::*;
    use skillhub::{Budget, Direction, Objective};

    fn task(limit: Limit) -> TaskSpec {
        TaskSpec {
            id: "t".into(),
            context: String::new(),
            params: vec![],
            objectives: vec![Objective { metric: "sessions".into(), direction: Direction::Maximize, weight: 1.0 }],
            guardrails: vec![Guardrail { metric: "dwell_s".into(), limit }],
            invariants: vec![],
            budget: Budget { rounds: 1, arms_per_round: 2, units_per_arm: 10_000 },
        }
    }

    fn est(metric: &str, lift: f64, se: f64) -> MetricEstimate {
        MetricEstimate {
            metric: metric.into(),
            mean: 1.0,
            reference_mean: 1.0,
            lift_pct: Interval { estimate: lift, low: lift - 1.96 * se, high: lift + 1.96 * se },
            std_err_pct: se,
            p_value: 0.5,
            cuped_narrowing_pct: None,
        }
    }

    fn arm(id: &str, score: f64, se: f64, dwell: f64, units: u64) -> ArmResult {
        ArmResult {
            arm_id: id.into(),
            candidate_id: Some(id.into()),
            config: Default::default(),
            units,
            vs_control: vec![est("sessions", score, se), est("dwell_s", dwell, 0.1)],
            vs_baseline: vec![],
            score_vs_control: Interval { estimate: score, low: score - 1.96 * se, high: score + 1.96 * se },
            score_vs_baseline: Interval { estimate: score, low: score, high: score },
            score_se_vs_control: se,
            score_se_vs_baseline: se,
            score_p_vs_control: 0.5,
            guardrails: vec![],
            shippable: false,
        }
    }

    fn result(arms: Vec<ArmResult>) -> ExperimentResult {
        let units = arms[0].units;
        let mut all = vec![ArmResult { vs_control: vec![], ..arm("control", 0.0, 0.0, 0.0, units) }];
        all.extend(arms);
        ExperimentResult { units_per_arm: units, ..crate::fixtures::experiment_result(1, all) }
    }

    #[test]
    fn a_lift_significant_at_a_fixed_horizon_is_not_yet_a_sequential_win() {
        // z = 3 beats the fixed-horizon 2.24 (Bonferroni over 2) but not the sequence's
        // wider boundary at 20 000 units tuned for 60 000.
        let r = result(vec![arm("t1", 3.0, 1.0, 0.0, 10_000), arm("t2", 0.0, 1.0, 0.0, 10_000)]);
        let l = look(&task(Limit::MaxDropPct(1.0)), &r, 60_000.0);
        assert!(l.winners.is_empty() && l.stop_reason().is_none(), "{l:?}");
        let clear = result(vec![arm("t1", 6.0, 1.0, 0.0, 10_000), arm("t2", 0.0, 1.0, 0.0, 10_000)]);
        let l = look(&task(Limit::MaxDropPct(1.0)), &clear, 60_000.0);
        assert_eq!(l.winners, vec!["t1".to_string()]);
        assert!(l.stop_reason().is_some_and(|r| r.contains("t1")));
    }

    #[test]
    fn a_winner_must_also_be_proven_safe_and_absolute_limits_never_stop_early() {
        let r = result(vec![arm("t1", 6.0, 1.0, -0.9, 10_000)]);
        assert!(look(&task(Limit::MaxDropPct(1.0)), &r, 20_000.0).winners.is_empty(), "dwell not shown above -1%");
        let r = result(vec![arm("t1", 6.0, 1.0, 0.0, 10_000)]);
        assert!(look(&task(Limit::AtLeast(0.0)), &r, 20_000.0).winners.is_empty());
    }

    #[test]
    fn stop_when_every_treatment_is_proven_harmful_and_not_before() {
        let harmful = |dwell2| result(vec![arm("t1", 0.0, 1.0, -3.0, 10_000), arm("t2", 0.0, 1.0, dwell2, 10_000)]);
        let l = look(&task(Limit::MaxDropPct(1.0)), &harmful(-3.0), 20_000.0);
        assert_eq!(l.harmful.len(), 2);
        assert!(l.stop_reason().is_some_and(|r| r.contains("guardrail")));
        let l = look(&task(Limit::MaxDropPct(1.0)), &harmful(0.0), 20_000.0);
        assert_eq!((l.harmful.len(), l.stop_reason()), (1, None));
    }

    #[test]
    fn a_blocked_read_decides_nothing() {
        let mut r = result(vec![arm("t1", 9.0, 1.0, 0.0, 10_000)]);
        r.blocked = Some("srm".into());
        assert_eq!(look(&task(Limit::MaxDropPct(1.0)), &r, 20_000.0).stop_reason(), None);
    }
}
