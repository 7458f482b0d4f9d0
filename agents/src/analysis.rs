//! A full, serialisable analysis of one platform read: every metric, every treatment arm
//! against the control, with the numbers GrowthBook's frequentist engine (gbstats 0.8.0)
//! would give, plus the checks a reader needs before trusting any of them.
//!
//! Per (metric, treatment arm):
//! - absolute effect: Welch's t-test, sample variances (n - 1), Welch–Satterthwaite df;
//! - relative lift `(m_t - m_c) / |m_c|`: delta-method variance
//!   `var_t / (m_c^2 n_t) + m_t^2 var_c / (m_c^4 n_c)` with a t interval and p-value at the
//!   same Welch df, as gbstats does (and `stats::relative_lift`);
//! - ratio metrics: the delta-method per-unit variance of `stats::moments`, which is
//!   gbstats' `RatioStatistic` variance;
//! - CUPED when both arms carry `pre` sums, as gbstats' `RegressionAdjustedStatistic`:
//!   theta is the slope of y on the pre value over the two arms' units pooled as one
//!   sample, each arm's mean becomes
//!   `mean_y - theta mean_x`, its per-unit variance `var_y + theta^2 var_x - 2 theta cov`,
//!   and the lift is divided by the *unadjusted* control mean, with unadjusted means in
//!   the delta method. A theta of 0 (no variance in either period) means no adjustment;
//! - the always-valid interval of the headline lift (CUPED when present) for interim
//!   looks ([`stats::sequential`]);
//! - Holm and Benjamini–Hochberg adjusted p-values over all (arm, metric) pairs, of the
//!   headline lift's p-value.
//!
//! And once per read: the sample-ratio check (Pearson chi-square against the traffic
//! shares), which blocks every conclusion when `p < 0.001`.
//!
//! The lift divides by `|m_c|` (the project's convention, `skillhub::task::lifts_pct`)
//! where gbstats divides by `m_c`; they agree for the positive means metrics have.

use crate::platform::{ArmRead, ExperimentRead, ExperimentStatus, MetricData, MetricKind, PreSums};
use crate::protocol::Interval;
use crate::readout::SRM_ALPHA;
use crate::stats::moments::sample_cov;
use crate::stats::sequential::{sequential_interval, SequentialEstimate, DEFAULT_TUNING_N};
use crate::stats::{self, StatsError, StatsResult};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// How to read the experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalysisOptions {
    /// Two-sided confidence of every interval (0.95).
    pub confidence: f64,
    /// The reference arm; `None` means the arm called "control", else the first arm.
    pub control_arm: Option<String>,
    /// N* of the sequential intervals: total units at which they are tightest.
    pub sequential_tuning_n: f64,
    /// Expected traffic shares in the order of the read's arms; `None` means equal.
    pub traffic_shares: Option<Vec<f64>>,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        AnalysisOptions {
            confidence: 0.95,
            control_arm: None,
            sequential_tuning_n: DEFAULT_TUNING_N,
            traffic_shares: None,
        }
    }
}

/// Why a read could not be analysed; `path` names the offending field of the read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AnalysisError {
    #[error("the read has no arms")]
    NoArms,
    #[error("control arm `{0}` is not in the read")]
    UnknownControl(String),
    #[error("the read has only the control arm, nothing to compare")]
    NoTreatment,
    #[error("{path}: {problem}")]
    BadData { path: String, problem: String },
    #[error("{path}: {source}")]
    Stats { path: String, source: StatsError },
    #[error("option {name}: {problem}")]
    BadOption { name: &'static str, problem: String },
}

/// One estimate with its interval at the analysis' confidence.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub ci: Interval,
    pub std_err: f64,
    /// Welch–Satterthwaite degrees of freedom of the interval and the p-value.
    pub df: f64,
    pub p_value: f64,
}

impl Estimate {
    pub fn estimate(&self) -> f64 {
        self.ci.estimate
    }
    fn width(&self) -> f64 {
        self.ci.high - self.ci.low
    }
}

/// The CUPED (regression-adjusted) comparison.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CupedEstimate {
    pub theta: f64,
    pub absolute: Estimate,
    pub relative: Estimate,
    /// How much smaller the lift's variance is than without CUPED, in percent.
    pub variance_reduction_pct: f64,
    /// How much narrower the lift's interval is than without CUPED, in percent.
    pub ci_narrowing_pct: f64,
}

/// One metric of one treatment arm against the control.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub metric: String,
    pub arm: String,
    pub kind: MetricKind,
    pub n_control: u64,
    pub n_treatment: u64,
    pub control_mean: f64,
    pub treatment_mean: f64,
    pub absolute: Estimate,
    /// The relative lift as a fraction (0.01 = +1%).
    pub relative: Estimate,
    pub cuped: Option<CupedEstimate>,
    /// Always-valid interval of the headline lift (CUPED's when present).
    pub sequential: SequentialEstimate,
    /// The headline lift's p-value, the one the corrections adjust.
    pub p_value: f64,
    pub holm_p: f64,
    pub bh_p: f64,
}

impl Comparison {
    /// The lift the decision rests on: CUPED's when present, else the plain one.
    pub fn headline(&self) -> &Estimate {
        self.cuped.as_ref().map_or(&self.relative, |c| &c.relative)
    }
}

/// The sample-ratio check of the read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SrmCheck {
    pub arms: Vec<String>,
    pub units: Vec<u64>,
    pub shares: Vec<f64>,
    pub chi_square: f64,
    pub p_value: f64,
    /// `p_value < 0.001`: the assignment is broken and nothing should be concluded.
    pub blocked: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    pub experiment_id: String,
    pub status: ExperimentStatus,
    pub confidence: f64,
    pub control_arm: String,
    pub sequential_tuning_n: f64,
    pub srm: SrmCheck,
    /// Metric by metric (name order), each treatment arm in the read's order.
    pub comparisons: Vec<Comparison>,
}

impl Analysis {
    pub fn comparison(&self, metric: &str, arm: &str) -> Option<&Comparison> {
        self.comparisons.iter().find(|c| c.metric == metric && c.arm == arm)
    }
}

// ---- gbstats' estimators --------------------------------------------------------------

/// One arm as the estimators see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArmMoments {
    pub n: u64,
    /// The mean the effect is measured on (CUPED-adjusted or not).
    pub mean: f64,
    /// The unadjusted mean, the lift's denominator and delta-method weight.
    pub raw_mean: f64,
    /// Per-unit variance of `mean`'s summands (n - 1).
    pub unit_var: f64,
}

impl ArmMoments {
    fn var_of_mean(&self) -> f64 {
        self.unit_var / self.n as f64
    }
}

impl From<stats::ArmSummary> for ArmMoments {
    fn from(s: stats::ArmSummary) -> Self {
        ArmMoments { n: s.n, mean: s.mean, raw_mean: s.mean, unit_var: s.unit_var }
    }
}

/// Welch–Satterthwaite df; the pooled df when both variances vanish (0/0).
fn welch_df(c: &ArmMoments, t: &ArmMoments) -> f64 {
    let (vc, vt) = (c.var_of_mean(), t.var_of_mean());
    let den = vt * vt / (t.n as f64 - 1.0) + vc * vc / (c.n as f64 - 1.0);
    if den > 0.0 {
        (vt + vc).powi(2) / den
    } else {
        (t.n + c.n) as f64 - 2.0
    }
}

/// A t interval and p-value; a zero standard error means the value is known exactly.
fn t_estimate(estimate: f64, std_err: f64, df: f64, confidence: f64) -> StatsResult<Estimate> {
    stats::error::finite("estimate", estimate)?;
    stats::error::finite("standard error", std_err)?;
    let q = stats::t_two_sided(confidence, df)?;
    let p_value = if std_err > 0.0 {
        stats::two_sided_p_t(estimate / std_err, df)?
    } else {
        f64::from(u8::from(estimate == 0.0))
    };
    let ci = Interval { estimate, low: estimate - q * std_err, high: estimate + q * std_err };
    Ok(Estimate { ci, std_err, df, p_value })
}

/// `treatment - control` with Welch's test (gbstats `TwoSidedTTest`, absolute).
pub fn absolute_effect(control: &ArmMoments, treatment: &ArmMoments, confidence: f64) -> StatsResult<Estimate> {
    let se = (control.var_of_mean() + treatment.var_of_mean()).sqrt();
    t_estimate(treatment.mean - control.mean, se, welch_df(control, treatment), confidence)
}

/// The relative lift with the delta method and Welch df (gbstats `TwoSidedTTest`, relative).
pub fn relative_effect(control: &ArmMoments, treatment: &ArmMoments, confidence: f64) -> StatsResult<Estimate> {
    let mc = control.raw_mean;
    if mc == 0.0 {
        return Err(StatsError::ZeroReference);
    }
    let mc2 = mc * mc;
    let var = treatment.var_of_mean() / mc2 + treatment.raw_mean.powi(2) * control.var_of_mean() / (mc2 * mc2);
    let lift = (treatment.mean - control.mean) / mc.abs();
    t_estimate(lift, var.sqrt(), welch_df(control, treatment), confidence)
}

/// The sums CUPED needs from one arm.
struct PrePost {
    n: f64,
    n_units: u64,
    sum_y: f64,
    sum_y2: f64,
    pre: PreSums,
}

fn pre_post(data: &MetricData) -> Option<PrePost> {
    match data {
        MetricData::Mean { n, sum, sum_sq, pre: Some(pre) } => {
            Some(PrePost { n: *n as f64, n_units: *n, sum_y: *sum, sum_y2: *sum_sq, pre: *pre })
        }
        _ => None,
    }
}

/// gbstats' `compute_theta`: the slope over both arms' units taken as one sample.
fn joint_theta(a: &PrePost, b: &PrePost) -> f64 {
    let n = a.n + b.n;
    let (sy, sx) = (a.sum_y + b.sum_y, a.pre.sum + b.pre.sum);
    let var_y = sample_cov(n, sy, sy, a.sum_y2 + b.sum_y2);
    let var_x = sample_cov(n, sx, sx, a.pre.sum_sq + b.pre.sum_sq);
    if var_x <= 0.0 || var_y <= 0.0 {
        return 0.0;
    }
    sample_cov(n, sx, sy, a.pre.sum_product + b.pre.sum_product) / var_x
}

fn adjusted(a: &PrePost, theta: f64) -> ArmMoments {
    let var_y = sample_cov(a.n, a.sum_y, a.sum_y, a.sum_y2);
    let var_x = sample_cov(a.n, a.pre.sum, a.pre.sum, a.pre.sum_sq);
    let cov = sample_cov(a.n, a.pre.sum, a.sum_y, a.pre.sum_product);
    let raw_mean = a.sum_y / a.n;
    ArmMoments {
        n: a.n_units,
        mean: raw_mean - theta * a.pre.sum / a.n,
        raw_mean,
        unit_var: (var_y + theta * theta * var_x - 2.0 * theta * cov).max(0.0),
    }
}

/// CUPED-adjusted control and treatment with their theta, when both carry pre sums.
pub fn cuped_moments(control: &MetricData, treatment: &MetricData) -> Option<(f64, ArmMoments, ArmMoments)> {
    let (c, t) = (pre_post(control)?, pre_post(treatment)?);
    let theta = joint_theta(&c, &t);
    Some((theta, adjusted(&c, theta), adjusted(&t, theta)))
}

fn cuped_estimate(
    control: &MetricData,
    treatment: &MetricData,
    plain: &Estimate,
    confidence: f64,
) -> StatsResult<Option<CupedEstimate>> {
    let Some((theta, c, t)) = cuped_moments(control, treatment) else { return Ok(None) };
    let relative = relative_effect(&c, &t, confidence)?;
    let ratio = |new: f64, old: f64| if old > 0.0 { 100.0 * (1.0 - new / old) } else { 0.0 };
    Ok(Some(CupedEstimate {
        theta,
        absolute: absolute_effect(&c, &t, confidence)?,
        relative,
        variance_reduction_pct: ratio(relative.std_err.powi(2), plain.std_err.powi(2)),
        ci_narrowing_pct: ratio(relative.width(), plain.width()),
    }))
}

// ---- validation -----------------------------------------------------------------------

fn metric_path(arm: usize, metric: &str) -> String {
    format!("arms[{arm}].metrics.{metric}")
}

fn bad(path: impl Into<String>, problem: impl Into<String>) -> AnalysisError {
    AnalysisError::BadData { path: path.into(), problem: problem.into() }
}

fn fields(data: &MetricData) -> Vec<(&'static str, f64)> {
    match data {
        MetricData::Mean { sum, sum_sq, pre, .. } => {
            let mut f = vec![("sum", *sum), ("sum_sq", *sum_sq)];
            if let Some(p) = pre {
                f.extend([("pre.sum", p.sum), ("pre.sum_sq", p.sum_sq), ("pre.sum_product", p.sum_product)]);
            }
            f
        }
        MetricData::Ratio { num, den, sum_product, .. } => vec![
            ("num.sum", num.sum),
            ("num.sum_sq", num.sum_sq),
            ("den.sum", den.sum),
            ("den.sum_sq", den.sum_sq),
            ("sum_product", *sum_product),
        ],
    }
}

/// Names the first field of one metric that no estimator could use.
fn check_metric(path: &str, data: &MetricData) -> Result<(), AnalysisError> {
    if data.n() < 2 {
        return Err(bad(path, format!("n is {}, at least 2 units are needed for a variance", data.n())));
    }
    if let Some((name, value)) = fields(data).into_iter().find(|(_, v)| !v.is_finite()) {
        return Err(bad(path, format!("{name} is {value}")));
    }
    if let MetricData::Ratio { den, .. } = data {
        if den.sum == 0.0 {
            return Err(bad(path, "den.sum is 0"));
        }
    }
    Ok(())
}

fn kind_of(data: &MetricData) -> MetricKind {
    match data {
        MetricData::Mean { .. } => MetricKind::Mean,
        MetricData::Ratio { .. } => MetricKind::Ratio,
    }
}

fn kind_name(data: &MetricData) -> &'static str {
    match data {
        MetricData::Mean { .. } => "mean",
        MetricData::Ratio { .. } => "ratio",
    }
}

/// Every arm must report the control's metrics, of the same kinds, and nothing else.
fn check_metric_sets(read: &ExperimentRead, control: usize) -> Result<(), AnalysisError> {
    let reference = &read.arms[control].metrics;
    for (i, arm) in read.arms.iter().enumerate() {
        for (name, data) in &arm.metrics {
            check_metric(&metric_path(i, name), data)?;
            match reference.get(name) {
                None => return Err(bad(metric_path(i, name), "the control arm does not report this metric")),
                Some(r) if kind_of(r) != kind_of(data) => {
                    let problem = format!("kind is {} but the control's is {}", kind_name(data), kind_name(r));
                    return Err(bad(metric_path(i, name), problem));
                }
                Some(_) => {}
            }
        }
        if let Some(missing) = reference.keys().find(|m| !arm.metrics.contains_key(*m)) {
            return Err(bad(format!("arms[{i}].metrics"), format!("`{missing}` is missing (the control reports it)")));
        }
    }
    Ok(())
}

fn check_arm_ids(read: &ExperimentRead) -> Result<(), AnalysisError> {
    for (i, arm) in read.arms.iter().enumerate() {
        if read.arms[..i].iter().any(|a| a.arm_id == arm.arm_id) {
            return Err(bad(format!("arms[{i}].arm_id"), format!("`{}` appears twice", arm.arm_id)));
        }
    }
    Ok(())
}

fn check_options(options: &AnalysisOptions) -> Result<(), AnalysisError> {
    let (c, n) = (options.confidence, options.sequential_tuning_n);
    if !(c > 0.0 && c < 1.0) {
        return Err(AnalysisError::BadOption { name: "confidence", problem: format!("{c} is not in (0, 1)") });
    }
    if !(n.is_finite() && n > 0.0) {
        let problem = format!("{n} is not a positive number of units");
        return Err(AnalysisError::BadOption { name: "sequential_tuning_n", problem });
    }
    Ok(())
}

fn control_index(read: &ExperimentRead, options: &AnalysisOptions) -> Result<usize, AnalysisError> {
    if read.arms.is_empty() {
        return Err(AnalysisError::NoArms);
    }
    let index = match &options.control_arm {
        Some(id) => read.arms.iter().position(|a| &a.arm_id == id).ok_or(AnalysisError::UnknownControl(id.clone()))?,
        None => read.arms.iter().position(|a| a.arm_id == "control").unwrap_or(0),
    };
    if read.arms.len() < 2 {
        return Err(AnalysisError::NoTreatment);
    }
    Ok(index)
}

// ---- the analysis ---------------------------------------------------------------------

/// Analyses a read; `Err` names the first thing in it that prevents an honest answer.
pub fn analyze(read: &ExperimentRead, options: &AnalysisOptions) -> Result<Analysis, AnalysisError> {
    check_options(options)?;
    let control = control_index(read, options)?;
    check_arm_ids(read)?;
    check_metric_sets(read, control)?;
    let srm = srm_check(read, options.traffic_shares.as_deref())?;
    let mut comparisons = Vec::new();
    for metric in read.arms[control].metrics.keys() {
        for treatment in (0..read.arms.len()).filter(|&i| i != control) {
            comparisons.push(compare(read, metric, control, treatment, options)?);
        }
    }
    apply_corrections(&mut comparisons);
    Ok(Analysis {
        experiment_id: read.experiment_id.clone(),
        status: read.status,
        confidence: options.confidence,
        control_arm: read.arms[control].arm_id.clone(),
        sequential_tuning_n: options.sequential_tuning_n,
        srm,
        comparisons,
    })
}

fn at(path: &str) -> impl Fn(StatsError) -> AnalysisError + '_ {
    move |source| AnalysisError::Stats { path: path.to_string(), source }
}

fn compare(
    read: &ExperimentRead,
    metric: &str,
    control: usize,
    treatment: usize,
    options: &AnalysisOptions,
) -> Result<Comparison, AnalysisError> {
    let (c_arm, t_arm): (&ArmRead, &ArmRead) = (&read.arms[control], &read.arms[treatment]);
    let (c_data, t_data) = (&c_arm.metrics[metric], &t_arm.metrics[metric]);
    let (c_path, t_path) = (metric_path(control, metric), metric_path(treatment, metric));
    let conf = options.confidence;
    let c = ArmMoments::from(stats::summarize(c_data).map_err(at(&c_path))?);
    let t = ArmMoments::from(stats::summarize(t_data).map_err(at(&t_path))?);
    let absolute = absolute_effect(&c, &t, conf).map_err(at(&t_path))?;
    // A zero control mean is the control's problem; anything else is the pair's.
    let relative = relative_effect(&c, &t, conf)
        .map_err(|e| at(if e == StatsError::ZeroReference { &c_path } else { &t_path })(e))?;
    let cuped = cuped_estimate(c_data, t_data, &relative, conf).map_err(at(&t_path))?;
    let headline = cuped.as_ref().map_or(relative, |x| x.relative);
    let sequential = sequential_interval(
        headline.estimate(),
        headline.std_err.powi(2),
        c.n + t.n,
        conf,
        options.sequential_tuning_n,
    )
    .map_err(at(&t_path))?;
    Ok(Comparison {
        metric: metric.to_string(),
        arm: t_arm.arm_id.clone(),
        kind: kind_of(c_data),
        n_control: c.n,
        n_treatment: t.n,
        control_mean: c.mean,
        treatment_mean: t.mean,
        absolute,
        relative,
        cuped,
        sequential,
        p_value: headline.p_value,
        holm_p: headline.p_value,
        bh_p: headline.p_value,
    })
}

fn apply_corrections(rows: &mut [Comparison]) {
    let p: Vec<f64> = rows.iter().map(|r| r.p_value).collect();
    let (holm, bh) = (stats::holm_adjusted(&p), stats::bh_adjusted(&p));
    for ((row, h), b) in rows.iter_mut().zip(holm).zip(bh) {
        row.holm_p = h;
        row.bh_p = b;
    }
}

fn srm_shares(read: &ExperimentRead, shares: Option<&[f64]>) -> Result<Vec<f64>, AnalysisError> {
    let Some(shares) = shares else { return Ok(vec![1.0 / read.arms.len() as f64; read.arms.len()]) };
    if shares.len() != read.arms.len() {
        let problem = format!("{} shares for {} arms", shares.len(), read.arms.len());
        return Err(AnalysisError::BadOption { name: "traffic_shares", problem });
    }
    if let Some(s) = shares.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        let problem = format!("share {s} is not a positive number");
        return Err(AnalysisError::BadOption { name: "traffic_shares", problem });
    }
    Ok(shares.to_vec())
}

/// Pearson's statistic, shown next to the p-value so a reader sees how far off the split is.
fn chi_square(units: &[u64], shares: &[f64]) -> f64 {
    let total: f64 = units.iter().map(|&u| u as f64).sum();
    let share_sum: f64 = shares.iter().sum();
    if total == 0.0 {
        return 0.0;
    }
    units
        .iter()
        .zip(shares)
        .map(|(&o, s)| {
            let expected = total * s / share_sum;
            (o as f64 - expected).powi(2) / expected
        })
        .sum()
}

fn srm_check(read: &ExperimentRead, shares: Option<&[f64]>) -> Result<SrmCheck, AnalysisError> {
    let shares = srm_shares(read, shares)?;
    let units: Vec<u64> = read.arms.iter().map(|a| a.units).collect();
    let p_value = stats::srm_p_value(&units, &shares).map_err(at("traffic_shares"))?;
    Ok(SrmCheck {
        arms: read.arms.iter().map(|a| a.arm_id.clone()).collect(),
        chi_square: chi_square(&units, &shares),
        units,
        shares,
        p_value,
        blocked: p_value < SRM_ALPHA,
    })
}

// ---- the text table -------------------------------------------------------------------

const HEADER: [&str; 12] = [
    "metric",
    "arm",
    "control",
    "treatment",
    "lift %",
    "CI %",
    "p",
    "CUPED lift % [CI]",
    "Δwidth",
    "Holm p",
    "BH p",
    "seq CI %",
];

fn num(x: f64) -> String {
    if x == 0.0 || (1e-3..1e6).contains(&x.abs()) {
        format!("{x:.4}")
    } else {
        format!("{x:.3e}")
    }
}

fn pct(x: f64) -> String {
    format!("{:+.2}", 100.0 * x)
}

fn ci_pct(i: &Interval) -> String {
    format!("[{}, {}]", pct(i.low), pct(i.high))
}

fn p_text(p: f64) -> String {
    if p < 1e-4 {
        format!("{p:.1e}")
    } else {
        format!("{p:.4}")
    }
}

fn row_cells(c: &Comparison) -> Vec<String> {
    let (cuped, dwidth) = match &c.cuped {
        Some(x) => (
            format!("{} {}", pct(x.relative.estimate()), ci_pct(&x.relative.ci)),
            format!("{:+.1}%", -x.ci_narrowing_pct),
        ),
        None => ("-".to_string(), "-".to_string()),
    };
    vec![
        c.metric.clone(),
        c.arm.clone(),
        num(c.control_mean),
        num(c.treatment_mean),
        pct(c.relative.estimate()),
        ci_pct(&c.relative.ci),
        p_text(c.relative.p_value),
        cuped,
        dwidth,
        p_text(c.holm_p),
        p_text(c.bh_p),
        ci_pct(&c.sequential.interval),
    ]
}

fn widths(rows: &[Vec<String>]) -> Vec<usize> {
    (0..HEADER.len()).map(|k| rows.iter().map(|r| r[k].chars().count()).max().unwrap_or(0)).collect()
}

/// Text columns left-aligned, numbers right-aligned, two spaces between columns.
fn line(cells: &[String], widths: &[usize]) -> String {
    let padded: Vec<String> = cells
        .iter()
        .zip(widths)
        .enumerate()
        .map(|(k, (cell, &w))| {
            let fill = " ".repeat(w.saturating_sub(cell.chars().count()));
            if k < 2 {
                format!("{cell}{fill}")
            } else {
                format!("{fill}{cell}")
            }
        })
        .collect();
    padded.join("  ").trim_end().to_string()
}

fn srm_line(s: &SrmCheck) -> String {
    let split: Vec<String> = s.arms.iter().zip(&s.units).map(|(a, u)| format!("{a}={u}")).collect();
    let total: f64 = s.shares.iter().sum();
    let shares: Vec<String> = s.shares.iter().map(|x| format!("{:.3}", x / total)).collect();
    let verdict = if s.blocked {
        format!("BLOCKED (p < {SRM_ALPHA}): the assignment is broken, draw no conclusion")
    } else {
        "ok".to_string()
    };
    format!(
        "SRM: units {} vs shares {}: chi2 = {:.3} (df {}), p = {}: {verdict}",
        split.join(", "),
        shares.join("/"),
        s.chi_square,
        s.units.len().saturating_sub(1),
        p_text(s.p_value)
    )
}

/// A fixed-width text table: one row per (metric, arm), then the SRM verdict.
pub fn render_table(a: &Analysis) -> String {
    let mut rows: Vec<Vec<String>> = vec![HEADER.iter().map(|h| h.to_string()).collect()];
    rows.extend(a.comparisons.iter().map(row_cells));
    let w = widths(&rows);
    let status = format!("{:?}", a.status).to_lowercase();
    let mut out = format!(
        "experiment {} ({status}), control `{}`, {}% intervals\n",
        a.experiment_id,
        a.control_arm,
        100.0 * a.confidence
    );
    let header = line(&rows[0], &w);
    let _ = writeln!(out, "{header}\n{}", "-".repeat(header.chars().count()));
    for row in &rows[1..] {
        let _ = writeln!(out, "{}", line(row, &w));
    }
    let _ = writeln!(out, "{}", srm_line(&a.srm));
    let _ = writeln!(
        out,
        "lift and CI: Welch t on the delta-method lift; Δwidth: CUPED's change of the CI width; \
         Holm/BH adjust the CUPED p where there is one; seq: always-valid CI, N* = {}",
        a.sequential_tuning_n
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::Sums;
    use std::collections::BTreeMap;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-6 * b.abs().max(1e-12)
    }

    fn mean(n: u64, sum: f64, sum_sq: f64) -> MetricData {
        MetricData::Mean { n, sum, sum_sq, pre: None }
    }

    fn arm(id: &str, metrics: Vec<(&str, MetricData)>) -> ArmRead {
        let metrics: BTreeMap<String, MetricData> = metrics.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        ArmRead { arm_id: id.to_string(), units: metrics.values().next().map_or(0, MetricData::n), metrics }
    }

    fn read(arms: Vec<ArmRead>) -> ExperimentRead {
        ExperimentRead {
            experiment_id: "exp-1".to_string(),
            status: ExperimentStatus::Running,
            progress: 0.5,
            arms,
            error: None,
        }
    }

    /// t = [5.1, 4.9, 5.6, 5.8, 6.0, 5.5], c = [4.8, 5.0, 4.7, 5.2, 4.9] (effect.rs' case).
    fn small() -> ExperimentRead {
        read(vec![
            arm("control", vec![("dwell", mean(5, 24.6, 121.18))]),
            arm("t1", vec![("dwell", mean(6, 32.9, 181.27))]),
        ])
    }

    #[test]
    fn absolute_effect_is_welchs_test() {
        // Same values as effect.rs' scipy reference.
        let a = analyze(&small(), &AnalysisOptions::default()).unwrap();
        let c = &a.comparisons[0];
        assert!(close(c.absolute.df, 7.287980878608591));
        assert!(close(c.absolute.p_value, 0.020301725962812062));
        assert!(close(c.absolute.ci.low, 0.11612219719551803));
        assert!(close(c.absolute.ci.high, 1.010544469471149));
    }

    #[test]
    fn relative_lift_uses_the_t_quantile_at_welch_df() {
        // se = 0.03969197258749336 (delta method); scipy.stats.t at df 7.287980878608591:
        // ppf(0.975) = 2.3458140988836242, 2 sf(lift / se) = 0.022488584895181657.
        let c = &analyze(&small(), &AnalysisOptions::default()).unwrap().comparisons[0];
        assert!(close(c.relative.estimate(), 0.1144986449864498));
        assert!(close(c.relative.std_err, 0.03969197258749336));
        assert!(close(c.relative.ci.high - c.relative.estimate(), 2.3458140988836242 * 0.03969197258749336));
        assert!(close(c.relative.p_value, 0.022488584895181657));
        assert!(c.cuped.is_none());
        assert_eq!(c.p_value, c.relative.p_value);
    }

    /// x_a = [1,2,3,4], y_a = [2,3,5,6]; x_b = [2,3,4,5], y_b = [3,5,6,9] (cuped.rs' case).
    fn cuped_read() -> ExperimentRead {
        let a = MetricData::Mean {
            n: 4,
            sum: 16.0,
            sum_sq: 74.0,
            pre: Some(PreSums { sum: 10.0, sum_sq: 30.0, sum_product: 47.0 }),
        };
        let b = MetricData::Mean {
            n: 4,
            sum: 23.0,
            sum_sq: 151.0,
            pre: Some(PreSums { sum: 14.0, sum_sq: 54.0, sum_product: 90.0 }),
        };
        read(vec![arm("control", vec![("s", a)]), arm("t1", vec![("s", b)])])
    }

    #[test]
    fn cuped_theta_pools_both_arms_as_one_sample() {
        // All 8 units: cov(x, y) = 20/7, var(x) = 12/7 (numpy, ddof 1), theta = 5/3;
        // within-arm pooling (stats::cuped) gives 1.65.
        let c = &analyze(&cuped_read(), &AnalysisOptions::default()).unwrap().comparisons[0];
        let cuped = c.cuped.unwrap();
        assert!(close(cuped.theta, 1.6666666666666665), "{}", cuped.theta);
        // Adjusted means 4 - theta 2.5 and 5.75 - theta 3.5: the difference is 1.75 - theta.
        assert!(close(cuped.absolute.estimate(), 1.75 - 1.6666666666666665));
        // The lift divides by the unadjusted control mean, 4.
        assert!(close(cuped.relative.estimate(), (1.75 - 1.6666666666666665) / 4.0));
        assert_eq!(c.p_value, cuped.relative.p_value);
    }

    #[test]
    fn ratio_metrics_and_several_arms_get_corrected_p_values() {
        let ratio = |clicks: f64| MetricData::Ratio {
            n: 1000,
            num: Sums { sum: clicks, sum_sq: clicks * 1.5 },
            den: Sums { sum: 10_000.0, sum_sq: 120_000.0 },
            sum_product: clicks * 12.0,
        };
        let r = read(vec![
            arm("a", vec![("ctr", ratio(500.0)), ("dwell", mean(1000, 5000.0, 34_000.0))]),
            arm("control", vec![("ctr", ratio(450.0)), ("dwell", mean(1000, 4900.0, 33_000.0))]),
            arm("b", vec![("ctr", ratio(452.0)), ("dwell", mean(1000, 4950.0, 33_500.0))]),
        ]);
        let a = analyze(&r, &AnalysisOptions::default()).unwrap();
        assert_eq!(a.control_arm, "control");
        let keys: Vec<(&str, &str)> = a.comparisons.iter().map(|c| (c.metric.as_str(), c.arm.as_str())).collect();
        assert_eq!(keys, [("ctr", "a"), ("ctr", "b"), ("dwell", "a"), ("dwell", "b")]);
        let p: Vec<f64> = a.comparisons.iter().map(|c| c.p_value).collect();
        let holm = stats::holm_adjusted(&p);
        for (c, h) in a.comparisons.iter().zip(holm) {
            assert_eq!(c.holm_p, h);
            assert!(c.bh_p <= c.holm_p && c.bh_p >= c.p_value);
        }
        assert!(a.comparison("ctr", "a").unwrap().kind == MetricKind::Ratio);
        assert!(!a.srm.blocked && a.srm.p_value == 1.0);
    }

    #[test]
    fn srm_uses_given_or_equal_shares_and_blocks_below_one_in_a_thousand() {
        let mut r = small();
        r.arms[0].units = 5000;
        r.arms[1].units = 5200;
        let a = analyze(&r, &AnalysisOptions::default()).unwrap();
        // scipy.stats.chisquare([5000, 5200]): 3.9215686..., p 0.0476703806561615.
        assert!(close(a.srm.chi_square, 3.9215686274509802) && close(a.srm.p_value, 0.0476703806561615));
        assert!(!a.srm.blocked);
        let opts = AnalysisOptions { traffic_shares: Some(vec![0.25, 0.75]), ..Default::default() };
        let skewed = analyze(&r, &opts).unwrap();
        assert!(skewed.srm.blocked);
        assert!(render_table(&skewed).contains("BLOCKED"));
    }

    #[test]
    fn control_defaults_to_the_arm_called_control_else_the_first() {
        let mut r = small();
        r.arms.swap(0, 1);
        assert_eq!(analyze(&r, &AnalysisOptions::default()).unwrap().control_arm, "control");
        r.arms[1].arm_id = "base".to_string();
        let a = analyze(&r, &AnalysisOptions::default()).unwrap();
        assert_eq!((a.control_arm.as_str(), a.comparisons[0].arm.as_str()), ("t1", "base"));
        let opts = AnalysisOptions { control_arm: Some("base".into()), ..Default::default() };
        assert_eq!(analyze(&r, &opts).unwrap().control_arm, "base");
    }

    #[test]
    fn errors_name_the_field_at_fault() {
        let zero_den = MetricData::Ratio { n: 10, num: Sums::default(), den: Sums::default(), sum_product: 0.0 };
        let good = MetricData::Ratio {
            n: 10,
            num: Sums { sum: 3.0, sum_sq: 3.0 },
            den: Sums { sum: 30.0, sum_sq: 100.0 },
            sum_product: 10.0,
        };
        let r = read(vec![arm("control", vec![("ctr", good.clone())]), arm("t1", vec![("ctr", zero_den)])]);
        let err = analyze(&r, &AnalysisOptions::default()).unwrap_err();
        assert_eq!(err.to_string(), "arms[1].metrics.ctr: den.sum is 0");

        let r = read(vec![arm("control", vec![("ctr", good.clone())]), arm("t1", vec![("ctr", mean(10, 1.0, 1.0))])]);
        let err = analyze(&r, &AnalysisOptions::default()).unwrap_err().to_string();
        assert_eq!(err, "arms[1].metrics.ctr: kind is mean but the control's is ratio");

        let r = read(vec![arm("control", vec![("x", mean(10, 0.0, 0.0))]), arm("t1", vec![("x", mean(10, 1.0, 1.0))])]);
        let err = analyze(&r, &AnalysisOptions::default()).unwrap_err().to_string();
        assert!(err.starts_with("arms[0].metrics.x: the reference arm's mean is zero"), "{err}");

        let r = read(vec![arm("control", vec![("x", mean(1, 1.0, 1.0))]), arm("t1", vec![("x", mean(10, 1.0, 1.0))])]);
        let err = analyze(&r, &AnalysisOptions::default()).unwrap_err().to_string();
        assert!(err.starts_with("arms[0].metrics.x: n is 1"), "{err}");

        let r = read(vec![arm("control", vec![("x", mean(5, f64::NAN, 1.0))]), arm("t1", vec![])]);
        let err = analyze(&r, &AnalysisOptions::default()).unwrap_err().to_string();
        assert_eq!(err, "arms[0].metrics.x: sum is NaN");

        let r = read(vec![arm("control", vec![("x", mean(5, 5.0, 6.0))]), arm("t1", vec![])]);
        let err = analyze(&r, &AnalysisOptions::default()).unwrap_err().to_string();
        assert_eq!(err, "arms[1].metrics: `x` is missing (the control reports it)");
    }

    #[test]
    fn malformed_reads_and_options_are_errors() {
        let opts = AnalysisOptions::default();
        assert_eq!(analyze(&read(vec![]), &opts), Err(AnalysisError::NoArms));
        assert_eq!(analyze(&read(vec![arm("control", vec![])]), &opts), Err(AnalysisError::NoTreatment));
        let unknown = AnalysisOptions { control_arm: Some("nope".into()), ..Default::default() };
        assert_eq!(analyze(&small(), &unknown), Err(AnalysisError::UnknownControl("nope".into())));
        let mut twice = small();
        twice.arms[1].arm_id = "control".into();
        assert!(analyze(&twice, &opts).unwrap_err().to_string().starts_with("arms[1].arm_id"));
        for bad in [
            AnalysisOptions { confidence: 1.0, ..Default::default() },
            AnalysisOptions { sequential_tuning_n: 0.0, ..Default::default() },
            AnalysisOptions { traffic_shares: Some(vec![1.0]), ..Default::default() },
            AnalysisOptions { traffic_shares: Some(vec![1.0, -1.0]), ..Default::default() },
        ] {
            assert!(matches!(analyze(&small(), &bad), Err(AnalysisError::BadOption { .. })), "{bad:?}");
        }
    }

    #[test]
    fn constant_arms_do_not_panic() {
        let r =
            read(vec![arm("control", vec![("x", mean(10, 10.0, 10.0))]), arm("t1", vec![("x", mean(10, 20.0, 40.0))])]);
        let c = &analyze(&r, &AnalysisOptions::default()).unwrap().comparisons[0];
        assert_eq!((c.relative.p_value, c.relative.ci.low, c.sequential.p_value), (0.0, 1.0, 0.0));
    }

    #[test]
    fn analysis_round_trips_through_json_and_renders_a_table() {
        let a = analyze(&cuped_read(), &AnalysisOptions::default()).unwrap();
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<Analysis>(&json).unwrap(), a);
        let table = render_table(&a);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[1].starts_with("metric") && lines[1].contains("Holm p") && lines[1].contains("seq CI %"));
        assert!(lines[3].starts_with("s ") && lines[3].contains("t1"));
        assert!(lines[4].starts_with("SRM: units control=4, t1=4 vs shares 0.500/0.500"));
        // Every row is as wide as the header at most: a fixed-width table.
        assert!(lines[3].chars().count() <= lines[1].chars().count());
    }
}
