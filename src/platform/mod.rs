//! Experiment platforms the Online agent can drive.

pub mod sim;
