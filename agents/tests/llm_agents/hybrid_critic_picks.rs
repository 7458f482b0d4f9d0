//! Hybrid mode: the optimiser and the model both propose, and the Critic decides which
//! of them run.

use crate::repair_then_fallback::{actor, propose, review};
use crate::support::{config, config_json, handle, MockModel, BACKENDS};
use actix::Actor;
use agents::actor::ActorReasoning;
use agents::critic::{CriticAgent, CriticSettings};
use agents::protocol::{Candidate, Origin, Verdict};
use agents::strategy::critique::{review as builtin_review, CritiqueInput};
use serde_json::json;

#[actix::test]
async fn a_hybrid_proposal_holds_both_origins_and_the_critics_verdict_decides_which_run() {
    let backend = BACKENDS[0];
    let actor_model = MockModel::start(backend).await;
    let far =
        json!({"candidates": [{"hypothesis": "much larger pre-rank cut", "config": config_json(900.0, 0.2, 0.9)}]});
    actor_model.answers(&[far]).await;
    let r = actor_model.reasoner("actor");

    let proposal = actor(ActorReasoning::Hybrid, &r, propose(2)).await;

    let origins: Vec<Origin> = proposal.candidates.iter().map(|c| c.origin).collect();
    assert!(origins.contains(&Origin::Llm), "{origins:?}");
    assert!(origins.iter().any(|o| *o != Origin::Llm), "{origins:?}");
    let from_model: Vec<_> = proposal.candidates.iter().filter(|c| c.origin == Origin::Llm).collect();
    assert_eq!(from_model.len(), 1);
    assert_eq!(from_model[0].config, config(900.0, 0.2, 0.9));

    // Either way round, the Critic's model decides which of the two sources run.
    let (verdict, passed) = judged_by_critic_model(backend, &proposal.candidates, |c| c.origin != Origin::Llm).await;
    let accepted: Vec<_> = verdict.accepted().collect();
    let optimiser_passed = passed.iter().filter(|c| c.origin != Origin::Llm).count();
    assert_eq!(accepted.len(), optimiser_passed.min(2), "a refused seat goes to the next accepted one: {verdict:?}");
    assert!(accepted.iter().all(|c| c.origin != Origin::Llm), "{verdict:?}");
    let model_decision = verdict.decisions.iter().find(|d| d.candidate.origin == Origin::Llm).expect("decided");
    assert!(!model_decision.accepted);
    assert!(model_decision.reason.starts_with("rejected by the model: not chosen"), "{}", model_decision.reason);

    let (verdict, _) = judged_by_critic_model(backend, &proposal.candidates, |c| c.origin == Origin::Llm).await;
    let accepted: Vec<_> = verdict.accepted().collect();
    assert_eq!(accepted.len(), 1, "{verdict:?}");
    assert_eq!(accepted[0].origin, Origin::Llm);
}

/// The Critic in LLM mode whose model accepts exactly the candidates `pick` chooses among
/// those the hard checks pass (which it returns too).
async fn judged_by_critic_model(
    backend: agents::llm::Backend,
    candidates: &[Candidate],
    pick: impl Fn(&Candidate) -> bool,
) -> (Verdict, Vec<Candidate>) {
    let msg = review(candidates.to_vec());
    let passed: Vec<Candidate> = builtin_review(&CritiqueInput {
        task: &msg.task,
        candidates: &msg.proposal.candidates,
        insight: None,
        control: &msg.control,
        max_accept: usize::MAX,
        risk_threshold: CriticSettings::default().guardrail_risk_threshold,
    })
    .into_iter()
    .filter(|d| d.accepted)
    .map(|d| d.candidate)
    .collect();
    assert!(passed.iter().any(|c| c.origin == Origin::Llm), "the hard checks let the model's candidate through");
    let judgements: Vec<_> = passed
        .iter()
        .map(|c| {
            let accept = pick(c);
            json!({"candidate_id": c.id, "accept": accept, "reason": if accept { "chosen" } else { "not chosen" }})
        })
        .collect();
    let critic_model = MockModel::start(backend).await;
    critic_model.answers(&[json!({"decisions": judgements})]).await;
    let critic = CriticAgent::new(CriticSettings::default(), handle("critic"))
        .with_reasoner(Some(critic_model.reasoner("critic")))
        .start();
    let verdict = critic.send(msg).await.expect("critic is running").expect("a verdict");
    let asked = critic_model.questions().await;
    assert!(asked[0].1.contains("Arms this round: <data name=\"arms\">\n2\n</data>"), "{}", asked[0].1);
    (verdict, passed)
}
