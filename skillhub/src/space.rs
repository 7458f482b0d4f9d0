//! The search space: typed parameters with bounds, values and configurations.
//!
//! Values are parsed once at the edge (task files, LLM answers, platform catalogues) and
//! checked against a [`ParamSpec`]; everything downstream can rely on a checked
//! [`Configuration`] holding exactly the task's parameters, in range.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A configuration value as the experiment platform contract carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Bool(bool),
    Num(f64),
    Str(String),
}

impl Value {
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Num(x) => Some(*x),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::Num(x) if x.fract() == 0.0 && x.abs() < 1e15 => write!(f, "{x:.0}"),
            Value::Num(x) => write!(f, "{x:.4}"),
            Value::Str(s) => write!(f, "{s}"),
        }
    }
}

/// A full assignment of parameter names to values, ordered by name so that it
/// serialises and hashes deterministically.
pub type Configuration = BTreeMap<String, Value>;

/// The type and domain of one parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ParamKind {
    Float { min: f64, max: f64 },
    Int { min: i64, max: i64 },
    Choice { values: Vec<String> },
    Bool,
}

/// A named, typed knob owned by a stage (`prerank.*`, `rank.*`, `rerank.*`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamSpec {
    pub name: String,
    #[serde(flatten)]
    pub kind: ParamKind,
    /// The production value; also the value of this parameter in the baseline arm.
    pub baseline: Value,
    #[serde(default)]
    pub description: String,
}

/// Why a value or a configuration does not fit the space. The message names the field
/// and says what would be accepted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpaceError {
    #[error("parameter `{name}`: {problem}")]
    Invalid { name: String, problem: String },
    #[error("unknown parameter `{0}`: it is not in the task's search space")]
    Unknown(String),
    #[error("parameter `{0}` is missing from the configuration")]
    Missing(String),
}

impl ParamSpec {
    fn invalid(&self, problem: impl Into<String>) -> SpaceError {
        SpaceError::Invalid { name: self.name.clone(), problem: problem.into() }
    }

    /// Checks the spec itself: non-empty name, ordered finite bounds, baseline in range.
    pub fn validate(&self) -> Result<(), SpaceError> {
        if self.name.trim().is_empty() {
            return Err(self.invalid("the name is empty"));
        }
        match &self.kind {
            ParamKind::Float { min, max } if (!(max - min).is_finite() || min >= max) => {
                return Err(self.invalid(format!("bounds [{min}, {max}] are not a finite interval with min < max")));
            }
            ParamKind::Int { min, max } if min >= max => {
                return Err(self.invalid(format!("bounds [{min}, {max}] need min < max")));
            }
            ParamKind::Choice { values } if values.is_empty() => {
                return Err(self.invalid("a choice parameter needs at least one value"));
            }
            _ => {}
        }
        self.check(&self.baseline).map_err(|e| self.invalid(format!("baseline: {e}")))
    }

    /// Checks one value against the domain.
    pub fn check(&self, v: &Value) -> Result<(), SpaceError> {
        match (&self.kind, v) {
            (ParamKind::Float { min, max }, Value::Num(x)) => {
                if !x.is_finite() || x < min || x > max {
                    return Err(self.invalid(format!("{x} is outside [{min}, {max}]")));
                }
            }
            (ParamKind::Int { min, max }, Value::Num(x)) => {
                if x.fract() != 0.0 || *x < *min as f64 || *x > *max as f64 {
                    return Err(self.invalid(format!("{x} is not an integer in [{min}, {max}]")));
                }
            }
            (ParamKind::Choice { values }, Value::Str(s)) => {
                if !values.contains(s) {
                    return Err(self.invalid(format!("`{s}` is not one of {values:?}")));
                }
            }
            (ParamKind::Bool, Value::Bool(_)) => {}
            (kind, other) => {
                return Err(
                    self.invalid(format!("value {other} has the wrong type for a {} parameter", kind.type_name()))
                )
            }
        }
        Ok(())
    }

    /// Maps a value to [0, 1] (choices to their index spread over [0, 1]), so that
    /// strategies can measure distances across mixed types.
    pub fn to_unit(&self, v: &Value) -> f64 {
        match (&self.kind, v) {
            (ParamKind::Float { min, max }, Value::Num(x)) => ((x - min) / (max - min)).clamp(0.0, 1.0),
            // In f64: `max - min` overflows i64 for bounds of opposite sign near the extremes.
            (ParamKind::Int { min, max }, Value::Num(x)) => {
                ((x - *min as f64) / (*max as f64 - *min as f64)).clamp(0.0, 1.0)
            }
            (ParamKind::Choice { values }, Value::Str(s)) => {
                let i = values.iter().position(|c| c == s).unwrap_or(0);
                if values.len() <= 1 {
                    0.0
                } else {
                    i as f64 / (values.len() - 1) as f64
                }
            }
            (ParamKind::Bool, Value::Bool(b)) => f64::from(u8::from(*b)),
            _ => 0.0,
        }
    }

    /// The inverse of [`ParamSpec::to_unit`], rounding to the nearest valid value.
    pub fn from_unit(&self, u: f64) -> Value {
        let u = if u.is_finite() { u.clamp(0.0, 1.0) } else { 0.0 };
        match &self.kind {
            ParamKind::Float { min, max } => Value::Num(min + u * (max - min)),
            ParamKind::Int { min, max } => Value::Num((*min as f64 + u * (*max as f64 - *min as f64)).round()),
            ParamKind::Choice { values } => {
                let i = (u * (values.len().saturating_sub(1)) as f64).round() as usize;
                Value::Str(values[i.min(values.len() - 1)].clone())
            }
            ParamKind::Bool => Value::Bool(u >= 0.5),
        }
    }

    /// True for parameters whose unit coordinate is categorical, not ordered.
    pub fn is_categorical(&self) -> bool {
        matches!(self.kind, ParamKind::Choice { .. } | ParamKind::Bool)
    }
}

impl ParamKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            ParamKind::Float { .. } => "float",
            ParamKind::Int { .. } => "int",
            ParamKind::Choice { .. } => "choice",
            ParamKind::Bool => "bool",
        }
    }
}

/// The free parameters of a task, in a fixed order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Space {
    pub params: Vec<ParamSpec>,
}

impl Space {
    pub fn new(params: Vec<ParamSpec>) -> Self {
        Self { params }
    }
    pub fn dim(&self) -> usize {
        self.params.len()
    }
    pub fn get(&self, name: &str) -> Option<&ParamSpec> {
        self.params.iter().find(|p| p.name == name)
    }

    pub fn baseline(&self) -> Configuration {
        self.params.iter().map(|p| (p.name.clone(), p.baseline.clone())).collect()
    }

    /// A configuration is valid when it assigns every parameter, in range, and nothing else.
    pub fn check(&self, cfg: &Configuration) -> Result<(), SpaceError> {
        if let Some(k) = cfg.keys().find(|k| self.get(k).is_none()) {
            return Err(SpaceError::Unknown(k.clone()));
        }
        for p in &self.params {
            let v = cfg.get(&p.name).ok_or_else(|| SpaceError::Missing(p.name.clone()))?;
            p.check(v)?;
        }
        Ok(())
    }

    /// Unit-cube coordinates of a configuration (missing values map to the baseline's).
    pub fn to_unit(&self, cfg: &Configuration) -> Vec<f64> {
        self.params.iter().map(|p| p.to_unit(cfg.get(&p.name).unwrap_or(&p.baseline))).collect()
    }

    pub fn from_unit(&self, u: &[f64]) -> Configuration {
        self.params.iter().zip(u).map(|(p, x)| (p.name.clone(), p.from_unit(*x))).collect()
    }

    /// Euclidean distance in the unit cube, normalised by sqrt(dim) so it lies in [0, 1].
    pub fn distance(&self, a: &Configuration, b: &Configuration) -> f64 {
        let (ua, ub) = (self.to_unit(a), self.to_unit(b));
        let d2: f64 = ua.iter().zip(&ub).map(|(x, y)| (x - y).powi(2)).sum();
        (d2 / self.dim().max(1) as f64).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float(name: &str, min: f64, max: f64, base: f64) -> ParamSpec {
        ParamSpec {
            name: name.into(),
            kind: ParamKind::Float { min, max },
            baseline: Value::Num(base),
            description: String::new(),
        }
    }

    #[test]
    fn out_of_range_value_names_the_parameter_and_bounds() {
        let p = float("rerank.lambda", 0.0, 1.0, 0.5);
        let err = p.check(&Value::Num(1.5)).unwrap_err().to_string();
        assert!(err.contains("rerank.lambda") && err.contains("[0, 1]"), "{err}");
    }

    #[test]
    fn unit_round_trip_respects_integers_and_choices() {
        let int = ParamSpec {
            name: "rank.top_k".into(),
            kind: ParamKind::Int { min: 10, max: 200 },
            baseline: Value::Num(50.0),
            description: String::new(),
        };
        assert_eq!(int.from_unit(int.to_unit(&Value::Num(57.0))), Value::Num(57.0));
        let ch = ParamSpec {
            name: "rank.formula".into(),
            kind: ParamKind::Choice { values: vec!["additive".into(), "multiplicative".into()] },
            baseline: Value::Str("additive".into()),
            description: String::new(),
        };
        assert_eq!(ch.from_unit(0.9), Value::Str("multiplicative".into()));
    }

    #[test]
    fn configuration_with_unknown_key_is_rejected() {
        let s = Space::new(vec![float("a", 0.0, 1.0, 0.5)]);
        let mut c = s.baseline();
        c.insert("b".into(), Value::Num(1.0));
        assert_eq!(s.check(&c), Err(SpaceError::Unknown("b".into())));
    }

    #[test]
    fn spec_with_baseline_outside_bounds_is_invalid() {
        assert!(float("a", 0.0, 1.0, 2.0).validate().is_err());
        assert!(float("a", 1.0, 0.0, 0.5).validate().is_err());
    }
}
