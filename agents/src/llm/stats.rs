//! What an agent's model calls cost: calls, failures, tokens and time, counted by a
//! wrapper around any client so no backend has to remember to count.

use super::client::{LlmAnswer, LlmClient, LlmRequest, Usage};
use super::error::LlmError;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Running totals for one agent, shared between its client and whoever reports on it.
#[derive(Debug, Default)]
pub struct CallStats {
    calls: AtomicU64,
    failures: AtomicU64,
    prompt_tokens: AtomicU64,
    completion_tokens: AtomicU64,
    latency_ms: AtomicU64,
}

/// A copy of [`CallStats`] at one moment, for reports and the run journal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageTotals {
    pub calls: u64,
    pub failures: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Summed over calls, retries and back-off included.
    pub latency_ms: u64,
}

impl CallStats {
    pub fn new() -> Arc<Self> {
        Arc::new(CallStats::default())
    }

    pub fn record_success(&self, usage: Usage, latency: Duration) {
        self.count(latency);
        self.prompt_tokens.fetch_add(usage.prompt_tokens, Ordering::Relaxed);
        self.completion_tokens.fetch_add(usage.completion_tokens, Ordering::Relaxed);
    }

    pub fn record_failure(&self, latency: Duration) {
        self.count(latency);
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    fn count(&self, latency: Duration) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.latency_ms.fetch_add(millis(latency), Ordering::Relaxed);
    }

    /// The totals. Fields are read one by one, so a call finishing meanwhile may be half
    /// counted; fine for reporting, which is all this is for.
    pub fn snapshot(&self) -> UsageTotals {
        UsageTotals {
            calls: self.calls.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            prompt_tokens: self.prompt_tokens.load(Ordering::Relaxed),
            completion_tokens: self.completion_tokens.load(Ordering::Relaxed),
            latency_ms: self.latency_ms.load(Ordering::Relaxed),
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A client that counts every call into `stats` and logs one event per call (agent,
/// model, tokens, latency, attempts), never the key or the prompt.
pub struct MeteredClient {
    agent: String,
    inner: Arc<dyn LlmClient>,
    stats: Arc<CallStats>,
}

impl MeteredClient {
    pub fn new(agent: impl Into<String>, inner: Arc<dyn LlmClient>, stats: Arc<CallStats>) -> Self {
        MeteredClient { agent: agent.into(), inner, stats }
    }

    pub fn stats(&self) -> &Arc<CallStats> {
        &self.stats
    }
}

impl LlmClient for MeteredClient {
    fn complete(&self, req: LlmRequest) -> BoxFuture<'static, Result<LlmAnswer, LlmError>> {
        let call = self.inner.complete(req);
        let (agent, llm, stats) = (self.agent.clone(), self.inner.describe(), Arc::clone(&self.stats));
        Box::pin(async move {
            let started = Instant::now();
            let result = call.await;
            record(&agent, &llm, &stats, &result, started.elapsed());
            result
        })
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

fn record(agent: &str, llm: &str, stats: &CallStats, result: &Result<LlmAnswer, LlmError>, elapsed: Duration) {
    match result {
        Ok(a) => {
            stats.record_success(a.usage, a.latency);
            tracing::info!(
                agent,
                llm,
                prompt_tokens = a.usage.prompt_tokens,
                completion_tokens = a.usage.completion_tokens,
                latency_ms = millis(a.latency),
                attempts = a.attempts,
                "llm call"
            );
        }
        Err(e) => {
            stats.record_failure(elapsed);
            tracing::warn!(agent, llm, latency_ms = millis(elapsed), error = %e, "llm call failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Answers from a script, one entry per call.
    struct Scripted(Mutex<Vec<Result<LlmAnswer, LlmError>>>);

    impl LlmClient for Scripted {
        fn complete(&self, _req: LlmRequest) -> BoxFuture<'static, Result<LlmAnswer, LlmError>> {
            let next = self.0.lock().map(|mut s| s.remove(0)).unwrap_or(Err(LlmError::malformed("poisoned")));
            Box::pin(async move { next })
        }

        fn describe(&self) -> String {
            "scripted".into()
        }
    }

    fn ok(prompt: u64, completion: u64, ms: u64) -> Result<LlmAnswer, LlmError> {
        Ok(LlmAnswer {
            text: "{}".into(),
            json: serde_json::json!({}),
            usage: Usage { prompt_tokens: prompt, completion_tokens: completion },
            latency: Duration::from_millis(ms),
            attempts: 1,
        })
    }

    fn request() -> LlmRequest {
        LlmRequest { system: "s".into(), user: "u".into(), schema_name: "x".into(), schema: serde_json::json!({}) }
    }

    #[actix_rt::test]
    async fn metered_client_counts_calls_tokens_failures_and_latency() {
        let script = vec![ok(10, 2, 30), Err(LlmError::Blocked { reason: "SAFETY".into() }), ok(5, 1, 20)];
        let metered = MeteredClient::new("actor", Arc::new(Scripted(Mutex::new(script))), CallStats::new());
        for _ in 0..3 {
            let _ = metered.complete(request()).await;
        }
        let totals = metered.stats().snapshot();
        assert_eq!((totals.calls, totals.failures), (3, 1));
        assert_eq!((totals.prompt_tokens, totals.completion_tokens), (15, 3));
        assert!(totals.latency_ms >= 50, "{totals:?}");
        assert_eq!(metered.describe(), "scripted");
    }

    #[test]
    fn totals_serialise_with_plain_field_names() {
        let totals = UsageTotals { calls: 1, failures: 0, prompt_tokens: 2, completion_tokens: 3, latency_ms: 4 };
        let json = serde_json::to_value(totals).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"calls": 1, "failures": 0, "prompt_tokens": 2, "completion_tokens": 3, "latency_ms": 4})
        );
    }
}
