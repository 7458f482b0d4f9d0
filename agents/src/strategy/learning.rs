//! The built-in Skill agent's reasoning: SkillPatches written from measured evidence
//! only. Unlike the AgenticRecTune paper's ever-growing Skillhub, a rule that the data
//! contradicts is retired, with the measurement that contradicts it as the reason.

use crate::protocol::{Insight, Pattern};
use skillhub::{EliteConfig, PatchOp, Provenance, Rule, RuleStatus, Skill, SkillPatch, TaskSpec};

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

fn patch(task: &TaskSpec, round: u32, name: &str, reason: String, op: PatchOp) -> SkillPatch {
    SkillPatch {
        id: format!("{}/r{round}/{name}", task.id),
        task_id: task.id.clone(),
        reason,
        author: author(round),
        op,
    }
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
pub fn patches(task: &TaskSpec, insight: &Insight, skill: &Skill, s: &LearningSettings) -> Vec<SkillPatch> {
    let round = insight.round.round;
    let mut out = Vec::new();
    if let Some(id) = &insight.shipped {
        let source =
            format!("shipped {id} in round {round} ({})", insight.incumbent.experiment_id.as_deref().unwrap_or("?"));
        let reason = "significantly better than the control and non-inferior on every guardrail".to_string();
        out.push(patch(
            task,
            round,
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
            round,
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
            round,
            "priors",
            reason,
            PatchOp::SetPriors { sensitivity: insight.sensitivity.clone(), elites },
        ));
    }
    for p in &insight.patterns {
        out.extend(rule_patches(task, round, p, skill, s));
    }
    out
}

fn rule_patches(task: &TaskSpec, round: u32, p: &Pattern, skill: &Skill, s: &LearningSettings) -> Vec<SkillPatch> {
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
            out.push(patch(task, round, &format!("retire-{}", r.id), format!("rule {} {why} by the data", r.id), op));
        }
    }
    let agreeing = existing
        .iter()
        .any(|r| r.effect_pct.is_some_and(|e| e.signum() == p.effect_pct.signum()) && !r.is_prior_only());
    if significant && !agreeing {
        let id = format!("{}-r{round}-{}-{}", task.id, p.parameter, p.metric);
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
        out.push(patch(task, round, &format!("rule-{}-{}", p.parameter, p.metric), reason, PatchOp::AppendRule(rule)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use skillhub::skill_from_task;

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
        patches(t, &insight(t, vec![p]), skill, &LearningSettings::default()).into_iter().map(|p| p.op).collect()
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
        let patch =
            patches(&t, &insight(&t, vec![pattern(2.0, 0.5, 8)]), &skill, &LearningSettings::default()).remove(0);
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
}
