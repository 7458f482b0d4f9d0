//! On every default scenario, eight rounds of the built-in agents capture most of the
//! noise-free baseline-to-optimum gap (median of 5 seeds; the floor per scenario is
//! below) and every final configuration satisfies every guardrail in truth.
//!
//! The floors leave about 0.07 below the measured medians (docs/BENCHMARKS.md), so that
//! a change to the optimiser that moves one seed a little does not fail the test while
//! a real regression does. On 2026-11-23 the five seeds captured prerank-fusion
//! 60/65/90/93/97%, rank-fusion 64/72/79/86/88%, rerank-diversity 78/80/86/88/91%.
//! prerank-fusion is bimodal (two seeds stop at about 60-65% on a plateau), so its
//! median can move by 25 points with one seed: its floor stays at the earlier 70%.

mod common;
use common::*;

fn captured(scenario: &str, seed: u64, dir: &std::path::Path) -> (f64, bool) {
    let summary = dir.join(format!("{scenario}-{seed}.json"));
    let out = rectune(dir)
        .args(["run", "--quiet", "--rounds", "8", "--seed", &seed.to_string()])
        .arg("--task")
        .arg(repo_file(&format!("config/tasks/{scenario}.toml")))
        .arg("--db")
        .arg(dir.join(format!("{scenario}-{seed}.db")))
        .arg("--json-summary")
        .arg(&summary)
        .output()
        .unwrap();
    assert!(out.status.success(), "{scenario} seed {seed}: {}", stderr(&out));
    let s = read_json(&summary);
    (s["captured_gap"].as_f64().expect("captured_gap"), s["truth"]["final_feasible"].as_bool().expect("final_feasible"))
}

fn check(scenario: &str, floor: f64) {
    let dir = tempfile::tempdir().unwrap();
    let mut gaps = Vec::new();
    for seed in 1..=5 {
        let (gap, feasible) = captured(scenario, seed, dir.path());
        assert!(feasible, "{scenario} seed {seed}: the final configuration breaches a guardrail in truth");
        gaps.push(gap);
    }
    gaps.sort_by(f64::total_cmp);
    assert!(gaps[2] >= floor, "{scenario}: median captured gap {:.2} < {floor} ({gaps:?})", gaps[2]);
}

#[test]
fn prerank_fusion_captures_most_of_the_gap() {
    check("prerank-fusion", 0.70);
}

#[test]
fn rank_fusion_captures_most_of_the_gap() {
    check("rank-fusion", 0.72);
}

#[test]
fn rerank_diversity_captures_most_of_the_gap() {
    check("rerank-diversity", 0.78);
}
