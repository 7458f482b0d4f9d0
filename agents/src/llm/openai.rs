//! The OpenAI chat-completions wire format, spoken by OpenAI and by most self-hosted
//! servers (vLLM, llama.cpp, Ollama, TGI).
//!
//! Structured output is asked for with `response_format: json_schema`. Servers that do not
//! know it answer 400 naming `response_format` or `json_schema`; the client then switches,
//! for this call and every later one, to `json_object` with the schema written into the
//! system message. The answer is then only as good as the model's obedience, which is why
//! callers check it with [`super::check_schema`].

use super::client::{parse_answer, LlmAnswer, LlmClient, LlmRequest, Usage};
use super::error::{excerpt, LlmError};
use super::retry::{self, Auth, Failed, Failure, Post, RetryPolicy};
use super::settings::{LlmSettings, SchemaMode, Secret};
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

pub(crate) struct OpenAiClient {
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
    /// Set once the server has refused `json_schema`; never unset for this client.
    json_object: AtomicBool,
}

impl OpenAiClient {
    pub fn new(
        settings: &LlmSettings,
        key: Option<Secret>,
        policy: RetryPolicy,
        http: reqwest::Client,
    ) -> Result<Self, LlmError> {
        let auth = key.map(|k| Auth::new("authorization", "Bearer ", k)).transpose()?;
        let inner = Inner {
            http,
            base_url: settings.base_url().to_string(),
            url: chat_url(settings.base_url()),
            model: settings.model.clone(),
            temperature: settings.temperature,
            max_tokens: settings.max_tokens,
            auth,
            policy,
            json_object: AtomicBool::new(settings.schema_mode == SchemaMode::JsonObject),
        };
        Ok(OpenAiClient { inner: Arc::new(inner) })
    }
}

/// `{base}/v1/chat/completions`, without doubling a `/v1` the base already ends in.
fn chat_url(base: &str) -> String {
    if base.ends_with("/v1") {
        format!("{base}/chat/completions")
    } else {
        format!("{base}/v1/chat/completions")
    }
}

impl LlmClient for OpenAiClient {
    fn complete(&self, req: LlmRequest) -> BoxFuture<'static, Result<LlmAnswer, LlmError>> {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move { inner.complete(req).await })
    }

    fn describe(&self) -> String {
        format!("openai model {} at {}", self.inner.model, self.inner.base_url)
    }
}

impl Inner {
    async fn complete(&self, req: LlmRequest) -> Result<LlmAnswer, LlmError> {
        let started = Instant::now();
        let mut spent = 0;
        if !self.json_object.load(Ordering::Relaxed) {
            match self.send(&self.schema_body(&req)).await {
                Ok((body, attempts)) => return answer(body, attempts, started),
                Err(failed) if rejects_json_schema(&failed) => {
                    tracing::warn!(model = %self.model, url = %self.url, "server refused json_schema; using json_object from now on");
                    self.json_object.store(true, Ordering::Relaxed);
                    spent = failed.attempts;
                }
                Err(failed) => return Err(failed.into_error()),
            }
        }
        let (body, attempts) = self.send(&self.object_body(&req)).await.map_err(Failed::into_error)?;
        answer(body, spent + attempts, started)
    }

    async fn send(&self, body: &Value) -> Result<(Value, u32), Failed> {
        let post = Post {
            http: &self.http,
            url: &self.url,
            auth: self.auth.as_ref(),
            body,
            timeout: self.policy.attempt_timeout,
        };
        let post = &post;
        retry::run(&self.policy, move || post.attempt()).await
    }

    fn schema_body(&self, req: &LlmRequest) -> Value {
        let format = json!({
            "type": "json_schema",
            "json_schema": {"name": req.schema_name, "schema": req.schema, "strict": true},
        });
        self.body(&req.system, &req.user, format)
    }

    fn object_body(&self, req: &LlmRequest) -> Value {
        let instruction = format!("Answer with JSON matching this schema: {}", req.schema);
        let system =
            if req.system.trim().is_empty() { instruction } else { format!("{}\n\n{instruction}", req.system) };
        self.body(&system, &req.user, json!({"type": "json_object"}))
    }

    fn body(&self, system: &str, user: &str, response_format: Value) -> Value {
        json!({
            "model": self.model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user},
            ],
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "response_format": response_format,
        })
    }
}

/// A 400 that names the structured-output parameter: the server does not support it
/// (vLLM before guided decoding, older llama.cpp), as opposed to a wrong request.
fn rejects_json_schema(failed: &Failed) -> bool {
    match &failed.failure {
        Failure::Rejected { status: 400, body } => {
            let body = body.to_ascii_lowercase();
            body.contains("response_format") || body.contains("json_schema")
        }
        _ => false,
    }
}

#[derive(Deserialize)]
struct ChatResponse {
    #[serde(default)]
    choices: Vec<Choice>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct Choice {
    message: Option<Message>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    content: Option<String>,
    /// OpenAI's structured outputs put a safety refusal here instead of in `content`.
    refusal: Option<String>,
}

#[derive(Deserialize)]
struct WireUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
}

pub(crate) fn answer(body: Value, attempts: u32, started: Instant) -> Result<LlmAnswer, LlmError> {
    let response: ChatResponse =
        serde_json::from_value(body).map_err(|e| LlmError::malformed(format!("not a chat completion: {e}")))?;
    let usage = response.usage.map_or_else(Usage::default, |u| Usage {
        prompt_tokens: u.prompt_tokens.unwrap_or(0),
        completion_tokens: u.completion_tokens.unwrap_or(0),
    });
    let choice = response.choices.into_iter().next().ok_or_else(|| LlmError::malformed("no choices in the answer"))?;
    let text = content(choice)?;
    let json = parse_answer(&text)?;
    Ok(LlmAnswer { text, json, usage, latency: started.elapsed(), attempts })
}

fn content(choice: Choice) -> Result<String, LlmError> {
    match choice.finish_reason.as_deref() {
        None | Some("stop") => {}
        Some("length") => return Err(LlmError::Truncated { finish_reason: "length".into() }),
        Some("content_filter") => return Err(LlmError::Blocked { reason: "content_filter".into() }),
        Some(other) => return Err(LlmError::malformed(format!("finish_reason `{other}` where `stop` was expected"))),
    }
    let message = choice.message.ok_or_else(|| LlmError::malformed("the choice has no message"))?;
    if let Some(refusal) = message.refusal.filter(|r| !r.trim().is_empty()) {
        return Err(LlmError::Blocked { reason: format!("refusal: {}", excerpt(&refusal)) });
    }
    message.content.filter(|c| !c.trim().is_empty()).ok_or_else(|| LlmError::malformed("the answer is empty"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_url_adds_v1_only_when_missing() {
        assert_eq!(chat_url("http://h:8080"), "http://h:8080/v1/chat/completions");
        assert_eq!(chat_url("https://api.openai.com/v1"), "https://api.openai.com/v1/chat/completions");
    }

    fn reply(finish: Value, message: Value) -> Value {
        json!({"choices": [{"message": message, "finish_reason": finish}]})
    }

    #[test]
    fn missing_usage_counts_as_zero_and_null_finish_is_fine() {
        let a = answer(reply(Value::Null, json!({"content": "{\"x\":1}"})), 1, Instant::now()).unwrap();
        assert_eq!(a.usage, Usage::default());
        assert_eq!(a.json, json!({"x": 1}));
    }

    #[test]
    fn finish_reasons_other_than_stop_are_errors() {
        let msg = json!({"content": "{}"});
        let err = |finish: &str| answer(reply(json!(finish), msg.clone()), 1, Instant::now()).unwrap_err();
        assert!(matches!(err("length"), LlmError::Truncated { .. }));
        assert!(matches!(err("content_filter"), LlmError::Blocked { .. }));
        assert!(matches!(err("tool_calls"), LlmError::Malformed { .. }));
    }

    #[test]
    fn refusals_and_empty_content_are_reported() {
        let refused = answer(reply(json!("stop"), json!({"content": null, "refusal": "I can't"})), 1, Instant::now());
        assert!(matches!(refused, Err(LlmError::Blocked { .. })));
        let empty = answer(reply(json!("stop"), json!({"content": ""})), 1, Instant::now());
        assert!(matches!(empty, Err(LlmError::Malformed { .. })));
        let no_choices = answer(json!({"choices": []}), 1, Instant::now());
        assert!(matches!(no_choices, Err(LlmError::Malformed { .. })));
        let wrong_shape = answer(json!({"choices": "nope"}), 1, Instant::now());
        assert!(matches!(wrong_shape, Err(LlmError::Malformed { .. })));
    }

    #[test]
    fn only_a_400_naming_the_format_triggers_the_fallback() {
        let failed =
            |status, body: &str| Failed { failure: Failure::Rejected { status, body: body.into() }, attempts: 1 };
        assert!(rejects_json_schema(&failed(400, r#"{"error":"Unknown response_format type"}"#)));
        assert!(rejects_json_schema(&failed(400, "json_schema is not supported")));
        assert!(!rejects_json_schema(&failed(400, "model not found")));
        assert!(!rejects_json_schema(&failed(401, "bad response_format")));
    }
}
