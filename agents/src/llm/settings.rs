//! What a model client needs to know: backend, server, model, sampling and patience. One
//! `LlmSettings` sits under each agent that talks to a model (`agents.<agent>.llm`).
//!
//! The API key itself is never part of the settings, only the name of the environment
//! variable that holds it, so a configuration file can be shared without leaking it.

use super::error::LlmError;
use serde::{Deserialize, Serialize};

const OPENAI_URL: &str = "http://127.0.0.1:8080";
const GEMINI_URL: &str = "https://generativelanguage.googleapis.com";
const GEMINI_KEY_VAR: &str = "GEMINI_API_KEY";
/// More retries than this only hides an outage from the operator.
const MAX_RETRIES: u32 = 10;

/// Which wire format the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// `/v1/chat/completions`: OpenAI and the servers that copy it (vLLM, llama.cpp, Ollama).
    #[default]
    OpenAi,
    /// Google's Generative Language API (`generateContent`).
    Gemini,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::OpenAi => "openai",
            Backend::Gemini => "gemini",
        }
    }
}

/// How an OpenAI-compatible server is asked for JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SchemaMode {
    /// `response_format: json_schema` (strict). Falls back to `JsonObject` by itself when
    /// the server rejects it.
    #[default]
    JsonSchema,
    /// `response_format: json_object`, with the schema spelled out in the system message.
    JsonObject,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlmSettings {
    pub backend: Backend,
    /// Server root; empty means the backend's usual one (see [`LlmSettings::base_url`]).
    pub base_url: String,
    pub model: String,
    pub temperature: f64,
    pub max_tokens: u32,
    /// Deadline of one attempt, from connecting to the last byte of the answer.
    pub timeout_s: u64,
    /// Name of the environment variable holding the API key. Unset: no key for OpenAI
    /// (a local server), `GEMINI_API_KEY` for Gemini.
    pub api_key_env: Option<String>,
    /// Retries after the first attempt on 429, 5xx, timeouts and transport errors.
    pub max_retries: u32,
    /// OpenAI only.
    pub schema_mode: SchemaMode,
}

impl Default for LlmSettings {
    fn default() -> Self {
        LlmSettings {
            backend: Backend::default(),
            base_url: String::new(),
            model: String::new(),
            temperature: 0.0,
            max_tokens: 512,
            timeout_s: 60,
            api_key_env: None,
            max_retries: 4,
            schema_mode: SchemaMode::default(),
        }
    }
}

impl LlmSettings {
    /// The server root without a trailing slash, the backend's default when unset.
    pub fn base_url(&self) -> &str {
        let url = self.base_url.trim();
        if !url.is_empty() {
            return url.trim_end_matches('/');
        }
        match self.backend {
            Backend::OpenAi => OPENAI_URL,
            Backend::Gemini => GEMINI_URL,
        }
    }

    /// The environment variable the key is read from, if the backend needs one.
    pub fn key_var(&self) -> Option<&str> {
        match (&self.api_key_env, self.backend) {
            (Some(var), _) => Some(var.as_str()),
            (None, Backend::Gemini) => Some(GEMINI_KEY_VAR),
            (None, Backend::OpenAi) => None,
        }
    }

    /// Checks every setting; `at` is where these settings live in the configuration
    /// (e.g. `agents.actor.llm`) so the error points at the line to fix.
    pub fn validate(&self, at: &str) -> Result<(), LlmError> {
        match self.first_problem() {
            Some((field, message)) => Err(LlmError::config(format!("{at}.{field}"), message)),
            None => Ok(()),
        }
    }

    fn first_problem(&self) -> Option<(&'static str, String)> {
        if self.model.trim().is_empty() {
            return Some(("model", "is empty; set the model name the server serves".into()));
        }
        if !(0.0..=2.0).contains(&self.temperature) {
            return Some(("temperature", format!("{} is outside [0, 2]", self.temperature)));
        }
        if self.max_tokens == 0 {
            return Some(("max_tokens", "must be at least 1".into()));
        }
        if self.timeout_s == 0 {
            return Some(("timeout_s", "must be at least 1 second".into()));
        }
        if self.max_retries > MAX_RETRIES {
            return Some(("max_retries", format!("{} is above the limit of {MAX_RETRIES}", self.max_retries)));
        }
        self.url_problem().map(|m| ("base_url", m)).or_else(|| self.key_var_problem().map(|m| ("api_key_env", m)))
    }

    fn url_problem(&self) -> Option<String> {
        match reqwest::Url::parse(self.base_url()) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => None,
            Ok(url) => Some(format!("scheme `{}` is not http or https", url.scheme())),
            Err(e) => Some(format!("`{}` is not a URL ({e})", self.base_url())),
        }
    }

    fn key_var_problem(&self) -> Option<String> {
        let var = self.api_key_env.as_deref()?;
        let bad = var.is_empty() || var.contains(['=', '\0']) || var.chars().any(char::is_whitespace);
        bad.then(|| format!("`{var}` is not an environment variable name; give the name, not the key"))
    }

    /// The API key from the environment: `None` when the backend needs none, an error
    /// naming the variable when it needs one that is unset or empty.
    pub fn api_key(&self) -> Result<Option<Secret>, LlmError> {
        self.api_key_from(|var| std::env::var(var).ok())
    }

    /// [`LlmSettings::api_key`] with the environment given, so tests need not mutate it.
    pub fn api_key_from(&self, lookup: impl Fn(&str) -> Option<String>) -> Result<Option<Secret>, LlmError> {
        let Some(var) = self.key_var() else { return Ok(None) };
        match lookup(var) {
            Some(key) if !key.trim().is_empty() => Ok(Some(Secret::new(key.trim()))),
            _ => Err(LlmError::MissingKey { var: var.to_string() }),
        }
    }
}

/// A value that must not be printed: its `Debug` is `***` and it has no `Display`, so a
/// stray `{:?}` or a derived `Debug` around it cannot leak it into a log.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(backend: Backend) -> LlmSettings {
        LlmSettings { backend, model: "m".into(), ..LlmSettings::default() }
    }

    #[test]
    fn empty_base_url_resolves_per_backend_and_trailing_slash_is_dropped() {
        assert_eq!(settings(Backend::OpenAi).base_url(), "http://127.0.0.1:8080");
        assert_eq!(settings(Backend::Gemini).base_url(), "https://generativelanguage.googleapis.com");
        let custom = LlmSettings { base_url: "http://gpu:8000/v1/".into(), ..settings(Backend::OpenAi) };
        assert_eq!(custom.base_url(), "http://gpu:8000/v1");
    }

    #[test]
    fn deserialises_lowercase_backend_and_fills_defaults() {
        let s: LlmSettings = serde_json::from_str(r#"{"backend":"gemini","model":"gemini-2.0-flash"}"#).unwrap();
        assert_eq!(s.backend, Backend::Gemini);
        assert_eq!((s.max_tokens, s.timeout_s, s.max_retries), (512, 60, 4));
        assert_eq!(s.schema_mode, SchemaMode::JsonSchema);
        let mode: LlmSettings = serde_json::from_str(r#"{"model":"m","schema_mode":"json_object"}"#).unwrap();
        assert_eq!(mode.schema_mode, SchemaMode::JsonObject);
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = serde_json::from_str::<LlmSettings>(r#"{"model":"m","temprature":0.2}"#).unwrap_err();
        assert!(err.to_string().contains("temprature"), "{err}");
    }

    #[test]
    fn validation_names_the_field_and_the_fix() {
        let hot = LlmSettings { temperature: 3.5, ..settings(Backend::OpenAi) };
        let err = hot.validate("agents.actor.llm").unwrap_err();
        assert_eq!(err.to_string(), "agents.actor.llm.temperature: 3.5 is outside [0, 2]");

        let cases = [
            (LlmSettings { model: " ".into(), ..settings(Backend::OpenAi) }, "llm.model"),
            (LlmSettings { temperature: f64::NAN, ..settings(Backend::OpenAi) }, "llm.temperature"),
            (LlmSettings { max_tokens: 0, ..settings(Backend::OpenAi) }, "llm.max_tokens"),
            (LlmSettings { timeout_s: 0, ..settings(Backend::OpenAi) }, "llm.timeout_s"),
            (LlmSettings { max_retries: 99, ..settings(Backend::OpenAi) }, "llm.max_retries"),
            (LlmSettings { base_url: "ftp://x".into(), ..settings(Backend::OpenAi) }, "llm.base_url"),
            (LlmSettings { base_url: "not a url".into(), ..settings(Backend::OpenAi) }, "llm.base_url"),
            (LlmSettings { api_key_env: Some("sk-abc def".into()), ..settings(Backend::OpenAi) }, "llm.api_key_env"),
        ];
        for (s, field) in cases {
            match s.validate("llm") {
                Err(LlmError::Config { field: f, .. }) => assert_eq!(f, field),
                other => panic!("expected a config error on {field}, got {other:?}"),
            }
        }
        assert!(settings(Backend::Gemini).validate("llm").is_ok());
    }

    #[test]
    fn gemini_without_its_variable_names_the_variable_to_set() {
        let err = settings(Backend::Gemini).api_key_from(|_| None).unwrap_err();
        assert_eq!(err.to_string(), "set the environment variable GEMINI_API_KEY to your API key");
        let empty = settings(Backend::Gemini).api_key_from(|_| Some("  ".into())).unwrap_err();
        assert_eq!(empty, LlmError::MissingKey { var: "GEMINI_API_KEY".into() });
    }

    #[test]
    fn key_is_read_from_the_configured_variable_and_openai_needs_none_by_default() {
        assert_eq!(settings(Backend::OpenAi).api_key_from(|_| panic!("no lookup expected")), Ok(None));
        let custom = LlmSettings { api_key_env: Some("MY_KEY".into()), ..settings(Backend::OpenAi) };
        let key = custom.api_key_from(|var| (var == "MY_KEY").then(|| "sk-1".to_string())).unwrap();
        assert_eq!(key.map(|k| k.expose().to_string()), Some("sk-1".into()));
        let missing = custom.api_key_from(|_| None).unwrap_err();
        assert_eq!(missing, LlmError::MissingKey { var: "MY_KEY".into() });
    }

    #[test]
    fn secret_debug_never_shows_the_value() {
        let secret = Secret::new("sk-live-123");
        assert_eq!(format!("{secret:?}"), "***");
        assert!(!format!("{:?}", Some(secret)).contains("sk-live"));
    }
}
