//! rectune's runtime: command line, configuration, wiring and supervision of the agents,
//! the experiment platforms, the run summary and the log stream.

pub mod cli;
pub mod commands;
pub mod logs;
pub mod platform;
pub mod runtime;
pub mod settings;
pub mod status;
pub mod summary;
pub mod telemetry;
