//! Insight's question to a model: explain the measured facts in words. The numbers are
//! the built-in analysis's; the model only writes sentences about them, and each sentence
//! must name the fact it explains and quote one of that fact's numbers (to the precision
//! it writes), so a note cannot drift away from what was measured.

use super::context;
use super::schema::{self, AnswerSchema, SchemaContext};
use crate::protocol::{Insight, Interval, Note};
use serde::{Deserialize, Serialize};
use skillhub::TaskSpec;
use std::collections::BTreeSet;

const NOTE_CHARS: usize = 200;
/// Facts offered to the model (and explained by the built-in notes).
const MAX_FACTS: usize = 6;
/// Notes asked for at most.
const MAX_NOTES: usize = 3;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InsightAnswer {
    pub notes: Vec<NoteAnswer>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteAnswer {
    pub fact: String,
    pub text: String,
}

impl AnswerSchema for InsightAnswer {
    const NAME: &'static str = "insight_notes";
    fn schema(ctx: &SchemaContext) -> serde_json::Value {
        schema::object(&[("notes", schema::array(NoteAnswer::schema(ctx), 1, ctx.max_items))])
    }
}

impl AnswerSchema for NoteAnswer {
    const NAME: &'static str = "note";
    fn schema(ctx: &SchemaContext) -> serde_json::Value {
        schema::object(&[("fact", schema::one_of(&ctx.ids)), ("text", schema::text(NOTE_CHARS))])
    }
}

/// One measured fact, with the numbers a sentence about it may quote.
#[derive(Debug, Clone, PartialEq)]
pub struct Fact {
    pub id: String,
    pub text: String,
    pub numbers: Vec<f64>,
}

/// The facts of an Insight worth explaining: patterns first, then the elites, then the
/// latest measured configurations that are not elites (a loss is worth explaining too:
/// before anything beats the baseline there are no elites, only such measurements).
pub fn facts(i: &Insight) -> Vec<Fact> {
    let patterns = i.patterns.iter().map(|p| Fact {
        id: format!("pattern:{}->{}", p.parameter, p.metric),
        text: format!(
            "Raising {} across its range moves {} by {:+.2}% (± {:.2}; {} configurations, {}).",
            p.parameter,
            p.metric,
            p.effect_pct,
            p.std_err_pct,
            p.support,
            p.experiments.join(", ")
        ),
        numbers: vec![p.effect_pct, p.std_err_pct],
    });
    let elites = i.elites.iter().map(|e| {
        score_fact(format!("elite:{}", e.candidate_id), &e.candidate_id, e.score_vs_baseline, "", &e.experiments)
    });
    let is_elite = |id: &str| i.elites.iter().any(|e| e.candidate_id == id);
    let measured = i.observations.iter().rev().filter(|o| !is_elite(&o.candidate_id)).map(|o| {
        let who = format!("{} (round {})", o.candidate_id, o.round);
        let safe = if o.safe { ", no guardrail breached" } else { ", a guardrail breached" };
        score_fact(format!("measured:{}", o.candidate_id), &who, o.score, safe, &o.experiments)
    });
    patterns.chain(elites).chain(measured).take(MAX_FACTS).collect()
}

/// A configuration's measured objective against the baseline as a fact; `tail` adds to
/// the sentence before the experiment ids.
fn score_fact(id: String, who: &str, s: Interval, tail: &str, experiments: &[String]) -> Fact {
    Fact {
        id,
        text: format!(
            "{who} scores {:+.2}% [{:+.2}, {:+.2}] on the objective against the baseline{tail} ({}).",
            s.estimate,
            s.low,
            s.high,
            experiments.join(", ")
        ),
        numbers: vec![s.estimate, s.low, s.high],
    }
}

/// The built-in notes: each fact in its own words.
pub fn builtin_notes(facts: &[Fact]) -> Vec<Note> {
    facts.iter().map(|f| Note { fact: f.id.clone(), text: f.text.clone(), author: "builtin".into() }).collect()
}

pub fn schema_context(facts: &[Fact]) -> SchemaContext {
    SchemaContext {
        ids: facts.iter().map(|f| f.id.clone()).collect(),
        max_items: facts.len().clamp(1, MAX_NOTES),
        ..SchemaContext::default()
    }
}

pub fn vars(task: &TaskSpec, i: &Insight, facts: &[Fact]) -> Vec<(&'static str, String)> {
    let listed: Vec<String> = facts.iter().map(|f| format!("- {}: {}", f.id, f.text)).collect();
    vec![
        ("task", context::task(task)),
        ("skill", String::new()),
        ("elites", context::elites(Some(i))),
        ("sensitivities", context::sensitivities(Some(i), None)),
        ("results", context::results(Some(i))),
        ("constraints", context::constraints(task)),
        ("facts", listed.join("\n")),
    ]
}

/// Each note explains a different known fact and quotes one of its numbers.
pub fn validate(facts: &[Fact], a: &InsightAnswer) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, n) in a.notes.iter().enumerate() {
        let Some(fact) = facts.iter().find(|f| f.id == n.fact) else {
            errors.push(format!("notes[{i}].fact: `{}` is not one of the listed facts", n.fact));
            continue;
        };
        if !seen.insert(&fact.id) {
            errors.push(format!("notes[{i}].fact: `{}` is explained twice", fact.id));
        }
        errors.extend(unquoted(i, &n.text, fact));
    }
    if a.notes.is_empty() || a.notes.len() > MAX_NOTES {
        errors.push(format!("notes: give between 1 and {MAX_NOTES} notes"));
    }
    super::errors_to_result(errors)
}

/// The error for note `i` when its text quotes none of its fact's measured numbers: a note
/// tied to no number could say anything.
pub(crate) fn unquoted(i: usize, text: &str, fact: &Fact) -> Option<String> {
    if quotes_any(text, &fact.numbers) {
        return None;
    }
    let shown: Vec<String> = fact.numbers.iter().map(|x| format!("{x:.2}")).collect();
    Some(format!("notes[{i}].text: quote one of the measured numbers of `{}` ({})", fact.id, shown.join(", ")))
}

/// True when `text` holds a decimal number equal to the magnitude of one of `numbers` at
/// the precision written ("2.1" quotes 2.13; a bare integer must match to 0.005).
pub(crate) fn quotes_any(text: &str, numbers: &[f64]) -> bool {
    decimals_in(text).into_iter().any(|(x, places)| {
        let tolerance = if places == 0 { 0.005 } else { 0.5 * 10f64.powi(-(places as i32)) + 1e-9 };
        numbers.iter().any(|v| (x - v.abs()).abs() <= tolerance)
    })
}

/// Unsigned decimal numbers in `text` with their count of decimal places.
fn decimals_in(text: &str) -> Vec<(f64, usize)> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len()
            && (bytes[i].is_ascii_digit() || (bytes[i] == b'.' && i + 1 < bytes.len() && bytes[i + 1].is_ascii_digit()))
        {
            i += 1;
        }
        let token = &text[start..i];
        if let Ok(x) = token.parse::<f64>() {
            out.push((x, token.split_once('.').map_or(0, |(_, d)| d.len())));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::check_schema;

    fn fact() -> Fact {
        Fact { id: "pattern:a->m".into(), text: "t".into(), numbers: vec![-2.134, 0.41] }
    }

    fn note(text: &str) -> InsightAnswer {
        InsightAnswer { notes: vec![NoteAnswer { fact: "pattern:a->m".into(), text: text.into() }] }
    }

    #[test]
    fn a_serialised_answer_satisfies_its_own_schema() {
        let json = serde_json::to_value(note("a lowers m by 2.1%")).expect("serialises");
        check_schema(&json, &InsightAnswer::schema(&schema_context(&[fact()]))).expect("schema and type agree");
    }

    #[test]
    fn a_note_must_quote_its_facts_numbers() {
        assert!(validate(&[fact()], &note("Raising a lowers m by 2.1% (se 0.41).")).is_ok());
        let errors = validate(&[fact()], &note("Raising a lowers m a lot, by 7.5%.")).unwrap_err();
        assert!(errors[0].contains("quote one of the measured numbers"), "{errors:?}");
        let unknown = InsightAnswer { notes: vec![NoteAnswer { fact: "pattern:zz".into(), text: "2.13".into() }] };
        assert!(validate(&[fact()], &unknown).unwrap_err()[0].contains("not one of the listed facts"));
    }
}
