//! The built-in multi-stage recommender simulator.
//!
//! A miniature of an industrial cascade: users from a population of taste segments,
//! items with categories, quality, freshness, clickbait and dismiss-proneness, three
//! candidate sources, a pre-ranking model and a multi-head ranking model whose
//! calibration depends on the model version, and a re-ranker that builds a ten-item
//! slate. Outcomes follow from the slate (position bias, fatigue from redundancy,
//! clickbait that wins clicks and loses return visits, latency that grows with the
//! cut-offs), and are aggregated into the per-user sufficient statistics of the
//! experiment platform contract.
//!
//! Why segments: the cascade is deterministic given a user's taste, so every user of a
//! segment sees the same typical slate; computing it once per segment and arm is what
//! lets the simulator sample hundreds of thousands of users per second. Users still
//! differ in activity, click and dwell propensity and device latency, which are the
//! traits that make the pre-period correlated with the experiment.
//!
//! Module map: [`catalogue`] (parameters, metrics, typed configuration), [`world`]
//! (items, segments, candidates), [`calibration`] (model versions), [`cascade`]
//! (pre-rank, rank, re-rank), [`outcome`] (slate → expected engagement), [`population`]
//! (sampling users and their expectation), [`sampling`] (random streams and
//! distributions), [`truth`] (the oracle), [`search`] (the optimum search), [`ceiling`]
//! (what one experiment can ship), [`cache`] (the optimum cache), [`scenario`] (the
//! three tasks), [`validate`] (launch requests), [`experiment`] (the background worker)
//! and [`platform`] (the contract).
//!
//! Guarantees: final sums depend only on the launch request and its seed; arms draw
//! independent users; the oracle is deterministic; the world of a model version is
//! generated once per process (about half a second) on first use.

pub mod cache;
pub mod calibration;
pub mod cascade;
pub mod catalogue;
pub mod ceiling;
pub mod experiment;
pub mod outcome;
pub mod platform;
pub mod population;
pub mod sampling;
pub mod scenario;
pub mod search;
pub mod truth;
pub mod validate;
pub mod world;

#[cfg(test)]
mod task_files;
#[cfg(test)]
pub(crate) mod test_util;

pub use catalogue::SimConfig;
pub use ceiling::{Ceiling, ProofBar};
pub use outcome::ArmModel;
pub use platform::{SimOptions, SimPlatform};
pub use population::{simulate_users, ArmSums};
pub use scenario::Scenario;
pub use truth::SimOracle;

/// Bumped whenever the world or the outcome model changes, so that cached optima of an
/// older simulator are never reused.
pub const SIM_VERSION: &str = "sim-1";

/// What can go wrong building or querying the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("unknown scenario `{name}` (known: {known})")]
    UnknownScenario { name: String, known: String },
    #[error("unknown model version `{version}` (known: {known})")]
    UnknownModelVersion { version: String, known: String },
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    #[error("cannot read the simulated experiment: {0}")]
    Read(String),
    #[error("optimum cache {path}: {source}")]
    Cache {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}
