//! The built-in multi-stage recommender simulator.
