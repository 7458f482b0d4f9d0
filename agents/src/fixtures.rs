//! Test fixtures shared by the strategy tests: a one-parameter task, an empty Insight and
//! an experiment result around given arms.

use crate::protocol::{ArmResult, ExperimentResult, Incumbent, Insight, RoundRef};
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
