//! The provable ceiling of a task: how much of the baseline-to-optimum gap a
//! configuration can hold and still be shipped by the ship rule (`agents::readout`) from
//! one experiment of the task's size.
//!
//! A configuration is *provable* when the expected read of one experiment (the true
//! means, with the standard errors a read has) passes the ship rule against the
//! production baseline as control, in a round of a given number of treatments sharing
//! the round's traffic (`agents::strategy::width`: `arms_per_round` treatments at
//! `units_per_arm` each, or fewer at more units each):
//! - the objective's expected lift reaches `z * se`, with `z` the two-sided normal
//!   quantile of Holm's first step (`family_alpha`), `se` the read's objective standard
//!   error (CUPED, `sum w_i se_i`, as the ship rule computes it);
//! - every guardrail's expected value lies at least its proof margin inside the limit:
//!   the half-width of the one-sided interval the guardrail is judged on at the same
//!   level (`agents::stats::proof_margin`).
//!
//! The standard errors and margins come from one simulated experiment of the task's
//! size: the production baseline against the task's noise-free optimum (where the
//! ceiling lies), so they are those of a read in that neighbourhood (measured at the
//! baseline, the optimum or the ceiling itself, they differ by at most 6% for `se` and
//! 3% for the margins on the three scenarios). The ceiling is the best
//! provable configuration, found by the oracle's optimum search on the task with every
//! guardrail moved inward by its margin, approached in steps from the optimum (the
//! objective's bar is far below the optimum on every scenario, and is checked
//! afterwards). The search is a local one: the ceiling is the best provable
//! configuration it finds, a lower bound on the true one.

use super::scenario::Scenario;
use super::SimError;
use agents::platform::{ArmRead, ExperimentRead, ExperimentStatus, Oracle};
use agents::protocol::RoundRef;
use agents::readout::{family_alpha, readout, ArmPlan, ReadoutInput, Role};
use agents::stats;
use agents::strategy::width::RoundShape;
use skillhub::task::lifts_pct;
use skillhub::{Configuration, Guardrail, Limit, TaskSpec};
use std::collections::BTreeMap;

/// Streams of the two simulated arms that measure the read's noise.
const CONTROL_SEED: u64 = 0x00ce_111e;
const TREATMENT_SEED: u64 = 0x00ce_111f;
/// Searches from the noise-free optimum to the full proof margins.
const TIGHTENING_STEPS: u32 = 4;
/// Rounding slack when re-checking a configuration the search put on a boundary.
const TOLERANCE: f64 = 1e-9;

/// What one experiment of a task's size can show.
#[derive(Debug, Clone, PartialEq)]
pub struct ProofBar {
    pub units_per_arm: u64,
    pub treatments: usize,
    /// The objective's critical value (Holm's first step, two-sided normal).
    pub z_objective: f64,
    /// The read's standard error of the objective, in score points.
    pub objective_se: f64,
    /// Per guardrail of the task, in its order: the proof margin in the limit's units
    /// (lift points for relative limits, metric units for absolute ones).
    pub guardrail_margins: Vec<f64>,
}

impl ProofBar {
    /// The smallest expected objective gain over the control that the read shows
    /// significant, in score points.
    pub fn min_gain(&self) -> f64 {
        self.z_objective * self.objective_se
    }

    /// The task with every guardrail moved inward by its proof margin: its feasible
    /// configurations are those whose guardrails an expected read shows to hold.
    pub fn tightened(&self, task: &TaskSpec) -> TaskSpec {
        self.tightened_by(task, 1.0)
    }

    /// The task with every guardrail moved inward by `fraction` of its proof margin.
    fn tightened_by(&self, task: &TaskSpec, fraction: f64) -> TaskSpec {
        let mut t = task.clone();
        for (g, m) in t.guardrails.iter_mut().zip(self.guardrail_margins.iter().map(|m| fraction * m)) {
            g.limit = match g.limit {
                Limit::MaxDropPct(p) => Limit::MaxDropPct(p - m),
                Limit::MaxRisePct(p) => Limit::MaxRisePct(p - m),
                Limit::AtMost(v) => Limit::AtMost(v - m),
                Limit::AtLeast(v) => Limit::AtLeast(v + m),
            };
        }
        t
    }

    /// Whether the expected read of `metrics` ships against a control reading
    /// `control`, with guardrails against the production baseline `base` (the ship
    /// rule's two references: they differ once an incumbent is the control).
    pub fn provable(
        &self,
        task: &TaskSpec,
        metrics: &BTreeMap<String, f64>,
        control: &BTreeMap<String, f64>,
        base: &BTreeMap<String, f64>,
    ) -> bool {
        let gain = task.score(&lifts_pct(metrics, control));
        let significant = gain > 0.0 && gain >= self.min_gain() - TOLERANCE;
        significant
            && task.guardrails.iter().zip(&self.guardrail_margins).all(|(g, m)| shown_to_hold(g, *m, metrics, base))
    }
}

/// The guardrail's interval, centred on the expected read, lies on the safe side of the
/// limit (as `agents::stats::check_guardrail` decides "holds").
fn shown_to_hold(g: &Guardrail, margin: f64, metrics: &BTreeMap<String, f64>, base: &BTreeMap<String, f64>) -> bool {
    let (Some(&v), Some(&b)) = (metrics.get(&g.metric), base.get(&g.metric)) else { return false };
    let lift = 100.0 * (v - b) / b.abs();
    let (read, limit) = match g.limit {
        Limit::MaxDropPct(p) => (lift, -p),
        Limit::MaxRisePct(p) => (lift, p),
        Limit::AtMost(t) | Limit::AtLeast(t) => (v, t),
    };
    if g.higher_is_safe() {
        read - margin >= limit - TOLERANCE
    } else {
        read + margin <= limit + TOLERANCE
    }
}

/// The best provable configuration of a task.
#[derive(Debug, Clone)]
pub struct Ceiling {
    pub config: Configuration,
    /// Its true score; 0 when no configuration is provable (the baseline stays).
    pub score: f64,
    /// The noise-free optimum's score (the gap).
    pub optimum_score: f64,
    pub bar: ProofBar,
}

impl Ceiling {
    /// The ceiling as a share of the baseline-to-optimum gap.
    pub fn share(&self) -> f64 {
        if self.optimum_score > 1e-9 {
            self.score / self.optimum_score
        } else {
            1.0
        }
    }

    /// The smallest improvement over an incumbent that can ship, as a share of the gap:
    /// an incumbent closer than this to the ceiling can no longer be replaced in
    /// expectation.
    pub fn min_step_share(&self) -> f64 {
        if self.optimum_score > 1e-9 {
            self.bar.min_gain() / self.optimum_score
        } else {
            0.0
        }
    }
}

impl Scenario {
    /// Measures the read's noise with one simulated experiment of `task`'s round
    /// traffic split over `treatments` treatments and the control: `near` against the
    /// production baseline, read as the ship rule reads it.
    pub fn proof_bar(
        &self,
        task: &TaskSpec,
        confidence: f64,
        near: &Configuration,
        treatments: usize,
    ) -> Result<ProofBar, SimError> {
        let treatments = treatments.clamp(1, task.budget.arms_per_round.max(1) as usize);
        let units = RoundShape::of(&task.budget, 1).units_per_arm(treatments);
        let control = self.simulate(&task.baseline(), units, CONTROL_SEED)?.metrics();
        let treatment = self.simulate(near, units, TREATMENT_SEED)?.metrics();
        let alpha = family_alpha(confidence, treatments);
        let z_objective = stats::normal_quantile(1.0 - alpha / 2.0).map_err(|e| SimError::Read(e.to_string()))?;
        let guardrail_margins = task
            .guardrails
            .iter()
            .map(|g| match (treatment.get(&g.metric), control.get(&g.metric)) {
                (Some(t), Some(c)) => {
                    stats::proof_margin(g, t, c, alpha).map_err(|e| SimError::Read(format!("{}: {e}", g.metric)))
                }
                _ => Err(SimError::Read(format!("the simulator does not report guardrail metric `{}`", g.metric))),
            })
            .collect::<Result<Vec<f64>, SimError>>()?;
        let objective_se = objective_se(task, confidence, units, control, treatment, near)?;
        Ok(ProofBar { units_per_arm: units, treatments, z_objective, objective_se, guardrail_margins })
    }

    /// The task's provable ceiling at the ship rule's `confidence`, for rounds of
    /// `treatments` treatments.
    pub fn provable_ceiling(&self, task: &TaskSpec, confidence: f64, treatments: usize) -> Result<Ceiling, SimError> {
        let oracle = self.oracle();
        let optimum = oracle.optimum(task);
        let bar = self.proof_bar(task, confidence, &optimum.config, treatments)?;
        // Where the optimum sits on a guardrail, the provable region is a sliver along
        // it that a space-filling design can miss: the margins are approached in steps,
        // each search also starting from every earlier step's answer.
        let mut hints = vec![optimum.config.clone()];
        let mut best = optimum.clone();
        for step in 1..=TIGHTENING_STEPS {
            let fraction = f64::from(step) / f64::from(TIGHTENING_STEPS);
            best = oracle.optimum_from(&bar.tightened_by(task, fraction), &hints);
            hints.push(best.config.clone());
        }
        let base = oracle.expected(&task.baseline());
        let metrics = oracle.expected(&best.config);
        let (config, score) = if bar.provable(task, &metrics, &base, &base) {
            (best.config, task.score(&lifts_pct(&metrics, &base)))
        } else {
            tracing::info!(task = %task.id, "no configuration is provable at this budget: the baseline stays");
            (task.baseline(), 0.0)
        };
        Ok(Ceiling { config, score, optimum_score: optimum.score, bar })
    }
}

/// The objective's standard error exactly as the ship rule computes it, from the
/// readout of the two simulated arms.
fn objective_se(
    task: &TaskSpec,
    confidence: f64,
    units: u64,
    control: BTreeMap<String, agents::platform::MetricData>,
    treatment: BTreeMap<String, agents::platform::MetricData>,
    near: &Configuration,
) -> Result<f64, SimError> {
    let read = ExperimentRead {
        experiment_id: "provable-ceiling".into(),
        status: ExperimentStatus::Completed,
        progress: 1.0,
        arms: vec![
            ArmRead { arm_id: "control".into(), units, metrics: control },
            ArmRead { arm_id: "t1".into(), units, metrics: treatment },
        ],
        error: None,
    };
    let arm = |arm_id: &str, role: Role, config: Configuration| ArmPlan {
        arm_id: arm_id.into(),
        role,
        candidate_id: None,
        config,
        traffic: 0.5,
    };
    let plan = [arm("control", Role::Control, task.baseline()), arm("t1", Role::Treatment, near.clone())];
    let result = readout(&ReadoutInput {
        task,
        round: RoundRef { task_id: task.id.clone(), round: 0 },
        experiment_id: read.experiment_id.clone(),
        key: "provable-ceiling".into(),
        units_per_arm: units,
        read: &read,
        plan: &plan,
        confidence,
    })
    .map_err(SimError::Read)?;
    result
        .arms
        .iter()
        .find(|a| a.arm_id == "t1")
        .map(|a| a.score_se_vs_control)
        .filter(|se| se.is_finite() && *se > 0.0)
        .ok_or_else(|| SimError::Read("the read has no objective standard error".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(margins: Vec<f64>) -> ProofBar {
        ProofBar {
            units_per_arm: 80_000,
            treatments: 4,
            z_objective: 2.5,
            objective_se: 0.4,
            guardrail_margins: margins,
        }
    }

    fn metrics(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn provable_needs_the_objective_bar_and_every_guardrail_margin() {
        // rerank-diversity: sessions + 0.5 categories, dwell may drop at most 1%.
        let task = Scenario::load("rerank-diversity", "v1").expect("scenario").task();
        let base = metrics(&[("sessions", 100.0), ("categories", 10.0), ("dwell_s", 50.0)]);
        let b = bar(vec![0.6]);
        let at = |sessions: f64, dwell_drop_pct: f64| {
            metrics(&[("sessions", sessions), ("categories", 10.0), ("dwell_s", 50.0 * (1.0 - dwell_drop_pct / 100.0))])
        };
        // The objective bar is 2.5 x 0.4 = 1 score point (+1% sessions).
        assert!(b.provable(&task, &at(101.1, 0.0), &base, &base));
        assert!(!b.provable(&task, &at(100.9, 0.0), &base, &base), "below the significance bar");
        // Dwell must read 0.6 points inside its 1% limit: a drop of at most 0.4%.
        assert!(b.provable(&task, &at(103.0, 0.39), &base, &base));
        assert!(!b.provable(&task, &at(103.0, 0.41), &base, &base), "within the margin of the limit");
        // The tightened task draws the same line in truth.
        let tight = b.tightened(&task);
        assert!(tight.feasible(&at(103.0, 0.39), &base) && !tight.feasible(&at(103.0, 0.41), &base));
        // Against an incumbent control the gain is what counts, guardrails stay on the base.
        assert!(!b.provable(&task, &at(103.0, 0.0), &at(102.5, 0.0), &base));
    }

    #[test]
    fn an_optimum_on_a_guardrail_is_out_of_reach_of_one_experiment() {
        // The re-rank optimum sits on the dwell guardrail. The full task: without the
        // category cap nothing is provable at all. Its searches are cached like optima
        // (about a minute on a cold cache, seconds after).
        let s = Scenario::load("rerank-diversity", "v1").expect("scenario");
        let task = s.task();
        let ceiling = s.provable_ceiling(&task, 0.95, 4).expect("ceiling");
        let oracle = s.oracle();
        let base = oracle.expected(&task.baseline());
        let b = &ceiling.bar;
        // At 320 000 units a dwell read is a few tenths of a point wide; the objective's
        // read about a tenth of a score point.
        assert_eq!((b.units_per_arm, b.treatments), (320_000, 4));
        assert!((b.z_objective - 2.4977).abs() < 1e-3, "{}", b.z_objective);
        assert!(b.guardrail_margins.len() == 1 && (0.1..2.0).contains(&b.guardrail_margins[0]), "{b:?}");
        assert!((0.05..1.0).contains(&b.objective_se), "{b:?}");
        // The ceiling is provable, feasible in truth, and strictly below the optimum,
        // which is not provable itself.
        let m = oracle.expected(&ceiling.config);
        assert!(b.provable(&task, &m, &base, &base), "{ceiling:?}");
        assert!(task.feasible(&m, &base));
        assert!((task.score(&lifts_pct(&m, &base)) - ceiling.score).abs() < 1e-9);
        assert!(ceiling.share() > 0.3 && ceiling.share() < 0.99, "share {}", ceiling.share());
        let optimum = oracle.optimum(&task);
        assert!(!b.provable(&task, &optimum.metrics, &base, &base), "the optimum reads inside the dwell margin");
        assert!(ceiling.min_step_share() > 0.0 && ceiling.min_step_share() < 1.0);
        // One treatment with the round's traffic: 2.5x the units, Holm's alpha not
        // split. The read is tighter by about sqrt(2.5), the bar about halved, and the
        // ceiling no lower.
        let narrow = s.provable_ceiling(&task, 0.95, 1).expect("narrow ceiling");
        assert_eq!((narrow.bar.units_per_arm, narrow.bar.treatments), (800_000, 1));
        assert!((narrow.bar.z_objective - 1.96).abs() < 1e-3, "{}", narrow.bar.z_objective);
        let se_ratio = narrow.bar.objective_se / b.objective_se;
        assert!((se_ratio - 0.4f64.sqrt()).abs() < 0.05, "se ratio {se_ratio}");
        assert!(narrow.min_step_share() < 0.55 * ceiling.min_step_share(), "{narrow:?}");
        assert!(narrow.share() >= ceiling.share() - 1e-9, "{} < {}", narrow.share(), ceiling.share());
    }

    /// Prints every scenario's ceiling under both model versions:
    /// `cargo test -p rectune --lib report_ceilings -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn report_ceilings() {
        for name in Scenario::names() {
            for version in Scenario::model_versions() {
                let s = Scenario::load(name, version).expect("scenario");
                for treatments in [4, 1] {
                    let c = s.provable_ceiling(&s.task(), 0.95, treatments).expect("ceiling");
                    println!(
                    "{name}/{version}, {treatments} treatments: ceiling {:.1}% of the gap ({:+.3} of {:+.3}), smallest step {:.1}%, {:?}",
                    100.0 * c.share(),
                    c.score,
                    c.optimum_score,
                    100.0 * c.min_step_share(),
                    c.bar
                );
                }
            }
        }
    }
}
