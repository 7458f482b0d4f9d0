//! Uniform random search: the baseline every built-in strategy must beat.

use crate::protocol::Origin;
use crate::strategy::search::Suggestion;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use skillhub::TaskSpec;

pub fn suggest(task: &TaskSpec, n: usize, seed: u64) -> Vec<Suggestion> {
    let space = task.space();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let u: Vec<f64> = (0..space.dim()).map(|_| rng.gen()).collect();
            Suggestion {
                config: space.from_unit(&u),
                origin: Origin::Random,
                hypothesis: "uniform random sample of the search space (random-search baseline)".into(),
            }
        })
        .collect()
}
