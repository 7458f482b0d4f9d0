//! One running experiment: its state, and the background worker that fills its arms.
//!
//! Users arrive in fixed chunks; chunk `j` of arm `a` always draws from the stream
//! `(seed, a, j)` and chunks are merged in order, so the final sums depend only on the
//! request and the seed. Arms advance in proportion to their traffic, as they would on
//! a live platform, which is what partial reads show.

use super::catalogue::SimConfig;
use super::outcome::ArmModel;
use super::population::{simulate_users, ArmSums};
use super::validate::ValidArm;
use super::world::World;
use agents::platform::{ArmRead, ExperimentRead, ExperimentStatus, LaunchRequest};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Users per chunk: part of the definition of the random streams, so it is a constant
/// and never an option.
pub const CHUNK_USERS: u64 = 1000;

pub struct Experiment {
    pub id: String,
    pub request: LaunchRequest,
    state: Mutex<State>,
    halt: AtomicBool,
}

struct State {
    status: ExperimentStatus,
    arms: Vec<ArmSums>,
    error: Option<String>,
}

/// What the worker needs besides the experiment itself.
pub struct Job {
    pub world: Arc<World>,
    /// The production configuration's outcome model, shared by every experiment of a
    /// platform and built on first use (off the caller's thread).
    pub pre: Arc<OnceLock<Arc<ArmModel>>>,
    pub arms: Vec<ValidArm>,
    pub seed: u64,
    pub pause: Option<Duration>,
}

impl Experiment {
    pub fn new(id: String, request: LaunchRequest) -> Arc<Experiment> {
        let arms = vec![ArmSums::default(); request.arms.len()];
        Arc::new(Experiment {
            id,
            request,
            state: Mutex::new(State { status: ExperimentStatus::Running, arms, error: None }),
            halt: AtomicBool::new(false),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A worker that panicked while holding the lock left consistent sums behind
        // (merges are single assignments), so the poison can be ignored.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn status(&self) -> ExperimentStatus {
        self.lock().status
    }

    pub fn read(&self) -> ExperimentRead {
        let st = self.lock();
        let target = self.request.units_per_arm.max(1) * st.arms.len().max(1) as u64;
        let done: u64 = st.arms.iter().map(|a| a.units.min(self.request.units_per_arm)).sum();
        ExperimentRead {
            experiment_id: self.id.clone(),
            status: st.status,
            progress: done as f64 / target as f64,
            arms: self
                .request
                .arms
                .iter()
                .zip(&st.arms)
                .map(|(spec, sums)| ArmRead { arm_id: spec.arm_id.clone(), units: sums.units, metrics: sums.metrics() })
                .collect(),
            error: st.error.clone(),
        }
    }

    /// Ends collection now: the sums read afterwards are final. A finished experiment
    /// is left as it is.
    pub fn stop(&self) -> ExperimentRead {
        {
            let mut st = self.lock();
            if st.status == ExperimentStatus::Running {
                st.status = ExperimentStatus::Stopped;
            }
        }
        self.halt.store(true, Ordering::SeqCst);
        self.read()
    }

    /// Asks the worker to stop without changing the status (used when the platform is
    /// dropped).
    pub fn abandon(&self) {
        self.halt.store(true, Ordering::SeqCst);
    }

    /// Merges a chunk unless collection has ended; returns false when it has.
    fn merge(&self, arm: usize, chunk: &ArmSums) -> bool {
        let mut st = self.lock();
        if st.status != ExperimentStatus::Running {
            return false;
        }
        st.arms[arm].merge(chunk);
        true
    }

    fn finish(&self, status: ExperimentStatus, error: Option<String>) {
        let mut st = self.lock();
        if st.status == ExperimentStatus::Running {
            st.status = status;
            st.error = error;
        }
    }
}

/// Starts the worker thread of an experiment.
pub fn spawn(exp: Arc<Experiment>, job: Job) -> std::io::Result<()> {
    std::thread::Builder::new().name(format!("rectune-sim-{}", exp.id)).spawn(move || {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&exp, &job)));
        match result {
            Ok(true) => exp.finish(ExperimentStatus::Completed, None),
            Ok(false) => exp.finish(ExperimentStatus::Stopped, None),
            Err(panic) => {
                let why = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "unknown panic".into());
                tracing::error!(experiment = %exp.id, error = %why, "simulator worker failed");
                exp.finish(ExperimentStatus::Failed, Some(format!("simulator worker failed: {why}")));
            }
        }
    })?;
    Ok(())
}

/// Fills the arms; false when collection was halted before the end.
fn run(exp: &Experiment, job: &Job) -> bool {
    let pre = job.pre.get_or_init(|| Arc::new(ArmModel::build(&job.world, &SimConfig::default()))).clone();
    let mut models = Vec::with_capacity(job.arms.len());
    for arm in &job.arms {
        if exp.halt.load(Ordering::SeqCst) {
            return false;
        }
        models.push(ArmModel::build(&job.world, &arm.config));
    }
    let target = exp.request.units_per_arm;
    let max_traffic = job.arms.iter().map(|a| a.traffic).fold(f64::MIN_POSITIVE, f64::max);
    let mut done = vec![0u64; job.arms.len()];
    let mut chunk_no = vec![0u64; job.arms.len()];
    let mut credit = vec![0.0f64; job.arms.len()];
    while done.iter().any(|&d| d < target) {
        for a in 0..job.arms.len() {
            credit[a] += job.arms[a].traffic / max_traffic;
            while credit[a] >= 1.0 && done[a] < target {
                credit[a] -= 1.0;
                if exp.halt.load(Ordering::SeqCst) {
                    return false;
                }
                let users = CHUNK_USERS.min(target - done[a]);
                let mut sums = ArmSums::default();
                simulate_users(&models[a], &pre, &[job.seed, a as u64, chunk_no[a]], users, &mut sums);
                if !exp.merge(a, &sums) {
                    return false;
                }
                done[a] += users;
                chunk_no[a] += 1;
            }
        }
        if let Some(p) = job.pause {
            std::thread::sleep(p);
        }
    }
    true
}
