//! A model server that fails, is slow, or answers garbage during a run: every agent is
//! configured to think with it (config/llm-local.toml), the run still completes, each
//! question the server spoiled falls back to the agent's built-in strategy and is counted
//! in the summary, nothing panics, and the run ends exactly where a built-in run of the
//! same seed ends (the fallbacks are the built-in strategies, not something weaker).

mod common;

use common::*;
use serde_json::{json, Value as Json};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const ROUNDS: &str = "2";
const SEED: &str = "11";
const AGENTS: [&str; 5] = ["actor", "critic", "online", "insight", "skill"];

/// `rectune run` of the default task, every agent on the model at `llm_url` (or built-in
/// when `None`), `retries` retries per call, one second per attempt.
async fn run(dir: &Path, db: &str, summary: &str, llm_url: Option<&str>, retries: u32) -> serde_json::Value {
    let mut c = rectune(dir);
    c.args(["run", "--task", "task.toml", "--rounds", ROUNDS, "--seed", SEED, "--quiet"]).args([
        "--db",
        db,
        "--json-summary",
        summary,
    ]);
    if let Some(url) = llm_url {
        c.arg("--config")
            .arg(repo_file("config/llm-local.toml"))
            .env("RECTUNE__LLM__BASE_URL", url)
            .env("RECTUNE__LLM__TIMEOUT_S", "1")
            .env("RECTUNE__LLM__MAX_RETRIES", retries.to_string());
    }
    // The run blocks this thread for seconds; the mock server answers from its own.
    let out = actix_rt::task::spawn_blocking(move || c.output()).await.expect("join").expect("run");
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.status.success(), "the run must complete on built-in fallbacks: {err}");
    read_json(&dir.join(summary))
}

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    task_variant(dir.path(), "task.toml", |t| replacing(&t, "units_per_arm = 320000", "units_per_arm = 20000"));
    dir
}

/// Every agent asked its model, got nothing usable, and fell back every time; the run's
/// outcome equals the built-in run's.
fn assert_every_question_fell_back(with_model: &Json, builtin: &Json) {
    let llm = &with_model["llm"];
    for agent in AGENTS {
        let a = &llm[agent];
        let questions = a["questions"].as_u64().unwrap_or(0);
        assert!(questions > 0, "{agent} asked its model nothing: {llm:#}");
        assert_eq!(a["valid"], json!(0), "{agent}: {llm:#}");
        assert_eq!(a["fallbacks"], json!(questions), "{agent}: every question fell back: {llm:#}");
        assert!(a["calls"].as_u64() >= Some(questions), "{agent}: {llm:#}");
    }
    assert!(builtin.get("llm").is_none(), "the built-in run used no model");
    for field in ["rounds_run", "arms_launched", "final_config", "shipped_in_round", "measured"] {
        assert_eq!(with_model[field], builtin[field], "{field} differs from the built-in run");
    }
}

async fn builtin_run(dir: &Path) -> Json {
    run(dir, "builtin.db", "builtin.json", None, 0).await
}

#[actix::test]
async fn a_model_server_answering_500_leaves_every_step_to_the_built_in_strategies() {
    let dir = setup();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_string("internal error"))
        .mount(&server)
        .await;

    let with_model = run(dir.path(), "llm.db", "llm.json", Some(&server.uri()), 1).await;

    assert_every_question_fell_back(&with_model, &builtin_run(dir.path()).await);
    // One retry per question: each question cost two calls, both failed.
    let received = server.received_requests().await.map_or(0, |r| r.len());
    let questions: u64 = AGENTS.iter().filter_map(|a| with_model["llm"][a]["questions"].as_u64()).sum();
    assert_eq!(received as u64, 2 * questions, "{:#}", with_model["llm"]);
    for agent in AGENTS {
        let a = &with_model["llm"][agent];
        assert_eq!(a["failures"], a["calls"], "{agent}: every call failed: {a}");
    }
}

#[actix::test]
async fn a_model_server_slower_than_the_timeout_leaves_every_step_to_the_built_in_strategies() {
    let dir = setup();
    let server = MockServer::start().await;
    // A well-formed answer, but two seconds late for a one-second deadline.
    let late = openai_answer(&json!({"candidates": []}).to_string(), "stop");
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(late).set_delay(Duration::from_secs(2)))
        .mount(&server)
        .await;

    // No retry: a timeout is retried like a 500, and the 500 test covers that.
    let with_model = run(dir.path(), "llm.db", "llm.json", Some(&server.uri()), 0).await;

    assert_every_question_fell_back(&with_model, &builtin_run(dir.path()).await);
    for agent in AGENTS {
        let a = &with_model["llm"][agent];
        let (ms, calls) = (a["latency_ms"].as_u64().unwrap_or(0), a["calls"].as_u64().unwrap_or(0));
        assert!(ms >= 1000 * calls, "{agent} waited out each one-second deadline ({ms} ms for {calls} calls): {a}");
        assert_eq!(a["failures"], a["calls"], "{agent}: every call timed out: {a}");
    }
}

/// A chat completion in the OpenAI wire format whose answer text is `content`.
fn openai_answer(content: &str, finish: &str) -> Json {
    json!({
        "choices": [{"message": {"role": "assistant", "content": content}, "finish_reason": finish}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5}
    })
}

/// Answers 200 with a different kind of garbage each time, round robin.
struct Garbage(AtomicUsize);

impl Respond for Garbage {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let ok = ResponseTemplate::new(200);
        match self.0.fetch_add(1, Ordering::Relaxed) % 6 {
            // A proxy's error page with a 200.
            0 => ok.set_body_string("<html><body>502 Bad Gateway</body></html>"),
            // JSON, not the wire format.
            1 => ok.set_body_json(json!({"choices": [], "error": null})),
            // The wire format, but the answer is prose.
            2 => ok.set_body_json(openai_answer("Sure! Raise every weight a little.", "stop")),
            // JSON of the wrong shape for every agent's schema.
            3 => ok.set_body_json(openai_answer(r#"{"unexpected": [1, 2, 3], "candidates": "all"}"#, "stop")),
            // Cut off by the token limit.
            4 => ok.set_body_json(openai_answer(r#"{"candidates": [{"hypo"#, "length")),
            // Bytes that are not even text.
            _ => ok.set_body_bytes(vec![0xff, 0xfe, 0x00, 0x9f, 0x92, 0x96]),
        }
    }
}

#[actix::test]
async fn a_model_server_answering_garbage_leaves_every_step_to_the_built_in_strategies() {
    let dir = setup();
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(Garbage(AtomicUsize::new(0))).mount(&server).await;

    let with_model = run(dir.path(), "llm.db", "llm.json", Some(&server.uri()), 1).await;

    assert_every_question_fell_back(&with_model, &builtin_run(dir.path()).await);
    // Garbage that is an answer (prose, wrong shape, cut off) earns one repair round.
    let repairs: u64 = AGENTS.iter().filter_map(|a| with_model["llm"][a]["repairs"].as_u64()).sum();
    assert!(repairs > 0, "{:#}", with_model["llm"]);
}
