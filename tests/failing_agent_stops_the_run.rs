//! An agent that keeps failing is restarted with backoff up to `supervision.max_restarts`
//! times; one more failure stops the run with a clear message and a non-zero exit, its
//! state saved, and `rectune run` on the same database resumes where it stopped once the
//! cause is gone.

mod common;
use agents::journal::{Journal, Step};
use agents::protocol::{Proposal, Verdict};
use common::*;

fn run(dir: &std::path::Path, chaos: bool) -> std::process::Output {
    let mut cmd = rectune(dir);
    cmd.args(["run", "--rounds", "3", "--seed", "2", "--quiet", "--db", "db", "--json-summary", "summary.json"])
        .env("RECTUNE__SUPERVISION__MAX_RESTARTS", "2")
        .env("RECTUNE__SUPERVISION__BACKOFF_INITIAL_MS", "20")
        .env("RECTUNE__SUPERVISION__BACKOFF_MAX_MS", "100");
    if chaos {
        cmd.env("RECTUNE__CHAOS__AGENT", "critic").env("RECTUNE__CHAOS__ROUND", "2").env("RECTUNE__CHAOS__TIMES", "50");
    }
    cmd.output().expect("run rectune")
}

fn count(log: &str, message: &str) -> usize {
    log.lines().filter(|l| l.contains(&format!("\"message\":\"{message}\""))).count()
}

#[test]
fn an_agent_that_keeps_failing_stops_the_run_and_the_next_run_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let failed = run(dir.path(), true);
    let err = stderr(&failed);
    assert_eq!(failed.status.code(), Some(1), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line for the person: {err}");
    assert!(err.contains("the critic agent keeps failing") && err.contains("(limit 2)"), "{err}");
    assert!(err.contains("resumes at round 2"), "{err}");
    assert!(!dir.path().join("summary.json").exists(), "a failed run wrote a summary");
    let log = std::fs::read_to_string(dir.path().join("log.jsonl")).unwrap();
    let crashes = count(&log, "injected crash");
    assert!((3..=4).contains(&crashes), "restarts beyond the limit: {crashes} crashes");
    assert_eq!(count(&log, "agent keeps failing; stopping the run"), 1);

    // The state is saved: round 1 complete, round 2's proposal journaled, no verdict.
    let proposal = {
        let db = sled::open(dir.path().join("db")).unwrap();
        let journal = Journal::open(&db).unwrap();
        assert!(journal.get::<serde_json::Value>("rank-fusion", 1, Step::Done).unwrap().is_some());
        assert!(journal.get::<Verdict>("rank-fusion", 2, Step::Verdict).unwrap().is_none());
        journal.get::<Proposal>("rank-fusion", 2, Step::Proposal).unwrap().expect("round 2's proposal was saved")
    };

    let resumed = run(dir.path(), false);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let log = std::fs::read_to_string(dir.path().join("log.jsonl")).unwrap();
    assert_eq!(count(&log, "resuming a journaled run"), 1, "the second run started over");
    assert_eq!(read_json(&dir.path().join("summary.json"))["rounds_run"], 3);
    let db = sled::open(dir.path().join("db")).unwrap();
    let journal = Journal::open(&db).unwrap();
    let kept = journal.get::<Proposal>("rank-fusion", 2, Step::Proposal).unwrap().unwrap();
    assert_eq!(
        serde_json::to_value(&kept).unwrap(),
        serde_json::to_value(&proposal).unwrap(),
        "round 2 was re-proposed"
    );
    assert!(journal.get::<Verdict>("rank-fusion", 2, Step::Verdict).unwrap().is_some());
}
