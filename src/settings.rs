//! Layered configuration: embedded defaults, then a task file, then environment
//! variables `RECTUNE__SECTION__KEY`, then command-line flags; parsed once into typed
//! settings and validated, with errors that name the field and the fix.

use agents::actor::ActorReasoning;
use agents::critic::CriticSettings;
use agents::llm::LlmSettings;
use agents::online::OnlineSettings;
use agents::reasoning::config::AgentLlmConfig;
use agents::reasoning::{Reasoning, ReasoningError, WithReasoning};
use agents::strategy::learning::LearningSettings;
use agents::strategy::memory::InsightSettings;
use config::{Config, Environment, File, FileFormat};
use serde::{Deserialize, Serialize};
use skillhub::TaskSpec;
use std::path::{Path, PathBuf};

pub const DEFAULTS: &str = include_str!("../config/default.toml");
/// The task `rectune run` tunes when no `--task` is given.
pub const DEFAULT_TASK: &str = include_str!("../config/tasks/rank-fusion.toml");

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub run: RunSettings,
    pub platform: PlatformSettings,
    pub agents: AgentSettings,
    #[serde(default)]
    pub chaos: ChaosSettings,
    /// The live-state endpoint (`/status`, `/metrics`, approvals) while a run goes.
    #[serde(default)]
    pub status: crate::status::StatusSettings,
    /// Restart limits, backoff and the graceful-stop grace period.
    #[serde(default)]
    pub supervision: agents::board::SupervisionSettings,
    /// The model every agent with `reasoning = "llm"` (or "hybrid") uses unless it has an
    /// `llm` table of its own. Absent: no agent may ask for a model.
    #[serde(default)]
    pub llm: Option<LlmSettings>,
    pub task: TaskSpec,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSettings {
    pub db: PathBuf,
    pub seed: u64,
    pub log_file: PathBuf,
    pub log_stderr: bool,
    pub step_timeout_s: u64,
    pub proposal_factor: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlatformKind {
    /// The built-in simulator, in process.
    Sim,
    /// Any server speaking the experiment platform contract, at `platform.http.url`.
    Http,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformSettings {
    pub kind: PlatformKind,
    pub scenario: String,
    pub model_version: String,
    #[serde(default)]
    pub http: agents::platform::HttpPlatformSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActorSettings {
    pub reasoning: ActorReasoning,
    /// The Actor's own model, in place of the shared `[llm]` table.
    #[serde(default)]
    pub llm: Option<LlmSettings>,
    /// A prompt template replacing the embedded `agents/prompts/actor.md`.
    #[serde(default)]
    pub prompt: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSettings {
    pub actor: ActorSettings,
    /// Each with `reasoning = "builtin" | "llm"` and optional `llm` and `prompt` keys.
    pub critic: WithReasoning<CriticSettings>,
    pub online: WithReasoning<OnlineSettings>,
    pub insight: WithReasoning<InsightSettings>,
    pub skill: WithReasoning<LearningSettings>,
    /// The optional Cost agent (an extra reviewer between the Critic and the Online agent).
    #[serde(default)]
    pub cost: agents::cost::CostSettings,
}

/// Crash `agent` once while it handles `round`'s message (supervision rehearsal).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChaosSettings {
    pub agent: Option<String>,
    pub round: Option<u32>,
    /// Crash that many times at that round (default once), to rehearse an agent that
    /// keeps failing.
    pub times: Option<u32>,
}

/// Values given on the command line; they override every other layer.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub task_file: Option<PathBuf>,
    /// A configuration file layered over the task file (e.g. config/llm-local.toml).
    pub config_file: Option<PathBuf>,
    pub db: Option<PathBuf>,
    pub seed: Option<u64>,
    pub rounds: Option<u32>,
    pub log_file: Option<PathBuf>,
    /// Base URL of an HTTP platform; switches `platform.kind` to `http`.
    pub platform_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("task file `{0}` not found: pass an existing file to --task (examples are in config/tasks/)")]
    MissingTaskFile(PathBuf),
    #[error("configuration file `{0}` not found: pass an existing file to --config (e.g. config/llm-local.toml)")]
    MissingConfigFile(PathBuf),
    #[error("`{path}` is not valid TOML: {reason}")]
    Malformed { path: PathBuf, reason: String },
    #[error("configuration: {0}")]
    Invalid(String),
    #[error("{0}")]
    Task(#[from] skillhub::TaskError),
    #[error("{field} is {value}: {fix}")]
    Field { field: &'static str, value: String, fix: &'static str },
    #[error(transparent)]
    Reasoning(#[from] ReasoningError),
}

fn one_line(s: impl std::fmt::Display) -> String {
    s.to_string().split_whitespace().collect::<Vec<_>>().join(" ")
}

fn task_source(path: &Option<PathBuf>) -> Result<File<config::FileSourceString, FileFormat>, SettingsError> {
    let Some(path) = path else { return Ok(File::from_str(DEFAULT_TASK, FileFormat::Toml)) };
    if !path.is_file() {
        return Err(SettingsError::MissingTaskFile(path.clone()));
    }
    toml_source(path)
}

/// `--config FILE`: an extra layer over the task file, checked like one.
fn config_source(path: &Path) -> Result<File<config::FileSourceString, FileFormat>, SettingsError> {
    if !path.is_file() {
        return Err(SettingsError::MissingConfigFile(path.to_path_buf()));
    }
    toml_source(path)
}

fn toml_source(path: &Path) -> Result<File<config::FileSourceString, FileFormat>, SettingsError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| SettingsError::Malformed { path: path.to_path_buf(), reason: one_line(e) })?;
    toml::from_str::<toml::Table>(&text)
        .map_err(|e| SettingsError::Malformed { path: path.to_path_buf(), reason: one_line(e) })?;
    Ok(File::from_str(&text, FileFormat::Toml))
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// One agent's model configuration as written under `[agents.<agent>]`.
fn agent_llm<'a, S>(
    agent: &'static str,
    w: &'a WithReasoning<S>,
    shared: Option<&'a LlmSettings>,
) -> AgentLlmConfig<'a> {
    AgentLlmConfig {
        agent,
        mode: match w.reasoning {
            Reasoning::Builtin => "builtin",
            Reasoning::Llm => "llm",
        },
        uses_llm: w.reasoning == Reasoning::Llm,
        own: w.llm.as_ref(),
        shared,
        prompt: w.prompt.as_deref(),
    }
}

impl Settings {
    /// How each agent thinks, with the model settings in force for it, in
    /// [`crate::runtime::AGENT_NAMES`] order.
    pub fn reasoning(&self) -> [AgentLlmConfig<'_>; 5] {
        let (a, shared) = (&self.agents, self.llm.as_ref());
        [
            AgentLlmConfig {
                agent: "actor",
                mode: a.actor.reasoning.as_str(),
                uses_llm: a.actor.reasoning.uses_llm(),
                own: a.actor.llm.as_ref(),
                shared,
                prompt: a.actor.prompt.as_deref(),
            },
            agent_llm("critic", &a.critic, shared),
            agent_llm("online", &a.online, shared),
            agent_llm("insight", &a.insight, shared),
            agent_llm("skill", &a.skill, shared),
        ]
    }

    pub fn load(o: &Overrides) -> Result<Settings, SettingsError> {
        let invalid = |e: config::ConfigError| SettingsError::Invalid(one_line(e));
        let mut b = Config::builder()
            .add_source(File::from_str(DEFAULTS, FileFormat::Toml))
            .add_source(task_source(&o.task_file)?);
        if let Some(path) = &o.config_file {
            b = b.add_source(config_source(path)?);
        }
        b = b.add_source(Environment::with_prefix("RECTUNE").prefix_separator("__").separator("__").try_parsing(true));
        if let Some(db) = &o.db {
            b = b.set_override("run.db", path_str(db)).map_err(invalid)?;
        }
        if let Some(seed) = o.seed {
            b = b.set_override("run.seed", seed).map_err(invalid)?;
        }
        if let Some(rounds) = o.rounds {
            b = b.set_override("task.budget.rounds", u64::from(rounds)).map_err(invalid)?;
        }
        if let Some(log) = &o.log_file {
            b = b.set_override("run.log_file", path_str(log)).map_err(invalid)?;
        }
        if let Some(url) = &o.platform_url {
            b = b.set_override("platform.kind", "http").map_err(invalid)?;
            b = b.set_override("platform.http.url", url.as_str()).map_err(invalid)?;
        }
        let s: Settings = b.build().map_err(invalid)?.try_deserialize().map_err(invalid)?;
        s.validate()?;
        Ok(s)
    }

    /// Checks what serde cannot: ranges and cross-field rules.
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.task.validate(None)?;
        let online = &self.agents.online;
        let checks: [(bool, &'static str, String, &'static str); 5] = [
            (
                online.confidence > 0.5 && online.confidence < 1.0,
                "agents.online.confidence",
                online.confidence.to_string(),
                "use a value in (0.5, 1), e.g. 0.95",
            ),
            (
                online.power > 0.0 && online.power < 1.0,
                "agents.online.power",
                online.power.to_string(),
                "use a value in (0, 1), e.g. 0.8",
            ),
            (
                online.mde_pct > 0.0,
                "agents.online.mde_pct",
                online.mde_pct.to_string(),
                "use a positive percentage, e.g. 0.5",
            ),
            (
                self.run.proposal_factor >= 1.0 && self.run.proposal_factor <= 10.0,
                "run.proposal_factor",
                self.run.proposal_factor.to_string(),
                "use a value in [1, 10]",
            ),
            (
                self.chaos.agent.as_deref().is_none_or(|a| {
                    crate::runtime::AGENT_NAMES.contains(&a) || (a == "cost" && self.agents.cost.enabled)
                }),
                "chaos.agent",
                format!("{:?}", self.chaos.agent),
                "name one of actor, critic, online, insight, skill (or cost, with agents.cost.enabled)",
            ),
        ];
        for (ok, field, value, fix) in checks {
            if !ok {
                return Err(SettingsError::Field { field, value, fix });
            }
        }
        if self.agents.cost.enabled {
            self.agents.cost.validate(&self.task).map_err(SettingsError::Invalid)?;
        }
        crate::status::check(&self.status).map_err(|e| SettingsError::Invalid(e.to_string()))?;
        // Models, keys and prompts are checked before any work, so a missing key is a
        // one-line error now rather than a fallback in every step later.
        for agent in self.reasoning() {
            agent.check()?;
        }
        let risk = self.agents.critic.guardrail_risk_threshold;
        if !(0.0..=1.0).contains(&risk) {
            return Err(SettingsError::Field {
                field: "agents.critic.guardrail_risk_threshold",
                value: risk.to_string(),
                fix: "use a probability in [0, 1]",
            });
        }
        Ok(())
    }
}
