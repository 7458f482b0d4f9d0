//! Why a model call failed. The variants separate what waiting could fix (`Unavailable`,
//! already retried by the time the caller sees it) from what asking again unchanged will
//! not fix (a rejected request, a truncated or blocked answer, an answer that is not JSON),
//! so the calling agent can choose between falling back and rephrasing.

/// Longest excerpt of a server body or model answer kept in an error: enough to diagnose,
/// short enough for a log line.
const EXCERPT_CHARS: usize = 200;

/// A failed model call. Messages never contain an API key: bodies are redacted before they
/// reach an excerpt.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    /// The settings cannot work; `field` is the setting's path in the configuration.
    #[error("{field}: {message}")]
    Config { field: String, message: String },
    #[error("set the environment variable {var} to your API key")]
    MissingKey { var: String },
    /// A 4xx other than 429: the request itself is wrong, so it was not retried.
    #[error("the model server rejected the request (HTTP {status}): {body}")]
    Http { status: u16, body: String },
    /// 429, 5xx, timeouts or transport errors on every attempt.
    #[error("the model server is unavailable after {attempts} attempt(s): {reason}")]
    Unavailable { attempts: u32, reason: String },
    #[error("the answer was cut off at the token limit ({finish_reason}); raise max_tokens or ask for less")]
    Truncated { finish_reason: String },
    #[error("the model declined to answer: {reason}")]
    Blocked { reason: String },
    /// The server answered 2xx but not in the shape its API promises, or with no content.
    #[error("unexpected response from the model server: {reason}")]
    Malformed { reason: String },
    #[error("the answer is not JSON ({reason}): {text}")]
    InvalidJson { reason: String, text: String },
}

impl LlmError {
    pub(crate) fn config(field: impl Into<String>, message: impl Into<String>) -> Self {
        LlmError::Config { field: field.into(), message: message.into() }
    }

    pub(crate) fn malformed(reason: impl Into<String>) -> Self {
        LlmError::Malformed { reason: reason.into() }
    }
}

/// The first [`EXCERPT_CHARS`] characters of `text`, marked when cut.
pub(crate) fn excerpt(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_keeps_short_text_and_cuts_long_text_on_a_char_boundary() {
        assert_eq!(excerpt("  short  "), "short");
        let long = "é".repeat(500);
        let cut = excerpt(&long);
        assert_eq!(cut.chars().count(), EXCERPT_CHARS + 1);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn missing_key_message_names_the_variable() {
        let e = LlmError::MissingKey { var: "GEMINI_API_KEY".into() };
        assert_eq!(e.to_string(), "set the environment variable GEMINI_API_KEY to your API key");
    }
}
