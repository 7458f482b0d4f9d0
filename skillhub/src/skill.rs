//! A skill: what rectune knows about one tuning task, in the six slots of the
//! AgenticRecTune paper plus structured priors for the built-in strategies.
//!
//! A skill is never edited in place: it changes only through a validated
//! [`SkillPatch`](crate::SkillPatch), so every version can be explained by the patch
//! that produced it. [`Skill::validate`] states the invariants every stored version
//! keeps, whichever patch produced it.

use crate::patch::PatchError;
use crate::space::{Configuration, ParamKind, ParamSpec, Space};
use crate::task::{Guardrail, Objective};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The platform actions a task may use unless its skill says otherwise.
pub const DEFAULT_TOOLS: [&str; 3] = ["launch_experiment", "read_experiment", "stop_experiment"];

/// Evidence ids with this prefix cite background knowledge, not an experiment.
pub const PRIOR_EVIDENCE_PREFIX: &str = "prior:";

/// The only author allowed to cite [`PRIOR_EVIDENCE_PREFIX`] evidence: everything the
/// agents learn must point at experiments that can be re-read.
pub const SEED_AGENT: &str = "seed";

/// Background knowledge has not been measured on this system, so it may not claim
/// more than this confidence.
pub const MAX_PRIOR_CONFIDENCE: f64 = 0.3;

/// One tuning task's accumulated knowledge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Skill {
    pub task_id: String,
    /// 1 on creation, +1 for every applied patch.
    pub version: u64,
    pub deprecated: bool,
    pub context: TaskContext,
    pub requirement: Requirement,
    pub north_star: NorthStar,
    pub initial_config: InitialConfig,
    pub rules: Vec<Rule>,
    pub tools: Vec<String>,
    pub priors: Priors,
}

/// Slot 1: where in the cascade the task sits and what the component does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskContext {
    /// `prerank`, `rank` or `rerank`.
    pub stage: String,
    pub component: String,
    pub summary: String,
}

/// Slot 2: what an answer must look like and what the infrastructure allows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    pub output_schema: String,
    #[serde(default)]
    pub limits: Vec<String>,
    /// The full search space. Its `baseline` values stay those of the task as
    /// created; the current best known configuration is in [`Skill::initial_config`].
    pub params: Vec<ParamSpec>,
}

/// Slot 3: what "better" means and what must not get worse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NorthStar {
    pub objectives: Vec<Objective>,
    #[serde(default)]
    pub guardrails: Vec<Guardrail>,
}

/// Slot 4: the configuration to start from, and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitialConfig {
    /// "production baseline", or the experiment and round that shipped it.
    pub source: String,
    pub config: Configuration,
}

/// Who wrote a rule or a patch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    pub agent: String,
    /// "builtin", "human", or the name of the language model.
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round: Option<u32>,
}

impl Provenance {
    pub fn new(agent: impl Into<String>, model: impl Into<String>, round: Option<u32>) -> Self {
        Self { agent: agent.into(), model: model.into(), round }
    }

    /// The author of the hand-written seed skills.
    pub fn seed() -> Self {
        Self::new(SEED_AGENT, "human", None)
    }

    pub fn is_seed(&self) -> bool {
        self.agent == SEED_AGENT
    }
}

/// Whether a rule still informs the agents. Retired rules stay in the skill so that
/// the reason they were dropped is not lost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleStatus {
    Active,
    Retired { reason: String },
}

/// Slot 5: one piece of domain knowledge with the evidence behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub id: String,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// Measured relative effect on `metric`, in percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect_pct: Option<f64>,
    /// Experiment ids, or `prior:...` for seed knowledge.
    pub evidence: Vec<String>,
    pub confidence: f64,
    pub status: RuleStatus,
    /// Stamped by the Skillhub when the rule is added.
    pub created_in_version: u64,
    pub provenance: Provenance,
}

impl Rule {
    pub fn is_active(&self) -> bool {
        matches!(self.status, RuleStatus::Active)
    }

    /// True when the rule cites background knowledge only, no experiment.
    pub fn is_prior_only(&self) -> bool {
        self.evidence.iter().all(|e| e.starts_with(PRIOR_EVIDENCE_PREFIX))
    }
}

/// A configuration that did well, kept to warm-start the optimiser.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EliteConfig {
    pub experiment_id: String,
    /// The task's scalar objective ([`crate::TaskSpec::score`]) in that experiment.
    pub score_pct: f64,
    pub config: Configuration,
}

/// Structured priors for the built-in strategies.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Priors {
    /// Per-parameter importance for the objective: non-negative, larger = matters more.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sensitivity: BTreeMap<String, f64>,
    /// Narrowed `(min, max)` per float or int parameter, inside the requirement bounds.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub region: BTreeMap<String, (f64, f64)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub elites: Vec<EliteConfig>,
    /// What the task's runs measured, at most [`MAX_PRIOR_READS`], newest run first: the
    /// shape of the landscape (objective and every guardrail) for a later run to start
    /// its surrogates from when the model or the traffic has changed since.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reads: Vec<PriorRead>,
}

/// Reads a skill keeps: about three runs of 8 rounds x 4 arms.
pub const MAX_PRIOR_READS: usize = 96;

/// One measured configuration: its score and every metric's lift against the
/// production baseline of the experiment that read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriorRead {
    pub experiment_id: String,
    pub config: Configuration,
    /// The task's scalar objective ([`crate::TaskSpec::score`]), %.
    pub score_pct: f64,
    /// Lift against the baseline per metric, %.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub lifts_pct: BTreeMap<String, f64>,
}

impl Skill {
    /// The full search space of the requirement.
    pub fn space(&self) -> Space {
        Space::new(self.requirement.params.clone())
    }

    /// The search space with narrowed regions applied and baselines moved to the
    /// initial configuration, for strategies that should search where the skill says.
    pub fn narrowed_space(&self) -> Space {
        let params = self.requirement.params.iter().map(|p| self.narrow_param(p)).collect();
        Space::new(params)
    }

    fn narrow_param(&self, p: &ParamSpec) -> ParamSpec {
        let mut out = p.clone();
        if let Some(v) = self.initial_config.config.get(&p.name) {
            out.baseline = v.clone();
        }
        if let Some(&(lo, hi)) = self.priors.region.get(&p.name) {
            out.kind = match out.kind {
                ParamKind::Float { .. } => ParamKind::Float { min: lo, max: hi },
                ParamKind::Int { .. } => ParamKind::Int { min: lo as i64, max: hi as i64 },
                other => other,
            };
        }
        out
    }

    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    pub fn active_rules(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter().filter(|r| r.is_active())
    }

    /// Checks every invariant a stored skill keeps. Patches are validated against
    /// this after they are applied, so a new kind of patch cannot break a skill.
    pub fn validate(&self) -> Result<(), PatchError> {
        let invalid = |field: &str, problem: String| PatchError::InvalidSkill {
            task_id: self.task_id.clone(),
            field: field.to_string(),
            problem,
        };
        if self.task_id.trim().is_empty() || self.task_id.contains('\0') {
            return Err(invalid("task_id", "use a non-empty name without NUL bytes".into()));
        }
        if self.version == 0 {
            return Err(invalid("version", "versions start at 1".into()));
        }
        self.validate_requirement().map_err(|p| invalid("requirement.params", p))?;
        self.validate_north_star().map_err(|p| invalid("north_star", p))?;
        self.space().check(&self.initial_config.config).map_err(|e| invalid("initial_config.config", e.to_string()))?;
        if self.initial_config.source.trim().is_empty() {
            return Err(invalid("initial_config.source", "say where the configuration came from".into()));
        }
        self.validate_rules()?;
        self.validate_tools().map_err(|p| invalid("tools", p))?;
        self.validate_priors()
    }

    fn validate_requirement(&self) -> Result<(), String> {
        if self.requirement.params.is_empty() {
            return Err("list at least one free parameter".into());
        }
        let mut seen = BTreeSet::new();
        for p in &self.requirement.params {
            if !seen.insert(p.name.as_str()) {
                return Err(format!("parameter `{}` is listed twice", p.name));
            }
            p.validate().map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn validate_north_star(&self) -> Result<(), String> {
        if self.north_star.objectives.is_empty() {
            return Err("name at least one objective metric".into());
        }
        match self.north_star.objectives.iter().find(|o| !(o.weight.is_finite() && o.weight > 0.0)) {
            Some(o) => Err(format!("objective `{}` has weight {}; use a finite weight > 0", o.metric, o.weight)),
            None => Ok(()),
        }
    }

    fn validate_rules(&self) -> Result<(), PatchError> {
        let mut seen = BTreeSet::new();
        for rule in &self.rules {
            if !seen.insert(rule.id.as_str()) {
                return Err(PatchError::DuplicateRule { rule_id: rule.id.clone() });
            }
            crate::invariants::check_rule(self, rule)?;
        }
        Ok(())
    }

    fn validate_tools(&self) -> Result<(), String> {
        let mut seen = BTreeSet::new();
        for t in &self.tools {
            if t.trim().is_empty() {
                return Err("a tool name is empty".into());
            }
            if !seen.insert(t.as_str()) {
                return Err(format!("tool `{t}` is listed twice"));
            }
        }
        Ok(())
    }

    fn validate_priors(&self) -> Result<(), PatchError> {
        crate::invariants::check_sensitivity(self, &self.priors.sensitivity)?;
        crate::invariants::check_elites(self, &self.priors.elites)?;
        crate::invariants::check_reads(self, &self.priors.reads)?;
        for (name, &(min, max)) in &self.priors.region {
            crate::invariants::check_region(self, name, min, max)?;
        }
        Ok(())
    }
}
