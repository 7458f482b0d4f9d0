//! Raising `--rounds` on a database whose run spent its budget continues the same run:
//! the rounds already done are not redone, and the new ones follow them.

mod common;
use common::*;

#[test]
fn more_rounds_resume_the_same_run() {
    let dir = tempfile::tempdir().unwrap();
    let (_, first) = run_rounds(dir.path(), 2);
    assert_eq!(first["rounds_run"], 2);
    let (text, second) = run_rounds(dir.path(), 3);
    assert_eq!(second["rounds_run"], 3);
    assert!(text.contains("round 3/3") && !text.contains("round 1/3"), "rounds 1-2 were redone: {text}");
    assert_eq!(second["experiments"].as_u64(), first["experiments"].as_u64().map(|e| e + 1));
}
