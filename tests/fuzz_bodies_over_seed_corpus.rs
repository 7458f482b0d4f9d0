//! The fuzz targets' bodies (fuzz/src/bodies.rs, the same file `make fuzz` runs under
//! libFuzzer) run on stable Rust over the seed corpus in fuzz/seeds/<target>/, which also
//! holds every input a fuzzing session found crashing: none may panic, and the seeds of
//! well-formed input must get past the first parse, or the corpus leaves the deep code
//! unfuzzed. A few hundred seeded mutations of each seed (cuts, flipped bytes, spliced
//! bytes) run too, so `make test` exercises the error paths without libFuzzer.

#[path = "../fuzz/src/bodies.rs"]
mod bodies;

use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};

/// Mutations per seed: enough to walk the error paths, a fraction of a second in all.
const MUTATIONS: usize = 300;

type Body = fn(&[u8]) -> usize;

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    files.sort();
    let seeds: Vec<_> = files
        .into_iter()
        .map(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            (name, std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        })
        .collect();
    assert!(!seeds.is_empty(), "no seeds for {target} in {}", dir.display());
    seeds
}

/// A copy of `seed` cut, with bytes flipped, or with a slice of itself spliced in.
fn mutate(seed: &[u8], rng: &mut rand_chacha::ChaCha8Rng) -> Vec<u8> {
    let mut out = seed.to_vec();
    if out.is_empty() {
        return vec![rng.gen()];
    }
    match rng.gen_range(0..3) {
        0 => out.truncate(rng.gen_range(0..out.len())),
        1 => {
            for _ in 0..rng.gen_range(1..4) {
                let i = rng.gen_range(0..out.len());
                out[i] = rng.gen();
            }
        }
        _ => {
            let (a, b) = (rng.gen_range(0..out.len()), rng.gen_range(0..out.len()));
            let piece = out[a.min(b)..a.max(b)].to_vec();
            let at = rng.gen_range(0..out.len());
            out.splice(at..at, piece);
        }
    }
    out
}

/// Runs `body` over every seed and its mutations; returns what each seed reached.
fn run(target: &str, body: Body) -> Vec<(String, usize)> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x5eed);
    seeds(target)
        .into_iter()
        .map(|(name, bytes)| {
            let reached = body(&bytes);
            for _ in 0..MUTATIONS {
                body(&mutate(&bytes, &mut rng));
            }
            (name, reached)
        })
        .collect()
}

/// Seeds named `crash-*` are inputs that once crashed a target: they need only return.
fn assert_well_formed_seeds_parse(target: &str, reached: &[(String, usize)], malformed: &[&str]) {
    for (name, n) in reached {
        let expected_to_parse = !name.starts_with("crash-") && !malformed.contains(&name.as_str());
        if expected_to_parse {
            assert!(*n > 0, "{target}/{name} is meant to be well formed but no parse accepted it");
        }
    }
}

#[test]
fn task_parser_seeds_and_their_mutations_never_panic() {
    let reached = run("task_spec", bodies::task_spec);
    assert_well_formed_seeds_parse("task_spec", &reached, &[]);
}

#[test]
fn platform_answer_seeds_and_their_mutations_never_panic() {
    let reached = run("platform_answer", bodies::platform_answer);
    // A 409 and a contract-breaking 200 are errors by design: they fuzz the error paths.
    assert_well_formed_seeds_parse("platform_answer", &reached, &["conflict-409", "garbage-200"]);
}

#[test]
fn llm_answer_seeds_and_their_mutations_never_panic() {
    let reached = run("llm_answer", bodies::llm_answer);
    assert_well_formed_seeds_parse("llm_answer", &reached, &[]);
}
