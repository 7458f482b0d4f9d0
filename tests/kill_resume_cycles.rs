//! Thirty `kill -9`/resume cycles of `rectune run` against the simulator served over
//! HTTP, each kill after a random delay (seeded, printed), then one run to the end. From
//! the platform server's own record of launches (kept by the server, outside the run's
//! database): no experiment was launched twice and every repeat was an idempotent one;
//! from the final run: no result was lost, and the outcome equals an uninterrupted run's.
//!
//! Reproduce a failure's kill delays with `RECTUNE_KILL_SEED=<seed printed> cargo nextest
//! run -p rectune --test kill_resume_cycles` (where the kills land still depends on the
//! machine's speed).

mod common;

use agents::journal::{Journal, Step};
use agents::online::LaunchRecord;
use agents::protocol::ExperimentResult;
use common::*;
use rand::{Rng, SeedableRng};
use rectune::platform::serve::launch_log::LaunchOutcome;
use rectune::platform::serve::LaunchLog;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CYCLES: usize = 30;
const ROUNDS: &str = "14";
const SEED: &str = "5";
/// Kill delays, from the start of the process, in ms.
const DELAY_MS: std::ops::Range<u64> = 80..600;
const TASK: &str = "rank-fusion";

fn kill_seed() -> u64 {
    std::env::var("RECTUNE_KILL_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
    })
}

fn run_cmd(dir: &Path, db: &str, summary: &str) -> Command {
    let mut c = rectune(dir);
    c.args(["run", "--task", "task.toml", "--rounds", ROUNDS, "--seed", SEED, "--quiet"])
        .args(["--db", db, "--json-summary", summary]);
    c
}

/// The journal's view of how far the run got: the first step of the first unfinished
/// round that has no record yet.
fn progress(db: &Path) -> String {
    let db = sled::open(db).expect("the killed run's database opens");
    let j = Journal::open(&db).expect("journal");
    let round = j.next_round(TASK).expect("next round");
    let steps = [
        (Step::Proposal, "proposal"),
        (Step::Verdict, "verdict"),
        (Step::Launch, "launch"),
        (Step::Launched, "launched"),
        (Step::Result, "result"),
        (Step::Insight, "insight"),
        (Step::Patches, "patches"),
        (Step::Done, "done"),
    ];
    for (step, name) in steps {
        if j.get::<serde_json::Value>(TASK, round, step).expect("journal read").is_none() {
            return format!("round {round} before {name}");
        }
    }
    format!("round {round} complete")
}

#[test]
fn thirty_random_kills_launch_nothing_twice_and_lose_no_result() {
    let seed = kill_seed();
    eprintln!("kill_resume_cycles: RECTUNE_KILL_SEED={seed}");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let dir = tempfile::tempdir().expect("tempdir");
    task_variant(dir.path(), "task.toml", |t| t.replace("units_per_arm = 80000", "units_per_arm = 20000"));
    let launches = dir.path().join("platform-launches.jsonl");
    let launches_arg = launches.to_string_lossy().into_owned();
    // Paced, so an experiment lasts about as long as the other steps of a round together
    // and the kills land in every step.
    let server = PlatformServer::start(
        dir.path(),
        &["--scenario", TASK, "--launch-log", &launches_arg, "--pace-ms", "10", "--log-file", "server.jsonl"],
    );
    // The uninterrupted reference, on the in-process simulator, alongside the cycles.
    let reference = run_cmd(dir.path(), "ref.db", "ref.json").stdout(Stdio::null()).stderr(Stdio::piped()).spawn();
    let reference = reference.expect("start the reference run");

    let started = Instant::now();
    let mut kills: Vec<(u64, String)> = Vec::new();
    let mut finished_alone = 0;
    for cycle in 0..CYCLES {
        let delay = rng.gen_range(DELAY_MS);
        let log = dir.path().join(format!("cycle-{cycle}.stderr"));
        let mut child = run_cmd(dir.path(), "run.db", "run.json")
            .args(["--platform", &server.url])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("stderr file"))
            .spawn()
            .expect("start rectune run");
        // Wait out the delay, unless the run ends first.
        let ended = wait_for(Duration::from_millis(delay), || matches!(child.try_wait(), Ok(Some(_))));
        if ended {
            let status = child.wait().expect("wait");
            let err = std::fs::read_to_string(&log).unwrap_or_default();
            assert!(status.success(), "seed {seed}: cycle {cycle} ended on its own and failed: {err}");
            finished_alone += 1;
            continue;
        }
        child.kill().expect("SIGKILL"); // no chance to clean up
        child.wait().expect("reap");
        let err = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(!err.contains("panicked"), "seed {seed}: cycle {cycle} panicked: {err}");
        kills.push((delay, progress(&dir.path().join("run.db"))));
    }
    let cycles_took = started.elapsed();
    let last = run_cmd(dir.path(), "run.db", "run.json").args(["--platform", &server.url]).output().expect("run");
    assert!(last.status.success(), "seed {seed}: the final resume failed: {}", stderr(&last));
    let reference = reference.wait_with_output().expect("reference run");
    assert!(reference.status.success(), "reference run failed: {}", stderr(&reference));

    let mut by_step: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, at) in &kills {
        *by_step.entry(at.split(" before ").nth(1).unwrap_or("between rounds")).or_default() += 1;
    }
    eprintln!(
        "seed {seed}: {} kills in {cycles_took:?}, {finished_alone} runs ended on their own; killed before: {by_step:?}",
        kills.len()
    );
    for (i, (delay, at)) in kills.iter().enumerate() {
        eprintln!("  kill {i:>2}: after {delay:>3} ms, {at}");
    }
    assert!(kills.len() >= CYCLES * 2 / 3, "seed {seed}: only {} of {CYCLES} runs were killed mid-way", kills.len());
    assert!(
        by_step.contains_key("launched") || by_step.contains_key("result"),
        "seed {seed}: no kill landed while an experiment was in flight: {by_step:?}"
    );

    // The server's record: one launch per experiment, repeats idempotent, no conflict.
    let events = LaunchLog::read(&launches).expect("the server's launch record");
    assert!(events.iter().all(|e| e.outcome != LaunchOutcome::Conflict), "seed {seed}: {events:#?}");
    let launched: Vec<_> = events.iter().filter(|e| e.outcome == LaunchOutcome::Launched).collect();
    let names: BTreeSet<_> = launched.iter().map(|e| e.name.as_str()).collect();
    let keys: BTreeSet<_> = launched.iter().map(|e| e.key.as_str()).collect();
    let ids: BTreeSet<_> = launched.iter().filter_map(|e| e.experiment_id.as_deref()).collect();
    assert_eq!(names.len(), launched.len(), "seed {seed}: a round was launched twice: {events:#?}");
    assert_eq!(keys.len(), launched.len(), "seed {seed}: a key launched twice: {events:#?}");
    assert_eq!(ids.len(), launched.len(), "seed {seed}: {events:#?}");
    for e in events.iter().filter(|e| e.outcome == LaunchOutcome::Repeated) {
        let original = launched.iter().find(|l| l.key == e.key);
        let original = original.unwrap_or_else(|| panic!("seed {seed}: a repeat of an unknown key: {e:?}"));
        assert_eq!(
            (&original.name, &original.experiment_id),
            (&e.name, &e.experiment_id),
            "seed {seed}: a repeat returned another experiment"
        );
    }

    // The final run's journal: every round done, one experiment each, all of them the
    // server's, launched under the journaled key.
    let db = sled::open(dir.path().join("run.db")).expect("db");
    let journal = Journal::open(&db).expect("journal");
    let done = journal.all::<serde_json::Value>(TASK, Step::Done).expect("done");
    assert_eq!(done.len(), ROUNDS.parse::<usize>().unwrap(), "seed {seed}: a round is missing");
    let results = journal.all::<ExperimentResult>(TASK, Step::Result).expect("results");
    let plans = journal.all::<LaunchRecord>(TASK, Step::Launch).expect("launches");
    assert_eq!(results.len(), plans.len(), "seed {seed}: a launched round has no result");
    for ((r1, plan), (r2, result)) in plans.iter().zip(&results) {
        assert_eq!(r1, r2);
        assert_eq!(plan.key, result.idempotency_key, "seed {seed}: round {r1} read another key's experiment");
        let on_server = launched.iter().find(|l| l.key == plan.key);
        let on_server = on_server.unwrap_or_else(|| panic!("seed {seed}: round {r1}'s key never reached the server"));
        assert_eq!(on_server.experiment_id.as_deref(), Some(result.experiment_id.as_str()), "seed {seed}: round {r1}");
    }
    assert_eq!(launched.len(), results.len(), "seed {seed}: the server ran experiments the run never read");
    let store = skillhub::SkillStore::open(&db).expect("store");
    let history = store.history(TASK).expect("history");
    let patch_ids: BTreeSet<_> = history.iter().map(|h| h.patch.id.as_str()).collect();
    assert_eq!(patch_ids.len(), history.len(), "seed {seed}: a skill patch was applied twice");

    let (a, b) = (read_json(&dir.path().join("ref.json")), read_json(&dir.path().join("run.json")));
    assert_eq!(b["rounds_run"], serde_json::json!(done.len()));
    for field in ["rounds_run", "arms_launched", "final_config", "shipped_in_round", "measured"] {
        assert_eq!(a[field], b[field], "seed {seed}: {field} differs from the uninterrupted run");
    }
    drop(server);
}
