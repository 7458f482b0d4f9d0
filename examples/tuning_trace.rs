//! Round-by-round captured gap of full in-process runs, cold and warm-started after a
//! model change: how many rounds each needs to reach a share of the gap.
//!
//! `cargo run --release --example tuning_trace -- [scenario ...]`
//! env: TRACE_SEEDS (default 5), TRACE_ROUNDS (default 8), TRACE_TARGET (default 0.9),
//! TRACE_WARM=1 to add, per seed, a v1 run followed by a v2 run on the same database
//! (warm) next to a v2 run on a fresh one (cold), TRACE_COLD=0 to skip the cold v2 runs
//! (the figures for cold then read NaN); TRACE_V2_ROUNDS (default TRACE_ROUNDS)
//! to run the v2 runs longer than the v1 run their skill comes from, so a run that does
//! not reach the target within the budget still gets a number; TRACE_ARMS=1 to print
//! every arm (its read against the control, the truth's share of the gap, whether it
//! shipped).

use rectune::runtime;
use rectune::settings::{Overrides, Settings};
use std::path::{Path, PathBuf};

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

struct Trace {
    gaps: Vec<f64>,
    arms: Vec<usize>,
    final_gap: f64,
    feasible: bool,
    warm: Option<String>,
}

fn run(scenario: &str, version: &str, seed: u64, rounds: u32, db: &Path) -> Trace {
    let task = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("config/tasks/{scenario}.toml"));
    let overrides = Overrides {
        task_file: Some(task),
        db: Some(db.to_path_buf()),
        seed: Some(seed),
        rounds: Some(rounds),
        log_file: Some(db.with_extension("log.jsonl")),
        ..Default::default()
    };
    let mut settings = Settings::load(&overrides).expect("settings");
    settings.platform.model_version = version.to_string();
    let oracle = runtime::platform(&settings).expect("platform").oracle().expect("a simulator");
    let task = settings.task.clone();
    let opt = oracle.optimum(&task).score;
    let show_arms = env("TRACE_ARMS", 0u8) == 1;
    if show_arms {
        println!("    optimum score {opt:+.2}% at {:?}", oracle.optimum(&task).config);
    }
    let baseline_metrics = oracle.expected(&task.baseline());
    let gap = |c: &skillhub::Configuration| {
        let m = oracle.expected(c);
        (task.score(&skillhub::task::lifts_pct(&m, &baseline_metrics)) / opt).clamp(0.0, 1.0)
    };
    let mut gaps = Vec::new();
    let mut arms = Vec::new();
    // A round without a read (every candidate rejected) keeps the incumbent it had.
    let mut inc = task.baseline();
    let summary = actix_rt::System::new()
        .block_on(runtime::run(&settings, |r| {
            if let Some(i) = &r.insight {
                inc = i.incumbent.config.clone();
            }
            gaps.push(gap(&inc));
            arms.push(r.result.as_ref().map_or(0, |res| res.arms.iter().filter(|a| !a.vs_control.is_empty()).count()));
            for a in r.result.iter().flat_map(|res| &res.arms).filter(|a| show_arms && !a.vs_control.is_empty()) {
                let m = oracle.expected(&a.config);
                println!(
                    "    r{} {:<6} vs control {:+.2} ± {:.2} (p {:.3}) vs baseline {:+.2}; truth gap {:4.0}% feasible {} ships {}",
                    r.round,
                    a.candidate_id.as_deref().unwrap_or("-"),
                    a.score_vs_control.estimate,
                    a.score_se_vs_control,
                    a.score_p_vs_control,
                    a.score_vs_baseline.estimate,
                    100.0 * gap(&a.config),
                    task.feasible(&m, &baseline_metrics),
                    a.shippable
                );
                let guards: Vec<String> = task
                    .guardrails
                    .iter()
                    .filter_map(|g| {
                        let e = a.vs_baseline.iter().find(|e| e.metric == g.metric)?;
                        let v = a.guardrails.iter().find(|v| v.metric == g.metric).map(|v| format!("{:?}", v.status));
                        Some(format!("{} {:+.2}±{:.2} {}", g.describe(), e.lift_pct.estimate, e.std_err_pct, v.unwrap_or_default()))
                    })
                    .collect();
                println!("        {}", guards.join("; "));
            }
        }))
        .expect("run");
    let warm = serde_json::to_value(&summary)
        .ok()
        .and_then(|v| v.get("warm_start").filter(|w| !w.is_null()).map(|w| w.to_string()));
    Trace {
        gaps,
        arms,
        final_gap: summary.captured_gap.unwrap_or(0.0),
        feasible: summary.truth.is_none_or(|t| t.final_feasible),
        warm,
    }
}

fn rounds_to(t: &Trace, target: f64) -> Option<usize> {
    t.gaps.iter().position(|g| *g >= target).map(|i| i + 1)
}

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

fn show(label: &str, t: &Trace, target: f64) {
    let g: Vec<String> = t.gaps.iter().map(|g| format!("{:3.0}", 100.0 * g)).collect();
    println!(
        "  {label:<10} gaps% [{}] arms {:?} final {:.0}% feasible {} to{:.0}%: {:?}{}",
        g.join(" "),
        t.arms,
        100.0 * t.final_gap,
        t.feasible,
        100.0 * target,
        rounds_to(t, target),
        t.warm.as_ref().map_or(String::new(), |w| format!(" warm {w}"))
    );
}

fn main() {
    let seeds: u64 = env("TRACE_SEEDS", 5);
    let rounds: u32 = env("TRACE_ROUNDS", 8);
    let v2_rounds: u32 = env("TRACE_V2_ROUNDS", rounds);
    let target: f64 = env("TRACE_TARGET", 0.9);
    let warm: bool = env("TRACE_WARM", 0u8) == 1;
    let cold: bool = env("TRACE_COLD", 1u8) == 1;
    let mut scenarios: Vec<String> = std::env::args().skip(1).collect();
    if scenarios.is_empty() {
        scenarios = ["prerank-fusion", "rank-fusion", "rerank-diversity"].map(String::from).to_vec();
    }
    // TRACE_DIR keeps the databases and logs for a look afterwards.
    let kept = std::env::var_os("TRACE_DIR").map(PathBuf::from);
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = kept.as_deref().unwrap_or(temp.path());
    // Rounds to the target, a run that never reaches it counts as budget + 1.
    let miss = f64::from(if warm { v2_rounds } else { rounds }) + 1.0;
    for scenario in &scenarios {
        println!("{scenario}");
        let (mut finals, mut cold_r, mut warm_r, mut v2_finals, mut warm_finals) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for seed in 1..=seeds {
            let shared = dir.join(format!("{scenario}-{seed}.db"));
            let v1 = run(scenario, "v1", seed, rounds, &shared);
            show(&format!("v1 s{seed}"), &v1, target);
            finals.push(v1.final_gap);
            if warm {
                let w = run(scenario, "v2", seed, v2_rounds, &shared);
                show(&format!("v2warm s{seed}"), &w, target);
                if cold {
                    let c = run(scenario, "v2", seed, v2_rounds, &dir.join(format!("{scenario}-{seed}-cold.db")));
                    show(&format!("v2cold s{seed}"), &c, target);
                    cold_r.push(rounds_to(&c, target).map_or(miss, |r| r as f64));
                    v2_finals.push(c.final_gap);
                }
                warm_r.push(rounds_to(&w, target).map_or(miss, |r| r as f64));
                warm_finals.push(w.final_gap);
            } else {
                cold_r.push(rounds_to(&v1, target).map_or(miss, |r| r as f64));
            }
        }
        println!(
            "  median final gap v1 {:.0}%; median rounds to {:.0}% (miss = {miss}): cold {:.1}{}",
            100.0 * median(finals),
            100.0 * target,
            median(cold_r),
            if warm {
                format!(
                    " (v2), warm {:.1}; v2 final gap cold {:.0}% warm {:.0}%",
                    median(warm_r),
                    100.0 * median(v2_finals),
                    100.0 * median(warm_finals)
                )
            } else {
                String::new()
            }
        );
    }
}
