//! Tuning quality at equal budget, side by side in one run: rectune's built-in optimiser
//! (cold, and warm-started from its skills after a model change), uniform random search,
//! Optuna TPE and GP and nevergrad NGOpt, on every simulator scenario and several seeds.
//!
//! Every strategy spends the task file's budget (rounds x arms per round x units per arm)
//! on the same simulator. rectune's strategies run in process (all five agents, the
//! Critic and the ship rule). The Python baselines (`benches/baselines/run_baseline.py`)
//! drive a `rectune platform serve` child process through the HTTP platform contract,
//! as the Online agent would drive any platform; they need the virtual environment that
//! `scripts/bench-venv.sh` installs into `.venv-bench/` (without it their rows are
//! skipped). The noise-free oracle of the simulator then judges every strategy's final
//! configuration, its best-so-far configuration after each round and every configuration
//! it launched. For rectune's runs the Critic's risk rule is also audited from the
//! journal: how many launched arms the surrogate predicted above the risk threshold.
//! A second table gives every scenario's provable ceiling under both model versions
//! (`rectune::platform::sim::ceiling`): the share of the gap the ship rule can reach.
//!
//! `cargo bench --bench tuning`; environment:
//! - `BENCH_SEEDS=N` (default 5): seeds 1..=N;
//! - `BENCH_SCENARIOS=a,b` (default all three);
//! - `BENCH_STRATEGIES=...` (default `random,random-bm,builtin,tpe,gp,ngopt,cold-v2,warm-v2`);
//! - `BENCH_PYTHON=path` (default `.venv-bench/bin/python`);
//! - `BENCH_VERBOSE=1` prints every run.

use agents::actor::ActorReasoning;
use agents::journal::Journal;
use agents::platform::Oracle;
use agents::strategy::critique::launched_risks;
use rectune::platform::sim::{Scenario, SimOracle};
use rectune::runtime;
use rectune::settings::{Overrides, Settings};
use serde::Deserialize;
use skillhub::task::lifts_pct;
use skillhub::{Configuration, TaskSpec};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

const SCENARIOS: [&str; 3] = ["prerank-fusion", "rank-fusion", "rerank-diversity"];
const DEFAULT_STRATEGIES: &str = "random,random-bm,builtin,tpe,gp,ngopt,cold-v2,warm-v2";
/// A configuration "reaches" the optimum when it captures this share of the gap.
const REACHED: f64 = 0.9;
/// A second, lower mark: where few runs reach 90% within the budget, the rounds to this
/// share still show how fast a strategy gets most of the way (e.g. a warm start).
const REACHED_LOW: f64 = 0.8;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The simulator's noise-free judgement of configurations for one task and model version.
struct Judge {
    oracle: SimOracle,
    task: TaskSpec,
    baseline: BTreeMap<String, f64>,
    optimum: f64,
}

struct Verdict {
    /// Share of the baseline-to-optimum gap, in [0, 1]; 0 for a configuration that
    /// breaches a guardrail in truth (it could not stay in production).
    gap: f64,
    feasible: bool,
}

impl Judge {
    fn new(scenario: &str, version: &str, task: &TaskSpec) -> Judge {
        let oracle = Scenario::load(scenario, version).expect("scenario").oracle();
        let baseline = oracle.expected(&task.baseline());
        let optimum = oracle.optimum(task).score;
        Judge { oracle, task: task.clone(), baseline, optimum }
    }

    fn judge(&self, config: &Configuration) -> Verdict {
        let metrics = self.oracle.expected(config);
        let score = self.task.score(&lifts_pct(&metrics, &self.baseline));
        let feasible = self.task.feasible(&metrics, &self.baseline);
        let gap = if !feasible {
            0.0
        } else if self.optimum > 1e-9 {
            (score / self.optimum).clamp(0.0, 1.0)
        } else {
            1.0
        };
        Verdict { gap, feasible }
    }
}

/// What one strategy did on one seed, as configurations (judged afterwards).
#[derive(Default)]
struct Trace {
    final_config: Configuration,
    /// The configuration the strategy would run in production after each round.
    best_after_round: Vec<Configuration>,
    /// Every treatment arm it launched.
    launched: Vec<Configuration>,
    /// rectune only: treatments launched per round (narrow rounds launch one).
    treatments: Vec<usize>,
    /// rectune only: launched arms whose guardrail-breach probability, predicted by the
    /// surrogate the Critic had when it accepted them, was above the Critic's threshold
    /// (audited afterwards from the run's journal by `launched_risks`), out of those that
    /// had a prediction. `None` for strategies without a Critic.
    risky: Option<(usize, usize)>,
    seconds: f64,
    note: Option<String>,
}

struct Scored {
    gap: f64,
    feasible: bool,
    rounds_to_reach: Option<usize>,
    rounds_to_low: Option<usize>,
    breaches: usize,
    launched: usize,
    risky: Option<(usize, usize)>,
    seconds: f64,
    note: Option<String>,
}

fn score(judge: &Judge, t: &Trace) -> Scored {
    let fin = judge.judge(&t.final_config);
    let rounds_to = |share: f64| t.best_after_round.iter().position(|c| judge.judge(c).gap >= share).map(|i| i + 1);
    let (rounds_to_reach, rounds_to_low) = (rounds_to(REACHED), rounds_to(REACHED_LOW));
    let breaches = t.launched.iter().filter(|c| !judge.judge(c).feasible).count();
    Scored {
        gap: fin.gap,
        feasible: fin.feasible,
        rounds_to_reach,
        rounds_to_low,
        breaches,
        launched: t.launched.len(),
        risky: t.risky,
        seconds: t.seconds,
        note: t.note.clone().map(|n| if verbose() { format!("{n}; {}", trajectory(judge, t)) } else { n }),
    }
}

/// Per round: the captured gap of what would run, how many treatments were read, and
/// the best true gap among the launched arms that hold every guardrail in truth (what a
/// round could have shipped with a perfect read).
fn trajectory(judge: &Judge, t: &Trace) -> String {
    let pct = |g: f64| format!("{:.0}", 100.0 * g);
    let gaps: Vec<String> = t.best_after_round.iter().map(|c| pct(judge.judge(c).gap)).collect();
    let mut arms = t.launched.iter();
    let best_launched: Vec<String> = t
        .treatments
        .iter()
        .map(|&k| {
            let best = arms.by_ref().take(k).map(|c| judge.judge(c)).filter(|j| j.feasible).map(|j| j.gap);
            pct(best.fold(0.0, f64::max))
        })
        .collect();
    format!(
        "gap % by round {}, treatments by round {:?}, best feasible launched arm % by round {}",
        gaps.join(" "),
        t.treatments,
        best_launched.join(" ")
    )
}

fn settings(scenario: &str, seed: u64, db: &Path, version: &str, reasoning: ActorReasoning) -> Settings {
    let task = root().join(format!("config/tasks/{scenario}.toml"));
    let overrides =
        Overrides { task_file: Some(task), db: Some(db.to_path_buf()), seed: Some(seed), ..Default::default() };
    let mut s = Settings::load(&overrides).expect("bench settings");
    s.agents.actor.reasoning = reasoning;
    s.platform.model_version = version.to_string();
    s
}

/// A full `rectune run` in process; the trace comes from the rounds as they finish.
fn rectune_run(settings: &Settings) -> Trace {
    let started = Instant::now();
    let mut trace = Trace::default();
    let mut incumbent = settings.task.baseline();
    let mut resumed = 0;
    let summary = actix_rt::System::new()
        .block_on(runtime::run(settings, |r| {
            resumed += usize::from(r.resumed);
            if let Some(res) = &r.result {
                // Treatments are the arms read against the control (the control and the
                // production baseline arm are not launched configurations of this round).
                let treatments: Vec<_> = res.arms.iter().filter(|a| !a.vs_control.is_empty()).collect();
                trace.treatments.push(treatments.len());
                trace.launched.extend(treatments.into_iter().map(|a| a.config.clone()));
            }
            if let Some(i) = &r.insight {
                incumbent = i.incumbent.config.clone();
            }
            trace.best_after_round.push(incumbent.clone());
        }))
        .expect("bench run");
    // A run that converged early keeps its incumbent for the rest of the budget.
    while trace.best_after_round.len() < settings.task.budget.rounds as usize {
        trace.best_after_round.push(summary.final_config.clone());
    }
    trace.final_config = summary.final_config;
    trace.seconds = started.elapsed().as_secs_f64();
    trace.risky = Some(audit_critic(settings));
    if resumed > 0 || trace.launched.is_empty() || verbose() {
        trace.note = Some(format!(
            "{} rounds run ({resumed} resumed), {} arms launched, stop: {}",
            summary.rounds_run,
            trace.launched.len(),
            summary.stop_reason
        ));
    }
    trace
}

/// The Critic's risk rule, checked from the finished run's journal (the run's actix
/// system has stopped, so its database is free to open): (launched arms predicted above
/// the threshold, launched arms that had a prediction).
fn audit_critic(settings: &Settings) -> (usize, usize) {
    let db = sled::Config::new().path(&settings.run.db).open().expect("open the run's database");
    let journal = Journal::open(&db).expect("journal");
    let risks = launched_risks(&journal, &settings.task).expect("audit the launched arms");
    let threshold = settings.agents.critic.guardrail_risk_threshold;
    (risks.iter().filter(|r| r.risk > threshold + 1e-9).count(), risks.len())
}

/// `rectune platform serve` for one scenario, stopped when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(scenario: &str, version: &str) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rectune"))
            .args(["platform", "serve", "--scenario", scenario, "--model-version", version, "--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start rectune platform serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("server banner");
        let url = line.split_whitespace().last().unwrap_or_default().to_string();
        assert!(url.starts_with("http://"), "unexpected banner from platform serve: {line:?}");
        Server { child, url }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Deserialize)]
struct BaselineOut {
    final_config: Configuration,
    rounds: Vec<BaselineRound>,
    launched: Vec<Configuration>,
    #[serde(default)]
    versions: BTreeMap<String, String>,
    #[serde(default)]
    optimiser_seconds: f64,
}

#[derive(Deserialize)]
struct BaselineRound {
    arms: Vec<BaselineArm>,
    best_so_far: Configuration,
}

#[derive(Deserialize)]
struct BaselineArm {
    values: BTreeMap<String, f64>,
    control_values: BTreeMap<String, f64>,
    score: f64,
    observed_feasible: bool,
}

/// Runs one Python baseline against the server; checks its objective and guardrail
/// readings against `TaskSpec::score` / `TaskSpec::feasible` arm by arm.
fn python_run(python: &Path, server: &Server, task: &TaskSpec, scenario: &str, strategy: &str, seed: u64) -> Trace {
    let started = Instant::now();
    let out = tempfile::NamedTempFile::new().expect("temp file");
    let status = Command::new(python)
        .arg(root().join("benches/baselines/run_baseline.py"))
        .args(["--url", &server.url, "--strategy", strategy, "--seed", &seed.to_string()])
        .arg("--task")
        .arg(root().join(format!("config/tasks/{scenario}.toml")))
        .arg("--out")
        .arg(out.path())
        .stderr(if verbose() { Stdio::inherit() } else { Stdio::null() })
        .status()
        .expect("run the Python baseline");
    assert!(status.success(), "{strategy} on {scenario} seed {seed} failed: {status}");
    let text = std::fs::read_to_string(out.path()).expect("baseline output");
    let run: BaselineOut = serde_json::from_str(&text).expect("baseline JSON");
    for arm in run.rounds.iter().flat_map(|r| &r.arms) {
        let rust = task.score(&lifts_pct(&arm.values, &arm.control_values));
        assert!(
            (rust - arm.score).abs() < 1e-9,
            "{strategy}: the Python objective {} disagrees with TaskSpec::score {rust}",
            arm.score
        );
        assert_eq!(
            task.feasible(&arm.values, &arm.control_values),
            arm.observed_feasible,
            "{strategy}: the Python guardrail reading disagrees with TaskSpec::feasible"
        );
    }
    Trace {
        final_config: run.final_config,
        best_after_round: run.rounds.into_iter().map(|r| r.best_so_far).collect(),
        launched: run.launched,
        treatments: Vec::new(),
        risky: None,
        seconds: started.elapsed().as_secs_f64(),
        note: verbose().then(|| format!("{:?}, optimiser {:.1} s", run.versions, run.optimiser_seconds)),
    }
}

fn verbose() -> bool {
    std::env::var("BENCH_VERBOSE").is_ok_and(|v| !v.is_empty() && v != "0")
}

fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_string())
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The provable ceiling of one scenario and model version (see
/// `rectune::platform::sim::ceiling`): what one experiment of the task's size could ship
/// under the ship rule, reading its expected values.
fn ceiling_row(scenario: &str, version: &str, task: &TaskSpec, confidence: f64, treatments: usize) -> String {
    let s = Scenario::load(scenario, version).expect("scenario");
    match s.provable_ceiling(task, confidence, treatments) {
        Ok(c) => {
            let margins: Vec<String> = task
                .guardrails
                .iter()
                .zip(&c.bar.guardrail_margins)
                .map(|(g, m)| format!("{} {m:.2}", g.describe()))
                .collect();
            format!(
                "| {scenario} | {version} | {treatments} | {:.1}% | {:.1}% | {} | {:.2} | {} |",
                100.0 * c.share(),
                100.0 * c.min_step_share(),
                c.bar.units_per_arm,
                c.bar.objective_se,
                margins.join("; ")
            )
        }
        Err(e) => format!("| {scenario} | {version} | {treatments} | not computed: {e} | | | | |"),
    }
}

/// One row of the table: a strategy on one scenario over every seed.
fn row(scenario: &str, model: &str, label: &str, runs: &[Scored]) {
    let n = runs.len();
    let gap = median(runs.iter().map(|r| r.gap).collect());
    let (lo, hi) = runs.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), r| (l.min(r.gap), h.max(r.gap)));
    let reach = |rounds: &dyn Fn(&Scored) -> Option<usize>| {
        let m = median(runs.iter().map(|r| rounds(r).map_or(f64::INFINITY, |x| x as f64)).collect());
        let m = if m.is_finite() { format!("{m:.1}").trim_end_matches(".0").to_string() } else { "never".into() };
        format!("{m} ({}/{n})", runs.iter().filter(|r| rounds(r).is_some()).count())
    };
    let (reach, reach_low) = (reach(&|r| r.rounds_to_reach), reach(&|r| r.rounds_to_low));
    let infeasible = runs.iter().filter(|r| !r.feasible).count();
    let breaches: usize = runs.iter().map(|r| r.breaches).sum();
    let launched: usize = runs.iter().map(|r| r.launched).sum();
    let risky = runs.iter().map(|r| r.risky).try_fold((0, 0), |(a, b), r| r.map(|(x, y)| (a + x, b + y)));
    let risky = risky.map_or_else(|| "-".to_string(), |(x, y)| format!("{x}/{y}"));
    let seconds: f64 = runs.iter().map(|r| r.seconds).sum();
    println!(
        "| {scenario} | {model} | {label} | {:.0}% ({:.0}-{:.0}) | {reach} | {reach_low} | {infeasible}/{n} | {breaches}/{launched} | {risky} | {seconds:.0} |",
        100.0 * gap,
        100.0 * lo,
        100.0 * hi,
    );
    for (i, r) in runs.iter().enumerate() {
        if let Some(note) = &r.note {
            println!("|   | | seed {}: {note} | | | | | | | |", i + 1);
        }
    }
}

fn main() {
    let seeds: u64 = std::env::var("BENCH_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    let scenarios = env_list("BENCH_SCENARIOS", &SCENARIOS.join(","));
    let strategies = env_list("BENCH_STRATEGIES", DEFAULT_STRATEGIES);
    let python = std::env::var_os("BENCH_PYTHON").map_or_else(|| root().join(".venv-bench/bin/python"), PathBuf::from);
    let has_python = python.exists();
    let dir = tempfile::tempdir().expect("temp dir");
    let wants = |s: &str| strategies.iter().any(|x| x == s);
    let started = Instant::now();

    println!("tuning quality at equal budget (the task files' rounds x arms x units), seeds 1-{seeds}");
    if !has_python {
        println!("(no Python at {}: run scripts/bench-venv.sh for the Optuna and nevergrad rows)", python.display());
    }
    println!("| scenario | model | strategy | captured gap, median (min-max) | rounds to 90%, median (runs that got there) | rounds to 80% | infeasible final | launched arms breaching a guardrail in truth | launched arms above the Critic's risk threshold (of those predicted) | seconds |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let mut ceilings = Vec::new();
    for scenario in &scenarios {
        let probe = settings(scenario, 1, &dir.path().join("probe.db"), "v1", ActorReasoning::Builtin);
        let task = probe.task;
        for version in ["v1", "v2"] {
            for treatments in [task.budget.arms_per_round as usize, 1] {
                ceilings.push(ceiling_row(scenario, version, &task, probe.agents.online.confidence, treatments));
            }
        }
        let judge_v1 = Judge::new(scenario, "v1", &task);
        let judge_v2 = Judge::new(scenario, "v2", &task);
        let db = |seed: u64, what: &str| dir.path().join(format!("{scenario}-{seed}-{what}.db"));

        if wants("random") {
            let runs: Vec<Scored> = (1..=seeds)
                .map(|s| {
                    score(
                        &judge_v1,
                        &rectune_run(&settings(scenario, s, &db(s, "random"), "v1", ActorReasoning::Random)),
                    )
                })
                .collect();
            row(scenario, "v1", "random search (rectune, ship rule)", &runs);
        }
        let python_strategies: Vec<(&str, &str)> = [
            ("random-bm", "random", "random search (best measured)"),
            ("tpe", "tpe", "Optuna TPE"),
            ("gp", "gp", "Optuna GP"),
            ("ngopt", "ngopt", "nevergrad NGOpt"),
        ]
        .into_iter()
        .filter(|(key, ..)| wants(key))
        .map(|(_, strategy, label)| (strategy, label))
        .collect();
        // The built-in v1 runs are also the first half of the warm-start runs.
        let mut builtin_v1: Vec<Scored> = Vec::new();
        let mut warm: Vec<Scored> = Vec::new();
        if wants("builtin") || wants("warm-v2") {
            for s in 1..=seeds {
                let path = db(s, "builtin");
                builtin_v1
                    .push(score(&judge_v1, &rectune_run(&settings(scenario, s, &path, "v1", ActorReasoning::Builtin))));
                if wants("warm-v2") {
                    let trace = rectune_run(&settings(scenario, s, &path, "v2", ActorReasoning::Builtin));
                    warm.push(score(&judge_v2, &trace));
                }
            }
        }
        if wants("builtin") {
            row(scenario, "v1", "rectune built-in (cold)", &builtin_v1);
        }
        if has_python && !python_strategies.is_empty() {
            let server = Server::start(scenario, "v1");
            for (strategy, label) in &python_strategies {
                let runs: Vec<Scored> = (1..=seeds)
                    .map(|s| score(&judge_v1, &python_run(&python, &server, &task, scenario, strategy, s)))
                    .collect();
                row(scenario, "v1", label, &runs);
            }
        }
        if wants("cold-v2") {
            let runs: Vec<Scored> = (1..=seeds)
                .map(|s| {
                    score(
                        &judge_v2,
                        &rectune_run(&settings(scenario, s, &db(s, "cold-v2"), "v2", ActorReasoning::Builtin)),
                    )
                })
                .collect();
            row(scenario, "v2", "rectune built-in (cold)", &runs);
        }
        if wants("warm-v2") {
            row(scenario, "v2", "rectune built-in (warm from v1 skills)", &warm);
        }
    }
    println!();
    println!("provable ceiling: the best configuration that one round of the budget's traffic, split over that many treatments and read at its expected values, would ship under the ship rule");
    println!("| scenario | model | treatments | provable ceiling (share of gap) | smallest provable step (share of gap) | units per arm | objective se (score points) | guardrail proof margins (limit units) |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for line in &ceilings {
        println!("{line}");
    }
    println!("total {:.0} s", started.elapsed().as_secs_f64());
}
