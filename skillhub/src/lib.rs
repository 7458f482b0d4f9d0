//! The Skillhub: what rectune has learned about each tuning task, as versioned skills
//! changed only by validated [`SkillPatch`]es and persisted in sled.
//!
//! This crate also holds the task vocabulary (search space, objectives, guardrails),
//! because a skill's requirement slot *is* a task's search space and objectives.

pub mod space;
pub mod task;

pub use space::{Configuration, ParamKind, ParamSpec, Space, SpaceError, Value};
pub use task::{Budget, Direction, Guardrail, Limit, Objective, TaskError, TaskSpec};
