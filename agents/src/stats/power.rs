//! Sample size for a two-arm comparison of a relative effect.
//!
//! With equal arms and per-unit coefficient of variation `cv`, the lift's standard error
//! is about `cv sqrt(2 / n)`, so detecting a relative effect `mde` at two-sided level
//! `alpha` with probability `power` needs
//! `n = 2 (z_{1-alpha/2} + z_{power})^2 cv^2 / mde^2` units per arm.

use super::dist::normal_quantile;
use super::error::{finite, open_unit, StatsError, StatsResult};

/// A variance needs two units, whatever the formula says.
const MIN_UNITS: u64 = 2;

fn z_sum(alpha: f64, power: f64) -> StatsResult<f64> {
    open_unit("alpha", alpha)?;
    open_unit("power", power)?;
    Ok(normal_quantile(1.0 - alpha / 2.0)? + normal_quantile(power)?)
}

fn non_negative(name: &'static str, x: f64) -> StatsResult<f64> {
    if finite(name, x)? < 0.0 {
        return Err(StatsError::OutOfRange { name, value: x, range: "[0, inf)" });
    }
    Ok(x)
}

/// Units per arm to detect a relative effect `mde` (a fraction, 0.02 = 2%), rounded up.
pub fn units_per_arm(cv: f64, mde: f64, alpha: f64, power: f64) -> StatsResult<u64> {
    non_negative("coefficient of variation", cv)?;
    if finite("minimum detectable effect", mde)? <= 0.0 {
        return Err(StatsError::OutOfRange { name: "minimum detectable effect", value: mde, range: "(0, inf)" });
    }
    let z = z_sum(alpha, power)?;
    let n = 2.0 * z * z * cv * cv / (mde * mde);
    // Shave rounding noise so that an exact integer answer is not bumped up by one.
    let n = (n * (1.0 - 1e-12)).ceil();
    if !n.is_finite() || n >= u64::MAX as f64 {
        return Err(StatsError::Invalid(format!("detecting {mde} with cv {cv} needs more units than can be counted")));
    }
    Ok((n as u64).max(MIN_UNITS))
}

/// The relative effect (fraction) detectable with `n` units per arm.
pub fn detectable_mde(cv: f64, n: u64, alpha: f64, power: f64) -> StatsResult<f64> {
    non_negative("coefficient of variation", cv)?;
    if n < MIN_UNITS {
        return Err(StatsError::TooFewUnits { n, min: MIN_UNITS });
    }
    Ok(z_sum(alpha, power)? * cv * (2.0 / n as f64).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn textbook_case_needs_39245_units() {
        assert_eq!(units_per_arm(1.0, 0.02, 0.05, 0.8).unwrap(), 39245);
    }

    #[test]
    fn mde_is_the_inverse_of_the_sample_size() {
        // 2 (1.959964 + 0.841621)^2 1.5^2 / 10000, square root, from scipy.
        let mde = detectable_mde(1.5, 10_000, 0.05, 0.8).unwrap();
        assert!((mde - 0.05943059717399018).abs() < 1e-9);
        assert_eq!(units_per_arm(1.5, mde, 0.05, 0.8).unwrap(), 10_000);
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(units_per_arm(1.0, 0.0, 0.05, 0.8).is_err());
        assert!(units_per_arm(-1.0, 0.02, 0.05, 0.8).is_err());
        assert!(units_per_arm(1.0, 0.02, 0.0, 0.8).is_err());
        assert!(units_per_arm(1.0, 1e-12, 0.05, 0.8).is_err());
        assert!(detectable_mde(1.0, 1, 0.05, 0.8).is_err());
        assert_eq!(units_per_arm(0.0, 0.02, 0.05, 0.8).unwrap(), 2);
    }
}
