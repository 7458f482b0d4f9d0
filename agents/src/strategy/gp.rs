//! Gaussian-process regression on the unit cube: the surrogate behind the built-in
//! Actor's search and the Critic's guardrail-risk prediction.
//!
//! Matérn 5/2 kernel with one length scale per input, a constant prior mean and a
//! known per-observation noise variance (each arm's squared standard error), because an
//! A/B read tells us how noisy it is. Hyperparameters are picked by marginal likelihood
//! over a small grid: a handful of Cholesky factorisations of at most a few hundred
//! points, cheap enough to redo every round.

use nalgebra::{Cholesky, DMatrix, DVector, Dyn};

/// One observation: a point in the unit cube, a value and its noise variance.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub x: Vec<f64>,
    pub y: f64,
    pub noise_var: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Hyper {
    pub length_scales: Vec<f64>,
    pub signal_var: f64,
    pub prior_mean: f64,
}

/// A fitted GP.
pub struct Gp {
    hyper: Hyper,
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

pub fn matern52(a: &[f64], b: &[f64], ls: &[f64], signal_var: f64) -> f64 {
    let r2: f64 = a.iter().zip(b).zip(ls).map(|((x, y), l)| ((x - y) / l).powi(2)).sum();
    let r = (5.0 * r2).sqrt();
    signal_var * (1.0 + r + 5.0 * r2 / 3.0) * (-r).exp()
}

impl Gp {
    /// Fits with fixed hyperparameters; `None` when the kernel matrix is not positive
    /// definite even with jitter (duplicate noiseless points).
    pub fn fit(samples: &[Sample], hyper: Hyper) -> Option<Gp> {
        let n = samples.len();
        let k = DMatrix::from_fn(n, n, |i, j| {
            let kij = matern52(&samples[i].x, &samples[j].x, &hyper.length_scales, hyper.signal_var);
            if i == j {
                kij + samples[i].noise_var.max(0.0) + JITTER * hyper.signal_var.max(1e-12)
            } else {
                kij
            }
        });
        let chol = Cholesky::new(k)?;
        let resid = DVector::from_iterator(n, samples.iter().map(|s| s.y - hyper.prior_mean));
        let alpha = chol.solve(&resid);
        Some(Gp { hyper, xs: samples.iter().map(|s| s.x.clone()).collect(), chol, alpha })
    }

    /// Log marginal likelihood of the data under this fit.
    pub fn log_marginal_likelihood(&self, samples: &[Sample]) -> f64 {
        let resid = DVector::from_iterator(samples.len(), samples.iter().map(|s| s.y - self.hyper.prior_mean));
        let log_det: f64 = self.chol.l().diagonal().iter().map(|d| d.ln()).sum::<f64>() * 2.0;
        -0.5 * resid.dot(&self.alpha) - 0.5 * log_det - 0.5 * samples.len() as f64 * (2.0 * std::f64::consts::PI).ln()
    }

    pub fn predict(&self, x: &[f64]) -> Posterior {
        let h = &self.hyper;
        if self.xs.is_empty() {
            return Posterior { mean: h.prior_mean, sd: h.signal_var.sqrt() };
        }
        let kx = DVector::from_iterator(
            self.xs.len(),
            self.xs.iter().map(|xi| matern52(xi, x, &h.length_scales, h.signal_var)),
        );
        let mean = h.prior_mean + kx.dot(&self.alpha);
        let v = self.chol.l().solve_lower_triangular(&kx).unwrap_or_else(|| DVector::zeros(self.xs.len()));
        let var = (h.signal_var - v.dot(&v)).max(1e-12);
        Posterior { mean, sd: var.sqrt() }
    }

    pub fn hyper(&self) -> &Hyper {
        &self.hyper
    }

    /// Fits by maximising the marginal likelihood over a grid of global length scales
    /// (stretched per dimension by `relevance`, larger = more relevant) and signal
    /// variances around `signal_var`.
    pub fn fit_ml(samples: &[Sample], prior_mean: f64, signal_var: f64, relevance: &[f64]) -> Option<Gp> {
        let mut best: Option<(f64, Gp)> = None;
        for &l in &[0.1, 0.18, 0.3, 0.5, 0.8, 1.3] {
            for &s in &[0.5, 1.0, 2.0] {
                let length_scales = relevance.iter().map(|r| (l / r.clamp(0.25, 4.0).sqrt()).max(0.03)).collect();
                let hyper = Hyper { length_scales, signal_var: signal_var * s, prior_mean };
                let Some(gp) = Gp::fit(samples, hyper) else { continue };
                let lml = gp.log_marginal_likelihood(samples);
                if lml.is_finite() && best.as_ref().is_none_or(|(b, _)| lml > *b) {
                    best = Some((lml, gp));
                }
            }
        }
        best.map(|(_, gp)| gp)
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
    fn maximum_likelihood_prefers_short_length_scales_for_wiggly_data() {
        let wiggly: Vec<Sample> = (0..20)
            .map(|i| {
                let x = i as f64 / 19.0;
                Sample { x: vec![x], y: (12.0 * x).sin(), noise_var: 1e-4 }
            })
            .collect();
        let smooth: Vec<Sample> = wiggly.iter().map(|s| Sample { y: s.x[0], ..s.clone() }).collect();
        let lw = Gp::fit_ml(&wiggly, 0.0, 1.0, &[1.0]).unwrap().hyper().length_scales[0];
        let ls = Gp::fit_ml(&smooth, 0.0, 1.0, &[1.0]).unwrap().hyper().length_scales[0];
        assert!(lw < ls, "wiggly {lw} vs smooth {ls}");
    }
}
