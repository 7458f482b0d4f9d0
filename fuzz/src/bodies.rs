//! One function per fuzz target: feed it any bytes; it must return, never panic.
//! Written against the crates' public parsing entry points only, so the same file
//! compiles in the fuzz crate and in the main workspace's seed-corpus test
//! (`tests/fuzz_bodies_over_seed_corpus.rs`), which includes it by path.
//!
//! Each returns how many of its parses succeeded, so the seed-corpus test can check that
//! the seeds reach past the first parse (a corpus that only exercises error paths would
//! leave the deep code unfuzzed). libFuzzer ignores the number.

use agents::llm::{check_schema, parse_gemini_body, parse_openai_body};
use agents::platform::http::{parse_launch, parse_read};
use skillhub::TaskSpec;

/// A task as the binary reads it: a whole task file (TOML, the `[task]` table), or a
/// bare task in TOML or JSON. Whatever validates is then used the way the agents use a
/// task (its space, unit mapping, baseline, invariants, objective). Returns the number
/// of readings that validated.
pub fn task_spec(data: &[u8]) -> usize {
    let Ok(text) = std::str::from_utf8(data) else { return 0 };
    let task_table = toml::from_str::<toml::Table>(text).ok().and_then(|mut t| t.remove("task"));
    let parsed = [
        task_table.and_then(|t| t.try_into::<TaskSpec>().ok()),
        toml::from_str::<TaskSpec>(text).ok(),
        serde_json::from_str::<TaskSpec>(text).ok(),
    ];
    parsed.iter().flatten().filter(|task| use_task(task)).count()
}

/// Validates `task` and, if it is valid, exercises what the agents do with one.
fn use_task(task: &TaskSpec) -> bool {
    let metrics = task.metrics();
    if task.validate(None).is_err() || task.validate(Some(&metrics)).is_err() {
        return false;
    }
    let space = task.space();
    let baseline = task.baseline();
    let _ = space.check(&baseline);
    let unit = space.to_unit(&baseline);
    for u in [0.0, 0.5, 1.0] {
        let cfg = space.from_unit(&vec![u; unit.len()]);
        let _ = space.check(&cfg);
        let _ = space.distance(&baseline, &cfg);
        let _ = task.violations(&cfg);
    }
    let lifts = metrics.iter().map(|m| (m.clone(), 1.0)).collect();
    let _ = task.score(&lifts);
    let _ = task.feasible(&lifts, &lifts);
    true
}

/// A platform answer: the first two bytes choose the HTTP status, the rest is the body
/// of a read or of a launch answer. Returns the number of answers that parsed.
pub fn platform_answer(data: &[u8]) -> usize {
    let (status, body) = match data {
        [a, b, rest @ ..] => (u16::from_le_bytes([*a, *b]) % 1000, rest),
        _ => (200, data),
    };
    [parse_read(status, body).is_ok(), parse_launch(status, body).is_ok(), parse_read(200, data).is_ok()]
        .into_iter()
        .filter(|ok| *ok)
        .count()
}

/// A language model's answer body (OpenAI and Gemini wire formats), and the schema check
/// with the input split into an answer and a schema at the first NUL byte. Returns the
/// number of bodies that parsed plus the schema checks that passed.
pub fn llm_answer(data: &[u8]) -> usize {
    let mut reached = 0;
    for answer in [parse_openai_body(data), parse_gemini_body(data)].into_iter().flatten() {
        reached += 1;
        let _ = check_schema(&answer.json, &answer.json);
    }
    let mut parts = data.splitn(2, |b| *b == 0);
    let (value, schema) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    if let (Ok(v), Ok(s)) = (serde_json::from_slice(value), serde_json::from_slice(schema)) {
        reached += usize::from(check_schema(&v, &s).is_ok());
    }
    reached
}
