//! The one trait every model backend implements, what goes in and what comes out.

use super::error::{excerpt, LlmError};
use super::retry::RetryPolicy;
use super::settings::{Backend, LlmSettings, Secret};
use super::{gemini::GeminiClient, openai::OpenAiClient};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// One question for a model, with the JSON Schema its answer must follow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmRequest {
    pub system: String,
    pub user: String,
    /// A short identifier for the schema (`[a-zA-Z0-9_-]`, as OpenAI requires).
    pub schema_name: String,
    pub schema: serde_json::Value,
}

/// A model's answer. `json` is `text` parsed; whether it satisfies the schema is for the
/// caller to check (see [`super::check_schema`]), since not every server enforces it.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmAnswer {
    pub text: String,
    pub json: serde_json::Value,
    pub usage: Usage,
    /// Wall time of the whole call, retries and back-off included.
    pub latency: Duration,
    /// HTTP requests sent, counting retries and a schema-mode fallback.
    pub attempts: u32,
}

/// Tokens billed for a call, as the server reports them (zero when it does not).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl std::ops::Add for Usage {
    type Output = Usage;
    fn add(self, other: Usage) -> Usage {
        Usage {
            // Counts come from the server: saturate rather than overflow on absurd ones.
            prompt_tokens: self.prompt_tokens.saturating_add(other.prompt_tokens),
            completion_tokens: self.completion_tokens.saturating_add(other.completion_tokens),
        }
    }
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, other: Usage) {
        *self = *self + other;
    }
}

/// A language model behind some server. Futures are `'static` so an actor can hold an
/// `Arc<dyn LlmClient>` and await a call without borrowing itself.
pub trait LlmClient: Send + Sync + 'static {
    fn complete(&self, req: LlmRequest) -> BoxFuture<'static, Result<LlmAnswer, LlmError>>;
    /// Backend, model and server, for logs and run reports; never the key.
    fn describe(&self) -> String;
}

/// The client the settings ask for, with the key read from the environment.
pub fn client(settings: &LlmSettings) -> Result<Arc<dyn LlmClient>, LlmError> {
    settings.validate("llm")?;
    client_with(settings, settings.api_key()?, RetryPolicy::from_settings(settings))
}

/// [`client`] with the key and the retry policy given instead of taken from the
/// environment and the settings (`max_retries`, `timeout_s`): for tests and embedders.
pub fn client_with(
    settings: &LlmSettings,
    key: Option<Secret>,
    policy: RetryPolicy,
) -> Result<Arc<dyn LlmClient>, LlmError> {
    settings.validate("llm")?;
    let http = reqwest::Client::builder()
        .user_agent(concat!("rectune-agents/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| LlmError::config("llm", format!("cannot build an HTTP client: {e}")))?;
    Ok(match settings.backend {
        Backend::OpenAi => Arc::new(OpenAiClient::new(settings, key, policy, http)?),
        Backend::Gemini => Arc::new(GeminiClient::new(settings, key, policy, http)?),
    })
}

/// Parses a model's answer as JSON. A Markdown code fence around it is tolerated: models
/// asked for plain JSON mode (no schema enforcement) often add one.
pub(crate) fn parse_answer(text: &str) -> Result<serde_json::Value, LlmError> {
    if text.trim().is_empty() {
        return Err(LlmError::malformed("the answer is empty"));
    }
    serde_json::from_str(strip_fence(text))
        .map_err(|e| LlmError::InvalidJson { reason: e.to_string(), text: excerpt(text) })
}

fn strip_fence(text: &str) -> &str {
    let text = text.trim();
    let Some(body) = text.strip_prefix("```").and_then(|t| t.strip_suffix("```")) else { return text };
    let body = body.strip_prefix("json").unwrap_or(body);
    body.trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_adds_up() {
        let mut total = Usage { prompt_tokens: 10, completion_tokens: 2 };
        total += Usage { prompt_tokens: 5, completion_tokens: 3 };
        assert_eq!(total, Usage { prompt_tokens: 15, completion_tokens: 5 });
    }

    #[test]
    fn answers_parse_with_or_without_a_code_fence() {
        assert_eq!(parse_answer(" {\"a\":1} ").unwrap(), serde_json::json!({"a": 1}));
        assert_eq!(parse_answer("```json\n{\"a\":1}\n```").unwrap(), serde_json::json!({"a": 1}));
        assert_eq!(parse_answer("```\n[1]\n```").unwrap(), serde_json::json!([1]));
    }

    #[test]
    fn empty_answer_is_malformed_and_prose_is_invalid_json() {
        assert!(matches!(parse_answer("  "), Err(LlmError::Malformed { .. })));
        match parse_answer("Sure! Here is the config.") {
            Err(LlmError::InvalidJson { text, .. }) => assert_eq!(text, "Sure! Here is the config."),
            other => panic!("expected InvalidJson, got {other:?}"),
        }
    }
}
