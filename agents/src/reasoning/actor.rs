//! The Actor's question to a model: up to `n` candidate configurations, each with the
//! hypothesis it tests. Valid means every configuration is in the task's space (known
//! parameters only, typed, in range) and satisfies the task's invariants.

use super::context;
use super::schema::{self, AnswerSchema, SchemaContext};
use crate::actor::Propose;
use serde::{Deserialize, Serialize};
use skillhub::{Configuration, Space, TaskSpec};

/// Longest hypothesis asked for: one sentence.
const HYPOTHESIS_CHARS: usize = 160;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActorAnswer {
    pub candidates: Vec<ProposedConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposedConfig {
    pub hypothesis: String,
    pub config: Configuration,
}

impl AnswerSchema for ActorAnswer {
    const NAME: &'static str = "actor_proposal";
    fn schema(ctx: &SchemaContext) -> serde_json::Value {
        schema::object(&[("candidates", schema::array(ProposedConfig::schema(ctx), 1, ctx.max_items))])
    }
}

impl AnswerSchema for ProposedConfig {
    const NAME: &'static str = "candidate";
    fn schema(ctx: &SchemaContext) -> serde_json::Value {
        schema::object(&[("hypothesis", schema::text(HYPOTHESIS_CHARS)), ("config", schema::configuration(&ctx.space))])
    }
}

pub fn schema_context(task: &TaskSpec, n: usize) -> SchemaContext {
    SchemaContext { space: task.space(), max_items: n.max(1), ..SchemaContext::default() }
}

/// The prompt's values for one Propose message.
pub fn vars(msg: &Propose) -> Vec<(&'static str, String)> {
    let insight = msg.insight.as_deref();
    let skill = msg.skill.as_deref();
    vec![
        ("task", context::task(&msg.task)),
        ("space", context::space(&msg.task.space())),
        ("skill", context::skill(skill)),
        ("elites", context::elites(insight)),
        ("sensitivities", context::sensitivities(insight, skill)),
        ("results", context::results(insight)),
        ("constraints", context::constraints(&msg.task)),
        ("n", msg.n.max(1).to_string()),
    ]
}

/// Every way a configuration breaks the space: unknown and missing parameters, wrong types,
/// out-of-range values (skillhub's own per-parameter check), then the task's invariants.
pub fn config_errors(task: &TaskSpec, space: &Space, cfg: &Configuration) -> Vec<String> {
    let mut out: Vec<String> = cfg
        .keys()
        .filter(|k| space.get(k).is_none())
        .map(|k| skillhub::SpaceError::Unknown(k.clone()).to_string())
        .collect();
    for p in &space.params {
        match cfg.get(&p.name) {
            None => out.push(skillhub::SpaceError::Missing(p.name.clone()).to_string()),
            Some(v) => out.extend(p.check(v).err().map(|e| e.to_string())),
        }
    }
    if out.is_empty() {
        out.extend(task.violations(cfg));
    }
    out
}

/// The domain check of an Actor answer for a request of `n` candidates.
pub fn validate(task: &TaskSpec, n: usize, a: &ActorAnswer) -> Result<(), Vec<String>> {
    let space = task.space();
    let mut errors = Vec::new();
    if a.candidates.is_empty() || a.candidates.len() > n.max(1) {
        errors.push(format!("candidates: give between 1 and {} candidates, not {}", n.max(1), a.candidates.len()));
    }
    for (i, c) in a.candidates.iter().enumerate() {
        if c.hypothesis.trim().is_empty() {
            errors.push(format!("candidates[{i}].hypothesis: say what the candidate tests"));
        }
        errors
            .extend(config_errors(task, &space, &c.config).into_iter().map(|e| format!("candidates[{i}].config: {e}")));
        if a.candidates[..i].iter().any(|o| o.config == c.config) {
            errors.push(format!("candidates[{i}].config: repeats an earlier candidate"));
        }
    }
    super::errors_to_result(errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::check_schema;
    use skillhub::Value;

    fn task() -> TaskSpec {
        crate::fixtures::task(&["a", "b"], vec![])
    }

    fn answer(a: f64) -> ActorAnswer {
        let config = Configuration::from([("a".into(), Value::Num(a)), ("b".into(), Value::Num(0.5))]);
        ActorAnswer { candidates: vec![ProposedConfig { hypothesis: "more a".into(), config }] }
    }

    #[test]
    fn a_serialised_answer_satisfies_its_own_schema() {
        let t = task();
        let json = serde_json::to_value(answer(0.2)).expect("serialises");
        check_schema(&json, &ActorAnswer::schema(&schema_context(&t, 2))).expect("schema and type agree");
    }

    #[test]
    fn out_of_range_unknown_and_missing_parameters_are_all_named() {
        let t = task();
        assert!(validate(&t, 2, &answer(0.2)).is_ok());
        let errors = validate(&t, 2, &answer(1.5)).unwrap_err();
        assert_eq!(errors, vec!["candidates[0].config: parameter `a`: 1.5 is outside [0, 1]".to_string()]);
        let mut bad = answer(0.2);
        bad.candidates[0].config.remove("b");
        bad.candidates[0].config.insert("launch".into(), Value::Str("X".into()));
        let errors = validate(&t, 2, &bad).unwrap_err();
        assert!(errors.iter().any(|e| e.contains("unknown parameter `launch`")), "{errors:?}");
        assert!(errors.iter().any(|e| e.contains("`b` is missing")), "{errors:?}");
    }
}
