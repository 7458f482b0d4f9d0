//! The seed skills (industry practice, low confidence) and the minimal skill for a
//! task that has no seed.
//!
//! Seeds are Markdown files under `skillhub/seeds/`, compiled into the binary so a
//! fresh installation starts with them and people review them as documents.

use crate::error::SkillError;
use crate::markdown::parse_markdown;
use crate::skill::{InitialConfig, NorthStar, Priors, Requirement, Skill, TaskContext, DEFAULT_TOOLS};
use crate::task::TaskSpec;

/// The seed documents, by file name.
pub const SEED_FILES: [(&str, &str); 3] = [
    ("seeds/prerank-fusion.md", include_str!("../seeds/prerank-fusion.md")),
    ("seeds/rank-fusion.md", include_str!("../seeds/rank-fusion.md")),
    ("seeds/rerank-diversity.md", include_str!("../seeds/rerank-diversity.md")),
];

/// What every candidate configuration must look like, for tasks without a seed.
pub const DEFAULT_OUTPUT_SCHEMA: &str = "One configuration per candidate: an object that assigns every \
parameter of the search space a value inside its bounds (whole numbers for int parameters, one of the \
listed values for choice parameters), with a one-sentence hypothesis of why it should win.";

/// The parsed and validated seed skills, in [`SEED_FILES`] order.
pub fn seed_skills() -> Result<Vec<Skill>, SkillError> {
    SEED_FILES
        .iter()
        .map(|&(file, doc)| parse_markdown(doc).map_err(|source| SkillError::Seed { file, source }))
        .collect()
}

/// A version-1 skill holding only what the task file says: no rules, no priors.
pub fn skill_from_task(task: &TaskSpec) -> Skill {
    let summary = match task.context.trim() {
        "" => format!("Tuning task `{}`; the task file gives no description.", task.id),
        text => text.to_string(),
    };
    Skill {
        task_id: task.id.clone(),
        version: 1,
        deprecated: false,
        context: TaskContext { stage: stage_of(task), component: task.id.clone(), summary },
        requirement: Requirement {
            output_schema: DEFAULT_OUTPUT_SCHEMA.to_string(),
            limits: Vec::new(),
            params: task.params.clone(),
        },
        north_star: NorthStar { objectives: task.objectives.clone(), guardrails: task.guardrails.clone() },
        initial_config: InitialConfig { source: "production baseline".to_string(), config: task.baseline() },
        rules: Vec::new(),
        tools: DEFAULT_TOOLS.iter().map(|t| t.to_string()).collect(),
        priors: Priors::default(),
    }
}

/// Parameters are named `<stage>.<knob>`; the first one names the task's stage.
fn stage_of(task: &TaskSpec) -> String {
    task.params
        .first()
        .and_then(|p| p.name.split_once('.'))
        .map_or_else(|| "unknown".to_string(), |(stage, _)| stage.to_string())
}
