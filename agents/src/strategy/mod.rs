//! The built-in strategies: deterministic, offline reasoning for the agents.

pub mod convergence;
pub mod critique;
pub mod gp;
pub mod learning;
pub mod memory;
pub mod pareto;
pub mod prior;
pub mod random;
pub mod search;
pub mod sensitivity;
pub mod surrogate;
pub mod width;
