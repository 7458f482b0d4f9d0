//! What each agent sends its model, byte for byte, in both wire formats: the prompt with
//! every value fenced as data, the answer schema derived from the answer type, and the
//! wire format's own fields. A change to a prompt, a schema or a client shows up here as
//! a snapshot diff to review.

use crate::evidence_or_no_rule::Hub;
use crate::repair_then_fallback::{actor, propose, review};
use crate::support::{arm, assert_snapshot, config, experiment, handle, task, MockModel, BACKENDS};
use actix::Actor;
use agents::actor::ActorReasoning;
use agents::critic::{CriticAgent, CriticSettings};
use agents::insight::{Analyse, InsightAgent};
use agents::journal::Journal;
use agents::llm::Backend;
use agents::protocol::{Candidate, Origin};
use agents::strategy::memory::InsightSettings;

fn name(agent: &str, backend: Backend) -> String {
    format!("{agent}_{}", backend.as_str())
}

/// The first request of a question the mock cannot answer (no answer is mounted, so the
/// agent falls back at once and sends exactly one).
async fn first_body(model: &MockModel) -> serde_json::Value {
    let bodies = model.bodies().await;
    assert_eq!(bodies.len(), 1);
    bodies.into_iter().next().expect("one request")
}

#[actix::test]
async fn the_actor_sends_its_prompt_and_the_proposal_schema() {
    for backend in BACKENDS {
        let model = MockModel::start(backend).await;
        actor(ActorReasoning::Llm, &model.reasoner("actor"), propose(2)).await;
        assert_snapshot(&name("actor", backend), &first_body(&model).await);
    }
}

#[actix::test]
async fn the_critic_sends_the_candidates_that_passed_the_hard_checks() {
    for backend in BACKENDS {
        let model = MockModel::start(backend).await;
        let critic = CriticAgent::new(CriticSettings::default(), handle("critic"))
            .with_reasoner(Some(model.reasoner("critic")))
            .start();
        let candidate =
            |id: &str, cfg| Candidate { id: id.into(), config: cfg, hypothesis: "why".into(), origin: Origin::Llm };
        let msg =
            review(vec![candidate("r1-c1", config(300.0, 0.6, 0.4)), candidate("r1-c2", config(600.0, 0.2, 0.9))]);
        critic.send(msg).await.expect("critic is running").expect("a verdict");
        assert_snapshot(&name("critic", backend), &first_body(&model).await);
    }
}

#[actix::test]
async fn insight_sends_the_measured_facts() {
    for backend in BACKENDS {
        let model = MockModel::start(backend).await;
        let journal =
            Journal::open(&sled::Config::new().temporary(true).open().expect("temporary db")).expect("journal");
        let insight = InsightAgent::new(task(), journal, InsightSettings::default(), handle("insight"))
            .with_reasoner(Some(model.reasoner("insight")))
            .start();
        let result =
            experiment(1, vec![arm("r1-c1", config(300.0, 0.6, 0.4), 2.0), arm("r1-c2", config(600.0, 0.2, 0.9), 1.0)]);
        insight.send(Analyse(result)).await.expect("insight is running").expect("an insight");
        assert_snapshot(&name("insight", backend), &first_body(&model).await);
    }
}

#[actix::test]
async fn the_skill_agent_sends_the_patterns_and_the_experiments_it_may_cite() {
    for backend in BACKENDS {
        let model = MockModel::start(backend).await;
        Hub::start().await.learn(&model.reasoner("skill")).await;
        assert_snapshot(&name("skill", backend), &first_body(&model).await);
    }
}
