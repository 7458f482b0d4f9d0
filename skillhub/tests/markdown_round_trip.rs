//! Skills survive the trip through Markdown, and the seed files are kept in the form
//! `render_markdown` writes, so their prose cannot drift from their data.

use skillhub::seeds::SEED_FILES;
use skillhub::{parse_markdown, render_markdown, seed_skills, MarkdownError, Skill};

mod common;

#[test]
fn every_seed_round_trips_through_markdown() {
    for skill in seed_skills().expect("seeds parse") {
        let doc = render_markdown(&skill).expect("render");
        assert_eq!(parse_markdown(&doc).expect("parse rendered"), skill, "{}", skill.task_id);
    }
}

#[test]
fn seed_files_are_in_rendered_form() {
    for (file, doc) in SEED_FILES {
        let skill = parse_markdown(doc).expect("seed parses");
        let rendered = render_markdown(&skill).expect("render");
        assert!(
            rendered == doc,
            "{file} differs from its rendered form; run \
             `cargo test -p skillhub --test markdown_round_trip -- --ignored rewrite_seed_files` \
             and review the diff"
        );
    }
}

#[test]
fn a_grown_skill_round_trips_through_markdown() {
    let skill = common::grown_skill();
    let doc = render_markdown(&skill).expect("render");
    assert_eq!(parse_markdown(&doc).expect("parse"), skill);
}

#[test]
fn rule_text_that_looks_like_markdown_structure_round_trips() {
    let mut skill = common::grown_skill();
    skill.rules[0].text = "line one\n## not a heading\n```\nnot a fence\n````toml\n| pipe |".into();
    let doc = render_markdown(&skill).expect("render");
    assert_eq!(parse_markdown(&doc).expect("parse"), skill);
}

#[test]
fn parse_errors_name_the_section() {
    let doc = render_markdown(&common::seed("rank-fusion")).expect("render");
    let missing = doc.replace("## 5. Domain knowledge", "## 5. Domain lore");
    assert_eq!(parse_markdown(&missing).unwrap_err(), MarkdownError::MissingSection { section: "5. Domain knowledge" });
    let bad_toml = doc.replace("confidence = 0.3", "confidence = \"high\"");
    let err = parse_markdown(&bad_toml).unwrap_err();
    assert!(matches!(err, MarkdownError::Toml { section: "5. Domain knowledge", .. }), "{err}");
    let typo = doc.replace("[[params]]\nname = \"rank.w_click\"", "[[params]]\nnmae = \"rank.w_click\"");
    let err = parse_markdown(&typo).unwrap_err();
    assert!(matches!(err, MarkdownError::Toml { section: "2. Requirement", .. }), "{err}");
}

#[test]
fn a_parsed_document_must_be_a_valid_skill() {
    let doc = render_markdown(&common::seed("rank-fusion")).expect("render");
    let out_of_range = doc.replace("\"rank.w_like\" = 0.3", "\"rank.w_like\" = 7.0");
    assert!(matches!(parse_markdown(&out_of_range), Err(MarkdownError::Invalid(_))));
}

/// Rewrites the seed files in rendered form after a hand edit of their toml blocks.
#[test]
#[ignore = "developer tool: rewrites skillhub/seeds/*.md"]
fn rewrite_seed_files() {
    for (file, doc) in SEED_FILES {
        let skill: Skill = parse_markdown(doc).expect("seed parses");
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        std::fs::write(path, render_markdown(&skill).expect("render")).expect("write seed");
    }
}
