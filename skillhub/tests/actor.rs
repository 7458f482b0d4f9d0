//! The Skillhub actor applies patches and serves skills, also under a Supervisor.

mod common;

use actix::{Actor, Supervisor};
use common::{create_rank_fusion, measured_rule, patch, temp_store};
use skillhub::{ApplyPatch, GetHistory, GetSkill, ListSkills, PatchOp, SkillError, Skillhub};

#[actix::test]
async fn actor_applies_a_patch_and_serves_the_skill() {
    let hub = Skillhub::new(temp_store()).start();
    let applied = hub.send(ApplyPatch(create_rank_fusion())).await.expect("mailbox").expect("create");
    assert_eq!((applied.version, applied.duplicate), (1, false));
    let p = patch("rank-fusion/r3/p1", PatchOp::AppendRule(measured_rule("r3-1")));
    hub.send(ApplyPatch(p.clone())).await.expect("mailbox").expect("append");
    let again = hub.send(ApplyPatch(p)).await.expect("mailbox").expect("duplicate");
    assert!(again.duplicate);
    let skill = hub.send(GetSkill { task_id: "rank-fusion".into() }).await.expect("mailbox").expect("get");
    assert_eq!(skill.map(|s| (s.version, s.rules.len())), Some((2, 6)));
    let all = hub.send(ListSkills).await.expect("mailbox").expect("list");
    assert_eq!(all.len(), 1);
    let history = hub.send(GetHistory { task_id: "rank-fusion".into() }).await.expect("mailbox").expect("history");
    assert_eq!(history.len(), 2);
}

#[actix::test]
async fn actor_reports_a_rejected_patch_and_keeps_serving() {
    let store = temp_store();
    let hub = Supervisor::start(move |_| Skillhub::new(store.clone()));
    let err = hub.send(ApplyPatch(patch("p", PatchOp::Deprecate))).await.expect("mailbox").unwrap_err();
    assert!(matches!(err, SkillError::Rejected(_)), "{err}");
    let none = hub.send(GetSkill { task_id: "rank-fusion".into() }).await.expect("mailbox").expect("get");
    assert!(none.is_none());
}

#[actix::test]
async fn patches_from_one_sender_apply_in_order() {
    let hub = Skillhub::new(temp_store()).start();
    let sends: Vec<_> = (0..20)
        .map(|i| {
            let p = if i == 0 {
                create_rank_fusion()
            } else {
                patch(&format!("rank-fusion/r1/p{i}"), PatchOp::AppendRule(measured_rule(&format!("r1-{i}"))))
            };
            hub.send(ApplyPatch(p))
        })
        .collect();
    let versions: Vec<u64> = futures::future::join_all(sends)
        .await
        .into_iter()
        .map(|r| r.expect("mailbox").expect("applies").version)
        .collect();
    assert_eq!(versions, (1..=20).collect::<Vec<u64>>());
}
