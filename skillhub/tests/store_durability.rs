//! What the store wrote survives a reopen, and what it cannot read is a typed error.

mod common;

use common::{create_rank_fusion, measured_rule, patch};
use skillhub::store::{SCHEMA_KEY, TREE_META, TREE_PATCHES, TREE_SKILLS};
use skillhub::{PatchOp, SkillError, SkillStore};

#[actix_rt::test]
async fn skills_and_history_survive_reopening_the_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = patch("rank-fusion/r3/p1", PatchOp::AppendRule(measured_rule("r3-1")));
    let before = {
        let db = sled::open(dir.path()).expect("open db");
        let store = SkillStore::open(&db).expect("store");
        store.apply(&create_rank_fusion()).await.expect("create");
        store.apply(&p).await.expect("append");
        store.get("rank-fusion").expect("get")
    };
    let db = sled::open(dir.path()).expect("reopen db");
    let store = SkillStore::open(&db).expect("store");
    assert_eq!(store.get("rank-fusion").expect("get"), before);
    assert_eq!(store.history("rank-fusion").expect("history").len(), 2);
    assert!(store.apply(&p).await.expect("re-send").duplicate, "the patch id is remembered across restarts");
}

#[test]
fn a_database_from_a_newer_schema_is_refused() {
    let db = sled::Config::new().temporary(true).open().expect("db");
    db.open_tree(TREE_META).expect("meta").insert(SCHEMA_KEY, "2").expect("insert");
    match SkillStore::open(&db) {
        Err(SkillError::Schema { found, supported: 1 }) => assert_eq!(found, "2"),
        other => panic!("expected a schema error, got {other:?}"),
    }
}

#[test]
fn a_fresh_database_gets_the_schema_version() {
    let db = sled::Config::new().temporary(true).open().expect("db");
    SkillStore::open(&db).expect("store");
    let v = db.open_tree(TREE_META).expect("meta").get(SCHEMA_KEY).expect("get");
    assert_eq!(v.as_deref(), Some(&b"1"[..]));
    SkillStore::open(&db).expect("reopening the same schema works");
}

#[actix_rt::test]
async fn a_corrupt_skill_record_is_a_typed_error_naming_the_key() {
    let db = sled::Config::new().temporary(true).open().expect("db");
    let store = SkillStore::open(&db).expect("store");
    store.apply(&create_rank_fusion()).await.expect("create");
    db.open_tree(TREE_SKILLS).expect("tree").insert("rank-fusion", &b"{not json"[..]).expect("insert");
    let is_corrupt =
        |r: &SkillError| matches!(r, SkillError::Corrupt { tree: "skills", key, .. } if key == "rank-fusion");
    assert!(store.get("rank-fusion").as_ref().is_err_and(is_corrupt));
    assert!(store.list().as_ref().is_err_and(is_corrupt));
    let p = patch("rank-fusion/r3/p1", PatchOp::AppendRule(measured_rule("r3-1")));
    assert!(store.apply(&p).await.as_ref().is_err_and(is_corrupt));
}

#[actix_rt::test]
async fn a_corrupt_patch_record_is_a_typed_error() {
    let db = sled::Config::new().temporary(true).open().expect("db");
    let store = SkillStore::open(&db).expect("store");
    db.open_tree(TREE_PATCHES).expect("tree").insert("seed/rank-fusion", &b"xx"[..]).expect("insert");
    let err = store.apply(&create_rank_fusion()).await.unwrap_err();
    assert!(matches!(err, SkillError::Corrupt { tree: "skill_patches", .. }), "{err}");
}
