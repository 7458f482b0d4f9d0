//! Which parameters matter: the objective surrogate's fitted length scales, and weighted
//! linear fits of the measured lifts for the patterns.
//!
//! The sensitivity of the objective to a parameter is read from the Matérn length scale
//! the objective GP fitted to it by marginal likelihood, in unit-cube coordinates: a
//! short length scale means the objective changes within a small part of the range. For
//! a stationary GP the expected squared derivative along input i is proportional to
//! signal variance / ℓ_i², so 1/ℓ_i is the typical change per whole range of the
//! parameter, in the same (common) unit for every parameter; the sensitivity is 1/ℓ_i
//! normalised to sum 1 (what `surrogate::relevance` expects). Unlike a linear slope it
//! also sees a parameter whose optimum is inside its range; the price is that a purely
//! linear effect, which a long length scale fits well, reads weaker than its slope
//! (the linear slopes stay in `score_slopes`). With fewer than
//! [`min_points_for_length_scales`] observations the marginal likelihood cannot tell
//! the length scales apart from their prior, and the sensitivity falls back to the
//! linear reading below (uniform when even that has too few points); the report says
//! which in `basis`.
//!
//! The patterns (and the fallback) come from weighted ridge least squares
//! (`stats::wls`) of each target (the scalar score, and each metric's lift against the
//! baseline) with weights `1 / se^2`, so a noisy experiment counts for less than a
//! precise one. A slope is the change of the target, in percentage points, across the
//! parameter's whole range, so slopes of different parameters compare directly. The
//! linear model is a local summary, not a surrogate: it says which knobs moved which
//! metric in the region explored so far, which is what a rule of the Skillhub can quote
//! with its evidence. For a choice parameter with more than two values the slope follows
//! the order of the values and is only a rough reading.

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
    /// Relative importance per parameter for the score, summing to 1: from the fitted
    /// length scales, else from the linear slopes, else uniform (see `basis`).
    pub sensitivity: BTreeMap<String, f64>,
    /// Where `sensitivity` was read from, with the number of points, for the log.
    pub basis: String,
    /// The score's slope per parameter; empty when there are too few points.
    pub score_slopes: BTreeMap<String, Slope>,
    /// One per (parameter, metric) that could be fitted, the clearest first
    /// (largest |effect| / std_err).
    pub patterns: Vec<Pattern>,
}

/// Sensitivities and patterns from Insight's observations; `length_scales` are the
/// objective surrogate's, fitted on the same observations, when it could be fitted.
pub fn analyse_observations(
    space: &Space,
    observations: &[Observation],
    length_scales: Option<&[f64]>,
) -> SensitivityReport {
    let points: Vec<SensitivityPoint> =
        observations.iter().map(|o| SensitivityPoint::from_observation(space, o)).collect();
    analyse(space, &points, length_scales)
}

/// Fewest observations from which the fitted length scales are read as sensitivities:
/// twice what the linear fit needs, because a length scale is only pinned down (away
/// from its prior) once each parameter has been varied at several points.
pub fn min_points_for_length_scales(dim: usize) -> usize {
    2 * (dim + 2)
}

/// Sensitivities and patterns; points whose coordinates do not match the space are
/// ignored, as are targets that are not finite.
pub fn analyse(space: &Space, points: &[SensitivityPoint], length_scales: Option<&[f64]>) -> SensitivityReport {
    let names: Vec<String> = space.params.iter().map(|p| p.name.clone()).collect();
    let points: Vec<&SensitivityPoint> = points.iter().filter(|p| p.unit.len() == names.len()).collect();
    let score_fit = fit_target(&points, names.len(), |p| Some(p.score));
    let score_slopes =
        score_fit.as_ref().map(|f| names.iter().cloned().zip(slopes(&f.fit)).collect()).unwrap_or_default();
    let (sensitivity, basis) = sensitivity(&names, points.len(), length_scales, score_fit.as_ref().map(|f| &f.fit));
    SensitivityReport { sensitivity, basis, score_slopes, patterns: patterns(&names, &points) }
}

/// The score's sensitivity map and where it came from: the length scales when there are
/// enough points and they are usable, else the linear slopes, else uniform.
fn sensitivity(
    names: &[String],
    n: usize,
    length_scales: Option<&[f64]>,
    linear: Option<&WlsFit>,
) -> (BTreeMap<String, f64>, String) {
    let needed = min_points_for_length_scales(names.len());
    if n >= needed {
        if let Some(s) = length_scales.and_then(|ls| from_length_scales(names, ls)) {
            return (s, format!("1/length scale of the objective surrogate, {n} observations"));
        }
    }
    let why = if n < needed {
        format!("{n} observations, fewer than the {needed} the length scales need")
    } else {
        format!("no usable surrogate length scales from {n} observations")
    };
    match linear.and_then(|f| linear_importance(names, f)) {
        Some(s) => (s, format!("linear slopes ({why})")),
        None => (uniform(names), format!("uniform ({why}; no linear fit either)")),
    }
}

/// Relative importance 1/ℓ normalised to sum 1; `None` when the scales do not match the
/// parameters or are not finite and positive.
pub fn from_length_scales(names: &[String], length_scales: &[f64]) -> Option<BTreeMap<String, f64>> {
    if length_scales.len() != names.len() || !length_scales.iter().all(|l| l.is_finite() && *l > 0.0) {
        return None;
    }
    let total: f64 = length_scales.iter().map(|l| 1.0 / l).sum();
    Some(names.iter().cloned().zip(length_scales.iter().map(|l| 1.0 / l / total)).collect())
}

fn slopes(fit: &WlsFit) -> Vec<Slope> {
    fit.coefs.iter().zip(&fit.std_errs).map(|(&estimate, &std_err)| Slope { estimate, std_err }).collect()
}

fn uniform(names: &[String]) -> BTreeMap<String, f64> {
    names.iter().map(|n| (n.clone(), 1.0 / names.len() as f64)).collect()
}

/// |slope| normalised to sum 1; `None` without any signal.
fn linear_importance(names: &[String], fit: &WlsFit) -> Option<BTreeMap<String, f64>> {
    let total: f64 = fit.coefs.iter().map(|c| c.abs()).sum();
    (total.is_finite() && total > 0.0)
        .then(|| names.iter().cloned().zip(fit.coefs.iter().map(|c| c.abs() / total)).collect())
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
    use crate::protocol::Interval;
    use crate::strategy::surrogate::Surrogate;
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
        let r = analyse(&space(3), &synthetic(30, 3, 7), None);
        assert!(r.sensitivity["p0"] > 0.8, "{:?}", r.sensitivity);
        assert!((r.sensitivity.values().sum::<f64>() - 1.0).abs() < 1e-12);
        let s = r.score_slopes["p0"];
        assert!((s.estimate - 2.0).abs() < 3.0 * s.std_err, "{s:?}");
        assert!(s.std_err > 0.0 && s.std_err < 0.2, "{s:?}");
    }

    #[test]
    fn metric_patterns_carry_effects_and_evidence() {
        let r = analyse(&space(3), &synthetic(30, 3, 11), None);
        let top = &r.patterns[0];
        assert_eq!((top.parameter.as_str(), top.metric.as_str()), ("p1", "dwell_s"));
        assert!((top.effect_pct + 1.5).abs() < 3.0 * top.std_err_pct, "{top:?}");
        assert_eq!(top.support, 30);
        assert_eq!(top.experiments.len(), 8);
        assert_eq!(r.patterns.len(), 3);
    }

    #[test]
    fn too_few_points_give_uniform_sensitivity() {
        let r = analyse(&space(3), &synthetic(4, 3, 1), None);
        assert!(r.sensitivity.values().all(|v| (v - 1.0 / 3.0).abs() < 1e-12));
        assert!(r.score_slopes.is_empty() && r.patterns.is_empty());
        assert_eq!(analyse(&space(2), &[], None).sensitivity.len(), 2);
    }

    #[test]
    fn singular_and_odd_designs_do_not_panic() {
        let mut same = synthetic(10, 2, 3);
        for p in &mut same {
            p.unit = vec![0.5, 0.5];
        }
        let r = analyse(&space(2), &same, None);
        assert!(r.sensitivity.values().all(|v| v.is_finite()));
        assert!((r.sensitivity.values().sum::<f64>() - 1.0).abs() < 1e-12);

        let mut odd = synthetic(10, 2, 4);
        odd[0].score.estimate = f64::NAN;
        odd[1].score.std_err = 0.0;
        odd[2].unit = vec![0.1];
        for p in &mut odd[3..] {
            p.unit[1] = p.unit[0];
        }
        let r = analyse(&space(2), &odd, None);
        assert!(r.sensitivity.values().all(|v| v.is_finite()));
        assert!(r.patterns.iter().all(|p| p.effect_pct.is_finite() && p.std_err_pct.is_finite()));
    }

    /// Observations of the fixture task with parameters p0..p2 (0 at the baseline, as the
    /// surrogate assumes): the objective peaks
    /// inside p0's range (a slope cannot see that), rises by 3% across p1 and ignores p2; read
    /// at se 0.1 with noise.
    fn curved(n: usize, seed: u64) -> Vec<Observation> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n)
            .map(|i| {
                let u: Vec<f64> = (0..3).map(|_| rng.gen()).collect();
                let y = -16.0 * (u[0] - 0.5).powi(2) + 3.0 * (u[1] - 0.5) + noise(&mut rng, 0.1);
                Observation {
                    candidate_id: format!("c{i}"),
                    round: 1 + i as u32 / 4,
                    config: (0..3).map(|d| (format!("p{d}"), Value::Num(u[d]))).collect(),
                    score: Interval { estimate: y, low: y - 0.196, high: y + 0.196 },
                    score_se: 0.1,
                    lifts_pct: BTreeMap::new(),
                    safe: true,
                    experiments: vec![format!("exp-{}", i / 4)],
                    units: 0,
                }
            })
            .collect()
    }

    fn from_surrogate(obs: &[Observation]) -> SensitivityReport {
        let task = crate::fixtures::task(&["p0", "p1", "p2"], vec![]);
        let model = Surrogate::fit(&task, obs, &BTreeMap::new(), &BTreeMap::new()).expect("fit");
        analyse_observations(&task.space(), obs, Some(model.length_scales()))
    }

    #[test]
    fn length_scales_rank_the_irrelevant_parameter_last_and_see_an_interior_optimum() {
        for seed in 1..=5 {
            let r = from_surrogate(&curved(40, seed));
            assert!(r.basis.starts_with("1/length scale of the objective surrogate, 40 observations"), "{}", r.basis);
            let s = &r.sensitivity;
            assert!((s.values().sum::<f64>() - 1.0).abs() < 1e-12, "{s:?}");
            assert!(s["p0"] > s["p1"] && s["p1"] > s["p2"], "seed {seed}: {s:?}");
            assert!(s["p2"] < 0.2, "seed {seed}: {s:?}");
        }
    }

    #[test]
    fn too_few_points_for_length_scales_fall_back_to_the_linear_reading_and_say_so() {
        let obs = curved(8, 9);
        let r = from_surrogate(&obs);
        assert!(r.basis.starts_with("linear slopes (8 observations, fewer than the 10"), "{}", r.basis);
        let linear = analyse_observations(&space(3), &obs, None);
        assert_eq!(r.sensitivity, linear.sensitivity);
        assert!(analyse_observations(&space(3), &curved(3, 1), None).basis.starts_with("uniform"));
    }

    #[test]
    fn unusable_length_scales_are_not_read() {
        let names: Vec<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
        assert!(from_length_scales(&names, &[0.1]).is_none());
        assert!(from_length_scales(&names, &[0.1, 0.0]).is_none());
        assert!(from_length_scales(&names, &[0.1, f64::NAN]).is_none());
        let s = from_length_scales(&names, &[0.1, 0.4]).expect("valid");
        assert!((s["a"] - 0.8).abs() < 1e-12 && (s["b"] - 0.2).abs() < 1e-12, "{s:?}");
    }
}
