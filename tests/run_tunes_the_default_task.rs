//! `rectune run` on the embedded defaults tunes, prints progress and a summary, writes
//! the JSON summary and a JSON log stream with agent and message spans.

mod common;
use common::*;

#[test]
fn default_run_prints_progress_and_writes_summary_and_logs() {
    let dir = tempfile::tempdir().unwrap();
    let (text, s) = run_rounds(dir.path(), 3);
    for r in 1..=3 {
        assert!(text.contains(&format!("round {r}/3")), "no progress line for round {r}: {text}");
    }
    assert!(text.contains("captured gap"), "{text}");
    let gap = s["captured_gap"].as_f64().expect("captured_gap is a number");
    assert!((0.0..=1.0).contains(&gap), "{gap}");
    assert_eq!(s["rounds_run"], 3);
    assert!(s["truth"]["optimum_score_pct"].as_f64().unwrap() > 0.0);
    // The simulator sends pre-period data: CUPED must have narrowed the objective's intervals.
    let narrowed = s["cuped_narrowing_pct"]["sessions"].as_f64().expect("CUPED narrowing of sessions");
    assert!(narrowed > 5.0 && narrowed < 100.0, "{narrowed}");
    assert!(text.contains("CUPED narrowed"), "{text}");
    let log = std::fs::read_to_string(dir.path().join("log.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    assert!(
        lines.iter().any(|l| l["span"]["agent"] == "critic" && l["span"]["name"] == "message"),
        "no critic message span"
    );
    assert!(lines.iter().any(|l| l["fields"]["message"] == "rejected" || l["fields"]["message"] == "accepted"));
    assert!(lines
        .iter()
        .any(|l| l["fields"]["message"] == "launching experiment" && l["fields"]["sizing"].is_string()));
}

#[test]
fn skills_can_be_listed_shown_and_exported_after_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = rectune(dir.path()).args(["run", "--rounds", "2", "--db", "db", "--quiet"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let list = rectune(dir.path()).args(["skills", "list", "--db", "db"]).output().unwrap();
    let text = stdout(&list);
    for task in ["prerank-fusion", "rank-fusion", "rerank-diversity"] {
        assert!(text.contains(task), "{text}");
    }
    let show = rectune(dir.path()).args(["skills", "show", "rank-fusion", "--db", "db"]).output().unwrap();
    let md = stdout(&show);
    assert!(md.contains("rank.w_click") && md.contains("##"), "{md}");
    let export = rectune(dir.path()).args(["skills", "export", "--out", "exported", "--db", "db"]).output().unwrap();
    assert!(export.status.success(), "{}", stderr(&export));
    let exported = std::fs::read_to_string(dir.path().join("exported/rank-fusion.md")).unwrap();
    assert_eq!(exported.trim(), md.trim());
    let parsed = skillhub::parse_markdown(&exported).expect("exported skill parses back");
    assert!(parsed.version > 1, "the run should have patched the skill, version {}", parsed.version);
}

#[test]
fn a_closed_stdout_does_not_stop_the_run() {
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let mut child = rectune(dir.path())
        .args(["run", "--rounds", "2", "--db", "db", "--json-summary", "s.json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // like `rectune run | head -0`
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    assert_eq!(read_json(&dir.path().join("s.json"))["rounds_run"], 2, "the run must finish and write its summary");
}

#[test]
fn interim_looks_read_running_experiments_and_report_early_stops() {
    let dir = tempfile::tempdir().unwrap();
    let out = rectune(dir.path())
        .args(["run", "--rounds", "4", "--seed", "2", "--db", "db", "--quiet", "--json-summary", "s.json"])
        .env("RECTUNE__AGENTS__ONLINE__INTERIM_LOOKS", "4")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let s = read_json(&dir.path().join("s.json"));
    let stops = s["early_stops"].as_u64().expect("early_stops");
    assert!(stops <= s["experiments"].as_u64().unwrap());
    let log = std::fs::read_to_string(dir.path().join("log.jsonl")).unwrap();
    let looks: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["fields"]["message"] == "interim look")
        .collect();
    assert!(!looks.is_empty(), "no interim look was logged");
    for l in &looks {
        let p = l["fields"]["progress"].as_f64().expect("progress");
        assert!((0.2..1.0).contains(&p), "a look happens at a due fraction of a running experiment: {p}");
    }
}
