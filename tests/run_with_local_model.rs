//! `make run-llm` end to end: the shipped config/llm-local.toml with every agent thinking
//! with a real model (llama.cpp's llama-server with SmolLM2-135M-Instruct, started
//! privately on a free loopback port, temperature 0, one thread), through the real binary,
//! for three rounds. Every question is answered by a validated answer or a counted fallback
//! to the built-in strategy, and the summary shows the model's tokens.
//!
//! Needs `make llm-install` (which `make test` runs first); without it the test fails and
//! says so.

mod common;
#[path = "../agents/tests/support/local_llm.rs"]
mod local_llm;

use common::*;
use local_llm::LocalLlm;
use serde_json::Value;
use std::collections::BTreeMap;

const AGENTS: [&str; 5] = ["actor", "critic", "online", "insight", "skill"];
const ROUNDS: u64 = 3;
/// The log events that close a question: a valid answer, or the reason for a fallback.
const VALID: &str = "model answer valid";
const FALLBACK: &str = "falling back to the built-in strategy for this step";

/// How many questions each agent closed, per outcome, according to the log stream.
fn closed_questions(log: &str) -> BTreeMap<(String, &'static str), u64> {
    let mut out = BTreeMap::new();
    for line in log.lines() {
        let Ok(event) = serde_json::from_str::<Value>(line) else { continue };
        let fields = &event["fields"];
        let outcome = match fields["message"].as_str() {
            Some(VALID) => "valid",
            Some(FALLBACK) => "fallback",
            _ => continue,
        };
        let agent = fields["agent"].as_str().unwrap_or("?").to_string();
        *out.entry((agent, outcome)).or_default() += 1;
    }
    out
}

/// Why each fallback happened, as the log stream says.
fn fallback_reasons(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|e| e["fields"]["message"].as_str() == Some(FALLBACK))
        .map(|e| format!("{}: {}", e["fields"]["agent"], e["fields"]["reason"]))
        .collect()
}

#[test]
fn all_five_agents_think_with_the_local_model_and_the_run_completes() {
    // The script's context size (the Actor's prompt plus its answer do not fit in 2048).
    // The prompt cache stays on: each agent's questions share a long prefix, and this test
    // checks validation and accounting, not temperature-0 reproducibility.
    let server = LocalLlm::start_with(&["-c", "4096"]);
    let dir = tempfile::tempdir().expect("a temporary directory");
    // Two arms a round (three candidates) and smaller experiments keep the answers short
    // and the run to a few minutes on one server thread.
    let task = task_variant(dir.path(), "task.toml", |t| {
        let t = replacing(&t, "units_per_arm = 320000", "units_per_arm = 20000");
        replacing(&t, "arms_per_round = 4", "arms_per_round = 2")
    });
    let out = rectune(dir.path())
        .args(["run", "--config"])
        .arg(repo_file("config/llm-local.toml"))
        .arg("--task")
        .arg(&task)
        .args(["--rounds", &ROUNDS.to_string(), "--db", "db", "--json-summary", "summary.json"])
        .env("RECTUNE__LLM__BASE_URL", server.base_url())
        // A local server that fails should show as failures at once, not after retries.
        .env("RECTUNE__LLM__MAX_RETRIES", "0")
        .output()
        .expect("run rectune");
    let (text, err) = (stdout(&out), stderr(&out));
    assert!(out.status.success(), "the run failed: {err}\n{text}");

    eprintln!("{text}");
    let summary = read_json(&dir.path().join("summary.json"));
    assert_eq!(summary["rounds_run"].as_u64(), Some(ROUNDS), "{summary}");
    let llm = summary["llm"].as_object().unwrap_or_else(|| panic!("no llm section in the summary: {summary}"));
    let log = std::fs::read_to_string(dir.path().join("log.jsonl")).expect("the log stream");
    let closed = closed_questions(&log);
    for reason in fallback_reasons(&log) {
        eprintln!("fallback: {reason}");
    }
    let (mut questions, mut fallbacks, mut tokens) = (0, 0, 0);
    for agent in AGENTS {
        let r = &llm[agent];
        let n = |k: &str| r[k].as_u64().unwrap_or_else(|| panic!("{agent}.{k} missing: {r}"));
        assert!(n("questions") > 0, "{agent} never asked the model: {r}");
        assert_eq!(
            n("valid") + n("fallbacks"),
            n("questions"),
            "{agent}: a question neither valid nor fallen back: {r}"
        );
        assert!(n("calls") >= n("questions"), "{agent}: fewer calls than questions: {r}");
        assert!(n("prompt_tokens") > 0 && n("completion_tokens") > 0, "{agent} used no tokens: {r}");
        assert!(r["model"].as_str().is_some_and(|m| m.contains("smollm2")), "{r}");
        // Every question's outcome is in the log stream too, with its reason.
        let logged = |o| closed.get(&(agent.to_string(), o)).copied().unwrap_or(0);
        assert_eq!(
            (logged("valid"), logged("fallback")),
            (n("valid"), n("fallbacks")),
            "{agent}: log and summary disagree"
        );
        questions += n("questions");
        fallbacks += n("fallbacks");
        tokens += n("prompt_tokens") + n("completion_tokens");
    }
    eprintln!("{questions} questions, {fallbacks} fallbacks, {tokens} tokens");
    assert!(text.contains("llm") && text.contains("prompt +") && text.contains("fell back to built-in"), "{text}");
    let total =
        text.lines().find(|l| l.trim_start().starts_with("total")).unwrap_or_else(|| panic!("no total line: {text}"));
    assert!(total.contains(&format!("{questions} questions")), "{total}");
}
