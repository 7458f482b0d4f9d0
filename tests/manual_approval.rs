//! With `agents.online.approval = "manual"` nothing goes live until a person decides from
//! another process: an approved experiment launches and the run goes on; a rejected one
//! is never launched, its round ends without an experiment (the decision, who and why
//! journaled) and the next round proposes afresh; a pending approval survives a crash of
//! the run without a second launch. The platform server's own launch record is the judge.

mod common;
use agents::approval::ApprovalDecision;
use agents::journal::{Journal, Step};
use agents::online::LaunchRecord;
use agents::protocol::ExperimentResult;
use common::live::{http, LiveRun};
use common::*;
use rectune::platform::serve::launch_log::{LaunchEvent, LaunchOutcome};
use rectune::platform::serve::LaunchLog;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(120);
const MANUAL: (&str, &str) = ("RECTUNE__AGENTS__ONLINE__APPROVAL", "manual");

fn pending(s: &Value) -> Vec<String> {
    s["pending_approvals"].as_array().into_iter().flatten().filter_map(|p| p["id"].as_str().map(String::from)).collect()
}

fn decide(dir: &Path, verb: &str, id: &str, extra: &[&str]) -> std::process::Output {
    rectune(dir).args([verb, id, "--db", "db"]).args(extra).output().expect("run rectune approve/reject")
}

fn launches(path: &Path) -> Vec<LaunchEvent> {
    if !path.exists() {
        return Vec::new();
    }
    LaunchLog::read(path).expect("the platform's launch record")
}

#[test]
fn a_run_waits_for_approval_and_a_rejected_experiment_never_launches() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("launches.jsonl");
    let server = PlatformServer::start(dir.path(), &["--launch-log", &record.to_string_lossy()]);
    let args = ["--rounds", "2", "--seed", "9", "--platform", &server.url, "--json-summary", "summary.json"];
    let mut run = LiveRun::start(dir.path(), "db", &args, &[MANUAL]);
    let addr = run.status_addr(WAIT);

    // Round 1 is prepared and waits: nothing reached the platform.
    let s = run.wait_status(&addr, None, WAIT, |s| pending(s) == ["rank-fusion-r1"]);
    let r1 = &s["pending_approvals"][0];
    assert!(r1["arms"].as_array().is_some_and(|a| a.len() >= 2), "{r1:#}");
    assert!(launches(&record).is_empty(), "launched before approval: {:?}", launches(&record));

    let no_reason = decide(dir.path(), "reject", "rank-fusion-r1", &["--by", "ann", "--reason", " "]);
    assert!(!no_reason.status.success() && stderr(&no_reason).contains("reason"), "{}", stderr(&no_reason));
    let unknown = decide(dir.path(), "approve", "rank-fusion-r7", &["--by", "ann"]);
    assert!(!unknown.status.success() && stderr(&unknown).contains("rank-fusion-r1"), "{}", stderr(&unknown));
    let rejected =
        decide(dir.path(), "reject", "rank-fusion-r1", &["--by", "ann", "--reason", "too close to the holiday freeze"]);
    assert!(rejected.status.success(), "{}", stderr(&rejected));
    assert!(stdout(&rejected).contains("will not be launched"), "{}", stdout(&rejected));

    // The next round proposes again and waits in turn; the rejection is final.
    run.wait_status(&addr, None, WAIT, |s| pending(s) == ["rank-fusion-r2"]);
    let again = decide(dir.path(), "approve", "rank-fusion-r1", &["--by", "bob"]);
    assert!(!again.status.success() && stderr(&again).contains("already rejected by ann"), "{}", stderr(&again));
    assert!(launches(&record).is_empty(), "{:?}", launches(&record));
    let approved = decide(dir.path(), "approve", "rank-fusion-r2", &["--by", "bob", "--reason", "looks safe"]);
    assert!(approved.status.success(), "{}", stderr(&approved));

    let status = run.wait_exit(WAIT);
    assert!(status.success(), "{}", run.stderr());
    let events = launches(&record);
    assert_eq!(events.len(), 1, "only the approved experiment launched: {events:?}");
    assert_eq!((events[0].outcome.clone(), events[0].name.as_str()), (LaunchOutcome::Launched, "rank-fusion/round-2"));
    assert!(run.stdout().contains("rejected by ann (too close to the holiday freeze)"), "{}", run.stdout());
    let summary = read_json(&dir.path().join("summary.json"));
    assert_eq!(summary["rounds_run"], 2, "{summary:#}");

    let db = sled::open(dir.path().join("db")).unwrap();
    let journal = Journal::open(&db).unwrap();
    let d1: ApprovalDecision = journal.get("rank-fusion", 1, Step::Approval).unwrap().expect("round 1's decision");
    assert_eq!(
        (d1.approved, d1.by.as_str(), d1.reason.as_deref()),
        (false, "ann", Some("too close to the holiday freeze"))
    );
    let d2: ApprovalDecision = journal.get("rank-fusion", 2, Step::Approval).unwrap().expect("round 2's decision");
    assert_eq!((d2.approved, d2.by.as_str(), d2.reason.as_deref()), (true, "bob", Some("looks safe")));
    assert!(journal.get::<LaunchRecord>("rank-fusion", 1, Step::Launch).unwrap().is_some(), "round 1 was prepared");
    assert!(journal.get::<String>("rank-fusion", 1, Step::Launched).unwrap().is_none(), "round 1 launched");
    assert!(journal.get::<ExperimentResult>("rank-fusion", 1, Step::Result).unwrap().is_none());
    assert!(journal.get::<ExperimentResult>("rank-fusion", 2, Step::Result).unwrap().is_some());
    let done: String = journal.get("rank-fusion", 1, Step::Done).unwrap().expect("round 1 ended");
    assert!(done.contains("rejected by ann"), "{done}");
    let log = std::fs::read_to_string(dir.path().join("log.jsonl")).unwrap();
    assert!(log.contains("launch rejected; the experiment is not launched"), "the log lacks the rejection");
}

#[test]
fn a_pending_approval_survives_a_crash_without_a_second_launch() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("launches.jsonl");
    let server = PlatformServer::start(dir.path(), &["--launch-log", &record.to_string_lossy()]);
    let args = ["--rounds", "1", "--seed", "4", "--platform", &server.url];

    let mut first = LiveRun::start(dir.path(), "db", &args, &[MANUAL]);
    let addr = first.status_addr(WAIT);
    let before = first.wait_status(&addr, None, WAIT, |s| pending(s) == ["rank-fusion-r1"]);
    first.signal("KILL");
    first.wait_exit(WAIT);
    assert!(launches(&record).is_empty(), "{:?}", launches(&record));

    // The restarted run waits for the same experiment (same id, same idempotency key).
    let mut second = LiveRun::start(dir.path(), "db", &args, &[MANUAL]);
    let addr = second.status_addr(WAIT);
    assert!(http(&addr, "GET", "/healthz", None).is_ok());
    let after = second.wait_status(&addr, None, WAIT, |s| pending(s) == ["rank-fusion-r1"]);
    assert_eq!(after["pending_approvals"][0]["key"], before["pending_approvals"][0]["key"]);
    assert_eq!(after["pending_approvals"][0]["arms"], before["pending_approvals"][0]["arms"]);
    assert!(launches(&record).is_empty(), "{:?}", launches(&record));
    let approved = decide(dir.path(), "approve", "rank-fusion-r1", &["--by", "cy"]);
    assert!(approved.status.success(), "{}", stderr(&approved));
    let status = second.wait_exit(WAIT);
    assert!(status.success(), "{}", second.stderr());

    let events = launches(&record);
    assert_eq!(events.len(), 1, "one launch request, once: {events:?}");
    assert_eq!(events[0].outcome, LaunchOutcome::Launched);
    assert_eq!(Some(&Value::String(events[0].key.clone())), before["pending_approvals"][0].get("key"));

    // A finished run takes no decision any more: the endpoint is gone with it.
    let late = decide(dir.path(), "approve", "rank-fusion-r1", &["--by", "cy"]);
    assert!(!late.status.success(), "{}", stdout(&late));
}
