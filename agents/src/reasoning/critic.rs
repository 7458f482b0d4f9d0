//! The Critic's question to a model: a judgement with a reason for each candidate the
//! built-in hard checks let through, all of them rather than only the first batch, so the
//! model picks which ones fill the round's arms (in hybrid mode, the optimiser's or the
//! model's). A candidate the built-in review rejected is never shown to it and stays
//! rejected whatever the answer says.

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
        ("arms", msg.task.budget.arms_per_round.to_string()),
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
    // The hard checks and the surrogate's risk test already passed these candidates; a
    // round with no arm measures nothing, so the model chooses among them rather than
    // vetoing the round (a model that will not choose leaves the step to the built-in).
    if !a.decisions.is_empty() && a.decisions.iter().all(|j| !j.accept) {
        errors.push("decisions: accept at least one candidate: all of them passed the safety checks".into());
    }
    super::errors_to_result(errors)
}

/// The built-in decisions for a batch of `max_accept` arms: candidates that passed the
/// hard checks beyond it are turned away, in proposal order.
pub fn cap(decisions: Vec<Decision>, max_accept: usize) -> Vec<Decision> {
    let mut seats = max_accept;
    decisions
        .into_iter()
        .map(|mut d| {
            if d.accepted && seats == 0 {
                d.accepted = false;
                d.reason = batch_full(max_accept);
            } else if d.accepted {
                seats -= 1;
            }
            d
        })
        .collect()
}

/// The batch after the model's judgement: a candidate runs when the hard checks passed it,
/// the model accepted it and an arm is left, in proposal order. Accepting is never the
/// model's alone: a built-in rejection stands whatever the answer says.
pub fn merge(decisions: Vec<Decision>, answer: &CriticAnswer, max_accept: usize) -> Vec<Decision> {
    let mut seats = max_accept;
    decisions
        .into_iter()
        .map(|mut d| {
            if !d.accepted {
                return d;
            }
            // A validated answer judges every shown candidate; an unjudged one keeps the
            // built-in acceptance but still needs a seat.
            let judged = answer.decisions.iter().find(|j| j.candidate_id == d.candidate.id);
            let (accept, why) = judged.map_or((true, "not judged"), |j| (j.accept, j.reason.trim()));
            if !accept {
                d.accepted = false;
                d.reason = format!("rejected by the model: {why} (built-in review: {})", d.reason);
            } else if seats == 0 {
                d.accepted = false;
                d.reason = format!("{}; the model accepted it too: {why}", batch_full(max_accept));
            } else {
                seats -= 1;
                d.reason = format!("{}; model: {why}", d.reason);
            }
            d
        })
        .collect()
}

fn batch_full(max_accept: usize) -> String {
    format!("batch is full ({max_accept} arms per round)")
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
    fn a_model_that_rejects_every_safe_candidate_is_asked_to_choose() {
        let (a, b) = (cand("r1-c1"), cand("r1-c2"));
        let none = CriticAnswer { decisions: vec![judge("r1-c1", false), judge("r1-c2", false)] };
        let errors = validate(&[&a, &b], &none).unwrap_err();
        assert!(errors.iter().any(|e| e.contains("accept at least one candidate")), "{errors:?}");
        let one = CriticAnswer { decisions: vec![judge("r1-c1", false), judge("r1-c2", true)] };
        assert_eq!(validate(&[&a, &b], &one), Ok(()));
    }

    fn decided(id: &str, accepted: bool) -> Decision {
        Decision { candidate: cand(id), accepted, reason: "built-in".into() }
    }

    fn accepted(decisions: &[Decision]) -> Vec<bool> {
        decisions.iter().map(|d| d.accepted).collect()
    }

    #[test]
    fn the_model_can_reject_more_but_never_accept_what_the_hard_checks_rejected() {
        let builtin = vec![decided("a", true), decided("b", false), decided("c", true)];
        let answer = CriticAnswer { decisions: vec![judge("a", false), judge("b", true), judge("c", true)] };
        let merged = merge(builtin, &answer, 2);
        assert_eq!(accepted(&merged), vec![false, false, true]);
        assert!(merged[0].reason.starts_with("rejected by the model: because"), "{}", merged[0].reason);
        assert_eq!(merged[1].reason, "built-in");
    }

    #[test]
    fn a_seat_the_model_refuses_goes_to_the_next_candidate_it_accepts() {
        let builtin = vec![decided("a", true), decided("b", true), decided("c", true), decided("d", true)];
        assert_eq!(accepted(&cap(builtin.clone(), 2)), vec![true, true, false, false]);
        let answer =
            CriticAnswer { decisions: vec![judge("a", false), judge("b", true), judge("c", true), judge("d", true)] };
        let merged = merge(builtin, &answer, 2);
        assert_eq!(accepted(&merged), vec![false, true, true, false]);
        assert!(merged[3].reason.starts_with("batch is full (2 arms per round)"), "{}", merged[3].reason);
    }
}
