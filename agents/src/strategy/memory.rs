//! Insight's memory as a pure function of every experiment read so far: the pooled
//! observations, the incumbent, the failures, the elites, the sensitivities and the
//! convergence signal. Rebuilding it after a restart is replaying the journal.

use crate::protocol::{ArmResult, Elite, ExperimentResult, GuardrailStatus, Incumbent, Insight, Interval, Observation, RoundRef};
use super::pareto::{pareto_front, select_diverse, Measured};
use serde::{Deserialize, Serialize};
use skillhub::{Configuration, TaskSpec};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InsightSettings {
    /// Elites kept on the diverse Pareto front.
    pub elites: usize,
    /// Rounds without any plausible improvement before declaring convergence.
    pub patience: u32,
    /// An improvement smaller than this (objective, %) is not worth another round.
    pub min_lift_pct: f64,
}

impl Default for InsightSettings {
    fn default() -> Self {
        Self { elites: 5, patience: 3, min_lift_pct: 0.25 }
    }
}

/// Combines two estimates by inverse-variance weighting.
fn pool(a: (f64, f64), b: (f64, f64)) -> (f64, f64) {
    let (wa, wb) = (1.0 / a.1.max(1e-9).powi(2), 1.0 / b.1.max(1e-9).powi(2));
    ((a.0 * wa + b.0 * wb) / (wa + wb), (1.0 / (wa + wb)).sqrt())
}

fn z_of(confidence: f64) -> f64 {
    crate::stats::z_two_sided(confidence).unwrap_or(1.96)
}

/// One arm's effects against the baseline, when the experiment measured them.
fn observe(r: &ExperimentResult, a: &ArmResult) -> Option<Observation> {
    if a.vs_baseline.is_empty() {
        return None;
    }
    let lifts = a.vs_baseline.iter().map(|e| (e.metric.clone(), (e.lift_pct.estimate, e.std_err_pct))).collect();
    Some(Observation {
        candidate_id: a.candidate_id.clone().unwrap_or_else(|| "baseline".into()),
        round: r.round.round,
        config: a.config.clone(),
        score: a.score_vs_baseline,
        score_se: a.score_se_vs_baseline,
        lifts_pct: lifts,
        safe: !a.guardrails.iter().any(|g| g.status == GuardrailStatus::Breached),
        experiments: vec![r.experiment_id.clone()],
    })
}

fn merge(into: &mut Observation, o: Observation, z: f64) {
    let (est, se) = pool((into.score.estimate, into.score_se), (o.score.estimate, o.score_se));
    into.score = Interval { estimate: est, low: est - z * se, high: est + z * se };
    into.score_se = se;
    for (m, v) in o.lifts_pct {
        let merged = into.lifts_pct.get(&m).map_or(v, |old| pool(*old, v));
        into.lifts_pct.insert(m, merged);
    }
    into.safe &= o.safe;
    into.experiments.extend(o.experiments);
}

/// Every measured configuration, pooled by candidate.
pub fn observations(results: &[ExperimentResult]) -> Vec<Observation> {
    let mut out: Vec<Observation> = Vec::new();
    for r in results {
        let z = z_of(r.confidence);
        for a in &r.arms {
            let Some(o) = observe(r, a) else { continue };
            match out.iter_mut().find(|x| x.candidate_id == o.candidate_id) {
                Some(x) => merge(x, o, z),
                None => out.push(o),
            }
        }
    }
    out
}

/// Replays the ship decisions: the incumbent is the last shipped arm.
fn incumbent(task: &TaskSpec, results: &[ExperimentResult]) -> (Incumbent, Option<String>) {
    let mut inc = Incumbent { candidate_id: None, config: task.baseline(), score_vs_baseline: None, lifts_pct: BTreeMap::new(), since_round: 0, experiment_id: None };
    let mut shipped_now = None;
    for (i, r) in results.iter().enumerate() {
        let winner = r.arms.iter().filter(|a| a.shippable).max_by(|a, b| a.score_vs_control.low.total_cmp(&b.score_vs_control.low));
        if let Some(w) = winner {
            inc = Incumbent { candidate_id: w.candidate_id.clone(), config: w.config.clone(), score_vs_baseline: None, lifts_pct: BTreeMap::new(), since_round: r.round.round, experiment_id: Some(r.experiment_id.clone()) };
            if i + 1 == results.len() {
                shipped_now = w.candidate_id.clone();
            }
        }
    }
    confirm(&mut inc, results);
    (inc, shipped_now)
}

/// The incumbent's effect against the baseline, read from the experiments *after* the
/// one that selected it (where it ran as control), so the reported lift is free of the
/// winner's curse; only when no such read exists does it fall back to the selecting one.
fn confirm(inc: &mut Incumbent, results: &[ExperimentResult]) {
    let Some(id) = inc.candidate_id.clone() else { return };
    let arms_of = |fresh: bool| -> Vec<(&ExperimentResult, &ArmResult)> {
        results
            .iter()
            .filter(|r| (r.round.round > inc.since_round) == fresh)
            .flat_map(|r| r.arms.iter().map(move |a| (r, a)))
            .filter(|(_, a)| a.candidate_id.as_deref() == Some(id.as_str()) && !a.vs_baseline.is_empty())
            .collect()
    };
    let mut arms = arms_of(true);
    if arms.is_empty() {
        arms = arms_of(false);
    }
    let mut score: Option<(f64, f64, f64)> = None;
    let mut lifts: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for (r, a) in arms {
        let s = (a.score_vs_baseline.estimate, a.score_se_vs_baseline);
        score = Some(match score {
            Some((e, se, z)) => {
                let p = pool((e, se), s);
                (p.0, p.1, z)
            }
            None => (s.0, s.1, z_of(r.confidence)),
        });
        for e in &a.vs_baseline {
            let v = (e.lift_pct.estimate, e.std_err_pct);
            let merged = lifts.get(&e.metric).map_or(v, |old| pool(*old, v));
            lifts.insert(e.metric.clone(), merged);
        }
    }
    if let Some((e, se, z)) = score {
        inc.score_vs_baseline = Some(Interval { estimate: e, low: e - z * se, high: e + z * se });
        inc.lifts_pct = lifts.into_iter().map(|(m, (e, se))| (m, Interval { estimate: e, low: e - z * se, high: e + z * se })).collect();
    }
}

/// Treatments measured significantly worse than their control, or breaching a guardrail.
fn failures(results: &[ExperimentResult]) -> Vec<Configuration> {
    results
        .iter()
        .flat_map(|r| r.arms.iter())
        .filter(|a| !a.vs_control.is_empty())
        .filter(|a| a.score_vs_control.high < 0.0 || a.guardrails.iter().any(|g| g.status == GuardrailStatus::Breached))
        .map(|a| a.config.clone())
        .collect()
}

fn convergence(results: &[ExperimentResult], s: &InsightSettings) -> (bool, String) {
    let p = s.patience as usize;
    if results.len() < p.max(1) {
        return (false, format!("{} of at least {p} experiments read", results.len()));
    }
    let recent = &results[results.len() - p..];
    let best_upper = recent.iter().flat_map(|r| r.arms.iter()).filter(|a| !a.vs_control.is_empty()).map(|a| a.score_vs_control.high).fold(f64::NEG_INFINITY, f64::max);
    let shipped = recent.iter().any(|r| r.arms.iter().any(|a| a.shippable));
    if !shipped && best_upper < s.min_lift_pct {
        (true, format!("in the last {p} experiments no arm could beat the control by {:.2}% (best upper bound {best_upper:+.2}%)", s.min_lift_pct))
    } else {
        (false, format!("best upper bound of the last {p} experiments is {best_upper:+.2}% (threshold {:.2}%), shipped: {shipped}", s.min_lift_pct))
    }
}

/// The Insight after the last of `results`.
pub fn analyse(task: &TaskSpec, results: &[ExperimentResult], s: &InsightSettings) -> Insight {
    let obs = observations(results);
    let report = super::sensitivity::analyse_observations(&task.space(), &obs);
    let (incumbent, shipped) = incumbent(task, results);
    let baseline_means = baseline_means(results);
    let (converged, convergence_reason) = convergence(results, s);
    let round = results.last().map_or(RoundRef { task_id: task.id.clone(), round: 0 }, |r| r.round.clone());
    Insight {
        round,
        incumbent,
        shipped,
        elites: elites(task, &obs, s.elites),
        sensitivity: report.sensitivity,
        patterns: report.patterns,
        failures: failures(results),
        observations: obs,
        baseline_means,
        converged,
        convergence_reason,
    }
}

/// The baseline's metric means: the reference of any read against the baseline.
fn baseline_means(results: &[ExperimentResult]) -> BTreeMap<String, f64> {
    results
        .iter()
        .rev()
        .flat_map(|r| r.arms.iter())
        .find(|a| !a.vs_baseline.is_empty())
        .map(|a| a.vs_baseline.iter().map(|e| (e.metric.clone(), e.reference_mean)).collect())
        .unwrap_or_default()
}

/// The diverse Pareto front of the safe observations that beat the baseline.
fn elites(task: &TaskSpec, obs: &[Observation], k: usize) -> Vec<Elite> {
    let safe: Vec<&Observation> = obs.iter().filter(|o| o.safe && o.score.estimate > 0.0).collect();
    let points: Vec<Measured> = safe.iter().map(|o| Measured::from_observation(task, o)).collect();
    let chosen = select_diverse(&pareto_front(&points), k, &task.space());
    chosen
        .iter()
        .filter_map(|m| safe.iter().find(|o| o.candidate_id == m.id))
        .map(|o| Elite {
            candidate_id: o.candidate_id.clone(),
            config: o.config.clone(),
            score_vs_baseline: o.score,
            lifts_pct: task.objectives.iter().filter_map(|ob| Some((ob.metric.clone(), o.lifts_pct.get(&ob.metric)?.0))).collect(),
            experiments: o.experiments.clone(),
        })
        .collect()
}
