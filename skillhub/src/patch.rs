//! SkillPatch: the only way a skill changes.
//!
//! [`SkillPatch::apply`] is pure (no clock, no I/O), because the store runs it inside
//! a sled transaction that may retry it on conflict. It validates the patch, applies
//! it, bumps the version and re-checks every skill invariant on the result.

use crate::invariants::{check_elites, check_reads, check_region, check_rule, check_sensitivity, region_contains};
use crate::skill::{EliteConfig, InitialConfig, PriorRead, Provenance, Rule, RuleStatus, Skill};
use crate::space::{Configuration, SpaceError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One change to one skill, with why and by whom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkillPatch {
    /// Idempotency id, e.g. `rank-fusion/r3/p1`: a patch id is applied at most once.
    pub id: String,
    pub task_id: String,
    pub reason: String,
    pub author: Provenance,
    pub op: PatchOp,
}

/// What a patch does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PatchOp {
    /// Make a new skill at version 1; boxed because a skill dwarfs the other ops.
    Create(Box<Skill>),
    /// Add a rule; the Skillhub stamps `created_in_version`.
    AppendRule(Rule),
    RetireRule {
        rule_id: String,
        reason: String,
    },
    /// Set the search region of a float or int parameter (replacing an earlier one).
    NarrowSpace {
        parameter: String,
        min: f64,
        max: f64,
    },
    /// Ship a new starting configuration. Regions that no longer contain it are
    /// dropped: a region that excludes the best known configuration is stale.
    SetBaseline {
        config: Configuration,
        source: String,
    },
    /// Replace the sensitivity, elite and read priors (the region is kept).
    SetPriors {
        sensitivity: BTreeMap<String, f64>,
        elites: Vec<EliteConfig>,
        /// Absent in patches written before reads were kept: those leave them as they are.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reads: Option<Vec<PriorRead>>,
    },
    /// Stop serving the skill for tuning; no later patch is accepted.
    Deprecate,
}

impl PatchOp {
    /// A short name for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            PatchOp::Create(_) => "create",
            PatchOp::AppendRule(_) => "append_rule",
            PatchOp::RetireRule { .. } => "retire_rule",
            PatchOp::NarrowSpace { .. } => "narrow_space",
            PatchOp::SetBaseline { .. } => "set_baseline",
            PatchOp::SetPriors { .. } => "set_priors",
            PatchOp::Deprecate => "deprecate",
        }
    }
}

/// Why a patch was rejected, naming the field and the fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PatchError {
    #[error("patch.id is empty: give the patch an idempotency id such as \"rank-fusion/r3/p1\"")]
    EmptyId,
    #[error("patch `{patch_id}`.reason is empty: say why the skill should change")]
    EmptyReason { patch_id: String },
    #[error("patch.author needs an agent and a model (\"builtin\" or a model name)")]
    NoAuthor,
    #[error(
        "patch.task_id is `{patch_task}` but the skill is `{skill_task}`: address the patch to the skill it changes"
    )]
    TaskMismatch { patch_task: String, skill_task: String },
    #[error("skill `{task_id}` already exists at version {version}: Create only makes new skills; change it with another op")]
    AlreadyExists { task_id: String, version: u64 },
    #[error("no skill for task `{task_id}`: send a Create patch first")]
    NoSkill { task_id: String },
    #[error("skill `{task_id}` was deprecated at version {version}: create a skill under a new task id instead")]
    Deprecated { task_id: String, version: u64 },
    #[error("skill `{task_id}`.{field}: {problem}")]
    InvalidSkill { task_id: String, field: String, problem: String },
    #[error("rule `{rule_id}`.{field} {problem}")]
    InvalidRule { rule_id: String, field: &'static str, problem: String },
    #[error("rule id `{rule_id}` is already used in this skill (possibly by a retired rule): pick a new id")]
    DuplicateRule { rule_id: String },
    #[error("no rule `{rule_id}` in this skill: retire one of the skill's rule ids")]
    UnknownRule { rule_id: String },
    #[error("rule `{rule_id}` is already retired: there is nothing to retire")]
    RuleNotActive { rule_id: String },
    #[error("{field}: parameter `{parameter}` is not in the skill's search space (known: {known})")]
    UnknownParameter { field: &'static str, parameter: String, known: String },
    #[error("narrow `{parameter}` to [{min}, {max}]: {problem}")]
    Narrow { parameter: String, min: f64, max: f64, problem: String },
    #[error("set_baseline.config: {0}; assign every parameter of the search space, in range, and nothing else")]
    Baseline(SpaceError),
    #[error("set_baseline.source is empty: name the production baseline or the experiment and round that shipped it")]
    EmptySource,
    #[error("priors.{field} {problem}")]
    InvalidPriors { field: String, problem: String },
}

impl SkillPatch {
    pub fn new(
        id: impl Into<String>,
        task_id: impl Into<String>,
        reason: impl Into<String>,
        author: Provenance,
        op: PatchOp,
    ) -> Self {
        Self { id: id.into(), task_id: task_id.into(), reason: reason.into(), author, op }
    }

    /// Creates `skill` as its version 1, with the id `create/<task_id>` so that a
    /// runtime creating the skill of a new task on every start creates it once.
    pub fn create(skill: Skill, author: Provenance) -> Self {
        let (id, task) = (format!("create/{}", skill.task_id), skill.task_id.clone());
        Self::new(id, task, "first run of a task without a skill", author, PatchOp::Create(Box::new(skill)))
    }

    /// The Create patch of a seed skill, with the id `seed/<task_id>`.
    pub fn seed(skill: Skill) -> Self {
        let (id, task) = (format!("seed/{}", skill.task_id), skill.task_id.clone());
        let reason = "seed skill: industry practice to start from";
        Self::new(id, task, reason, Provenance::seed(), PatchOp::Create(Box::new(skill)))
    }

    /// The skill after this patch, or why the patch cannot apply to `current`.
    pub fn apply(&self, current: Option<&Skill>) -> Result<Skill, PatchError> {
        self.check_envelope()?;
        let next = match (current, &self.op) {
            (None, PatchOp::Create(skill)) => self.create_skill(skill)?,
            (None, _) => return Err(PatchError::NoSkill { task_id: self.task_id.clone() }),
            (Some(cur), _) => self.change(cur)?,
        };
        next.validate()?;
        Ok(next)
    }

    fn check_envelope(&self) -> Result<(), PatchError> {
        if self.id.trim().is_empty() {
            return Err(PatchError::EmptyId);
        }
        if self.reason.trim().is_empty() {
            return Err(PatchError::EmptyReason { patch_id: self.id.clone() });
        }
        if self.author.agent.trim().is_empty() || self.author.model.trim().is_empty() {
            return Err(PatchError::NoAuthor);
        }
        Ok(())
    }

    fn check_target(&self, skill: &Skill) -> Result<(), PatchError> {
        if skill.task_id != self.task_id {
            return Err(PatchError::TaskMismatch {
                patch_task: self.task_id.clone(),
                skill_task: skill.task_id.clone(),
            });
        }
        Ok(())
    }

    fn create_skill(&self, skill: &Skill) -> Result<Skill, PatchError> {
        self.check_target(skill)?;
        let mut next = skill.clone();
        next.version = 1;
        next.deprecated = false;
        for rule in &mut next.rules {
            rule.created_in_version = 1;
        }
        for rule in &next.rules {
            self.check_rule_author(rule)?;
        }
        Ok(next)
    }

    fn change(&self, current: &Skill) -> Result<Skill, PatchError> {
        self.check_target(current)?;
        let mut next = current.clone();
        next.version = current.version + 1;
        match &self.op {
            PatchOp::Create(_) => {
                return Err(PatchError::AlreadyExists { task_id: current.task_id.clone(), version: current.version })
            }
            _ if current.deprecated => {
                return Err(PatchError::Deprecated { task_id: current.task_id.clone(), version: current.version })
            }
            PatchOp::AppendRule(rule) => self.append_rule(&mut next, rule)?,
            PatchOp::RetireRule { rule_id, reason } => retire_rule(&mut next, rule_id, reason)?,
            PatchOp::NarrowSpace { parameter, min, max } => {
                check_region(&next, parameter, *min, *max)?;
                next.priors.region.insert(parameter.clone(), (*min, *max));
            }
            PatchOp::SetBaseline { config, source } => set_baseline(&mut next, config, source)?,
            PatchOp::SetPriors { sensitivity, elites, reads } => {
                check_sensitivity(&next, sensitivity)?;
                check_elites(&next, elites)?;
                next.priors.sensitivity = sensitivity.clone();
                next.priors.elites = elites.clone();
                if let Some(reads) = reads {
                    check_reads(&next, reads)?;
                    next.priors.reads = reads.clone();
                }
            }
            PatchOp::Deprecate => next.deprecated = true,
        }
        Ok(next)
    }

    /// Background knowledge enters only through seeds: an agent quoting a rule's
    /// provenance as "seed" must not smuggle unmeasured rules in.
    fn check_rule_author(&self, rule: &Rule) -> Result<(), PatchError> {
        let cites_prior = rule.evidence.iter().any(|e| e.starts_with(crate::skill::PRIOR_EVIDENCE_PREFIX));
        if cites_prior && !self.author.is_seed() {
            return Err(PatchError::InvalidRule {
                rule_id: rule.id.clone(),
                field: "evidence",
                problem: format!(
                    "cites `prior:` knowledge in a patch by agent `{}`; only seed skills may, agents must cite experiment ids",
                    self.author.agent
                ),
            });
        }
        Ok(())
    }

    fn append_rule(&self, next: &mut Skill, rule: &Rule) -> Result<(), PatchError> {
        if next.rule(&rule.id).is_some() {
            return Err(PatchError::DuplicateRule { rule_id: rule.id.clone() });
        }
        if !rule.is_active() {
            return Err(PatchError::InvalidRule {
                rule_id: rule.id.clone(),
                field: "status",
                problem: "must be active for a new rule".into(),
            });
        }
        self.check_rule_author(rule)?;
        let mut rule = rule.clone();
        rule.created_in_version = next.version;
        check_rule(next, &rule)?;
        next.rules.push(rule);
        Ok(())
    }
}

fn retire_rule(next: &mut Skill, rule_id: &str, reason: &str) -> Result<(), PatchError> {
    let rule = next
        .rules
        .iter_mut()
        .find(|r| r.id == rule_id)
        .ok_or_else(|| PatchError::UnknownRule { rule_id: rule_id.to_string() })?;
    if !rule.is_active() {
        return Err(PatchError::RuleNotActive { rule_id: rule_id.to_string() });
    }
    if reason.trim().is_empty() {
        return Err(PatchError::InvalidRule {
            rule_id: rule_id.to_string(),
            field: "status",
            problem: "retire_rule.reason is empty: say what evidence contradicted the rule".into(),
        });
    }
    rule.status = RuleStatus::Retired { reason: reason.to_string() };
    Ok(())
}

fn set_baseline(next: &mut Skill, config: &Configuration, source: &str) -> Result<(), PatchError> {
    next.space().check(config).map_err(PatchError::Baseline)?;
    if source.trim().is_empty() {
        return Err(PatchError::EmptySource);
    }
    next.initial_config = InitialConfig { source: source.to_string(), config: config.clone() };
    next.priors.region.retain(|name, region| region_contains(*region, config.get(name).and_then(|v| v.as_f64())));
    Ok(())
}
