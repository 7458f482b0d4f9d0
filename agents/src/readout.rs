//! Reading one experiment: from the platform's sufficient statistics to an
//! [`ExperimentResult`] with effects, intervals, guardrail verdicts and the ship rule.
//!
//! Ship rule: a treatment may replace the incumbent only if the task's objective is
//! significantly better than the control after a Holm correction across the round's
//! treatments, every guardrail is shown non-inferior against the production baseline
//! (one-sided, Bonferroni across the round's treatments), and the traffic split passed
//! the sample-ratio check.

use crate::platform::{ExperimentRead, MetricData};
use crate::protocol::{ArmResult, ExperimentResult, GuardrailStatus, Interval, MetricEstimate, RoundRef};
use crate::stats;
use skillhub::{Configuration, TaskSpec};
use std::collections::BTreeMap;

/// p-value below which a sample-ratio mismatch blocks every conclusion.
pub const SRM_ALPHA: f64 = 0.001;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Control,
    Baseline,
    Treatment,
}

/// How an arm of the launch maps back to the protocol.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ArmPlan {
    pub arm_id: String,
    pub role: Role,
    pub candidate_id: Option<String>,
    pub config: Configuration,
    pub traffic: f64,
}

pub struct ReadoutInput<'a> {
    pub task: &'a TaskSpec,
    pub round: RoundRef,
    pub experiment_id: String,
    pub key: String,
    pub units_per_arm: u64,
    pub read: &'a ExperimentRead,
    pub plan: &'a [ArmPlan],
    pub confidence: f64,
}

type Metrics<'a> = &'a BTreeMap<String, MetricData>;

/// Compares one metric of two arms, with CUPED (regression on the pre-period value,
/// theta fitted over both arms as gbstats does) when both carry pre-period sums: it
/// removes the variance users bring with them and leaves the treatment effect unbiased.
fn compare(metric: &str, t: &MetricData, r: &MetricData, confidence: f64) -> Option<MetricEstimate> {
    let raw = stats::compare(t, r, confidence).ok()?;
    let plain = raw.to_estimate(metric);
    let Some((_, c_adj, t_adj)) = crate::analysis::cuped_moments(r, t) else { return Some(plain) };
    let Ok(adj) = crate::analysis::relative_effect(&c_adj, &t_adj, confidence) else { return Some(plain) };
    let narrowing = 100.0 * (1.0 - adj.std_err / raw.relative.std_err);
    let pct = |x: f64| 100.0 * x;
    Some(MetricEstimate {
        lift_pct: Interval { estimate: pct(adj.ci.estimate), low: pct(adj.ci.low), high: pct(adj.ci.high) },
        std_err_pct: pct(adj.std_err),
        p_value: adj.p_value,
        cuped_narrowing_pct: narrowing.is_finite().then_some(narrowing),
        ..plain
    })
}

fn estimates(task: &TaskSpec, t: Metrics, r: Metrics, confidence: f64) -> Vec<MetricEstimate> {
    task.metrics().iter().filter_map(|m| compare(m, t.get(m)?, r.get(m)?, confidence)).collect()
}

/// The objective's interval, its standard error and p-value from per-metric lifts.
fn score(task: &TaskSpec, est: &[MetricEstimate], confidence: f64) -> (Interval, f64, f64) {
    let lifts: BTreeMap<String, stats::LiftPct> = est
        .iter()
        .map(|e| (e.metric.clone(), stats::LiftPct { estimate: e.lift_pct.estimate, std_err: e.std_err_pct }))
        .collect();
    let se: f64 = task.objectives.iter().filter_map(|o| lifts.get(&o.metric).map(|l| o.weight * l.std_err)).sum();
    let zero = Interval { estimate: 0.0, low: 0.0, high: 0.0 };
    let interval = stats::score_interval(task, &lifts, confidence).unwrap_or(zero);
    let p = if se > 0.0 { stats::two_sided_p_normal(interval.estimate / se).unwrap_or(1.0) } else { 1.0 };
    (interval, se, p)
}

fn arm_data<'a>(read: &'a ExperimentRead, arm_id: &str) -> Option<&'a crate::platform::ArmRead> {
    read.arms.iter().find(|a| a.arm_id == arm_id)
}

/// Builds the result; `Err` names what is missing from the platform's answer.
pub fn readout(input: &ReadoutInput) -> Result<ExperimentResult, String> {
    let find = |role: Role| input.plan.iter().find(|a| a.role == role);
    let control_plan = find(Role::Control).ok_or("the launch plan has no control arm")?;
    let control = arm_data(input.read, &control_plan.arm_id)
        .ok_or_else(|| format!("platform read lacks arm `{}`", control_plan.arm_id))?;
    let baseline = match find(Role::Baseline) {
        Some(p) => arm_data(input.read, &p.arm_id).ok_or_else(|| format!("platform read lacks arm `{}`", p.arm_id))?,
        None => control,
    };
    let srm_p_value = srm(input);
    let blocked = (srm_p_value < SRM_ALPHA)
        .then(|| format!("sample-ratio mismatch (p = {srm_p_value:.2e} < {SRM_ALPHA}): no conclusion is drawn"));
    let mut arms = Vec::new();
    for plan in input.plan.iter().filter(|p| p.role != Role::Baseline) {
        let data =
            arm_data(input.read, &plan.arm_id).ok_or_else(|| format!("platform read lacks arm `{}`", plan.arm_id))?;
        arms.push(arm_result(input, plan, data, control, baseline));
    }
    apply_ship_rule(&mut arms, 1.0 - input.confidence, blocked.is_some());
    let cv = input
        .task
        .metrics()
        .into_iter()
        .filter_map(|m| {
            let s = stats::summarize(control.metrics.get(&m)?).ok()?;
            Some((m, s.cv()?))
        })
        .collect();
    let cuped_narrowing_pct = mean_per_metric(
        arms.iter().flat_map(|a| &a.vs_control).filter_map(|e| Some((&e.metric, e.cuped_narrowing_pct?))),
    );
    Ok(ExperimentResult {
        round: input.round.clone(),
        experiment_id: input.experiment_id.clone(),
        idempotency_key: input.key.clone(),
        control: control_plan.config.clone(),
        units_per_arm: input.units_per_arm,
        srm_p_value,
        arms,
        confidence: input.confidence,
        cv,
        blocked,
        cuped_narrowing_pct,
        early_stop: None,
        notes: Vec::new(),
    })
}

/// The mean of values keyed by metric, e.g. CUPED's narrowing over arms or experiments.
pub fn mean_per_metric<'a>(values: impl Iterator<Item = (&'a String, f64)>) -> BTreeMap<String, f64> {
    let mut sums: BTreeMap<String, (f64, u32)> = BTreeMap::new();
    for (metric, v) in values {
        let s = sums.entry(metric.clone()).or_default();
        *s = (s.0 + v, s.1 + 1);
    }
    sums.into_iter().map(|(m, (sum, k))| (m, sum / f64::from(k))).collect()
}

fn srm(input: &ReadoutInput) -> f64 {
    let units: Vec<u64> = input.plan.iter().map(|p| arm_data(input.read, &p.arm_id).map_or(0, |a| a.units)).collect();
    let shares: Vec<f64> = input.plan.iter().map(|p| p.traffic).collect();
    stats::srm_p_value(&units, &shares).unwrap_or(1.0)
}

fn arm_result(
    input: &ReadoutInput,
    plan: &ArmPlan,
    data: &crate::platform::ArmRead,
    control: &crate::platform::ArmRead,
    baseline: &crate::platform::ArmRead,
) -> ArmResult {
    let is_control = plan.role == Role::Control;
    let vs_control =
        if is_control { Vec::new() } else { estimates(input.task, &data.metrics, &control.metrics, input.confidence) };
    let vs_baseline = if std::ptr::eq(data, baseline) {
        Vec::new()
    } else {
        estimates(input.task, &data.metrics, &baseline.metrics, input.confidence)
    };
    let (score_vs_control, score_se_vs_control, score_p_vs_control) = score(input.task, &vs_control, input.confidence);
    let (score_vs_baseline, score_se_vs_baseline, _) = score(input.task, &vs_baseline, input.confidence);
    let treatments = input.plan.iter().filter(|p| p.role == Role::Treatment).count();
    let alpha = family_alpha(input.confidence, treatments);
    let guardrails = input
        .task
        .guardrails
        .iter()
        .filter_map(|g| {
            let (t, b) = (data.metrics.get(&g.metric)?, baseline.metrics.get(&g.metric)?);
            Some(stats::guardrail_verdict(g, t, b, alpha))
        })
        .collect();
    ArmResult {
        arm_id: plan.arm_id.clone(),
        candidate_id: plan.candidate_id.clone(),
        config: plan.config.clone(),
        units: data.units,
        vs_control,
        vs_baseline,
        score_vs_control,
        score_vs_baseline,
        score_se_vs_control,
        score_se_vs_baseline,
        score_p_vs_control,
        guardrails,
        shippable: false,
    }
}

/// The per-treatment level of the ship rule for a round of `treatments` treatments.
/// Any treatment may become the one that ships, so a guardrail's one-sided
/// non-inferiority is tested at this level (Bonferroni); it is also the level of Holm's
/// first step, which the objective of the round's most significant treatment must pass.
pub fn family_alpha(confidence: f64, treatments: usize) -> f64 {
    (1.0 - confidence) / treatments.max(1) as f64
}

fn apply_ship_rule(arms: &mut [ArmResult], alpha: f64, blocked: bool) {
    let treatments: Vec<usize> = (0..arms.len()).filter(|i| !arms[*i].vs_control.is_empty()).collect();
    let p: Vec<f64> = treatments.iter().map(|i| arms[*i].score_p_vs_control).collect();
    let significant = stats::holm_reject(&p, alpha);
    for (k, &i) in treatments.iter().enumerate() {
        let a = &mut arms[i];
        let safe = a.guardrails.iter().all(|g| g.status == GuardrailStatus::Holds);
        a.shippable = !blocked && significant[k] && a.score_vs_control.estimate > 0.0 && safe;
    }
}
