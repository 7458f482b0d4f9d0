//! No evidence, no rule: a rule a model writes reaches the Skillhub only if it cites
//! experiments of the task whose measured effect supports it; then it is persisted with
//! the model as its author.

use crate::support::{config, task, MockModel, BACKENDS};
use actix::{Actor, Addr};
use agents::protocol::{Incumbent, Insight, Interval, Observation, Pattern};
use agents::reasoning::{Reasoner, ReasoningTotals};
use agents::skill::{Learn, PatchOutcome, SkillAgent};
use agents::strategy::learning::LearningSettings;
use serde_json::json;
use skillhub::{ApplyPatch, GetSkill, PatchOp, Provenance, Rule, Skill, SkillPatch, SkillStore, Skillhub};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A Skillhub on a temporary database holding the task's version-1 skill.
pub struct Hub {
    addr: Addr<Skillhub>,
}

impl Hub {
    pub async fn start() -> Hub {
        let db = sled::Config::new().temporary(true).open().expect("temporary db");
        let addr = Skillhub::new(SkillStore::open(&db).expect("store")).start();
        let task = task();
        let create = SkillPatch::new(
            "fusion/create",
            task.id.clone(),
            "the task's first skill",
            Provenance::new("test", "human", None),
            PatchOp::Create(Box::new(skillhub::skill_from_task(&task))),
        );
        addr.send(ApplyPatch(create)).await.expect("hub is running").expect("the skill is created");
        Hub { addr }
    }

    /// The Skill agent, thinking with `r`, learns from [`measured`].
    pub async fn learn(&self, r: &Reasoner) -> Vec<PatchOutcome> {
        self.learn_in("run-1", r).await
    }

    /// [`Hub::learn`] as the run `run_id`.
    pub async fn learn_in(&self, run_id: &str, r: &Reasoner) -> Vec<PatchOutcome> {
        let h = crate::support::handle("skill");
        let agent = SkillAgent::new(
            self.addr.clone().recipient(),
            self.addr.clone().recipient(),
            LearningSettings::default(),
            h,
        )
        .with_reasoner(Some(r.clone()))
        .start();
        let msg = Learn { task: task(), run_id: run_id.into(), insight: Arc::new(measured()) };
        agent.send(msg).await.expect("skill agent is running").expect("patch outcomes")
    }

    pub async fn skill(&self) -> Skill {
        let get = GetSkill { task_id: task().id.clone() };
        self.addr.send(get).await.expect("hub is running").expect("readable").expect("the skill exists")
    }

    /// The skill's rules written by `model`, in order.
    pub async fn rules_by(&self, model: &str) -> Vec<Rule> {
        self.skill().await.rules.into_iter().filter(|rule| rule.provenance.model == model).collect()
    }
}

/// Three experiments; exp-1 and exp-2 measured that raising rank.w_click lifts dwell by
/// 2.0% ± 0.5 over eight configurations; exp-3 measured nothing about it.
pub fn measured() -> Insight {
    let task = task();
    let observation = |i: u32, experiment: &str| Observation {
        candidate_id: format!("r{i}-c1"),
        round: i,
        config: config(200.0 + 50.0 * f64::from(i), 0.1 * f64::from(i), 0.5),
        score: Interval { estimate: 0.5, low: 0.1, high: 0.9 },
        score_se: 0.2,
        lifts_pct: BTreeMap::new(),
        safe: true,
        experiments: vec![experiment.into()],
        units: 0,
    };
    Insight {
        round: crate::support::round(3),
        incumbent: Incumbent::baseline(task.baseline()),
        shipped: None,
        rolled_back: None,
        elites: vec![],
        sensitivity: BTreeMap::new(),
        sensitivity_basis: String::new(),
        patterns: vec![Pattern {
            parameter: "rank.w_click".into(),
            metric: "dwell".into(),
            effect_pct: 2.0,
            std_err_pct: 0.5,
            support: 8,
            experiments: vec!["exp-1".into(), "exp-2".into()],
        }],
        failures: vec![],
        observations: vec![observation(1, "exp-1"), observation(2, "exp-2"), observation(3, "exp-3")],
        baseline_means: BTreeMap::new(),
        converged: false,
        convergence_reason: String::new(),
        notes: vec![],
    }
}

fn rule(evidence: &str, effect: f64) -> serde_json::Value {
    json!({"rules": [{"parameter": "rank.w_click", "metric": "dwell", "effect_pct": effect,
                      "evidence": [evidence], "text": "Raising rank.w_click lifts dwell by about 2%."}]})
}

#[actix::test]
async fn a_model_rule_citing_supporting_experiments_is_accepted_and_persisted_with_its_author() {
    for backend in BACKENDS {
        let model = MockModel::start(backend).await;
        model.answers(&[rule("exp-1", 2.1)]).await;
        let r = model.reasoner("skill");
        let hub = Hub::start().await;

        let outcomes = hub.learn(&r).await;

        let llm_patch = outcomes.iter().find(|o| o.patch_id.contains("llm-rule")).expect("the model's rule was sent");
        assert!(llm_patch.result.is_ok(), "{llm_patch:?}");
        assert!(llm_patch.reason.contains("exp-1"), "the patch says what supports it: {}", llm_patch.reason);
        let written = hub.rules_by(&r.model()).await;
        assert_eq!(written.len(), 1, "{written:?}");
        assert_eq!(written[0].evidence, vec!["exp-1".to_string()]);
        assert_eq!(written[0].effect_pct, Some(2.1));
        let builtin = hub.rules_by("builtin").await;
        assert!(builtin.is_empty(), "the model's rule replaces the built-in learner's: {builtin:?}");
        assert_eq!(r.totals(), ReasoningTotals { questions: 1, valid: 1, repairs: 0, fallbacks: 0 });
    }
}

#[actix::test]
async fn a_later_run_s_model_rule_on_the_same_effect_is_kept_beside_the_earlier_one() {
    let model = MockModel::start(BACKENDS[0]).await;
    // Two runs of the task (say before and after a model launch), the same round, the
    // same answer: the second is new evidence, not a repeat of the first patch.
    model.answers(&[rule("exp-1", 2.1), rule("exp-2", 1.9)]).await;
    let r = model.reasoner("skill");
    let hub = Hub::start().await;

    for run in ["run-1", "run-2"] {
        let outcomes = hub.learn_in(run, &r).await;
        let llm_patch = outcomes.iter().find(|o| o.patch_id.contains("llm-rule")).expect("the model's rule was sent");
        assert!(llm_patch.result.is_ok() && !llm_patch.duplicate, "{run}: {llm_patch:?}");
    }

    let written = hub.rules_by(&r.model()).await;
    assert_eq!(written.len(), 2, "{written:?}");
    assert_ne!(written[0].id, written[1].id);
    assert_eq!(written[1].evidence, vec!["exp-2".to_string()]);
}

#[actix::test]
async fn a_model_rule_citing_an_experiment_that_did_not_measure_its_effect_is_refused() {
    let model = MockModel::start(BACKENDS[0]).await;
    // exp-3 is a real experiment of the task, but it measured nothing about rank.w_click.
    model.answers(&[rule("exp-3", 2.0), rule("exp-3", 2.0)]).await;
    let r = model.reasoner("skill");
    let hub = Hub::start().await;

    let outcomes = hub.learn(&r).await;

    let questions = model.questions().await;
    assert_eq!(questions.len(), 2);
    assert!(
        questions[1].1.contains("cites none of the experiments that measured rank.w_click on dwell"),
        "{}",
        questions[1].1
    );
    assert!(outcomes.iter().all(|o| !o.patch_id.contains("llm-rule")), "{outcomes:?}");
    let written = hub.rules_by(&r.model()).await;
    assert!(written.is_empty(), "{written:?}");
    assert_eq!(r.totals().fallbacks, 1);
}
