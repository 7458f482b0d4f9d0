//! A misbehaving platform (`rectune platform serve` with injected faults): answers that
//! do not follow the contract, launches answered after the client gave up, a platform
//! that stays down. The run retries what it may, stops with one clear line for what it
//! may not, never panics, and a resumed run ends as an undisturbed one would, without a
//! second launch in the server's own record.

mod common;

use common::*;
use rectune::platform::serve::launch_log::{LaunchEvent, LaunchOutcome};
use rectune::platform::serve::LaunchLog;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

const ROUNDS: &str = "2";
const SEED: &str = "13";

fn run(dir: &Path, db: &str, summary: &str) -> Command {
    let mut c = rectune(dir);
    c.args(["run", "--task", "task.toml", "--rounds", ROUNDS, "--seed", SEED, "--quiet"]).args([
        "--db",
        db,
        "--json-summary",
        summary,
    ]);
    c
}

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    task_variant(dir.path(), "task.toml", |t| replacing(&t, "units_per_arm = 320000", "units_per_arm = 20000"));
    dir
}

fn server(dir: &Path, faults: &[&str]) -> PlatformServer {
    let log = dir.join("launches.jsonl").to_string_lossy().into_owned();
    let mut args = vec!["--scenario", "rank-fusion", "--launch-log", &log];
    args.extend_from_slice(faults);
    PlatformServer::start(dir, &args)
}

/// One line, naming the problem, no panic.
fn assert_clear_failure(out: &Output, mentions: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("error: ") && err.contains(mentions), "{err}");
}

/// The server's record: one launch per round with an experiment, every repeat of a key
/// returning its original experiment, no conflict. Returns the events.
fn assert_launched_once(dir: &Path) -> Vec<LaunchEvent> {
    let events = LaunchLog::read(&dir.join("launches.jsonl")).expect("the server's launch record");
    assert!(events.iter().all(|e| e.outcome != LaunchOutcome::Conflict), "{events:#?}");
    let launched: Vec<_> = events.iter().filter(|e| e.outcome == LaunchOutcome::Launched).collect();
    let keys: BTreeSet<_> = launched.iter().map(|e| e.key.as_str()).collect();
    let names: BTreeSet<_> = launched.iter().map(|e| e.name.as_str()).collect();
    assert_eq!((keys.len(), names.len()), (launched.len(), launched.len()), "{events:#?}");
    for e in events.iter().filter(|e| e.outcome == LaunchOutcome::Repeated) {
        assert!(launched.iter().any(|l| l.key == e.key && l.experiment_id == e.experiment_id), "{e:?}");
    }
    events
}

/// The HTTP run's summary equals the in-process simulator's for the same seed.
fn assert_same_as_in_process(dir: &Path, summary: &str) {
    let local = run(dir, "local.db", "local.json").output().expect("run");
    assert!(local.status.success(), "{}", stderr(&local));
    let (a, b) = (read_json(&dir.join("local.json")), read_json(&dir.join(summary)));
    for field in ["rounds_run", "arms_launched", "final_config", "shipped_in_round", "measured"] {
        assert_eq!(a[field], b[field], "{field} differs from an undisturbed run");
    }
    let launched = LaunchLog::read(&dir.join("launches.jsonl")).expect("record");
    let launched = launched.iter().filter(|e| e.outcome == LaunchOutcome::Launched).count();
    assert_eq!(serde_json::json!(launched), b["experiments"], "one experiment per launch: {b}");
}

#[test]
fn a_garbage_launch_answer_stops_the_run_clearly_and_the_resumed_run_finds_the_experiment() {
    let dir = setup();
    // The first launch starts an experiment but answers 201 with a body that is not the
    // contract's; the first reads after it answer garbage too.
    let server = server(dir.path(), &["--garbage-launches", "1", "--garbage-reads", "3"]);
    let first = run(dir.path(), "remote.db", "remote.json").args(["--platform", &server.url]).output().expect("run");
    assert_clear_failure(&first, "does not follow the contract");
    assert!(!dir.path().join("remote.json").exists(), "no summary for a failed run");

    // Resuming re-sends the journaled key: the server returns the experiment it started,
    // and the garbage reads are polled past.
    let resumed = run(dir.path(), "remote.db", "remote.json").args(["--platform", &server.url]).output().expect("run");
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let events = assert_launched_once(dir.path());
    let first_key = &events[0].key;
    assert!(
        events.iter().any(|e| e.outcome == LaunchOutcome::Repeated && &e.key == first_key),
        "the resumed run asked for the garbled launch again under its key: {events:#?}"
    );
    assert_same_as_in_process(dir.path(), "remote.json");
}

#[test]
fn launches_answered_after_the_client_timeout_are_retried_under_the_same_key() {
    let dir = setup();
    // The first two launch answers come 1.5 s late; the client gives up after 1 s.
    let server = server(dir.path(), &["--slow-launches", "2", "--slow-ms", "1500"]);
    let out = run(dir.path(), "remote.db", "remote.json")
        .args(["--platform", &server.url])
        .env("RECTUNE__PLATFORM__HTTP__TIMEOUT_S", "1")
        .env("RECTUNE__PLATFORM__HTTP__ATTEMPTS", "6")
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", stderr(&out));
    let events = assert_launched_once(dir.path());
    let repeats = events.iter().filter(|e| e.outcome == LaunchOutcome::Repeated).count();
    assert!(repeats >= 2, "each late answer was followed by a repeat under the same key: {events:#?}");
    assert_same_as_in_process(dir.path(), "remote.json");
}

#[test]
fn a_platform_that_stays_down_fails_the_run_with_one_clear_line() {
    let dir = setup();
    let server = server(dir.path(), &["--unavailable", "1000000"]);
    let out = run(dir.path(), "remote.db", "remote.json")
        .args(["--platform", &server.url])
        .env("RECTUNE__PLATFORM__HTTP__ATTEMPTS", "2")
        .output()
        .expect("run");
    assert_clear_failure(&out, "unavailable");
    assert!(stderr(&out).contains("after 2 attempts"), "{}", stderr(&out));
    assert!(LaunchLog::read(&dir.path().join("launches.jsonl")).expect("record").is_empty());
}
