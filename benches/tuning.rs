//! Tuning quality at equal budget: the built-in strategy against uniform random search,
//! on every simulator scenario and several seeds, run in one process so the figures
//! are comparable. Prints the median share of the baseline-to-optimum gap captured,
//! the true objective, and how many final configurations breach a guardrail in truth.
//!
//! `cargo bench --bench tuning` (env BENCH_SEEDS=N to change the number of seeds).

use agents::actor::ActorReasoning;
use rectune::runtime;
use rectune::settings::{Overrides, Settings};
use std::path::PathBuf;
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

struct Outcome {
    gap: f64,
    score: f64,
    feasible: bool,
}

fn tune(scenario: &str, seed: u64, reasoning: ActorReasoning, dir: &std::path::Path) -> Outcome {
    let task = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("config/tasks/{scenario}.toml"));
    let db = dir.join(format!("{scenario}-{seed}-{reasoning:?}.db"));
    let overrides = Overrides { task_file: Some(task), db: Some(db), seed: Some(seed), ..Default::default() };
    let mut settings = Settings::load(&overrides).expect("bench settings");
    settings.agents.actor.reasoning = reasoning;
    let summary = actix_rt::System::new().block_on(runtime::run(&settings, |_| {})).expect("bench run");
    let truth = summary.truth.expect("the simulator knows its truth");
    Outcome { gap: summary.captured_gap.unwrap_or(0.0), score: truth.score_pct, feasible: truth.final_feasible }
}

fn main() {
    let seeds: u64 = std::env::var("BENCH_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    let dir = tempfile::tempdir().expect("temp dir");
    println!("tuning quality at equal budget (task files' budgets), median over {seeds} seeds");
    println!(
        "{:<18} {:<8} {:>13} {:>10} {:>12} {:>11} {:>8}",
        "scenario", "strategy", "captured gap", "vs random", "true obj. %", "infeasible", "seconds"
    );
    for scenario in ["prerank-fusion", "rank-fusion", "rerank-diversity"] {
        let mut random_gap = f64::NAN;
        // Random first, so the built-in line can show its ratio to it.
        for (name, reasoning) in [("random", ActorReasoning::Random), ("builtin", ActorReasoning::Builtin)] {
            let started = Instant::now();
            let runs: Vec<Outcome> = (1..=seeds).map(|s| tune(scenario, s, reasoning, dir.path())).collect();
            let infeasible = runs.iter().filter(|o| !o.feasible).count();
            let gap = median(runs.iter().map(|o| o.gap).collect());
            if reasoning == ActorReasoning::Random {
                random_gap = gap;
            }
            let ratio = if random_gap > 0.0 { format!("{:.2}x", gap / random_gap) } else { "-".into() };
            println!(
                "{scenario:<18} {name:<8} {:>12.0}% {ratio:>10} {:>+12.2} {:>6} / {seeds} {:>8.1}",
                100.0 * gap,
                median(runs.iter().map(|o| o.score).collect()),
                infeasible,
                started.elapsed().as_secs_f64()
            );
        }
    }
}
