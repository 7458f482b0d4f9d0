//! The simulator behind the experiment platform contract.
//!
//! Every method does only bookkeeping on the caller's thread (callers are actix
//! actors); simulation runs on one background thread per experiment.

use super::cache::OptimumCache;
use super::experiment::{spawn, Experiment, Job};
use super::outcome::ArmModel;
use super::sampling::derive_seed;
use super::scenario::Scenario;
use super::truth::SimOracle;
use super::validate::validate;
use super::SimError;
use agents::platform::{
    ExperimentRead, LaunchRequest, Launched, MetricInfo, Oracle, ParamInfo, Platform, PlatformError,
};
use futures::future::{self, BoxFuture, FutureExt};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Sleep between rounds of chunks, to make experiments last long enough to watch
    /// (demos, tests of partial reads). `None` runs flat out.
    pub pause: Option<Duration>,
    /// Where the oracle caches optima.
    pub cache: OptimumCache,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions { pause: None, cache: OptimumCache::from_env() }
    }
}

pub struct SimPlatform {
    scenario: Scenario,
    options: SimOptions,
    oracle: Arc<SimOracle>,
    pre: Arc<OnceLock<Arc<ArmModel>>>,
    experiments: Mutex<HashMap<String, Arc<Experiment>>>,
    /// Idempotency key → (request, experiment id).
    keys: Mutex<HashMap<String, (LaunchRequest, String)>>,
    next_id: AtomicU64,
}

impl SimPlatform {
    pub fn new(scenario: Scenario, options: SimOptions) -> SimPlatform {
        let oracle = Arc::new(SimOracle::new(scenario.world().clone(), scenario.name(), options.cache.clone()));
        SimPlatform {
            scenario,
            options,
            oracle,
            pre: Arc::new(OnceLock::new()),
            experiments: Mutex::new(HashMap::new()),
            keys: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
        }
    }

    /// A platform for a named scenario and model version with default options.
    pub fn load(scenario: &str, model_version: &str) -> Result<SimPlatform, SimError> {
        Ok(SimPlatform::new(Scenario::load(scenario, model_version)?, SimOptions::default()))
    }

    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    pub fn sim_oracle(&self) -> Arc<SimOracle> {
        self.oracle.clone()
    }

    fn experiment(&self, id: &str) -> Result<Arc<Experiment>, PlatformError> {
        let map = self.experiments.lock().unwrap_or_else(|p| p.into_inner());
        map.get(id).cloned().ok_or_else(|| PlatformError::NotFound(id.to_string()))
    }

    /// Launches, or finds the experiment an earlier launch with this key started; the
    /// flag says which (a server answers 201 for a new experiment and 200 for a repeat).
    pub fn launch_keyed(&self, key: String, req: LaunchRequest) -> Result<(Launched, bool), PlatformError> {
        if key.trim().is_empty() {
            return Err(invalid("Idempotency-Key: a non-empty key is required"));
        }
        // Held for the whole launch, so two launches with one key cannot both start.
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((earlier, id)) = keys.get(&key) {
            if *earlier != req {
                return Err(PlatformError::KeyConflict(key));
            }
            let status = self.experiment(id)?.status();
            return Ok((Launched { experiment_id: id.clone(), status }, false));
        }
        let arms = validate(&req).map_err(invalid)?;
        let n = self.next_id.fetch_add(1, Ordering::SeqCst);
        let id = format!("exp-{n}");
        // Without a seed, experiments still differ from one another but stay
        // reproducible for a given launch order.
        let seed = req.seed.unwrap_or_else(|| derive_seed(&[0x5EED, n]));
        let exp = Experiment::new(id.clone(), req.clone());
        let job =
            Job { world: self.scenario.world().clone(), pre: self.pre.clone(), arms, seed, pause: self.options.pause };
        spawn(exp.clone(), job)
            .map_err(|e| PlatformError::Unavailable(format!("cannot start a simulator thread: {e}")))?;
        self.experiments.lock().unwrap_or_else(|p| p.into_inner()).insert(id.clone(), exp.clone());
        keys.insert(key, (req, id.clone()));
        tracing::info!(experiment = %id, arms = exp.request.arms.len(), units_per_arm = exp.request.units_per_arm, "simulated experiment launched");
        Ok((Launched { experiment_id: id, status: exp.status() }, true))
    }

    pub fn read_now(&self, experiment_id: &str) -> Result<ExperimentRead, PlatformError> {
        self.experiment(experiment_id).map(|e| e.read())
    }

    pub fn stop_now(&self, experiment_id: &str) -> Result<ExperimentRead, PlatformError> {
        self.experiment(experiment_id).map(|e| e.stop())
    }
}

fn invalid(message: impl Into<String>) -> PlatformError {
    PlatformError::Rejected { code: "invalid_request".into(), message: message.into() }
}

impl Drop for SimPlatform {
    fn drop(&mut self) {
        // Nobody can read these experiments any more: let their threads end.
        let map = self.experiments.lock().unwrap_or_else(|p| p.into_inner());
        for exp in map.values() {
            exp.abandon();
        }
    }
}

impl Platform for SimPlatform {
    fn launch(&self, key: String, req: LaunchRequest) -> BoxFuture<'static, Result<Launched, PlatformError>> {
        future::ready(self.launch_keyed(key, req).map(|(l, _)| l)).boxed()
    }

    fn read(&self, experiment_id: String) -> BoxFuture<'static, Result<ExperimentRead, PlatformError>> {
        future::ready(self.read_now(&experiment_id)).boxed()
    }

    fn stop(&self, experiment_id: String) -> BoxFuture<'static, Result<ExperimentRead, PlatformError>> {
        future::ready(self.stop_now(&experiment_id)).boxed()
    }

    fn metrics(&self) -> BoxFuture<'static, Result<Vec<MetricInfo>, PlatformError>> {
        future::ready(Ok(self.scenario.metric_catalogue())).boxed()
    }

    fn parameters(&self) -> BoxFuture<'static, Result<Option<Vec<ParamInfo>>, PlatformError>> {
        future::ready(Ok(Some(self.scenario.catalogue()))).boxed()
    }

    fn oracle(&self) -> Option<Arc<dyn Oracle>> {
        Some(self.oracle.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::wait_until;
    use super::*;
    use agents::platform::{ArmSpec, ExperimentStatus, MetricData};
    use futures::executor::block_on;
    use skillhub::{Configuration, Value};

    fn platform(pause_ms: Option<u64>) -> SimPlatform {
        let scenario = Scenario::load("rank-fusion", "v1").expect("scenario");
        let dir = std::env::temp_dir().join("rectune-sim-platform-tests");
        SimPlatform::new(
            scenario,
            SimOptions { pause: pause_ms.map(Duration::from_millis), cache: OptimumCache::at(dir) },
        )
    }

    fn config(pairs: &[(&str, Value)]) -> Configuration {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    fn request(units: u64, seed: Option<u64>) -> LaunchRequest {
        LaunchRequest {
            name: "rank-fusion/round-1".into(),
            control_arm: "control".into(),
            arms: vec![
                ArmSpec { arm_id: "control".into(), traffic: 0.3, config: config(&[]) },
                ArmSpec {
                    arm_id: "t1".into(),
                    traffic: 0.3,
                    config: config(&[
                        ("rank.w_click", Value::Num(0.6)),
                        ("rank.formula", Value::Str("multiplicative".into())),
                    ]),
                },
            ],
            units_per_arm: units,
            seed,
        }
    }

    fn finished(p: &SimPlatform, id: &str) -> ExperimentRead {
        let mut last = None;
        wait_until(Duration::from_secs(60), "the experiment to finish", || {
            let r = block_on(p.read(id.to_string())).expect("read");
            let done = r.status.is_final();
            last = Some(r);
            done
        });
        last.expect("a read")
    }

    #[test]
    fn launch_errors_name_the_field() {
        let p = platform(None);
        let mut req = request(1000, Some(1));
        req.arms[1].config.insert("rank.w_click".into(), Value::Num(5.0));
        match block_on(p.launch("k".into(), req)) {
            Err(PlatformError::Rejected { code, message }) => {
                assert_eq!(code, "invalid_request");
                assert!(message.contains("arms[1].config.rank.w_click: 5 is outside [0, 3]"), "{message}");
            }
            other => panic!("expected a rejection, got {other:?}"),
        }
        let mut req = request(1000, Some(1));
        req.arms[0].traffic = 0.9;
        req.arms[1].config.insert("rank.w_clik".into(), Value::Num(1.0));
        let Err(PlatformError::Rejected { message, .. }) = block_on(p.launch("k".into(), req)) else {
            panic!("expected a rejection")
        };
        assert!(
            message.contains("arms: traffic sums to 1.2") && message.contains("arms[1].config.rank.w_clik"),
            "{message}"
        );
        // A rejected launch does not use up the key.
        assert!(block_on(p.launch("k".into(), request(1000, Some(1)))).is_ok());
    }

    #[test]
    fn idempotent_relaunch_returns_the_same_experiment() {
        let p = platform(None);
        let a = block_on(p.launch("key-1".into(), request(2000, Some(3)))).expect("launch");
        let b = block_on(p.launch("key-1".into(), request(2000, Some(3)))).expect("relaunch");
        assert_eq!(a.experiment_id, b.experiment_id);
        let c = block_on(p.launch("key-2".into(), request(2000, Some(3)))).expect("another key");
        assert_ne!(a.experiment_id, c.experiment_id);
        let done = finished(&p, &a.experiment_id);
        let again = block_on(p.launch("key-1".into(), request(2000, Some(3)))).expect("relaunch after the end");
        assert_eq!((again.experiment_id, again.status), (a.experiment_id, done.status));
    }

    #[test]
    fn same_key_with_a_different_body_is_a_conflict() {
        let p = platform(None);
        block_on(p.launch("key".into(), request(1000, Some(3)))).expect("launch");
        let err = block_on(p.launch("key".into(), request(1000, Some(4)))).unwrap_err();
        assert!(matches!(err, PlatformError::KeyConflict(k) if k == "key"));
    }

    #[test]
    fn final_sums_depend_only_on_request_and_seed() {
        // Different pacing changes how reads interleave with the work, not the result.
        let (fast, slow) = (platform(None), platform(Some(1)));
        let a = block_on(fast.launch("k".into(), request(5500, Some(42)))).expect("launch");
        let b = block_on(slow.launch("k".into(), request(5500, Some(42)))).expect("launch");
        let (ra, rb) = (finished(&fast, &a.experiment_id), finished(&slow, &b.experiment_id));
        assert_eq!(ra.status, ExperimentStatus::Completed);
        assert_eq!(ra.arms, rb.arms);
        assert!(ra.arms.iter().all(|arm| arm.units == 5500));
        let c = block_on(fast.launch("k2".into(), request(5500, Some(43)))).expect("launch");
        assert_ne!(finished(&fast, &c.experiment_id).arms, ra.arms, "another seed draws other users");
        // Arms draw their own users: equal configurations still differ.
        let mut twins = request(3000, Some(42));
        twins.arms[1].config = Configuration::new();
        let d = block_on(fast.launch("k3".into(), twins)).expect("launch");
        let rd = finished(&fast, &d.experiment_id);
        assert_ne!(rd.arms[0].metrics, rd.arms[1].metrics);
    }

    #[test]
    fn partial_reads_show_progress_and_stop_freezes_the_sums() {
        let p = platform(Some(15));
        let launched = block_on(p.launch("k".into(), request(50_000, Some(9)))).expect("launch");
        assert_eq!(launched.status, ExperimentStatus::Running);
        let id = launched.experiment_id;
        let mut partial = None;
        wait_until(Duration::from_secs(30), "a partial read", || {
            let r = block_on(p.read(id.clone())).expect("read");
            let seen = r.progress > 0.0;
            partial = Some(r);
            seen
        });
        let r = partial.expect("a read");
        assert_eq!(r.status, ExperimentStatus::Running);
        assert!(r.progress > 0.0 && r.progress < 1.0, "progress {}", r.progress);
        let sessions = &r.arms[0].metrics["sessions"];
        assert!(matches!(sessions, MetricData::Mean { n, pre: Some(_), .. } if *n == r.arms[0].units));
        assert!(matches!(r.arms[0].metrics["ctr"], MetricData::Ratio { .. }));
        let stopped = block_on(p.stop(id.clone())).expect("stop");
        assert_eq!(stopped.status, ExperimentStatus::Stopped);
        assert!(stopped.progress < 1.0);
        std::thread::sleep(Duration::from_millis(50));
        let later = block_on(p.read(id.clone())).expect("read");
        assert_eq!(later.arms, stopped.arms);
        assert_eq!(block_on(p.stop(id)).expect("stop again").status, ExperimentStatus::Stopped);
    }

    #[test]
    fn unknown_experiment_is_not_found_and_catalogues_are_published() {
        let p = platform(None);
        assert!(matches!(block_on(p.read("exp-999".into())), Err(PlatformError::NotFound(_))));
        let metrics = block_on(p.metrics()).expect("metrics");
        assert_eq!(metrics.len(), 7);
        let params = block_on(p.parameters()).expect("params").expect("a catalogue");
        assert!(params.iter().any(|x| x.name == "rerank.mmr_lambda"));
        assert!(p.oracle().is_some());
    }
}
