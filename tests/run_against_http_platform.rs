//! `rectune run --platform http://...` against `rectune platform serve`: the same
//! result as the in-process simulator, and recovery from an unavailable platform and
//! lost launch acknowledgements without a duplicate launch, judged from the server's
//! own record.

mod common;

use common::*;
use rectune::platform::serve::launch_log::LaunchOutcome;
use rectune::platform::serve::LaunchLog;
use std::collections::BTreeSet;

#[test]
fn a_flaky_http_platform_gives_the_in_process_result_without_duplicate_launches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let launches = dir.path().join("platform-launches.jsonl");
    let launches_arg = launches.to_string_lossy().into_owned();
    // 503 for the first 6 requests (catalogues and the first launch among them), and
    // the first 2 experiments launched with their acknowledgement lost.
    let server = PlatformServer::start(
        dir.path(),
        &["--scenario", "rank-fusion", "--unavailable", "6", "--lose-acks", "2", "--launch-log", &launches_arg],
    );
    let remote = rectune(dir.path())
        .args(["run", "--rounds", "3", "--seed", "11", "--quiet", "--db", "remote.db"])
        .args(["--json-summary", "remote.json", "--platform", &server.url])
        .env("RECTUNE__PLATFORM__HTTP__ATTEMPTS", "8")
        .output()
        .expect("run");
    assert!(remote.status.success(), "run over HTTP failed: {}", stderr(&remote));

    let events = LaunchLog::read(&launches).expect("the server's launch record");
    let launched: Vec<_> = events.iter().filter(|e| e.outcome == LaunchOutcome::Launched).collect();
    assert_eq!(launched.len(), 3, "one experiment per round: {events:?}");
    let names: BTreeSet<_> = launched.iter().map(|e| e.name.as_str()).collect();
    let keys: BTreeSet<_> = launched.iter().map(|e| e.key.as_str()).collect();
    assert_eq!((names.len(), keys.len()), (3, 3), "no round launched twice: {events:?}");
    let repeats = events.iter().filter(|e| e.outcome == LaunchOutcome::Repeated).count();
    assert!(repeats >= 2, "lost acknowledgements are recovered by re-sending the same key: {events:?}");
    assert!(events.iter().all(|e| e.outcome != LaunchOutcome::Conflict), "{events:?}");

    let local = rectune(dir.path())
        .args(["run", "--rounds", "3", "--seed", "11", "--quiet", "--db", "local.db", "--json-summary", "local.json"])
        .output()
        .expect("run");
    assert!(local.status.success(), "{}", stderr(&local));
    let (r, l) = (read_json(&dir.path().join("remote.json")), read_json(&dir.path().join("local.json")));
    for field in ["rounds_run", "arms_launched", "final_config", "shipped_in_round", "measured"] {
        assert_eq!(r[field], l[field], "{field} differs between the HTTP and the in-process platform");
    }
    assert!(r["captured_gap"].is_null(), "an HTTP platform has no oracle: {}", r["captured_gap"]);
}
