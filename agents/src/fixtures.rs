//! Test fixtures shared by the strategy tests: a one-parameter task, an empty Insight and
//! an experiment result around given arms.

use crate::protocol::{ArmResult, ExperimentResult, Incumbent, Insight, Interval, Observation, RoundRef};
use skillhub::{Budget, Direction, Guardrail, Objective, ParamKind, ParamSpec, TaskSpec, Value};
use std::collections::BTreeMap;

/// Task `t`: float parameters `names` in [0, 1] (baseline 0.5), maximise `m`.
pub fn task(names: &[&str], guardrails: Vec<Guardrail>) -> TaskSpec {
    let param = |name: &&str| ParamSpec {
        name: name.to_string(),
        kind: ParamKind::Float { min: 0.0, max: 1.0 },
        baseline: Value::Num(0.5),
        description: String::new(),
    };
    TaskSpec {
        id: "t".into(),
        context: String::new(),
        params: names.iter().map(param).collect(),
        objectives: vec![Objective { metric: "m".into(), direction: Direction::Maximize, weight: 1.0 }],
        guardrails,
        invariants: vec![],
        budget: Budget { rounds: 8, arms_per_round: 2, units_per_arm: 1000 },
    }
}

/// What Insight knows after `round` rounds of `task` with nothing measured.
pub fn empty_insight(task: &TaskSpec, round: u32) -> Insight {
    Insight {
        round: RoundRef { task_id: task.id.clone(), round },
        incumbent: Incumbent::baseline(task.baseline()),
        shipped: None,
        rolled_back: None,
        elites: vec![],
        sensitivity: BTreeMap::new(),
        sensitivity_basis: String::new(),
        patterns: vec![],
        failures: vec![],
        observations: vec![],
        baseline_means: BTreeMap::new(),
        converged: false,
        convergence_reason: String::new(),
        notes: Vec::new(),
    }
}

/// Round `round`'s experiment of task `t` with `arms` read at 95%, 1000 units per arm.
pub fn experiment_result(round: u32, arms: Vec<ArmResult>) -> ExperimentResult {
    ExperimentResult {
        round: RoundRef { task_id: "t".into(), round },
        experiment_id: format!("exp-{round}"),
        idempotency_key: format!("k{round}"),
        control: skillhub::Configuration::new(),
        units_per_arm: 1000,
        srm_p_value: 0.5,
        arms,
        confidence: 0.95,
        cv: BTreeMap::new(),
        blocked: None,
        cuped_narrowing_pct: BTreeMap::new(),
        early_stop: None,
        notes: Vec::new(),
    }
}

/// A 7 x 7 grid over parameters `a` and `b` of a two-parameter fixture task, each read
/// once at standard error `se` with objective `f(a, b)` (no noise added: the surrogate
/// sees the truth, its uncertainty comes from the stated se).
pub fn grid(f: impl Fn(f64, f64) -> f64, se: f64) -> Vec<Observation> {
    let mut out = Vec::new();
    for i in 0..7 {
        for j in 0..7 {
            let (a, b) = (f64::from(i) / 6.0, f64::from(j) / 6.0);
            let y = f(a, b);
            out.push(Observation {
                candidate_id: format!("c{i}{j}"),
                round: (i * 7 + j) / 4 + 1,
                config: skillhub::Configuration::from([
                    ("a".to_string(), Value::Num(a)),
                    ("b".to_string(), Value::Num(b)),
                ]),
                score: Interval { estimate: y, low: y - 1.96 * se, high: y + 1.96 * se },
                score_se: se,
                lifts_pct: BTreeMap::new(),
                safe: true,
                experiments: vec![format!("exp-{i}")],
                units: 0,
            });
        }
    }
    out
}
