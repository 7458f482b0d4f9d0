//! Weighted ridge least squares: `y ~ b0 + x b`, minimising
//! `sum_i w_i (y_i - b0 - x_i b)^2 + lambda |b|^2` with the intercept unpenalised.
//!
//! With `w_i = 1 / se_i^2` the slopes' covariance is `sigma^2 A^{-1}`,
//! `A = X_c' W X_c + lambda I` on weighted-centred columns. That is the posterior
//! covariance under the ridge's Gaussian prior: along a direction the design does not
//! identify it stays wide (about `1 / lambda`) instead of pretending to know the split.
//! `sigma^2 = max(1, weighted residual chi-square / (n - p))`: the standard errors are
//! trusted as a floor, and inflated when the linear model fits worse than noise explains
//! (the response is rarely linear over the whole space).
//! `lambda = ridge * sum(w)`, so `ridge` means the same whatever the scale of the weights.

use super::error::{finite, StatsError, StatsResult};
use super::linalg::{cholesky, cholesky_inverse, cholesky_solve};

/// A fitted model: slopes per input column with standard errors.
#[derive(Debug, Clone, PartialEq)]
pub struct WlsFit {
    pub intercept: f64,
    pub coefs: Vec<f64>,
    pub std_errs: Vec<f64>,
    /// The factor the covariance was scaled by (>= 1).
    pub dispersion: f64,
    pub n: usize,
}

fn check_inputs(x: &[Vec<f64>], y: &[f64], w: &[f64], ridge: f64) -> StatsResult<usize> {
    if x.len() != y.len() || x.len() != w.len() || x.is_empty() {
        return Err(StatsError::Invalid(format!(
            "regression needs as many rows as targets and weights, at least one: {} / {} / {}",
            x.len(),
            y.len(),
            w.len()
        )));
    }
    let d = x[0].len();
    if x.iter().any(|r| r.len() != d) {
        return Err(StatsError::Invalid("regression rows have different lengths".into()));
    }
    for (r, (yi, wi)) in x.iter().zip(y.iter().zip(w)) {
        r.iter().try_for_each(|v| finite("regressor", *v).map(|_| ()))?;
        finite("target", *yi)?;
        if !(wi.is_finite() && *wi > 0.0) {
            return Err(StatsError::OutOfRange { name: "weight", value: *wi, range: "(0, inf)" });
        }
    }
    if !(ridge.is_finite() && ridge >= 0.0) {
        return Err(StatsError::OutOfRange { name: "ridge", value: ridge, range: "[0, inf)" });
    }
    Ok(d)
}

fn weighted_mean(values: impl Iterator<Item = f64>, w: &[f64], w_sum: f64) -> f64 {
    values.zip(w).map(|(v, wi)| v * wi).sum::<f64>() / w_sum
}

/// Fits the model; a design that stays singular despite the ridge is an error.
pub fn fit_weighted_ridge(x: &[Vec<f64>], y: &[f64], w: &[f64], ridge: f64) -> StatsResult<WlsFit> {
    let d = check_inputs(x, y, w, ridge)?;
    let w_sum: f64 = w.iter().sum();
    let x_mean: Vec<f64> = (0..d).map(|j| weighted_mean(x.iter().map(|r| r[j]), w, w_sum)).collect();
    let y_mean = weighted_mean(y.iter().copied(), w, w_sum);
    let xc: Vec<Vec<f64>> = x.iter().map(|r| r.iter().zip(&x_mean).map(|(v, m)| v - m).collect()).collect();

    let lambda = ridge * w_sum;
    let mut a = vec![vec![0.0; d]; d];
    let mut rhs = vec![0.0; d];
    for ((r, yi), wi) in xc.iter().zip(y).zip(w) {
        for j in 0..d {
            rhs[j] += wi * r[j] * (yi - y_mean);
            for k in 0..d {
                a[j][k] += wi * r[j] * r[k];
            }
        }
    }
    (0..d).for_each(|j| a[j][j] += lambda);
    let l = cholesky(&a).ok_or_else(|| StatsError::Invalid("the regression design is singular".into()))?;
    let coefs = cholesky_solve(&l, &rhs);
    let intercept = y_mean - coefs.iter().zip(&x_mean).map(|(b, m)| b * m).sum::<f64>();

    let dispersion = dispersion(&xc, y, w, y_mean, &coefs, d + 1);
    let cov = cholesky_inverse(&l);
    let std_errs = (0..d).map(|j| (dispersion * cov[j][j]).max(0.0).sqrt()).collect();
    Ok(WlsFit { intercept, coefs, std_errs, dispersion, n: x.len() })
}

fn dispersion(xc: &[Vec<f64>], y: &[f64], w: &[f64], y_mean: f64, coefs: &[f64], p: usize) -> f64 {
    if xc.len() <= p {
        return 1.0;
    }
    let chi2: f64 = xc
        .iter()
        .zip(y.iter().zip(w))
        .map(|(r, (yi, wi))| {
            let fit = y_mean + r.iter().zip(coefs).map(|(v, b)| v * b).sum::<f64>();
            wi * (yi - fit).powi(2)
        })
        .sum();
    (chi2 / (xc.len() - p) as f64).max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_line_is_recovered() {
        let x: Vec<Vec<f64>> = (0..6).map(|i| vec![i as f64 / 5.0, ((i * 7) % 5) as f64 / 4.0]).collect();
        let y: Vec<f64> = x.iter().map(|r| 1.0 + 2.0 * r[0] - 3.0 * r[1]).collect();
        let fit = fit_weighted_ridge(&x, &y, &[1.0; 6], 0.0).unwrap();
        assert!((fit.coefs[0] - 2.0).abs() < 1e-9 && (fit.coefs[1] + 3.0).abs() < 1e-9);
        assert!((fit.intercept - 1.0).abs() < 1e-9);
        assert_eq!(fit.dispersion, 1.0);
    }

    #[test]
    fn collinear_columns_split_the_effect_and_stay_uncertain() {
        let x: Vec<Vec<f64>> = (0..5).map(|i| vec![i as f64 / 4.0, i as f64 / 4.0]).collect();
        let y: Vec<f64> = x.iter().map(|r| 2.0 * r[0]).collect();
        assert!(fit_weighted_ridge(&x, &y, &[1.0; 5], 0.0).is_err());
        let fit = fit_weighted_ridge(&x, &y, &[1.0; 5], 1e-4).unwrap();
        assert!((fit.coefs[0] - fit.coefs[1]).abs() < 1e-9);
        assert!(fit.std_errs[0] > 10.0, "{:?}", fit.std_errs);
    }

    #[test]
    fn malformed_inputs_are_errors() {
        assert!(fit_weighted_ridge(&[], &[], &[], 0.1).is_err());
        assert!(fit_weighted_ridge(&[vec![1.0]], &[1.0], &[0.0], 0.1).is_err());
        assert!(fit_weighted_ridge(&[vec![1.0]], &[f64::NAN], &[1.0], 0.1).is_err());
        assert!(fit_weighted_ridge(&[vec![1.0], vec![]], &[1.0, 2.0], &[1.0, 1.0], 0.1).is_err());
    }
}
