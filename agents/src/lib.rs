//! The agents of rectune: the message protocol, the five agent actors, their built-in
//! strategies and the statistics they use to read experiments.

pub mod journal;
pub mod platform;
pub mod protocol;
pub mod strategy;
