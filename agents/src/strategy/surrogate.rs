//! The surrogate model of a task: one GP for the scalar objective and one per
//! guardrail, all fitted on lifts against the production baseline. The Actor uses it to
//! choose where to look, the Critic to predict guardrail risk; one model, so the two
//! agents cannot disagree about what the data says.

use super::gp::{norm_cdf, Gp, Posterior, Sample};
use super::prior::WarmPrior;
use crate::protocol::Observation;
use skillhub::{Guardrail, Limit, Space, TaskSpec};
use std::collections::BTreeMap;

/// Noise variance given to the baseline, whose lift against itself is 0 by definition.
const BASELINE_NOISE: f64 = 1e-4;
/// Smallest spread of lifts (in %) the output standardisation assumes: before anything
/// has been measured, and when the reads so far barely differ.
const PRIOR_SD_PCT: f64 = 1.0;

#[derive(Clone)]
pub struct Surrogate {
    score: Gp,
    guards: Vec<GuardModel>,
    samples: Vec<Sample>,
    /// z of the guardrails' non-inferiority test in a round of the budget's width:
    /// [`Surrogate::predict`]'s proof margin.
    proof_z: f64,
}

#[derive(Clone)]
struct GuardModel {
    rule: String,
    gp: Gp,
    /// The same guardrail fitted on this run's reads alone, when `gp` also has a skill's
    /// memories: a memory may warn that a guardrail breaks, it may not vouch that it
    /// holds where this run's reads (the Critic's) doubt it.
    own: Option<Gp>,
    /// The limit expressed as a lift against the baseline, %.
    threshold_pct: f64,
    /// A typical standard error of one read of the guardrail, %: a read must land this
    /// times the non-inferiority test's z inside the limit for the ship rule to pass.
    read_se_pct: f64,
    higher_is_safe: bool,
}

impl GuardModel {
    /// The probabilities, under `gp`, that the guardrail holds at `u` and that a read
    /// there would show it at critical value `proof_z`.
    fn odds(&self, gp: &Gp, u: &[f64], proof_z: f64) -> (f64, f64) {
        let p = gp.predict(u);
        let sd = p.sd.max(1e-9);
        let side = if self.higher_is_safe { 1.0 } else { -1.0 };
        let inside = side * (p.mean - self.threshold_pct) / sd;
        (norm_cdf(inside), norm_cdf(inside - proof_z * self.read_se_pct / sd))
    }
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

/// Prediction at one point.
#[derive(Debug, Clone)]
pub struct Prediction {
    pub score: Posterior,
    /// Probability that every guardrail holds.
    pub p_safe: f64,
    /// Probability that every guardrail is far enough inside its limit for an
    /// experiment of the usual size to show it (what shipping needs).
    pub p_provable: f64,
    /// Per guardrail: (rule, probability it holds).
    pub guards: Vec<(String, f64)>,
}

/// A guardrail's limit as a lift in % against the baseline, or `None` when an absolute
/// limit cannot be translated because the baseline mean is unknown.
pub fn threshold_pct(g: &Guardrail, baseline_means: &BTreeMap<String, f64>) -> Option<f64> {
    match g.limit {
        Limit::MaxDropPct(p) => Some(-p),
        Limit::MaxRisePct(p) => Some(p),
        Limit::AtMost(v) | Limit::AtLeast(v) => {
            let b = *baseline_means.get(&g.metric)?;
            (b != 0.0).then(|| 100.0 * (v - b) / b.abs())
        }
    }
}

fn fit(
    space: &Space,
    obs: &[Observation],
    value: impl Fn(&Observation) -> Option<(f64, f64)>,
    relevance: &[f64],
    prior: &[Sample],
) -> Option<(Gp, Vec<Sample>)> {
    let mut samples = vec![Sample { x: space.to_unit(&space.baseline()), y: 0.0, noise_var: BASELINE_NOISE }];
    samples.extend(prior.iter().cloned());
    for o in obs {
        if let Some((y, se)) = value(o) {
            if y.is_finite() && se.is_finite() {
                samples.push(Sample { x: space.to_unit(&o.config), y, noise_var: (se * se).max(BASELINE_NOISE) });
            }
        }
    }
    let gp = Gp::fit_ml(&samples, PRIOR_SD_PCT, relevance)?;
    Some((gp, samples))
}

/// Per-dimension relevance (mean 1) from a sensitivity map summing to 1.
pub fn relevance(space: &Space, sensitivity: &BTreeMap<String, f64>) -> Vec<f64> {
    let d = space.dim() as f64;
    space.params.iter().map(|p| sensitivity.get(&p.name).map_or(1.0, |s| (s * d).clamp(0.25, 4.0))).collect()
}

impl Surrogate {
    pub fn fit(
        task: &TaskSpec,
        obs: &[Observation],
        baseline_means: &BTreeMap<String, f64>,
        sensitivity: &BTreeMap<String, f64>,
    ) -> Option<Surrogate> {
        Surrogate::fit_with_prior(task, obs, baseline_means, sensitivity, &WarmPrior::default())
    }

    /// Like [`Surrogate::fit`], with `prior` samples of the objective and of the
    /// guardrail metrics (a skill's elites and reads from earlier runs, their noise
    /// inflated so that this run's measurements outweigh them) added to each GP.
    pub fn fit_with_prior(
        task: &TaskSpec,
        obs: &[Observation],
        baseline_means: &BTreeMap<String, f64>,
        sensitivity: &BTreeMap<String, f64>,
        prior: &WarmPrior,
    ) -> Option<Surrogate> {
        let space = task.space();
        let rel = relevance(&space, sensitivity);
        let (score, samples) = fit(&space, obs, |o| Some((o.score.estimate, o.score_se)), &rel, &prior.score)?;
        let mut guards = Vec::new();
        for g in &task.guardrails {
            let Some(threshold_pct) = threshold_pct(g, baseline_means) else { continue };
            let metric = g.metric.clone();
            let value = |o: &Observation| o.lifts_pct.get(&metric).copied();
            let uniform = vec![1.0; space.dim()];
            let Some((gp, _)) = fit(&space, obs, value, &uniform, prior.lifts_of(&metric)) else { continue };
            let own = if prior.lifts_of(&metric).is_empty() {
                None
            } else {
                fit(&space, obs, value, &uniform, &[]).map(|(gp, _)| gp)
            };
            let read_se =
                median(obs.iter().filter_map(|o| o.lifts_pct.get(&metric).map(|l| l.1)).collect()).unwrap_or(0.0);
            guards.push(GuardModel {
                rule: g.describe(),
                gp,
                own,
                threshold_pct,
                read_se_pct: read_se,
                higher_is_safe: g.higher_is_safe(),
            });
        }
        let proof_z = super::width::guardrail_z(task.budget.arms_per_round as usize);
        Some(Surrogate { score, guards, samples, proof_z })
    }

    pub fn predict(&self, u: &[f64]) -> Prediction {
        self.predict_for(u, self.proof_z)
    }

    /// Like [`Surrogate::predict`], with `p_provable` for a guardrail test at critical
    /// value `proof_z` times a usual read's standard error (a narrow round reads tighter
    /// and corrects less: see `strategy::width`).
    pub fn predict_for(&self, u: &[f64], proof_z: f64) -> Prediction {
        let score = self.score.predict(u);
        let mut p_provable = 1.0;
        let guards: Vec<(String, f64)> = self
            .guards
            .iter()
            .map(|g| {
                let (hold, provable) = g
                    .own
                    .iter()
                    .chain([&g.gp])
                    .map(|gp| g.odds(gp, u, proof_z))
                    .fold((1.0f64, 1.0f64), |(h, p), (h2, p2)| (h.min(h2), p.min(p2)));
                p_provable *= provable;
                (g.rule.clone(), hold)
            })
            .collect();
        let p_safe = guards.iter().map(|(_, p)| p).product();
        Prediction { score, p_safe, p_provable, guards }
    }

    /// The score GP refitted with one more (believed) sample, for batch selection.
    pub fn believe(&mut self, u: &[f64], y: f64) {
        self.samples.push(Sample { x: u.to_vec(), y, noise_var: BASELINE_NOISE });
        if let Some(gp) = Gp::fit_standardised(&self.samples, self.score.hyper().clone(), self.score.standardise()) {
            self.score = gp;
        }
    }

    pub fn length_scales(&self) -> &[f64] {
        &self.score.hyper().length_scales
    }
}
