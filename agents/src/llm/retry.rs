//! Sending a request to a model server until it answers or clearly will not.
//!
//! Each attempt's outcome is sorted into: an answer, a transient failure (429, 408, 5xx,
//! timeout, transport error: wait and try again), a rejection (other 4xx: the request is
//! wrong, retrying cannot help) or a fatal error. Waits use exponential back-off with full
//! jitter, so that agents which failed together do not retry together, and honour a
//! server's `Retry-After` up to a cap.

use super::error::{excerpt, LlmError};
use super::settings::{LlmSettings, Secret};
use reqwest::header::{HeaderName, HeaderValue, RETRY_AFTER};
use std::future::Future;
use std::time::Duration;

pub use crate::retry::RetryPolicy;

impl RetryPolicy {
    /// The standard waits with this backend's attempts and per-attempt timeout.
    pub fn from_settings(settings: &LlmSettings) -> Self {
        RetryPolicy::new(settings.max_retries.saturating_add(1), Duration::from_secs(settings.timeout_s))
    }
}

/// A `Retry-After` header in delta-seconds form (see [`crate::retry::parse_retry_after`]).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    crate::retry::parse_retry_after(Some(value))
}

/// Why one attempt did not produce an answer.
#[derive(Debug)]
pub(crate) enum Failure {
    Transient {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// A 4xx other than 408/429, with the whole (redacted) body so a backend can read it.
    Rejected {
        status: u16,
        body: String,
    },
    Fatal(LlmError),
}

/// The failure that ended a call, after `attempts` requests.
#[derive(Debug)]
pub(crate) struct Failed {
    pub failure: Failure,
    pub attempts: u32,
}

impl Failed {
    pub fn into_error(self) -> LlmError {
        match self.failure {
            Failure::Transient { reason, .. } => LlmError::Unavailable { attempts: self.attempts, reason },
            Failure::Rejected { status, body } => LlmError::Http { status, body: excerpt(&body) },
            Failure::Fatal(e) => e,
        }
    }
}

/// Runs `attempt` until it succeeds, fails for good, or `policy.max_attempts` transient
/// failures have happened. Returns the value and how many attempts it took.
pub(crate) async fn run<T, F, Fut>(policy: &RetryPolicy, mut attempt: F) -> Result<(T, u32), Failed>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    let max = policy.max_attempts.max(1);
    let mut n = 1;
    loop {
        match attempt().await {
            Ok(value) => return Ok((value, n)),
            Err(Failure::Transient { retry_after, reason }) if n < max => {
                let wait = policy.jittered(n - 1, retry_after);
                tracing::debug!(attempt = n, wait_ms = wait.as_millis() as u64, %reason, "model server busy, retrying");
                actix_rt::time::sleep(wait).await;
                n += 1;
            }
            Err(failure) => return Err(Failed { failure, attempts: n }),
        }
    }
}

/// An API key and the header that carries it.
#[derive(Debug, Clone)]
pub(crate) struct Auth {
    name: HeaderName,
    value: HeaderValue,
    key: Secret,
}

impl Auth {
    /// `prefix` goes before the key in the header value (`"Bearer "` for OpenAI).
    pub fn new(name: &'static str, prefix: &str, key: Secret) -> Result<Self, LlmError> {
        let mut value = HeaderValue::from_str(&format!("{prefix}{}", key.expose())).map_err(|_| {
            LlmError::config("llm.api_key_env", "the API key contains characters not allowed in a header")
        })?;
        // Keeps the value out of reqwest's and hyper's own Debug output.
        value.set_sensitive(true);
        Ok(Auth { name: HeaderName::from_static(name), value, key })
    }

    /// `text` with the key blanked, in case a server echoes it in an error body.
    fn redact(&self, text: String) -> String {
        if text.contains(self.key.expose()) {
            text.replace(self.key.expose(), "***")
        } else {
            text
        }
    }
}

/// One JSON POST, ready to be sent as many times as needed.
pub(crate) struct Post<'a> {
    pub http: &'a reqwest::Client,
    pub url: &'a str,
    pub auth: Option<&'a Auth>,
    pub body: &'a serde_json::Value,
    pub timeout: Duration,
}

impl Post<'_> {
    /// Sends the request once and sorts the outcome.
    pub async fn attempt(&self) -> Result<serde_json::Value, Failure> {
        let mut request = self.http.post(self.url).json(self.body).timeout(self.timeout);
        if let Some(auth) = self.auth {
            request = request.header(auth.name.clone(), auth.value.clone());
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let retry_after = response.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
        let body = response.text().await.map_err(transport)?;
        let body = match self.auth {
            Some(auth) => auth.redact(body),
            None => body,
        };
        classify(status, retry_after, body)
    }
}

fn classify(status: u16, retry_after: Option<Duration>, body: String) -> Result<serde_json::Value, Failure> {
    match status {
        200..=299 => serde_json::from_str(&body).map_err(|e| {
            Failure::Fatal(LlmError::malformed(format!("the body is not JSON ({e}): {}", excerpt(&body))))
        }),
        429 | 503 => Err(Failure::Transient { reason: format!("HTTP {status}: {}", excerpt(&body)), retry_after }),
        408 | 500..=599 => {
            Err(Failure::Transient { reason: format!("HTTP {status}: {}", excerpt(&body)), retry_after: None })
        }
        _ => Err(Failure::Rejected { status, body }),
    }
}

fn transport(e: reqwest::Error) -> Failure {
    let reason = if e.is_timeout() {
        "the attempt timed out".to_string()
    } else if e.is_connect() {
        format!("cannot connect: {}", e.without_url())
    } else {
        format!("transport error: {}", e.without_url())
    };
    Failure::Transient { reason, retry_after: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy::from_settings(&LlmSettings::default())
    }

    #[test]
    fn retry_after_reads_seconds_and_ignores_dates_and_garbage() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("0"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn statuses_are_sorted_into_retry_or_not() {
        let transient = |s| matches!(classify(s, None, String::new()), Err(Failure::Transient { .. }));
        assert!([408, 429, 500, 502, 503, 504].into_iter().all(transient));
        assert!(matches!(classify(400, None, "bad".into()), Err(Failure::Rejected { status: 400, .. })));
        assert!(matches!(classify(404, None, String::new()), Err(Failure::Rejected { status: 404, .. })));
        assert!(matches!(classify(200, None, "<html>".into()), Err(Failure::Fatal(LlmError::Malformed { .. }))));
        assert_eq!(classify(200, None, "{}".into()).unwrap(), serde_json::json!({}));
    }

    #[test]
    fn retry_after_is_kept_only_for_429_and_503() {
        let after = Some(Duration::from_secs(2));
        let kept = |s| match classify(s, after, String::new()) {
            Err(Failure::Transient { retry_after, .. }) => retry_after,
            _ => None,
        };
        assert_eq!((kept(429), kept(503), kept(500)), (after, after, None));
    }

    #[test]
    fn auth_redacts_an_echoed_key() {
        let auth = Auth::new("authorization", "Bearer ", Secret::new("sk-123")).unwrap();
        assert_eq!(auth.redact("bad key sk-123".into()), "bad key ***");
        assert!(!format!("{auth:?}").contains("sk-123"));
    }

    #[actix_rt::test]
    async fn run_stops_after_max_attempts_with_the_last_reason() {
        let p = RetryPolicy { max_attempts: 3, base: Duration::from_millis(1), ..policy() };
        let mut calls = 0;
        let failed = run(&p, || {
            calls += 1;
            let reason = format!("HTTP 500 #{calls}");
            async move { Err::<(), _>(Failure::Transient { reason, retry_after: None }) }
        })
        .await
        .unwrap_err();
        assert_eq!(calls, 3);
        assert_eq!(failed.into_error(), LlmError::Unavailable { attempts: 3, reason: "HTTP 500 #3".into() });
    }

    #[actix_rt::test]
    async fn run_does_not_retry_a_rejection() {
        let mut calls = 0;
        let failed = run(&policy(), || {
            calls += 1;
            async { Err::<(), _>(Failure::Rejected { status: 400, body: "no".into() }) }
        })
        .await
        .unwrap_err();
        assert_eq!((calls, failed.attempts), (1, 1));
    }
}
