//! Online's question to a model: the experiment's readout in words, one sentence per
//! treatment arm. The numbers and the ship decision are the readout's (`readout.rs`); the
//! model only words them, and each sentence must quote one of its arm's measured numbers
//! and state the decision the ship rule took, so a readout cannot call a winner that the
//! statistics did not.

use super::context;
use super::insight::{unquoted, Fact};
use super::schema::{self, AnswerSchema, SchemaContext};
use crate::protocol::{ArmResult, ExperimentResult, Note};
use serde::{Deserialize, Serialize};
use skillhub::TaskSpec;
use std::collections::BTreeSet;

const NOTE_CHARS: usize = 240;
/// Arms worded at most (the budget's arms per round is small; this bounds the answer).
const MAX_NOTES: usize = 4;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnlineAnswer {
    pub notes: Vec<ReadoutNote>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadoutNote {
    /// The arm's fact id, `arm:<arm id>`.
    pub arm: String,
    /// Whether the arm ships: must be the ship rule's decision.
    pub ship: bool,
    pub text: String,
}

impl AnswerSchema for OnlineAnswer {
    const NAME: &'static str = "readout_notes";
    fn schema(ctx: &SchemaContext) -> serde_json::Value {
        schema::object(&[("notes", schema::array(ReadoutNote::schema(ctx), 1, ctx.max_items))])
    }
}

impl AnswerSchema for ReadoutNote {
    const NAME: &'static str = "readout_note";
    fn schema(ctx: &SchemaContext) -> serde_json::Value {
        schema::object(&[
            ("arm", schema::one_of(&ctx.ids)),
            ("ship", schema::boolean()),
            ("text", schema::text(NOTE_CHARS)),
        ])
    }
}

/// One treatment arm as a fact: its objective against the control and what the ship rule
/// decided, with the numbers a sentence may quote.
fn arm_fact(a: &ArmResult) -> Fact {
    let s = a.score_vs_control;
    let guardrails: Vec<&str> = a.guardrails.iter().map(|g| g.reason.as_str()).collect();
    let decision = if a.shippable { "ships" } else { "does not ship" };
    Fact {
        id: format!("arm:{}", a.arm_id),
        text: format!(
            "{} ({}) moves the objective by {:+.2}% [{:+.2}, {:+.2}] against the control (p = {:.3}); guardrails: {}; it {decision}.",
            a.arm_id,
            a.candidate_id.as_deref().unwrap_or("-"),
            s.estimate,
            s.low,
            s.high,
            a.score_p_vs_control,
            if guardrails.is_empty() { "none".into() } else { guardrails.join("; ") },
        ),
        numbers: vec![s.estimate, s.low, s.high],
    }
}

/// The treatment arms of `r` (those read against the control), capped.
fn treatments(r: &ExperimentResult) -> impl Iterator<Item = &ArmResult> {
    r.arms.iter().filter(|a| !a.vs_control.is_empty()).take(MAX_NOTES)
}

pub fn facts(r: &ExperimentResult) -> Vec<Fact> {
    treatments(r).map(arm_fact).collect()
}

/// The built-in readout: each arm's fact in its own words.
pub fn builtin_notes(facts: &[Fact]) -> Vec<Note> {
    super::insight::builtin_notes(facts)
}

pub fn schema_context(facts: &[Fact]) -> SchemaContext {
    SchemaContext {
        ids: facts.iter().map(|f| f.id.clone()).collect(),
        max_items: facts.len().clamp(1, MAX_NOTES),
        ..SchemaContext::default()
    }
}

pub fn vars(task: &TaskSpec, r: &ExperimentResult, facts: &[Fact]) -> Vec<(&'static str, String)> {
    let listed: Vec<String> = facts.iter().map(|f| format!("- {}: {}", f.id, f.text)).collect();
    let blocked = r.blocked.as_deref().map_or(String::new(), |b| format!("\nBlocked: {b}"));
    vec![
        ("task", context::task(task)),
        ("constraints", context::constraints(task)),
        ("arms", format!("{}{blocked}", listed.join("\n"))),
    ]
}

/// Each note words a different arm, quotes one of its numbers and states the ship rule's
/// decision for it.
pub fn validate(r: &ExperimentResult, facts: &[Fact], a: &OnlineAnswer) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, n) in a.notes.iter().enumerate() {
        let Some(fact) = facts.iter().find(|f| f.id == n.arm) else {
            errors.push(format!("notes[{i}].arm: `{}` is not one of the listed arms", n.arm));
            continue;
        };
        if !seen.insert(&fact.id) {
            errors.push(format!("notes[{i}].arm: `{}` is worded twice", fact.id));
        }
        let shippable = r.arms.iter().any(|x| format!("arm:{}", x.arm_id) == fact.id && x.shippable);
        if n.ship != shippable {
            let rule = if shippable { "ships" } else { "does not ship" };
            errors.push(format!(
                "notes[{i}].ship: the ship rule decided that `{}` {rule}; set ship to {shippable}",
                fact.id
            ));
        }
        errors.extend(unquoted(i, &n.text, fact));
    }
    if a.notes.is_empty() || a.notes.len() > MAX_NOTES {
        errors.push(format!("notes: give between 1 and {MAX_NOTES} notes"));
    }
    super::errors_to_result(errors)
}

/// The model's notes as readout notes signed by `model`.
pub fn to_notes(a: OnlineAnswer, model: &str) -> Vec<Note> {
    a.notes.into_iter().map(|n| Note { fact: n.arm, text: n.text, author: model.to_string() }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::check_schema;
    use crate::protocol::{Interval, MetricEstimate};

    fn result(shippable: bool) -> ExperimentResult {
        let fixture = crate::fixtures::experiment_result(1, vec![]);
        let estimate = MetricEstimate {
            metric: "sessions".into(),
            mean: 1.01,
            reference_mean: 1.0,
            lift_pct: Interval { estimate: 1.234, low: 0.5, high: 2.0 },
            std_err_pct: 0.4,
            p_value: 0.01,
            cuped_narrowing_pct: None,
        };
        let arm = ArmResult {
            arm_id: "t1".into(),
            candidate_id: Some("r1-c1".into()),
            config: Default::default(),
            units: 1000,
            vs_control: vec![estimate],
            vs_baseline: vec![],
            score_vs_control: Interval { estimate: 1.234, low: 0.5, high: 2.0 },
            score_vs_baseline: Interval { estimate: 1.234, low: 0.5, high: 2.0 },
            score_se_vs_control: 0.4,
            score_se_vs_baseline: 0.4,
            score_p_vs_control: 0.01,
            guardrails: vec![],
            shippable,
        };
        ExperimentResult { arms: vec![arm], ..fixture }
    }

    fn answer(ship: bool, text: &str) -> OnlineAnswer {
        OnlineAnswer { notes: vec![ReadoutNote { arm: "arm:t1".into(), ship, text: text.into() }] }
    }

    #[test]
    fn a_serialised_answer_satisfies_its_own_schema() {
        let r = result(true);
        let json = serde_json::to_value(answer(true, "t1 lifts the objective by 1.23%")).expect("serialises");
        check_schema(&json, &OnlineAnswer::schema(&schema_context(&facts(&r)))).expect("schema and type agree");
    }

    #[test]
    fn a_readout_must_quote_the_arm_and_agree_with_the_ship_rule() {
        let r = result(false);
        let f = facts(&r);
        assert!(validate(&r, &f, &answer(false, "t1 moved the objective by +1.2%, not enough to ship.")).is_ok());
        let errors = validate(&r, &f, &answer(true, "t1 is a clear winner at 1.23%")).unwrap_err();
        assert!(errors.iter().any(|e| e.starts_with("notes[0].ship: the ship rule decided")), "{errors:?}");
        let vague = validate(&r, &f, &answer(false, "t1 did great")).unwrap_err();
        assert!(vague[0].contains("quote one of the measured numbers"), "{vague:?}");
        let unknown =
            OnlineAnswer { notes: vec![ReadoutNote { arm: "arm:t9".into(), ship: false, text: "1.23".into() }] };
        assert!(validate(&r, &f, &unknown).unwrap_err()[0].contains("not one of the listed arms"));
    }
}
