//! The built-in strategies: deterministic, offline reasoning for the agents.

pub mod gp;
pub mod random;
pub mod search;
pub mod surrogate;
pub mod pareto;
pub mod sensitivity;
pub mod critique;
pub mod learning;
pub mod memory;
