//! The built-in Actor's search: batched, constrained Bayesian optimisation.
//!
//! Each round it fits the [`Surrogate`] to everything measured, scores a pool of
//! candidate points (uniform over the region, plus local moves around the incumbent and
//! the best measured points) by the improvement the next read is expected to show
//! times the probability that every guardrail is far enough inside its limit for the
//! ship rule to show it (a candidate on the boundary may be good, but it could never
//! ship), and fills the batch greedily, each pick "believed" at its predicted mean so
//! the next pick goes elsewhere (the Kriging believer). It fills one batch per round
//! width (see [`super::width`]) and proposes the width expected to ship the most.

use super::gp::{expected_improvement, expected_shipped_improvement};
use super::prior::{unit_distance, WarmPrior, SAME_POINT};
use super::surrogate::Surrogate;
use super::width::{guardrail_z, objective_z, treatments_text, RoundShape};
use crate::protocol::{Observation, Origin};
use crate::stats::sample_normal as normal;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use skillhub::{Configuration, EliteConfig, PriorRead, Space, TaskSpec};
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
    /// possibly on another model version (see [`WarmPrior`]).
    pub elites: &'a [EliteConfig],
    /// The skill's reads of earlier runs of the task (see [`WarmPrior`]).
    pub reads: &'a [PriorRead],
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
/// prior's centres (the skill's elites not yet re-measured: the region it narrowed the
/// search to).
fn centres(
    space: &Space,
    observations: &[Observation],
    incumbent: &Configuration,
    prior: &[Vec<f64>],
) -> Vec<Vec<f64>> {
    let mut centres = vec![space.to_unit(incumbent)];
    let mut best: Vec<&Observation> = observations.iter().filter(|o| o.safe).collect();
    best.sort_by(|a, z| z.score.estimate.total_cmp(&a.score.estimate));
    centres.extend(best.iter().take(3).map(|o| space.to_unit(&o.config)));
    centres.extend(prior.iter().cloned());
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

/// What the search proposes for one round.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Best first; in a narrow round the ones after the first are stand-ins in case the
    /// Critic rejects it.
    pub suggestions: Vec<Suggestion>,
    /// `Some(k)` when the round should test only `k` treatments (a narrow round), with
    /// the reason; `None` for the budget's width.
    pub narrow: Option<(usize, String)>,
}

impl Batch {
    pub fn wide(suggestions: Vec<Suggestion>) -> Batch {
        Batch { suggestions, narrow: None }
    }
}

/// Candidates proposed beyond a narrow round's width, in case the Critic rejects some.
const NARROW_STAND_INS: usize = 2;

/// What every pick of one round draws from.
struct Pool<'a> {
    space: &'a Space,
    candidates: Vec<(Configuration, Vec<f64>)>,
    taken: Vec<Vec<f64>>,
    best: f64,
    max_risk: f64,
    incumbent: &'a Configuration,
}

/// One pick with what it is worth at its round's bar.
struct Scored {
    suggestion: Suggestion,
    acquisition: f64,
    p_ship: f64,
}

/// Proposes up to `input.n` distinct configurations, best first, and the round's width:
/// the budget's, or fewer treatments when fewer tighter reads are worth more than the
/// whole batch (see [`super::width`]).
pub fn suggest(input: &SearchInput) -> Batch {
    let space = input.task.space();
    let mut rng = ChaCha8Rng::seed_from_u64(input.seed);
    let guarded: Vec<&str> = input.task.guardrails.iter().map(|g| g.metric.as_str()).collect();
    let prior = WarmPrior::of(&space, &guarded, input.elites, input.reads, input.observations);
    let Some(mut model) =
        Surrogate::fit_with_prior(input.task, input.observations, input.baseline_means, input.sensitivity, &prior)
    else {
        return Batch::wide(super::random::suggest(input.task, input.n, input.seed));
    };
    let mut taken: Vec<Vec<f64>> = input.observations.iter().map(|o| space.to_unit(&o.config)).collect();
    taken.push(space.to_unit(&space.baseline()));
    taken.push(space.to_unit(input.incumbent));
    let centres = centres(&space, input.observations, input.incumbent, &prior.centres);
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
    let best = best_safe_mean(&model, &space, input);
    let pool = Pool { space: &space, candidates, taken, best, max_risk: input.max_risk, incumbent: input.incumbent };
    let shape = round_shape(input.task, input.incumbent);
    if !out.is_empty() && shape.budget_treatments > 1 {
        return confirm_elite(model, &pool, input, shape, out);
    }
    let wide_bar = ShipBar::of(&model, &space, input.observations, input.incumbent, shape, shape.budget_treatments);
    let wide = fill(model.clone(), &pool, &wide_bar, input.n.saturating_sub(out.len()));
    if out.is_empty() {
        if let Some(narrow) = narrow_round(&model, &pool, input, shape, &wide) {
            return narrow;
        }
    }
    out.extend(wide.into_iter().map(|s| s.suggestion));
    Batch::wide(out)
}

/// The round's shape for a task whose incumbent is `incumbent`: the control, plus the
/// production baseline when the incumbent is not production.
pub fn round_shape(task: &TaskSpec, incumbent: &Configuration) -> RoundShape {
    let comparison = if *incumbent == task.baseline() { 1 } else { 2 };
    RoundShape::of(&task.budget, comparison)
}

/// Fills up to `n` picks greedily at `bar`, each believed at its predicted mean.
fn fill(mut model: Surrogate, pool: &Pool, bar: &ShipBar, n: usize) -> Vec<Scored> {
    let mut taken = pool.taken.clone();
    let mut out = Vec::new();
    while out.len() < n {
        let Some((cfg, u, acq, pred)) = pick(&model, pool, &taken, bar) else { break };
        let origin = if pred.score.mean > pool.best { Origin::Optimizer } else { Origin::Exploration };
        let hypothesis = format!(
            "surrogate predicts objective {:+.2}% ± {:.2} vs baseline (incumbent {:+.2}%, best so far {:+.2}%), P(guardrails hold) {:.2}, {} {:.3}; moves {}",
            pred.score.mean,
            pred.score.sd,
            bar.incumbent,
            pool.best,
            pred.p_safe,
            bar.describe(),
            acq,
            describe_move(pool.space, pool.incumbent, &cfg)
        );
        let p_ship = bar.ship_probability(&pred);
        model.believe(&u, pred.score.mean);
        taken.push(u);
        out.push(Scored { suggestion: Suggestion { config: cfg, origin, hypothesis }, acquisition: acq, p_ship });
    }
    out
}

/// What a batch is expected to ship: only one arm ships, so each pick counts for the
/// rounds in which none before it cleared the bar (reads taken as independent).
fn batch_value(picks: &[Scored]) -> f64 {
    let mut none_before = 1.0;
    let mut value = 0.0;
    for p in picks {
        value += none_before * p.acquisition;
        none_before *= 1.0 - p.p_ship;
    }
    value
}

/// A narrower round, when fewer treatments, each read tighter and corrected less, are
/// expected to ship more than the budget-wide batch `wide` (of which the Critic keeps
/// the first `budget_treatments`): the width with the largest expected shipped gain.
fn narrow_round(
    model: &Surrogate,
    pool: &Pool,
    input: &SearchInput,
    shape: RoundShape,
    wide: &[Scored],
) -> Option<Batch> {
    let wide_value = batch_value(&wide[..wide.len().min(shape.budget_treatments)]);
    let mut best: Option<(usize, f64, Vec<Scored>, String)> = None;
    for k in 1..shape.budget_treatments {
        let bar = ShipBar::of(model, pool.space, input.observations, input.incumbent, shape, k);
        // Before any read there is no bar to narrow against.
        bar.read_se?;
        let picks = fill(model.clone(), pool, &bar, (k + NARROW_STAND_INS).min(input.n.max(k)));
        let value = batch_value(&picks[..picks.len().min(k)]);
        if value > best.as_ref().map_or(wide_value, |b| b.1) {
            best = Some((k, value, picks, bar.describe()));
        }
    }
    let (k, value, picks, bar) = best?;
    let reason = format!(
        "{} at {:.2}x the units each {} expected to ship {value:.3}% against {wide_value:.3}% for {} treatments ({bar})",
        treatments_text(k),
        shape.units_scale(k),
        if k == 1 { "is" } else { "are" },
        shape.budget_treatments,
    );
    Some(Batch { suggestions: picks.into_iter().map(|s| s.suggestion).collect(), narrow: Some((k, reason)) })
}

/// The first round of a warm start: the skill's best elite alone, with the round's
/// traffic. Whether the old winner still wins is the one question worth a tight read:
/// if the model change kept it good, a one-treatment read (2.5x the units, the ship
/// rule's bar at alpha instead of alpha / 4) can ship it at once, where four looser
/// reads would leave an arm near a guardrail unproven; if not, the surrogate learns it
/// precisely. The stand-ins are there in case the Critic rejects it.
fn confirm_elite(
    model: Surrogate,
    pool: &Pool,
    input: &SearchInput,
    shape: RoundShape,
    elite: Vec<Suggestion>,
) -> Batch {
    let bar = ShipBar::of(&model, pool.space, input.observations, input.incumbent, shape, 1);
    let stand_ins = fill(model, pool, &bar, NARROW_STAND_INS);
    let reason = format!(
        "1 treatment at {:.2}x the units: a warm start reads the skill's best elite alone first, tightly enough to ship it if it carried over to this model",
        shape.units_scale(1)
    );
    let suggestions = elite.into_iter().chain(stand_ins.into_iter().map(|s| s.suggestion)).collect();
    Batch { suggestions, narrow: Some((1, reason)) }
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
    // Already what runs: nothing to read against the control.
    if best.config == *input.incumbent {
        return None;
    }
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

/// What the next experiment must show for a candidate to ship: beat the incumbent by a
/// difference its reads can resolve, at the round's width. The Actor's acquisition and
/// Insight's convergence test both measure against it.
pub struct ShipBar {
    /// The surrogate's mean at the incumbent, % vs the baseline.
    pub incumbent: f64,
    /// Standard error of one arm's read against the control at this width, %; `None`
    /// before any read.
    pub read_se: Option<f64>,
    pub treatments: usize,
    /// The objective's critical value at this width.
    pub z: f64,
    /// The guardrails' critical value times the read's scale at this width: the margin,
    /// in usual standard errors, a guardrail must be inside its limit by.
    pub guard_z: f64,
}

impl ShipBar {
    pub fn of(
        model: &Surrogate,
        space: &Space,
        observations: &[Observation],
        incumbent: &Configuration,
        shape: RoundShape,
        treatments: usize,
    ) -> ShipBar {
        let incumbent = model.predict(&space.to_unit(incumbent)).score.mean;
        let mut se: Vec<f64> = observations
            .iter()
            .map(|o| full_width_se(o, shape.budget_units))
            .filter(|s| s.is_finite() && *s > 0.0)
            .collect();
        se.sort_by(f64::total_cmp);
        // Every read restated at the budget's units per arm; the largest is the
        // reference the width's scale applies to.
        let scale = shape.se_scale(treatments);
        ShipBar {
            incumbent,
            read_se: se.last().map(|s| s * scale),
            treatments,
            z: objective_z(treatments),
            guard_z: guardrail_z(treatments) * scale,
        }
    }

    /// The smallest gain over the incumbent the next experiment can show, %: the ship
    /// test's critical value times one read's standard error.
    pub fn detectable_pct(&self) -> Option<f64> {
        self.read_se.map(|se| self.z * se)
    }

    /// The surrogate's prediction with the guardrail margins of this width.
    pub fn predict(&self, model: &Surrogate, u: &[f64]) -> super::surrogate::Prediction {
        model.predict_for(u, self.guard_z)
    }

    /// The acquisition: the expected improvement over the incumbent that the next
    /// experiment will show (expected shipped improvement), or plain expected improvement
    /// over the best mean before anything has been read.
    fn value(&self, p: super::gp::Posterior, best: f64) -> f64 {
        match self.read_se {
            Some(se) => {
                let gain = super::gp::Posterior { mean: p.mean - self.incumbent, sd: p.sd };
                expected_shipped_improvement(gain, se, self.z)
            }
            None => expected_improvement(p, best),
        }
    }

    /// Probability that the read clears the bar and every guardrail is shown to hold.
    fn ship_probability(&self, p: &super::surrogate::Prediction) -> f64 {
        let Some(se) = self.read_se else { return 0.0 };
        let gain = p.score.mean - self.incumbent;
        crate::stats::normal_cdf((gain - self.z * se) / (p.score.sd.powi(2) + se * se).sqrt()) * p.p_provable
    }

    fn describe(&self) -> String {
        match self.read_se {
            Some(se) => format!(
                "expected improvement the next read ({}, se {se:.2}, z {:.2}) can show",
                treatments_text(self.treatments),
                self.z
            ),
            None => "expected improvement".into(),
        }
    }
}

/// What `o`'s standard error would be had it rested on one read of `budget_units` per
/// arm: a narrow read (more units) or a pooled one (several reads) is tighter than the
/// full-width read the bar scales from.
fn full_width_se(o: &Observation, budget_units: u64) -> f64 {
    if o.units == 0 || budget_units == 0 {
        return o.score_se;
    }
    o.score_se * (o.units as f64 / budget_units as f64).sqrt()
}

type Pick = (Configuration, Vec<f64>, f64, super::surrogate::Prediction);

fn pick(model: &Surrogate, pool: &Pool, taken: &[Vec<f64>], bar: &ShipBar) -> Option<Pick> {
    let far = |u: &Vec<f64>| taken.iter().all(|t| unit_distance(t, u) > SAME_POINT);
    let mut best_pick: Option<Pick> = None;
    for (cfg, u) in pool.candidates.iter().filter(|(_, u)| far(u)) {
        let pred = bar.predict(model, u);
        if 1.0 - pred.p_safe > pool.max_risk {
            continue;
        }
        let acq = bar.value(pred.score, pool.best) * pred.p_provable;
        if best_pick.as_ref().is_none_or(|b| acq > b.2) {
            best_pick = Some((cfg.clone(), u.clone(), acq, pred));
        }
    }
    best_pick
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::grid;
    use skillhub::Value;

    fn input<'a>(task: &'a TaskSpec, obs: &'a [Observation], incumbent: &'a Configuration) -> SearchInput<'a> {
        static EMPTY: std::sync::OnceLock<BTreeMap<String, f64>> = std::sync::OnceLock::new();
        static REGION: std::sync::OnceLock<BTreeMap<String, (f64, f64)>> = std::sync::OnceLock::new();
        SearchInput {
            task,
            observations: obs,
            baseline_means: EMPTY.get_or_init(BTreeMap::new),
            incumbent,
            sensitivity: EMPTY.get_or_init(BTreeMap::new),
            region: REGION.get_or_init(BTreeMap::new),
            n: 8,
            seed: 3,
            max_risk: 0.5,
            elites: &[],
            reads: &[],
        }
    }

    fn four_arm_task() -> TaskSpec {
        let mut t = crate::fixtures::task(&["a", "b"], vec![]);
        t.budget.arms_per_round = 4;
        t
    }

    fn at(a: f64, b: f64) -> Configuration {
        Configuration::from([("a".to_string(), Value::Num(a)), ("b".to_string(), Value::Num(b))])
    }

    #[test]
    fn a_gain_too_small_for_a_wide_read_gets_a_narrow_round() {
        // Well measured (se 0.4) and rising to +0.7 at a = 1 from the incumbent's 0 at
        // a = 0.5: a four-treatment read shows 2.5 x 0.4 = 1.0 at best, one treatment
        // with the round's traffic 1.96 x 0.4 x sqrt(2/5) = 0.50.
        let task = four_arm_task();
        let obs = grid(|a, _| 1.4 * (a - 0.5).max(0.0), 0.4);
        let incumbent = at(0.5, 0.5);
        let batch = suggest(&input(&task, &obs, &incumbent));
        let (k, reason) = batch.narrow.clone().expect("a narrow round");
        assert_eq!(k, 1);
        assert!(reason.contains("1 treatment at 2.50x the units each is expected to ship"), "{reason}");
        assert!(!batch.suggestions.is_empty() && batch.suggestions.len() <= 1 + NARROW_STAND_INS);
        let first = &batch.suggestions[0];
        assert!(first.hypothesis.contains("1 treatment, se 0.25, z 1.96"), "{}", first.hypothesis);
        assert!(first.config.get("a").and_then(Value::as_f64).is_some_and(|a| a > 0.75), "{:?}", first.config);
    }

    #[test]
    fn the_bar_restates_narrow_and_pooled_reads_at_the_budget_s_units() {
        // Every read so far is a narrow one (2.5x the budget's units, se 0.2), as after a
        // warm start's first round: a four-treatment read at the budget's units would
        // have se 0.2 x sqrt(2.5), not 0.2.
        let task = four_arm_task();
        let mut obs = grid(|a, _| a, 0.2);
        let incumbent = at(0.5, 0.5);
        let model = Surrogate::fit(&task, &obs, &BTreeMap::new(), &BTreeMap::new()).expect("fit");
        let shape = round_shape(&task, &incumbent);
        let units = task.budget.units_per_arm;
        let read_se = |obs: &[Observation]| {
            ShipBar::of(&model, &task.space(), obs, &incumbent, shape, 4).read_se.expect("a read")
        };
        obs.iter_mut().for_each(|o| o.units = units * 5 / 2);
        assert!((read_se(&obs) - 0.2 * 2.5f64.sqrt()).abs() < 1e-9, "{}", read_se(&obs));
        // Units not recorded (an older journal) are taken as the budget's.
        obs.iter_mut().for_each(|o| o.units = 0);
        assert!((read_se(&obs) - 0.2).abs() < 1e-9, "{}", read_se(&obs));
    }

    #[test]
    fn an_open_surface_keeps_the_budget_s_width() {
        // A few reads near the incumbent, rising steeply along both axes, the rest
        // unknown: four looks into the unknown are worth more than fewer tight ones.
        let task = four_arm_task();
        let obs: Vec<Observation> = grid(|a, b| 6.0 * (a + b - 1.0), 0.4)
            .into_iter()
            .filter(|o| o.config.values().all(|v| v.as_f64().is_some_and(|x| (0.3..0.7).contains(&x))))
            .collect();
        assert_eq!(obs.len(), 9);
        let incumbent = at(0.5, 0.5);
        let batch = suggest(&input(&task, &obs, &incumbent));
        assert!(batch.narrow.is_none(), "{:?}", batch.narrow);
        assert_eq!(batch.suggestions.len(), 8);
    }

    #[test]
    fn a_warm_start_reads_the_best_elite_alone_first() {
        let task = four_arm_task();
        let elite = |score_pct, a| EliteConfig { experiment_id: format!("exp-{a}"), score_pct, config: at(a, 0.8) };
        let elites = [elite(1.5, 0.2), elite(3.0, 0.9), elite(2.0, 0.6)];
        let baseline = task.baseline();
        let mut warm = input(&task, &[], &baseline);
        warm.elites = &elites;
        let batch = suggest(&warm);
        let (k, reason) = batch.narrow.clone().expect("a narrow first round");
        assert_eq!(k, 1);
        assert!(reason.contains("reads the skill's best elite alone"), "{reason}");
        assert_eq!(batch.suggestions[0].config, at(0.9, 0.8), "{:?}", batch.suggestions[0]);
        assert_eq!(batch.suggestions.len(), 1 + NARROW_STAND_INS);
        // Without a skill the first round is the budget's width.
        let cold = suggest(&input(&task, &[], &baseline));
        assert!(cold.narrow.is_none() && cold.suggestions.len() == 8, "{:?}", cold.narrow);
        // Nor is the best elite read against itself when it is already what runs.
        let running = at(0.9, 0.8);
        warm.incumbent = &running;
        let batch = suggest(&warm);
        assert!(batch.narrow.is_none(), "{:?}", batch.narrow);
        assert!(batch.suggestions.iter().all(|s| s.config != running), "{:?}", batch.suggestions);
    }

    #[test]
    fn a_batch_counts_each_pick_only_when_none_before_it_ships() {
        let scored = |acquisition, p_ship| Scored {
            suggestion: Suggestion {
                config: Configuration::new(),
                origin: Origin::Optimizer,
                hypothesis: String::new(),
            },
            acquisition,
            p_ship,
        };
        let v = batch_value(&[scored(1.0, 0.5), scored(1.0, 0.5), scored(2.0, 0.1)]);
        assert!((v - (1.0 + 0.5 + 0.25 * 2.0)).abs() < 1e-12, "{v}");
    }
}
