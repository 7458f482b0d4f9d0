//! The scalar objective's lift with an interval.
//!
//! The objective is `sum_i w_i s_i lift_i` (see `TaskSpec::score`). Its variance needs
//! the covariances between metrics, which per-metric sufficient statistics do not carry.
//! The bound `sd(sum a_i X_i) <= sum |a_i| sd(X_i)` (Cauchy–Schwarz) holds for every
//! correlation, so that standard error is used: it is exact when the metrics are
//! perfectly correlated and too wide otherwise, which errs on the side of not shipping.

use super::dist::z_two_sided;
use super::error::{finite, StatsResult};
use crate::protocol::Interval;
use skillhub::TaskSpec;
use std::collections::BTreeMap;

/// One metric's lift in percent with its standard error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LiftPct {
    pub estimate: f64,
    pub std_err: f64,
}

/// One term of the objective: a lift and its signed weight `w_i * sign_i`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WeightedLift {
    pub lift: LiftPct,
    pub weight: f64,
}

/// `sum w_i lift_i` with a conservative two-sided interval at `confidence`.
pub fn combine(terms: &[WeightedLift], confidence: f64) -> StatsResult<Interval> {
    let z = z_two_sided(confidence)?;
    let mut estimate = 0.0;
    let mut std_err = 0.0;
    for t in terms {
        estimate += finite("weight", t.weight)? * finite("lift", t.lift.estimate)?;
        std_err += t.weight.abs() * finite("standard error", t.lift.std_err)?.abs();
    }
    Ok(Interval { estimate, low: estimate - z * std_err, high: estimate + z * std_err })
}

/// The task's objective from per-metric lifts against the same reference. A metric
/// without a lift counts as unchanged and certain, as in `TaskSpec::score`.
pub fn score_interval(task: &TaskSpec, lifts: &BTreeMap<String, LiftPct>, confidence: f64) -> StatsResult<Interval> {
    let terms: Vec<WeightedLift> = task
        .objectives
        .iter()
        .filter_map(|o| {
            let lift = *lifts.get(&o.metric)?;
            Some(WeightedLift { lift, weight: o.weight * o.direction.sign() })
        })
        .collect();
    combine(&terms, confidence)
}

#[cfg(test)]
mod tests {
    use super::*;
    use skillhub::{Direction, Objective};

    #[test]
    fn standard_error_is_the_sum_of_weighted_errors() {
        let terms = [
            WeightedLift { lift: LiftPct { estimate: 1.0, std_err: 0.5 }, weight: 2.0 },
            WeightedLift { lift: LiftPct { estimate: 0.4, std_err: 0.2 }, weight: -1.0 },
        ];
        let i = combine(&terms, 0.95).unwrap();
        assert!((i.estimate - 1.6).abs() < 1e-12);
        let half = 1.959963984540054 * 1.2;
        assert!((i.high - (1.6 + half)).abs() < 1e-9 && (i.low - (1.6 - half)).abs() < 1e-9);
    }

    #[test]
    fn score_interval_agrees_with_task_score() {
        let task = TaskSpec {
            objectives: vec![
                Objective { metric: "a".into(), direction: Direction::Maximize, weight: 2.0 },
                Objective { metric: "b".into(), direction: Direction::Minimize, weight: 1.0 },
                Objective { metric: "c".into(), direction: Direction::Maximize, weight: 1.0 },
            ],
            ..crate::fixtures::task(&[], vec![])
        };
        let lifts = BTreeMap::from([
            ("a".to_string(), LiftPct { estimate: 1.0, std_err: 0.1 }),
            ("b".to_string(), LiftPct { estimate: 0.5, std_err: 0.3 }),
        ]);
        let i = score_interval(&task, &lifts, 0.9).unwrap();
        let plain: BTreeMap<String, f64> = lifts.iter().map(|(k, v)| (k.clone(), v.estimate)).collect();
        assert!((i.estimate - task.score(&plain)).abs() < 1e-12);
        assert!(i.low < i.estimate && i.estimate < i.high);
    }

    #[test]
    fn non_finite_input_is_an_error() {
        let t = [WeightedLift { lift: LiftPct { estimate: f64::NAN, std_err: 0.1 }, weight: 1.0 }];
        assert!(combine(&t, 0.95).is_err());
    }
}
