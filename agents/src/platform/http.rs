//! The experiment platform over HTTP, written to `design/experiment-platform.md` and not
//! to any one server: every status the contract names maps to a [`PlatformError`], 429
//! and 5xx are retried with backoff (honouring `Retry-After`), and a 2xx body that does
//! not follow the contract is an error, never a guess.

use super::{ExperimentRead, LaunchRequest, Launched, MetricInfo, ParamInfo, Platform, PlatformError};
use crate::retry::{retry_after, RetryPolicy};
use futures::future::{BoxFuture, FutureExt};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tracing::warn;

/// Where the platform is and how to talk to it. The token itself never appears here:
/// only the name of the environment variable that holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpPlatformSettings {
    pub url: String,
    /// Environment variable holding a bearer token, if the platform wants one.
    pub token_env: Option<String>,
    pub timeout_s: u64,
    /// Attempts per request on 429/5xx/transport errors, the first included.
    pub attempts: u32,
}

impl Default for HttpPlatformSettings {
    fn default() -> Self {
        HttpPlatformSettings { url: String::new(), token_env: None, timeout_s: 30, attempts: 6 }
    }
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Debug, Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
}

#[derive(Deserialize)]
struct MetricCatalogue {
    metrics: Vec<MetricInfo>,
}

#[derive(Deserialize)]
struct ParamCatalogue {
    parameters: Vec<ParamInfo>,
}

struct Inner {
    base: String,
    http: reqwest::Client,
    token: Option<String>,
    policy: RetryPolicy,
}

/// A platform client; cheap to clone, every call is a `'static` future.
#[derive(Clone)]
pub struct HttpPlatform {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for HttpPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpPlatform").field("base", &self.inner.base).field("token", &"***").finish()
    }
}

/// One request: what the retry loop needs to send it again unchanged.
struct Call {
    method: Method,
    path: String,
    body: Option<serde_json::Value>,
    key: Option<String>,
}

impl HttpPlatform {
    pub fn new(settings: &HttpPlatformSettings) -> Result<HttpPlatform, String> {
        let timeout = Duration::from_secs(settings.timeout_s.max(1));
        HttpPlatform::with_policy(settings, RetryPolicy::new(settings.attempts, timeout))
    }

    /// A client with its own waits between attempts (tests make them tiny).
    pub fn with_policy(settings: &HttpPlatformSettings, policy: RetryPolicy) -> Result<HttpPlatform, String> {
        let base = settings.url.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(format!(
                "platform.url: `{}` is not an http(s) URL; set it to the platform's base URL, e.g. http://127.0.0.1:8088",
                settings.url
            ));
        }
        let token = match &settings.token_env {
            None => None,
            Some(var) => Some(std::env::var(var).map_err(|_| {
                format!("platform.token_env names `{var}`, which is not set; export {var}=<token> or remove platform.token_env")
            })?),
        };
        let http = reqwest::Client::builder()
            .timeout(policy.attempt_timeout)
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        Ok(HttpPlatform { inner: Arc::new(Inner { base, http, token, policy }) })
    }

    fn call<T: DeserializeOwned + Send + 'static>(&self, call: Call) -> BoxFuture<'static, Result<T, PlatformError>> {
        let inner = self.inner.clone();
        async move { inner.send(&call).await }.boxed()
    }
}

/// What one attempt came to.
enum Attempt<T> {
    Done(Result<T, PlatformError>),
    Retry { why: String, after: Option<Duration> },
}

impl Inner {
    async fn send<T: DeserializeOwned>(&self, call: &Call) -> Result<T, PlatformError> {
        let mut last = String::new();
        let attempts = self.policy.max_attempts.max(1);
        for attempt in 1..=attempts {
            match self.attempt(call).await {
                Attempt::Done(result) => return result,
                Attempt::Retry { why, after } => {
                    if attempt < attempts {
                        let wait = self.policy.jittered(attempt - 1, after);
                        warn!(path = %call.path, attempt, %why, wait_ms = wait.as_millis() as u64, "platform unavailable; retrying");
                        actix_rt::time::sleep(wait).await;
                    }
                    last = why;
                }
            }
        }
        Err(PlatformError::Unavailable(format!("{} {}: {last} (after {} attempts)", call.method, call.path, attempts)))
    }

    async fn attempt<T: DeserializeOwned>(&self, call: &Call) -> Attempt<T> {
        let mut req = self.http.request(call.method.clone(), format!("{}{}", self.base, call.path));
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(key) = &call.key {
            req = req.header("Idempotency-Key", key);
        }
        if let Some(body) = &call.body {
            req = req.json(body);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return Attempt::Retry { why: transport(&e), after: None },
        };
        let status = resp.status();
        let after = retry_after(resp.headers());
        let body = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => return Attempt::Retry { why: transport(&e), after: None },
        };
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            return Attempt::Retry { why: format!("{status}: {}", excerpt(&body)), after };
        }
        Attempt::Done(interpret(call, status, &body))
    }
}

fn transport(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        format!("cannot connect: {e}")
    } else {
        e.to_string()
    }
}

fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    one_line.chars().take(200).collect()
}

/// A final answer to `GET /v1/experiments/{id}` (status and body), read exactly as the
/// client reads one. Never panics, whatever the bytes; for property tests and fuzzing.
pub fn parse_read(status: u16, body: &[u8]) -> Result<ExperimentRead, PlatformError> {
    parse_final(Method::GET, "/v1/experiments/x", None, status, body)
}

/// Like [`parse_read`] for an answer to `POST /v1/experiments` sent with an idempotency key.
pub fn parse_launch(status: u16, body: &[u8]) -> Result<Launched, PlatformError> {
    parse_final(Method::POST, "/v1/experiments", Some("key".into()), status, body)
}

fn parse_final<T: DeserializeOwned>(
    method: Method,
    path: &str,
    key: Option<String>,
    status: u16,
    body: &[u8],
) -> Result<T, PlatformError> {
    let status = StatusCode::from_u16(status).map_err(|e| PlatformError::Protocol(format!("status {status}: {e}")))?;
    interpret(&Call { method, path: path.into(), body: None, key }, status, body)
}

/// Maps a final (non-retryable) response to its value or error.
fn interpret<T: DeserializeOwned>(call: &Call, status: StatusCode, body: &[u8]) -> Result<T, PlatformError> {
    if status.is_success() {
        return serde_json::from_slice(body).map_err(|e| {
            PlatformError::Protocol(format!(
                "{} {}: the answer does not follow the contract ({e})",
                call.method, call.path
            ))
        });
    }
    let detail = serde_json::from_slice::<ErrorBody>(body).ok().map(|b| b.error);
    let message = detail.as_ref().map_or_else(|| excerpt(body), |d| d.message.clone());
    Err(match status {
        StatusCode::CONFLICT if call.key.is_some() => PlatformError::KeyConflict(call.key.clone().unwrap_or_default()),
        StatusCode::NOT_FOUND => PlatformError::NotFound(format!("{} ({message})", call.path)),
        _ => PlatformError::Rejected {
            code: detail.map_or_else(|| status.as_u16().to_string(), |d| d.code),
            message: format!("{} {} -> {status}: {message}", call.method, call.path),
        },
    })
}

fn id_path(experiment_id: &str, suffix: &str) -> String {
    // Ids come from the platform; keep them from reshaping the path.
    let safe: String = experiment_id
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("/v1/experiments/{safe}{suffix}")
}

impl Platform for HttpPlatform {
    fn launch(&self, key: String, req: LaunchRequest) -> BoxFuture<'static, Result<Launched, PlatformError>> {
        let body = match serde_json::to_value(&req) {
            Ok(b) => b,
            Err(e) => return futures::future::ready(Err(PlatformError::Protocol(e.to_string()))).boxed(),
        };
        self.call(Call { method: Method::POST, path: "/v1/experiments".into(), body: Some(body), key: Some(key) })
    }

    fn read(&self, experiment_id: String) -> BoxFuture<'static, Result<ExperimentRead, PlatformError>> {
        self.call(Call { method: Method::GET, path: id_path(&experiment_id, ""), body: None, key: None })
    }

    fn stop(&self, experiment_id: String) -> BoxFuture<'static, Result<ExperimentRead, PlatformError>> {
        let body = Some(serde_json::json!({}));
        self.call(Call { method: Method::POST, path: id_path(&experiment_id, "/stop"), body, key: None })
    }

    fn metrics(&self) -> BoxFuture<'static, Result<Vec<MetricInfo>, PlatformError>> {
        let call = self.call::<MetricCatalogue>(Call {
            method: Method::GET,
            path: "/v1/metrics".into(),
            body: None,
            key: None,
        });
        async move { call.await.map(|c| c.metrics) }.boxed()
    }

    fn parameters(&self) -> BoxFuture<'static, Result<Option<Vec<ParamInfo>>, PlatformError>> {
        let call = self.call::<ParamCatalogue>(Call {
            method: Method::GET,
            path: "/v1/parameters".into(),
            body: None,
            key: None,
        });
        async move {
            match call.await {
                Ok(c) => Ok(Some(c.parameters)),
                // The catalogue is optional: a platform without one trusts the task.
                Err(PlatformError::NotFound(_)) => Ok(None),
                Err(e) => Err(e),
            }
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_name_the_field_and_the_fix() {
        let bad = HttpPlatformSettings { url: "127.0.0.1:8088".into(), ..Default::default() };
        let err = HttpPlatform::new(&bad).unwrap_err();
        assert!(err.starts_with("platform.url:") && err.contains("http://"), "{err}");
        let missing = HttpPlatformSettings {
            url: "http://127.0.0.1:1".into(),
            token_env: Some("RECTUNE_TEST_SURELY_UNSET_TOKEN".into()),
            ..Default::default()
        };
        let err = HttpPlatform::new(&missing).unwrap_err();
        assert!(err.contains("export RECTUNE_TEST_SURELY_UNSET_TOKEN="), "{err}");
    }

    #[test]
    fn experiment_ids_cannot_reshape_the_path() {
        assert_eq!(id_path("exp-42", "/stop"), "/v1/experiments/exp-42/stop");
        assert_eq!(id_path("../metrics?x", ""), "/v1/experiments/..%2Fmetrics%3Fx");
    }

    #[test]
    fn debug_output_hides_the_token() {
        std::env::set_var("RECTUNE_TEST_PLATFORM_TOKEN_DEBUG", "s3cr3t");
        let s = HttpPlatformSettings {
            url: "http://127.0.0.1:1".into(),
            token_env: Some("RECTUNE_TEST_PLATFORM_TOKEN_DEBUG".into()),
            ..Default::default()
        };
        let p = HttpPlatform::new(&s).expect("client");
        assert!(!format!("{p:?}").contains("s3cr3t"));
    }
}
