//! The OpenAI-compatible client against a real model: llama.cpp's `llama-server` with
//! SmolLM2-135M-Instruct, started privately by each test (about half a second to load).
//!
//! llama.cpp turns `response_format: json_schema` into a grammar that constrains sampling.
//! Observed with the pinned build (and stated in llama.cpp's grammars/README.md): object
//! structure, `required`, `additionalProperties: false`, types, `minItems`/`maxItems`,
//! `minLength`/`maxLength` and integer `minimum`/`maximum` are enforced; `minimum`/`maximum`
//! on `number` are not (this model happily writes `1.5` for a weight in [0, 1]). So the tests
//! assert the structure strictly and leave number ranges to the domain validator, printing
//! any range violation they see.
//!
//! Needs `make llm-install`; without it the tests fail and say so.

#[path = "support/local_llm.rs"]
mod local_llm;

use agents::llm::{check_schema, client, LlmAnswer, LlmError, LlmRequest, LlmSettings};
use local_llm::LocalLlm;
use serde_json::{json, Value};
use std::time::Duration;

/// Enough for three candidates with full-length hypotheses at this model's verbosity.
const MAX_TOKENS: u32 = 400;

/// The kind of question the Actor asks: up to three candidate configurations, each with a
/// short hypothesis and two bounded numeric knobs.
fn proposal_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["candidates"],
        "properties": {
            "candidates": {
                "type": "array",
                "minItems": 1,
                "maxItems": 3,
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["hypothesis", "config"],
                    "properties": {
                        "hypothesis": {"type": "string", "maxLength": 200},
                        "config": {
                            "type": "object",
                            "additionalProperties": false,
                            "required": ["rank.w_click", "rank.recency_half_life_days"],
                            "properties": {
                                "rank.w_click": {"type": "number", "minimum": 0, "maximum": 1},
                                "rank.recency_half_life_days": {"type": "number", "minimum": 1, "maximum": 90},
                            },
                        },
                    },
                },
            },
        },
    })
}

fn proposal_request() -> LlmRequest {
    LlmRequest {
        system: "You tune the ranking of a news search engine. Propose configurations to test in an A/B \
                 experiment. rank.w_click is the weight of click-through rate, between 0 and 1. \
                 rank.recency_half_life_days is how fast old articles lose rank, between 1 and 90 days. \
                 Answer in JSON."
            .into(),
        user: "Current config: rank.w_click = 0.3, rank.recency_half_life_days = 14. Users complain that \
               results are stale. Propose up to 3 candidate configurations, each with a one-sentence hypothesis."
            .into(),
        schema_name: "proposal".into(),
        schema: proposal_schema(),
    }
}

/// `schema` without the keywords llama.cpp does not enforce: bounds on `number`s.
fn enforced_part(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let is_number = map.get("type").and_then(Value::as_str) == Some("number");
            map.iter()
                .filter(|(k, _)| {
                    !is_number || !matches!(k.as_str(), "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum")
                })
                .map(|(k, v)| (k.clone(), enforced_part(v)))
                .collect()
        }
        Value::Array(items) => items.iter().map(enforced_part).collect(),
        other => other.clone(),
    }
}

async fn ask(settings: &LlmSettings, request: LlmRequest) -> Result<LlmAnswer, LlmError> {
    client(settings).expect("settings for the local server are valid").complete(request).await
}

fn settings(server: &LocalLlm, max_tokens: u32) -> LlmSettings {
    LlmSettings { max_tokens, timeout_s: 60, ..server.settings() }
}

#[actix_rt::test]
async fn structured_answer_from_the_real_model_follows_the_schema() {
    let server = LocalLlm::start();
    let schema = proposal_schema();
    let answer = ask(&settings(&server, MAX_TOKENS), proposal_request())
        .await
        .unwrap_or_else(|e| panic!("the local model failed: {e}\nserver log:\n{}", server.log_tail()));
    eprintln!(
        "server up in {:?}; answer in {:?} ({} attempt(s)), {} prompt + {} completion tokens:\n{}",
        server.startup,
        answer.latency,
        answer.attempts,
        answer.usage.prompt_tokens,
        answer.usage.completion_tokens,
        answer.text
    );

    // What the grammar guarantees: shape, types, required keys, no extra keys, the item
    // count and the hypothesis length.
    if let Err(errors) = check_schema(&answer.json, &enforced_part(&schema)) {
        panic!("the answer breaks what llama.cpp enforces:\n{}\n{}", errors.join("\n"), answer.text);
    }
    let candidates = answer.json["candidates"].as_array().expect("checked above");
    assert!((1..=3).contains(&candidates.len()));
    for c in candidates {
        assert!(c["hypothesis"].as_str().is_some_and(|h| h.chars().count() <= 200));
        assert!(c["config"]["rank.w_click"].is_number() && c["config"]["rank.recency_half_life_days"].is_number());
    }
    // What it does not: number ranges, left to the domain validator.
    match check_schema(&answer.json, &schema) {
        Ok(()) => eprintln!("every number is within its bounds"),
        Err(errors) => eprintln!("number bounds broken (not enforced by llama.cpp):\n{}", errors.join("\n")),
    }

    assert!(answer.usage.prompt_tokens > 0, "{:?}", answer.usage);
    assert!(answer.usage.completion_tokens > 0, "{:?}", answer.usage);
    assert_eq!(answer.attempts, 1);
    assert!(answer.latency > Duration::ZERO && answer.latency < Duration::from_secs(60), "{:?}", answer.latency);
}

#[actix_rt::test]
async fn truncation_is_reported_as_truncated() {
    let server = LocalLlm::start();
    match ask(&settings(&server, 5), proposal_request()).await {
        Err(LlmError::Truncated { finish_reason }) => assert_eq!(finish_reason, "length"),
        other => panic!("expected Truncated with max_tokens 5, got {other:?}\nserver log:\n{}", server.log_tail()),
    }
}

/// Holds because the helper starts the server with `--no-cache-prompt`: with the prompt
/// cache on, the second call evaluates only the last prompt token and this model's answer
/// to it can differ from the first.
#[actix_rt::test]
async fn deterministic_at_temperature_zero() {
    let server = LocalLlm::start();
    let s = settings(&server, MAX_TOKENS);
    let first = ask(&s, proposal_request()).await.unwrap_or_else(|e| panic!("first call: {e}"));
    let second = ask(&s, proposal_request()).await.unwrap_or_else(|e| panic!("second call: {e}"));
    eprintln!("first in {:?}, second in {:?}", first.latency, second.latency);
    assert_eq!(first.text, second.text);
    assert_eq!(first.usage, second.usage);
}
