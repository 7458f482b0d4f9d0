//! The two model wire formats against a mock server: what is sent, and what each kind of
//! answer or failure becomes. Back-off is shrunk to milliseconds so the suite stays fast.

use agents::llm::{client, client_with, Backend, LlmAnswer, LlmClient, LlmError, LlmRequest, LlmSettings};
use agents::llm::{RetryPolicy, Secret, Usage};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const KEY: &str = "sk-test-4242-secret";
const MODEL: &str = "m-1";
const RETRIES: u32 = 2;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn settings(backend: Backend, server: &MockServer) -> LlmSettings {
    LlmSettings { backend, base_url: server.uri(), model: MODEL.into(), max_retries: RETRIES, ..LlmSettings::default() }
}

/// The production policy with waits of a few milliseconds; `Retry-After` is capped at
/// 60 ms so a test can still see that it was honoured.
fn fast(settings: &LlmSettings) -> RetryPolicy {
    RetryPolicy {
        base: ms(1),
        cap: ms(4),
        retry_after_cap: ms(60),
        attempt_timeout: Duration::from_secs(5),
        ..RetryPolicy::from_settings(settings)
    }
}

fn llm(backend: Backend, server: &MockServer) -> Arc<dyn LlmClient> {
    let s = settings(backend, server);
    client_with(&s, Some(Secret::new(KEY)), fast(&s)).expect("test settings are valid")
}

fn request() -> LlmRequest {
    LlmRequest {
        system: "You tune rankers.".into(),
        user: "Propose one weight.".into(),
        schema_name: "proposal".into(),
        schema: json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["w"],
            "properties": {"w": {"type": "number", "minimum": 0, "maximum": 1}},
        }),
    }
}

fn endpoint(backend: Backend) -> String {
    match backend {
        Backend::OpenAi => "/v1/chat/completions".into(),
        Backend::Gemini => format!("/v1beta/models/{MODEL}:generateContent"),
    }
}

fn openai_reply(content: &str, finish: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
        "usage": {"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49},
    }))
}

fn gemini_reply(text: &str, finish: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": finish, "index": 0}],
        "usageMetadata": {"promptTokenCount": 40, "candidatesTokenCount": 6, "totalTokenCount": 46},
        "modelVersion": MODEL,
    }))
}

fn reply(backend: Backend, text: &str) -> ResponseTemplate {
    match backend {
        Backend::OpenAi => openai_reply(text, "stop"),
        Backend::Gemini => gemini_reply(text, "STOP"),
    }
}

/// Serves `template` at the backend's endpoint, `times` times or forever.
async fn serve(server: &MockServer, backend: Backend, template: ResponseTemplate, times: Option<u64>) {
    let mock = Mock::given(method("POST")).and(path(endpoint(backend))).respond_with(template);
    match times {
        Some(n) => mock.up_to_n_times(n).mount(server).await,
        None => mock.mount(server).await,
    }
}

async fn received(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.expect("request recording is on")
}

fn body(req: &Request) -> Value {
    req.body_json().expect("the client sends JSON")
}

fn assert_key_not_in_url(requests: &[Request]) {
    for r in requests {
        assert!(!r.url.as_str().contains(KEY), "key leaked into {}", r.url);
    }
}

async fn answer_ok(llm: &Arc<dyn LlmClient>) -> LlmAnswer {
    llm.complete(request()).await.expect("the call succeeds")
}

// ---- what is sent ----

#[actix_rt::test]
async fn openai_sends_a_json_schema_request_with_a_bearer_key_and_parses_usage() {
    let server = MockServer::start().await;
    serve(&server, Backend::OpenAi, openai_reply(r#"{"w": 0.3}"#, "stop"), None).await;
    let answer = answer_ok(&llm(Backend::OpenAi, &server)).await;

    let requests = received(&server).await;
    assert_eq!(requests.len(), 1);
    let expected = json!({
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "You tune rankers."},
            {"role": "user", "content": "Propose one weight."},
        ],
        "temperature": 0.0,
        "max_tokens": 512,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "proposal", "schema": request().schema, "strict": true},
        },
    });
    assert_eq!(body(&requests[0]), expected);
    let auth = requests[0].headers.get("authorization").and_then(|v| v.to_str().ok());
    assert_eq!(auth, Some(format!("Bearer {KEY}").as_str()));
    assert_key_not_in_url(&requests);

    assert_eq!(answer.json, json!({"w": 0.3}));
    assert_eq!(answer.text, r#"{"w": 0.3}"#);
    assert_eq!(answer.usage, Usage { prompt_tokens: 42, completion_tokens: 7 });
    assert_eq!(answer.attempts, 1);
}

#[actix_rt::test]
async fn gemini_sends_generate_content_with_the_key_in_a_header_and_parses_usage() {
    let server = MockServer::start().await;
    serve(&server, Backend::Gemini, gemini_reply(r#"{"w": 0.7}"#, "STOP"), None).await;
    let answer = answer_ok(&llm(Backend::Gemini, &server)).await;

    let requests = received(&server).await;
    assert_eq!(requests.len(), 1);
    let expected = json!({
        "systemInstruction": {"parts": [{"text": "You tune rankers."}]},
        "contents": [{"role": "user", "parts": [{"text": "Propose one weight."}]}],
        "generationConfig": {
            "temperature": 0.0,
            "maxOutputTokens": 512,
            "responseMimeType": "application/json",
            "responseSchema": {
                "type": "OBJECT",
                "required": ["w"],
                "properties": {"w": {"type": "NUMBER", "minimum": 0, "maximum": 1}},
            },
        },
    });
    assert_eq!(body(&requests[0]), expected);
    let key = requests[0].headers.get("x-goog-api-key").and_then(|v| v.to_str().ok());
    assert_eq!(key, Some(KEY));
    assert!(requests[0].headers.get("authorization").is_none());
    assert_key_not_in_url(&requests);

    assert_eq!(answer.json, json!({"w": 0.7}));
    assert_eq!(answer.usage, Usage { prompt_tokens: 40, completion_tokens: 6 });
    assert_eq!(answer.attempts, 1);
}

#[actix_rt::test]
async fn openai_sends_no_authorization_header_without_a_key() {
    let server = MockServer::start().await;
    serve(&server, Backend::OpenAi, openai_reply("{}", "stop"), None).await;
    let s = settings(Backend::OpenAi, &server);
    let llm = client_with(&s, None, fast(&s)).unwrap();
    answer_ok(&llm).await;
    assert!(received(&server).await[0].headers.get("authorization").is_none());
}

#[actix_rt::test]
async fn openai_base_url_ending_in_v1_is_not_doubled() {
    let server = MockServer::start().await;
    serve(&server, Backend::OpenAi, openai_reply("{}", "stop"), None).await;
    let s = LlmSettings { base_url: format!("{}/v1/", server.uri()), ..settings(Backend::OpenAi, &server) };
    let llm = client_with(&s, None, fast(&s)).unwrap();
    answer_ok(&llm).await;
    assert_eq!(received(&server).await[0].url.path(), "/v1/chat/completions");
}

#[actix_rt::test]
async fn describe_names_backend_model_and_server_but_not_the_key() {
    let server = MockServer::start().await;
    for backend in [Backend::OpenAi, Backend::Gemini] {
        let text = llm(backend, &server).describe();
        assert!(text.contains(backend.as_str()) && text.contains(MODEL) && text.contains(&server.uri()), "{text}");
        assert!(!text.contains(KEY));
    }
}

#[actix_rt::test]
async fn gemini_from_settings_without_its_key_variable_names_the_variable() {
    let s = LlmSettings {
        backend: Backend::Gemini,
        model: MODEL.into(),
        api_key_env: Some("RECTUNE_TEST_KEY_THAT_IS_NEVER_SET".into()),
        ..LlmSettings::default()
    };
    let err = client(&s).err().expect("no key, no client");
    assert_eq!(err.to_string(), "set the environment variable RECTUNE_TEST_KEY_THAT_IS_NEVER_SET to your API key");
}

// ---- retries ----

async fn retries_after_429_honouring_retry_after(backend: Backend) {
    let server = MockServer::start().await;
    let busy = ResponseTemplate::new(429).insert_header("retry-after", "1").set_body_string("slow down");
    serve(&server, backend, busy, Some(1)).await;
    serve(&server, backend, reply(backend, r#"{"w": 0.5}"#), None).await;

    let answer = answer_ok(&llm(backend, &server)).await;
    assert_eq!(answer.attempts, 2);
    assert_eq!(received(&server).await.len(), 2);
    // Back-off alone is at most 1 ms here; only the (capped) Retry-After explains 60 ms.
    assert!(answer.latency >= ms(60), "waited only {:?}", answer.latency);
}

#[actix_rt::test]
async fn openai_retries_after_429_honouring_retry_after() {
    retries_after_429_honouring_retry_after(Backend::OpenAi).await;
}

#[actix_rt::test]
async fn gemini_retries_after_429_honouring_retry_after() {
    retries_after_429_honouring_retry_after(Backend::Gemini).await;
}

async fn gives_up_after_repeated_500(backend: Backend) {
    let server = MockServer::start().await;
    serve(&server, backend, ResponseTemplate::new(500).set_body_string("boom"), None).await;

    let err = llm(backend, &server).complete(request()).await.unwrap_err();
    match err {
        LlmError::Unavailable { attempts, reason } => {
            assert_eq!(attempts, RETRIES + 1);
            assert!(reason.contains("500"), "{reason}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert_eq!(received(&server).await.len(), (RETRIES + 1) as usize);
}

#[actix_rt::test]
async fn openai_gives_up_after_repeated_500_as_unavailable() {
    gives_up_after_repeated_500(Backend::OpenAi).await;
}

#[actix_rt::test]
async fn gemini_gives_up_after_repeated_500_as_unavailable() {
    gives_up_after_repeated_500(Backend::Gemini).await;
}

async fn retries_a_500_then_succeeds(backend: Backend) {
    let server = MockServer::start().await;
    serve(&server, backend, ResponseTemplate::new(500).set_body_string("boom"), Some(1)).await;
    serve(&server, backend, reply(backend, r#"{"w": 0.2}"#), None).await;

    let answer = answer_ok(&llm(backend, &server)).await;
    assert_eq!(answer.json, json!({"w": 0.2}));
    assert_eq!(answer.attempts, 2);
    let requests = received(&server).await;
    assert_eq!(requests.len(), 2);
    assert_eq!(body(&requests[0]), body(&requests[1]), "a retry re-sends the same request");
}

#[actix_rt::test]
async fn openai_retries_a_500_then_succeeds() {
    retries_a_500_then_succeeds(Backend::OpenAi).await;
}

#[actix_rt::test]
async fn gemini_retries_a_500_then_succeeds() {
    retries_a_500_then_succeeds(Backend::Gemini).await;
}

async fn does_not_retry_400(backend: Backend) {
    let server = MockServer::start().await;
    let bad = ResponseTemplate::new(400).set_body_json(json!({"error": {"message": "unknown model m-1"}}));
    serve(&server, backend, bad, None).await;

    let err = llm(backend, &server).complete(request()).await.unwrap_err();
    match err {
        LlmError::Http { status, body } => {
            assert_eq!(status, 400);
            assert!(body.contains("unknown model"), "{body}");
        }
        other => panic!("expected Http, got {other:?}"),
    }
    assert_eq!(received(&server).await.len(), 1);
}

#[actix_rt::test]
async fn openai_does_not_retry_a_400() {
    does_not_retry_400(Backend::OpenAi).await;
}

#[actix_rt::test]
async fn gemini_does_not_retry_a_400() {
    does_not_retry_400(Backend::Gemini).await;
}

async fn times_out_then_unavailable(backend: Backend) {
    let server = MockServer::start().await;
    serve(&server, backend, reply(backend, "{}").set_delay(Duration::from_secs(2)), None).await;
    let s = settings(backend, &server);
    let policy = RetryPolicy { attempt_timeout: ms(100), ..fast(&s) };
    let llm = client_with(&s, Some(Secret::new(KEY)), policy).unwrap();

    let err = llm.complete(request()).await.unwrap_err();
    match err {
        LlmError::Unavailable { attempts, reason } => {
            assert_eq!(attempts, RETRIES + 1);
            assert!(reason.contains("timed out"), "{reason}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert_eq!(received(&server).await.len(), (RETRIES + 1) as usize);
}

#[actix_rt::test]
async fn openai_timeouts_are_retried_then_unavailable() {
    times_out_then_unavailable(Backend::OpenAi).await;
}

#[actix_rt::test]
async fn gemini_timeouts_are_retried_then_unavailable() {
    times_out_then_unavailable(Backend::Gemini).await;
}

#[actix_rt::test]
async fn error_bodies_never_echo_the_key() {
    let server = MockServer::start().await;
    let echo = ResponseTemplate::new(401).set_body_string(format!("invalid api key {KEY}"));
    serve(&server, Backend::OpenAi, echo, None).await;
    let err = llm(Backend::OpenAi, &server).complete(request()).await.unwrap_err();
    assert!(!err.to_string().contains(KEY), "{err}");
    assert!(!format!("{err:?}").contains(KEY), "{err:?}");
}

// ---- what comes back ----

async fn expect_error(backend: Backend, template: ResponseTemplate) -> LlmError {
    let server = MockServer::start().await;
    serve(&server, backend, template, None).await;
    let err = llm(backend, &server).complete(request()).await.unwrap_err();
    assert_eq!(received(&server).await.len(), 1, "answers that came back are never retried");
    err
}

#[actix_rt::test]
async fn openai_length_finish_is_truncated() {
    let err = expect_error(Backend::OpenAi, openai_reply(r#"{"w": 0."#, "length")).await;
    assert_eq!(err, LlmError::Truncated { finish_reason: "length".into() });
}

#[actix_rt::test]
async fn gemini_max_tokens_finish_is_truncated() {
    let err = expect_error(Backend::Gemini, gemini_reply(r#"{"w": 0."#, "MAX_TOKENS")).await;
    assert_eq!(err, LlmError::Truncated { finish_reason: "MAX_TOKENS".into() });
}

#[actix_rt::test]
async fn openai_prose_instead_of_json_is_invalid_json() {
    let err = expect_error(Backend::OpenAi, openai_reply("Sure! Use w = 0.3.", "stop")).await;
    assert!(matches!(&err, LlmError::InvalidJson { text, .. } if text == "Sure! Use w = 0.3."), "{err:?}");
}

#[actix_rt::test]
async fn gemini_prose_instead_of_json_is_invalid_json() {
    let err = expect_error(Backend::Gemini, gemini_reply("Sure! Use w = 0.3.", "STOP")).await;
    assert!(matches!(&err, LlmError::InvalidJson { text, .. } if text == "Sure! Use w = 0.3."), "{err:?}");
}

#[actix_rt::test]
async fn gemini_blocked_prompt_is_blocked() {
    let blocked = ResponseTemplate::new(200).set_body_json(json!({
        "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": []},
        "usageMetadata": {"promptTokenCount": 12, "totalTokenCount": 12},
    }));
    let err = expect_error(Backend::Gemini, blocked).await;
    assert!(matches!(&err, LlmError::Blocked { reason } if reason.contains("SAFETY")), "{err:?}");
}

#[actix_rt::test]
async fn gemini_safety_finish_is_blocked() {
    let err = expect_error(Backend::Gemini, gemini_reply("", "SAFETY")).await;
    assert!(matches!(&err, LlmError::Blocked { reason } if reason.contains("SAFETY")), "{err:?}");
}

#[actix_rt::test]
async fn openai_content_filter_is_blocked() {
    let err = expect_error(Backend::OpenAi, openai_reply("", "content_filter")).await;
    assert!(matches!(err, LlmError::Blocked { .. }), "{err:?}");
}

#[actix_rt::test]
async fn an_html_error_page_with_200_is_malformed() {
    let page = ResponseTemplate::new(200).set_body_string("<html>proxy login</html>");
    let err = expect_error(Backend::OpenAi, page).await;
    assert!(matches!(err, LlmError::Malformed { .. }), "{err:?}");
}

// ---- structured-output fallback ----

#[actix_rt::test]
async fn openai_falls_back_to_json_object_when_json_schema_is_rejected_and_remembers() {
    let server = MockServer::start().await;
    let refusal = ResponseTemplate::new(400).set_body_json(json!({
        "object": "error",
        "message": "response_format type json_schema is not supported by this server",
        "type": "BadRequestError",
    }));
    Mock::given(method("POST"))
        .and(path(endpoint(Backend::OpenAi)))
        .and(body_partial_json(json!({"response_format": {"type": "json_schema"}})))
        .respond_with(refusal)
        .mount(&server)
        .await;
    serve(&server, Backend::OpenAi, openai_reply(r#"{"w": 0.4}"#, "stop"), None).await;
    let llm = llm(Backend::OpenAi, &server);

    let first = answer_ok(&llm).await;
    assert_eq!(first.json, json!({"w": 0.4}));
    assert_eq!(first.attempts, 2, "the refused request and the fallback");
    let expected = json!({
        "model": MODEL,
        "messages": [
            {"role": "system", "content": format!("You tune rankers.\n\nAnswer with JSON matching this schema: {}", request().schema)},
            {"role": "user", "content": "Propose one weight."},
        ],
        "temperature": 0.0,
        "max_tokens": 512,
        "response_format": {"type": "json_object"},
    });
    assert_eq!(body(&received(&server).await[1]), expected);

    let second = answer_ok(&llm).await;
    assert_eq!(second.attempts, 1, "json_schema is not tried again");
    let requests = received(&server).await;
    assert_eq!(requests.len(), 3);
    assert_eq!(body(&requests[2])["response_format"], json!({"type": "json_object"}));
}
