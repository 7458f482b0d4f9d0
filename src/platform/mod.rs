//! Experiment platforms the Online agent can drive.

pub mod serve;
pub mod sim;
