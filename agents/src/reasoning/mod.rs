//! The machinery every agent that can think with a language model shares: prompts as
//! editable templates ([`prompt`]), answer schemas derived from the answer types
//! ([`schema`]), and [`ask_validated`], which asks, validates (parse, schema, domain), sends
//! an invalid answer back once with its errors, and otherwise says why the agent must fall
//! back to its built-in strategy. Per-agent answer types and their domain validators live
//! next to this, one file per agent.
//!
//! A model's text (and a skill's, which a model may have written) is data: it is fenced as
//! data in prompts, and what comes back is only ever parsed into an answer type and
//! checked. Nothing in it chooses which tools run, what is launched or which guardrails
//! apply; the agents' built-in hard checks run whatever the model says.

pub mod actor;
pub mod config;
pub mod context;
pub mod critic;
pub mod insight;
pub mod online;
pub mod prompt;
pub mod schema;
pub mod skill;

pub use config::{build_reasoner, Reasoning, ReasoningError, WithReasoning};
pub use prompt::{Prompt, PromptError};
pub use schema::{AnswerSchema, SchemaContext};

use crate::llm::{check_schema, CallStats, LlmClient, LlmError, LlmRequest, UsageTotals};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tracing::{info, warn};

/// Most validation errors quoted back to the model: enough to fix, short enough to read.
const MAX_ERRORS_SHOWN: usize = 8;
/// Longest excerpt of a rejected answer quoted back.
const MAX_ANSWER_SHOWN: usize = 1500;

/// How one agent's questions to its model went, shared with the run summary.
#[derive(Debug, Default)]
pub struct ReasoningStats {
    questions: AtomicU64,
    valid: AtomicU64,
    repairs: AtomicU64,
    fallbacks: AtomicU64,
}

/// A copy of [`ReasoningStats`] for reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReasoningTotals {
    /// Questions asked (a repair round is part of its question).
    pub questions: u64,
    /// Answers that passed every check, first time or after the repair round.
    pub valid: u64,
    /// Repair rounds: an invalid answer sent back with its errors.
    pub repairs: u64,
    /// Questions whose step used the built-in strategy instead.
    pub fallbacks: u64,
}

impl ReasoningStats {
    pub fn snapshot(&self) -> ReasoningTotals {
        ReasoningTotals {
            questions: self.questions.load(Ordering::Relaxed),
            valid: self.valid.load(Ordering::Relaxed),
            repairs: self.repairs.load(Ordering::Relaxed),
            fallbacks: self.fallbacks.load(Ordering::Relaxed),
        }
    }

    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// One agent's model: the (metered) client, its prompt and its counters. Cheap to clone,
/// so a handler's future can own one.
#[derive(Clone)]
pub struct Reasoner {
    pub agent: &'static str,
    client: Arc<dyn LlmClient>,
    prompt: Arc<Prompt>,
    stats: Arc<ReasoningStats>,
    calls: Arc<CallStats>,
}

impl Reasoner {
    /// `calls` are the counters of the metered `client` (or fresh ones for an unmetered
    /// client, which then reports no tokens).
    pub fn new(agent: &'static str, client: Arc<dyn LlmClient>, prompt: Prompt, calls: Arc<CallStats>) -> Self {
        Reasoner { agent, client, prompt: Arc::new(prompt), stats: Arc::default(), calls }
    }

    pub fn prompt(&self) -> &Prompt {
        &self.prompt
    }

    /// The model as the client describes it (backend, model, server), for provenance.
    pub fn model(&self) -> String {
        self.client.describe()
    }

    pub fn totals(&self) -> ReasoningTotals {
        self.stats.snapshot()
    }

    pub fn usage(&self) -> UsageTotals {
        self.calls.snapshot()
    }

    /// The live call counters (shared with the metered client), for the run's board.
    pub fn calls(&self) -> Arc<CallStats> {
        Arc::clone(&self.calls)
    }

    /// The request for this agent's prompt filled with `vars`, asking for a `T`.
    pub fn request<T: AnswerSchema>(&self, vars: &[(&str, String)], ctx: &SchemaContext) -> LlmRequest {
        let (system, user) = self.prompt.render(vars);
        LlmRequest { system, user, schema_name: T::NAME.into(), schema: T::schema(ctx) }
    }
}

/// What came of a question: an answer that passed every check, or why the step must use
/// the built-in strategy.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<T> {
    Valid(T),
    Fallback(String),
}

/// Asks `r`'s model, checks the answer (JSON, the request's schema, then `validate`, the
/// domain), and on failure sends the answer back once with the errors. Transport and
/// server failures fall back at once: asking again unchanged would not help, and the
/// client has already retried what waiting can fix.
pub async fn ask_validated<T, F>(r: &Reasoner, req: LlmRequest, validate: F) -> Outcome<T>
where
    T: DeserializeOwned,
    F: Fn(&T) -> Result<(), Vec<String>>,
{
    ReasoningStats::bump(&r.stats.questions);
    let first = attempt(r, &req, &validate).await;
    let outcome = match first {
        Attempt::Valid(t) => Outcome::Valid(t),
        Attempt::Fatal(reason) => Outcome::Fallback(reason),
        Attempt::Invalid { answer, errors } => {
            ReasoningStats::bump(&r.stats.repairs);
            warn!(agent = r.agent, schema = %req.schema_name, errors = %errors.join("; "), "model answer invalid; sending it back once for a correction");
            match attempt(r, &repair(&req, &answer, &errors), &validate).await {
                Attempt::Valid(t) => Outcome::Valid(t),
                Attempt::Fatal(reason) => Outcome::Fallback(reason),
                Attempt::Invalid { errors, .. } => {
                    Outcome::Fallback(format!("still invalid after one correction: {}", shown(&errors).join("; ")))
                }
            }
        }
    };
    match &outcome {
        Outcome::Valid(_) => {
            ReasoningStats::bump(&r.stats.valid);
            info!(agent = r.agent, schema = %req.schema_name, "model answer valid");
        }
        Outcome::Fallback(reason) => {
            ReasoningStats::bump(&r.stats.fallbacks);
            warn!(agent = r.agent, schema = %req.schema_name, reason = %reason, "falling back to the built-in strategy for this step");
        }
    }
    outcome
}

enum Attempt<T> {
    Valid(T),
    Invalid { answer: String, errors: Vec<String> },
    Fatal(String),
}

async fn attempt<T, F>(r: &Reasoner, req: &LlmRequest, validate: &F) -> Attempt<T>
where
    T: DeserializeOwned,
    F: Fn(&T) -> Result<(), Vec<String>>,
{
    match r.client.complete(req.clone()).await {
        Ok(answer) => match check(&answer.json, &req.schema, validate) {
            Ok(t) => Attempt::Valid(t),
            Err(errors) => Attempt::Invalid { answer: answer.text, errors },
        },
        // The model answered, but not in a form we can read: worth one correction.
        Err(LlmError::InvalidJson { reason, text }) => {
            Attempt::Invalid { answer: text, errors: vec![format!("the answer is not valid JSON: {reason}")] }
        }
        // Said to the model, not the operator: it can only answer shorter.
        Err(LlmError::Truncated { finish_reason }) => Attempt::Invalid {
            answer: String::new(),
            errors: vec![format!(
                "the answer was cut off at the token limit ({finish_reason}): answer again with shorter texts"
            )],
        },
        Err(e) => Attempt::Fatal(format!("model call failed: {e}")),
    }
}

/// Parse, schema, domain: the first stage that fails gives the errors.
pub fn check<T, F>(json: &serde_json::Value, schema: &serde_json::Value, validate: &F) -> Result<T, Vec<String>>
where
    T: DeserializeOwned,
    F: Fn(&T) -> Result<(), Vec<String>>,
{
    check_schema(json, schema)?;
    let value: T = serde_json::from_value(json.clone()).map_err(|e| vec![format!("(root): {e}")])?;
    validate(&value)?;
    Ok(value)
}

/// A domain validation's outcome: valid when nothing was found, else every error found
/// (all of them go back to the model in one correction).
pub(crate) fn errors_to_result(errors: Vec<String>) -> Result<(), Vec<String>> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn shown(errors: &[String]) -> Vec<String> {
    let mut out: Vec<String> = errors.iter().take(MAX_ERRORS_SHOWN).cloned().collect();
    if errors.len() > MAX_ERRORS_SHOWN {
        out.push(format!("... and {} more", errors.len() - MAX_ERRORS_SHOWN));
    }
    out
}

/// The original question, the rejected answer (as data) and every error, once.
fn repair(req: &LlmRequest, answer: &str, errors: &[String]) -> LlmRequest {
    let answer: String = answer.chars().take(MAX_ANSWER_SHOWN).collect();
    let list: Vec<String> = shown(errors).iter().map(|e| format!("- {e}")).collect();
    let user = format!(
        "{}\n\nYour previous answer was rejected.\n{}\nThese checks failed:\n{}\n\
         Answer again with JSON that fixes every error and follows the schema.",
        req.user,
        prompt::data("previous_answer", &answer),
        list.join("\n")
    );
    LlmRequest { user, ..req.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::{LlmAnswer, Usage};
    use futures::future::BoxFuture;
    use std::sync::Mutex;
    use std::time::Duration;

    /// Answers from a script and remembers every request.
    struct Scripted {
        answers: Mutex<Vec<Result<serde_json::Value, LlmError>>>,
        seen: Mutex<Vec<LlmRequest>>,
    }

    impl LlmClient for Scripted {
        fn complete(&self, req: LlmRequest) -> BoxFuture<'static, Result<LlmAnswer, LlmError>> {
            self.seen.lock().expect("lock").push(req);
            let next = self.answers.lock().expect("lock").remove(0);
            let answer = next.map(|json| LlmAnswer {
                text: json.to_string(),
                json,
                usage: Usage { prompt_tokens: 3, completion_tokens: 2 },
                latency: Duration::from_millis(1),
                attempts: 1,
            });
            Box::pin(async move { answer })
        }
        fn describe(&self) -> String {
            "scripted".into()
        }
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Num {
        x: f64,
    }

    fn reasoner(answers: Vec<Result<serde_json::Value, LlmError>>) -> (Reasoner, Arc<Scripted>) {
        let client = Arc::new(Scripted { answers: Mutex::new(answers), seen: Mutex::default() });
        let prompt = Prompt::parse("test", "# system\nS\n# user\nU {{task}}\n", &["task"]).expect("prompt");
        (Reasoner::new("actor", client.clone(), prompt, CallStats::new()), client)
    }

    fn req() -> LlmRequest {
        let schema = serde_json::json!({"type": "object", "required": ["x"], "properties": {"x": {"type": "number"}}});
        LlmRequest { system: "s".into(), user: "u".into(), schema_name: "num".into(), schema }
    }

    fn in_range(n: &Num) -> Result<(), Vec<String>> {
        (0.0..=1.0).contains(&n.x).then_some(()).ok_or_else(|| vec![format!("x: {} is outside [0, 1]", n.x)])
    }

    #[actix_rt::test]
    async fn a_valid_answer_is_used_without_a_repair_round() {
        let (r, c) = reasoner(vec![Ok(serde_json::json!({"x": 0.5}))]);
        assert_eq!(ask_validated(&r, req(), in_range).await, Outcome::Valid(Num { x: 0.5 }));
        assert_eq!(c.seen.lock().expect("lock").len(), 1);
        assert_eq!(r.totals(), ReasoningTotals { questions: 1, valid: 1, repairs: 0, fallbacks: 0 });
    }

    #[actix_rt::test]
    async fn an_out_of_range_answer_is_sent_back_once_with_its_errors_then_corrected() {
        let (r, c) = reasoner(vec![Ok(serde_json::json!({"x": 7.0})), Ok(serde_json::json!({"x": 0.25}))]);
        assert_eq!(ask_validated(&r, req(), in_range).await, Outcome::Valid(Num { x: 0.25 }));
        let seen = c.seen.lock().expect("lock");
        assert!(seen[1].user.contains("x: 7 is outside [0, 1]"), "{}", seen[1].user);
        assert!(seen[1].user.starts_with("u"), "the repair keeps the question");
        assert_eq!(r.totals(), ReasoningTotals { questions: 1, valid: 1, repairs: 1, fallbacks: 0 });
    }

    #[actix_rt::test]
    async fn still_invalid_after_the_repair_falls_back_with_the_reason() {
        let (r, _) = reasoner(vec![Ok(serde_json::json!({"x": 7.0})), Ok(serde_json::json!({"y": 1}))]);
        match ask_validated::<Num, _>(&r, req(), in_range).await {
            Outcome::Fallback(why) => assert!(why.contains("missing required property"), "{why}"),
            other => panic!("expected a fallback, got {other:?}"),
        }
        assert_eq!(r.totals(), ReasoningTotals { questions: 1, valid: 0, repairs: 1, fallbacks: 1 });
    }

    #[actix_rt::test]
    async fn a_failed_call_falls_back_at_once() {
        let (r, c) = reasoner(vec![Err(LlmError::Unavailable { attempts: 3, reason: "down".into() })]);
        assert!(matches!(ask_validated::<Num, _>(&r, req(), in_range).await, Outcome::Fallback(_)));
        assert_eq!(c.seen.lock().expect("lock").len(), 1);
        assert_eq!(r.totals().fallbacks, 1);
    }
}
