//! A patch that would make a skill wrong is refused with an error naming the field.

mod common;

use common::{measured_rule, patch, seed};
use skillhub::{PatchError, PatchOp, PriorRead, Provenance, RuleStatus, SkillPatch, Value, MAX_PRIOR_READS};

fn rank() -> skillhub::Skill {
    seed("rank-fusion")
}

#[test]
fn rule_without_evidence_is_rejected() {
    let mut rule = measured_rule("r3-1");
    rule.evidence.clear();
    let err = patch("p", PatchOp::AppendRule(rule)).apply(Some(&rank())).unwrap_err();
    assert!(matches!(err, PatchError::InvalidRule { field: "evidence", .. }), "{err}");
}

#[test]
fn prior_evidence_from_an_agent_is_rejected() {
    let mut rule = measured_rule("r3-1");
    rule.evidence = vec!["prior:industry-practice".into()];
    rule.confidence = 0.2;
    let err = patch("p", PatchOp::AppendRule(rule)).apply(Some(&rank())).unwrap_err();
    assert!(matches!(err, PatchError::InvalidRule { field: "evidence", .. }), "{err}");
}

#[test]
fn agent_claiming_seed_provenance_cannot_add_prior_rules() {
    let mut rule = measured_rule("r3-1");
    rule.evidence = vec!["prior:folklore".into()];
    rule.confidence = 0.2;
    rule.provenance = Provenance::seed();
    let err = patch("p", PatchOp::AppendRule(rule)).apply(Some(&rank())).unwrap_err();
    assert!(err.to_string().contains("only seed skills"), "{err}");
}

#[test]
fn prior_rules_may_not_claim_high_confidence() {
    let mut skill = rank();
    skill.rules[0].confidence = 0.9;
    let err = SkillPatch::seed(skill).apply(None).unwrap_err();
    assert!(matches!(err, PatchError::InvalidRule { field: "confidence", .. }), "{err}");
}

#[test]
fn rule_confidence_must_lie_in_unit_interval() {
    for c in [-0.1, 1.5, f64::NAN] {
        let mut rule = measured_rule("r3-1");
        rule.confidence = c;
        let err = patch("p", PatchOp::AppendRule(rule)).apply(Some(&rank())).unwrap_err();
        assert!(matches!(err, PatchError::InvalidRule { field: "confidence", .. }), "{c}: {err}");
    }
}

#[test]
fn rule_naming_an_unknown_parameter_is_rejected() {
    let mut rule = measured_rule("r3-1");
    rule.parameter = Some("rank.w_share".into());
    let err = patch("p", PatchOp::AppendRule(rule)).apply(Some(&rank())).unwrap_err();
    assert!(matches!(err, PatchError::UnknownParameter { .. }), "{err}");
}

#[test]
fn rule_with_empty_text_or_reused_id_is_rejected() {
    let mut rule = measured_rule("r3-1");
    rule.text = "  ".into();
    let err = patch("p", PatchOp::AppendRule(rule)).apply(Some(&rank())).unwrap_err();
    assert!(matches!(err, PatchError::InvalidRule { field: "text", .. }), "{err}");
    let err = patch("p", PatchOp::AppendRule(measured_rule("seed-1"))).apply(Some(&rank())).unwrap_err();
    assert_eq!(err, PatchError::DuplicateRule { rule_id: "seed-1".into() });
}

#[test]
fn appended_rule_is_stamped_with_the_new_version() {
    let mut rule = measured_rule("r3-1");
    rule.created_in_version = 99;
    let next = patch("p", PatchOp::AppendRule(rule)).apply(Some(&rank())).expect("applies");
    assert_eq!(next.version, 2);
    assert_eq!(next.rule("r3-1").map(|r| r.created_in_version), Some(2));
}

#[test]
fn retiring_an_unknown_or_retired_rule_is_rejected() {
    let retire = |id: &str| PatchOp::RetireRule { rule_id: id.into(), reason: "contradicted by exp-0007".into() };
    let err = patch("p", retire("seed-9")).apply(Some(&rank())).unwrap_err();
    assert_eq!(err, PatchError::UnknownRule { rule_id: "seed-9".into() });
    let retired = patch("p", retire("seed-1")).apply(Some(&rank())).expect("retires");
    assert!(matches!(retired.rule("seed-1").map(|r| &r.status), Some(RuleStatus::Retired { .. })));
    let err = patch("p", retire("seed-1")).apply(Some(&retired)).unwrap_err();
    assert_eq!(err, PatchError::RuleNotActive { rule_id: "seed-1".into() });
}

#[test]
fn narrowing_outside_the_requirement_bounds_is_rejected() {
    let narrow = |min, max| PatchOp::NarrowSpace { parameter: "rank.w_dwell".into(), min, max };
    for (min, max) in [(-0.5, 2.0), (0.5, 3.5), (2.0, 1.0), (f64::NAN, 1.0)] {
        let err = patch("p", narrow(min, max)).apply(Some(&rank())).unwrap_err();
        assert!(matches!(err, PatchError::Narrow { .. }), "[{min}, {max}]: {err}");
    }
}

#[test]
fn narrowing_must_keep_the_initial_configuration_inside() {
    let op = PatchOp::NarrowSpace { parameter: "rank.w_dwell".into(), min: 1.5, max: 2.5 };
    let err = patch("p", op).apply(Some(&rank())).unwrap_err();
    assert!(err.to_string().contains("SetBaseline"), "{err}");
}

#[test]
fn narrowing_a_choice_or_int_with_fractional_bounds_is_rejected() {
    let choice = PatchOp::NarrowSpace { parameter: "rank.formula".into(), min: 0.0, max: 1.0 };
    assert!(matches!(patch("p", choice).apply(Some(&rank())), Err(PatchError::Narrow { .. })));
    let rerank = seed("rerank-diversity");
    let op = PatchOp::NarrowSpace { parameter: "rerank.category_cap".into(), min: 2.5, max: 6.0 };
    let p = SkillPatch::new("p", "rerank-diversity", "r2", common::skill_agent(2), op);
    assert!(matches!(p.apply(Some(&rerank)), Err(PatchError::Narrow { .. })));
}

#[test]
fn set_baseline_checks_the_space_and_drops_stale_regions() {
    let narrowed = patch("p1", PatchOp::NarrowSpace { parameter: "rank.w_dwell".into(), min: 0.5, max: 1.5 })
        .apply(Some(&rank()))
        .expect("narrows");
    let mut config = narrowed.initial_config.config.clone();
    config.insert("rank.w_dwell".into(), Value::Num(4.0));
    let bad = PatchOp::SetBaseline { config: config.clone(), source: "exp-0009".into() };
    assert!(matches!(patch("p2", bad).apply(Some(&narrowed)), Err(PatchError::Baseline(_))));
    config.insert("rank.w_dwell".into(), Value::Num(2.0));
    let good = PatchOp::SetBaseline { config, source: "exp-0009 round 4".into() };
    let next = patch("p2", good).apply(Some(&narrowed)).expect("ships");
    assert!(next.priors.region.is_empty(), "a region excluding the shipped config is stale");
    assert_eq!(next.initial_config.source, "exp-0009 round 4");
}

#[test]
fn set_priors_rejects_unknown_parameters_and_invalid_elites() {
    let mut op = common::set_priors();
    if let PatchOp::SetPriors { sensitivity, .. } = &mut op {
        sensitivity.insert("rank.nope".into(), 0.1);
    }
    assert!(matches!(patch("p", op).apply(Some(&rank())), Err(PatchError::UnknownParameter { .. })));
    let mut op = common::set_priors();
    if let PatchOp::SetPriors { elites, .. } = &mut op {
        elites[0].config.remove("rank.w_like");
    }
    assert!(matches!(patch("p", op).apply(Some(&rank())), Err(PatchError::InvalidPriors { .. })));
}

#[test]
fn set_priors_checks_every_read_and_names_the_field() {
    let rejected = |edit: &dyn Fn(&mut Vec<PriorRead>)| {
        let mut op = common::set_priors();
        if let PatchOp::SetPriors { reads: Some(reads), .. } = &mut op {
            edit(reads);
        }
        match patch("p", op).apply(Some(&rank())) {
            Err(PatchError::InvalidPriors { field, problem }) => format!("{field}: {problem}"),
            other => panic!("expected InvalidPriors, got {other:?}"),
        }
    };
    let e = rejected(&|r| r[0].score_pct = f64::NAN);
    assert!(e.starts_with("reads[0].score_pct: is NaN"), "{e}");
    let e = rejected(&|r| {
        r[0].lifts_pct.insert("ctr".into(), f64::INFINITY);
    });
    assert!(e.starts_with("reads[0].lifts_pct.ctr: is inf"), "{e}");
    let e = rejected(&|r| r[0].experiment_id = " ".into());
    assert!(e.starts_with("reads[0].experiment_id"), "{e}");
    let e = rejected(&|r| {
        r[0].config.remove("rank.w_like");
    });
    assert!(e.starts_with("reads[0].config") && e.contains("rank.w_like"), "{e}");
    let e = rejected(&|r| *r = vec![r[0].clone(); MAX_PRIOR_READS + 1]);
    assert!(e.contains(&format!("keep at most {MAX_PRIOR_READS}")), "{e}");
}

#[test]
fn set_priors_without_reads_keeps_the_reads_a_skill_has() {
    let with_reads = patch("p1", common::set_priors()).apply(Some(&rank())).expect("sets priors");
    assert_eq!(with_reads.priors.reads.len(), 1);
    let mut op = common::set_priors();
    if let PatchOp::SetPriors { reads, .. } = &mut op {
        *reads = None;
    }
    let next = patch("p2", op).apply(Some(&with_reads)).expect("sets priors");
    assert_eq!(next.priors.reads, with_reads.priors.reads);
    // A patch written before reads were kept parses, and means the same.
    let json = r#"{"set_priors":{"sensitivity":{},"elites":[]}}"#;
    let op: PatchOp = serde_json::from_str(json).expect("an old set_priors parses");
    assert!(matches!(op, PatchOp::SetPriors { reads: None, .. }), "{op:?}");
}

#[test]
fn patch_needs_a_reason_and_an_existing_live_skill() {
    let mut p = patch("p", PatchOp::Deprecate);
    p.reason = " ".into();
    assert!(matches!(p.apply(Some(&rank())), Err(PatchError::EmptyReason { .. })));
    assert!(matches!(patch("p", PatchOp::Deprecate).apply(None), Err(PatchError::NoSkill { .. })));
    let dead = patch("p", PatchOp::Deprecate).apply(Some(&rank())).expect("deprecates");
    let err = patch("p2", PatchOp::AppendRule(measured_rule("r3-1"))).apply(Some(&dead)).unwrap_err();
    assert!(matches!(err, PatchError::Deprecated { .. }), "{err}");
}

#[test]
fn create_is_refused_when_the_skill_exists() {
    let err = common::create_rank_fusion().apply(Some(&rank())).unwrap_err();
    assert!(matches!(err, PatchError::AlreadyExists { version: 1, .. }), "{err}");
}

#[test]
fn skill_from_task_is_a_valid_skill() {
    let seed = rank();
    let task = skillhub::TaskSpec {
        id: "rank-fusion-v2".into(),
        context: String::new(),
        params: seed.requirement.params.clone(),
        objectives: seed.north_star.objectives.clone(),
        guardrails: seed.north_star.guardrails.clone(),
        invariants: vec![],
        budget: skillhub::Budget { rounds: 5, arms_per_round: 4, units_per_arm: 1000 },
    };
    let skill = skillhub::skill_from_task(&task);
    let created = SkillPatch::create(skill, Provenance::new("runtime", "builtin", None)).apply(None).expect("valid");
    assert_eq!((created.version, created.context.stage.as_str()), (1, "rank"));
    assert_eq!(created.initial_config.config, task.baseline());
}
