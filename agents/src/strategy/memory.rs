//! Insight's memory as a pure function of every experiment read so far: the pooled
//! observations, the incumbent, the failures, the elites, the sensitivities and the
//! convergence signal. Rebuilding it after a restart is replaying the journal.

use super::pareto::{pareto_front, select_diverse, Measured};
use super::surrogate::Surrogate;
use crate::protocol::{
    ArmResult, Elite, ExperimentResult, GuardrailStatus, Incumbent, Insight, Interval, Observation, RoundRef,
};
use crate::stats::sequential_interval;
use serde::{Deserialize, Serialize};
use skillhub::{Configuration, TaskSpec};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InsightSettings {
    /// Elites kept on the diverse Pareto front.
    pub elites: usize,
    /// Experiments read before the convergence test may stop the run: a surrogate fitted
    /// on fewer reads is not trusted to rule a region out.
    pub patience: u32,
}

impl Default for InsightSettings {
    fn default() -> Self {
        Self { elites: 5, patience: 3 }
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
        units: a.units,
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
    into.units += o.units;
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

/// An estimate and its standard error.
type Est = (f64, f64);

/// The incumbent's reads against the baseline, pooled per metric, from `arms`.
fn pooled_reads<'a>(arms: impl Iterator<Item = &'a ArmResult>) -> (Option<Est>, BTreeMap<String, Est>) {
    let mut score: Option<(f64, f64)> = None;
    let mut lifts: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for a in arms.filter(|a| !a.vs_baseline.is_empty()) {
        let s = (a.score_vs_baseline.estimate, a.score_se_vs_baseline);
        score = Some(score.map_or(s, |old| pool(old, s)));
        for e in &a.vs_baseline {
            let v = (e.lift_pct.estimate, e.std_err_pct);
            let merged = lifts.get(&e.metric).map_or(v, |old| pool(*old, v));
            lifts.insert(e.metric.clone(), merged);
        }
    }
    (score, lifts)
}

/// Arms of candidate `id` in `results` from rounds after `since` (fresh) or up to it.
fn arms_of<'a>(
    results: &'a [ExperimentResult],
    id: &'a str,
    since: u32,
    fresh: bool,
) -> impl Iterator<Item = &'a ArmResult> {
    results
        .iter()
        .filter(move |r| (r.round.round > since) == fresh)
        .flat_map(|r| r.arms.iter())
        .filter(move |a| a.candidate_id.as_deref() == Some(id))
}

/// Confidence of the rollback test's two-sided sequence: its bound on the unsafe side is
/// one-sided 95%.
const ROLLBACK_CONFIDENCE: f64 = 0.90;

/// A guardrail the incumbent's pooled fresh reads show breached, with the numbers; `None`
/// while all hold or the evidence is not clear.
///
/// The test is re-run after every round on a growing pool of reads: a fixed one-sided 95%
/// bound, checked each round, would roll back a safe incumbent that sits near its limit
/// ever more often the longer the run (one run in five over 16 rounds when it sits on the
/// limit). The bound is an always-valid confidence sequence instead
/// ([`crate::stats::sequential_interval`]), tightest at the first fresh read, so the chance
/// of ever rolling back a safe incumbent stays under 5% however long the run (1.5 in a
/// hundred in the same 16 rounds; see the tests).
fn breach(task: &TaskSpec, inc: &Incumbent, results: &[ExperimentResult]) -> Option<String> {
    let id = inc.candidate_id.as_deref()?;
    let fresh: Vec<&ArmResult> =
        arms_of(results, id, inc.since_round, true).filter(|a| !a.vs_baseline.is_empty()).collect();
    // The sequence only needs the units relative to its tuning point, the first read's.
    let first = fresh.first()?.units.max(1);
    let units: u64 = fresh.iter().map(|a| a.units).sum::<u64>().max(2);
    let (_, lifts) = pooled_reads(fresh.iter().copied());
    let means = baseline_means(results);
    task.guardrails.iter().find_map(|g| {
        let (est, se) = *lifts.get(&g.metric)?;
        let limit = super::surrogate::threshold_pct(g, &means)?;
        let seq = sequential_interval(est, se * se, units, ROLLBACK_CONFIDENCE, first as f64).ok()?.interval;
        let clear = if g.higher_is_safe() { seq.high < limit } else { seq.low > limit };
        clear.then(|| {
            format!(
                "{} breached: {est:+.2}% ± {se:.2} over {} fresh read(s), always-valid 90% interval [{:+.2}, {:+.2}] past the limit {limit:+.2}%",
                g.describe(),
                fresh.len(),
                seq.low,
                seq.high
            )
        })
    })
}

fn baseline_incumbent(task: &TaskSpec) -> Incumbent {
    Incumbent::baseline(task.baseline())
}

/// What replaying the ship decisions gives.
struct Replay {
    incumbent: Incumbent,
    shipped_now: Option<String>,
    rolled_back_now: Option<String>,
    rolled_back: Vec<Configuration>,
}

/// Replays the ship decisions round by round: a significant, safe winner becomes the
/// incumbent; an incumbent whose later reads show a guardrail breach is rolled back to
/// the one before it.
fn replay(task: &TaskSpec, results: &[ExperimentResult]) -> Replay {
    let mut stack = vec![baseline_incumbent(task)];
    let mut out = Replay {
        incumbent: baseline_incumbent(task),
        shipped_now: None,
        rolled_back_now: None,
        rolled_back: Vec::new(),
    };
    for (i, r) in results.iter().enumerate() {
        let last = i + 1 == results.len();
        let seen = &results[..=i];
        if let Some(why) = stack.last().and_then(|inc| breach(task, inc, seen)) {
            if stack.len() > 1 {
                if let Some(bad) = stack.pop() {
                    out.rolled_back.push(bad.config.clone());
                    if last {
                        out.rolled_back_now = Some(format!("{}: {why}", bad.candidate_id.unwrap_or_default()));
                    }
                }
            }
        }
        let winner = r
            .arms
            .iter()
            .filter(|a| a.shippable)
            .max_by(|a, b| a.score_vs_control.low.total_cmp(&b.score_vs_control.low));
        let rolled_back = |a: &ArmResult| out.rolled_back.contains(&a.config);
        if let Some(w) = winner.filter(|w| !rolled_back(w)) {
            stack.push(Incumbent {
                candidate_id: w.candidate_id.clone(),
                config: w.config.clone(),
                score_vs_baseline: None,
                lifts_pct: BTreeMap::new(),
                since_round: r.round.round,
                experiment_id: Some(r.experiment_id.clone()),
            });
            if last {
                out.shipped_now = w.candidate_id.clone();
            }
        }
    }
    out.incumbent = stack.pop().unwrap_or_else(|| baseline_incumbent(task));
    confirm(&mut out.incumbent, results);
    out
}

/// The incumbent's effect against the baseline, read from the experiments *after* the
/// one that selected it (where it ran as control), so the reported lift is free of the
/// winner's curse; only when no such read exists does it fall back to the selecting one.
fn confirm(inc: &mut Incumbent, results: &[ExperimentResult]) {
    let Some(id) = inc.candidate_id.clone() else { return };
    let (mut score, mut lifts) = pooled_reads(arms_of(results, &id, inc.since_round, true));
    if score.is_none() {
        (score, lifts) = pooled_reads(arms_of(results, &id, inc.since_round, false));
    }
    let z = results.last().map_or(1.96, |r| z_of(r.confidence));
    let interval = |(e, se): (f64, f64)| Interval { estimate: e, low: e - z * se, high: e + z * se };
    inc.score_vs_baseline = score.map(interval);
    inc.lifts_pct = lifts.into_iter().map(|(m, v)| (m, interval(v))).collect();
}

/// Treatments measured significantly worse than their control, or breaching a guardrail.
fn failures(results: &[ExperimentResult], rolled_back: &[Configuration]) -> Vec<Configuration> {
    let measured = results
        .iter()
        .flat_map(|r| r.arms.iter())
        .filter(|a| !a.vs_control.is_empty())
        .filter(|a| a.score_vs_control.high < 0.0 || a.guardrails.iter().any(|g| g.status == GuardrailStatus::Breached))
        .map(|a| a.config.clone());
    measured.chain(rolled_back.iter().cloned()).collect()
}

/// Converged when nothing within reach can still beat the incumbent by what the next
/// experiment can show (see [`super::convergence`]), once `patience` experiments are read.
fn convergence(
    task: &TaskSpec,
    results: &[ExperimentResult],
    model: Option<&Surrogate>,
    obs: &[Observation],
    incumbent: &Configuration,
    s: &InsightSettings,
) -> (bool, String) {
    let p = s.patience as usize;
    if results.len() < p.max(1) {
        return (false, format!("{} of at least {p} experiments read", results.len()));
    }
    let Some(model) = model else { return (false, "the objective surrogate could not be fitted".into()) };
    let seed = results.last().map_or(0, |r| u64::from(r.round.round));
    let shape = super::search::round_shape(task, incumbent);
    let c = super::convergence::test(model, &task.space(), obs, incumbent, shape, seed);
    (c.converged, c.reason)
}

/// The Insight after the last of `results`.
pub fn analyse(task: &TaskSpec, results: &[ExperimentResult], s: &InsightSettings) -> Insight {
    let obs = observations(results);
    let baseline_means = baseline_means(results);
    // One surrogate (the Actor's, without a skill's hints) for both readings; uniform
    // relevance so the length scales are this run's data speaking.
    let model = Surrogate::fit(task, &obs, &baseline_means, &BTreeMap::new());
    let report =
        super::sensitivity::analyse_observations(&task.space(), &obs, model.as_ref().map(|m| m.length_scales()));
    let replayed = replay(task, results);
    let (converged, convergence_reason) =
        convergence(task, results, model.as_ref(), &obs, &replayed.incumbent.config, s);
    let round = results.last().map_or(RoundRef { task_id: task.id.clone(), round: 0 }, |r| r.round.clone());
    Insight {
        round,
        incumbent: replayed.incumbent,
        shipped: replayed.shipped_now,
        rolled_back: replayed.rolled_back_now,
        elites: elites(task, &obs, s.elites),
        sensitivity: report.sensitivity,
        sensitivity_basis: report.basis,
        patterns: report.patterns,
        failures: failures(results, &replayed.rolled_back),
        observations: obs,
        baseline_means,
        converged,
        convergence_reason,
        notes: Vec::new(),
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
            lifts_pct: task
                .objectives
                .iter()
                .filter_map(|ob| Some((ob.metric.clone(), o.lifts_pct.get(&ob.metric)?.0)))
                .collect(),
            experiments: o.experiments.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{GuardrailVerdict, MetricEstimate};
    use skillhub::{Guardrail, Limit, Value};

    fn task() -> TaskSpec {
        crate::fixtures::task(&["a"], vec![Guardrail { metric: "g".into(), limit: Limit::MaxDropPct(1.0) }])
    }

    fn iv(e: f64, se: f64) -> Interval {
        Interval { estimate: e, low: e - 1.96 * se, high: e + 1.96 * se }
    }

    fn est(metric: &str, e: f64, se: f64) -> MetricEstimate {
        MetricEstimate {
            metric: metric.into(),
            mean: 1.0,
            reference_mean: 1.0,
            lift_pct: iv(e, se),
            std_err_pct: se,
            p_value: 0.5,
            cuped_narrowing_pct: None,
        }
    }

    /// An arm with objective lift `score` and guardrail lift `g` (both % vs the baseline,
    /// se 0.2), read against a control when `treatment`.
    fn arm(id: &str, a: f64, score: f64, g: f64, treatment: bool, shippable: bool) -> ArmResult {
        let reads = vec![est("m", score, 0.2), est("g", g, 0.2)];
        ArmResult {
            arm_id: id.into(),
            candidate_id: Some(id.into()),
            config: Configuration::from([("a".to_string(), Value::Num(a))]),
            units: 1000,
            vs_control: if treatment { reads.clone() } else { vec![] },
            vs_baseline: reads,
            score_vs_control: iv(if treatment { score } else { 0.0 }, 0.2),
            score_vs_baseline: iv(score, 0.2),
            score_se_vs_control: 0.2,
            score_se_vs_baseline: 0.2,
            score_p_vs_control: 0.01,
            guardrails: vec![GuardrailVerdict {
                metric: "g".into(),
                rule: String::new(),
                status: GuardrailStatus::Holds,
                reason: String::new(),
            }],
            shippable,
        }
    }

    fn result(round: u32, arms: Vec<ArmResult>) -> ExperimentResult {
        crate::fixtures::experiment_result(round, arms)
    }

    #[test]
    fn the_shippable_arm_with_the_best_lower_bound_becomes_incumbent_and_is_confirmed_by_fresh_reads() {
        let t = task();
        let r1 = result(
            1,
            vec![
                arm("c1", 0.1, 2.0, 0.0, true, true),
                arm("c2", 0.9, 3.0, 0.0, true, true),
                arm("c3", 0.3, 9.0, 0.0, true, false),
            ],
        );
        let i = analyse(&t, std::slice::from_ref(&r1), &InsightSettings::default());
        assert_eq!(i.shipped.as_deref(), Some("c2"));
        assert_eq!(i.incumbent.candidate_id.as_deref(), Some("c2"));
        // Round 2 re-measures c2 as control at +1%: the reported lift is the fresh one.
        let r2 = result(2, vec![arm("c2", 0.9, 1.0, 0.0, false, false), arm("c4", 0.5, 0.1, 0.0, true, false)]);
        let i = analyse(&t, &[r1, r2], &InsightSettings::default());
        assert_eq!(i.shipped, None);
        let s = i.incumbent.score_vs_baseline.expect("measured");
        assert!((s.estimate - 1.0).abs() < 1e-9, "{s:?}");
        // The pooled estimate rests on both reads' units.
        let units = |id: &str| i.observations.iter().find(|o| o.candidate_id == id).map(|o| o.units);
        assert_eq!((units("c2"), units("c4")), (Some(2000), Some(1000)));
    }

    #[test]
    fn an_incumbent_whose_fresh_reads_breach_a_guardrail_is_rolled_back_and_not_shipped_again() {
        let t = task();
        let r1 = result(1, vec![arm("c1", 0.1, 3.0, 0.5, true, true)]);
        let r2 = result(2, vec![arm("c1", 0.1, 3.0, -2.0, false, false), arm("c2", 0.8, 0.5, 0.0, true, false)]);
        let i = analyse(&t, &[r1.clone(), r2.clone()], &InsightSettings::default());
        assert!(
            i.rolled_back.as_deref().is_some_and(|w| w.contains("c1") && w.contains("g >= baseline - 1%")),
            "{:?}",
            i.rolled_back
        );
        assert_eq!(i.incumbent.candidate_id, None, "back to the baseline");
        assert!(i.failures.contains(&r1.arms[0].config));
        let r3 = result(3, vec![arm("c1", 0.1, 3.0, 0.5, true, true)]);
        let i = analyse(&t, &[r1, r2, r3], &InsightSettings::default());
        assert_eq!(i.incumbent.candidate_id, None, "a rolled-back configuration must not ship again");
    }

    /// How often an incumbent whose guardrail truly sits at `truth` (% vs the baseline,
    /// limit -1%) is rolled back within `reads` fresh reads of se 0.2, over 2000 runs;
    /// with `fixed`, by the one-sided 95% bound re-checked every round instead.
    fn rollback_rate(truth: f64, reads: u32, fixed: bool) -> f64 {
        use rand::SeedableRng;
        let t = task();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let shipped = result(1, vec![arm("c1", 0.1, 3.0, 0.5, true, true)]);
        let inc = replay(&t, std::slice::from_ref(&shipped)).incumbent;
        let runs = 2000;
        let rolled = (0..runs)
            .filter(|_| {
                let mut results = vec![shipped.clone()];
                let mut pooled: Option<Est> = None;
                (2..reads + 2).any(|round| {
                    let g = truth + 0.2 * crate::stats::sample_normal(&mut rng);
                    results.push(result(round, vec![arm("c1", 0.1, 3.0, g, false, false)]));
                    let p = pooled.map_or((g, 0.2), |old| pool(old, (g, 0.2)));
                    pooled = Some(p);
                    if fixed {
                        p.0 + z_of(ROLLBACK_CONFIDENCE) * p.1 < -1.0
                    } else {
                        breach(&t, &inc, &results).is_some()
                    }
                })
            })
            .count();
        rolled as f64 / f64::from(runs)
    }

    #[test]
    fn a_safe_incumbent_re_tested_every_round_is_rarely_rolled_back_however_long_the_run() {
        // On its limit: re-checking a fixed bound every round rolls it back ever more often.
        let fixed = rollback_rate(-1.0, 16, true);
        assert!(fixed > 0.15, "the fixed bound's false alarms should add up: {fixed}");
        let sequence = rollback_rate(-1.0, 16, false);
        assert!(sequence < 0.05, "{sequence}");
        // Just inside it, as a winner proven non-inferior by a small margin often is.
        assert!(rollback_rate(-0.9, 16, false) < 0.03);
    }

    #[test]
    fn a_real_breach_is_still_rolled_back_within_a_few_reads() {
        // 0.6 points past the limit, three standard errors of one read.
        let caught = rollback_rate(-1.6, 3, false);
        assert!(caught > 0.9, "{caught}");
        assert!(rollback_rate(-1.6, 1, false) > 0.4);
    }

    #[test]
    fn convergence_waits_for_patience_then_asks_whether_anything_in_reach_beats_the_incumbent() {
        let t = task();
        // Five arms a round, spread so that three rounds cover `a` every 1/14.
        let round = |r: u32, f: fn(f64) -> f64| {
            let arms = (0..5u32)
                .map(|k| {
                    let a = f64::from(r - 1 + 3 * k) / 14.0;
                    arm(&format!("r{r}k{k}"), a, f(a), 0.0, true, false)
                })
                .collect();
            result(r, arms)
        };
        let s = InsightSettings::default();
        let flat = |_| 0.0;
        let early = analyse(&t, &[round(1, flat), round(2, flat)], &s);
        assert!(
            !early.converged && early.convergence_reason.starts_with("2 of at least 3"),
            "{}",
            early.convergence_reason
        );
        let done = analyse(&t, &[round(1, flat), round(2, flat), round(3, flat)], &s);
        assert!(done.converged, "{}", done.convergence_reason);
        // The fixture's budget has two treatments: one treatment reads at 0.2 x sqrt(2/3).
        assert!(done.convergence_reason.contains("the 0.32% the next read can show"), "{}", done.convergence_reason);
        let steep = |a: f64| 3.0 * a * a;
        let open = analyse(&t, &[round(1, steep), round(2, steep), round(3, steep)], &s);
        assert!(!open.converged, "{}", open.convergence_reason);
    }
}
