//! The built-in Critic's rules, as a pure function of a proposal and what is known.
//!
//! Hard checks first (types and bounds, the task's invariants), then memory (repeats of
//! known failures, near-duplicates of what was measured or is already in the batch),
//! then prediction (the surrogate's probability of breaching a guardrail), and finally
//! the batch limit. Every decision carries its reason.

use super::search::SAME_POINT;
use super::surrogate::Surrogate;
use crate::protocol::{Candidate, Decision, Insight};
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
