//! `kill -9` at several points of a run, then `rectune run` on the same database:
//! the run resumes, no round's experiment is launched under a second key, no result is
//! lost, no skill patch is applied twice, and the outcome equals an undisturbed run's.

mod common;
use agents::journal::{Journal, Step};
use agents::online::LaunchRecord;
use agents::protocol::ExperimentResult;
use common::*;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

const ROUNDS: &str = "5";

/// Decides, from the progress lines and the log stream so far, when to kill.
type KillPoint = dyn Fn(&[String], &str) -> bool;

fn args<'a>(db: &'a str, summary: &'a str) -> [&'a str; 10] {
    ["run", "--rounds", ROUNDS, "--seed", "3", "--db", db, "--json-summary", summary, "--log-file=log.jsonl"]
}

/// Starts a run and kills it with SIGKILL once `when` says so (given the progress lines
/// seen so far and the log stream), or lets it finish.
fn run_and_kill(dir: &Path, when: impl Fn(&[String], &str) -> bool) -> bool {
    let log_path = dir.join("log.jsonl");
    let seen = std::fs::read_to_string(&log_path).map_or(0, |l| l.len());
    let mut child =
        rectune(dir).args(args("db", "killed.json")).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let fired = wait_for(Duration::from_secs(120), || {
        lines.extend(rx.try_iter());
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        when(&lines, log.get(seen..).unwrap_or("")) || matches!(child.try_wait(), Ok(Some(_)))
    });
    let finished = matches!(child.try_wait(), Ok(Some(_)));
    if fired && !finished {
        child.kill().unwrap(); // SIGKILL: no chance to clean up
    }
    child.wait().unwrap();
    !finished
}

fn count(log: &str, message: &str) -> usize {
    log.lines().filter(|l| l.contains(&format!("\"message\":\"{message}\""))).count()
}

#[test]
fn resumes_after_kill_without_relaunching() {
    let dir = tempfile::tempdir().unwrap();
    let reference = rectune(dir.path()).args(args("ref", "ref.json")).output().unwrap();
    assert!(reference.status.success(), "{}", stderr(&reference));
    let _ = std::fs::remove_file(dir.path().join("log.jsonl"));

    // Kill points (each counted in the killed process's own output): mid-experiment of
    // round 1, right after round 1 is reported, mid-skill-update of round 2, after round
    // 3, and in the second experiment this process launches.
    let kills: Vec<Box<KillPoint>> = vec![
        Box::new(|_, log| count(log, "launching experiment") >= 1),
        Box::new(|lines, _| lines.iter().any(|l| l.starts_with("round 1/"))),
        Box::new(|_, log| count(log, "skill patch applied") >= 1),
        Box::new(|lines, _| lines.iter().any(|l| l.starts_with("round 3/"))),
        Box::new(|_, log| count(log, "launching experiment") >= 2),
    ];
    let mut killed = 0;
    for when in &kills {
        killed += usize::from(run_and_kill(dir.path(), when));
    }
    assert!(killed >= 3, "only {killed} runs were actually killed mid-way");
    let last = rectune(dir.path()).args(args("db", "killed.json")).output().unwrap();
    assert!(last.status.success(), "{}", stderr(&last));

    let a = read_json(&dir.path().join("ref.json"));
    let b = read_json(&dir.path().join("killed.json"));
    assert_eq!(a["rounds_run"], b["rounds_run"]);
    assert_eq!(a["final_config"], b["final_config"], "resumed run diverged");
    assert_eq!(a["measured"], b["measured"], "a result was lost or re-measured");

    let db = sled::open(dir.path().join("db")).unwrap();
    let journal = Journal::open(&db).unwrap();
    let launches = journal.all::<LaunchRecord>("rank-fusion", Step::Launch).unwrap();
    let results = journal.all::<ExperimentResult>("rank-fusion", Step::Result).unwrap();
    assert_eq!(results.len(), 5, "a result is missing");
    for ((r1, launch), (r2, result)) in launches.iter().zip(&results) {
        assert_eq!(r1, r2);
        assert_eq!(launch.key, result.idempotency_key, "round {r1} was launched under another key");
    }
    let store = skillhub::SkillStore::open(&db).unwrap();
    let history = store.history("rank-fusion").unwrap();
    let mut ids: Vec<&str> = history.iter().map(|h| h.patch.id.as_str()).collect();
    let total = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), total, "a skill patch was applied twice");
}
