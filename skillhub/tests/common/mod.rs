//! Builders shared by the Skillhub tests.
#![allow(dead_code)]

use skillhub::{
    seed_skills, EliteConfig, PatchOp, PriorRead, Provenance, Rule, RuleStatus, Skill, SkillPatch, SkillStore, Value,
};
use std::collections::BTreeMap;

pub fn seed(task_id: &str) -> Skill {
    seed_skills().expect("seeds parse").into_iter().find(|s| s.task_id == task_id).expect("seed exists")
}

pub fn temp_store() -> SkillStore {
    let db = sled::Config::new().temporary(true).open().expect("temporary sled db");
    SkillStore::open(&db).expect("open store")
}

pub fn skill_agent(round: u32) -> Provenance {
    Provenance::new("skill", "builtin", Some(round))
}

pub fn measured_rule(id: &str) -> Rule {
    Rule {
        id: id.into(),
        text: "Raising rank.w_dwell above 1.5 cost 0.4% of ctr in 3 of 3 experiments.".into(),
        parameter: Some("rank.w_dwell".into()),
        metric: Some("ctr".into()),
        effect_pct: Some(-0.4),
        evidence: vec!["exp-0003".into(), "exp-0005".into()],
        confidence: 0.7,
        status: RuleStatus::Active,
        created_in_version: 1,
        provenance: skill_agent(3),
    }
}

pub fn patch(id: &str, op: PatchOp) -> SkillPatch {
    SkillPatch::new(id, "rank-fusion", "measured in round 3", skill_agent(3), op)
}

pub fn create_rank_fusion() -> SkillPatch {
    SkillPatch::seed(seed("rank-fusion"))
}

/// The rank-fusion seed after a few rounds: every slot and prior filled, odd floats.
pub fn grown_skill() -> Skill {
    let mut skill = seed("rank-fusion");
    let patches = [
        patch("rank-fusion/r3/p1", PatchOp::AppendRule(measured_rule("r3-1"))),
        patch(
            "rank-fusion/r3/p2",
            PatchOp::RetireRule { rule_id: "seed-2".into(), reason: "r3-1 contradicts it".into() },
        ),
        patch("rank-fusion/r3/p3", PatchOp::NarrowSpace { parameter: "rank.w_dwell".into(), min: 0.1 + 0.2, max: 2.5 }),
        patch("rank-fusion/r3/p4", set_priors()),
    ];
    for p in patches {
        skill = p.apply(Some(&skill)).expect("patch applies");
    }
    skill
}

pub fn set_priors() -> PatchOp {
    let mut config = seed("rank-fusion").initial_config.config;
    config.insert("rank.w_dwell".into(), Value::Num(1.234_567_890_123));
    config.insert("rank.formula".into(), Value::Str("multiplicative".into()));
    PatchOp::SetPriors {
        sensitivity: BTreeMap::from([("rank.w_dwell".to_string(), 0.61), ("rank.w_like".to_string(), 1e-7)]),
        elites: vec![EliteConfig { experiment_id: "exp-0005".into(), score_pct: 0.42, config: config.clone() }],
        reads: Some(vec![PriorRead {
            experiment_id: "exp-0005".into(),
            config,
            score_pct: 0.42,
            lifts_pct: BTreeMap::from([("ctr".to_string(), -2.345_678_901_234), ("dwell_s".to_string(), 1.5)]),
        }]),
    }
}
