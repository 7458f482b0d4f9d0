//! What a skill tells the surrogate before this run has measured anything near it: the
//! elites and the reads of earlier runs of the task, possibly on another model version,
//! as prior samples of the objective and of the guardrail metrics' lifts.
//!
//! Trust, then verify. Before this run has read anything only the elites speak (the
//! warm start reads the best of them first). Once it has, the earlier runs' reads join,
//! first carried over to the new model by a scale and a shift fitted where this run
//! looked (a prior mean, in effect: see [`Calibration`]), then each value with a noise
//! at least as large as the carried-over memory was still wrong there: the root mean
//! square of this run's reads minus what the memory alone predicts. Where the model
//! change kept the landscape's shape, the old reads shape the surrogates (where a
//! guardrail broke, where the objective rose); where it moved it, they fade. A point
//! this run has already measured is left out; its measurement speaks for it.

use super::gp::{Gp, Sample};
use crate::protocol::Observation;
use skillhub::{EliteConfig, PriorRead, Space};
use std::collections::BTreeMap;

/// Standard deviation (%) given to a remembered value, at least ...
const NOISE_SD_PCT: f64 = 1.0;
/// ... and at least this share of the remembered value itself.
const NOISE_SHARE: f64 = 0.5;
/// Configurations closer than this (normalised unit-cube distance) count as the same.
pub const SAME_POINT: f64 = 0.02;

/// Prior samples from a skill, in unit coordinates.
#[derive(Debug, Clone, Default)]
pub struct WarmPrior {
    /// The objective.
    pub score: Vec<Sample>,
    /// Each guardrail metric's lift against the baseline, by metric.
    pub lifts: BTreeMap<String, Vec<Sample>>,
    /// The elites not yet re-measured: the region the skill narrowed the search to.
    pub centres: Vec<Vec<f64>>,
}

impl WarmPrior {
    /// The prior of `elites` and `reads` for a run that has measured `observations`,
    /// with lifts of the `guarded` metrics.
    pub fn of(
        space: &Space,
        guarded: &[&str],
        elites: &[EliteConfig],
        reads: &[PriorRead],
        observations: &[Observation],
    ) -> WarmPrior {
        let at = |c: &skillhub::Configuration| space.check(c).is_ok().then(|| space.to_unit(c));
        let measured: Vec<Vec<f64>> = observations.iter().map(|o| space.to_unit(&o.config)).collect();
        let unmeasured = |u: &Vec<f64>| measured.iter().all(|m| unit_distance(m, u) > SAME_POINT);
        let mut prior = WarmPrior::default();
        let elites: Vec<(Vec<f64>, f64)> = elites
            .iter()
            .filter(|e| e.score_pct.is_finite())
            .filter_map(|e| Some((at(&e.config)?, e.score_pct)))
            .collect();
        let reads: Vec<(Vec<f64>, &PriorRead)> = if observations.is_empty() {
            Vec::new()
        } else {
            reads.iter().filter_map(|r| Some((at(&r.config)?, r))).collect()
        };
        // The objective: the elites, and the reads not at an elite.
        let mut scores: Vec<(Vec<f64>, f64)> = elites.clone();
        for (u, r) in &reads {
            if r.score_pct.is_finite() && elites.iter().all(|(e, _)| unit_distance(e, u) > SAME_POINT) {
                scores.push((u.clone(), r.score_pct));
            }
        }
        let now = |o: &Observation| Some(o.score.estimate);
        prior.score = hints(space, &scores, observations, now, &unmeasured);
        prior.centres = elites.into_iter().map(|(u, _)| u).filter(&unmeasured).collect();
        for metric in guarded {
            let values: Vec<(Vec<f64>, f64)> = reads
                .iter()
                .filter_map(|(u, r)| r.lifts_pct.get(*metric).filter(|v| v.is_finite()).map(|v| (u.clone(), *v)))
                .collect();
            let now = |o: &Observation| o.lifts_pct.get(*metric).map(|l| l.0);
            let samples = hints(space, &values, observations, now, &unmeasured);
            if !samples.is_empty() {
                prior.lifts.insert(metric.to_string(), samples);
            }
        }
        prior
    }

    /// The prior samples of `metric`'s lift (none when no read measured it).
    pub fn lifts_of(&self, metric: &str) -> &[Sample] {
        self.lifts.get(metric).map_or(&[], Vec::as_slice)
    }
}

/// The remembered `values` not yet re-measured, carried over to this run's model, each
/// with its noise: the floor, a share of the value, and how wrong the carried-over
/// memory was where this run looked.
fn hints(
    space: &Space,
    values: &[(Vec<f64>, f64)],
    observations: &[Observation],
    now: impl Fn(&Observation) -> Option<f64>,
    unmeasured: &dyn Fn(&Vec<f64>) -> bool,
) -> Vec<Sample> {
    let sd = |y: f64| NOISE_SD_PCT.max(NOISE_SHARE * y.abs());
    let mut memory: Vec<Sample> =
        values.iter().map(|(u, y)| Sample { x: u.clone(), y: *y, noise_var: sd(*y).powi(2) }).collect();
    if let Some(c) = Calibration::fit(space, &memory, observations, &now) {
        memory = memory.into_iter().map(|s| c.apply(s, sd)).collect();
    }
    let wrong = miss(space, &memory, observations, now);
    memory
        .into_iter()
        .filter(|s| unmeasured(&s.x))
        .map(|s| Sample { noise_var: s.noise_var.max(wrong * wrong), ..s })
        .collect()
}

/// Root mean square of this run's reads minus what `memory` alone predicts at them (0
/// when there is nothing to compare).
fn miss(
    space: &Space,
    memory: &[Sample],
    observations: &[Observation],
    now: impl Fn(&Observation) -> Option<f64>,
) -> f64 {
    let pairs: Vec<(Vec<f64>, f64)> = observations
        .iter()
        .filter_map(|o| Some((space.to_unit(&o.config), now(o).filter(|v| v.is_finite())?)))
        .collect();
    if memory.is_empty() || pairs.is_empty() {
        return 0.0;
    }
    let Some(gp) = Gp::fit_ml(memory, NOISE_SD_PCT, &vec![1.0; space.dim()]) else { return 0.0 };
    let sq: f64 = pairs.iter().map(|(u, y)| (y - gp.predict(u).mean).powi(2)).sum();
    (sq / pairs.len() as f64).sqrt()
}

/// How a remembered value maps onto this run's: `now = scale * remembered + shift`.
///
/// A model change rarely keeps a configuration's lifts, but it often keeps their order:
/// a sharper head spreads every lift it drives (a common scale), a recalibrated one moves
/// them all (a common shift). Fitted where this run looked, it carries the whole
/// memory over to the new model, instead of letting every remembered value that moved
/// look like a wrong one; what it cannot explain still shows in [`miss`].
#[derive(Debug, Clone, Copy, PartialEq)]
struct Calibration {
    scale: f64,
    shift: f64,
}

/// Prior standard deviation of the scale around 1 and of the shift (%) around 0: a read
/// or two moves the calibration only as far as it is sure of.
const SCALE_PRIOR_SD: f64 = 0.5;
const SHIFT_PRIOR_SD: f64 = 1.0;
/// Variance (%^2) by which a read and the memory's prediction may disagree besides the
/// memory's own uncertainty: no read pins the calibration alone.
const CALIBRATION_SLACK_VAR: f64 = 0.05;
/// The scale stays between 0 (the memory's shape says nothing) and this.
const MAX_SCALE: f64 = 2.0;

impl Calibration {
    /// Bayesian least squares of this run's reads on the memory's predictions there.
    fn fit(
        space: &Space,
        memory: &[Sample],
        observations: &[Observation],
        now: &impl Fn(&Observation) -> Option<f64>,
    ) -> Option<Calibration> {
        if memory.is_empty() || observations.is_empty() {
            return None;
        }
        let gp = Gp::fit_ml(memory, NOISE_SD_PCT, &vec![1.0; space.dim()])?;
        // The normal equations, starting from the prior's precision and mean.
        let (mut p11, mut p12, mut p22) = (SCALE_PRIOR_SD.powi(-2), 0.0, SHIFT_PRIOR_SD.powi(-2));
        let (mut r1, mut r2) = (SCALE_PRIOR_SD.powi(-2), 0.0);
        for o in observations {
            let Some(y) = now(o).filter(|v| v.is_finite()) else { continue };
            let p = gp.predict(&space.to_unit(&o.config));
            let (w, m) = (1.0 / (p.sd * p.sd + CALIBRATION_SLACK_VAR), p.mean);
            (p11, p12, p22) = (p11 + w * m * m, p12 + w * m, p22 + w);
            (r1, r2) = (r1 + w * m * y, r2 + w * y);
        }
        let det = p11 * p22 - p12 * p12;
        (det.abs() > 1e-12).then(|| Calibration {
            scale: ((p22 * r1 - p12 * r2) / det).clamp(0.0, MAX_SCALE),
            shift: (p11 * r2 - p12 * r1) / det,
        })
    }

    /// `s` carried over to this run, its noise recomputed for the new value by `sd`.
    fn apply(self, s: Sample, sd: impl Fn(f64) -> f64) -> Sample {
        let y = self.scale * s.y + self.shift;
        Sample { y, noise_var: sd(y).powi(2), ..s }
    }
}

/// Root-mean-square distance per dimension between two unit-cube points.
pub fn unit_distance(a: &[f64], b: &[f64]) -> f64 {
    let d2: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
    (d2 / a.len().max(1) as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::surrogate::Surrogate;
    use skillhub::{Configuration, Guardrail, Limit, TaskSpec, Value};

    fn task() -> TaskSpec {
        crate::fixtures::task(&["a"], vec![Guardrail { metric: "g".into(), limit: Limit::MaxDropPct(1.0) }])
    }

    fn at(a: f64) -> Configuration {
        Configuration::from([("a".to_string(), Value::Num(a))])
    }

    fn read(a: f64, score: f64, g: f64) -> PriorRead {
        PriorRead {
            experiment_id: format!("old-{a}"),
            config: at(a),
            score_pct: score,
            lifts_pct: BTreeMap::from([("g".to_string(), g)]),
        }
    }

    fn measured(a: f64) -> Observation {
        let mut o = crate::fixtures::grid(|_, _| 0.0, 0.1).remove(0);
        o.config = at(a);
        o
    }

    #[test]
    fn before_this_run_reads_anything_only_the_elites_speak() {
        let space = task().space();
        let elites = [EliteConfig { experiment_id: "old-0.9".into(), score_pct: 3.0, config: at(0.9) }];
        let reads = [read(0.9, 3.0, -0.5), read(0.2, 1.0, -8.0)];
        let prior = WarmPrior::of(&space, &["g"], &elites, &reads, &[]);
        let xs: Vec<(f64, f64)> = prior.score.iter().map(|s| (s.x[0], s.noise_var)).collect();
        assert_eq!(xs, [(0.9, 1.5 * 1.5)], "the elite, its noise half its value");
        assert_eq!(prior.centres, [vec![0.9]]);
        assert!(prior.lifts.is_empty(), "{:?}", prior.lifts);
    }

    #[test]
    fn once_this_run_has_read_the_reads_join_and_a_measured_point_speaks_for_itself() {
        let space = task().space();
        let elites = [EliteConfig { experiment_id: "old-0.9".into(), score_pct: 3.0, config: at(0.9) }];
        let reads = [read(0.9, 3.0, -0.5), read(0.2, 1.0, -8.0), read(0.6, 0.0, 0.0)];
        // This run read a = 0.6 as the memory has it (score 0, g 0).
        let mut o = measured(0.6);
        o.lifts_pct.insert("g".into(), (0.0, 0.2));
        let prior = WarmPrior::of(&space, &["g", "unguarded"], &elites, &reads, &[o]);
        // The elite once (its read adds no second objective sample); the read at 0.6 was
        // measured in this run and is left out.
        let xs: Vec<f64> = prior.score.iter().map(|s| s.x[0]).collect();
        assert_eq!(xs, [0.9, 0.2]);
        let g: Vec<(f64, f64)> = prior.lifts_of("g").iter().map(|s| (s.x[0], s.y)).collect();
        assert_eq!(g.iter().map(|s| s.0).collect::<Vec<_>>(), [0.9, 0.2]);
        // The memory was about right where this run looked: carried over roughly as it was.
        assert!((g[0].1 + 0.5).abs() < 0.5 && (g[1].1 + 8.0).abs() < 1.0, "{g:?}");
        assert!(prior.lifts_of("unguarded").is_empty());
        // The memory was right where this run looked: the noise is its floor and share.
        assert!(prior.lifts_of("g")[0].noise_var < 1.0 + 0.05, "{:?}", prior.lifts_of("g"));
        assert!((prior.lifts_of("g")[1].noise_var - g[1].1.powi(2) / 4.0).abs() < 1e-9, "{:?}", prior.lifts_of("g"));
    }

    #[test]
    fn the_guardrail_surrogate_starts_from_where_an_earlier_run_saw_it_break() {
        let t = task();
        let space = t.space();
        // Earlier run: g falls steeply above a = 0.7. This run: one read at the baseline side.
        let reads: Vec<PriorRead> =
            (0..=20).map(|k| f64::from(k) / 20.0).map(|a| read(a, a, if a > 0.7 { -9.0 } else { 0.0 })).collect();
        let mut o = measured(0.3);
        o.lifts_pct.insert("g".into(), (0.0, 0.2));
        let obs = [o];
        let means = BTreeMap::new();
        let none = BTreeMap::new();
        let p_hold = |prior: &WarmPrior| {
            let model = Surrogate::fit_with_prior(&t, &obs, &means, &none, prior).expect("fit");
            model.predict(&space.to_unit(&at(0.95))).p_safe
        };
        let cold = p_hold(&WarmPrior::default());
        let warm = p_hold(&WarmPrior::of(&space, &["g"], &[], &reads, &obs));
        assert!(cold > 0.5, "two reads at 0 say nothing about a = 0.95: {cold}");
        assert!(warm < 0.1, "the earlier run's breaches say it breaks there: {warm}");
    }

    /// This run's reads of `g` at `at`, each (a, lift), with the objective `2a`.
    fn reads_of_g(at: &[(f64, f64)]) -> Vec<Observation> {
        at.iter()
            .map(|&(a, g)| {
                let mut o = measured(a);
                o.score.estimate = 2.0 * a;
                o.lifts_pct.insert("g".into(), (g, 0.1));
                o
            })
            .collect()
    }

    #[test]
    fn a_model_change_that_rescales_and_shifts_the_lifts_is_carried_over() {
        let space = task().space();
        // The earlier model: g = -6a. This one spreads g half as far and moves it up 1:
        // g = -3a + 1, read at four points between the remembered ones.
        let reads: Vec<PriorRead> = (0..=10).map(|k| f64::from(k) / 10.0).map(|a| read(a, 2.0 * a, -6.0 * a)).collect();
        let obs = reads_of_g(&[0.15, 0.4, 0.65, 0.9].map(|a| (a, -3.0 * a + 1.0)));
        let prior = WarmPrior::of(&space, &["g"], &[], &reads, &obs);
        let g = prior.lifts_of("g");
        assert_eq!(g.len(), 9, "every read but the two this run re-measured (a = 0.4, 0.9)");
        for s in g {
            let now = -3.0 * s.x[0] + 1.0;
            assert!((s.y - now).abs() < 0.5, "a = {}: carried over {} against {now}", s.x[0], s.y);
            // Little left unexplained: the noise is about the floor and share of the new value.
            assert!(s.noise_var < (1.0f64).max(s.y.abs() / 2.0).powi(2) + 0.3, "{s:?}");
        }
    }

    #[test]
    fn memories_are_trusted_no_closer_than_they_proved_where_this_run_looked() {
        let space = task().space();
        let reads: Vec<PriorRead> = (0..=10).map(|k| f64::from(k) / 10.0).map(|a| read(a, 2.0 * a, -a)).collect();
        // This run read between the reads: g 4 points off what is remembered, up and down
        // in turn, which no common scale and shift explains.
        let obs = reads_of_g(&[(0.35, -0.35 - 4.0), (0.55, -0.55 + 4.0), (0.75, -0.75 - 4.0)]);
        let prior = WarmPrior::of(&space, &["g"], &[], &reads, &obs);
        let g = prior.lifts_of("g");
        assert_eq!(g.len(), 11);
        assert!(g.iter().all(|s| s.noise_var > 3.0 * 3.0 && s.noise_var < 4.5 * 4.5), "{g:?}");
        // The objective was remembered right: its noise is the floor and share.
        assert!(
            prior.score.iter().all(|s| s.noise_var <= (1.0f64).max(s.y.abs() / 2.0).powi(2) + 0.1),
            "{:?}",
            prior.score
        );
    }

    #[test]
    fn a_memory_may_warn_but_not_vouch_against_this_run_s_reads() {
        let t = task();
        let space = t.space();
        // The earlier run saw g hold everywhere; this run agrees at a = 0.1 but read a
        // breach at a = 0.8, next to a = 0.9 (the memory alone would say 0.52 there).
        let reads: Vec<PriorRead> = (0..=10).map(|k| f64::from(k) / 10.0).map(|a| read(a, a, -0.2)).collect();
        let obs: Vec<Observation> = [(0.1, -0.2), (0.8, -1.5)]
            .iter()
            .map(|&(a, g)| {
                let mut o = measured(a);
                o.lifts_pct.insert("g".into(), (g, 0.2));
                o
            })
            .collect();
        let (means, none) = (BTreeMap::new(), BTreeMap::new());
        let p_hold = |prior: &WarmPrior| {
            let model = Surrogate::fit_with_prior(&t, &obs, &means, &none, prior).expect("fit");
            model.predict(&space.to_unit(&at(0.9))).p_safe
        };
        let own = p_hold(&WarmPrior::default());
        let warm = p_hold(&WarmPrior::of(&space, &["g"], &[], &reads, &obs));
        assert!(own < 0.5, "{own}");
        assert!(warm <= own + 1e-12, "the memory vouched for a = 0.9: {warm} > {own}");
    }
}
