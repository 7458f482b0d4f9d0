//! The Actor agent: proposes candidate configurations, each with a hypothesis.

use crate::agent::{AgentError, AgentHandle};
use crate::protocol::{Candidate, Insight, Proposal, RoundRef};
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
}

impl ActorAgent {
    pub fn new(reasoning: ActorReasoning, handle: AgentHandle) -> Self {
        Self { reasoning, handle }
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
fn propose(reasoning: ActorReasoning, msg: &Propose) -> Vec<search::Suggestion> {
    if reasoning == ActorReasoning::Random {
        return random::suggest(&msg.task, msg.n, msg.seed);
    }
    let empty = BTreeMap::new();
    let (observations, baseline_means, sensitivity) = match &msg.insight {
        Some(i) => (i.observations.as_slice(), &i.baseline_means, &i.sensitivity),
        None => (&[][..], &empty, msg.skill.as_ref().map_or(&empty, |s| &s.priors.sensitivity)),
    };
    let region = msg.skill.as_ref().map(|s| s.priors.region.clone()).unwrap_or_default();
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
    })
}

impl Handler<Propose> for ActorAgent {
    type Result = ResponseActFuture<Self, Result<Proposal, AgentError>>;

    fn handle(&mut self, msg: Propose, ctx: &mut Context<Self>) -> Self::Result {
        let span = info_span!("message", agent = "actor", kind = "Propose", round = %msg.round);
        if let Some(e) = self.handle.crash(msg.round.round, "actor", "Propose", &span, ctx) {
            return Box::pin(fut::ready(Err(e)));
        }
        let reasoning = self.reasoning;
        let work = async move {
            let round = msg.round.clone();
            let msg2 = msg.clone();
            // The optimiser is CPU work: keep it off the arbiter thread.
            let suggestions = actix_rt::task::spawn_blocking(move || propose(reasoning, &msg2))
                .await
                .map_err(|e| AgentError::Invalid(format!("proposal worker failed: {e}")))?;
            let candidates: Vec<Candidate> = suggestions
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
            Ok(Proposal { round, candidates })
        }
        .instrument(span);
        Box::pin(fut::wrap_future(work))
    }
}
