//! When tuning has converged: when no configuration within the search's reach is
//! plausibly better than the incumbent by as much as the next experiment could show.
//!
//! The headroom is the largest upper quantile of the predicted gain over the incumbent
//! (the objective surrogate's mean plus [`GAIN_UPPER_Z`] standard deviations, minus its
//! mean at the incumbent) among the configurations the Actor could propose next that the
//! guardrail surrogates predict safe. The bar is the ship test's: the smallest gain one
//! more arm, read once against the control, can show ([`ShipBar::detectable_pct`]) in
//! the tightest round the budget allows (one treatment given the round's traffic). A
//! region that could hide a bigger gain keeps the run going, however long nothing has
//! shipped; a run whose remaining candidates cannot even in the optimistic case beat the
//! incumbent by a detectable margin stops, because the budget cannot buy a ship there.

use super::search::{reachable, ShipBar, SAFE_P};
use super::surrogate::Surrogate;
use super::width::RoundShape;
use crate::protocol::Observation;
use skillhub::{Configuration, Space};

/// One-sided 95% upper quantile of a predicted gain: optimistic enough that a region the
/// surrogate knows little about counts as possibly better.
pub const GAIN_UPPER_Z: f64 = 1.645;

/// The convergence test's outcome, with the reason in numbers (it is logged and ends the
/// run).
#[derive(Debug, Clone, PartialEq)]
pub struct Convergence {
    pub converged: bool,
    pub reason: String,
}

/// The best safe candidate: its optimistic gain over the incumbent, with the posterior
/// it came from.
struct Headroom {
    upper: f64,
    mean: f64,
    sd: f64,
}

/// Tests convergence with `model` fitted on `observations`; `seed` fixes the candidate
/// pool, so that replaying the journal gives the same answer.
pub fn test(
    model: &Surrogate,
    space: &Space,
    observations: &[Observation],
    incumbent: &Configuration,
    shape: RoundShape,
    seed: u64,
) -> Convergence {
    let bar = ShipBar::of(model, space, observations, incumbent, shape, 1);
    let (Some(detectable), Some(se)) = (bar.detectable_pct(), bar.read_se) else {
        return Convergence {
            converged: false,
            reason: "no read with a standard error yet: nothing to compare the headroom with".into(),
        };
    };
    let candidates = reachable(space, observations, incumbent, seed);
    let bar_text = format!("the {detectable:.2}% the next read can show (one treatment: z {:.2} x se {se:.2}%)", bar.z);
    match headroom(model, &candidates, bar.incumbent) {
        None => Convergence {
            converged: true,
            reason: format!(
                "none of {} reachable candidates is predicted safe (P(guardrails hold) >= {SAFE_P}); nothing left to ship",
                candidates.len()
            ),
        },
        Some(h) if h.upper < detectable => Convergence {
            converged: true,
            reason: format!(
                "best safe candidate's 95% upper gain over the incumbent is {:+.2}% (mean {:+.2}% ± {:.2}), below {bar_text}; {} candidates",
                h.upper,
                h.mean,
                h.sd,
                candidates.len()
            ),
        },
        Some(h) => Convergence {
            converged: false,
            reason: format!(
                "a safe candidate may still gain {:+.2}% over the incumbent (95% upper; mean {:+.2}% ± {:.2}), not below {bar_text}",
                h.upper, h.mean, h.sd
            ),
        },
    }
}

/// The candidate predicted safe with the largest optimistic gain over `incumbent_mean`;
/// `None` when no candidate is predicted safe.
fn headroom(model: &Surrogate, candidates: &[(Configuration, Vec<f64>)], incumbent_mean: f64) -> Option<Headroom> {
    candidates
        .iter()
        .map(|(_, u)| model.predict(u))
        .filter(|p| p.p_safe >= SAFE_P)
        .map(|p| {
            let mean = p.score.mean - incumbent_mean;
            Headroom { upper: mean + GAIN_UPPER_Z * p.score.sd, mean, sd: p.score.sd }
        })
        .max_by(|a, b| a.upper.total_cmp(&b.upper))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::grid;
    use skillhub::Value;
    use std::collections::BTreeMap;

    fn run(obs: &[Observation], incumbent: (f64, f64)) -> Convergence {
        let task = crate::fixtures::task(&["a", "b"], vec![]);
        let model = Surrogate::fit(&task, obs, &BTreeMap::new(), &BTreeMap::new()).expect("fit");
        let inc = Configuration::from([
            ("a".to_string(), Value::Num(incumbent.0)),
            ("b".to_string(), Value::Num(incumbent.1)),
        ]);
        test(&model, &task.space(), obs, &inc, RoundShape::new(4, 1, task.budget.units_per_arm), 7)
    }

    #[test]
    fn a_flat_well_measured_surface_has_converged() {
        // Every configuration is worth what the baseline is, measured to ±0.4: the
        // surrogate is tight and no candidate can plausibly beat the incumbent (the
        // baseline) by what a one-treatment round reads: 1.96 x 0.4 x sqrt(2/5) = 0.50%.
        let c = run(&grid(|_, _| 0.0, 0.4), (0.5, 0.5));
        assert!(c.converged, "{}", c.reason);
        assert!(c.reason.contains("below the 0.50% the next read can show"), "{}", c.reason);
    }

    #[test]
    fn a_clearly_better_region_keeps_the_run_going() {
        // A ridge worth +4% at a = 1 while the incumbent sits at a = 0 (worth 0).
        let c = run(&grid(|a, _| 4.0 * a * a, 0.4), (0.0, 0.5));
        assert!(!c.converged, "{}", c.reason);
        assert!(c.reason.contains("may still gain +"), "{}", c.reason);
    }

    #[test]
    fn without_any_read_error_there_is_no_bar_and_no_convergence() {
        let c = run(&grid(|_, _| 0.0, 0.0), (0.5, 0.5));
        assert!(!c.converged, "{}", c.reason);
    }
}
