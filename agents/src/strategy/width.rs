//! How many treatments a round tests, and what that costs in power.
//!
//! The budget is traffic: a round may expose `units_per_arm` units to each of
//! `arms_per_round` treatments and to the comparison arms (the control, and the
//! production baseline once the incumbent differs from it). A round that tests fewer
//! treatments spreads the same traffic over fewer arms, so each arm gets more units,
//! and the ship rule's corrections (Holm over the treatments for the objective,
//! Bonferroni for the guardrails) divide alpha by fewer. One treatment instead of four
//! roughly halves the smallest gain a read can show: late in a run, when the remaining
//! improvements are smaller than a wide round can prove, a narrow round is the only
//! way to ship them (see `docs/BENCHMARKS.md`, the provable ceiling).

use crate::stats::normal_quantile;
use skillhub::Budget;

/// Family-wise level of the ship rule (`agents.online.confidence` 0.95). The search's
/// bar is a planning estimate; the readout applies the configured level itself.
pub const SHIP_ALPHA: f64 = 0.05;

/// The shape of a round: how the budget's traffic is split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoundShape {
    /// Treatments the budget pays for (`task.budget.arms_per_round`).
    pub budget_treatments: usize,
    /// Comparison arms next to the treatments: the control, plus the baseline when the
    /// incumbent is not production.
    pub comparison_arms: usize,
    /// Units per arm at the budget's width (`task.budget.units_per_arm`).
    pub budget_units: u64,
}

impl RoundShape {
    pub fn new(budget_treatments: usize, comparison_arms: usize, budget_units: u64) -> RoundShape {
        RoundShape {
            budget_treatments: budget_treatments.max(1),
            comparison_arms: comparison_arms.max(1),
            budget_units,
        }
    }

    /// The shape of a round of `budget` with `comparison_arms` beside the treatments.
    pub fn of(budget: &Budget, comparison_arms: usize) -> RoundShape {
        RoundShape::new(budget.arms_per_round as usize, comparison_arms, budget.units_per_arm)
    }

    /// Units per arm when `treatments` share the round's traffic: never more traffic
    /// than the budget, never fewer units per arm.
    pub fn units_per_arm(&self, treatments: usize) -> u64 {
        let budget_arms = (self.budget_treatments + self.comparison_arms) as u64;
        let arms = (treatments.clamp(1, self.budget_treatments) + self.comparison_arms) as u64;
        self.budget_units.saturating_mul(budget_arms) / arms
    }

    /// Units per arm with `treatments` arms, relative to the budget's width.
    pub fn units_scale(&self, treatments: usize) -> f64 {
        let arms = (treatments.clamp(1, self.budget_treatments) + self.comparison_arms) as f64;
        (self.budget_treatments + self.comparison_arms) as f64 / arms
    }

    /// A read's standard error with `treatments` arms, relative to one at the budget's
    /// width: every arm's units scale together, the error with one over their root.
    pub fn se_scale(&self, treatments: usize) -> f64 {
        self.units_scale(treatments).sqrt().recip()
    }
}

/// "1 treatment", "4 treatments": how logs and reasons name a round's width.
pub fn treatments_text(k: usize) -> String {
    format!("{k} treatment{}", if k == 1 { "" } else { "s" })
}

/// Critical value the objective must clear with `treatments` in the round: Holm's first
/// step, two-sided.
pub fn objective_z(treatments: usize) -> f64 {
    normal_quantile(1.0 - SHIP_ALPHA / (2.0 * treatments.max(1) as f64)).unwrap_or(f64::INFINITY)
}

/// Critical value of the guardrails' one-sided non-inferiority test (Bonferroni over the
/// round's treatments).
pub fn guardrail_z(treatments: usize) -> f64 {
    normal_quantile(1.0 - SHIP_ALPHA / treatments.max(1) as f64).unwrap_or(f64::INFINITY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fewer_treatments_share_the_same_traffic() {
        let s = RoundShape::new(4, 1, 80_000);
        assert_eq!(s.units_per_arm(4), 80_000);
        // 5 arms x 80 000 = 400 000 units over 2 arms.
        assert_eq!(s.units_per_arm(1), 200_000);
        assert_eq!(s.units_per_arm(2), 133_333);
        // More treatments than the budget pays for never dilute below the budget's units.
        assert_eq!(s.units_per_arm(9), 80_000);
        let with_baseline = RoundShape::new(4, 2, 80_000);
        assert_eq!(with_baseline.units_per_arm(1), 160_000);
    }

    #[test]
    fn the_standard_error_scales_with_the_root_of_the_arms() {
        let s = RoundShape::new(4, 1, 80_000);
        assert!((s.se_scale(4) - 1.0).abs() < 1e-12);
        assert!((s.se_scale(1) - (2.0f64 / 5.0).sqrt()).abs() < 1e-12);
        assert!((s.units_scale(1) - 2.5).abs() < 1e-12);
    }

    #[test]
    fn critical_values_match_the_tables() {
        assert!((objective_z(1) - 1.959_964).abs() < 1e-5);
        assert!((objective_z(4) - 2.497_705).abs() < 1e-5);
        assert!((guardrail_z(1) - 1.644_854).abs() < 1e-5);
        assert!((guardrail_z(4) - 2.241_403).abs() < 1e-5);
        // One treatment at 2.5x the units shows gains about half as large as four.
        let s = RoundShape::new(4, 1, 80_000);
        let ratio = objective_z(1) * s.se_scale(1) / (objective_z(4) * s.se_scale(4));
        assert!((ratio - 0.496).abs() < 0.001, "{ratio}");
    }
}
