//! `rectune analyze FILE`: a platform read in, the full analysis out, with numbers that
//! agree with gbstats (the committed golden expectations).

mod common;

use common::*;
use serde_json::{json, Value};

fn golden(name: &str) -> Value {
    let all = read_json(&repo_file("tests/golden/gbstats_expected.json"));
    all["cases"].as_array().expect("cases").iter().find(|c| c["name"] == name).expect("golden case").clone()
}

/// A read of two arms carrying one golden case's two metrics (`m`), plus a second metric.
fn read_of(case: &Value, other: &Value) -> Value {
    let units = |side: &str| case[side]["n"].clone();
    json!({
        "experiment_id": "exp-golden",
        "status": "completed",
        "progress": 1.0,
        "arms": [
            {"arm_id": "control", "units": units("control"), "metrics": {"m": case["control"], "other": other["control"]}},
            {"arm_id": "t1", "units": units("treatment"), "metrics": {"m": case["treatment"], "other": other["treatment"]}}
        ]
    })
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * b.abs().max(1e-3)
}

#[test]
fn json_analysis_agrees_with_gbstats_including_cuped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let case = golden("cuped_pre_means_differ");
    let other = golden("mean_rare_n20k");
    std::fs::write(dir.path().join("read.json"), read_of(&case, &other).to_string()).expect("write");
    let confidence = 1.0 - case["alpha"].as_f64().expect("alpha");
    let out = rectune(dir.path())
        .args(["analyze", "read.json", "--json", "--confidence", &confidence.to_string()])
        .output()
        .expect("analyze");
    assert!(out.status.success(), "{}", stderr(&out));
    let a: Value = serde_json::from_str(&stdout(&out)).expect("JSON analysis");
    let m = a["comparisons"].as_array().expect("comparisons").iter().find(|c| c["metric"] == "m").expect("m").clone();
    let e = &case["expected"];
    for (ours, theirs) in [
        (&m["absolute"], &e["absolute"]),
        (&m["relative"], &e["relative"]),
        (&m["cuped"]["relative"], &e["cuped_relative"]),
        (&m["cuped"]["absolute"], &e["cuped_absolute"]),
    ] {
        for (o, t) in [("estimate", "estimate"), ("low", "ci_low"), ("high", "ci_high")] {
            let (x, y) = (ours["ci"][o].as_f64().expect("ours"), theirs[t].as_f64().expect("theirs"));
            assert!(close(x, y), "{o}: ours {x}, gbstats {y}");
        }
        let (p, q) = (ours["p_value"].as_f64().expect("p"), theirs["p_value"].as_f64().expect("p"));
        assert!(close(p, q), "p: ours {p}, gbstats {q}");
    }
    assert!(close(m["cuped"]["theta"].as_f64().expect("theta"), e["cuped_theta"].as_f64().expect("theta")));
    assert!(m["cuped"]["ci_narrowing_pct"].as_f64().expect("narrowing") > 0.0);
    // Two comparisons: both corrections present and never below the raw p-value.
    for c in a["comparisons"].as_array().expect("comparisons") {
        let p = c["p_value"].as_f64().expect("p");
        assert!(c["holm_p"].as_f64().expect("holm") >= p && c["bh_p"].as_f64().expect("bh") >= p, "{c}");
        assert!(c["sequential"]["interval"]["low"].is_number(), "{c}");
    }
    assert_eq!(a["srm"]["blocked"], false);
}

#[test]
fn the_table_shows_effects_corrections_and_the_srm_verdict() {
    let dir = tempfile::tempdir().expect("tempdir");
    let case = golden("cuped_pre_means_differ");
    let mut read = read_of(&case, &golden("mean_rare_n20k"));
    // A split far off 50/50: the SRM check must block conclusions.
    read["arms"][1]["units"] = json!(case["control"]["n"].as_u64().expect("n") * 2);
    std::fs::write(dir.path().join("read.json"), read.to_string()).expect("write");
    let out = rectune(dir.path()).args(["analyze", "read.json"]).output().expect("analyze");
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    for needle in ["Holm p", "BH p", "CUPED lift", "seq CI", "SRM:", "BLOCKED"] {
        assert!(table.contains(needle), "the table lacks `{needle}`:\n{table}");
    }
}

#[test]
fn a_bad_read_is_a_one_line_error_naming_the_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut read = read_of(&golden("cuped_n10"), &golden("mean_n20_large_effect"));
    read["arms"][1]["metrics"]["m"]["sum"] = json!("lots");
    std::fs::write(dir.path().join("bad.json"), read.to_string()).expect("write");
    let out = rectune(dir.path()).args(["analyze", "bad.json"]).output().expect("analyze");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("arms[1].metrics.m"), "{err}");
    let out = rectune(dir.path()).args(["analyze", "missing.json"]).output().expect("analyze");
    assert!(!out.status.success() && stderr(&out).contains("missing.json"), "{}", stderr(&out));
}
