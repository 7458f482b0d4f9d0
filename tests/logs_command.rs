//! The log reader on the log stream of a real run: filtering to one agent shows that
//! agent's decisions, and follow mode prints lines as they are written.

mod common;
use common::*;

use rectune::logs::{self, Level, LogQuery};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn run_args(dir: &Path) -> Vec<String> {
    let db = dir.join("db").display().to_string();
    let log = dir.join("log.jsonl").display().to_string();
    ["run", "--rounds", "2", "--db", &db, "--log-file", &log, "--quiet"].map(String::from).to_vec()
}

fn tuning_run(dir: &Path) -> std::path::PathBuf {
    let out = rectune(dir).args(run_args(dir)).output().expect("start rectune run");
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    dir.join("log.jsonl")
}

fn critic() -> LogQuery {
    LogQuery { agent: Some("critic".into()), ..LogQuery::default() }
}

fn is_decision(line: &str) -> bool {
    line.contains(" accepted  ") || line.contains(" rejected  ")
}

#[test]
fn agent_filter_shows_only_the_critics_decisions_with_their_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let log = tuning_run(dir.path());
    let mut out = Vec::new();
    logs::run(&log, false, &critic(), &mut out).expect("read the run's log");
    let text = String::from_utf8(out).expect("UTF-8 output");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.iter().all(|l| l.split_whitespace().nth(2) == Some("critic")), "{text}");
    let decisions: Vec<&&str> = lines.iter().filter(|l| is_decision(l)).collect();
    assert!(decisions.len() >= 4, "two rounds should review several candidates:\n{text}");
    assert!(decisions.iter().all(|l| l.contains("candidate=r") && l.contains("reason=")), "{text}");
    assert!(decisions.iter().any(|l| l.contains(" rejected  ")), "the run rejected candidates:\n{text}");

    let raw = std::fs::read_to_string(&log).unwrap();
    let critic_events = raw.lines().filter(|l| l.contains(r#""agent":"critic""#)).count();
    assert_eq!(lines.len(), critic_events, "every critic event and nothing else:\n{text}");
}

#[test]
fn json_mode_passes_the_filtered_lines_through_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let log = tuning_run(dir.path());
    let q = LogQuery { json: true, task: Some("rank-fusion".into()), min_level: Level::Info, ..critic() };
    let mut out = Vec::new();
    logs::run(&log, false, &q, &mut out).expect("read the run's log");
    let text = String::from_utf8(out).expect("UTF-8 output");
    let raw = std::fs::read_to_string(&log).unwrap();
    assert!(text.lines().count() >= 4, "{text}");
    for line in text.lines() {
        assert!(raw.lines().any(|r| r == line), "changed in passing: {line}");
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON line");
        assert_eq!(v["span"]["agent"], "critic", "{line}");
    }
}

/// Output shared between the following thread and the test.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Shared {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("output lock")).into_owned()
    }
}

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("output lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn follow_waits_for_the_file_and_prints_lines_appended_after_start() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.jsonl");
    let output = Shared::default();
    let stop = Arc::new(AtomicBool::new(false));
    let follower = {
        let (log, mut output, stop) = (log.clone(), output.clone(), stop.clone());
        std::thread::spawn(move || logs::run_until(&log, &critic(), &mut output, || stop.load(Ordering::SeqCst)))
    };

    // The follower starts before the run has created its log file.
    tuning_run(dir.path());
    let decided = wait_for(Duration::from_secs(20), || output.text().lines().filter(|l| is_decision(l)).count() >= 4);
    assert!(decided, "the run's decisions never showed:\n{}", output.text());

    let line = r#"{"timestamp":"2026-11-23T12:00:00.123456Z","level":"INFO","fields":{"message":"rejected","candidate":"r9-c9","reason":"appended later"},"target":"agents::critic","span":{"agent":"critic","kind":"Review","round":"rank-fusion/round-9","name":"message"}}"#;
    let (head, tail) = line.split_at(60);
    let appender = {
        let log = log.clone();
        let (head, tail) = (head.to_string(), format!("{tail}\n"));
        std::thread::spawn(move || {
            append(&log, &head);
            // Let the follower see the half-written line before the rest arrives.
            std::thread::sleep(Duration::from_millis(500));
            append(&log, &tail);
        })
    };
    let expected = "12:00:00.123 INFO  critic   rank-fusion/r9   rejected  candidate=r9-c9 reason=\"appended later\"";
    let seen = wait_for(Duration::from_secs(20), || output.text().lines().any(|l| l == expected));
    stop.store(true, Ordering::SeqCst);
    appender.join().expect("appender thread");
    let result = follower.join().expect("follower thread");
    assert!(seen, "the appended line never showed whole:\n{}", output.text());
    assert!(result.is_ok(), "{result:?}");
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new().append(true).open(path).expect("open the log for append");
    f.write_all(text.as_bytes()).expect("append to the log");
}

#[test]
fn the_logs_subcommand_filters_by_agent_and_level() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = rectune(dir.path()).args(["run", "--rounds", "1", "--db", "db", "--quiet"]).output().expect("run");
    assert!(run.status.success(), "{}", stderr(&run));
    let log = dir.path().join("log.jsonl");
    let out =
        rectune(dir.path()).args(["logs", "--agent", "critic", "--level", "info"]).arg(&log).output().expect("logs");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.lines().count() > 0 && text.lines().all(|l| l.contains(" critic ")), "{text}");
    let bad = rectune(dir.path()).args(["logs", "--level", "loud"]).arg(&log).output().expect("logs");
    assert!(!bad.status.success() && stderr(&bad).contains("--level"), "{}", stderr(&bad));
    let missing = rectune(dir.path()).args(["logs", "nowhere.jsonl"]).output().expect("logs");
    assert!(!missing.status.success() && stderr(&missing).contains("nowhere.jsonl"), "{}", stderr(&missing));
}
