//! Gaussian-process regression on the unit cube: the surrogate behind the built-in
//! Actor's search and the Critic's guardrail-risk prediction.
//!
//! Matérn 5/2 kernel with one length scale per input, a known per-observation noise
//! variance (each arm's squared standard error, because an A/B read tells us how noisy it
//! is) and standardised outputs: the values are shifted by their mean and scaled by their
//! standard deviation before the fit, and predictions are mapped back. The length scales
//! and the signal variance are fitted by maximising the log marginal likelihood (with a
//! weak log-normal prior on each length scale, so that a dozen points cannot drive one to
//! a bound): analytic gradients in log-parameters, gradient ascent with backtracking from
//! the best point of a coarse grid. A few Cholesky factorisations of at most a few hundred
//! points, cheap enough to redo every round.

use nalgebra::{Cholesky, DMatrix, DVector, Dyn};

/// One observation: a point in the unit cube, a value and its noise variance.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub x: Vec<f64>,
    pub y: f64,
    pub noise_var: f64,
}

/// Kernel hyperparameters, in the units the GP is fitted in (standardised outputs for a
/// [`Gp::fit_ml`] fit).
#[derive(Debug, Clone, PartialEq)]
pub struct Hyper {
    pub length_scales: Vec<f64>,
    pub signal_var: f64,
    pub prior_mean: f64,
}

/// The affine map from the data's units to the fitted units: `(y - shift) / scale`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Standardise {
    pub shift: f64,
    pub scale: f64,
}

impl Standardise {
    pub const IDENTITY: Standardise = Standardise { shift: 0.0, scale: 1.0 };

    /// The mean and standard deviation of `ys`, the deviation floored at `min_scale` (a
    /// handful of equal values must not blow the noise up).
    pub fn of(ys: &[f64], min_scale: f64) -> Standardise {
        let n = ys.len() as f64;
        if ys.is_empty() {
            return Standardise { shift: 0.0, scale: min_scale.max(1e-9) };
        }
        let shift = ys.iter().sum::<f64>() / n;
        let var = if n > 1.0 { ys.iter().map(|y| (y - shift).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
        Standardise { shift, scale: var.sqrt().max(min_scale).max(1e-9) }
    }

    fn sample(&self, s: &Sample) -> Sample {
        Sample { x: s.x.clone(), y: (s.y - self.shift) / self.scale, noise_var: s.noise_var / self.scale.powi(2) }
    }
}

/// A fitted GP.
#[derive(Clone)]
pub struct Gp {
    hyper: Hyper,
    standardise: Standardise,
    xs: Vec<Vec<f64>>,
    chol: Cholesky<f64, Dyn>,
    alpha: DVector<f64>,
}

/// Posterior mean and standard deviation at a point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Posterior {
    pub mean: f64,
    pub sd: f64,
}

const JITTER: f64 = 1e-9;
/// Bounds of a fitted length scale on the unit cube, and of the standardised signal
/// variance.
const LS_BOUNDS: (f64, f64) = (0.03, 5.0);
const SV_BOUNDS: (f64, f64) = (0.05, 20.0);
/// The weak prior on a length scale: log-normal around 0.4 with a log-sd of 1.
const LS_PRIOR_LOG_MEAN: f64 = -0.916_290_731_874_155; // ln 0.4
const LS_PRIOR_LOG_SD: f64 = 1.0;

pub fn matern52(a: &[f64], b: &[f64], ls: &[f64], signal_var: f64) -> f64 {
    let r2: f64 = a.iter().zip(b).zip(ls).map(|((x, y), l)| ((x - y) / l).powi(2)).sum();
    let r = (5.0 * r2).sqrt();
    signal_var * (1.0 + r + 5.0 * r2 / 3.0) * (-r).exp()
}

fn kernel_matrix(samples: &[Sample], hyper: &Hyper) -> DMatrix<f64> {
    let n = samples.len();
    DMatrix::from_fn(n, n, |i, j| {
        let kij = matern52(&samples[i].x, &samples[j].x, &hyper.length_scales, hyper.signal_var);
        if i == j {
            kij + samples[i].noise_var.max(0.0) + JITTER * hyper.signal_var.max(1e-12)
        } else {
            kij
        }
    })
}

/// Log marginal likelihood and its gradient in (ln l_1..ln l_d, ln signal_var), for
/// standardised samples with prior mean 0.
fn lml_and_gradient(samples: &[Sample], hyper: &Hyper) -> Option<(f64, Vec<f64>)> {
    let n = samples.len();
    let d = hyper.length_scales.len();
    let chol = Cholesky::new(kernel_matrix(samples, hyper))?;
    let y = DVector::from_iterator(n, samples.iter().map(|s| s.y - hyper.prior_mean));
    let alpha = chol.solve(&y);
    let log_det: f64 = chol.l().diagonal().iter().map(|v| v.ln()).sum::<f64>() * 2.0;
    let lml = -0.5 * y.dot(&alpha) - 0.5 * log_det - 0.5 * n as f64 * (2.0 * std::f64::consts::PI).ln();
    // dL/dθ = 0.5 tr((α αᵀ - K⁻¹) dK/dθ)
    let w = &alpha * alpha.transpose() - chol.inverse();
    let mut grad = vec![0.0; d + 1];
    let ls = &hyper.length_scales;
    for i in 0..n {
        for j in 0..n {
            let (a, b) = (&samples[i].x, &samples[j].x);
            let r2: f64 = a.iter().zip(b).zip(ls).map(|((x, y), l)| ((x - y) / l).powi(2)).sum();
            let r = (5.0 * r2).sqrt();
            let e = (-r).exp();
            let k = hyper.signal_var * (1.0 + r + 5.0 * r2 / 3.0) * e;
            let wij = w[(i, j)];
            grad[d] += 0.5 * wij * k;
            // dk/d ln l_m = s² (5/3)(1 + r) e^-r (Δ_m / l_m)²
            let common = hyper.signal_var * (5.0 / 3.0) * (1.0 + r) * e;
            for m in 0..d {
                let q = ((a[m] - b[m]) / ls[m]).powi(2);
                grad[m] += 0.5 * wij * common * q;
            }
        }
    }
    Some((lml, grad))
}

/// The objective the hyperparameters maximise: marginal likelihood plus the length-scale
/// prior, with its gradient.
fn objective(samples: &[Sample], theta: &[f64], prior_mean: f64) -> Option<(f64, Vec<f64>)> {
    let d = theta.len() - 1;
    let hyper =
        Hyper { length_scales: theta[..d].iter().map(|t| t.exp()).collect(), signal_var: theta[d].exp(), prior_mean };
    let (lml, mut grad) = lml_and_gradient(samples, &hyper)?;
    let mut value = lml;
    for m in 0..d {
        let z = (theta[m] - LS_PRIOR_LOG_MEAN) / LS_PRIOR_LOG_SD;
        value -= 0.5 * z * z;
        grad[m] -= z / LS_PRIOR_LOG_SD;
    }
    value.is_finite().then_some((value, grad))
}

fn clamp_theta(theta: &mut [f64]) {
    let d = theta.len() - 1;
    for t in &mut theta[..d] {
        *t = t.clamp(LS_BOUNDS.0.ln(), LS_BOUNDS.1.ln());
    }
    theta[d] = theta[d].clamp(SV_BOUNDS.0.ln(), SV_BOUNDS.1.ln());
}

/// Projected gradient ascent with a backtracking step, from `theta`.
fn ascend(samples: &[Sample], mut theta: Vec<f64>, prior_mean: f64) -> Option<(f64, Vec<f64>)> {
    let (mut value, mut grad) = objective(samples, &theta, prior_mean)?;
    let mut step = 0.3;
    for _ in 0..60 {
        let norm = grad.iter().map(|g| g * g).sum::<f64>().sqrt();
        if norm < 1e-6 {
            break;
        }
        let mut improved = false;
        while step > 1e-4 {
            let mut next: Vec<f64> = theta.iter().zip(&grad).map(|(t, g)| t + step * g / norm).collect();
            clamp_theta(&mut next);
            match objective(samples, &next, prior_mean) {
                Some((v, g)) if v > value + 1e-9 => {
                    (theta, value, grad) = (next, v, g);
                    step *= 1.5;
                    improved = true;
                    break;
                }
                _ => step *= 0.5,
            }
        }
        if !improved {
            break;
        }
    }
    Some((value, theta))
}

impl Gp {
    /// Fits with fixed hyperparameters and no standardisation; `None` when the kernel
    /// matrix is not positive definite even with jitter (duplicate noiseless points).
    pub fn fit(samples: &[Sample], hyper: Hyper) -> Option<Gp> {
        Gp::fit_standardised(samples, hyper, Standardise::IDENTITY)
    }

    /// Fits with fixed hyperparameters (in standardised units) after standardising.
    pub fn fit_standardised(samples: &[Sample], hyper: Hyper, standardise: Standardise) -> Option<Gp> {
        let std: Vec<Sample> = samples.iter().map(|s| standardise.sample(s)).collect();
        let chol = Cholesky::new(kernel_matrix(&std, &hyper))?;
        let resid = DVector::from_iterator(std.len(), std.iter().map(|s| s.y - hyper.prior_mean));
        let alpha = chol.solve(&resid);
        Some(Gp { hyper, standardise, xs: samples.iter().map(|s| s.x.clone()).collect(), chol, alpha })
    }

    /// Log marginal likelihood of the data (in fitted units) under this fit.
    pub fn log_marginal_likelihood(&self, samples: &[Sample]) -> f64 {
        let resid = DVector::from_iterator(
            samples.len(),
            samples.iter().map(|s| self.standardise.sample(s).y - self.hyper.prior_mean),
        );
        let log_det: f64 = self.chol.l().diagonal().iter().map(|d| d.ln()).sum::<f64>() * 2.0;
        -0.5 * resid.dot(&self.alpha) - 0.5 * log_det - 0.5 * samples.len() as f64 * (2.0 * std::f64::consts::PI).ln()
    }

    pub fn predict(&self, x: &[f64]) -> Posterior {
        let (h, t) = (&self.hyper, self.standardise);
        if self.xs.is_empty() {
            return Posterior { mean: t.shift + t.scale * h.prior_mean, sd: t.scale * h.signal_var.sqrt() };
        }
        let kx = DVector::from_iterator(
            self.xs.len(),
            self.xs.iter().map(|xi| matern52(xi, x, &h.length_scales, h.signal_var)),
        );
        let mean = h.prior_mean + kx.dot(&self.alpha);
        let v = self.chol.l().solve_lower_triangular(&kx).unwrap_or_else(|| DVector::zeros(self.xs.len()));
        let var = (h.signal_var - v.dot(&v)).max(1e-12);
        Posterior { mean: t.shift + t.scale * mean, sd: t.scale * var.sqrt() }
    }

    pub fn hyper(&self) -> &Hyper {
        &self.hyper
    }

    pub fn standardise(&self) -> Standardise {
        self.standardise
    }

    /// Fits on standardised outputs (shift by the mean, scale by the standard deviation,
    /// floored at `min_scale`) by maximising the marginal likelihood over the per-input
    /// length scales and the signal variance. `relevance` (mean 1, larger = more
    /// relevant, e.g. a skill's sensitivities) shapes the starting grid only.
    pub fn fit_ml(samples: &[Sample], min_scale: f64, relevance: &[f64]) -> Option<Gp> {
        let d = relevance.len();
        let ys: Vec<f64> = samples.iter().map(|s| s.y).collect();
        let standardise = Standardise::of(&ys, min_scale);
        let std: Vec<Sample> = samples.iter().map(|s| standardise.sample(s)).collect();
        // A coarse grid of isotropic scales (stretched by relevance) picks the start.
        let mut start: Option<(f64, Vec<f64>)> = None;
        for &l in &[0.1, 0.2, 0.4, 0.8, 1.6] {
            for &s in &[0.5, 1.0, 2.0] {
                let mut theta: Vec<f64> = relevance.iter().map(|r| (l / r.clamp(0.25, 4.0).sqrt()).ln()).collect();
                theta.push(f64::ln(s));
                clamp_theta(&mut theta);
                let Some((v, _)) = objective(&std, &theta, 0.0) else { continue };
                if start.as_ref().is_none_or(|(b, _)| v > *b) {
                    start = Some((v, theta));
                }
            }
        }
        let (_, theta) = start?;
        let (_, theta) = ascend(&std, theta.clone(), 0.0).unwrap_or((f64::NEG_INFINITY, theta));
        let hyper = Hyper {
            length_scales: theta[..d].iter().map(|t| t.exp()).collect(),
            signal_var: theta[d].exp(),
            prior_mean: 0.0,
        };
        Gp::fit_standardised(samples, hyper, standardise)
    }
}

/// Standard normal density and distribution function (Abramowitz-Stegun 7.1.26 is not
/// accurate enough in the tails that EI needs; erfc from statrs is).
pub fn norm_pdf(z: f64) -> f64 {
    (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

pub fn norm_cdf(z: f64) -> f64 {
    0.5 * statrs::function::erf::erfc(-z / std::f64::consts::SQRT_2)
}

/// Expected improvement over `best` for a maximisation, in closed form.
pub fn expected_improvement(p: Posterior, best: f64) -> f64 {
    if p.sd <= 1e-12 {
        return (p.mean - best).max(0.0);
    }
    let z = (p.mean - best) / p.sd;
    (p.mean - best) * norm_cdf(z) + p.sd * norm_pdf(z)
}

/// Expected *shipped* improvement over an incumbent: E[Δ · Φ(Δ/s − z)] for a gain
/// Δ ~ N(`gain.mean`, `gain.sd`²), where Φ(Δ/s − z) is the probability that an
/// experiment reading the difference with standard error `s` shows it at critical value
/// `z`. An improvement the next experiment cannot show does not ship, so it is worth
/// little; as `s` → 0 this is the expected improvement over the incumbent. Closed form
/// by Stein's lemma, with k = (μ/s − z)/√(1 + σ²/s²):
/// E[Δ Φ(·)] = μ Φ(k) + σ² φ(k) / (s √(1 + σ²/s²)). Floored at 0 (a gain with mass
/// below 0 can read negative).
pub fn expected_shipped_improvement(gain: Posterior, s: f64, z: f64) -> f64 {
    if s <= 1e-12 {
        return expected_improvement(gain, 0.0);
    }
    let (mu, var) = (gain.mean, gain.sd * gain.sd);
    let root = (1.0 + var / (s * s)).sqrt();
    let k = (mu / s - z) / root;
    (mu * norm_cdf(k) + var * norm_pdf(k) / (s * root)).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hyper(l: f64) -> Hyper {
        Hyper { length_scales: vec![l], signal_var: 1.0, prior_mean: 0.0 }
    }

    #[test]
    fn posterior_at_one_point_matches_the_closed_form() {
        // One observation y=1 at x=0 with noise 0.1: mean(x) = k(x,0)/(1+0.1) * 1,
        // var(x) = 1 - k(x,0)^2/(1.1).
        let s = [Sample { x: vec![0.0], y: 1.0, noise_var: 0.1 }];
        let gp = Gp::fit(&s, hyper(0.5)).unwrap();
        let k = matern52(&[0.3], &[0.0], &[0.5], 1.0);
        // Matérn 5/2 at r = sqrt(5)*0.6: (1 + r + r^2/3) e^-r
        let r = 5f64.sqrt() * 0.6;
        assert!((k - (1.0 + r + r * r / 3.0) * (-r).exp()).abs() < 1e-12);
        let p = gp.predict(&[0.3]);
        assert!((p.mean - k / 1.1).abs() < 1e-9);
        assert!((p.sd - (1.0 - k * k / 1.1).sqrt()).abs() < 1e-9);
    }

    #[test]
    fn far_from_data_the_posterior_returns_to_the_prior() {
        let s = [Sample { x: vec![0.0], y: 3.0, noise_var: 0.01 }];
        let gp = Gp::fit(&s, Hyper { length_scales: vec![0.05], signal_var: 4.0, prior_mean: 1.0 }).unwrap();
        let p = gp.predict(&[1.0]);
        assert!((p.mean - 1.0).abs() < 1e-6 && (p.sd - 2.0).abs() < 1e-6);
    }

    #[test]
    fn expected_improvement_matches_closed_form_values() {
        // mean = best: EI = sd * phi(0) = sd / sqrt(2 pi)
        let ei = expected_improvement(Posterior { mean: 1.0, sd: 2.0 }, 1.0);
        assert!((ei - 2.0 * 0.398_942_280_401_432_7).abs() < 1e-12);
        // mean - best = 1, sd = 1: EI = Phi(1) + phi(1) = 0.841344746 + 0.241970725
        let ei = expected_improvement(Posterior { mean: 2.0, sd: 1.0 }, 1.0);
        assert!((ei - 1.083_315_470_9).abs() < 1e-8, "{ei}");
        assert_eq!(expected_improvement(Posterior { mean: 0.0, sd: 0.0 }, 1.0), 0.0);
    }

    #[test]
    fn expected_shipped_improvement_matches_numerical_integration() {
        // ∫ Δ Φ(Δ/s − z) N(Δ; μ, σ²) dΔ by the midpoint rule over μ ± 12σ.
        let numeric = |mu: f64, sd: f64, s: f64, z: f64| {
            let n = 200_000;
            let (lo, hi) = (mu - 12.0 * sd, mu + 12.0 * sd);
            let h = (hi - lo) / n as f64;
            (0..n)
                .map(|i| {
                    let d = lo + (i as f64 + 0.5) * h;
                    d * norm_cdf(d / s - z) * norm_pdf((d - mu) / sd) / sd * h
                })
                .sum::<f64>()
        };
        for (mu, sd, s, z) in [(0.5, 0.8, 0.3, 2.0), (1.5, 0.4, 0.5, 2.4), (-0.2, 1.0, 0.2, 1.96), (3.0, 2.0, 1.0, 2.5)]
        {
            let closed = expected_shipped_improvement(Posterior { mean: mu, sd }, s, z);
            let want = numeric(mu, sd, s, z).max(0.0);
            assert!((closed - want).abs() < 1e-6, "μ {mu} σ {sd} s {s} z {z}: {closed} vs {want}");
        }
        // A read without noise: the plain expected improvement over the incumbent.
        let p = Posterior { mean: 0.7, sd: 0.5 };
        assert!((expected_shipped_improvement(p, 1e-9, 2.0) - expected_improvement(p, 0.0)).abs() < 1e-6);
        // The same expected gain is worth less when the experiment is noisier.
        assert!(expected_shipped_improvement(p, 0.5, 2.0) < expected_shipped_improvement(p, 0.1, 2.0));
    }

    #[test]
    fn two_point_posterior_matches_a_hand_computation() {
        // y = 1 at x = 0 and x = 1, noise 0.1, l = 0.5, s² = 1. K = [[1.1, k01], [k01, 1.1]]
        // with k01 = m(2 sqrt 5) = 0.138660219; (1, 1) is an eigenvector of K with
        // eigenvalue 1.1 + k01, and k(0.5, ·) = m(sqrt 5) (1, 1) = 0.523994109 (1, 1), so
        // mean(0.5) = 2 * 0.523994109 / 1.238660219 = 0.846065936 and
        // var(0.5) = 1 - 2 * 0.523994109² / 1.238660219 = 0.746100820².
        let s = [Sample { x: vec![0.0], y: 1.0, noise_var: 0.1 }, Sample { x: vec![1.0], y: 1.0, noise_var: 0.1 }];
        let gp = Gp::fit(&s, hyper(0.5)).unwrap();
        assert!((matern52(&[0.0], &[1.0], &[0.5], 1.0) - 0.138_660_219_1).abs() < 1e-9);
        let p = gp.predict(&[0.5]);
        assert!((p.mean - 0.846_065_935_98).abs() < 1e-9, "{p:?}");
        assert!((p.sd - 0.746_100_820_17).abs() < 1e-9, "{p:?}");
        // Standardising is an affine map: the same data shifted by 10 and scaled by 2
        // (noise by 4) gives the same posterior, shifted and scaled.
        let t = Standardise { shift: 10.0, scale: 2.0 };
        let moved: Vec<Sample> =
            s.iter().map(|x| Sample { y: 10.0 + 2.0 * x.y, noise_var: 0.4, ..x.clone() }).collect();
        let q = Gp::fit_standardised(&moved, hyper(0.5), t).unwrap().predict(&[0.5]);
        assert!((q.mean - (10.0 + 2.0 * p.mean)).abs() < 1e-9 && (q.sd - 2.0 * p.sd).abs() < 1e-9, "{q:?}");
    }

    #[test]
    fn the_likelihood_gradient_matches_finite_differences() {
        let samples: Vec<Sample> = (0..12)
            .map(|i| {
                let x = vec![(i as f64 * 0.37) % 1.0, (i as f64 * 0.61) % 1.0];
                Sample { y: (3.0 * x[0]).sin() + 0.2 * x[1], x, noise_var: 0.01 + 0.005 * (i % 3) as f64 }
            })
            .collect();
        let theta = [0.3f64.ln(), 0.9f64.ln(), 0.7f64.ln()];
        let (_, grad) = objective(&samples, &theta, 0.1).unwrap();
        for k in 0..theta.len() {
            let h = 1e-5;
            let (mut up, mut down) = (theta.to_vec(), theta.to_vec());
            up[k] += h;
            down[k] -= h;
            let numeric =
                (objective(&samples, &up, 0.1).unwrap().0 - objective(&samples, &down, 0.1).unwrap().0) / (2.0 * h);
            assert!(
                (numeric - grad[k]).abs() < 1e-5 * (1.0 + numeric.abs()),
                "θ{k}: analytic {} vs numeric {numeric}",
                grad[k]
            );
        }
    }

    #[test]
    fn maximum_likelihood_prefers_short_length_scales_for_wiggly_data() {
        let wiggly: Vec<Sample> = (0..20)
            .map(|i| {
                let x = i as f64 / 19.0;
                Sample { x: vec![x], y: (12.0 * x).sin(), noise_var: 1e-4 }
            })
            .collect();
        let smooth: Vec<Sample> = wiggly.iter().map(|s| Sample { y: s.x[0], ..s.clone() }).collect();
        let lw = Gp::fit_ml(&wiggly, 1e-3, &[1.0]).unwrap().hyper().length_scales[0];
        let ls = Gp::fit_ml(&smooth, 1e-3, &[1.0]).unwrap().hyper().length_scales[0];
        assert!(lw < ls, "wiggly {lw} vs smooth {ls}");
    }

    #[test]
    fn maximum_likelihood_finds_the_input_that_does_not_matter() {
        // y depends on x0 only: the fitted length scale of x1 is much longer, and the fit
        // beats the best point of the starting grid.
        let samples: Vec<Sample> = (0..30)
            .map(|i| {
                let x = vec![(i as f64 * 0.618_034) % 1.0, (i as f64 * 0.414_214) % 1.0];
                Sample { y: 2.0 * (4.0 * x[0]).sin(), x, noise_var: 1e-3 }
            })
            .collect();
        let gp = Gp::fit_ml(&samples, 1e-3, &[1.0, 1.0]).unwrap();
        let ls = &gp.hyper().length_scales;
        assert!(ls[1] > 3.0 * ls[0], "length scales {ls:?}");
        // The posterior mean reproduces the data in its own units (standardisation undone).
        let p = gp.predict(&samples[5].x);
        assert!((p.mean - samples[5].y).abs() < 0.05, "{p:?} vs {}", samples[5].y);
    }
}
