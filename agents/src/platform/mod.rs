//! The experiment platform as the Online agent sees it: the HTTP contract of
//! `design/experiment-platform.md`, as Rust types, behind one trait. The in-process
//! simulator and HTTP platforms both implement [`Platform`].

mod check;
pub mod contract;
pub mod http;

pub use check::check_task;
pub use contract::*;
pub use http::{HttpPlatform, HttpPlatformSettings};

use futures::future::BoxFuture;

/// What can go wrong talking to a platform. `Rejected` (4xx) must not be retried as is;
/// `Unavailable` (429/5xx/transport) may be retried with backoff.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PlatformError {
    #[error("platform rejected the request ({code}): {message}")]
    Rejected { code: String, message: String },
    #[error("idempotency key `{0}` was already used with a different request")]
    KeyConflict(String),
    #[error("experiment `{0}` is unknown to the platform")]
    NotFound(String),
    #[error("platform unavailable: {0}")]
    Unavailable(String),
    /// A success status with a body that does not follow the contract.
    #[error("platform protocol error: {0}")]
    Protocol(String),
}

/// An experiment platform. Methods return `'static` futures so an actor can hold the
/// platform behind an `Arc` and await calls without borrowing itself; CPU-heavy work
/// (the simulator) must run off the caller's thread.
pub trait Platform: Send + Sync + 'static {
    /// Launches an experiment. Repeating a launch with the same key and request returns
    /// the same experiment; the same key with a different request is `KeyConflict`.
    fn launch(&self, key: String, req: LaunchRequest) -> BoxFuture<'static, Result<Launched, PlatformError>>;
    fn read(&self, experiment_id: String) -> BoxFuture<'static, Result<ExperimentRead, PlatformError>>;
    fn stop(&self, experiment_id: String) -> BoxFuture<'static, Result<ExperimentRead, PlatformError>>;
    fn metrics(&self) -> BoxFuture<'static, Result<Vec<MetricInfo>, PlatformError>>;
    /// The parameter catalogue, or `None` when the platform does not publish one.
    fn parameters(&self) -> BoxFuture<'static, Result<Option<Vec<ParamInfo>>, PlatformError>>;
    /// The noise-free truth, when the platform is a simulator that knows it.
    fn oracle(&self) -> Option<std::sync::Arc<dyn Oracle>> {
        None
    }
}

/// Noise-free knowledge a simulator has and a real platform does not: expected metric
/// values of any configuration and the optimum of a task. Used only for reporting
/// (regret, captured gap), never by the agents.
pub trait Oracle: Send + Sync {
    /// Expected per-unit value of every metric under `config` (missing keys take the
    /// platform's defaults).
    fn expected(&self, config: &skillhub::Configuration) -> std::collections::BTreeMap<String, f64>;
    /// The best feasible configuration of `task` and its expected metrics.
    fn optimum(&self, task: &skillhub::TaskSpec) -> Optimum;
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Optimum {
    pub config: skillhub::Configuration,
    pub metrics: std::collections::BTreeMap<String, f64>,
    /// The task's score at the optimum, relative to the task's baseline.
    pub score: f64,
}
