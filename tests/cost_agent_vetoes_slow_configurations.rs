//! The Cost agent, switched on by configuration alone (a `--config` file with
//! `[agents.cost] enabled = true`), vetoes candidates whose predicted serving latency
//! exceeds its budget: the same task and seed then launch fewer arms, every launched arm
//! runs within the budget by the simulator's own latency, the verdicts journal the vetoes
//! with their reasons, and the run ends elsewhere. Under supervision like the five
//! agents: crashed mid-run, it is restarted and the run ends as an undisturbed one.

mod common;

use agents::journal::{Journal, Step};
use agents::online::LaunchRecord;
use agents::protocol::Verdict;
use common::*;
use rectune::platform::sim::Scenario;
use std::path::Path;

const BUDGET_MS: f64 = 72.0;
const TASK: &str = "prerank-fusion";

/// How the Cost agent is switched on: not at all, by a configuration file, or by the
/// environment (the two layers an operator uses; nothing else changes).
#[derive(Clone, Copy)]
enum Cost {
    Off,
    ConfigFile,
    Env,
}

fn run_with(dir: &Path, db: &str, summary: &str, cost: Cost, env: &[(&str, &str)]) -> serde_json::Value {
    let mut c = rectune(dir);
    c.args(["run", "--task", "task.toml", "--rounds", "4", "--seed", "3", "--quiet"]).args([
        "--db",
        db,
        "--json-summary",
        summary,
    ]);
    match cost {
        Cost::Off => {}
        Cost::ConfigFile => {
            let file = dir.join("cost.toml");
            std::fs::write(&file, format!("[agents.cost]\nenabled = true\nlatency_budget_ms = {BUDGET_MS:?}\n"))
                .expect("write the configuration file");
            c.arg("--config").arg(file);
        }
        Cost::Env => {
            c.env("RECTUNE__AGENTS__COST__ENABLED", "true")
                .env("RECTUNE__AGENTS__COST__LATENCY_BUDGET_MS", BUDGET_MS.to_string());
        }
    }
    c.envs(env.iter().copied());
    let out = c.output().expect("run");
    assert!(out.status.success(), "{}", stderr(&out));
    read_json(&dir.join(summary))
}

fn run(dir: &Path, db: &str, summary: &str, cost: Cost) -> serde_json::Value {
    run_with(dir, db, summary, cost, &[])
}

/// The simulator's own latency of every arm the run launched (config as launched).
fn launched_latencies(dir: &Path, db: &str, scenario: &Scenario) -> Vec<(String, f64)> {
    let db = sled::open(dir.join(db)).expect("db");
    let journal = Journal::open(&db).expect("journal");
    let launches = journal.all::<LaunchRecord>(TASK, Step::Launch).expect("launches");
    launches
        .iter()
        .flat_map(|(round, rec)| rec.request.arms.iter().map(move |a| (format!("r{round}/{}", a.arm_id), &a.config)))
        .map(|(arm, cfg)| (arm, scenario.arm_model(cfg).expect("a valid configuration").latency_ms))
        .collect()
}

fn vetoes(dir: &Path, db: &str) -> Vec<String> {
    let db = sled::open(dir.join(db)).expect("db");
    let journal = Journal::open(&db).expect("journal");
    let verdicts = journal.all::<Verdict>(TASK, Step::Verdict).expect("verdicts");
    verdicts.into_iter().flat_map(|(_, v)| v.decisions).filter(|d| !d.accepted).map(|d| d.reason).collect()
}

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    task_variant(dir.path(), "task.toml", |_| {
        let prerank = std::fs::read_to_string(repo_file("config/tasks/prerank-fusion.toml")).expect("task");
        replacing(&prerank, "units_per_arm = 160000", "units_per_arm = 20000")
    });
    dir
}

#[test]
fn switching_the_cost_agent_on_keeps_every_launched_arm_within_the_latency_budget() {
    let dir = setup();
    let scenario = Scenario::load(TASK, "v1").expect("scenario");

    let without = run(dir.path(), "off.db", "off.json", Cost::Off);
    let off = launched_latencies(dir.path(), "off.db", &scenario);
    assert!(
        off.iter().any(|(_, ms)| *ms > BUDGET_MS),
        "without the Cost agent some arm runs slower than {BUDGET_MS} ms, or this test proves nothing: {off:?}"
    );
    assert!(vetoes(dir.path(), "off.db").iter().all(|r| !r.starts_with("vetoed by")));

    let with = run(dir.path(), "on.db", "on.json", Cost::ConfigFile);
    let on = launched_latencies(dir.path(), "on.db", &scenario);
    assert!(!on.is_empty(), "the Cost agent left nothing to launch");
    for (arm, ms) in &on {
        assert!(*ms <= BUDGET_MS, "{arm} runs at {ms:.1} ms, over the budget of {BUDGET_MS} ms");
    }
    let vetoed: Vec<_> = vetoes(dir.path(), "on.db").into_iter().filter(|r| r.starts_with("vetoed by cost:")).collect();
    assert!(!vetoed.is_empty(), "the verdicts journal the vetoes");
    assert!(vetoed.iter().all(|r| r.contains("exceeds the budget of 72 ms")), "{vetoed:?}");
    assert!(
        with["arms_launched"].as_u64() < without["arms_launched"].as_u64(),
        "fewer arms pass review: {} vs {}",
        with["arms_launched"],
        without["arms_launched"]
    );
    assert_ne!(with["final_config"], without["final_config"], "the outcome changes");
}

#[test]
fn a_crashed_cost_agent_is_restarted_and_the_run_ends_as_an_undisturbed_one() {
    let dir = setup();
    let calm = run(dir.path(), "calm.db", "calm.json", Cost::Env);
    let crash = [("RECTUNE__CHAOS__AGENT", "cost"), ("RECTUNE__CHAOS__ROUND", "2")];
    let crashed = run_with(dir.path(), "crash.db", "crash.json", Cost::Env, &crash);
    assert_eq!(crashed["restarts"]["cost"], 1, "{}", crashed["restarts"]);
    for field in ["rounds_run", "arms_launched", "final_config", "measured"] {
        assert_eq!(crashed[field], calm[field], "{field}: the crash changed the outcome");
    }
    assert_eq!(vetoes(dir.path(), "crash.db"), vetoes(dir.path(), "calm.db"), "the restarted agent vetoes alike");
}
