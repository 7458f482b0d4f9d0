//! A tuning task: free parameters, objectives, guardrails and budget.
//!
//! The objective is one place: [`TaskSpec::score`] turns relative lifts into the single
//! number every strategy maximises and every report uses, so the simulator's truth, the
//! agents and the benchmarks cannot disagree on what "better" means.

use crate::space::{Configuration, ParamKind, Space, SpaceError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Maximize,
    Minimize,
}

impl Direction {
    pub fn sign(self) -> f64 {
        match self {
            Direction::Maximize => 1.0,
            Direction::Minimize => -1.0,
        }
    }
}

/// A north-star metric with its direction and weight in the scalar objective.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Objective {
    pub metric: String,
    pub direction: Direction,
    #[serde(default = "one")]
    pub weight: f64,
}

fn one() -> f64 {
    1.0
}

/// The limit a guardrail puts on a metric.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    /// metric <= value
    AtMost(f64),
    /// metric >= value
    AtLeast(f64),
    /// metric >= baseline * (1 - pct/100): the metric may not fall by more than pct %.
    MaxDropPct(f64),
    /// metric <= baseline * (1 + pct/100): the metric may not rise by more than pct %.
    MaxRisePct(f64),
}

/// A metric that must stay within a limit for a configuration to be shippable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawGuardrail", into = "RawGuardrail")]
pub struct Guardrail {
    pub metric: String,
    pub limit: Limit,
}

/// The task-file form of a guardrail: exactly one of the four limits is set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGuardrail {
    pub metric: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_drop_pct: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rise_pct: Option<f64>,
}

impl TryFrom<RawGuardrail> for Guardrail {
    type Error = String;
    fn try_from(r: RawGuardrail) -> Result<Self, String> {
        let set: Vec<Limit> = [
            r.max.map(Limit::AtMost),
            r.min.map(Limit::AtLeast),
            r.max_drop_pct.map(Limit::MaxDropPct),
            r.max_rise_pct.map(Limit::MaxRisePct),
        ]
        .into_iter()
        .flatten()
        .collect();
        match set.as_slice() {
            [limit] => Ok(Guardrail { metric: r.metric, limit: *limit }),
            _ => {
                Err(format!("guardrail on `{}` must set exactly one of max, min, max_drop_pct, max_rise_pct", r.metric))
            }
        }
    }
}

impl From<Guardrail> for RawGuardrail {
    fn from(g: Guardrail) -> Self {
        let mut r = RawGuardrail { metric: g.metric, max: None, min: None, max_drop_pct: None, max_rise_pct: None };
        match g.limit {
            Limit::AtMost(v) => r.max = Some(v),
            Limit::AtLeast(v) => r.min = Some(v),
            Limit::MaxDropPct(v) => r.max_drop_pct = Some(v),
            Limit::MaxRisePct(v) => r.max_rise_pct = Some(v),
        }
        r
    }
}

impl Guardrail {
    /// The absolute threshold given the baseline's value of the metric.
    pub fn threshold(&self, baseline: f64) -> f64 {
        match self.limit {
            Limit::AtMost(v) | Limit::AtLeast(v) => v,
            Limit::MaxDropPct(p) => baseline * (1.0 - p / 100.0),
            Limit::MaxRisePct(p) => baseline * (1.0 + p / 100.0),
        }
    }
    /// True when larger values of the metric are the safe side.
    pub fn higher_is_safe(&self) -> bool {
        matches!(self.limit, Limit::AtLeast(_) | Limit::MaxDropPct(_))
    }
    pub fn holds(&self, value: f64, baseline: f64) -> bool {
        let t = self.threshold(baseline);
        if self.higher_is_safe() {
            value >= t
        } else {
            value <= t
        }
    }
    pub fn describe(&self) -> String {
        match self.limit {
            Limit::AtMost(v) => format!("{} <= {v}", self.metric),
            Limit::AtLeast(v) => format!("{} >= {v}", self.metric),
            Limit::MaxDropPct(p) => format!("{} >= baseline - {p}%", self.metric),
            Limit::MaxRisePct(p) => format!("{} <= baseline + {p}%", self.metric),
        }
    }
}

/// A linear constraint across parameters that every configuration must satisfy, e.g.
/// "the engagement heads together carry some weight": `min <= sum terms[p] * p <= max`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Invariant {
    pub description: String,
    pub terms: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

/// Relative rounding allowed when checking an invariant's bound.
const INVARIANT_SLACK: f64 = 1e-9;

impl Invariant {
    /// The weighted sum, or `None` when a term is missing or not numeric.
    pub fn value(&self, cfg: &Configuration) -> Option<f64> {
        self.terms.iter().map(|(p, w)| cfg.get(p).and_then(|v| v.as_f64()).map(|x| w * x)).sum()
    }

    /// `Err` says how the configuration violates the invariant.
    pub fn check(&self, cfg: &Configuration) -> Result<(), String> {
        let v = self.value(cfg).ok_or_else(|| {
            format!("invariant `{}` needs numeric values of {:?}", self.description, self.terms.keys())
        })?;
        // A sum of decimals is not exact (0.4 + 0.8 > 1.2 in binary): a bound is met
        // within rounding, or a configuration written at the bound would be refused.
        let slack = |bound: f64| INVARIANT_SLACK * bound.abs().max(1.0);
        match (self.min, self.max) {
            (Some(lo), _) if v < lo - slack(lo) => {
                Err(format!("violates invariant `{}`: {v:.4} < {lo}", self.description))
            }
            (_, Some(hi)) if v > hi + slack(hi) => {
                Err(format!("violates invariant `{}`: {v:.4} > {hi}", self.description))
            }
            _ => Ok(()),
        }
    }
}

/// How much experimentation a task may spend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    pub rounds: u32,
    pub arms_per_round: u32,
    pub units_per_arm: u64,
}

/// One tuning job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskSpec {
    pub id: String,
    /// Which stage/component this is and what it does (skill slot 1).
    #[serde(default)]
    pub context: String,
    pub params: Vec<crate::space::ParamSpec>,
    pub objectives: Vec<Objective>,
    #[serde(default)]
    pub guardrails: Vec<Guardrail>,
    /// Cross-parameter constraints every candidate must satisfy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invariants: Vec<Invariant>,
    pub budget: Budget,
}

/// A task that does not make sense, with the field and the fix in the message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TaskError {
    #[error("task.id is empty: give the task a short name such as \"rank-fusion\"")]
    EmptyId,
    #[error("task.params is empty: list at least one free parameter")]
    NoParams,
    #[error("task.params: parameter `{0}` is listed twice")]
    DuplicateParam(String),
    #[error("task.params: {0}")]
    Param(#[from] SpaceError),
    #[error("task.objectives is empty: name at least one metric to improve")]
    NoObjectives,
    #[error("task.objectives: `{metric}` has weight {weight}; use a finite weight > 0")]
    BadWeight { metric: String, weight: f64 },
    #[error("task.{field}: metric `{metric}` is not one the platform reports (known: {known})")]
    UnknownMetric { field: &'static str, metric: String, known: String },
    #[error("task.budget.{field} is {value}; it must be at least {min}")]
    Budget { field: &'static str, value: u64, min: u64 },
    #[error("task.guardrails: `{0}` has a non-finite or negative limit")]
    BadGuardrail(String),
    #[error("task.invariants: `{description}`: {problem}")]
    BadInvariant { description: String, problem: String },
}

impl TaskSpec {
    pub fn space(&self) -> Space {
        Space::new(self.params.clone())
    }

    pub fn baseline(&self) -> Configuration {
        self.space().baseline()
    }

    /// Checks the task on its own and, when `known_metrics` is given, against the
    /// metrics the platform reports.
    pub fn validate(&self, known_metrics: Option<&[String]>) -> Result<(), TaskError> {
        if self.id.trim().is_empty() {
            return Err(TaskError::EmptyId);
        }
        if self.params.is_empty() {
            return Err(TaskError::NoParams);
        }
        let mut seen = std::collections::BTreeSet::new();
        for p in &self.params {
            if !seen.insert(p.name.as_str()) {
                return Err(TaskError::DuplicateParam(p.name.clone()));
            }
            p.validate()?;
        }
        if self.objectives.is_empty() {
            return Err(TaskError::NoObjectives);
        }
        for o in &self.objectives {
            if !o.weight.is_finite() || o.weight <= 0.0 {
                return Err(TaskError::BadWeight { metric: o.metric.clone(), weight: o.weight });
            }
        }
        for g in &self.guardrails {
            let v = match g.limit {
                Limit::AtMost(v) | Limit::AtLeast(v) | Limit::MaxDropPct(v) | Limit::MaxRisePct(v) => v,
            };
            if !v.is_finite() || v < 0.0 {
                return Err(TaskError::BadGuardrail(g.metric.clone()));
            }
        }
        self.check_invariants()?;
        if let Some(known) = known_metrics {
            self.check_metrics(known)?;
        }
        self.check_budget()
    }

    fn check_invariants(&self) -> Result<(), TaskError> {
        let baseline = self.baseline();
        for inv in &self.invariants {
            let bad = |problem: String| TaskError::BadInvariant { description: inv.description.clone(), problem };
            if inv.min.is_none() && inv.max.is_none() {
                return Err(bad("set min, max or both".into()));
            }
            if let Some(p) = inv.terms.keys().find(|p| {
                !matches!(self.space().get(p).map(|s| &s.kind), Some(ParamKind::Float { .. } | ParamKind::Int { .. }))
            }) {
                return Err(bad(format!("`{p}` is not a numeric free parameter of the task")));
            }
            inv.check(&baseline).map_err(|e| bad(format!("the baseline itself {e}")))?;
        }
        Ok(())
    }

    /// Every invariant the configuration violates, as reasons.
    pub fn violations(&self, cfg: &Configuration) -> Vec<String> {
        self.invariants.iter().filter_map(|i| i.check(cfg).err()).collect()
    }

    fn check_metrics(&self, known: &[String]) -> Result<(), TaskError> {
        let unknown = |field, metric: &str| TaskError::UnknownMetric {
            field,
            metric: metric.to_string(),
            known: known.join(", "),
        };
        for o in &self.objectives {
            if !known.contains(&o.metric) {
                return Err(unknown("objectives", &o.metric));
            }
        }
        for g in &self.guardrails {
            if !known.contains(&g.metric) {
                return Err(unknown("guardrails", &g.metric));
            }
        }
        Ok(())
    }

    fn check_budget(&self) -> Result<(), TaskError> {
        let b = &self.budget;
        for (field, value, min) in [
            ("rounds", u64::from(b.rounds), 1),
            ("arms_per_round", u64::from(b.arms_per_round), 1),
            ("units_per_arm", b.units_per_arm, 100),
        ] {
            if value < min {
                return Err(TaskError::Budget { field, value, min });
            }
        }
        Ok(())
    }

    /// Every metric the task reads: objectives first, then guardrails, without repeats.
    pub fn metrics(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let names = self.objectives.iter().map(|o| &o.metric).chain(self.guardrails.iter().map(|g| &g.metric));
        for m in names {
            if !out.contains(m) {
                out.push(m.clone());
            }
        }
        out
    }

    /// The scalar objective: the weighted sum of signed relative lifts in percent.
    /// `lifts_pct` maps a metric to its relative change against the baseline, in %.
    /// A metric without a lift counts as unchanged.
    pub fn score(&self, lifts_pct: &BTreeMap<String, f64>) -> f64 {
        self.objectives
            .iter()
            .map(|o| o.weight * o.direction.sign() * lifts_pct.get(&o.metric).copied().unwrap_or(0.0))
            .sum()
    }

    /// True when every guardrail holds for `values`, read against `baseline` values.
    pub fn feasible(&self, values: &BTreeMap<String, f64>, baseline: &BTreeMap<String, f64>) -> bool {
        self.guardrails.iter().all(|g| match (values.get(&g.metric), baseline.get(&g.metric)) {
            (Some(v), Some(b)) => g.holds(*v, *b),
            _ => false,
        })
    }
}

/// Relative change of every metric present in both maps, in percent.
pub fn lifts_pct(values: &BTreeMap<String, f64>, baseline: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    values
        .iter()
        .filter_map(|(k, v)| {
            let b = *baseline.get(k)?;
            (b != 0.0).then(|| (k.clone(), 100.0 * (v - b) / b.abs()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guardrail_needs_exactly_one_limit() {
        let two: Result<Guardrail, _> = serde_json::from_str(r#"{"metric":"dwell_s","max":1,"min":0}"#);
        assert!(two.unwrap_err().to_string().contains("exactly one"));
        let g: Guardrail = serde_json::from_str(r#"{"metric":"dwell_s","max_drop_pct":0.5}"#).unwrap();
        assert!(g.holds(99.6, 100.0));
        assert!(!g.holds(99.4, 100.0));
    }

    #[test]
    fn invariant_names_itself_and_the_bound_it_violates() {
        let inv = Invariant {
            description: "heads carry weight".into(),
            terms: BTreeMap::from([("a".to_string(), 1.0), ("b".to_string(), 2.0)]),
            min: Some(0.5),
            max: None,
        };
        let ok =
            Configuration::from([("a".to_string(), crate::Value::Num(0.1)), ("b".to_string(), crate::Value::Num(0.3))]);
        assert_eq!(inv.check(&ok), Ok(()));
        let bad =
            Configuration::from([("a".to_string(), crate::Value::Num(0.1)), ("b".to_string(), crate::Value::Num(0.1))]);
        let err = inv.check(&bad).unwrap_err();
        assert!(err.contains("heads carry weight") && err.contains("< 0.5"), "{err}");
    }

    #[test]
    fn a_configuration_exactly_at_an_invariants_bound_meets_it_despite_rounding() {
        let inv = Invariant {
            description: "weights comparable".into(),
            terms: BTreeMap::from([("a".to_string(), 1.0), ("b".to_string(), 1.0)]),
            min: None,
            max: Some(1.2),
        };
        let cfg = |a: f64, b: f64| {
            Configuration::from([("a".to_string(), crate::Value::Num(a)), ("b".to_string(), crate::Value::Num(b))])
        };
        // 0.4 + 0.8 is 1.2000000000000002 in binary.
        assert_eq!(inv.check(&cfg(0.4, 0.8)), Ok(()));
        assert!(inv.check(&cfg(0.4, 0.8001)).is_err());
    }

    #[test]
    fn score_weights_signed_lifts() {
        let t = TaskSpec {
            id: "t".into(),
            context: String::new(),
            params: vec![],
            objectives: vec![
                Objective { metric: "a".into(), direction: Direction::Maximize, weight: 2.0 },
                Objective { metric: "b".into(), direction: Direction::Minimize, weight: 1.0 },
            ],
            guardrails: vec![],
            invariants: vec![],
            budget: Budget { rounds: 1, arms_per_round: 1, units_per_arm: 100 },
        };
        let lifts = BTreeMap::from([("a".to_string(), 1.0), ("b".to_string(), 0.5)]);
        assert!((t.score(&lifts) - 1.5).abs() < 1e-12);
    }
}
