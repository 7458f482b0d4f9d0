//! The agents of rectune: the message protocol, the five agent actors, their built-in
//! strategies and the statistics they use to read experiments.

pub mod actor;
pub mod agent;
pub mod analysis;
pub mod approval;
pub mod board;
pub mod coordinator;
pub mod cost;
pub mod critic;
#[cfg(test)]
mod fixtures;
pub mod insight;
pub mod journal;
pub mod llm;
pub mod monitor;
pub mod online;
pub mod platform;
pub mod protocol;
pub mod readout;
pub mod reasoning;
pub mod retry;
pub mod skill;
pub mod stats;
pub mod strategy;
pub mod veto;
