//! Wire types of the experiment platform API, version 1.

use serde::{Deserialize, Serialize};
use skillhub::Configuration;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmSpec {
    pub arm_id: String,
    pub traffic: f64,
    pub config: Configuration,
}

/// Body of `POST /v1/experiments`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaunchRequest {
    pub name: String,
    pub control_arm: String,
    pub arms: Vec<ArmSpec>,
    pub units_per_arm: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Launched {
    pub experiment_id: String,
    pub status: ExperimentStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExperimentStatus {
    Running,
    Completed,
    Stopped,
    Failed,
}

impl ExperimentStatus {
    pub fn is_final(self) -> bool {
        !matches!(self, ExperimentStatus::Running)
    }
}

/// Sums of a unit-level quantity.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct Sums {
    pub sum: f64,
    pub sum_sq: f64,
}

/// Pre-experiment sums of a mean metric, for CUPED.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct PreSums {
    pub sum: f64,
    pub sum_sq: f64,
    pub sum_product: f64,
}

/// Sufficient statistics of one metric in one arm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum MetricData {
    Mean {
        n: u64,
        sum: f64,
        sum_sq: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pre: Option<PreSums>,
    },
    Ratio {
        n: u64,
        num: Sums,
        den: Sums,
        sum_product: f64,
    },
}

impl MetricData {
    pub fn n(&self) -> u64 {
        match self {
            MetricData::Mean { n, .. } | MetricData::Ratio { n, .. } => *n,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmRead {
    pub arm_id: String,
    pub units: u64,
    pub metrics: BTreeMap<String, MetricData>,
}

/// Body of `GET /v1/experiments/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentRead {
    pub experiment_id: String,
    pub status: ExperimentStatus,
    #[serde(default)]
    pub progress: f64,
    pub arms: Vec<ArmRead>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricKind {
    Mean,
    Ratio,
}

/// One entry of `GET /v1/metrics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricInfo {
    pub name: String,
    pub kind: MetricKind,
    pub higher_is_better: bool,
    #[serde(default)]
    pub description: String,
}

/// One entry of `GET /v1/parameters`: the same shape as a task's parameter, with
/// `default` in place of `baseline`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamInfo {
    pub name: String,
    #[serde(flatten)]
    pub kind: skillhub::ParamKind,
    pub default: skillhub::Value,
}
