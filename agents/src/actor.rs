//! The Actor agent: proposes candidate configurations, each with a hypothesis.

use crate::agent::{AgentError, AgentHandle};
use crate::protocol::{Candidate, Insight, Origin, Proposal, RoundRef};
use crate::reasoning::actor::{schema_context, validate, vars, ActorAnswer};
use crate::reasoning::{ask_validated, Outcome, Reasoner};
use crate::strategy::{random, search};
use actix::prelude::*;
use serde::{Deserialize, Serialize};
use skillhub::{Configuration, Skill, TaskSpec};
use std::collections::BTreeMap;
use std::sync::Arc;
use tracing::{info, info_span, Instrument};

/// How the Actor thinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ActorReasoning {
    /// Batched constrained Bayesian optimisation, warm-started from skills.
    #[default]
    Builtin,
    /// Uniform random search, the baseline of the benchmarks.
    Random,
    /// A language model proposes; the built-in optimiser steps in when its answer is invalid.
    Llm,
    /// The optimiser and the model both propose, interleaved; the Critic picks.
    Hybrid,
}

impl ActorReasoning {
    pub fn uses_llm(self) -> bool {
        matches!(self, ActorReasoning::Llm | ActorReasoning::Hybrid)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ActorReasoning::Builtin => "builtin",
            ActorReasoning::Random => "random",
            ActorReasoning::Llm => "llm",
            ActorReasoning::Hybrid => "hybrid",
        }
    }
}

/// Coordinator → Actor: propose `n` candidates for a round.
#[derive(Message, Clone)]
#[rtype(result = "Result<Proposal, AgentError>")]
pub struct Propose {
    pub round: RoundRef,
    pub task: Arc<TaskSpec>,
    pub n: usize,
    pub incumbent: Configuration,
    pub insight: Option<Arc<Insight>>,
    pub skill: Option<Arc<Skill>>,
    pub seed: u64,
    /// The Critic's guardrail-risk threshold: proposing above it would be wasted.
    pub max_risk: f64,
}

pub struct ActorAgent {
    reasoning: ActorReasoning,
    handle: AgentHandle,
    /// The model, for the `llm` and `hybrid` modes; without one they think built-in.
    reasoner: Option<Reasoner>,
}

impl ActorAgent {
    pub fn new(reasoning: ActorReasoning, handle: AgentHandle) -> Self {
        Self { reasoning, handle, reasoner: None }
    }

    pub fn with_reasoner(mut self, reasoner: Option<Reasoner>) -> Self {
        self.reasoner = reasoner;
        self
    }
}

impl Actor for ActorAgent {
    type Context = Context<Self>;
    fn started(&mut self, _: &mut Context<Self>) {
        info!(agent = "actor", reasoning = ?self.reasoning, "agent started");
    }
}

impl Supervised for ActorAgent {
    fn restarting(&mut self, _: &mut Context<Self>) {
        self.handle.stats.restarted();
        info!(agent = "actor", "agent restarting; it keeps no state of its own");
    }
}

/// The pure part of proposing: runs on a blocking thread.
fn propose(reasoning: ActorReasoning, msg: &Propose) -> search::Batch {
    if reasoning == ActorReasoning::Random {
        return search::Batch::wide(random::suggest(&msg.task, msg.n, msg.seed));
    }
    let empty = BTreeMap::new();
    let (observations, baseline_means, sensitivity) = match &msg.insight {
        Some(i) => (i.observations.as_slice(), &i.baseline_means, &i.sensitivity),
        None => (&[][..], &empty, msg.skill.as_ref().map_or(&empty, |s| &s.priors.sensitivity)),
    };
    let region = msg.skill.as_ref().map(|s| s.priors.region.clone()).unwrap_or_default();
    let elites = msg.skill.as_ref().map_or(&[][..], |s| s.priors.elites.as_slice());
    let reads = msg.skill.as_ref().map_or(&[][..], |s| s.priors.reads.as_slice());
    search::suggest(&search::SearchInput {
        task: &msg.task,
        observations,
        baseline_means,
        incumbent: &msg.incumbent,
        sensitivity,
        region: &region,
        n: msg.n,
        seed: msg.seed,
        max_risk: msg.max_risk,
        elites,
        reads,
    })
}

/// The built-in (or random) proposals. The optimiser is CPU work: keep it off the arbiter
/// thread.
async fn builtin(reasoning: ActorReasoning, msg: Propose) -> Result<search::Batch, AgentError> {
    actix_rt::task::spawn_blocking(move || propose(reasoning, &msg))
        .await
        .map_err(|e| AgentError::Invalid(format!("proposal worker failed: {e}")))
}

/// What the mode asks for: the model's candidates (the optimiser's when the answer stays
/// invalid), both interleaved in hybrid mode, or the built-in ones.
async fn suggest(
    reasoning: ActorReasoning,
    reasoner: Option<Reasoner>,
    msg: Propose,
) -> Result<search::Batch, AgentError> {
    let Some(r) = reasoner.filter(|_| reasoning.uses_llm()) else { return builtin(reasoning, msg).await };
    if reasoning == ActorReasoning::Hybrid {
        // Both sources get seats in a round of the budget's width.
        let ours = builtin(reasoning, msg.clone()).await?.suggestions;
        let theirs = ask_model(&r, &msg).await.unwrap_or_default();
        info!(
            optimizer = ours.len(),
            model = theirs.len(),
            reason = "hybrid: both propose, the Critic picks",
            "proposals merged"
        );
        return Ok(search::Batch::wide(interleave(ours, theirs)));
    }
    match ask_model(&r, &msg).await {
        Some(theirs) => Ok(search::Batch::wide(theirs)),
        None => builtin(reasoning, msg).await,
    }
}

/// The model's validated candidates, or `None` when its answer stayed invalid (the reason
/// is logged and counted by `ask_validated`).
async fn ask_model(r: &Reasoner, msg: &Propose) -> Option<Vec<search::Suggestion>> {
    let request = r.request::<ActorAnswer>(&vars(msg), &schema_context(&msg.task, msg.n));
    let (task, n) = (msg.task.clone(), msg.n);
    match ask_validated(r, request, move |a: &ActorAnswer| validate(&task, n, a)).await {
        Outcome::Valid(answer) => Some(
            answer
                .candidates
                .into_iter()
                .map(|c| search::Suggestion { config: c.config, origin: Origin::Llm, hypothesis: c.hypothesis })
                .collect(),
        ),
        Outcome::Fallback(_) => None,
    }
}

/// a1, m1, a2, m2, ...: the Critic fills its batch in order, so both sources get seats.
fn interleave(a: Vec<search::Suggestion>, b: Vec<search::Suggestion>) -> Vec<search::Suggestion> {
    let (mut a, mut b) = (a.into_iter(), b.into_iter());
    let mut out = Vec::new();
    loop {
        match (a.next(), b.next()) {
            (None, None) => return out,
            (x, y) => out.extend(x.into_iter().chain(y)),
        }
    }
}

impl Handler<Propose> for ActorAgent {
    type Result = ResponseActFuture<Self, Result<Proposal, AgentError>>;

    fn handle(&mut self, msg: Propose, ctx: &mut Context<Self>) -> Self::Result {
        let span = info_span!("message", agent = "actor", kind = "Propose", round = %msg.round);
        if let Some(e) = self.handle.crash(msg.round.round, "actor", "Propose", &span, ctx) {
            return Box::pin(fut::ready(Err(e)));
        }
        let (reasoning, reasoner) = (self.reasoning, self.reasoner.clone());
        let work = async move {
            let round = msg.round.clone();
            let batch = suggest(reasoning, reasoner, msg).await?;
            if let Some((k, reason)) = &batch.narrow {
                info!(treatments = k, %reason, "narrow round");
            }
            let candidates: Vec<Candidate> = batch
                .suggestions
                .into_iter()
                .enumerate()
                .map(|(i, s)| Candidate {
                    id: format!("r{}-c{}", round.round, i + 1),
                    config: s.config,
                    hypothesis: s.hypothesis,
                    origin: s.origin,
                })
                .collect();
            for c in &candidates {
                info!(candidate = %c.id, origin = ?c.origin, hypothesis = %c.hypothesis, "proposed");
            }
            let treatments = batch.narrow.map(|(k, _)| k as u32);
            Ok(Proposal { round, candidates, treatments })
        }
        .instrument(span);
        Box::pin(fut::wrap_future(work))
    }
}
