//! The built-in Actor's search: batched, constrained Bayesian optimisation.
//!
//! Each round it fits the [`Surrogate`] to everything measured, scores a pool of
//! candidate points (uniform over the region, plus local moves around the incumbent and
//! the best measured points) by expected improvement times the probability that every
//! guardrail is far enough inside its limit for the ship rule to show it (a candidate on
//! the boundary may be good, but it could never ship), and fills the batch greedily, each pick "believed" at its predicted
//! mean so the next pick goes elsewhere (the Kriging believer).

use super::gp::{expected_improvement, expected_shipped_improvement, Sample};
use super::surrogate::Surrogate;
use crate::protocol::{Observation, Origin};
use crate::stats::sample_normal as normal;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use skillhub::{Configuration, EliteConfig, Space, TaskSpec};
use std::collections::BTreeMap;

/// What the search knows when it proposes.
pub struct SearchInput<'a> {
    pub task: &'a TaskSpec,
    pub observations: &'a [Observation],
    pub baseline_means: &'a BTreeMap<String, f64>,
    pub incumbent: &'a Configuration,
    pub sensitivity: &'a BTreeMap<String, f64>,
    /// Narrowed bounds per parameter (raw units), from the skill's priors.
    pub region: &'a BTreeMap<String, (f64, f64)>,
    pub n: usize,
    pub seed: u64,
    /// Largest predicted guardrail-breach probability worth proposing (the Critic's).
    pub max_risk: f64,
    /// The skill's elites: configurations that did well in earlier runs of the task,
    /// possibly on another model version (see [`warm_prior`]).
    pub elites: &'a [EliteConfig],
}

/// Standard deviation (%) given to an elite's remembered score, at least: the model or
/// the traffic may have changed since it was measured, so it is a hint, not a read.
const ELITE_NOISE_SD_PCT: f64 = 1.0;
/// ... and at least this share of the remembered score itself.
const ELITE_NOISE_SHARE: f64 = 0.5;

/// The skill's elites as prior samples of the objective, their noise inflated so that
/// one measurement of this run outweighs them; an elite this run has already measured
/// is left out, its measurement speaks for it.
pub fn warm_prior(space: &Space, elites: &[EliteConfig], observations: &[Observation]) -> Vec<Sample> {
    let measured: Vec<Vec<f64>> = observations.iter().map(|o| space.to_unit(&o.config)).collect();
    elites
        .iter()
        .filter(|e| space.check(&e.config).is_ok() && e.score_pct.is_finite())
        .map(|e| (space.to_unit(&e.config), e.score_pct))
        .filter(|(u, _)| measured.iter().all(|m| unit_distance(m, u) > SAME_POINT))
        .map(|(x, y)| {
            let sd = ELITE_NOISE_SD_PCT.max(ELITE_NOISE_SHARE * y.abs());
            Sample { x, y, noise_var: sd * sd }
        })
        .collect()
}

/// Root-mean-square distance per dimension between two unit-cube points.
fn unit_distance(a: &[f64], b: &[f64]) -> f64 {
    let d2: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
    (d2 / a.len().max(1) as f64).sqrt()
}

/// A proposed configuration with the numbers behind it.
#[derive(Debug, Clone)]
pub struct Suggestion {
    pub config: Configuration,
    pub origin: Origin,
    pub hypothesis: String,
}

const POOL_UNIFORM: usize = 1500;
const POOL_LOCAL: usize = 1500;
/// Configurations closer than this (normalised unit-cube distance) count as the same.
pub const SAME_POINT: f64 = 0.02;

/// Unit-cube bounds per dimension after applying the narrowed region.
fn bounds(space: &Space, region: &BTreeMap<String, (f64, f64)>) -> Vec<(f64, f64)> {
    space
        .params
        .iter()
        .map(|p| match region.get(&p.name) {
            Some((lo, hi)) => {
                let a = p.to_unit(&skillhub::Value::Num(*lo));
                let b = p.to_unit(&skillhub::Value::Num(*hi));
                (a.min(b), a.max(b))
            }
            None => (0.0, 1.0),
        })
        .collect()
}

/// Snaps a point to the nearest valid configuration and back, so ints and choices are
/// scored where they will actually be tested.
fn snap(space: &Space, u: &[f64]) -> (Configuration, Vec<f64>) {
    let cfg = space.from_unit(u);
    let snapped = space.to_unit(&cfg);
    (cfg, snapped)
}

/// Half-width of the trust region around the incumbent and the best points, in unit
/// coordinates: small while little is known (production traffic should not see wild
/// configurations before the surrogate has data), widening with every measured round.
pub fn trust_radius(observations: &[Observation]) -> f64 {
    let mut rounds: Vec<u32> = observations.iter().map(|o| o.round).collect();
    rounds.sort_unstable();
    rounds.dedup();
    (0.15 * 1.6f64.powi(rounds.len() as i32)).clamp(0.15, 0.5)
}

/// Where the pool is drawn around: the incumbent, the best safe measured points and the
/// prior samples (the skill's elites not yet re-measured: the region it narrowed the
/// search to).
fn centres(space: &Space, observations: &[Observation], incumbent: &Configuration, prior: &[Sample]) -> Vec<Vec<f64>> {
    let mut centres = vec![space.to_unit(incumbent)];
    let mut best: Vec<&Observation> = observations.iter().filter(|o| o.safe).collect();
    best.sort_by(|a, z| z.score.estimate.total_cmp(&a.score.estimate));
    centres.extend(best.iter().take(3).map(|o| space.to_unit(&o.config)));
    centres.extend(prior.iter().map(|p| p.x.clone()));
    centres
}

/// Candidate points: uniform within the trust radius of each centre, and Gaussian local
/// moves around them, inside the bounds `b`.
fn pool(b: &[(f64, f64)], centres: &[Vec<f64>], radius: f64, rng: &mut ChaCha8Rng) -> Vec<Vec<f64>> {
    let mut out = Vec::with_capacity(POOL_UNIFORM + POOL_LOCAL);
    for i in 0..POOL_UNIFORM {
        let c = &centres[i % centres.len()];
        out.push(
            c.iter()
                .zip(b)
                .map(|(x, (lo, hi))| {
                    let (l, h) = ((x - radius).max(*lo), (x + radius).min(*hi));
                    l + rng.gen::<f64>() * (h - l).max(0.0)
                })
                .collect(),
        );
    }
    for i in 0..POOL_LOCAL {
        let c = &centres[i % centres.len()];
        let step = radius * [0.2, 0.45, 0.8][i % 3];
        out.push(c.iter().zip(b).map(|(x, (lo, hi))| (x + step * normal(rng)).clamp(*lo, *hi)).collect());
    }
    out
}

/// The configurations the search can reach next from what has been measured (the whole
/// space, no skill region or elites), snapped to valid values: the pool the Actor would
/// score, for judging whether anything in reach is still worth an experiment.
pub fn reachable(
    space: &Space,
    observations: &[Observation],
    incumbent: &Configuration,
    seed: u64,
) -> Vec<(Configuration, Vec<f64>)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let b = vec![(0.0, 1.0); space.dim()];
    let centres = centres(space, observations, incumbent, &[]);
    pool(&b, &centres, trust_radius(observations), &mut rng).iter().map(|u| snap(space, u)).collect()
}

fn describe_move(space: &Space, from: &Configuration, to: &Configuration) -> String {
    let mut moves: Vec<(f64, String)> = space
        .params
        .iter()
        .filter_map(|p| {
            let (a, b) = (from.get(&p.name)?, to.get(&p.name)?);
            let d = (p.to_unit(b) - p.to_unit(a)).abs();
            (d > 1e-9).then(|| (d, format!("{} {a}→{b}", p.name)))
        })
        .collect();
    moves.sort_by(|x, y| y.0.total_cmp(&x.0));
    let list: Vec<String> = moves.into_iter().take(3).map(|(_, s)| s).collect();
    if list.is_empty() {
        "no change".into()
    } else {
        list.join(", ")
    }
}

/// Proposes up to `input.n` distinct configurations, best first.
pub fn suggest(input: &SearchInput) -> Vec<Suggestion> {
    let space = input.task.space();
    let mut rng = ChaCha8Rng::seed_from_u64(input.seed);
    let prior = warm_prior(&space, input.elites, input.observations);
    let Some(mut model) =
        Surrogate::fit_with_prior(input.task, input.observations, input.baseline_means, input.sensitivity, &prior)
    else {
        return super::random::suggest(input.task, input.n, input.seed);
    };
    let mut taken: Vec<Vec<f64>> = input.observations.iter().map(|o| space.to_unit(&o.config)).collect();
    taken.push(space.to_unit(&space.baseline()));
    taken.push(space.to_unit(input.incumbent));
    let best = best_safe_mean(&model, &space, input);
    let bar = ShipBar::of(&model, &space, input.observations, input.incumbent);
    let centres = centres(&space, input.observations, input.incumbent, &prior);
    let mut candidates: Vec<(Configuration, Vec<f64>)> =
        pool(&bounds(&space, input.region), &centres, trust_radius(input.observations), &mut rng)
            .iter()
            .map(|u| snap(&space, u))
            .collect();
    // The elites themselves, exactly: on a new model version the old winners are the
    // first thing worth re-measuring.
    candidates.extend(
        input
            .elites
            .iter()
            .filter(|e| space.check(&e.config).is_ok())
            .map(|e| (e.config.clone(), space.to_unit(&e.config))),
    );
    let mut out = Vec::new();
    if let Some((suggestion, u, mean)) = remeasure_best_elite(&model, &space, input) {
        model.believe(&u, mean);
        taken.push(u);
        out.push(suggestion);
    }
    while out.len() < input.n {
        let Some((cfg, u, acq, pred)) = pick(&model, &candidates, &taken, &bar, best, input.max_risk) else { break };
        let origin = if pred.score.mean > best { Origin::Optimizer } else { Origin::Exploration };
        let hypothesis = format!(
            "surrogate predicts objective {:+.2}% ± {:.2} vs baseline (incumbent {:+.2}%, best so far {:+.2}%), P(guardrails hold) {:.2}, {} {:.3}; moves {}",
            pred.score.mean,
            pred.score.sd,
            bar.incumbent,
            best,
            pred.p_safe,
            bar.describe(),
            acq,
            describe_move(&space, input.incumbent, &cfg)
        );
        model.believe(&u, pred.score.mean);
        taken.push(u);
        out.push(Suggestion { config: cfg, origin, hypothesis });
    }
    out
}

/// On the first round of a run with a skill, the skill's best elite itself: on a new
/// model version the old winner is the most informative arm to read first (it says at
/// once how much of the old optimum carried over), and the surrogate's risk test still
/// applies to it.
fn remeasure_best_elite(model: &Surrogate, space: &Space, input: &SearchInput) -> Option<(Suggestion, Vec<f64>, f64)> {
    if !input.observations.is_empty() || input.n == 0 {
        return None;
    }
    let best = input
        .elites
        .iter()
        .filter(|e| space.check(&e.config).is_ok() && e.score_pct.is_finite())
        .max_by(|a, b| a.score_pct.total_cmp(&b.score_pct))?;
    let u = space.to_unit(&best.config);
    let pred = model.predict(&u);
    if 1.0 - pred.p_safe > input.max_risk {
        return None;
    }
    let hypothesis = format!(
        "re-measures the skill's best elite (scored {:+.2}% in {} on an earlier run); surrogate predicts {:+.2}% ± {:.2}, P(guardrails hold) {:.2}",
        best.score_pct, best.experiment_id, pred.score.mean, pred.score.sd, pred.p_safe
    );
    let suggestion = Suggestion { config: best.config.clone(), origin: Origin::Optimizer, hypothesis };
    Some((suggestion, u, pred.score.mean))
}

/// A configuration counts as safe when every guardrail is predicted more likely to hold
/// than not: the best measured mean the search tries to beat, and the candidates the
/// convergence test weighs, are taken among those.
pub const SAFE_P: f64 = 0.5;

fn best_safe_mean(model: &Surrogate, space: &Space, input: &SearchInput) -> f64 {
    input
        .observations
        .iter()
        .map(|o| model.predict(&space.to_unit(&o.config)))
        .filter(|p| p.p_safe >= SAFE_P)
        .map(|p| p.score.mean)
        .fold(0.0, f64::max)
}

/// Critical value of the ship rule's test against the control, roughly: two-sided 5%
/// split over four treatments (Holm's first step).
pub const SHIP_Z: f64 = 2.5;

/// What the next experiment must show for a candidate to ship: beat the incumbent by a
/// difference its reads can resolve. The Actor's acquisition and Insight's convergence
/// test both measure against it.
pub struct ShipBar {
    /// The surrogate's mean at the incumbent, % vs the baseline.
    pub incumbent: f64,
    /// Standard error of one arm's read against the control, %; `None` before any read.
    pub read_se: Option<f64>,
}

impl ShipBar {
    pub fn of(model: &Surrogate, space: &Space, observations: &[Observation], incumbent: &Configuration) -> ShipBar {
        let incumbent = model.predict(&space.to_unit(incumbent)).score.mean;
        let mut se: Vec<f64> = observations.iter().map(|o| o.score_se).filter(|s| s.is_finite() && *s > 0.0).collect();
        se.sort_by(f64::total_cmp);
        // The largest reads are the single ones (pooled reads are tighter): a new arm is read once.
        ShipBar { incumbent, read_se: se.last().copied() }
    }

    /// The smallest gain over the incumbent the next experiment can show, %: the ship
    /// test's critical value times one read's standard error.
    pub fn detectable_pct(&self) -> Option<f64> {
        self.read_se.map(|se| SHIP_Z * se)
    }

    /// The acquisition: the expected improvement over the incumbent that the next
    /// experiment will show (expected shipped improvement), or plain expected improvement
    /// over the best mean before anything has been read.
    fn value(&self, p: super::gp::Posterior, best: f64) -> f64 {
        match self.read_se {
            Some(se) => {
                let gain = super::gp::Posterior { mean: p.mean - self.incumbent, sd: p.sd };
                expected_shipped_improvement(gain, se, SHIP_Z)
            }
            None => expected_improvement(p, best),
        }
    }

    fn describe(&self) -> String {
        match self.read_se {
            Some(se) => format!("expected improvement the next read (se {se:.2}) can show"),
            None => "expected improvement".into(),
        }
    }
}

type Pick = (Configuration, Vec<f64>, f64, super::surrogate::Prediction);

fn pick(
    model: &Surrogate,
    candidates: &[(Configuration, Vec<f64>)],
    taken: &[Vec<f64>],
    bar: &ShipBar,
    best: f64,
    max_risk: f64,
) -> Option<Pick> {
    let dim = candidates.first().map_or(1, |c| c.1.len()).max(1) as f64;
    let far = |u: &Vec<f64>| {
        taken.iter().all(|t| {
            let d2: f64 = t.iter().zip(u).map(|(a, b)| (a - b).powi(2)).sum();
            (d2 / dim).sqrt() > SAME_POINT
        })
    };
    let mut best_pick: Option<Pick> = None;
    for (cfg, u) in candidates.iter().filter(|(_, u)| far(u)) {
        let pred = model.predict(u);
        if 1.0 - pred.p_safe > max_risk {
            continue;
        }
        let acq = bar.value(pred.score, best) * pred.p_provable;
        if best_pick.as_ref().is_none_or(|b| acq > b.2) {
            best_pick = Some((cfg.clone(), u.clone(), acq, pred));
        }
    }
    best_pick
}
