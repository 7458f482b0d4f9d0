//! Which parameters matter: a weighted linear fit of measured lifts on the unit-cube
//! coordinates of the configurations.
//!
//! Each target (the scalar score, and each metric's lift against the baseline) is fitted
//! by weighted ridge least squares (`stats::wls`) with weights `1 / se^2`, so a noisy
//! experiment counts for less than a precise one. A slope is the change of the target, in
//! percentage points, across the parameter's whole range, so slopes of different
//! parameters compare directly. The linear model is a local summary, not a surrogate:
//! it says which knobs moved the results in the region explored so far, which is what the
//! Actor needs to spend fewer arms on insensitive ones and what a rule of the Skillhub
//! can quote with its evidence. For a choice parameter with more than two values the
//! slope follows the order of the values and is only a rough reading.

use crate::protocol::{Observation, Pattern};
use crate::stats::{fit_weighted_ridge, LiftPct, WlsFit};
use skillhub::Space;
use std::collections::{BTreeMap, BTreeSet};

/// Ridge strength relative to the total weight: shrinks a slope spread over the whole
/// range by about 0.1%, enough to keep collinear designs solvable.
pub const RIDGE: f64 = 1e-4;

/// A standard error below this fraction of the median is raised to it, so that an exact
/// point (the baseline against itself has se 0) anchors the fit without an infinite
/// weight.
const SE_FLOOR_FRACTION: f64 = 0.1;

/// One measured configuration as the regression sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct SensitivityPoint {
    /// `Space::to_unit` of the configuration.
    pub unit: Vec<f64>,
    /// Lift against the baseline per metric, %, with its standard error.
    pub lifts_pct: BTreeMap<String, LiftPct>,
    pub score: LiftPct,
    pub experiments: Vec<String>,
}

impl SensitivityPoint {
    pub fn from_observation(space: &Space, obs: &Observation) -> SensitivityPoint {
        SensitivityPoint {
            unit: space.to_unit(&obs.config),
            lifts_pct: obs
                .lifts_pct
                .iter()
                .map(|(m, (estimate, std_err))| (m.clone(), LiftPct { estimate: *estimate, std_err: *std_err }))
                .collect(),
            score: LiftPct { estimate: obs.score.estimate, std_err: obs.score_se },
            experiments: obs.experiments.clone(),
        }
    }
}

/// A fitted slope: percentage points per whole range of the parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slope {
    pub estimate: f64,
    pub std_err: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SensitivityReport {
    /// Relative importance per parameter for the score, summing to 1; uniform when
    /// there are too few points (fewer than dim + 2) or no signal.
    pub sensitivity: BTreeMap<String, f64>,
    /// The score's slope per parameter; empty when there are too few points.
    pub score_slopes: BTreeMap<String, Slope>,
    /// One per (parameter, metric) that could be fitted, the clearest first
    /// (largest |effect| / std_err).
    pub patterns: Vec<Pattern>,
}

/// Sensitivities and patterns from Insight's observations.
pub fn analyse_observations(space: &Space, observations: &[Observation]) -> SensitivityReport {
    let points: Vec<SensitivityPoint> =
        observations.iter().map(|o| SensitivityPoint::from_observation(space, o)).collect();
    analyse(space, &points)
}

/// Sensitivities and patterns; points whose coordinates do not match the space are
/// ignored, as are targets that are not finite.
pub fn analyse(space: &Space, points: &[SensitivityPoint]) -> SensitivityReport {
    let names: Vec<String> = space.params.iter().map(|p| p.name.clone()).collect();
    let points: Vec<&SensitivityPoint> = points.iter().filter(|p| p.unit.len() == names.len()).collect();
    let score_fit = fit_target(&points, names.len(), |p| Some(p.score));
    let score_slopes =
        score_fit.as_ref().map(|f| names.iter().cloned().zip(slopes(&f.fit)).collect()).unwrap_or_default();
    SensitivityReport {
        sensitivity: importance(&names, score_fit.as_ref().map(|f| &f.fit)),
        score_slopes,
        patterns: patterns(&names, &points),
    }
}

fn slopes(fit: &WlsFit) -> Vec<Slope> {
    fit.coefs.iter().zip(&fit.std_errs).map(|(&estimate, &std_err)| Slope { estimate, std_err }).collect()
}

fn importance(names: &[String], fit: Option<&WlsFit>) -> BTreeMap<String, f64> {
    let uniform = || names.iter().map(|n| (n.clone(), 1.0 / names.len() as f64)).collect();
    let Some(fit) = fit else { return uniform() };
    let total: f64 = fit.coefs.iter().map(|c| c.abs()).sum();
    if !(total.is_finite() && total > 0.0) {
        return uniform();
    }
    names.iter().cloned().zip(fit.coefs.iter().map(|c| c.abs() / total)).collect()
}

/// A fit with the points it used.
struct TargetFit {
    fit: WlsFit,
    experiments: Vec<String>,
}

fn fit_target(
    points: &[&SensitivityPoint],
    dim: usize,
    target: impl Fn(&SensitivityPoint) -> Option<LiftPct>,
) -> Option<TargetFit> {
    let used: Vec<(&SensitivityPoint, LiftPct)> = points
        .iter()
        .filter_map(|p| target(p).map(|t| (*p, t)))
        .filter(|(_, t)| t.estimate.is_finite() && t.std_err.is_finite() && t.std_err >= 0.0)
        .collect();
    if used.len() < dim + 2 {
        return None;
    }
    let floor = se_floor(used.iter().map(|(_, t)| t.std_err));
    let x: Vec<Vec<f64>> = used.iter().map(|(p, _)| p.unit.clone()).collect();
    let y: Vec<f64> = used.iter().map(|(_, t)| t.estimate).collect();
    let w: Vec<f64> = used.iter().map(|(_, t)| 1.0 / t.std_err.max(floor).powi(2)).collect();
    let fit = fit_weighted_ridge(&x, &y, &w, RIDGE).ok()?;
    let experiments: BTreeSet<&String> = used.iter().flat_map(|(p, _)| &p.experiments).collect();
    Some(TargetFit { fit, experiments: experiments.into_iter().cloned().collect() })
}

/// The smallest standard error allowed; 1 (equal weights) when none is positive.
fn se_floor(se: impl Iterator<Item = f64>) -> f64 {
    let mut positive: Vec<f64> = se.filter(|s| *s > 0.0).collect();
    if positive.is_empty() {
        return 1.0;
    }
    positive.sort_by(f64::total_cmp);
    SE_FLOOR_FRACTION * positive[positive.len() / 2]
}

fn patterns(names: &[String], points: &[&SensitivityPoint]) -> Vec<Pattern> {
    let metrics: BTreeSet<&String> = points.iter().flat_map(|p| p.lifts_pct.keys()).collect();
    let mut out = Vec::new();
    for metric in metrics {
        let Some(tf) = fit_target(points, names.len(), |p| p.lifts_pct.get(metric).copied()) else { continue };
        for (name, slope) in names.iter().zip(slopes(&tf.fit)) {
            out.push(Pattern {
                parameter: name.clone(),
                metric: metric.clone(),
                effect_pct: slope.estimate,
                std_err_pct: slope.std_err,
                support: tf.fit.n,
                experiments: tf.experiments.clone(),
            });
        }
    }
    out.sort_by(|a, b| clarity(b).total_cmp(&clarity(a)));
    out
}

fn clarity(p: &Pattern) -> f64 {
    if p.std_err_pct > 0.0 {
        p.effect_pct.abs() / p.std_err_pct
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use skillhub::{ParamKind, ParamSpec, Value};

    fn space(dim: usize) -> Space {
        Space::new(
            (0..dim)
                .map(|i| ParamSpec {
                    name: format!("p{i}"),
                    kind: ParamKind::Float { min: 0.0, max: 1.0 },
                    baseline: Value::Num(0.5),
                    description: String::new(),
                })
                .collect(),
        )
    }

    /// Uniform noise with the given standard deviation, enough for a seeded check.
    fn noise(rng: &mut ChaCha8Rng, sd: f64) -> f64 {
        (rng.gen::<f64>() - 0.5) * sd * 12f64.sqrt()
    }

    /// score = 2 x0 + noise; dwell_s = -1.5 x1 + noise; se 0.1 for both.
    fn synthetic(n: usize, dim: usize, seed: u64) -> Vec<SensitivityPoint> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n)
            .map(|i| {
                let unit: Vec<f64> = (0..dim).map(|_| rng.gen()).collect();
                let score = 2.0 * unit[0] + noise(&mut rng, 0.1);
                let dwell = -1.5 * unit[1] + noise(&mut rng, 0.1);
                SensitivityPoint {
                    lifts_pct: [("dwell_s".to_string(), LiftPct { estimate: dwell, std_err: 0.1 })].into(),
                    score: LiftPct { estimate: score, std_err: 0.1 },
                    unit,
                    experiments: vec![format!("exp-{}", i / 4)],
                }
            })
            .collect()
    }

    #[test]
    fn score_driven_by_one_parameter_is_found() {
        let r = analyse(&space(3), &synthetic(30, 3, 7));
        assert!(r.sensitivity["p0"] > 0.8, "{:?}", r.sensitivity);
        assert!((r.sensitivity.values().sum::<f64>() - 1.0).abs() < 1e-12);
        let s = r.score_slopes["p0"];
        assert!((s.estimate - 2.0).abs() < 3.0 * s.std_err, "{s:?}");
        assert!(s.std_err > 0.0 && s.std_err < 0.2, "{s:?}");
    }

    #[test]
    fn metric_patterns_carry_effects_and_evidence() {
        let r = analyse(&space(3), &synthetic(30, 3, 11));
        let top = &r.patterns[0];
        assert_eq!((top.parameter.as_str(), top.metric.as_str()), ("p1", "dwell_s"));
        assert!((top.effect_pct + 1.5).abs() < 3.0 * top.std_err_pct, "{top:?}");
        assert_eq!(top.support, 30);
        assert_eq!(top.experiments.len(), 8);
        assert_eq!(r.patterns.len(), 3);
    }

    #[test]
    fn too_few_points_give_uniform_sensitivity() {
        let r = analyse(&space(3), &synthetic(4, 3, 1));
        assert!(r.sensitivity.values().all(|v| (v - 1.0 / 3.0).abs() < 1e-12));
        assert!(r.score_slopes.is_empty() && r.patterns.is_empty());
        assert_eq!(analyse(&space(2), &[]).sensitivity.len(), 2);
    }

    #[test]
    fn singular_and_odd_designs_do_not_panic() {
        let mut same = synthetic(10, 2, 3);
        for p in &mut same {
            p.unit = vec![0.5, 0.5];
        }
        let r = analyse(&space(2), &same);
        assert!(r.sensitivity.values().all(|v| v.is_finite()));
        assert!((r.sensitivity.values().sum::<f64>() - 1.0).abs() < 1e-12);

        let mut odd = synthetic(10, 2, 4);
        odd[0].score.estimate = f64::NAN;
        odd[1].score.std_err = 0.0;
        odd[2].unit = vec![0.1];
        for p in &mut odd[3..] {
            p.unit[1] = p.unit[0];
        }
        let r = analyse(&space(2), &odd);
        assert!(r.sensitivity.values().all(|v| v.is_finite()));
        assert!(r.patterns.iter().all(|p| p.effect_pct.is_finite() && p.std_err_pct.is_finite()));
    }
}
