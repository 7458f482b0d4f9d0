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
