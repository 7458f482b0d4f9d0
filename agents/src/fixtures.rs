//! Test fixtures shared by the strategy tests: a one-parameter task and an empty Insight.

use crate::protocol::{Incumbent, Insight, RoundRef};
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
        patterns: vec![],
        failures: vec![],
        observations: vec![],
        baseline_means: BTreeMap::new(),
        converged: false,
        convergence_reason: String::new(),
    }
}
