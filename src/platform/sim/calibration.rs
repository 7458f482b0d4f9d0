//! Model versions and how each one distorts the true probabilities.
//!
//! A head's prediction is `sigmoid(centre + T * (logit(p) + e - centre) + bias)`: `e` is
//! the model's per-item error (fixed for a user segment and item, so it is a ranking
//! mistake and not noise), `T` the temperature (T > 1 is over-confident) and `bias` a
//! calibration offset. A fusion weight multiplies a head's spread, so changing `T`
//! changes which weights are best: that is how a model launch moves the optimum.

use super::SimError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelVersion {
    V1,
    V2,
}

impl ModelVersion {
    pub const NAMES: &'static [&'static str] = &["v1", "v2"];

    pub fn parse(s: &str) -> Result<Self, SimError> {
        match s {
            "v1" => Ok(ModelVersion::V1),
            "v2" => Ok(ModelVersion::V2),
            other => Err(SimError::UnknownModelVersion { version: other.to_string(), known: Self::NAMES.join(", ") }),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ModelVersion::V1 => "v1",
            ModelVersion::V2 => "v2",
        }
    }

    /// Distinguishes the error streams of the two models.
    pub fn stream_id(self) -> u64 {
        match self {
            ModelVersion::V1 => 1,
            ModelVersion::V2 => 2,
        }
    }

    pub fn calibration(self) -> Calibration {
        match self {
            // The incumbent: a slightly optimistic click head, an under-confident dwell
            // head and a timid dismiss head.
            ModelVersion::V1 => Calibration {
                click: Head { temperature: 1.0, bias: 0.1, error: 0.35 },
                long: Head { temperature: 0.8, bias: -0.1, error: 0.45 },
                like: Head { temperature: 1.0, bias: 0.0, error: 1.1 },
                dismiss: Head { temperature: 0.7, bias: 0.0, error: 0.5 },
                pre_click: Head { temperature: 1.0, bias: 0.1, error: 1.0 },
                pre_long: Head { temperature: 1.3, bias: -0.1, error: 1.1 },
            },
            // The new model: sharper click head, an over-confident dwell head, a bolder
            // dismiss head. Slightly less per-item error everywhere.
            ModelVersion::V2 => Calibration {
                click: Head { temperature: 1.35, bias: 0.0, error: 0.3 },
                long: Head { temperature: 1.5, bias: 0.3, error: 0.4 },
                like: Head { temperature: 0.8, bias: -0.2, error: 1.0 },
                dismiss: Head { temperature: 1.3, bias: 0.7, error: 0.45 },
                pre_click: Head { temperature: 1.35, bias: 0.0, error: 0.95 },
                pre_long: Head { temperature: 1.8, bias: 0.3, error: 1.05 },
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Head {
    pub temperature: f64,
    pub bias: f64,
    /// Standard deviation of the per-item error on the logit scale.
    pub error: f64,
}

impl Head {
    /// The prediction for a true probability `p`, given the item's error draw `z`
    /// (standard normal) and the head's typical logit `centre`.
    pub fn predict(&self, p: f64, z: f64, centre: f64) -> f64 {
        let l = logit(p) + self.error * z;
        sigmoid(centre + self.temperature * (l - centre) + self.bias)
    }
}

/// Per-head calibration of the ranking model and of the light pre-ranking model
/// distilled from it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    pub click: Head,
    pub long: Head,
    pub like: Head,
    pub dismiss: Head,
    pub pre_click: Head,
    pub pre_long: Head,
}

pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

pub fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-6, 1.0 - 1e-6);
    (p / (1.0 - p)).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_version_lists_the_known_ones() {
        let e = ModelVersion::parse("v9").unwrap_err().to_string();
        assert!(e.contains("v9") && e.contains("v1, v2"), "{e}");
    }

    #[test]
    fn higher_temperature_spreads_predictions() {
        let cold = Head { temperature: 1.0, bias: 0.0, error: 0.0 };
        let hot = Head { temperature: 1.5, bias: 0.0, error: 0.0 };
        let spread = |h: Head| h.predict(0.3, 0.0, -2.0) - h.predict(0.05, 0.0, -2.0);
        assert!(spread(hot) > spread(cold));
        assert!((cold.predict(0.2, 0.0, -2.0) - 0.2).abs() < 1e-9);
    }
}
