//! Google's Generative Language API (`models/{model}:generateContent`).
//!
//! The key travels in the `x-goog-api-key` header, never in the URL, so it cannot end up
//! in a proxy log or an error message that quotes the URL. JSON output is enforced with
//! `responseSchema`, which takes an OpenAPI 3.0 subset rather than JSON Schema: see
//! [`to_gemini_schema`].

use super::client::{parse_answer, LlmAnswer, LlmClient, LlmRequest, Usage};
use super::error::LlmError;
use super::retry::{self, Auth, Failed, Post, RetryPolicy};
use super::settings::{LlmSettings, Secret};
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::Instant;

pub(crate) struct GeminiClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base_url: String,
    url: String,
    model: String,
    temperature: f64,
    max_tokens: u32,
    auth: Option<Auth>,
    policy: RetryPolicy,
}

impl GeminiClient {
    pub fn new(
        settings: &LlmSettings,
        key: Option<Secret>,
        policy: RetryPolicy,
        http: reqwest::Client,
    ) -> Result<Self, LlmError> {
        let auth = key.map(|k| Auth::new("x-goog-api-key", "", k)).transpose()?;
        let model = settings.model.trim().trim_start_matches("models/").to_string();
        let inner = Inner {
            http,
            base_url: settings.base_url().to_string(),
            url: format!("{}/v1beta/models/{model}:generateContent", settings.base_url()),
            model,
            temperature: settings.temperature,
            max_tokens: settings.max_tokens,
            auth,
            policy,
        };
        Ok(GeminiClient { inner: Arc::new(inner) })
    }
}

impl LlmClient for GeminiClient {
    fn complete(&self, req: LlmRequest) -> BoxFuture<'static, Result<LlmAnswer, LlmError>> {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move { inner.complete(req).await })
    }

    fn describe(&self) -> String {
        format!("gemini model {} at {}", self.inner.model, self.inner.base_url)
    }
}

impl Inner {
    async fn complete(&self, req: LlmRequest) -> Result<LlmAnswer, LlmError> {
        let started = Instant::now();
        let body = self.body(&req);
        let post = Post {
            http: &self.http,
            url: &self.url,
            auth: self.auth.as_ref(),
            body: &body,
            timeout: self.policy.attempt_timeout,
        };
        let post = &post;
        let (reply, attempts) = retry::run(&self.policy, move || post.attempt()).await.map_err(Failed::into_error)?;
        answer(reply, attempts, started)
    }

    fn body(&self, req: &LlmRequest) -> Value {
        let mut body = json!({
            "contents": [{"role": "user", "parts": [{"text": req.user}]}],
            "generationConfig": {
                "temperature": self.temperature,
                "maxOutputTokens": self.max_tokens,
                "responseMimeType": "application/json",
                "responseSchema": to_gemini_schema(&req.schema),
            },
        });
        // An empty text part is an invalid argument to the API.
        if !req.system.trim().is_empty() {
            body["systemInstruction"] = json!({"parts": [{"text": req.system}]});
        }
        body
    }
}

/// Converts the JSON Schema subset the agents use into the schema `responseSchema` takes.
///
/// Kept: `type` (upper-cased, and `["T", "null"]` becomes `T` with `nullable: true`),
/// `properties`, `items`, `required`, `description`, `nullable`, `minimum`, `maximum`,
/// `minItems`, `maxItems`, and `enum` when all its values are strings (Gemini's enums are
/// string-only). Dropped, because older API versions reject them: `$schema`, `$id`,
/// `$ref`, `$defs`, `title`, `additionalProperties`, `oneOf`/`anyOf`/`allOf`/`not`,
/// `const`, `default`, `examples`, `format`, `pattern`, `minLength`/`maxLength`,
/// `exclusiveMinimum`/`exclusiveMaximum`, `multipleOf`, `uniqueItems` and anything else.
/// Dropped constraints are not lost: the caller still checks the answer against the full
/// schema.
pub fn to_gemini_schema(schema: &Value) -> Value {
    let Some(fields) = schema.as_object() else { return json!({}) };
    let mut out = Map::new();
    for (key, value) in fields {
        match key.as_str() {
            "type" => convert_type(value, &mut out),
            "properties" => {
                let props = value.as_object().into_iter().flatten();
                out.insert(key.clone(), props.map(|(k, v)| (k.clone(), to_gemini_schema(v))).collect());
            }
            "items" => {
                out.insert(key.clone(), to_gemini_schema(value));
            }
            "enum" if value.as_array().is_some_and(|vs| vs.iter().all(Value::is_string)) => {
                out.insert(key.clone(), value.clone());
            }
            "required" | "description" | "nullable" | "minimum" | "maximum" | "minItems" | "maxItems" => {
                out.insert(key.clone(), value.clone());
            }
            _ => {}
        }
    }
    if out.contains_key("enum") && !out.contains_key("type") {
        out.insert("type".into(), json!("STRING"));
    }
    Value::Object(out)
}

fn convert_type(value: &Value, out: &mut Map<String, Value>) {
    let (name, nullable) = match value {
        Value::String(t) => (Some(t.as_str()), false),
        Value::Array(ts) => {
            let names: Vec<&str> = ts.iter().filter_map(Value::as_str).collect();
            (names.iter().copied().find(|t| *t != "null"), names.contains(&"null"))
        }
        _ => (None, false),
    };
    if let Some(name) = name {
        out.insert("type".into(), json!(name.to_ascii_uppercase()));
    }
    if nullable {
        out.insert("nullable".into(), json!(true));
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GenerateResponse {
    #[serde(default)]
    candidates: Vec<Candidate>,
    prompt_feedback: Option<PromptFeedback>,
    usage_metadata: Option<UsageMetadata>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    content: Option<Content>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Content {
    #[serde(default)]
    parts: Vec<Part>,
}

#[derive(Deserialize)]
struct Part {
    text: Option<String>,
    /// Thinking models may return their reasoning as parts marked `thought`.
    #[serde(default)]
    thought: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromptFeedback {
    block_reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UsageMetadata {
    prompt_token_count: Option<u64>,
    candidates_token_count: Option<u64>,
    /// Billed as output on thinking models, so counted as completion tokens.
    thoughts_token_count: Option<u64>,
}

pub(crate) fn answer(body: Value, attempts: u32, started: Instant) -> Result<LlmAnswer, LlmError> {
    let response: GenerateResponse = serde_json::from_value(body)
        .map_err(|e| LlmError::malformed(format!("not a generateContent response: {e}")))?;
    let usage = response.usage_metadata.map_or_else(Usage::default, |u| Usage {
        prompt_tokens: u.prompt_token_count.unwrap_or(0),
        completion_tokens: u.candidates_token_count.unwrap_or(0).saturating_add(u.thoughts_token_count.unwrap_or(0)),
    });
    let Some(candidate) = response.candidates.into_iter().next() else {
        return Err(match response.prompt_feedback.and_then(|f| f.block_reason) {
            Some(reason) => LlmError::Blocked { reason: format!("prompt blocked: {reason}") },
            None => LlmError::malformed("no candidates in the answer"),
        });
    };
    let text = candidate_text(candidate)?;
    let json = parse_answer(&text)?;
    Ok(LlmAnswer { text, json, usage, latency: started.elapsed(), attempts })
}

fn candidate_text(candidate: Candidate) -> Result<String, LlmError> {
    match candidate.finish_reason.as_deref() {
        None | Some("STOP") => {}
        Some("MAX_TOKENS") => return Err(LlmError::Truncated { finish_reason: "MAX_TOKENS".into() }),
        Some(other) => return Err(LlmError::Blocked { reason: format!("finishReason {other}") }),
    }
    let parts = candidate.content.map(|c| c.parts).unwrap_or_default();
    let text: String = parts.into_iter().filter(|p| !p.thought).filter_map(|p| p.text).collect();
    if text.trim().is_empty() {
        return Err(LlmError::malformed("the answer is empty"));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_conversion_keeps_the_openapi_subset_and_drops_the_rest() {
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "Proposal",
            "type": "object",
            "additionalProperties": false,
            "required": ["candidates"],
            "properties": {
                "candidates": {
                    "type": "array", "minItems": 1, "maxItems": 4,
                    "items": {
                        "type": "object",
                        "additionalProperties": false,
                        "required": ["weight", "kind"],
                        "properties": {
                            "weight": {"type": "number", "minimum": 0, "maximum": 1, "description": "w"},
                            "kind": {"type": "string", "enum": ["a", "b"], "maxLength": 8, "pattern": "^[ab]$"},
                            "depth": {"type": ["integer", "null"], "exclusiveMinimum": 0},
                            "level": {"enum": [1, 2, 3]},
                            "mode": {"enum": ["x", "y"]},
                        },
                    },
                },
            },
        });
        let expected = json!({
            "type": "OBJECT",
            "required": ["candidates"],
            "properties": {
                "candidates": {
                    "type": "ARRAY", "minItems": 1, "maxItems": 4,
                    "items": {
                        "type": "OBJECT",
                        "required": ["weight", "kind"],
                        "properties": {
                            "weight": {"type": "NUMBER", "minimum": 0, "maximum": 1, "description": "w"},
                            "kind": {"type": "STRING", "enum": ["a", "b"]},
                            "depth": {"type": "INTEGER", "nullable": true},
                            "level": {},
                            "mode": {"type": "STRING", "enum": ["x", "y"]},
                        },
                    },
                },
            },
        });
        assert_eq!(to_gemini_schema(&schema), expected);
    }

    #[test]
    fn a_non_object_schema_becomes_an_unconstrained_one() {
        assert_eq!(to_gemini_schema(&json!(true)), json!({}));
    }

    #[test]
    fn thought_parts_are_skipped_and_text_parts_joined() {
        let body = json!({"candidates": [{"finishReason": "STOP", "content": {"parts": [
            {"text": "thinking...", "thought": true}, {"text": "{\"a\":"}, {"text": "1}"}
        ]}}], "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 4, "thoughtsTokenCount": 5}});
        let a = answer(body, 1, Instant::now()).unwrap();
        assert_eq!(a.json, json!({"a": 1}));
        assert_eq!(a.usage, Usage { prompt_tokens: 3, completion_tokens: 9 });
    }

    #[test]
    fn no_candidates_without_a_block_reason_is_malformed() {
        assert!(matches!(answer(json!({}), 1, Instant::now()), Err(LlmError::Malformed { .. })));
        let empty = json!({"candidates": [{"finishReason": "STOP", "content": {"parts": []}}]});
        assert!(matches!(answer(empty, 1, Instant::now()), Err(LlmError::Malformed { .. })));
    }

    #[test]
    fn non_stop_finish_reasons_are_blocked_except_max_tokens() {
        let with = |r: &str| json!({"candidates": [{"finishReason": r, "content": {"parts": [{"text": "{}"}]}}]});
        assert!(matches!(answer(with("MAX_TOKENS"), 1, Instant::now()), Err(LlmError::Truncated { .. })));
        assert!(matches!(answer(with("SAFETY"), 1, Instant::now()), Err(LlmError::Blocked { .. })));
        assert!(matches!(answer(with("RECITATION"), 1, Instant::now()), Err(LlmError::Blocked { .. })));
    }
}
