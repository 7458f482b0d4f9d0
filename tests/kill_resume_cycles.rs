//! Thirty `kill -9`/resume cycles of `rectune run` against the simulator served over
//! HTTP, then one run to the end. From the platform server's own record of launches
//! (kept by the server, outside the run's database): no experiment was launched twice,
//! every repeat was an idempotent one, and every experiment the server ran has its result
//! in the run's journal; and the outcome equals an uninterrupted run's.
//!
//! Where each kill lands is drawn from a seeded generator: an anchor, one of the run's
//! logged moments (a proposal, a verdict, a launch sent to the platform, an arm read, a
//! memory update, a skill patch, a round's end, or the process start), then a random
//! delay after it; after a launch the delay reaches into the experiment's polling. The
//! anchors come from the run's own log stream, so every cycle makes progress and the
//! kills spread over the whole run on a fast or a slow machine alike.
//!
//! The seed is printed; reproduce a failure's draws with `RECTUNE_KILL_SEED=<seed>
//! cargo nextest run -p rectune --test kill_resume_cycles --no-capture` (where exactly a
//! kill lands still depends on the machine's timing).

mod common;

use agents::journal::{Journal, Step};
use agents::online::LaunchRecord;
use agents::protocol::ExperimentResult;
use common::*;
use rand::{Rng, SeedableRng};
use rectune::platform::serve::launch_log::LaunchOutcome;
use rectune::platform::serve::LaunchLog;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CYCLES: usize = 30;
/// Long enough that thirty kills cannot reach the end: a cycle advances the run by at
/// most about one round (every anchor is the first such moment after the restart).
const ROUNDS: &str = "32";
const SEED: &str = "5";
const TASK: &str = "rank-fusion";
/// The longest a cycle waits for its anchor; a run that neither logs it nor ends is stuck.
const CYCLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A moment of the run to kill after: a log message (none: the process start), and the
/// range of the random delay after it, in ms.
struct Anchor {
    message: Option<&'static str>,
    delay_ms: std::ops::RangeInclusive<u64>,
}

const ANCHORS: [Anchor; 8] = [
    // During startup and recovery (opening the database, replaying the journal).
    Anchor { message: None, delay_ms: 0..=250 },
    Anchor { message: Some("proposed"), delay_ms: 0..=20 },
    Anchor { message: Some("accepted"), delay_ms: 0..=20 },
    // Just sent (the launch journaled, its acknowledgement maybe not) up to well into
    // the polling of the running experiment.
    Anchor { message: Some("launching experiment"), delay_ms: 0..=600 },
    Anchor { message: Some("arm read"), delay_ms: 0..=20 },
    Anchor { message: Some("memory updated"), delay_ms: 0..=20 },
    // Between two patches of one round, or after the last.
    Anchor { message: Some("skill patch applied"), delay_ms: 0..=10 },
    Anchor { message: Some("round complete"), delay_ms: 0..=20 },
];

fn kill_seed() -> u64 {
    std::env::var("RECTUNE_KILL_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
    })
}

fn run_cmd(dir: &Path, db: &str, summary: &str) -> Command {
    let mut c = rectune(dir);
    c.args(["run", "--task", "task.toml", "--rounds", ROUNDS, "--seed", SEED, "--quiet"]).args([
        "--db",
        db,
        "--json-summary",
        summary,
    ]);
    // Every round of the budget, with no stop at convergence: the kills need a long run
    // to land in, and a known number of rounds to check.
    c.env("RECTUNE__AGENTS__INSIGHT__PATIENCE", "1000");
    c
}

/// The log stream of the killed runs, read from where the current cycle started.
struct LogTail {
    path: PathBuf,
    offset: u64,
    partial: String,
}

impl LogTail {
    fn from_end(path: PathBuf) -> LogTail {
        let offset = std::fs::metadata(&path).map_or(0, |m| m.len());
        LogTail { path, offset, partial: String::new() }
    }

    /// How many new complete lines carry `message` (as their `fields.message`).
    fn count(&mut self, message: &str) -> usize {
        let Ok(mut f) = std::fs::File::open(&self.path) else { return 0 };
        let mut fresh = String::new();
        if f.seek(SeekFrom::Start(self.offset)).is_err() || f.read_to_string(&mut fresh).is_err() {
            return 0;
        }
        self.offset += fresh.len() as u64;
        self.partial.push_str(&fresh);
        let complete = self.partial.rfind('\n').map_or(0, |i| i + 1);
        let lines: String = self.partial.drain(..complete).collect();
        lines
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["fields"]["message"] == message)
            .count()
    }
}

/// Waits for `anchor` in the child's log (or its exit), then for the drawn delay.
/// Returns whether the child ended on its own first.
fn wait_for_anchor(child: &mut Child, log: &Path, anchor: &Anchor, delay: Duration) -> bool {
    let ended = |c: &mut Child| matches!(c.try_wait(), Ok(Some(_)));
    if let Some(message) = anchor.message {
        let mut tail = LogTail::from_end(log.to_path_buf());
        let deadline = Instant::now() + CYCLE_TIMEOUT;
        loop {
            if ended(child) {
                return true;
            }
            if tail.count(message) > 0 {
                break;
            }
            assert!(Instant::now() < deadline, "no `{message}` within {CYCLE_TIMEOUT:?}: the run is stuck");
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    wait_for(delay, || ended(child))
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
    task_variant(dir.path(), "task.toml", |t| replacing(&t, "units_per_arm = 320000", "units_per_arm = 20000"));
    let launches = dir.path().join("platform-launches.jsonl");
    let launches_arg = launches.to_string_lossy().into_owned();
    // Paced, so an experiment runs for a while and is polled: kills after a launch land
    // before its acknowledgement is journaled and while it runs.
    let server = PlatformServer::start(
        dir.path(),
        &["--scenario", TASK, "--launch-log", &launches_arg, "--pace-ms", "10", "--log-file", "server.jsonl"],
    );
    // The uninterrupted reference, on the in-process simulator, alongside the cycles.
    let reference = run_cmd(dir.path(), "ref.db", "ref.json").stdout(Stdio::null()).stderr(Stdio::piped()).spawn();
    let reference = reference.expect("start the reference run");

    let started = Instant::now();
    let cycle_log = dir.path().join("cycles.jsonl");
    let mut kills: Vec<(String, String)> = Vec::new();
    let mut finished_alone = 0;
    for cycle in 0..CYCLES {
        let anchor = &ANCHORS[rng.gen_range(0..ANCHORS.len())];
        let delay = rng.gen_range(anchor.delay_ms.clone());
        let at = format!("{} + {delay} ms", anchor.message.unwrap_or("start"));
        let err_file = dir.path().join(format!("cycle-{cycle}.stderr"));
        let mut child = run_cmd(dir.path(), "run.db", "run.json")
            .args(["--platform", &server.url])
            .env("RECTUNE__RUN__LOG_FILE", &cycle_log)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err_file).expect("stderr file"))
            .spawn()
            .expect("start rectune run");
        if wait_for_anchor(&mut child, &cycle_log, anchor, Duration::from_millis(delay)) {
            let status = child.wait().expect("wait");
            let err = std::fs::read_to_string(&err_file).unwrap_or_default();
            assert!(status.success(), "seed {seed}: cycle {cycle} ended on its own and failed: {err}");
            finished_alone += 1;
            continue;
        }
        child.kill().expect("SIGKILL"); // std's kill is SIGKILL: no chance to clean up
        child.wait().expect("reap");
        let err = std::fs::read_to_string(&err_file).unwrap_or_default();
        assert!(!err.contains("panicked"), "seed {seed}: cycle {cycle} panicked: {err}");
        kills.push((at, progress(&dir.path().join("run.db"))));
    }
    let cycles_took = started.elapsed();
    let last = run_cmd(dir.path(), "run.db", "run.json").args(["--platform", &server.url]).output().expect("run");
    assert!(last.status.success(), "seed {seed}: the final resume failed: {}", stderr(&last));
    let reference = reference.wait_with_output().expect("reference run");
    assert!(reference.status.success(), "reference run failed: {}", stderr(&reference));

    let mut by_step: BTreeMap<&str, usize> = BTreeMap::new();
    let mut rounds_hit = BTreeSet::new();
    for (_, state) in &kills {
        *by_step.entry(state.split(" before ").nth(1).unwrap_or("between rounds")).or_default() += 1;
        rounds_hit.extend(state.split_whitespace().nth(1).and_then(|r| r.parse::<u32>().ok()));
    }
    eprintln!(
        "seed {seed}: {} kills in {cycles_took:?}, {finished_alone} runs ended on their own; \
         killed before: {by_step:?}; in rounds {rounds_hit:?}",
        kills.len()
    );
    for (i, (at, state)) in kills.iter().enumerate() {
        eprintln!("  kill {i:>2}: at {at:<30} -> {state}");
    }
    assert_eq!(kills.len(), CYCLES, "seed {seed}: {finished_alone} runs ended before their kill");
    assert!(
        by_step.contains_key("launched") || by_step.contains_key("result"),
        "seed {seed}: no kill landed while an experiment was in flight: {by_step:?}"
    );
    assert!(by_step.len() >= 4, "seed {seed}: the kills hit too few steps: {by_step:?}");
    assert!(rounds_hit.len() >= 8, "seed {seed}: the kills stayed in a few rounds: {rounds_hit:?}");

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
