//! An agent that crashes mid-round is restarted by its supervisor with its state
//! rebuilt from the store, and the run completes the same number of rounds with the
//! same outcome as an undisturbed run.

mod common;
use common::*;

fn run(dir: &std::path::Path, db: &str, crash: Option<&str>) -> serde_json::Value {
    let mut cmd = rectune(dir);
    cmd.args(["run", "--rounds", "4", "--quiet", "--db", db, "--json-summary", &format!("{db}.json")]);
    if let Some(agent) = crash {
        cmd.env("RECTUNE__CHAOS__AGENT", agent).env("RECTUNE__CHAOS__ROUND", "2");
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    read_json(&dir.join(format!("{db}.json")))
}

#[test]
fn crashed_agents_are_restarted_and_the_run_completes() {
    let dir = tempfile::tempdir().unwrap();
    let calm = run(dir.path(), "calm", None);
    for agent in ["insight", "critic", "online"] {
        let s = run(dir.path(), agent, Some(agent));
        assert_eq!(s["rounds_run"], calm["rounds_run"], "{agent}");
        assert_eq!(s["restarts"][agent], 1, "{agent}: {}", s["restarts"]);
        assert_eq!(s["final_config"], calm["final_config"], "{agent} crash changed the outcome");
    }
}
