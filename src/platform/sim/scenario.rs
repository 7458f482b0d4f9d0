//! The three tuning scenarios of the simulator, one per cascade stage, each with its
//! default task.

use super::cache::OptimumCache;
use super::calibration::ModelVersion;
use super::catalogue::{defaults, metric_infos, param_infos, param_specs, SimConfig};
use super::outcome::ArmModel;
use super::population::{simulate_users, ArmSums};
use super::truth::SimOracle;
use super::world::World;
use super::SimError;
use agents::platform::{MetricInfo, ParamInfo};
use skillhub::{Budget, Configuration, Direction, Guardrail, Invariant, Limit, Objective, TaskSpec};
use std::sync::Arc;

const NAMES: &[&str] = &["prerank-fusion", "rank-fusion", "rerank-diversity"];

/// The mean serving latency the prerank task may not exceed: a little above the
/// production configuration's 70.4 ms, so that large cut-offs breach it.
pub const PRERANK_LATENCY_LIMIT_MS: f64 = 75.0;

/// A scenario: a world under one model version, and the task that tunes one stage.
#[derive(Clone)]
pub struct Scenario {
    name: &'static str,
    world: Arc<World>,
}

impl std::fmt::Debug for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scenario({} on {})", self.name, self.world.version.name())
    }
}

impl Scenario {
    pub fn names() -> &'static [&'static str] {
        NAMES
    }

    pub fn model_versions() -> &'static [&'static str] {
        ModelVersion::NAMES
    }

    /// Loads a scenario; the world of a model version is built once per process.
    pub fn load(name: &str, model_version: &str) -> Result<Scenario, SimError> {
        let name = NAMES
            .iter()
            .copied()
            .find(|n| *n == name)
            .ok_or_else(|| SimError::UnknownScenario { name: name.to_string(), known: NAMES.join(", ") })?;
        let version = ModelVersion::parse(model_version)?;
        Ok(Scenario { name, world: World::shared(version) })
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn model_version(&self) -> &'static str {
        self.world.version.name()
    }

    pub(crate) fn world(&self) -> &Arc<World> {
        &self.world
    }

    pub fn catalogue(&self) -> Vec<ParamInfo> {
        param_infos()
    }

    pub fn metric_catalogue(&self) -> Vec<MetricInfo> {
        metric_infos()
    }

    /// The production configuration (every parameter at its default).
    pub fn defaults(&self) -> Configuration {
        defaults()
    }

    /// The oracle, caching optima under `$RECTUNE_CACHE_DIR`.
    pub fn oracle(&self) -> SimOracle {
        SimOracle::new(self.world.clone(), self.name, OptimumCache::from_env())
    }

    /// The outcome model of a configuration (missing keys take the defaults; the
    /// configuration must be valid).
    pub fn arm_model(&self, config: &Configuration) -> Result<ArmModel, SimError> {
        let cfg = SimConfig::parse(config).map_err(|problems| {
            SimError::InvalidConfig(
                problems.iter().map(|p| format!("{}: {}", p.field, p.problem)).collect::<Vec<_>>().join("; "),
            )
        })?;
        Ok(ArmModel::build(&self.world, &cfg))
    }

    /// Simulates `users` users of one arm (pre-period under the defaults) in one stream.
    pub fn simulate(&self, config: &Configuration, users: u64, seed: u64) -> Result<ArmSums, SimError> {
        let model = self.arm_model(config)?;
        let pre = ArmModel::build(&self.world, &SimConfig::default());
        let mut sums = ArmSums::default();
        simulate_users(&model, &pre, &[seed], users, &mut sums);
        Ok(sums)
    }

    /// The scenario's default task; its id is the scenario name.
    pub fn task(&self) -> TaskSpec {
        // Sized so that a one-treatment round's smallest provable step is under a tenth
        // of the baseline-to-optimum gap on both model versions. The rank and re-rank
        // optima sit on a guardrail (ctr, dwell: noisy metrics); showing non-inferiority
        // near it needs twice the units of pre-ranking.
        let (context, free, objectives, guardrails, units_per_arm) = match self.name {
            "prerank-fusion" => (
                "Pre-rank stage: a light model scores the ~900 candidates of three sources (taste retrieval, \
                 popular, fresh). Its fused score (the retrieval prior plus weighted click, long-dwell and \
                 freshness scores) decides which prerank.top_k candidates the heavy ranking model sees. A \
                 larger top_k recovers good items the light model misjudged, but serving latency grows with it.",
                &["prerank.w_ctr", "prerank.w_dwell", "prerank.w_fresh", "prerank.top_k"][..],
                vec![objective("sessions", 1.0), objective("dwell_s", 0.5)],
                vec![
                    Guardrail { metric: "latency_ms".into(), limit: Limit::AtMost(PRERANK_LATENCY_LIMIT_MS) },
                    Guardrail { metric: "categories".into(), limit: Limit::MaxDropPct(1.0) },
                ],
                160_000,
            ),
            "rank-fusion" => (
                "Rank stage: fuses the multi-head model predictions (click, dwell, like, dismiss) into one \
                 score, additively (sum w_i p_i) or multiplicatively (prod (b + p_i)^w_i), and passes the \
                 top rank.top_k items to the re-ranker. Click-heavy fusion favours clickbait, which wins \
                 clicks but loses return visits; dwell- and dismiss-heavy fusion narrows the categories shown.",
                &["rank.formula", "rank.w_click", "rank.w_dwell", "rank.w_like", "rank.w_dismiss"][..],
                vec![objective("dwell_s", 1.0), objective("sessions", 1.0)],
                vec![
                    Guardrail { metric: "categories".into(), limit: Limit::MaxDropPct(1.0) },
                    Guardrail { metric: "ctr".into(), limit: Limit::MaxDropPct(3.0) },
                ],
                320_000,
            ),
            _ => (
                "Re-rank stage: builds the 10-item slate from the ranked items with MMR (rerank.mmr_lambda), a \
                 sliding-window category penalty, a per-category cap and a freshness boost. Diversity fights \
                 fatigue and shows more categories, which brings users back, but costs relevance and dwell.",
                &["rerank.mmr_lambda", "rerank.window_penalty", "rerank.category_cap", "rerank.freshness_boost"][..],
                vec![objective("sessions", 1.0), objective("categories", 0.5)],
                vec![Guardrail { metric: "dwell_s".into(), limit: Limit::MaxDropPct(1.0) }],
                320_000,
            ),
        };
        let specs = param_specs();
        TaskSpec {
            id: self.name.to_string(),
            context: context.to_string(),
            params: free.iter().filter_map(|n| specs.iter().find(|p| p.name == *n).cloned()).collect(),
            objectives,
            guardrails,
            invariants: self.invariants(),
            budget: Budget { rounds: 8, arms_per_round: 4, units_per_arm },
        }
    }

    /// Cross-parameter constraints of the scenario's task: a fusion whose learned
    /// signals all weigh zero ranks by the retrieval prior alone, which no one ships.
    fn invariants(&self) -> Vec<Invariant> {
        let (description, names): (&str, &[&str]) = match self.name {
            "prerank-fusion" => {
                ("the pre-rank score keeps a learned engagement signal", &["prerank.w_ctr", "prerank.w_dwell"])
            }
            "rank-fusion" => (
                "the rank score keeps weight on the engagement heads",
                &["rank.w_click", "rank.w_dwell", "rank.w_like"],
            ),
            _ => return Vec::new(),
        };
        let terms = names.iter().map(|n| (n.to_string(), 1.0)).collect();
        vec![Invariant { description: description.into(), terms, min: Some(0.2), max: None }]
    }
}

fn objective(metric: &str, weight: f64) -> Objective {
    Objective { metric: metric.into(), direction: Direction::Maximize, weight }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_list_the_known_ones() {
        let e = Scenario::load("ranking", "v1").unwrap_err().to_string();
        assert!(e.contains("ranking") && e.contains("prerank-fusion, rank-fusion, rerank-diversity"), "{e}");
        let e = Scenario::load("rank-fusion", "v3").unwrap_err().to_string();
        assert!(e.contains("v3") && e.contains("v1, v2"), "{e}");
    }

    #[test]
    fn default_tasks_are_valid_against_the_metric_catalogue() {
        for name in Scenario::names() {
            let s = Scenario::load(name, "v1").expect("scenario");
            let known: Vec<String> = s.metric_catalogue().into_iter().map(|m| m.name).collect();
            let task = s.task();
            task.validate(Some(&known)).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(task.id, *name);
            assert!(task.params.len() >= 4);
        }
    }
}
