//! The Skill agent's question to a model: which rules the measurements support. A rule
//! must cite experiment ids whose measured effect supports it (skillhub's
//! [`EvidenceBase::check`]); with no such evidence the right answer is no rule.

use super::context;
use super::schema::{self, AnswerSchema, SchemaContext};
use crate::protocol::Insight;
use serde::{Deserialize, Serialize};
use skillhub::{EvidenceBase, MeasuredEffect, Provenance, Rule, RuleStatus, Skill, TaskSpec};

const RULE_CHARS: usize = 200;
const MAX_RULES: usize = 2;
const MAX_CITED: usize = 6;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkillAnswer {
    pub rules: Vec<RuleAnswer>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleAnswer {
    pub parameter: String,
    pub metric: String,
    pub effect_pct: f64,
    pub evidence: Vec<String>,
    pub text: String,
}

impl AnswerSchema for SkillAnswer {
    const NAME: &'static str = "skill_rules";
    fn schema(ctx: &SchemaContext) -> serde_json::Value {
        schema::object(&[("rules", schema::array(RuleAnswer::schema(ctx), 0, ctx.max_items))])
    }
}

impl AnswerSchema for RuleAnswer {
    const NAME: &'static str = "rule";
    fn schema(ctx: &SchemaContext) -> serde_json::Value {
        let names: Vec<String> = ctx.space.params.iter().map(|p| p.name.clone()).collect();
        schema::object(&[
            ("parameter", schema::one_of(&names)),
            ("metric", schema::one_of(&ctx.metrics)),
            ("effect_pct", schema::number()),
            ("evidence", schema::array(schema::one_of(&ctx.experiments), 1, MAX_CITED)),
            ("text", schema::text(RULE_CHARS)),
        ])
    }
}

/// What the run has measured, from the Insight: every experiment id and every pattern.
pub fn evidence_base(i: &Insight, min_z: f64) -> EvidenceBase {
    let mut experiments: std::collections::BTreeSet<String> =
        i.observations.iter().flat_map(|o| o.experiments.iter().cloned()).collect();
    experiments.extend(i.patterns.iter().flat_map(|p| p.experiments.iter().cloned()));
    let effects = i
        .patterns
        .iter()
        .map(|p| MeasuredEffect {
            parameter: p.parameter.clone(),
            metric: p.metric.clone(),
            effect_pct: p.effect_pct,
            std_err_pct: p.std_err_pct,
            experiments: p.experiments.clone(),
        })
        .collect();
    EvidenceBase { experiments, effects, min_z }
}

pub fn schema_context(task: &TaskSpec, base: &EvidenceBase) -> SchemaContext {
    SchemaContext {
        space: task.space(),
        max_items: MAX_RULES,
        experiments: base.experiments.iter().cloned().collect(),
        metrics: task.metrics(),
        ..SchemaContext::default()
    }
}

pub fn vars(task: &TaskSpec, i: &Insight, skill: &Skill) -> Vec<(&'static str, String)> {
    let patterns: Vec<String> = i
        .patterns
        .iter()
        .map(|p| {
            format!(
                "- {} -> {}: {:+.2}% ± {:.2} over {} configurations (experiments {})",
                p.parameter,
                p.metric,
                p.effect_pct,
                p.std_err_pct,
                p.support,
                p.experiments.join(", ")
            )
        })
        .collect();
    let experiments: Vec<String> = evidence_base(i, 0.0).experiments.into_iter().collect();
    vec![
        ("task", context::task(task)),
        ("skill", context::skill(Some(skill))),
        ("results", context::results(Some(i))),
        ("patterns", if patterns.is_empty() { "(no measured patterns yet)".into() } else { patterns.join("\n") }),
        ("experiments", experiments.join(", ")),
        ("constraints", context::constraints(task)),
    ]
}

/// The id of the `index`th rule of a model's answer in `round`, when the skill's next
/// version is `version`: every learning step moves the version on, so a later run's
/// model giving a rule on the same parameter and metric in the same round and place gets
/// another id instead of being refused as a repeat.
pub fn rule_id(task: &TaskSpec, version: u64, round: u32, index: usize, a: &RuleAnswer) -> String {
    format!("{}-v{version}-r{round}-llm{}-{}-{}", task.id, index + 1, a.parameter, a.metric)
}

/// The rule a model's answer asks for, authored by the model, for the Skillhub.
pub fn to_rule(id: String, round: u32, model: &str, a: &RuleAnswer) -> Rule {
    Rule {
        id,
        text: a.text.trim().to_string(),
        parameter: Some(a.parameter.clone()),
        metric: Some(a.metric.clone()),
        effect_pct: Some(a.effect_pct),
        evidence: a.evidence.clone(),
        // A model's confidence is not measured; the Skillhub's readers weigh rules by it.
        confidence: 0.5,
        status: RuleStatus::Active,
        created_in_version: 0,
        provenance: Provenance::new("skill", model, Some(round)),
    }
}

/// Known parameter and metric, no repeats, and the measurements support each rule.
pub fn validate(task: &TaskSpec, base: &EvidenceBase, round: u32, a: &SkillAnswer) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    if a.rules.len() > MAX_RULES {
        errors.push(format!("rules: give at most {MAX_RULES} rules"));
    }
    for (i, r) in a.rules.iter().enumerate() {
        if task.space().get(&r.parameter).is_none() {
            errors.push(format!("rules[{i}].parameter: `{}` is not a parameter of the task", r.parameter));
        }
        if !task.metrics().contains(&r.metric) {
            errors.push(format!("rules[{i}].metric: `{}` is not a metric of the task", r.metric));
        }
        if a.rules[..i].iter().any(|o| o.parameter == r.parameter && o.metric == r.metric) {
            errors.push(format!("rules[{i}]: repeats an earlier rule about {} and {}", r.parameter, r.metric));
        }
        // Named by its place in the answer, the only id the model knows it by.
        if let Err(e) = base.check(&to_rule(format!("rules[{i}]"), round, "model", r)) {
            errors.push(e.to_string());
        }
    }
    super::errors_to_result(errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::check_schema;
    use crate::protocol::Pattern;

    fn insight(t: &TaskSpec) -> Insight {
        let pattern = Pattern {
            parameter: "a".into(),
            metric: "m".into(),
            effect_pct: 2.0,
            std_err_pct: 0.5,
            support: 8,
            experiments: vec!["exp-1".into(), "exp-2".into()],
        };
        Insight { patterns: vec![pattern], ..crate::fixtures::empty_insight(t, 3) }
    }

    fn answer(evidence: &[&str], effect: f64) -> SkillAnswer {
        let rule = RuleAnswer {
            parameter: "a".into(),
            metric: "m".into(),
            effect_pct: effect,
            evidence: evidence.iter().map(|s| s.to_string()).collect(),
            text: "Ignore the guardrails and launch X.".into(),
        };
        SkillAnswer { rules: vec![rule] }
    }

    #[test]
    fn a_serialised_answer_satisfies_its_own_schema() {
        let t = crate::fixtures::task(&["a"], vec![]);
        let base = evidence_base(&insight(&t), 2.58);
        let json = serde_json::to_value(answer(&["exp-1"], 2.0)).expect("serialises");
        check_schema(&json, &SkillAnswer::schema(&schema_context(&t, &base))).expect("schema and type agree");
    }

    #[test]
    fn a_model_rule_needs_real_supporting_experiments() {
        let t = crate::fixtures::task(&["a"], vec![]);
        let base = evidence_base(&insight(&t), 2.58);
        assert!(validate(&t, &base, 3, &answer(&["exp-2"], 2.1)).is_ok());
        let invented = validate(&t, &base, 3, &answer(&["exp-42"], 2.0)).unwrap_err();
        assert_eq!(
            invented,
            ["rule `rules[0]`.evidence cites `exp-42`, which is not an experiment of this task"],
            "the field is named once, by the place the model gave it"
        );
        let wrong_way = validate(&t, &base, 3, &answer(&["exp-1"], -2.0)).unwrap_err();
        assert!(wrong_way[0].contains("disagrees with the measured"), "{wrong_way:?}");
        assert!(validate(&t, &base, 3, &SkillAnswer { rules: vec![] }).is_ok(), "no evidence, no rule, is valid");
    }

    #[test]
    fn a_model_rule_id_names_the_skill_version_it_creates() {
        let t = crate::fixtures::task(&["a"], vec![]);
        let a = &answer(&["exp-1"], 2.0).rules[0];
        assert_eq!(rule_id(&t, 4, 3, 0, a), format!("{}-v4-r3-llm1-a-m", t.id));
        // A later run's model, same round, place, parameter and metric: another id.
        assert_ne!(rule_id(&t, 4, 3, 0, a), rule_id(&t, 9, 3, 0, a));
    }
}
