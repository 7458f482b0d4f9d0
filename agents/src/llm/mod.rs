//! Talking to language models. Agents hold an `Arc<dyn LlmClient>` and send it an
//! [`LlmRequest`]: a system and a user message plus the JSON Schema the answer must follow.
//! Two wire formats are spoken: OpenAI chat completions (OpenAI, vLLM, llama.cpp, ...)
//! and Google's Gemini `generateContent`.
//!
//! Guarantees:
//! - 429, 408, 5xx, timeouts and connection errors are retried with jittered exponential
//!   back-off (honouring `Retry-After`), at most `max_retries` times; other 4xx are not.
//! - An answer is returned only if its text parses as JSON; conformance to the schema is
//!   the caller's to check with [`check_schema`].
//! - API keys come from an environment variable named in the settings, travel only in a
//!   request header, and never appear in `Debug` output, errors or logs.
//! - Wrap a client in [`MeteredClient`] to count an agent's calls, tokens and time.

mod client;
mod error;
mod gemini;
mod openai;
mod retry;
mod schema;
mod settings;
mod stats;

pub use client::{client, client_with, LlmAnswer, LlmClient, LlmRequest, Usage};
pub use error::LlmError;
pub use gemini::to_gemini_schema;
pub use retry::{parse_retry_after, RetryPolicy};
pub use schema::check_schema;
pub use settings::{Backend, LlmSettings, SchemaMode, Secret};
pub use stats::{CallStats, MeteredClient, UsageTotals};

/// The body of a successful (2xx) OpenAI-compatible chat completion, parsed and checked
/// exactly as the client does it (JSON, then the wire format, then the answer's text as
/// JSON). Never panics, whatever the bytes; for property tests and fuzzing.
pub fn parse_openai_body(body: &[u8]) -> Result<LlmAnswer, LlmError> {
    openai::answer(json_body(body)?, 1, std::time::Instant::now())
}

/// Like [`parse_openai_body`] for a Gemini `generateContent` answer.
pub fn parse_gemini_body(body: &[u8]) -> Result<LlmAnswer, LlmError> {
    gemini::answer(json_body(body)?, 1, std::time::Instant::now())
}

fn json_body(body: &[u8]) -> Result<serde_json::Value, LlmError> {
    serde_json::from_slice(body).map_err(|e| LlmError::Malformed { reason: format!("the body is not JSON ({e})") })
}
