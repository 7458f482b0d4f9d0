//! The Cost agent: an extra reviewer (see [`crate::veto`]) that vetoes candidates whose
//! predicted serving latency exceeds a budget, before anything is launched.
//!
//! The prediction is a cost model of the serving cascade: a fixed cost plus, for each
//! parameter that drives work, milliseconds per unit of its value, optionally only while
//! other parameters take given values (MMR's pairwise comparisons cost only when the
//! re-ranker runs MMR). Parameters the task does not tune take their production value.
//! An operator fits the table from load tests of their stack; the defaults in
//! `config/default.toml` describe the built-in simulator's cascade, where the ranking
//! model scores `prerank.top_k` items and the re-ranker works through `rank.top_k`.
//!
//! Switched on by configuration alone: `[agents.cost] enabled = true` (and a
//! `latency_budget_ms`).

use crate::agent::{AgentError, AgentHandle};
use crate::veto::{Vet, Veto};
use actix::prelude::*;
use serde::{Deserialize, Serialize};
use skillhub::{Configuration, TaskSpec, Value};
use std::collections::BTreeMap;
use tracing::{info, info_span};

/// `[agents.cost]`: the latency budget and the cost model that predicts latency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostSettings {
    /// Off by default: the run then has no Cost agent at all.
    #[serde(default)]
    pub enabled: bool,
    /// Candidates predicted slower than this are vetoed.
    #[serde(default = "default_budget")]
    pub latency_budget_ms: f64,
    /// Latency that does not depend on any parameter (retrieval, network, features).
    #[serde(default = "default_base")]
    pub base_ms: f64,
    #[serde(default = "default_terms")]
    pub terms: Vec<CostTerm>,
    /// Production values of the parameters the terms read, for tasks that do not tune them.
    #[serde(default = "default_production")]
    pub production: Configuration,
}

/// `ms_per_unit` milliseconds per unit of `param`, while every parameter in `when` has
/// the value given there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostTerm {
    pub param: String,
    pub ms_per_unit: f64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub when: Configuration,
}

fn default_budget() -> f64 {
    75.0
}

fn default_base() -> f64 {
    30.0
}

fn term(param: &str, ms_per_unit: f64, when: &[(&str, &str)]) -> CostTerm {
    let when = when.iter().map(|(p, v)| (p.to_string(), Value::Str(v.to_string()))).collect();
    CostTerm { param: param.into(), ms_per_unit, when }
}

fn default_terms() -> Vec<CostTerm> {
    vec![
        term("prerank.top_k", 0.1, &[]),
        term("rank.top_k", 0.45, &[]),
        term("rank.top_k", 0.06, &[("rerank.policy", "mmr")]),
    ]
}

fn default_production() -> Configuration {
    [
        ("prerank.top_k", Value::Num(200.0)),
        ("rank.top_k", Value::Num(40.0)),
        ("rerank.policy", Value::Str("mmr".into())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

impl Default for CostSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            latency_budget_ms: default_budget(),
            base_ms: default_base(),
            terms: default_terms(),
            production: default_production(),
        }
    }
}

impl CostSettings {
    /// The value the cascade would run with: the candidate's, else production's.
    fn value<'a>(&'a self, cfg: &'a Configuration, param: &str) -> Option<&'a Value> {
        cfg.get(param).or_else(|| self.production.get(param))
    }

    /// Predicted mean serving latency of `cfg`, in ms.
    pub fn predict_ms(&self, cfg: &Configuration) -> Result<f64, String> {
        let mut ms = self.base_ms;
        for t in &self.terms {
            if !t.when.iter().all(|(p, v)| self.value(cfg, p) == Some(v)) {
                continue;
            }
            let x = self.value(cfg, &t.param).and_then(Value::as_f64).ok_or_else(|| {
                format!("agents.cost: `{}` has no numeric value in the candidate or in agents.cost.production", t.param)
            })?;
            ms += t.ms_per_unit * x;
        }
        Ok(ms)
    }

    /// Checks the model on its own and against the task: finite non-negative costs, a
    /// positive budget, and a value for every parameter a term reads.
    pub fn validate(&self, task: &TaskSpec) -> Result<(), String> {
        if !(self.latency_budget_ms.is_finite() && self.latency_budget_ms > 0.0) {
            return Err(format!(
                "agents.cost.latency_budget_ms is {}: use a positive number of milliseconds, e.g. 75",
                self.latency_budget_ms
            ));
        }
        if !(self.base_ms.is_finite() && self.base_ms >= 0.0) {
            return Err(format!("agents.cost.base_ms is {}: use a finite value >= 0", self.base_ms));
        }
        let space = task.space();
        for t in &self.terms {
            if !(t.ms_per_unit.is_finite() && t.ms_per_unit >= 0.0) {
                return Err(format!(
                    "agents.cost.terms: `{}` costs {} ms per unit: use a finite value >= 0",
                    t.param, t.ms_per_unit
                ));
            }
            for p in std::iter::once(&t.param).chain(t.when.keys()) {
                if space.get(p).is_none() && !self.production.contains_key(p) {
                    return Err(format!(
                        "agents.cost.terms: `{p}` is neither a parameter of task `{}` nor in agents.cost.production; \
                         add its production value there",
                        task.id
                    ));
                }
            }
        }
        self.predict_ms(&task.baseline()).map(|_| ())
    }

    /// A veto for every candidate predicted over the budget (or not predictable).
    pub fn vet(&self, candidates: &[crate::protocol::Candidate]) -> Vec<Veto> {
        let budget = self.latency_budget_ms;
        candidates
            .iter()
            .filter_map(|c| {
                let reason = match self.predict_ms(&c.config) {
                    Ok(ms) if ms <= budget => {
                        info!(candidate = %c.id, predicted_ms = ms, budget_ms = budget, "within the latency budget");
                        return None;
                    }
                    Ok(ms) => format!("predicted serving latency {ms:.1} ms exceeds the budget of {budget} ms"),
                    Err(e) => format!("cannot predict its latency: {e}"),
                };
                Some(Veto { candidate_id: c.id.clone(), reason })
            })
            .collect()
    }
}

pub struct CostAgent {
    settings: CostSettings,
    handle: AgentHandle,
}

impl CostAgent {
    pub fn new(settings: CostSettings, handle: AgentHandle) -> Self {
        Self { settings, handle }
    }
}

impl Actor for CostAgent {
    type Context = Context<Self>;
    fn started(&mut self, _: &mut Context<Self>) {
        info!(agent = "cost", budget_ms = self.settings.latency_budget_ms, "agent started");
    }
}

impl Supervised for CostAgent {
    fn restarting(&mut self, _: &mut Context<Self>) {
        self.handle.stats.restarted();
        info!(agent = "cost", "agent restarting; it keeps no state");
    }
}

impl Handler<Vet> for CostAgent {
    type Result = Result<Vec<Veto>, AgentError>;

    /// Cheap arithmetic: answered on the agent's own thread.
    fn handle(&mut self, msg: Vet, ctx: &mut Context<Self>) -> Self::Result {
        let span = info_span!("message", agent = "cost", kind = "Vet", round = %msg.round);
        if let Some(e) = self.handle.crash(msg.round.round, "cost", "Vet", &span, ctx) {
            return Err(e);
        }
        Ok(span.in_scope(|| self.settings.vet(&msg.accepted)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Candidate, Origin, RoundRef};
    use std::sync::Arc;

    fn cfg(pairs: &[(&str, Value)]) -> Configuration {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    fn candidate(id: &str, top_k: f64) -> Candidate {
        Candidate {
            id: id.into(),
            config: cfg(&[("prerank.top_k", Value::Num(top_k)), ("prerank.w_ctr", Value::Num(1.0))]),
            hypothesis: String::new(),
            origin: Origin::Optimizer,
        }
    }

    fn task() -> TaskSpec {
        serde_json::from_value(serde_json::json!({
            "id": "t",
            "params": [{"name": "prerank.top_k", "type": "int", "min": 50, "max": 400, "baseline": 200}],
            "objectives": [{"metric": "sessions", "direction": "maximize"}],
            "budget": {"rounds": 1, "arms_per_round": 2, "units_per_arm": 1000}
        }))
        .expect("task")
    }

    #[test]
    fn the_default_model_predicts_the_production_cascade_and_grows_with_the_cut_offs() {
        let m = CostSettings::default();
        // 30 + 0.1 * 200 + 0.45 * 40 + 0.06 * 40 (MMR) = 70.4 ms.
        assert!((m.predict_ms(&Configuration::new()).unwrap() - 70.4).abs() < 1e-9);
        let wider = cfg(&[("prerank.top_k", Value::Num(300.0))]);
        assert!((m.predict_ms(&wider).unwrap() - 80.4).abs() < 1e-9);
        let no_mmr = cfg(&[("rerank.policy", Value::Str("window".into())), ("rank.top_k", Value::Num(100.0))]);
        assert!((m.predict_ms(&no_mmr).unwrap() - (30.0 + 20.0 + 45.0)).abs() < 1e-9);
    }

    #[test]
    fn candidates_over_the_budget_are_vetoed_with_the_prediction() {
        let m = CostSettings { latency_budget_ms: 72.0, ..Default::default() };
        let vetoes = m.vet(&[candidate("fast", 150.0), candidate("edge", 216.0), candidate("slow", 300.0)]);
        assert_eq!(vetoes.iter().map(|v| v.candidate_id.as_str()).collect::<Vec<_>>(), ["slow"]);
        assert!(vetoes[0].reason.contains("80.4 ms exceeds the budget of 72 ms"), "{}", vetoes[0].reason);
    }

    #[test]
    fn a_parameter_without_a_value_is_a_configuration_error_and_unpredictable_candidates_are_vetoed() {
        let mut m = CostSettings::default();
        m.terms.push(CostTerm { param: "rerank.category_cap".into(), ms_per_unit: 1.0, when: Default::default() });
        let err = m.validate(&task()).unwrap_err();
        assert!(err.contains("`rerank.category_cap`") && err.contains("agents.cost.production"), "{err}");
        let vetoes = m.vet(&[candidate("c", 100.0)]);
        assert!(vetoes[0].reason.starts_with("cannot predict its latency"), "{}", vetoes[0].reason);
        assert!(CostSettings::default().validate(&task()).is_ok());
        let bad = CostSettings { latency_budget_ms: f64::NAN, ..Default::default() };
        assert!(bad.validate(&task()).unwrap_err().contains("latency_budget_ms"));
    }

    #[test]
    fn the_settings_read_with_defaults_and_refuse_unknown_fields() {
        let s: CostSettings =
            serde_json::from_str(r#"{"enabled": true, "latency_budget_ms": 72.5}"#).expect("settings");
        assert!(s.enabled);
        assert_eq!(s.latency_budget_ms, 72.5);
        assert_eq!(s.terms, default_terms());
        assert!(serde_json::from_str::<CostSettings>(r#"{"budget": 3}"#).is_err(), "unknown fields are refused");
    }

    #[actix_rt::test]
    async fn the_agent_answers_vet_and_survives_an_injected_crash_under_supervision() {
        let handle = AgentHandle { chaos: crate::agent::Chaos::at_round(Some(1)), ..Default::default() };
        let settings = CostSettings { latency_budget_ms: 72.0, ..Default::default() };
        let h = handle.clone();
        let agent = Supervisor::start(move |_| CostAgent::new(settings.clone(), h.clone()));
        let msg = Vet {
            task: Arc::new(task()),
            round: RoundRef { task_id: "t".into(), round: 1 },
            accepted: vec![candidate("fast", 100.0), candidate("slow", 390.0)],
        };
        let crashed = agent.send(msg.clone()).await.expect("delivered");
        assert!(matches!(crashed, Err(AgentError::Crashed { .. })));
        let mut answer = None;
        for _ in 0..50 {
            if let Ok(a) = agent.send(msg.clone()).await {
                answer = Some(a);
                break;
            }
            actix_rt::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let vetoes = answer.expect("the supervisor restarted the agent").expect("answered");
        assert_eq!(vetoes.iter().map(|v| v.candidate_id.as_str()).collect::<Vec<_>>(), ["slow"]);
        assert_eq!(handle.stats.restarts(), 1);
    }
}
