//! The messages the agents exchange. Every message carries the task id and round that
//! tie it to the run journal, and every candidate carries its own id, so a verdict, an
//! experiment arm, an elite and a skill rule can all be traced to the proposal they
//! came from.

use serde::{Deserialize, Serialize};
use skillhub::Configuration;
use std::collections::BTreeMap;

/// Identifies one round of one task.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RoundRef {
    pub task_id: String,
    pub round: u32,
}

impl std::fmt::Display for RoundRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/round-{}", self.task_id, self.round)
    }
}

/// Where a candidate came from, for provenance and for the ablations of the bench.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// The built-in optimiser exploiting what is known.
    Optimizer,
    /// The built-in optimiser exploring an uncertain region.
    Exploration,
    /// Uniform random search (the benchmark baseline).
    Random,
    /// A language model.
    Llm,
}

/// One configuration the Actor wants tested, with why it should win.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// Unique within the task, e.g. `r3-c2`.
    pub id: String,
    pub config: Configuration,
    pub hypothesis: String,
    pub origin: Origin,
}

/// Actor → Critic: the candidates of one round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    pub round: RoundRef,
    pub candidates: Vec<Candidate>,
    /// A narrow round: test at most this many treatments, each with a larger share of
    /// the round's traffic (`strategy::width`); `None` is the budget's width.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub treatments: Option<u32>,
}

impl Proposal {
    /// How many treatments the Critic may accept for a budget of `arms_per_round`.
    pub fn max_treatments(&self, arms_per_round: u32) -> usize {
        self.treatments.map_or(arms_per_round, |t| t.clamp(1, arms_per_round.max(1))) as usize
    }
}

/// The Critic's decision on one candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub candidate: Candidate,
    pub accepted: bool,
    /// Why: the rule that rejected it, or the justification for keeping it.
    pub reason: String,
}

/// Critic → Online: every candidate with its decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub round: RoundRef,
    pub decisions: Vec<Decision>,
}

impl Verdict {
    pub fn accepted(&self) -> impl Iterator<Item = &Candidate> {
        self.decisions.iter().filter(|d| d.accepted).map(|d| &d.candidate)
    }
}

/// An estimate with a two-sided confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
}

impl Interval {
    pub fn excludes_zero(&self) -> bool {
        self.low > 0.0 || self.high < 0.0
    }
}

/// One metric of one treatment arm, read against a reference arm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricEstimate {
    pub metric: String,
    pub mean: f64,
    pub reference_mean: f64,
    /// Relative effect in percent with its confidence interval (delta method).
    pub lift_pct: Interval,
    pub std_err_pct: f64,
    pub p_value: f64,
    /// How much CUPED narrowed the interval, in % of the unadjusted width; `None` when
    /// the platform sent no pre-period data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuped_narrowing_pct: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardrailStatus {
    /// The interval lies on the safe side of the threshold (non-inferior).
    Holds,
    /// The interval lies on the unsafe side of the threshold.
    Breached,
    /// The interval straddles the threshold.
    Inconclusive,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardrailVerdict {
    pub metric: String,
    pub rule: String,
    pub status: GuardrailStatus,
    pub reason: String,
}

/// One arm of an experiment, read against the control and against the baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmResult {
    pub arm_id: String,
    /// The candidate this arm tested; `None` for the control and baseline arms.
    pub candidate_id: Option<String>,
    pub config: Configuration,
    pub units: u64,
    /// Against the round's control (the incumbent).
    pub vs_control: Vec<MetricEstimate>,
    /// Against the production baseline (the baseline arm, or the control when the
    /// incumbent is the baseline).
    pub vs_baseline: Vec<MetricEstimate>,
    /// The task's scalar objective (weighted signed lifts, %) against the control and
    /// the baseline, with conservative intervals valid for any correlation of metrics.
    pub score_vs_control: Interval,
    pub score_vs_baseline: Interval,
    /// Standard errors of the two scores (conservative, see above).
    pub score_se_vs_control: f64,
    pub score_se_vs_baseline: f64,
    /// Two-sided p-value of the score against the control.
    pub score_p_vs_control: f64,
    pub guardrails: Vec<GuardrailVerdict>,
    /// Significantly better than the control and non-inferior on every guardrail.
    pub shippable: bool,
}

/// Online → Insight: the read of one round's experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentResult {
    pub round: RoundRef,
    pub experiment_id: String,
    pub idempotency_key: String,
    pub control: Configuration,
    pub units_per_arm: u64,
    /// p-value of the sample-ratio-mismatch check; below 0.001 nothing is concluded.
    pub srm_p_value: f64,
    pub arms: Vec<ArmResult>,
    pub confidence: f64,
    /// Per-unit coefficient of variation of each metric in the control arm, which sizes
    /// the next experiment.
    pub cv: BTreeMap<String, f64>,
    /// Why treatments could not be shipped regardless of their effects (SRM), if so.
    pub blocked: Option<String>,
    /// Mean narrowing of each metric's intervals by CUPED across the arms, in %.
    #[serde(default)]
    pub cuped_narrowing_pct: BTreeMap<String, f64>,
    /// Why the experiment stopped before its planned units (interim look), if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_stop: Option<String>,
    /// The readout in words, one note per treatment arm (`agents.online.reasoning =
    /// "llm"` only): the model's when valid, else the built-in wording.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<Note>,
}

/// A configuration on the Pareto front of what has been measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Elite {
    pub candidate_id: String,
    pub config: Configuration,
    pub score_vs_baseline: Interval,
    /// Lift against the baseline per objective metric, %.
    pub lifts_pct: BTreeMap<String, f64>,
    pub experiments: Vec<String>,
}

/// A measured regularity: moving `parameter` up moves `metric` by `effect_pct` per unit
/// of the parameter's range, with the experiments that show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pattern {
    pub parameter: String,
    pub metric: String,
    pub effect_pct: f64,
    pub std_err_pct: f64,
    pub support: usize,
    pub experiments: Vec<String>,
}

/// The incumbent as Insight knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incumbent {
    pub candidate_id: Option<String>,
    pub config: Configuration,
    /// Measured score against the baseline, when it has been measured.
    pub score_vs_baseline: Option<Interval>,
    pub lifts_pct: BTreeMap<String, Interval>,
    pub since_round: u32,
    pub experiment_id: Option<String>,
}

/// One measured configuration as Insight remembers it: its effects against the
/// production baseline, pooled over every experiment that measured it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub candidate_id: String,
    pub round: u32,
    pub config: Configuration,
    pub score: Interval,
    pub score_se: f64,
    /// Lift against the baseline per metric, %, with its standard error.
    pub lifts_pct: BTreeMap<String, (f64, f64)>,
    /// No guardrail measured as breached.
    pub safe: bool,
    pub experiments: Vec<String>,
    /// Units per arm the estimate rests on, summed over the reads pooled into it (0:
    /// not recorded, taken as the budget's).
    #[serde(default)]
    pub units: u64,
}

impl Incumbent {
    /// The production baseline, before anything has shipped.
    pub fn baseline(config: Configuration) -> Self {
        Self {
            candidate_id: None,
            config,
            score_vs_baseline: None,
            lifts_pct: BTreeMap::new(),
            since_round: 0,
            experiment_id: None,
        }
    }
}

/// Insight → Skill (and to the Actor for the next round).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Insight {
    pub round: RoundRef,
    pub incumbent: Incumbent,
    /// Set when this round's experiment replaced the incumbent.
    pub shipped: Option<String>,
    /// Set when this round's reads showed the incumbent breaching a guardrail and it
    /// was rolled back to the one before it: which candidate, and why.
    #[serde(default)]
    pub rolled_back: Option<String>,
    pub elites: Vec<Elite>,
    /// Relative importance of each parameter for the objective, summing to 1: 1/ℓ of
    /// the objective surrogate's fitted length scales (see `strategy::sensitivity`).
    pub sensitivity: BTreeMap<String, f64>,
    /// Where `sensitivity` was read from (length scales, or the linear fallback while
    /// there are too few observations), with the number of observations.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sensitivity_basis: String,
    pub patterns: Vec<Pattern>,
    /// Candidates measured as clearly worse or unsafe, to avoid repeating them.
    pub failures: Vec<Configuration>,
    /// Every configuration measured so far.
    pub observations: Vec<Observation>,
    /// The baseline's mean of each metric, from the latest experiment.
    pub baseline_means: BTreeMap<String, f64>,
    pub converged: bool,
    pub convergence_reason: String,
    /// What the measurements mean, in words, each tied to one measured fact.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<Note>,
}

/// A sentence about one measured fact (a pattern or an elite), quoting its numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Note {
    /// The fact it explains, e.g. `pattern:rank.w_click->ctr` or `elite:r2-c1`.
    pub fact: String,
    pub text: String,
    /// "builtin", or the model that wrote it.
    pub author: String,
}
