//! How each agent is configured to think: `reasoning = "builtin" | "llm"` (the Actor also
//! has "random" and "hybrid"), an optional `llm` table of its own that falls back to the
//! shared `[llm]` table, and an optional `prompt` path replacing the embedded template.
//! Everything is checked at startup, before any work, with errors naming the field.

use super::{Prompt, PromptError, Reasoner};
use crate::llm::{client_with, CallStats, LlmError, LlmSettings, MeteredClient, RetryPolicy};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How the Critic, Insight and Skill agents think.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reasoning {
    /// The built-in strategy only.
    #[default]
    Builtin,
    /// A language model, validated, with the built-in strategy as the fallback.
    Llm,
}

/// The placeholders each agent's template may use.
pub fn placeholders_of(agent: &str) -> &'static [&'static str] {
    match agent {
        "actor" => &["task", "space", "skill", "elites", "sensitivities", "results", "constraints", "n"],
        "critic" => &["task", "space", "skill", "results", "constraints", "candidates", "arms"],
        "online" => &["task", "constraints", "arms"],
        "insight" => &["task", "skill", "elites", "sensitivities", "results", "constraints", "facts"],
        "skill" => &["task", "skill", "results", "patterns", "experiments", "constraints"],
        _ => &[],
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReasoningError {
    #[error("agents.{agent}.reasoning is \"{mode}\" but no model is configured: add an [llm] table (or [agents.{agent}.llm]) with at least model = \"...\"")]
    NoModel { agent: String, mode: String },
    #[error(transparent)]
    Llm(#[from] LlmError),
    #[error(transparent)]
    Prompt(#[from] PromptError),
}

/// One agent's model configuration as written: whether it uses a model, its own `llm`
/// table, the shared one and its prompt override.
#[derive(Debug, Clone, Copy)]
pub struct AgentLlmConfig<'a> {
    pub agent: &'static str,
    /// The `reasoning` value, for error messages.
    pub mode: &'a str,
    pub uses_llm: bool,
    pub own: Option<&'a LlmSettings>,
    pub shared: Option<&'a LlmSettings>,
    pub prompt: Option<&'a Path>,
}

impl AgentLlmConfig<'_> {
    /// The settings in force and where they live in the configuration.
    fn settings(&self) -> Result<(&LlmSettings, String), ReasoningError> {
        match (self.own, self.shared) {
            (Some(own), _) => Ok((own, format!("agents.{}.llm", self.agent))),
            (None, Some(shared)) => Ok((shared, "llm".into())),
            (None, None) => Err(ReasoningError::NoModel { agent: self.agent.into(), mode: self.mode.into() }),
        }
    }

    fn prompt(&self) -> Result<Prompt, PromptError> {
        let field = format!("agents.{}.prompt", self.agent);
        Prompt::load(self.agent, self.prompt, &field, placeholders_of(self.agent))
    }

    /// Checks settings, API key and prompt without building anything: for startup.
    pub fn check(&self) -> Result<(), ReasoningError> {
        if !self.uses_llm {
            return Ok(());
        }
        let (settings, at) = self.settings()?;
        settings.validate(&at)?;
        settings.api_key()?;
        self.prompt()?;
        Ok(())
    }
}

/// The agent's [`Reasoner`] (a metered client, its prompt, its counters), or `None` when it
/// thinks without a model.
pub fn build_reasoner(c: &AgentLlmConfig) -> Result<Option<Reasoner>, ReasoningError> {
    if !c.uses_llm {
        return Ok(None);
    }
    c.check()?;
    let (settings, _) = c.settings()?;
    let inner = client_with(settings, settings.api_key()?, RetryPolicy::from_settings(settings))?;
    let calls = CallStats::new();
    let metered = Arc::new(MeteredClient::new(c.agent, inner, calls.clone()));
    Ok(Some(Reasoner::new(c.agent, metered, c.prompt()?, calls)))
}

/// An agent's own settings `S` plus how it thinks, in one configuration table:
/// `[agents.insight] elites = 5, reasoning = "llm"` with `[agents.insight.llm]` below.
/// `S` keeps rejecting unknown fields: the three reasoning keys are taken out first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WithReasoning<S> {
    pub settings: S,
    pub reasoning: Reasoning,
    pub llm: Option<LlmSettings>,
    pub prompt: Option<PathBuf>,
}

impl<S> std::ops::Deref for WithReasoning<S> {
    type Target = S;
    fn deref(&self) -> &S {
        &self.settings
    }
}

impl<S> std::ops::DerefMut for WithReasoning<S> {
    fn deref_mut(&mut self) -> &mut S {
        &mut self.settings
    }
}

impl<'de, S: serde::de::DeserializeOwned> Deserialize<'de> for WithReasoning<S> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut map = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
        let mut take = |key: &str| map.remove(key).filter(|v| !v.is_null());
        let reasoning = take("reasoning")
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| D::Error::custom(format!("reasoning: {e}")))?;
        let llm =
            take("llm").map(serde_json::from_value).transpose().map_err(|e| D::Error::custom(format!("llm: {e}")))?;
        let prompt = take("prompt")
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| D::Error::custom(format!("prompt: {e}")))?;
        let settings = serde_json::from_value(serde_json::Value::Object(map)).map_err(D::Error::custom)?;
        Ok(WithReasoning { settings, reasoning: reasoning.unwrap_or_default(), llm, prompt })
    }
}

impl<S: Serialize> Serialize for WithReasoning<S> {
    fn serialize<Z: Serializer>(&self, s: Z) -> Result<Z::Ok, Z::Error> {
        use serde::ser::Error as _;
        let json = |v: serde_json::Result<serde_json::Value>| v.map_err(Z::Error::custom);
        let mut value = json(serde_json::to_value(&self.settings))?;
        if let Some(map) = value.as_object_mut() {
            map.insert("reasoning".into(), json(serde_json::to_value(self.reasoning))?);
            if let Some(llm) = &self.llm {
                map.insert("llm".into(), json(serde_json::to_value(llm))?);
            }
            if let Some(prompt) = &self.prompt {
                map.insert("prompt".into(), json(serde_json::to_value(prompt))?);
            }
        }
        value.serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::memory::InsightSettings;

    #[test]
    fn reasoning_keys_are_taken_out_and_the_rest_stays_strict() {
        let w: WithReasoning<InsightSettings> =
            serde_json::from_str(r#"{"elites":3,"reasoning":"llm","llm":{"model":"m"}}"#).expect("parses");
        assert_eq!((w.elites, w.reasoning), (3, Reasoning::Llm));
        assert_eq!(w.llm.as_ref().map(|l| l.model.as_str()), Some("m"));
        let back: WithReasoning<InsightSettings> =
            serde_json::from_value(serde_json::to_value(&w).expect("serialises")).expect("round trip");
        assert_eq!(serde_json::to_value(&back).ok(), serde_json::to_value(&w).ok());
        let typo = serde_json::from_str::<WithReasoning<InsightSettings>>(r#"{"elitez":3}"#).unwrap_err();
        assert!(typo.to_string().contains("elitez"), "{typo}");
        let bad = serde_json::from_str::<WithReasoning<InsightSettings>>(r#"{"reasoning":"magic"}"#).unwrap_err();
        assert!(bad.to_string().contains("magic"), "{bad}");
    }

    fn cfg<'a>(own: Option<&'a LlmSettings>, shared: Option<&'a LlmSettings>) -> AgentLlmConfig<'a> {
        AgentLlmConfig { agent: "critic", mode: "llm", uses_llm: true, own, shared, prompt: None }
    }

    #[test]
    fn an_agent_uses_its_own_table_else_the_shared_one_else_says_what_to_add() {
        let own = LlmSettings { model: "own".into(), ..LlmSettings::default() };
        let shared = LlmSettings { model: "shared".into(), temperature: 9.0, ..LlmSettings::default() };
        assert!(cfg(Some(&own), Some(&shared)).check().is_ok());
        let err = cfg(None, Some(&shared)).check().unwrap_err();
        assert_eq!(err.to_string(), "llm.temperature: 9 is outside [0, 2]");
        let none = cfg(None, None).check().unwrap_err();
        assert!(none.to_string().starts_with("agents.critic.reasoning is \"llm\" but no model is configured"));
        let builtin = AgentLlmConfig { uses_llm: false, ..cfg(None, None) };
        assert!(builtin.check().is_ok() && build_reasoner(&builtin).expect("no model needed").is_none());
    }

    #[test]
    fn gemini_without_its_key_names_the_variable_before_any_work() {
        let gemini = LlmSettings {
            backend: crate::llm::Backend::Gemini,
            model: "gemini-2.0-flash".into(),
            api_key_env: Some("RECTUNE_TEST_SURELY_UNSET_KEY".into()),
            ..LlmSettings::default()
        };
        let err = cfg(Some(&gemini), None).check().unwrap_err();
        assert_eq!(err.to_string(), "set the environment variable RECTUNE_TEST_SURELY_UNSET_KEY to your API key");
    }
}
