//! The store applies each patch id once, and every applied patch is one version and
//! one history entry.

mod common;

use common::{create_rank_fusion, measured_rule, patch, temp_store};
use skillhub::{Applied, PatchOp, SkillError};

#[actix_rt::test]
async fn applying_a_patch_twice_changes_nothing_the_second_time() {
    let store = temp_store();
    store.apply(&create_rank_fusion()).await.expect("create");
    let p = patch("rank-fusion/r3/p1", PatchOp::AppendRule(measured_rule("r3-1")));
    assert_eq!(store.apply(&p).await.expect("first"), Applied { version: 2, duplicate: false });
    assert_eq!(store.apply(&p).await.expect("again"), Applied { version: 2, duplicate: true });
    let skill = store.get("rank-fusion").expect("get").expect("present");
    assert_eq!(skill.version, 2);
    assert_eq!(skill.rules.iter().filter(|r| r.id == "r3-1").count(), 1);
    assert_eq!(store.history("rank-fusion").expect("history").len(), 2);
}

#[actix_rt::test]
async fn versions_and_history_grow_one_per_patch() {
    let store = temp_store();
    let patches = [
        create_rank_fusion(),
        patch("rank-fusion/r3/p1", PatchOp::AppendRule(measured_rule("r3-1"))),
        patch("rank-fusion/r3/p2", PatchOp::RetireRule { rule_id: "seed-2".into(), reason: "r3-1 measured it".into() }),
        patch("rank-fusion/r3/p3", PatchOp::NarrowSpace { parameter: "rank.w_like".into(), min: 0.0, max: 1.0 }),
    ];
    for (i, p) in patches.iter().enumerate() {
        let applied = store.apply(p).await.expect("applies");
        assert_eq!(applied.version, i as u64 + 1);
    }
    let history = store.history("rank-fusion").expect("history");
    let versions: Vec<u64> = history.iter().map(|h| h.version).collect();
    assert_eq!(versions, [1, 2, 3, 4]);
    let ids: Vec<&str> = history.iter().map(|h| h.patch.id.as_str()).collect();
    assert_eq!(ids, patches.iter().map(|p| p.id.as_str()).collect::<Vec<_>>());
}

#[actix_rt::test]
async fn rejected_patch_writes_nothing() {
    let store = temp_store();
    store.apply(&create_rank_fusion()).await.expect("create");
    let bad = patch("rank-fusion/r3/p1", PatchOp::RetireRule { rule_id: "nope".into(), reason: "x".into() });
    assert!(matches!(store.apply(&bad).await, Err(SkillError::Rejected(_))));
    assert_eq!(store.get("rank-fusion").expect("get").map(|s| s.version), Some(1));
    assert_eq!(store.history("rank-fusion").expect("history").len(), 1);
    // The id was not consumed: a corrected patch with the same id applies.
    let fixed = patch("rank-fusion/r3/p1", PatchOp::RetireRule { rule_id: "seed-1".into(), reason: "x".into() });
    assert_eq!(store.apply(&fixed).await.expect("applies").version, 2);
}

#[actix_rt::test]
async fn history_of_one_task_does_not_include_a_task_it_prefixes() {
    let store = temp_store();
    store.apply(&create_rank_fusion()).await.expect("create");
    let mut rank = common::seed("rank-fusion");
    rank.task_id = "rank".into();
    store.apply(&skillhub::SkillPatch::seed(rank)).await.expect("create rank");
    assert_eq!(store.history("rank").expect("history").len(), 1);
    assert_eq!(store.list().expect("list").len(), 2);
}

#[actix_rt::test]
async fn seeds_load_once() {
    let store = temp_store();
    let seeds = skillhub::seed_skills().expect("seeds");
    assert_eq!(store.load_seeds(&seeds).await.expect("load"), 3);
    assert_eq!(store.load_seeds(&seeds).await.expect("reload"), 0);
    let stored = store.list().expect("list");
    assert_eq!(stored, {
        let mut s = seeds.clone();
        s.sort_by(|a, b| a.task_id.cmp(&b.task_id));
        s
    });
    for skill in &stored {
        let rules_ok = skill.rules.iter().all(|r| r.confidence <= 0.3 && r.provenance.is_seed());
        assert!(rules_ok, "{}", skill.task_id);
        assert_eq!(store.history(&skill.task_id).expect("history")[0].patch.id, format!("seed/{}", skill.task_id));
    }
}
