//! rectune's runtime: command line, configuration, wiring and supervision of the agents,
//! the experiment platforms, the run summary and the log stream.

pub mod platform;
