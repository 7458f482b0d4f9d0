//! Golden tests: rectune's experiment analysis against GrowthBook's gbstats.
//!
//! `tests/golden/gbstats_expected.json` holds two-arm reads (mean, ratio, CUPED and
//! interim-look cases) with what gbstats' frequentist engine says about them; it is
//! written by `tests/golden/gbstats_cases.py` (checked by `tests/golden/check.sh`).
//! Every number must agree within 1e-6 relative, or 1e-9 absolute near 0 (gbstats
//! computes p-values as `1 - cdf`, which has no relative accuracy in the far tail).

use agents::analysis::{analyze, AnalysisOptions, Comparison, Estimate};
use agents::platform::{ArmRead, ExperimentRead, ExperimentStatus, MetricData};
use agents::stats::{sequential_interval, srm_p_value, SequentialEstimate};
use serde::Deserialize;
use std::collections::BTreeMap;

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/golden/gbstats_expected.json");

#[derive(Deserialize)]
struct Golden {
    gbstats_version: String,
    cases: Vec<Case>,
    srm: Vec<SrmCase>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    alpha: f64,
    n_star: f64,
    control: MetricData,
    treatment: MetricData,
    expected: Expected,
}

#[derive(Deserialize)]
struct Expected {
    absolute: Numbers,
    relative: Numbers,
    cuped_absolute: Option<Numbers>,
    cuped_relative: Option<Numbers>,
    cuped_theta: Option<f64>,
    sequential_absolute: Numbers,
    sequential_relative: Numbers,
}

#[derive(Deserialize)]
struct Numbers {
    estimate: f64,
    ci_low: f64,
    ci_high: f64,
    p_value: f64,
}

#[derive(Deserialize)]
struct SrmCase {
    units: Vec<u64>,
    shares: Vec<f64>,
    p_value: f64,
}

fn golden() -> Golden {
    let text = std::fs::read_to_string(GOLDEN).unwrap_or_else(|e| panic!("{GOLDEN}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{GOLDEN}: {e}"))
}

fn agree(got: f64, want: f64) -> bool {
    let diff = (got - want).abs();
    diff <= 1e-9 || diff <= 1e-6 * want.abs()
}

/// Collects every disagreement, so that one run shows them all.
#[derive(Default)]
struct Mismatches(Vec<String>);

impl Mismatches {
    fn check(&mut self, what: String, got: f64, want: f64) {
        if !agree(got, want) {
            self.0.push(format!("{what}: rectune {got:e}, gbstats {want:e}"));
        }
    }

    fn numbers(&mut self, what: &str, got: &Numbers, want: &Numbers) {
        self.check(format!("{what}.estimate"), got.estimate, want.estimate);
        self.check(format!("{what}.ci_low"), got.ci_low, want.ci_low);
        self.check(format!("{what}.ci_high"), got.ci_high, want.ci_high);
        self.check(format!("{what}.p_value"), got.p_value, want.p_value);
    }
}

fn fixed(e: &Estimate) -> Numbers {
    Numbers { estimate: e.ci.estimate, ci_low: e.ci.low, ci_high: e.ci.high, p_value: e.p_value }
}

fn sequential(s: &SequentialEstimate) -> Numbers {
    Numbers { estimate: s.interval.estimate, ci_low: s.interval.low, ci_high: s.interval.high, p_value: s.p_value }
}

fn two_arm_read(case: &Case) -> ExperimentRead {
    let arm = |id: &str, data: &MetricData| ArmRead {
        arm_id: id.to_string(),
        units: data.n(),
        metrics: BTreeMap::from([("m".to_string(), data.clone())]),
    };
    ExperimentRead {
        experiment_id: case.name.clone(),
        status: ExperimentStatus::Running,
        progress: 0.5,
        arms: vec![arm("control", &case.control), arm("treatment", &case.treatment)],
        error: None,
    }
}

fn analyse(case: &Case) -> Comparison {
    let options =
        AnalysisOptions { confidence: 1.0 - case.alpha, sequential_tuning_n: case.n_star, ..Default::default() };
    let analysis = analyze(&two_arm_read(case), &options).unwrap_or_else(|e| panic!("{}: {e}", case.name));
    analysis.comparisons.into_iter().next().expect("one metric, one treatment arm")
}

fn check_case(case: &Case, out: &mut Mismatches) {
    let c = analyse(case);
    let (name, want) = (&case.name, &case.expected);
    out.numbers(&format!("{name}.absolute"), &fixed(&c.absolute), &want.absolute);
    out.numbers(&format!("{name}.relative"), &fixed(&c.relative), &want.relative);
    match (&c.cuped, &want.cuped_relative, &want.cuped_absolute, want.cuped_theta) {
        (Some(got), Some(rel), Some(abs), Some(theta)) => {
            out.check(format!("{name}.cuped_theta"), got.theta, theta);
            out.numbers(&format!("{name}.cuped_relative"), &fixed(&got.relative), rel);
            out.numbers(&format!("{name}.cuped_absolute"), &fixed(&got.absolute), abs);
        }
        (None, None, None, None) => {}
        _ => out.0.push(format!("{name}: CUPED present on one side only")),
    }
    out.numbers(&format!("{name}.sequential_relative"), &sequential(&c.sequential), &want.sequential_relative);
    // The analysis reports the sequential interval of the lift; the absolute one comes
    // from the same function with the (headline) absolute estimate and its variance.
    let abs = c.cuped.as_ref().map_or(&c.absolute, |x| &x.absolute);
    let n = c.n_control + c.n_treatment;
    let seq_abs = sequential_interval(abs.ci.estimate, abs.std_err.powi(2), n, 1.0 - case.alpha, case.n_star)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    out.numbers(&format!("{name}.sequential_absolute"), &sequential(&seq_abs), &want.sequential_absolute);
}

#[test]
fn analysis_agrees_with_gbstats() {
    let golden = golden();
    assert!(golden.cases.len() >= 40, "only {} golden cases", golden.cases.len());
    let mut out = Mismatches::default();
    for case in &golden.cases {
        check_case(case, &mut out);
    }
    assert!(
        out.0.is_empty(),
        "{} disagreements with gbstats {}:\n{}",
        out.0.len(),
        golden.gbstats_version,
        out.0.join("\n")
    );
}

#[test]
fn every_kind_of_case_is_covered() {
    let golden = golden();
    let count = |f: &dyn Fn(&Case) -> bool| golden.cases.iter().filter(|c| f(c)).count();
    assert!(count(&|c| matches!(c.control, MetricData::Ratio { .. })) >= 5);
    assert!(count(&|c| c.expected.cuped_theta.is_some()) >= 5);
    assert!(count(&|c| matches!(c.control, MetricData::Mean { pre: None, .. })) >= 5);
    assert!(count(&|c| c.n_star != 5000.0) >= 5);
}

#[test]
fn srm_agrees_with_gbstats() {
    let mut out = Mismatches::default();
    for (i, case) in golden().srm.iter().enumerate() {
        let got = srm_p_value(&case.units, &case.shares).expect("valid split");
        out.check(format!("srm[{i}]"), got, case.p_value);
    }
    assert!(out.0.is_empty(), "{}", out.0.join("\n"));
}
