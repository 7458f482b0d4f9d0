//! On every default scenario, eight rounds of the built-in agents capture at least 70%
//! of the noise-free baseline-to-optimum gap (median of 5 seeds), and every final
//! configuration satisfies every guardrail in truth.

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

fn check(scenario: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut gaps = Vec::new();
    for seed in 1..=5 {
        let (gap, feasible) = captured(scenario, seed, dir.path());
        assert!(feasible, "{scenario} seed {seed}: the final configuration breaches a guardrail in truth");
        gaps.push(gap);
    }
    gaps.sort_by(f64::total_cmp);
    assert!(gaps[2] >= 0.70, "{scenario}: median captured gap {:.2} < 0.70 ({gaps:?})", gaps[2]);
}

#[test]
fn prerank_fusion_captures_most_of_the_gap() {
    check("prerank-fusion");
}

#[test]
fn rank_fusion_captures_most_of_the_gap() {
    check("rank-fusion");
}

#[test]
fn rerank_diversity_captures_most_of_the_gap() {
    check("rerank-diversity");
}
