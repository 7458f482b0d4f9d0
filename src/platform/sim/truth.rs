//! The oracle: noise-free expected metrics of any configuration and the best feasible
//! configuration of a task. Used for reporting regret, never by the agents.

use super::cache::{stable_hash, OptimumCache};
use super::calibration::ModelVersion;
use super::catalogue::SimConfig;
use super::outcome::ArmModel;
use super::population;
use super::search::{maximise_from, Eval};
use super::world::World;
use super::SIM_VERSION;
use agents::platform::{Optimum, Oracle};
use skillhub::task::lifts_pct;
use skillhub::{Configuration, TaskSpec};
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

pub struct SimOracle {
    world: Arc<World>,
    scenario: String,
    cache: OptimumCache,
    fingerprint: OnceLock<u64>,
}

impl SimOracle {
    pub fn new(world: Arc<World>, scenario: &str, cache: OptimumCache) -> SimOracle {
        SimOracle { world, scenario: scenario.to_string(), cache, fingerprint: OnceLock::new() }
    }

    pub fn cache(&self) -> &OptimumCache {
        &self.cache
    }

    /// A hash of the production configuration's expected metrics: any change to the
    /// world or the outcome model changes it, so a stale cached optimum is never used
    /// even if [`SIM_VERSION`] was not bumped.
    fn fingerprint(&self) -> u64 {
        *self.fingerprint.get_or_init(|| {
            let bits: Vec<String> =
                self.expected(&Configuration::new()).iter().map(|(k, v)| format!("{k}={:x}", v.to_bits())).collect();
            stable_hash(&bits.join(","))
        })
    }

    pub fn model_version(&self) -> ModelVersion {
        self.world.version
    }

    /// The cache key: everything the optimum depends on.
    pub fn cache_key(&self, task: &TaskSpec) -> String {
        let task_json = serde_json::to_string(task).unwrap_or_default();
        format!("{SIM_VERSION}|{:016x}|{}|{}|{task_json}", self.fingerprint(), self.scenario, self.world.version.name())
    }

    /// Searches without looking at the cache (and without filling it).
    pub fn search(&self, task: &TaskSpec) -> Optimum {
        self.search_from(task, &[])
    }

    /// [`Self::search`] with the local search also started from `hints`.
    pub fn search_from(&self, task: &TaskSpec, hints: &[Configuration]) -> Optimum {
        let base_cfg = task.baseline();
        let base = self.expected(&base_cfg);
        let space = task.space();
        let found = maximise_from(&space, &base_cfg, hints, |cfg| evaluate(task, &self.expected(cfg), &base));
        let (config, metrics) = match found {
            Some(f) => {
                tracing::debug!(evaluations = f.evaluations, feasible = f.eval.feasible(), "oracle optimum search");
                let metrics = self.expected(&f.config);
                (f.config, metrics)
            }
            None => (base_cfg, base.clone()),
        };
        let score = task.score(&lifts_pct(&metrics, &base));
        Optimum { config, metrics, score }
    }
}

/// The task's score of `metrics` against the baseline, and the total guardrail breach
/// in percent of each threshold.
fn evaluate(task: &TaskSpec, metrics: &BTreeMap<String, f64>, base: &BTreeMap<String, f64>) -> Eval {
    let score = task.score(&lifts_pct(metrics, base));
    let violation = task
        .guardrails
        .iter()
        .map(|g| match (metrics.get(&g.metric), base.get(&g.metric)) {
            (Some(&v), Some(&b)) => {
                let t = g.threshold(b);
                let breach = if g.higher_is_safe() { t - v } else { v - t };
                100.0 * breach.max(0.0) / t.abs().max(1e-9)
            }
            // A guardrail on a metric the simulator does not report can never be shown
            // to hold.
            _ => 1.0,
        })
        .sum();
    Eval { score, violation }
}

impl SimOracle {
    /// [`Oracle::optimum`] searched from `hints` too, cached under its own key.
    pub fn optimum_from(&self, task: &TaskSpec, hints: &[Configuration]) -> Optimum {
        let mut key = self.cache_key(task);
        if !hints.is_empty() {
            key = format!("{key}|from|{}", serde_json::to_string(hints).unwrap_or_default());
        }
        if let Some(o) = self.cache.get(&key) {
            return o;
        }
        let optimum = self.search_from(task, hints);
        if let Err(e) = self.cache.put(&key, &optimum) {
            tracing::warn!(error = %e, "could not store the simulator optimum; it will be recomputed next time");
        }
        optimum
    }
}

impl Oracle for SimOracle {
    fn expected(&self, config: &Configuration) -> BTreeMap<String, f64> {
        let model = ArmModel::build(&self.world, &SimConfig::lenient(config));
        population::expected(&model)
    }

    fn optimum(&self, task: &TaskSpec) -> Optimum {
        self.optimum_from(task, &[])
    }
}

#[cfg(test)]
mod tests {
    use super::super::scenario::Scenario;
    use super::*;
    use skillhub::Value;
    use std::sync::OnceLock;

    /// Every scenario's optimum under both model versions, searched once per process.
    fn optima() -> &'static BTreeMap<(&'static str, &'static str), Optimum> {
        static OPTIMA: OnceLock<BTreeMap<(&'static str, &'static str), Optimum>> = OnceLock::new();
        OPTIMA.get_or_init(|| {
            let mut out = BTreeMap::new();
            for name in Scenario::names() {
                for version in ["v1", "v2"] {
                    let s = Scenario::load(name, version).expect("scenario");
                    out.insert((*name, version), s.oracle().optimum(&s.task()));
                }
            }
            out
        })
    }

    fn score_of(s: &Scenario, config: &Configuration) -> (f64, bool) {
        let (oracle, task) = (s.oracle(), s.task());
        let base = oracle.expected(&task.baseline());
        let m = oracle.expected(config);
        (task.score(&lifts_pct(&m, &base)), task.feasible(&m, &base))
    }

    #[test]
    fn optimum_is_feasible_and_clearly_better_than_the_baseline() {
        for ((name, version), opt) in optima() {
            let s = Scenario::load(name, version).expect("scenario");
            let (score, feasible) = score_of(&s, &opt.config);
            assert!(feasible, "{name}/{version}: optimum {:?} breaks a guardrail", opt.config);
            assert!((score - opt.score).abs() < 1e-9, "{name}/{version}: stored score {} vs {score}", opt.score);
            assert!((2.0..=12.0).contains(&score), "{name}/{version}: optimum score {score}");
            s.task().space().check(&opt.config).unwrap_or_else(|e| panic!("{name}/{version}: {e}"));
        }
    }

    #[test]
    fn model_versions_move_the_optimum() {
        for name in Scenario::names() {
            let (o1, o2) = (&optima()[&(*name, "v1")], &optima()[&(*name, "v2")]);
            let task = Scenario::load(name, "v1").expect("scenario").task();
            let distance = task.space().distance(&o1.config, &o2.config);
            // Shipping the old version's optimum after the launch leaves score on the table.
            let s2 = Scenario::load(name, "v2").expect("scenario");
            let (carried, feasible) = score_of(&s2, &o1.config);
            let regret = if feasible { o2.score - carried } else { f64::INFINITY };
            assert!(distance > 0.05 && regret > 0.2, "{name}: distance {distance}, regret {regret}");
        }
    }

    #[test]
    fn a_naive_optimiser_ignoring_guardrails_would_breach_them() {
        for name in Scenario::names() {
            let s = Scenario::load(name, "v1").expect("scenario");
            let (oracle, mut task) = (s.oracle(), s.task());
            let best = &optima()[&(*name, "v1")];
            task.guardrails.clear();
            let unconstrained = oracle.optimum(&task);
            let (_, feasible) = score_of(&s, &unconstrained.config);
            assert!(unconstrained.score > best.score && !feasible, "{name}: {unconstrained:?}");
        }
    }

    #[test]
    fn expected_metrics_are_deterministic() {
        let s = Scenario::load("rank-fusion", "v2").expect("scenario");
        let cfg: Configuration = [("rank.w_like".to_string(), Value::Num(1.7))].into_iter().collect();
        assert_eq!(s.oracle().expected(&cfg), s.oracle().expected(&cfg));
    }

    #[test]
    fn clickbait_heavy_fusion_raises_ctr_but_loses_sessions() {
        let oracle = Scenario::load("rank-fusion", "v1").expect("scenario").oracle();
        let base = oracle.expected(&Configuration::new());
        let clicky: Configuration = [("rank.w_click".to_string(), Value::Num(3.0))].into_iter().collect();
        let m = oracle.expected(&clicky);
        assert!(m["ctr"] > base["ctr"] * 1.01, "ctr {} vs {}", m["ctr"], base["ctr"]);
        assert!(m["sessions"] < base["sessions"] * 0.98, "sessions {} vs {}", m["sessions"], base["sessions"]);
        assert!(m["dwell_s"] < base["dwell_s"], "dwell {} vs {}", m["dwell_s"], base["dwell_s"]);
    }

    #[test]
    fn larger_cut_offs_raise_latency() {
        let oracle = Scenario::load("prerank-fusion", "v1").expect("scenario").oracle();
        let at = |pre: f64, rank: f64| {
            let cfg: Configuration = [("prerank.top_k", pre), ("rank.top_k", rank)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), Value::Num(v)))
                .collect();
            oracle.expected(&cfg)["latency_ms"]
        };
        assert!(at(400.0, 40.0) > at(200.0, 40.0) + 10.0);
        assert!(at(200.0, 100.0) > at(200.0, 40.0) + 10.0);
        assert!(at(200.0, 40.0) < super::super::scenario::PRERANK_LATENCY_LIMIT_MS);
        assert!(at(400.0, 40.0) > super::super::scenario::PRERANK_LATENCY_LIMIT_MS);
    }

    /// Prints the landscape numbers quoted in the docs:
    /// `cargo test --release -p rectune --lib report_landscape -- --ignored --nocapture`.
    /// Besides each optimum, how rare good configurations are (the share of uniformly
    /// drawn ones that are feasible and capture 80% or 90% of the gap) and what the v1
    /// optimum is worth under v2: why 90% within 32 arms is a hard target.
    #[test]
    #[ignore]
    fn report_landscape() {
        for ((name, version), opt) in optima() {
            let s = Scenario::load(name, version).expect("scenario");
            let (oracle, task) = (s.oracle(), s.task());
            let started = std::time::Instant::now();
            let fresh = oracle.search(&task);
            let took = started.elapsed();
            let base = oracle.expected(&task.baseline());
            let lifts = lifts_pct(&opt.metrics, &base);
            let config: Vec<String> = opt.config.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let lifts: Vec<String> = lifts.iter().map(|(k, v)| format!("{k} {v:+.2}%")).collect();
            println!(
                "{name}/{version}: score {:+.2} (search {took:.1?}, again {:+.2}) at {}",
                opt.score,
                fresh.score,
                config.join(", ")
            );
            println!("    baseline {base:.3?}\n    lifts {}", lifts.join(", "));
            let shares = uniform_shares(&s, opt.score, 4000);
            let (v1_score, v1_feasible) = score_of(&s, &optima()[&(*name, "v1")].config);
            println!(
                "    of 4000 uniform configurations: feasible {:.2}%, >= 80% of the gap {:.2}%, >= 90% {:.2}%; the v1 optimum here: {:.0}% of the gap, feasible {v1_feasible}",
                shares[0],
                shares[1],
                shares[2],
                100.0 * v1_score / opt.score
            );
        }
    }

    /// Percent of `n` uniform draws from the space that are feasible, and feasible with
    /// at least 80% and 90% of the gap to `optimum`.
    fn uniform_shares(s: &Scenario, optimum: f64, n: usize) -> [f64; 3] {
        use rand::{Rng, SeedableRng};
        let space = s.task().space();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut counts = [0usize; 3];
        for _ in 0..n {
            let u: Vec<f64> = (0..space.dim()).map(|_| rng.gen::<f64>()).collect();
            let (score, feasible) = score_of(s, &space.from_unit(&u));
            let share = score / optimum;
            for (count, hit) in counts.iter_mut().zip([feasible, feasible && share >= 0.8, feasible && share >= 0.9]) {
                *count += usize::from(hit);
            }
        }
        counts.map(|c| 100.0 * c as f64 / n as f64)
    }

    #[test]
    fn corrupt_cache_file_is_recomputed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let s = Scenario::load("rerank-diversity", "v1").expect("scenario");
        let oracle = SimOracle::new(s.world().clone(), s.name(), OptimumCache::at(dir.path()));
        let mut task = s.task();
        // A one-parameter task keeps the search short; a unique id keeps it out of the
        // in-memory cache of other tests.
        task.id = "corrupt-cache-test".into();
        task.params.retain(|p| p.name == "rerank.freshness_boost");
        let key = oracle.cache_key(&task);
        std::fs::write(oracle.cache().path_for(&key), "{\"key\": 12").expect("write");
        let first = oracle.optimum(&task);
        assert!(first.score >= 0.0);
        oracle.cache().forget(&key);
        let again = oracle.optimum(&task);
        assert_eq!(first.config, again.config, "the rewritten file is read back");
    }
}
