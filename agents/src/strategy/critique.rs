//! The built-in Critic's rules, as a pure function of a proposal and what is known.
//!
//! Hard checks first (types and bounds, the task's invariants), then memory (repeats of
//! known failures, near-duplicates of what was measured or is already in the batch),
//! then prediction (the surrogate's probability of breaching a guardrail), and finally
//! the batch limit. Every decision carries its reason.

use super::prior::SAME_POINT;
use super::surrogate::Surrogate;
use crate::journal::{Journal, JournalError, Step};
use crate::protocol::{Candidate, Decision, Insight, Verdict};
use skillhub::{Configuration, Space, TaskSpec};

pub struct CritiqueInput<'a> {
    pub task: &'a TaskSpec,
    pub candidates: &'a [Candidate],
    pub insight: Option<&'a Insight>,
    pub control: &'a Configuration,
    pub max_accept: usize,
    /// Reject when the predicted probability of breaching any guardrail exceeds this.
    pub risk_threshold: f64,
}

fn nearest<'c>(
    space: &Space,
    cfg: &Configuration,
    others: impl Iterator<Item = (&'c str, &'c Configuration)>,
) -> Option<(&'c str, f64)> {
    others.map(|(id, o)| (id, space.distance(cfg, o))).min_by(|a, b| a.1.total_cmp(&b.1))
}

/// Decides on every candidate, in proposal order.
pub fn review(input: &CritiqueInput) -> Vec<Decision> {
    let space = input.task.space();
    let model = input
        .insight
        .filter(|i| !i.observations.is_empty())
        .and_then(|i| Surrogate::fit(input.task, &i.observations, &i.baseline_means, &i.sensitivity));
    let mut accepted: Vec<&Candidate> = Vec::new();
    let mut out = Vec::new();
    for c in input.candidates {
        let verdict = judge(input, &space, model.as_ref(), c, &accepted);
        if verdict.is_ok() {
            accepted.push(c);
        }
        let (accepted_flag, reason) = match verdict {
            Ok(why) => (true, why),
            Err(why) => (false, why),
        };
        out.push(Decision { candidate: c.clone(), accepted: accepted_flag, reason });
    }
    out
}

fn judge(
    input: &CritiqueInput,
    space: &Space,
    model: Option<&Surrogate>,
    c: &Candidate,
    accepted: &[&Candidate],
) -> Result<String, String> {
    space.check(&c.config).map_err(|e| format!("invalid: {e}"))?;
    if let Some(v) = input.task.violations(&c.config).into_iter().next() {
        return Err(format!("invalid: {v}"));
    }
    if let Some(i) = input.insight {
        if let Some((_, d)) =
            nearest(space, &c.config, i.failures.iter().map(|f| ("failure", f))).filter(|(_, d)| *d < 2.0 * SAME_POINT)
        {
            return Err(format!(
                "repeats a known failure (distance {d:.3} to a configuration measured worse or unsafe)"
            ));
        }
        let measured = i.observations.iter().map(|o| (o.candidate_id.as_str(), &o.config));
        if let Some((id, d)) = nearest(space, &c.config, measured).filter(|(_, d)| *d < SAME_POINT) {
            return Err(format!("near-duplicate of already measured {id} (distance {d:.3})"));
        }
    }
    if space.distance(&c.config, input.control) < SAME_POINT {
        return Err("near-duplicate of the control".into());
    }
    if let Some((id, d)) =
        nearest(space, &c.config, accepted.iter().map(|a| (a.id.as_str(), &a.config))).filter(|(_, d)| *d < SAME_POINT)
    {
        return Err(format!("near-duplicate of {id} in this batch (distance {d:.3})"));
    }
    let risk_note = match model {
        Some(m) => {
            let p = m.predict(&space.to_unit(&c.config));
            let risk = 1.0 - p.p_safe;
            if risk > input.risk_threshold {
                let worst = p.guards.iter().min_by(|a, b| a.1.total_cmp(&b.1)).map(|g| g.0.clone()).unwrap_or_default();
                return Err(format!(
                    "predicted guardrail breach probability {risk:.2} exceeds the threshold {:.2} (most at risk: {worst})",
                    input.risk_threshold
                ));
            }
            format!("predicted objective {:+.2}% ± {:.2}, breach risk {risk:.2}", p.score.mean, p.score.sd)
        }
        None => "no measurements yet to predict risk from".into(),
    };
    if accepted.len() >= input.max_accept {
        return Err(format!("batch is full ({} arms per round)", input.max_accept));
    }
    Ok(format!("valid, not a repeat, {risk_note}"))
}

/// One launched candidate and the guardrail-breach probability the surrogate predicted
/// for it when the Critic accepted it.
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchedRisk {
    pub round: u32,
    pub candidate: String,
    pub risk: f64,
}

/// Audit of a run from its journal: refits the surrogate the Critic used for every round
/// (on the latest Insight before it) and predicts the breach risk of every candidate
/// that was accepted and launched. Rounds before any measurement have no prediction and
/// are left out.
pub fn launched_risks(journal: &Journal, task: &TaskSpec) -> Result<Vec<LaunchedRisk>, JournalError> {
    let space = task.space();
    let insights = journal.all::<Insight>(&task.id, Step::Insight)?;
    let mut out = Vec::new();
    for (round, verdict) in journal.all::<Verdict>(&task.id, Step::Verdict)? {
        // The Critic saw the latest Insight before the round (a skipped round has none).
        let Some((_, i)) = insights.iter().rev().find(|(r, _)| *r < round) else { continue };
        let Some(model) = Surrogate::fit(task, &i.observations, &i.baseline_means, &i.sensitivity) else { continue };
        for c in verdict.accepted() {
            let risk = 1.0 - model.predict(&space.to_unit(&c.config)).p_safe;
            out.push(LaunchedRisk { round, candidate: c.id.clone(), risk });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Interval, Observation, Origin};
    use skillhub::{Invariant, Value};
    use std::collections::BTreeMap;

    fn task() -> TaskSpec {
        let invariant = Invariant {
            description: "a and b together".into(),
            terms: BTreeMap::from([("a".into(), 1.0), ("b".into(), 1.0)]),
            min: Some(0.3),
            max: None,
        };
        TaskSpec { invariants: vec![invariant], ..crate::fixtures::task(&["a", "b"], vec![]) }
    }

    fn cand(id: &str, a: f64, b: f64) -> Candidate {
        let config = BTreeMap::from([("a".to_string(), Value::Num(a)), ("b".to_string(), Value::Num(b))]);
        Candidate { id: id.into(), config, hypothesis: String::new(), origin: Origin::Optimizer }
    }

    fn insight(task: &TaskSpec, measured: &Candidate, failure: &Candidate) -> Insight {
        let zero = Interval { estimate: 0.0, low: 0.0, high: 0.0 };
        let observation = Observation {
            candidate_id: measured.id.clone(),
            round: 1,
            config: measured.config.clone(),
            score: zero,
            score_se: 0.5,
            lifts_pct: BTreeMap::new(),
            safe: true,
            experiments: vec!["exp-1".into()],
            units: 0,
        };
        Insight {
            failures: vec![failure.config.clone()],
            observations: vec![observation],
            ..crate::fixtures::empty_insight(task, 1)
        }
    }

    fn reasons(candidates: &[Candidate], with_memory: bool) -> Vec<(bool, String)> {
        let t = task();
        let i = insight(&t, &cand("r1-c1", 0.9, 0.9), &cand("r1-c2", 0.1, 0.9));
        let input = CritiqueInput {
            task: &t,
            candidates,
            insight: with_memory.then_some(&i),
            control: &t.baseline(),
            max_accept: 2,
            risk_threshold: 0.5,
        };
        review(&input).into_iter().map(|d| (d.accepted, d.reason)).collect()
    }

    #[test]
    fn critic_rejects_out_of_range_values() {
        let r = reasons(&[cand("c", 1.5, 0.5)], false);
        assert!(!r[0].0 && r[0].1.contains("outside [0, 1]"), "{r:?}");
    }

    #[test]
    fn critic_rejects_invariant_violations() {
        let r = reasons(&[cand("c", 0.1, 0.1)], false);
        assert!(!r[0].0 && r[0].1.contains("a and b together"), "{r:?}");
    }

    #[test]
    fn critic_rejects_repeats_of_failures_and_measured_configurations() {
        let r = reasons(&[cand("c1", 0.1, 0.9), cand("c2", 0.9, 0.9)], true);
        assert!(!r[0].0 && r[0].1.contains("known failure"), "{r:?}");
        assert!(!r[1].0 && r[1].1.contains("already measured r1-c1"), "{r:?}");
    }

    #[test]
    fn critic_rejects_near_duplicates_and_the_control_and_keeps_the_batch_size() {
        let r = reasons(
            &[
                cand("c1", 0.2, 0.2),
                cand("c2", 0.205, 0.2),
                cand("c3", 0.5, 0.5),
                cand("c4", 0.7, 0.2),
                cand("c5", 0.3, 0.8),
            ],
            false,
        );
        assert!(r[0].0, "{r:?}");
        assert!(!r[1].0 && r[1].1.contains("near-duplicate of c1"), "{r:?}");
        assert!(!r[2].0 && r[2].1.contains("control"), "{r:?}");
        assert!(r[3].0, "{r:?}");
        assert!(!r[4].0 && r[4].1.contains("batch is full"), "{r:?}");
    }
}
