//! Late in the default run the Actor narrows rounds: fewer treatments, each given the
//! round's traffic divided by the arms launched, never more traffic than the budget's
//! round. The progress lines, the summary and the log stream agree on how many.

mod common;
use common::*;

/// The default task's budget: 4 treatments x 320 000 units, plus the comparison arms.
const UNITS: u64 = 320_000;
const TREATMENTS: u64 = 4;

#[test]
fn narrow_rounds_get_the_whole_round_s_traffic_and_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (text, s) = run_rounds(dir.path(), 8);
    let narrow = s["narrow_rounds"].as_u64().expect("narrow_rounds");
    assert!(narrow >= 1, "the default run should narrow at least one late round: {s}");
    assert_eq!(text.matches(", narrow round of ").count() as u64, narrow, "{text}");

    let log = std::fs::read_to_string(dir.path().join("log.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    let decisions: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["fields"]["message"] == "narrow round").collect();
    assert_eq!(decisions.len() as u64, narrow, "one logged decision per narrow round");
    for d in &decisions {
        let reason = d["fields"]["reason"].as_str().expect("a narrow round says why");
        assert!(reason.contains("expected to ship") && reason.contains("for 4 treatments"), "{reason}");
    }

    let launches: Vec<(u64, u64)> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "simulated experiment launched")
        .map(|l| (l["fields"]["arms"].as_u64().expect("arms"), l["fields"]["units_per_arm"].as_u64().expect("units")))
        .collect();
    assert_eq!(launches.len(), 8, "one experiment per round");
    for &(arms, units) in &launches {
        // At most the round's traffic: four treatments, the control and the baseline.
        assert!(arms * units <= UNITS * (TREATMENTS + 2), "{arms} arms x {units} units");
    }
    // A one-treatment round: its arms (the treatment and 1-2 comparison arms) share what
    // four treatments and the same comparison arms would have had.
    let whole_round = |arms: u64| UNITS * (arms - 1 + TREATMENTS) / arms;
    assert!(
        launches.iter().any(|&(arms, units)| arms <= 3 && units == whole_round(arms)),
        "no one-treatment launch with the round's traffic: {launches:?}"
    );
}
