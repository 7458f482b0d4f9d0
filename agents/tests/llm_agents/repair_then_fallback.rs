//! An answer that parses and may even follow the schema, but breaks the domain (bounds,
//! invariants, unknown ids, unquoted numbers, contradicted evidence), is sent back once
//! with every error; still invalid, the agent uses its built-in strategy for the step and
//! counts the fallback.

use crate::support::{self, arm, config, config_json, experiment, handle, task, MockModel, BACKENDS};
use actix::Actor;
use agents::actor::{ActorAgent, ActorReasoning, Propose};
use agents::critic::{CriticAgent, CriticSettings, Review};
use agents::insight::{Analyse, InsightAgent};
use agents::journal::Journal;
use agents::protocol::{Candidate, Origin, Proposal};
use agents::reasoning::{Reasoner, ReasoningTotals};
use agents::strategy::memory::InsightSettings;
use serde_json::json;

/// One question, no valid answer, one repair round, one fallback.
const FELL_BACK: ReasoningTotals = ReasoningTotals { questions: 1, valid: 0, repairs: 1, fallbacks: 1 };

pub fn propose(n: usize) -> Propose {
    let task = task();
    Propose {
        round: support::round(1),
        incumbent: task.baseline(),
        task,
        n,
        insight: None,
        skill: None,
        seed: 7,
        max_risk: 0.5,
    }
}

pub async fn actor(mode: ActorReasoning, r: &Reasoner, msg: Propose) -> Proposal {
    let addr = ActorAgent::new(mode, handle("actor")).with_reasoner(Some(r.clone())).start();
    addr.send(msg).await.expect("actor is running").expect("a proposal")
}

/// The candidates are all the optimiser's and all inside the space and the invariants.
pub fn all_builtin_and_valid(p: &Proposal) {
    let task = task();
    assert!(!p.candidates.is_empty(), "the built-in strategy proposed nothing");
    for c in &p.candidates {
        assert_ne!(c.origin, Origin::Llm, "{} came from the rejected answer", c.id);
        assert_eq!(task.space().check(&c.config), Ok(()), "{}", c.id);
        assert!(task.violations(&c.config).is_empty(), "{}", c.id);
    }
}

fn candidate(id: &str, cfg: skillhub::Configuration) -> Candidate {
    Candidate { id: id.into(), config: cfg, hypothesis: "test".into(), origin: Origin::Optimizer }
}

pub fn review(candidates: Vec<Candidate>) -> Review {
    let task = task();
    Review {
        control: task.baseline(),
        task,
        proposal: Proposal { round: support::round(1), candidates, treatments: None },
        insight: None,
    }
}

#[actix::test]
async fn actor_answer_breaking_an_invariant_is_repaired_once_then_the_optimiser_proposes() {
    for backend in BACKENDS {
        let model = MockModel::start(backend).await;
        // Schema-valid (every weight inside [0, 1]) but 0.9 + 0.8 breaks the invariant.
        let breaks_invariant =
            json!({"candidates": [{"hypothesis": "more of both", "config": config_json(300.0, 0.9, 0.8)}]});
        // The correction gets worse: out of range and an unknown parameter.
        let mut worse = config_json(5000.0, 0.5, 0.5);
        worse["launch_arms"] = json!(100);
        let worse = json!({"candidates": [{"hypothesis": "bigger", "config": worse}]});
        model.answers(&[breaks_invariant, worse]).await;
        let r = model.reasoner("actor");

        let proposal = actor(ActorReasoning::Llm, &r, propose(2)).await;

        let questions = model.questions().await;
        assert_eq!(questions.len(), 2, "{backend:?}: one question and one repair round");
        let repair = &questions[1].1;
        assert!(repair.contains("Your previous answer was rejected"), "{repair}");
        assert!(repair.contains("violates invariant `fusion weights stay comparable`: 1.7000 > 1.2"), "{repair}");
        assert!(support::data_block(repair, "previous_answer").contains("more of both"), "{repair}");
        all_builtin_and_valid(&proposal);
        assert_eq!(r.totals(), FELL_BACK, "{backend:?}");
    }
}

#[actix::test]
async fn actor_answer_out_of_range_names_the_bound_in_the_repair_round() {
    for backend in BACKENDS {
        let model = MockModel::start(backend).await;
        let out_of_range =
            json!({"candidates": [{"hypothesis": "keep more", "config": config_json(100000.0, 0.5, 0.5)}]});
        model.answers(&[out_of_range.clone(), out_of_range]).await;
        let r = model.reasoner("actor");

        let proposal = actor(ActorReasoning::Llm, &r, propose(2)).await;

        let questions = model.questions().await;
        assert_eq!(questions.len(), 2, "{backend:?}");
        assert!(
            questions[1].1.contains("candidates[0].config.prerank.top_k: 100000.0 is above the maximum 1000"),
            "{}",
            questions[1].1
        );
        all_builtin_and_valid(&proposal);
        assert_eq!(r.totals(), FELL_BACK, "{backend:?}");
    }
}

#[actix::test]
async fn actor_uses_a_corrected_answer_after_one_repair_round() {
    let model = MockModel::start(support::BACKENDS[0]).await;
    let bad = json!({"candidates": [{"hypothesis": "more of both", "config": config_json(300.0, 0.9, 0.8)}]});
    // 0.4 + 0.8 sits exactly on the invariant's bound.
    let good = json!({"candidates": [{"hypothesis": "more dwell weight", "config": config_json(300.0, 0.4, 0.8)}]});
    model.answers(&[bad, good]).await;
    let r = model.reasoner("actor");

    let proposal = actor(ActorReasoning::Llm, &r, propose(2)).await;

    assert_eq!(proposal.candidates.len(), 1);
    assert_eq!(proposal.candidates[0].origin, Origin::Llm);
    assert_eq!(proposal.candidates[0].config, config(300.0, 0.4, 0.8));
    assert_eq!(r.totals(), ReasoningTotals { questions: 1, valid: 1, repairs: 1, fallbacks: 0 });
}

#[actix::test]
async fn critic_answer_judging_a_candidate_twice_is_repaired_once_then_the_built_in_verdict_stands() {
    for backend in BACKENDS {
        let model = MockModel::start(backend).await;
        // Schema-valid (two judgements of listed ids) but r1-c1 twice and r1-c2 never.
        let twice = json!({"decisions": [
            {"candidate_id": "r1-c1", "accept": true, "reason": "fine"},
            {"candidate_id": "r1-c1", "accept": false, "reason": "not fine"},
        ]});
        model.answers(&[twice.clone(), twice]).await;
        let r = model.reasoner("critic");
        let critic =
            CriticAgent::new(CriticSettings::default(), handle("critic")).with_reasoner(Some(r.clone())).start();

        let msg =
            review(vec![candidate("r1-c1", config(300.0, 0.6, 0.4)), candidate("r1-c2", config(600.0, 0.2, 0.9))]);
        let verdict = critic.send(msg).await.expect("critic is running").expect("a verdict");

        let questions = model.questions().await;
        assert_eq!(questions.len(), 2, "{backend:?}");
        assert!(questions[1].1.contains("`r1-c1` is judged twice"), "{}", questions[1].1);
        assert!(questions[1].1.contains("candidate `r1-c2` is not judged"), "{}", questions[1].1);
        assert!(verdict.decisions.iter().all(|d| d.accepted), "the built-in review accepted both: {verdict:?}");
        assert!(verdict.decisions.iter().all(|d| !d.reason.contains("model")), "{verdict:?}");
        assert_eq!(r.totals(), FELL_BACK, "{backend:?}");
    }
}

#[actix::test]
async fn insight_note_that_quotes_no_measured_number_is_repaired_once_then_the_built_in_notes_stand() {
    for backend in BACKENDS {
        let model = MockModel::start(backend).await;
        let result =
            experiment(1, vec![arm("r1-c1", config(300.0, 0.6, 0.4), 2.0), arm("r1-c2", config(600.0, 0.2, 0.9), 1.0)]);
        let expected =
            agents::strategy::memory::analyse(&task(), std::slice::from_ref(&result), &InsightSettings::default());
        let facts = agents::reasoning::insight::facts(&expected);
        assert!(!facts.is_empty(), "the fixture must give the model something to explain");
        let vague = json!({"notes": [{"fact": facts[0].id, "text": "This one is clearly the best; trust me."}]});
        model.answers(&[vague.clone(), vague]).await;
        let r = model.reasoner("insight");
        let journal =
            Journal::open(&sled::Config::new().temporary(true).open().expect("temporary db")).expect("journal");
        let insight = InsightAgent::new(task(), journal, InsightSettings::default(), handle("insight"))
            .with_reasoner(Some(r.clone()))
            .start();

        let got = insight.send(Analyse(result)).await.expect("insight is running").expect("an insight");

        let questions = model.questions().await;
        assert_eq!(questions.len(), 2, "{backend:?}");
        assert!(
            questions[1].1.contains(&format!("quote one of the measured numbers of `{}`", facts[0].id)),
            "{}",
            questions[1].1
        );
        assert!(!got.notes.is_empty());
        assert!(got.notes.iter().all(|n| n.author == "builtin"), "{:?}", got.notes);
        assert_eq!(r.totals(), FELL_BACK, "{backend:?}");
    }
}

#[actix::test]
async fn skill_answer_citing_an_invented_experiment_then_contradicting_one_falls_back_to_the_built_in_rules() {
    for backend in BACKENDS {
        let model = MockModel::start(backend).await;
        let rule = |evidence: &str, effect: f64| {
            json!({"rules": [{"parameter": "rank.w_click", "metric": "dwell", "effect_pct": effect,
                              "evidence": [evidence], "text": "Raising rank.w_click lifts dwell."}]})
        };
        model.answers(&[rule("exp-42", 2.0), rule("exp-1", -2.0)]).await;
        let r = model.reasoner("skill");
        let hub = crate::evidence_or_no_rule::Hub::start().await;

        let outcomes = hub.learn(&r).await;

        let questions = model.questions().await;
        assert_eq!(questions.len(), 2, "{backend:?}");
        assert!(questions[1].1.contains("exp-42"), "the repair names the invented id: {}", questions[1].1);
        assert!(outcomes.iter().all(|o| !o.patch_id.contains("llm-rule")), "{outcomes:?}");
        let skill = hub.skill().await;
        assert!(skill.rules.iter().all(|rule| rule.provenance.model == "builtin"), "{:?}", skill.rules);
        assert_eq!(r.totals(), FELL_BACK, "{backend:?}");
    }
}

#[actix::test]
async fn actor_answer_cut_off_then_not_json_gets_one_repair_round_then_the_optimiser_proposes() {
    for backend in BACKENDS {
        let model = MockModel::start(backend).await;
        let cut_off = (r#"{"candidates": [{"hypothesis": "keep mo"#.to_string(), true);
        let prose = ("Sure! I would raise prerank.top_k to 500.".to_string(), false);
        model.texts(&[cut_off, prose]).await;
        let r = model.reasoner("actor");

        let proposal = actor(ActorReasoning::Llm, &r, propose(2)).await;

        let questions = model.questions().await;
        assert_eq!(questions.len(), 2, "{backend:?}");
        assert!(questions[1].1.contains("the answer was cut off at the token limit"), "{}", questions[1].1);
        all_builtin_and_valid(&proposal);
        assert_eq!(r.totals(), FELL_BACK, "{backend:?}");
    }
}

#[actix::test]
async fn actor_answer_in_prose_is_sent_back_as_data_and_a_json_correction_is_used() {
    for backend in BACKENDS {
        let model = MockModel::start(backend).await;
        let prose = ("Sure! I would raise prerank.top_k to 500.".to_string(), false);
        let fixed =
            json!({"candidates": [{"hypothesis": "a wider pre-rank cut", "config": config_json(500.0, 0.5, 0.5)}]});
        model.texts(&[prose, (fixed.to_string(), false)]).await;
        let r = model.reasoner("actor");

        let proposal = actor(ActorReasoning::Llm, &r, propose(2)).await;

        let questions = model.questions().await;
        assert!(questions[1].1.contains("the answer is not valid JSON"), "{}", questions[1].1);
        assert!(
            support::data_block(&questions[1].1, "previous_answer").contains("Sure! I would raise"),
            "{}",
            questions[1].1
        );
        assert_eq!(proposal.candidates.len(), 1);
        assert_eq!(
            (proposal.candidates[0].origin, &proposal.candidates[0].config),
            (Origin::Llm, &config(500.0, 0.5, 0.5))
        );
        assert_eq!(r.totals(), ReasoningTotals { questions: 1, valid: 1, repairs: 1, fallbacks: 0 }, "{backend:?}");
    }
}

#[actix::test]
async fn a_failed_call_falls_back_without_a_repair_round() {
    let model = MockModel::start(support::BACKENDS[1]).await;
    // No answer mounted: the server answers 404, which no repair can fix.
    let r = model.reasoner("actor");
    let proposal = actor(ActorReasoning::Llm, &r, propose(2)).await;
    assert_eq!(model.questions().await.len(), 1);
    all_builtin_and_valid(&proposal);
    assert_eq!(r.totals(), ReasoningTotals { questions: 1, valid: 0, repairs: 0, fallbacks: 1 });
}
