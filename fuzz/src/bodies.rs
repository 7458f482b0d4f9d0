//! One function per fuzz target: feed it any bytes; it must return, never panic.
//! Written against the crates' public parsing entry points only, so the same file
//! compiles in the fuzz crate and in the main workspace's seed-corpus test.

use agents::llm::{check_schema, parse_gemini_body, parse_openai_body};
use agents::platform::http::{parse_launch, parse_read};
use skillhub::TaskSpec;

/// A task file (TOML) or task JSON: parse, validate, and use what validated the way the
/// agents do (its space, unit mapping, baseline, invariants).
pub fn task_spec(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let parsed = [toml::from_str::<TaskSpec>(text).ok(), serde_json::from_str::<TaskSpec>(text).ok()];
    for task in parsed.into_iter().flatten() {
        let metrics = task.metrics();
        if task.validate(None).is_err() || task.validate(Some(&metrics)).is_err() {
            continue;
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
    }
}

/// A platform answer: the first two bytes choose the HTTP status, the rest is the body
/// of a read or of a launch answer.
pub fn platform_answer(data: &[u8]) {
    let (status, body) = match data {
        [a, b, rest @ ..] => (u16::from_le_bytes([*a, *b]) % 1000, rest),
        _ => (200, data),
    };
    let _ = parse_read(status, body);
    let _ = parse_launch(status, body);
    let _ = parse_read(200, data);
}

/// A language model's answer body (OpenAI and Gemini wire formats), and the schema check
/// with the input split into an answer and a schema at the first NUL byte.
pub fn llm_answer(data: &[u8]) {
    for answer in [parse_openai_body(data), parse_gemini_body(data)].into_iter().flatten() {
        let _ = check_schema(&answer.json, &answer.json);
    }
    let mut parts = data.splitn(2, |b| *b == 0);
    let (value, schema) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    if let (Ok(v), Ok(s)) = (serde_json::from_slice(value), serde_json::from_slice(schema)) {
        let _ = check_schema(&v, &s);
    }
}
