//! Uniform random search: the baseline every built-in strategy must beat.

use crate::protocol::Origin;
use crate::strategy::search::Suggestion;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use skillhub::TaskSpec;

pub fn suggest(task: &TaskSpec, n: usize, seed: u64) -> Vec<Suggestion> {
    let space = task.space();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // Rejection sampling keeps the baseline honest about invariants; the attempt cap
    // keeps an unsatisfiable task from spinning.
    let mut out = Vec::new();
    for _ in 0..n * 1000 {
        if out.len() == n {
            break;
        }
        let u: Vec<f64> = (0..space.dim()).map(|_| rng.gen()).collect();
        let config = space.from_unit(&u);
        if task.violations(&config).is_empty() {
            out.push(config);
        }
    }
    out.into_iter()
        .map(|config| Suggestion {
            config,
            origin: Origin::Random,
            hypothesis: "uniform random sample of the search space (random-search baseline)".into(),
        })
        .collect()
}
