//! Why a statistic could not be computed. Every degenerate input becomes one of these
//! instead of a NaN that would travel silently into a verdict or a skill rule.

/// A statistic that cannot be computed from the inputs, with what was wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatsError {
    #[error("an arm needs at least {min} units for a variance, it has {n}")]
    TooFewUnits { n: u64, min: u64 },
    #[error("{0} is not a finite number")]
    NonFinite(&'static str),
    #[error("the ratio metric's denominator sums to zero in an arm")]
    ZeroDenominator,
    #[error("the reference arm's mean is zero, so a relative effect is undefined")]
    ZeroReference,
    #[error("cannot compare a {treatment} metric with a {reference} metric")]
    KindMismatch { treatment: &'static str, reference: &'static str },
    #[error("{name} is {value}, it must lie in {range}")]
    OutOfRange { name: &'static str, value: f64, range: &'static str },
    #[error("{0}")]
    Invalid(String),
    #[error("CUPED needs pre-experiment sums on every arm")]
    MissingPre,
}

pub type StatsResult<T> = Result<T, StatsError>;

/// Rejects NaN and infinities early, naming the quantity.
pub(crate) fn finite(name: &'static str, x: f64) -> StatsResult<f64> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(StatsError::NonFinite(name))
    }
}

/// Checks that `x` lies strictly inside (0, 1), as probabilities and confidences must.
pub(crate) fn open_unit(name: &'static str, x: f64) -> StatsResult<f64> {
    if x > 0.0 && x < 1.0 {
        Ok(x)
    } else {
        Err(StatsError::OutOfRange { name, value: x, range: "(0, 1)" })
    }
}
