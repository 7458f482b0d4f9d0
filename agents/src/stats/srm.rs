//! Sample-ratio mismatch: did each arm get the share of units it was given?
//!
//! A mismatch means the assignment or the logging is broken, and then no comparison of
//! the arms can be trusted, whatever its p-value. Pearson's chi-square goodness of fit
//! with `arms - 1` degrees of freedom; the shares are renormalised over the arms
//! present, since traffic may sum to less than 1 when part of it is held out.

use super::dist::chi_squared_sf;
use super::error::{StatsError, StatsResult};

/// p-value of the observed units per arm under the expected traffic shares (same
/// order). One arm, or no units at all, cannot mismatch: 1.
pub fn srm_p_value(observed: &[u64], shares: &[f64]) -> StatsResult<f64> {
    if observed.len() != shares.len() {
        return Err(StatsError::Invalid(format!(
            "{} arms observed but {} traffic shares given",
            observed.len(),
            shares.len()
        )));
    }
    if let Some(bad) = shares.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        return Err(StatsError::OutOfRange { name: "traffic share", value: *bad, range: "(0, inf)" });
    }
    let total: f64 = observed.iter().map(|&o| o as f64).sum();
    if observed.len() < 2 || total == 0.0 {
        return Ok(1.0);
    }
    let share_sum: f64 = shares.iter().sum();
    let chi2: f64 = observed
        .iter()
        .zip(shares)
        .map(|(&o, s)| {
            let expected = total * s / share_sum;
            (o as f64 - expected).powi(2) / expected
        })
        .sum();
    chi_squared_sf(chi2, (observed.len() - 1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-6 * b.abs()
    }

    #[test]
    fn matches_scipy_chisquare() {
        assert!(close(srm_p_value(&[5000, 5200], &[0.5, 0.5]).unwrap(), 0.0476703806561615));
        assert!(close(srm_p_value(&[5000, 5200, 5100], &[0.25, 0.25, 0.25]).unwrap(), 0.14074798704123068));
        assert!(close(srm_p_value(&[2400, 7600], &[0.25, 0.75]).unwrap(), 0.020921335337794035));
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        assert_eq!(srm_p_value(&[100], &[1.0]).unwrap(), 1.0);
        assert_eq!(srm_p_value(&[0, 0], &[0.5, 0.5]).unwrap(), 1.0);
        assert!(srm_p_value(&[1, 2], &[0.5]).is_err());
        assert!(srm_p_value(&[1, 2], &[0.5, 0.0]).is_err());
        assert_eq!(srm_p_value(&[], &[]).unwrap(), 1.0);
    }
}
