//! The Critic's question to a model: a judgement with a reason for each candidate the
//! built-in hard checks let through. The model can only reject more: a candidate the
//! built-in review rejected is never shown to it, and its "accept" adds only a reason.

use super::context;
use super::schema::{self, AnswerSchema, SchemaContext};
use crate::critic::Review;
use crate::protocol::{Candidate, Decision};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

const REASON_CHARS: usize = 160;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CriticAnswer {
    pub decisions: Vec<Judgement>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Judgement {
    pub candidate_id: String,
    pub accept: bool,
    pub reason: String,
}

impl AnswerSchema for CriticAnswer {
    const NAME: &'static str = "critic_verdict";
    fn schema(ctx: &SchemaContext) -> serde_json::Value {
        let n = ctx.ids.len().max(1);
        schema::object(&[("decisions", schema::array(Judgement::schema(ctx), n, n))])
    }
}

impl AnswerSchema for Judgement {
    const NAME: &'static str = "judgement";
    fn schema(ctx: &SchemaContext) -> serde_json::Value {
        schema::object(&[
            ("candidate_id", schema::one_of(&ctx.ids)),
            ("accept", schema::boolean()),
            ("reason", schema::text(REASON_CHARS)),
        ])
    }
}

pub fn schema_context(shown: &[&Candidate]) -> SchemaContext {
    SchemaContext { ids: shown.iter().map(|c| c.id.clone()).collect(), ..SchemaContext::default() }
}

pub fn vars(msg: &Review, shown: &[&Candidate]) -> Vec<(&'static str, String)> {
    let candidates: Vec<String> = shown
        .iter()
        .map(|c| format!("- {} ({:?}): {}\n  hypothesis: {}", c.id, c.origin, context::config(&c.config), c.hypothesis))
        .collect();
    vec![
        ("task", context::task(&msg.task)),
        ("space", context::space(&msg.task.space())),
        ("skill", String::new()),
        ("results", context::results(msg.insight.as_deref())),
        ("constraints", context::constraints(&msg.task)),
        ("candidates", candidates.join("\n")),
    ]
}

/// Every shown candidate judged exactly once, with a reason, and nothing else.
pub fn validate(shown: &[&Candidate], a: &CriticAnswer) -> Result<(), Vec<String>> {
    let asked: BTreeSet<&str> = shown.iter().map(|c| c.id.as_str()).collect();
    let mut seen = BTreeSet::new();
    let mut errors = Vec::new();
    for (i, j) in a.decisions.iter().enumerate() {
        if !asked.contains(j.candidate_id.as_str()) {
            errors.push(format!("decisions[{i}].candidate_id: `{}` is not one of {asked:?}", j.candidate_id));
        } else if !seen.insert(j.candidate_id.as_str()) {
            errors.push(format!("decisions[{i}].candidate_id: `{}` is judged twice", j.candidate_id));
        }
        if j.reason.trim().is_empty() {
            errors.push(format!("decisions[{i}].reason: give the reason"));
        }
    }
    errors.extend(asked.difference(&seen).map(|id| format!("decisions: candidate `{id}` is not judged")));
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// The built-in decisions with the model's rejections applied. Accepting is never the
/// model's to do: a built-in rejection stands whatever the answer says.
pub fn merge(builtin: Vec<Decision>, answer: &CriticAnswer) -> Vec<Decision> {
    builtin
        .into_iter()
        .map(|mut d| {
            let Some(j) = answer.decisions.iter().find(|j| j.candidate_id == d.candidate.id) else { return d };
            if d.accepted && !j.accept {
                d.accepted = false;
                d.reason = format!("rejected by the model: {} (built-in review: {})", j.reason.trim(), d.reason);
            } else if d.accepted {
                d.reason = format!("{}; model: {}", d.reason, j.reason.trim());
            }
            d
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::check_schema;
    use crate::protocol::Origin;

    fn cand(id: &str) -> Candidate {
        Candidate { id: id.into(), config: Default::default(), hypothesis: String::new(), origin: Origin::Optimizer }
    }

    fn judge(id: &str, accept: bool) -> Judgement {
        Judgement { candidate_id: id.into(), accept, reason: "because".into() }
    }

    #[test]
    fn a_serialised_answer_satisfies_its_own_schema() {
        let (a, b) = (cand("r1-c1"), cand("r1-c2"));
        let answer = CriticAnswer { decisions: vec![judge("r1-c1", true), judge("r1-c2", false)] };
        let json = serde_json::to_value(&answer).expect("serialises");
        check_schema(&json, &CriticAnswer::schema(&schema_context(&[&a, &b]))).expect("schema and type agree");
    }

    #[test]
    fn every_shown_candidate_must_be_judged_once() {
        let (a, b) = (cand("r1-c1"), cand("r1-c2"));
        let errors = validate(&[&a, &b], &CriticAnswer { decisions: vec![judge("r1-c1", true), judge("r9", true)] })
            .unwrap_err();
        assert!(errors.iter().any(|e| e.contains("`r9` is not one of")), "{errors:?}");
        assert!(errors.iter().any(|e| e.contains("`r1-c2` is not judged")), "{errors:?}");
    }

    #[test]
    fn the_model_can_reject_more_but_never_accept_what_the_hard_checks_rejected() {
        let decided = |id: &str, accepted: bool| Decision { candidate: cand(id), accepted, reason: "built-in".into() };
        let builtin = vec![decided("a", true), decided("b", false), decided("c", true)];
        let answer = CriticAnswer { decisions: vec![judge("a", false), judge("b", true), judge("c", true)] };
        let merged = merge(builtin, &answer);
        assert_eq!(merged.iter().map(|d| d.accepted).collect::<Vec<_>>(), vec![false, false, true]);
        assert!(merged[0].reason.starts_with("rejected by the model: because"), "{}", merged[0].reason);
        assert_eq!(merged[1].reason, "built-in");
    }
}
