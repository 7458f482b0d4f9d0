//! The built-in Skill agent's reasoning: SkillPatches written from measured evidence
//! only. Unlike the AgenticRecTune paper's ever-growing Skillhub, a rule that the data
//! contradicts is retired, with the measurement that contradicts it as the reason.

use crate::protocol::{Insight, Pattern};
use skillhub::{
    EliteConfig, PatchOp, PriorRead, Provenance, Rule, RuleStatus, Skill, SkillPatch, TaskSpec, MAX_PRIOR_READS,
};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LearningSettings {
    /// |effect| / standard error a pattern needs before it becomes a rule (2.58 ~ 99%).
    pub rule_z: f64,
    /// Measured configurations a pattern needs before it becomes a rule.
    pub min_support: usize,
}

impl Default for LearningSettings {
    fn default() -> Self {
        Self { rule_z: 2.58, min_support: 6 }
    }
}

fn author(round: u32) -> Provenance {
    Provenance::new("skill", "builtin", Some(round))
}

/// A patch of round `round` of run `run`: its id is the Skillhub's idempotency key, the
/// same when a resumed run re-sends it, another in another run.
fn patch(task: &TaskSpec, (run, round): (&str, u32), name: &str, reason: String, op: PatchOp) -> SkillPatch {
    SkillPatch { id: format!("{run}/r{round}/{name}"), task_id: task.id.clone(), reason, author: author(round), op }
}

fn z(p: &Pattern) -> f64 {
    if p.std_err_pct > 0.0 {
        p.effect_pct / p.std_err_pct
    } else {
        0.0
    }
}

fn rule_text(p: &Pattern) -> String {
    let verb = if p.effect_pct >= 0.0 { "raises" } else { "lowers" };
    format!(
        "Raising {} across its range {verb} {} by {:.2}% (± {:.2}, {} configurations measured).",
        p.parameter,
        p.metric,
        p.effect_pct.abs(),
        p.std_err_pct,
        p.support
    )
}

/// Patches for one round's insight, given the skill as it stands.
pub fn patches(task: &TaskSpec, run: &str, insight: &Insight, skill: &Skill, s: &LearningSettings) -> Vec<SkillPatch> {
    let round = insight.round.round;
    let at = (run, round);
    let mut out = Vec::new();
    if let Some(id) = &insight.shipped {
        let source =
            format!("shipped {id} in round {round} ({})", insight.incumbent.experiment_id.as_deref().unwrap_or("?"));
        let reason = "significantly better than the control and non-inferior on every guardrail".to_string();
        out.push(patch(
            task,
            at,
            "baseline",
            reason,
            PatchOp::SetBaseline { config: insight.incumbent.config.clone(), source },
        ));
    }
    if let Some(why) = &insight.rolled_back {
        let source = format!("rolled back in round {round}: {why}");
        let reason = "the shipped configuration breached a guardrail in later experiments".to_string();
        out.push(patch(
            task,
            at,
            "rollback",
            reason,
            PatchOp::SetBaseline { config: insight.incumbent.config.clone(), source },
        ));
    }
    if !insight.observations.is_empty() {
        let elites = insight
            .elites
            .iter()
            .map(|e| EliteConfig {
                experiment_id: e.experiments.last().cloned().unwrap_or_default(),
                score_pct: e.score_vs_baseline.estimate,
                config: e.config.clone(),
            })
            .collect();
        let reason =
            format!("{} configurations measured; sensitivities from the surrogate fit", insight.observations.len());
        out.push(patch(
            task,
            at,
            "priors",
            reason,
            PatchOp::SetPriors {
                sensitivity: insight.sensitivity.clone(),
                elites,
                reads: Some(prior_reads(insight, skill)),
            },
        ));
    }
    for p in &insight.patterns {
        out.extend(rule_patches(task, at, p, skill, s));
    }
    out
}

/// This run's reads, then the skill's reads from earlier runs, up to the cap: what a
/// later run of the task starts its surrogates from (see `strategy::prior`). A read is
/// this run's when one of this run's experiments measured its configuration: experiment
/// ids alone may repeat across runs (a simulator numbers them from 1 in every process).
fn prior_reads(insight: &Insight, skill: &Skill) -> Vec<PriorRead> {
    let this_run: Vec<(&str, &skillhub::Configuration)> =
        insight.observations.iter().flat_map(|o| o.experiments.iter().map(move |e| (e.as_str(), &o.config))).collect();
    let fresh = insight.observations.iter().map(|o| PriorRead {
        experiment_id: o.experiments.last().cloned().unwrap_or_default(),
        config: o.config.clone(),
        score_pct: o.score.estimate,
        lifts_pct: o.lifts_pct.iter().map(|(m, (lift, _))| (m.clone(), *lift)).collect(),
    });
    let older = skill
        .priors
        .reads
        .iter()
        .filter(|r| !this_run.iter().any(|(e, c)| *e == r.experiment_id && **c == r.config))
        .cloned();
    fresh
        .filter(|r| {
            !r.experiment_id.is_empty() && r.score_pct.is_finite() && r.lifts_pct.values().all(|v| v.is_finite())
        })
        .chain(older)
        .take(MAX_PRIOR_READS)
        .collect()
}

fn rule_patches(task: &TaskSpec, at: (&str, u32), p: &Pattern, skill: &Skill, s: &LearningSettings) -> Vec<SkillPatch> {
    let round = at.1;
    let about = |r: &&Rule| {
        r.is_active() && r.parameter.as_deref() == Some(&p.parameter) && r.metric.as_deref() == Some(&p.metric)
    };
    let existing: Vec<&Rule> = skill.rules.iter().filter(about).collect();
    let significant = z(p).abs() >= s.rule_z && p.support >= s.min_support;
    let mut out = Vec::new();
    for r in &existing {
        let Some(claimed) = r.effect_pct else { continue };
        let contradicted = significant && claimed.signum() != p.effect_pct.signum();
        let unsupported = !r.is_prior_only() && p.support >= 2 * s.min_support && z(p).abs() < 1.0;
        if contradicted || unsupported {
            let reason = format!(
                "measured {:+.2}% ± {:.2} over {} configurations ({})",
                p.effect_pct,
                p.std_err_pct,
                p.support,
                p.experiments.join(", ")
            );
            let why = if contradicted { "contradicted" } else { "no longer supported" };
            let op = PatchOp::RetireRule { rule_id: r.id.clone(), reason: format!("{why}: {reason}") };
            out.push(patch(task, at, &format!("retire-{}", r.id), format!("rule {} {why} by the data", r.id), op));
        }
    }
    let agreeing = existing
        .iter()
        .any(|r| r.effect_pct.is_some_and(|e| e.signum() == p.effect_pct.signum()) && !r.is_prior_only());
    if significant && !agreeing {
        // The version it will create: unique in the skill, across runs too.
        let id = format!("{}-v{}-{}-{}", task.id, skill.version + 1, p.parameter, p.metric);
        let confidence = (1.0 - crate::stats::two_sided_p_normal(z(p)).unwrap_or(1.0)).clamp(0.0, 0.99);
        let rule = Rule {
            id: id.clone(),
            text: rule_text(p),
            parameter: Some(p.parameter.clone()),
            metric: Some(p.metric.clone()),
            effect_pct: Some(p.effect_pct),
            evidence: p.experiments.clone(),
            confidence,
            status: RuleStatus::Active,
            created_in_version: skill.version + 1,
            provenance: author(round),
        };
        let reason = format!("pattern significant at z = {:.1} over {} configurations", z(p), p.support);
        out.push(patch(task, at, &format!("rule-{}-{}", p.parameter, p.metric), reason, PatchOp::AppendRule(rule)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use skillhub::skill_from_task;
    use std::collections::BTreeMap;

    fn task() -> TaskSpec {
        crate::fixtures::task(&["a"], vec![])
    }

    fn insight(t: &TaskSpec, patterns: Vec<Pattern>) -> Insight {
        Insight { patterns, ..crate::fixtures::empty_insight(t, 4) }
    }

    fn pattern(effect: f64, se: f64, support: usize) -> Pattern {
        Pattern {
            parameter: "a".into(),
            metric: "m".into(),
            effect_pct: effect,
            std_err_pct: se,
            support,
            experiments: vec!["exp-1".into(), "exp-2".into()],
        }
    }

    fn ops(t: &TaskSpec, skill: &Skill, p: Pattern) -> Vec<PatchOp> {
        patches(t, "run", &insight(t, vec![p]), skill, &LearningSettings::default()).into_iter().map(|p| p.op).collect()
    }

    #[test]
    fn a_significant_well_supported_pattern_becomes_a_rule_citing_its_experiments() {
        let t = task();
        let skill = skill_from_task(&t);
        let out = ops(&t, &skill, pattern(2.0, 0.5, 8));
        let [PatchOp::AppendRule(rule)] = out.as_slice() else { panic!("{out:?}") };
        assert_eq!(rule.evidence, vec!["exp-1".to_string(), "exp-2".to_string()]);
        assert!(rule.text.contains("raises m by 2.00%"), "{}", rule.text);
        // A valid rule for the Skillhub.
        let patch = patches(&t, "run", &insight(&t, vec![pattern(2.0, 0.5, 8)]), &skill, &LearningSettings::default())
            .remove(0);
        patch.apply(Some(&skill)).expect("the Skillhub accepts it");
    }

    #[test]
    fn noise_or_thin_evidence_writes_no_rule() {
        let t = task();
        let skill = skill_from_task(&t);
        assert!(ops(&t, &skill, pattern(2.0, 1.5, 8)).is_empty(), "not significant");
        assert!(ops(&t, &skill, pattern(2.0, 0.5, 3)).is_empty(), "too few configurations");
    }

    #[test]
    fn a_rule_the_data_contradicts_is_retired() {
        let t = task();
        let mut skill = skill_from_task(&t);
        let PatchOp::AppendRule(rule) = ops(&t, &skill, pattern(2.0, 0.5, 8)).remove(0) else { panic!() };
        skill.rules.push(rule.clone());
        let out = ops(&t, &skill, pattern(-2.0, 0.5, 12));
        assert!(out.iter().any(|o| matches!(o, PatchOp::RetireRule { rule_id, reason } if *rule_id == rule.id && reason.contains("contradicted"))), "{out:?}");
        assert!(out.iter().any(|o| matches!(o, PatchOp::AppendRule(r) if r.effect_pct == Some(-2.0))), "{out:?}");
    }

    fn read(experiment: &str, a: f64) -> PriorRead {
        PriorRead {
            experiment_id: experiment.into(),
            config: skillhub::Configuration::from([("a".to_string(), skillhub::Value::Num(a))]),
            score_pct: a,
            lifts_pct: BTreeMap::new(),
        }
    }

    fn reads_of(ops: &[PatchOp]) -> Vec<(String, f64)> {
        let Some(PatchOp::SetPriors { reads: Some(reads), .. }) =
            ops.iter().find(|o| matches!(o, PatchOp::SetPriors { .. }))
        else {
            panic!("no set_priors in {ops:?}")
        };
        reads.iter().map(|r| (r.experiment_id.clone(), r.score_pct)).collect()
    }

    #[test]
    fn the_skill_keeps_this_run_s_reads_first_then_earlier_runs_up_to_the_cap() {
        let t = task();
        let mut skill = skill_from_task(&t);
        // An earlier run's reads (one from an experiment numbered like one of this run's),
        // and one of this run's as a previous round wrote it.
        let this_runs = read("exp-2", 2.0 / 6.0);
        skill.priors.reads = vec![read("old-1", 0.1), this_runs, read("exp-3", 0.9), read("old-2", 0.3)];
        let mut i = insight(&t, vec![]);
        i.observations = crate::fixtures::grid(|a, _| 2.0 * a, 0.1)
            .into_iter()
            .filter(|o| o.candidate_id.ends_with('0'))
            .map(|mut o| {
                o.config.remove("b");
                o.lifts_pct.insert("m".into(), (-1.5, 0.2));
                o
            })
            .collect();
        let ops: Vec<PatchOp> =
            patches(&t, "run", &i, &skill, &LearningSettings::default()).into_iter().map(|p| p.op).collect();
        let reads = reads_of(&ops);
        let fresh: Vec<String> = (0..7).map(|k| format!("exp-{k}")).collect();
        let ids: Vec<&str> = reads.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids[..7], fresh.iter().map(String::as_str).collect::<Vec<_>>()[..], "{reads:?}");
        // The stale copy of this run's exp-2 is gone; the earlier run's reads follow.
        assert_eq!(ids[7..], ["old-1", "exp-3", "old-2"], "{reads:?}");
        assert!((reads[6].1 - 2.0).abs() < 1e-9, "{reads:?}");
        // The Skillhub accepts what it is sent.
        let patch = patches(&t, "run", &i, &skill, &LearningSettings::default())
            .into_iter()
            .find(|p| matches!(p.op, PatchOp::SetPriors { .. }))
            .expect("priors");
        let next = patch.apply(Some(&skill)).expect("valid priors");
        assert_eq!(next.priors.reads[0].lifts_pct.get("m"), Some(&-1.5));
        // Never more than the cap, this run's first.
        skill.priors.reads = (0..MAX_PRIOR_READS).map(|k| read(&format!("old-{k}"), 0.5)).collect();
        let ops: Vec<PatchOp> =
            patches(&t, "run", &i, &skill, &LearningSettings::default()).into_iter().map(|p| p.op).collect();
        let reads = reads_of(&ops);
        assert_eq!(reads.len(), MAX_PRIOR_READS);
        assert_eq!(reads[7].0, "old-0");
    }
}
