//! SIGTERM lets the current step finish, SIGINT twice parks it at once; either way the
//! run exits 0 with its journal flushed, and the next `rectune run` resumes without a
//! second launch (judged by the platform server's own launch record).

mod common;
use agents::journal::{Journal, Step};
use agents::protocol::ExperimentResult;
use common::live::LiveRun;
use common::*;
use rectune::platform::serve::launch_log::{LaunchEvent, LaunchOutcome};
use rectune::platform::serve::LaunchLog;
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(120);

fn launches(path: &Path) -> Vec<LaunchEvent> {
    if path.exists() {
        LaunchLog::read(path).expect("the platform's launch record")
    } else {
        Vec::new()
    }
}

fn launched(events: &[LaunchEvent], outcome: LaunchOutcome) -> Vec<&str> {
    events.iter().filter(|e| e.outcome == outcome).map(|e| e.name.as_str()).collect()
}

/// Starts a 2-round run against a paced platform and returns once round 1 is launched.
fn running(dir: &Path, record: &Path, url: &str, envs: &[(&str, &str)]) -> LiveRun {
    let mut run = LiveRun::start(dir, "db", &["--rounds", "2", "--seed", "6", "--platform", url], envs);
    let up = wait_for(WAIT, || !launches(record).is_empty() || run.exited().is_some());
    assert!(up && run.exited().is_none(), "round 1 never launched: {}", run.stderr());
    run
}

fn journal_of(dir: &Path) -> (sled::Db, Journal) {
    let db = sled::open(dir.join("db")).unwrap();
    let journal = Journal::open(&db).unwrap();
    (db, journal)
}

fn resume(dir: &Path, url: &str) {
    let out = rectune(dir)
        .args(["run", "--rounds", "2", "--seed", "6", "--quiet", "--db", "db", "--platform", url])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn sigterm_lets_the_experiment_finish_and_the_next_run_goes_on_from_there() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("launches.jsonl");
    let server = PlatformServer::start(dir.path(), &["--pace-ms", "30", "--launch-log", &record.to_string_lossy()]);
    let mut run = running(dir.path(), &record, &server.url, &[("RECTUNE__SUPERVISION__SHUTDOWN_GRACE_S", "120")]);
    run.signal("TERM");
    let status = run.wait_exit(WAIT);
    assert_eq!(status.code(), Some(0), "{}", run.stderr());
    assert!(run.stdout().contains("interrupted by SIGTERM"), "{}", run.stdout());
    {
        let (_db, journal) = journal_of(dir.path());
        let r1: Option<ExperimentResult> = journal.get("rank-fusion", 1, Step::Result).unwrap();
        assert!(r1.is_some(), "the experiment under way was not finished and journaled");
        assert!(journal.get::<serde_json::Value>("rank-fusion", 2, Step::Proposal).unwrap().is_none(), "round 2 began");
    }
    let log = std::fs::read_to_string(dir.path().join("log.jsonl")).unwrap();
    assert!(log.contains("letting the current step finish"), "no reason logged for the stop");

    resume(dir.path(), &server.url);
    let events = launches(&record);
    assert_eq!(
        launched(&events, LaunchOutcome::Launched),
        ["rank-fusion/round-1", "rank-fusion/round-2"],
        "{events:?}"
    );
    assert!(launched(&events, LaunchOutcome::Repeated).is_empty(), "a finished experiment was re-sent: {events:?}");
    let (_db, journal) = journal_of(dir.path());
    assert_eq!(journal.all::<ExperimentResult>("rank-fusion", Step::Result).unwrap().len(), 2);
}

#[test]
fn a_second_sigint_parks_the_experiment_and_the_next_run_reads_the_same_one() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("launches.jsonl");
    // Slow enough (about 3 s per experiment) that round 1 still runs when the signals arrive.
    let server = PlatformServer::start(dir.path(), &["--pace-ms", "40", "--launch-log", &record.to_string_lossy()]);
    let mut run = running(dir.path(), &record, &server.url, &[("RECTUNE__SUPERVISION__SHUTDOWN_GRACE_S", "120")]);
    run.signal("INT");
    // Signals sent back to back may arrive as one: send the second once the first is seen.
    let log = dir.path().join("log.jsonl");
    let seen =
        wait_for(WAIT, || std::fs::read_to_string(&log).is_ok_and(|l| l.contains("letting the current step finish")));
    assert!(seen, "the first SIGINT was not acknowledged: {}", run.stderr());
    run.signal("INT");
    let status = run.wait_exit(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "{}", run.stderr());
    assert!(run.stdout().contains("interrupted by SIGINT"), "{}", run.stdout());
    {
        let (_db, journal) = journal_of(dir.path());
        assert!(
            journal.get::<String>("rank-fusion", 1, Step::Launched).unwrap().is_some(),
            "the launch was not journaled"
        );
        let r1: Option<ExperimentResult> = journal.get("rank-fusion", 1, Step::Result).unwrap();
        assert!(r1.is_none(), "the experiment was not parked but waited for");
    }

    resume(dir.path(), &server.url);
    let events = launches(&record);
    assert_eq!(
        launched(&events, LaunchOutcome::Launched),
        ["rank-fusion/round-1", "rank-fusion/round-2"],
        "{events:?}"
    );
    assert_eq!(
        launched(&events, LaunchOutcome::Repeated),
        ["rank-fusion/round-1"],
        "the parked launch is re-sent once, same key"
    );
    let (_db, journal) = journal_of(dir.path());
    assert_eq!(journal.all::<ExperimentResult>("rank-fusion", Step::Result).unwrap().len(), 2);
}
