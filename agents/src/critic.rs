//! The Critic agent: rejects invalid, unsafe or repeated candidates and keeps a
//! diverse, promising subset, saying why for each.

use crate::agent::{AgentError, AgentHandle};
use crate::protocol::{Candidate, Decision, Insight, Proposal, Verdict};
use crate::reasoning::critic::{cap, merge, schema_context, validate, vars, CriticAnswer};
use crate::reasoning::{ask_validated, Outcome, Reasoner};
use crate::strategy::critique::{review, CritiqueInput};
use actix::prelude::*;
use serde::{Deserialize, Serialize};
use skillhub::{Configuration, TaskSpec};
use std::sync::Arc;
use tracing::{info, info_span, Instrument};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CriticSettings {
    /// Reject a candidate whose predicted probability of breaching a guardrail is above this.
    #[serde(default = "default_risk")]
    pub guardrail_risk_threshold: f64,
}

fn default_risk() -> f64 {
    0.5
}

impl Default for CriticSettings {
    fn default() -> Self {
        Self { guardrail_risk_threshold: default_risk() }
    }
}

/// Coordinator → Critic: judge a proposal.
#[derive(Message, Clone)]
#[rtype(result = "Result<Verdict, AgentError>")]
pub struct Review {
    pub task: Arc<TaskSpec>,
    pub proposal: Proposal,
    pub insight: Option<Arc<Insight>>,
    pub control: Configuration,
}

pub struct CriticAgent {
    settings: CriticSettings,
    handle: AgentHandle,
    /// The model, in `llm` mode. The built-in review runs either way.
    reasoner: Option<Reasoner>,
}

impl CriticAgent {
    pub fn new(settings: CriticSettings, handle: AgentHandle) -> Self {
        Self { settings, handle, reasoner: None }
    }

    pub fn with_reasoner(mut self, reasoner: Option<Reasoner>) -> Self {
        self.reasoner = reasoner;
        self
    }
}

/// The model's judgement of every candidate that passed the hard checks (`decisions` are
/// the built-in review without a batch limit): it picks which fill the `max_accept` arms,
/// never accepting what the hard checks rejected. An invalid answer leaves the built-in
/// choice, the first `max_accept` that passed.
async fn second_opinion(r: &Reasoner, msg: &Review, decisions: Vec<Decision>, max_accept: usize) -> Vec<Decision> {
    let shown: Vec<&Candidate> = decisions.iter().filter(|d| d.accepted).map(|d| &d.candidate).collect();
    if shown.is_empty() {
        info!(reason = "the built-in review accepted nothing", "model not asked");
        return decisions;
    }
    let request = r.request::<CriticAnswer>(&vars(msg, &shown), &schema_context(&shown));
    let owned: Vec<Candidate> = shown.into_iter().cloned().collect();
    let check = move |a: &CriticAnswer| validate(&owned.iter().collect::<Vec<_>>(), a);
    match ask_validated(r, request, check).await {
        Outcome::Valid(answer) => merge(decisions, &answer, max_accept),
        Outcome::Fallback(_) => cap(decisions, max_accept),
    }
}

impl Actor for CriticAgent {
    type Context = Context<Self>;
    fn started(&mut self, _: &mut Context<Self>) {
        info!(agent = "critic", risk_threshold = self.settings.guardrail_risk_threshold, "agent started");
    }
}

impl Supervised for CriticAgent {
    fn restarting(&mut self, _: &mut Context<Self>) {
        self.handle.stats.restarted();
        info!(agent = "critic", "agent restarting; its memory is the Insight it is sent");
    }
}

impl Handler<Review> for CriticAgent {
    type Result = ResponseActFuture<Self, Result<Verdict, AgentError>>;

    fn handle(&mut self, msg: Review, ctx: &mut Context<Self>) -> Self::Result {
        let round = msg.proposal.round.clone();
        let span = info_span!("message", agent = "critic", kind = "Review", round = %round);
        if let Some(e) = self.handle.crash(round.round, "critic", "Review", &span, ctx) {
            return Box::pin(fut::ready(Err(e)));
        }
        let threshold = self.settings.guardrail_risk_threshold;
        let reasoner = self.reasoner.clone();
        let work = async move {
            let msg2 = msg.clone();
            let max_accept = msg.proposal.max_treatments(msg.task.budget.arms_per_round);
            // The hard checks and the surrogate always run, whatever a model says later.
            // Uncapped, so a model can give a seat to any candidate that passed them.
            let decisions = actix_rt::task::spawn_blocking(move || {
                let msg = msg2;
                review(&CritiqueInput {
                    task: &msg.task,
                    candidates: &msg.proposal.candidates,
                    insight: msg.insight.as_deref(),
                    control: &msg.control,
                    max_accept: usize::MAX,
                    risk_threshold: threshold,
                })
            })
            .await
            .map_err(|e| AgentError::Invalid(format!("review worker failed: {e}")))?;
            let decisions = match &reasoner {
                Some(r) => second_opinion(r, &msg, decisions, max_accept).await,
                None => cap(decisions, max_accept),
            };
            for d in &decisions {
                if d.accepted {
                    info!(candidate = %d.candidate.id, reason = %d.reason, "accepted");
                } else {
                    info!(candidate = %d.candidate.id, reason = %d.reason, "rejected");
                }
            }
            Ok(Verdict { round, decisions })
        }
        .instrument(span);
        Box::pin(fut::wrap_future(work))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Origin, RoundRef};
    use skillhub::Value;

    fn candidate(id: &str, a: f64) -> Candidate {
        let config = Configuration::from([("a".to_string(), Value::Num(a))]);
        Candidate { id: id.into(), config, hypothesis: "h".into(), origin: Origin::Optimizer }
    }

    async fn accepted(treatments: Option<u32>) -> Vec<String> {
        let task = Arc::new(crate::fixtures::task(&["a"], vec![]));
        let candidates = vec![candidate("c1", 0.1), candidate("c2", 0.3), candidate("c3", 0.9)];
        let proposal = Proposal { round: RoundRef { task_id: "t".into(), round: 1 }, candidates, treatments };
        let critic = CriticAgent::new(CriticSettings::default(), AgentHandle::default()).start();
        let review = Review { control: task.baseline(), task, proposal, insight: None };
        let verdict = critic.send(review).await.expect("mailbox").expect("verdict");
        verdict.accepted().map(|c| c.id.clone()).collect()
    }

    #[actix::test]
    async fn a_narrow_proposal_caps_the_batch_at_its_width() {
        // The fixture's budget pays for two treatments; a narrow round asks for one.
        assert_eq!(accepted(None).await, ["c1", "c2"]);
        assert_eq!(accepted(Some(1)).await, ["c1"]);
        // A width above the budget is held to the budget.
        assert_eq!(accepted(Some(9)).await, ["c1", "c2"]);
    }
}
