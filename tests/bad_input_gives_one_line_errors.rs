//! Bad input gets a one-line error naming the problem, a non-zero exit and no panic.

mod common;
use common::*;

fn assert_clean_failure(out: &std::process::Output, needle: &str) {
    let err = stderr(out);
    assert!(!out.status.success(), "expected failure, got success; stderr: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    assert!(err.contains(needle), "stderr `{err}` does not name `{needle}`");
}

#[test]
fn missing_task_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = rectune(dir.path()).args(["run", "--task", "nope.toml"]).output().unwrap();
    assert_clean_failure(&out, "nope.toml");
}

#[test]
fn malformed_task_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = task_variant(dir.path(), "broken.toml", |t| t.replacen("[task]", "[task", 1));
    let out = rectune(dir.path()).args(["run", "--task"]).arg(&path).output().unwrap();
    assert_clean_failure(&out, "not valid TOML");
}

#[test]
fn unknown_parameter_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = task_variant(dir.path(), "unknown.toml", |t| replacing(&t, "\"rank.w_like\"", "\"rank.w_bogus\""));
    let out = rectune(dir.path()).args(["run", "--task"]).arg(&path).output().unwrap();
    assert_clean_failure(&out, "rank.w_bogus");
}

#[test]
fn out_of_range_bound_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = task_variant(dir.path(), "range.toml", |t| {
        let at = t.find("name = \"rank.w_click\"").expect("w_click in task");
        let (head, tail) = t.split_at(at);
        format!("{head}{}", tail.replacen("max = 3.0", "max = 30.0", 1))
    });
    let out = rectune(dir.path()).args(["run", "--task"]).arg(&path).output().unwrap();
    assert_clean_failure(&out, "rank.w_click");
}

#[test]
fn unknown_flag_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = rectune(dir.path()).args(["run", "--frobnicate"]).output().unwrap();
    assert_clean_failure(&out, "--frobnicate");
}

#[test]
fn unwritable_database_path_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let out = rectune(dir.path()).args(["run", "--db"]).arg(blocker.join("db")).output().unwrap();
    assert_clean_failure(&out, "--db");
}

#[test]
fn unknown_configuration_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = task_variant(dir.path(), "typo.toml", |t| format!("{t}\n[agents.critic]\nguardrail_risk = 0.3\n"));
    let out = rectune(dir.path()).args(["run", "--task"]).arg(&path).output().unwrap();
    assert_clean_failure(&out, "guardrail_risk");
}

#[test]
fn bad_environment_value_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = rectune(dir.path()).args(["run"]).env("RECTUNE__AGENTS__ONLINE__CONFIDENCE", "1.5").output().unwrap();
    assert_clean_failure(&out, "agents.online.confidence");
}

#[test]
fn invariant_the_baseline_violates_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = task_variant(dir.path(), "inv.toml", |t| replacing(&t, "min = 0.2", "min = 20.0"));
    let out = rectune(dir.path()).args(["run", "--task"]).arg(&path).output().unwrap();
    assert_clean_failure(&out, "task.invariants");
}

#[test]
fn a_changed_task_on_an_existing_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = rectune(dir.path()).args(["run", "--rounds", "1", "--quiet", "--db", "db"]).output().unwrap();
    assert!(first.status.success(), "{}", stderr(&first));
    let path = task_variant(dir.path(), "changed.toml", |t| replacing(&t, "max_drop_pct = 3.0", "max_drop_pct = 2.0"));
    let out = rectune(dir.path()).args(["run", "--db", "db", "--task"]).arg(&path).output().unwrap();
    assert_clean_failure(&out, "different task definition");
}

#[test]
fn a_second_process_on_the_same_database_gets_a_clear_error_and_the_first_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = rectune(dir.path())
        .args(["run", "--rounds", "4", "--db", "db", "--quiet", "--json-summary", "first.json"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The first run holds the database once its log stream shows it started.
    assert!(wait_for(std::time::Duration::from_secs(60), || {
        std::fs::read_to_string(dir.path().join("log.jsonl")).is_ok_and(|l| l.contains("run starting"))
    }));
    let second = rectune(dir.path()).args(["run", "--rounds", "4", "--db", "db", "--quiet"]).output().unwrap();
    assert!(!second.status.success());
    let err = stderr(&second);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("another rectune process is using the database at `db`"), "{err}");
    assert!(first.wait().unwrap().success(), "the first run is unharmed");
    assert_eq!(read_json(&dir.path().join("first.json"))["rounds_run"], 4);
}

#[test]
fn gemini_without_its_key_names_the_variable_to_set() {
    let dir = tempfile::tempdir().unwrap();
    let out = rectune(dir.path())
        .args(["run", "--db", "db"])
        .env("RECTUNE__LLM__BACKEND", "gemini")
        .env("RECTUNE__LLM__MODEL", "gemini-2.0-flash")
        .env("RECTUNE__AGENTS__INSIGHT__REASONING", "llm")
        .env_remove("GEMINI_API_KEY")
        .output()
        .unwrap();
    assert_clean_failure(&out, "set the environment variable GEMINI_API_KEY");
    assert!(!dir.path().join("db").exists(), "nothing is started before the key is there");
}

#[test]
fn a_model_agent_without_a_model_names_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let out = rectune(dir.path()).args(["run"]).env("RECTUNE__AGENTS__CRITIC__REASONING", "llm").output().unwrap();
    assert_clean_failure(&out, "agents.critic.reasoning");
    let own = rectune(dir.path())
        .args(["run"])
        .env("RECTUNE__AGENTS__SKILL__REASONING", "llm")
        .env("RECTUNE__AGENTS__SKILL__LLM__TEMPERATURE", "0.5")
        .output()
        .unwrap();
    assert_clean_failure(&own, "agents.skill.llm.model");
}
