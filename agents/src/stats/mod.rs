//! Reading A/B experiments honestly, from the per-arm sufficient statistics the
//! platform reports (see design/experiment-platform.md).
//!
//! Formulas, and why these:
//! - per arm ([`moments`]): mean and sample variance (n - 1) for mean metrics; for ratio
//!   metrics R = sum_num / sum_den with the delta-method variance, because units, not
//!   impressions, are randomised and impressions within a user are correlated;
//! - absolute difference ([`effect`]): Welch's t-test with Welch–Satterthwaite df,
//!   since a treatment that works also changes the variance;
//! - relative lift ([`effect`]): `(m_t - m_c) / |m_c|` with the delta-method variance
//!   `var_t / m_c^2 + m_t^2 var_c / m_c^4` and a t interval on the Welch df, as
//!   GrowthBook's frequentist engine does; lifts are what the objective is written in;
//! - the scalar objective ([`combine`]): a weighted sum of lifts with the standard error
//!   `sum |w_i| se_i`, valid for any correlation between metrics, which per-metric sums
//!   cannot tell us;
//! - guardrails ([`guardrail`]): one-sided non-inferiority at alpha, read from the
//!   two-sided interval at 1 - 2 alpha;
//! - sample size ([`power`]), sample-ratio mismatch ([`srm`], Pearson chi-square),
//!   multiple-testing corrections ([`multiple`]), always-valid intervals for interim
//!   looks ([`sequential`]); CUPED lives with the full analysis ([`crate::analysis`]);
//! - weighted ridge least squares ([`wls`]) for the sensitivity of metrics to parameters.
//!
//! Nothing here returns NaN silently or panics on degenerate data: such inputs give a
//! [`StatsError`] or a documented limit value.

pub mod combine;
pub mod dist;
pub mod effect;
pub mod error;
pub mod guardrail;
pub mod linalg;
pub mod moments;
pub mod multiple;
pub mod power;
pub mod sequential;
pub mod srm;
pub mod wls;

#[cfg(test)]
mod aa_sequential;
#[cfg(test)]
mod aa_simulation;

pub use combine::{combine, score_interval, LiftPct, WeightedLift};
pub use dist::{
    chi_squared_sf, normal_cdf, normal_quantile, normal_sf, sample_normal, student_t_cdf, student_t_quantile,
    student_t_sf, t_two_sided, two_sided_p_normal, two_sided_p_t, z_two_sided,
};
pub use effect::{compare, compare_summaries, relative_lift, welch, AbsoluteEffect, Effect, RelativeEffect};
pub use error::{StatsError, StatsResult};
pub use guardrail::{check_guardrail, guardrail_verdict, proof_margin};
pub use moments::{mean_summary, ratio_summary, summarize, ArmSummary};
pub use multiple::{bh_adjusted, holm_adjusted, holm_reject};
pub use power::{detectable_mde, units_per_arm};
pub use sequential::{mixture_rho_sq, sequential_interval, SequentialEstimate, DEFAULT_TUNING_N};
pub use srm::srm_p_value;
pub use wls::{fit_weighted_ridge, WlsFit};
