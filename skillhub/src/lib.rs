//! The Skillhub: what rectune has learned about each tuning task, as versioned skills
//! changed only by validated [`SkillPatch`]es and persisted in sled.
//!
//! This crate also holds the task vocabulary (search space, objectives, guardrails),
//! because a skill's requirement slot *is* a task's search space and objectives.

pub mod actor;
pub mod durable;
pub mod error;
pub mod evidence;
mod invariants;
pub mod markdown;
pub mod patch;
pub mod seeds;
pub mod skill;
pub mod space;
pub mod store;
pub mod task;

pub use actor::{ApplyPatch, GetHistory, GetSkill, ListSkills, Skillhub};
pub use error::SkillError;
pub use evidence::{EvidenceBase, EvidenceError, MeasuredEffect};
pub use markdown::{parse_markdown, render_markdown, MarkdownError};
pub use patch::{PatchError, PatchOp, SkillPatch};
pub use seeds::{seed_skills, skill_from_task};
pub use skill::{
    EliteConfig, InitialConfig, NorthStar, PriorRead, Priors, Provenance, Requirement, Rule, RuleStatus, Skill,
    TaskContext, MAX_PRIOR_READS,
};
pub use space::{Configuration, ParamKind, ParamSpec, Space, SpaceError, Value};
pub use store::{Applied, HistoryEntry, SkillStore};
pub use task::{Budget, Direction, Guardrail, Invariant, Limit, Objective, TaskError, TaskSpec};
