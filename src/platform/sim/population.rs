//! Users: their traits, how one user's metrics are sampled in the experiment and in the
//! pre-period, and the noise-free expectation of the same model.
//!
//! A user is a segment (taste, which fixes the slate) plus traits that persist across
//! periods: activity (how often they come back), click and dwell propensity, browsing
//! depth and a device latency offset. The pre-period replays the same user under the
//! production configuration with fresh noise, so the pre-period value is correlated
//! with the experiment's through the traits and the segment, which is what CUPED uses.

use super::catalogue::METRICS;
use super::outcome::{ArmModel, SegmentOutcome};
use super::sampling::Sampler;
use agents::platform::{MetricData, PreSums, Sums};
use std::collections::BTreeMap;

const SIGMA_ACTIVITY: f64 = 0.5;
const SIGMA_CLICK: f64 = 0.25;
const SIGMA_DWELL: f64 = 0.3;
const SIGMA_DEPTH: f64 = 0.15;
const DEVICE_LATENCY_SD_MS: f64 = 8.0;
const REQUEST_LATENCY_SD_MS: f64 = 25.0;

/// The mean metrics in [`METRICS`] order (ctr excluded).
const MEANS: usize = 6;

struct Traits {
    segment: usize,
    activity: f64,
    click: f64,
    dwell: f64,
    depth: f64,
    device_ms: f64,
}

/// One user's values of the mean metrics in one period, in [`METRICS`] order, and the
/// ctr numerator and denominator (clicks and impressions).
fn period(t: &Traits, seg: &SegmentOutcome, latency_ms: f64, rng: &mut Sampler) -> [f64; MEANS] {
    let sessions = rng.poisson(t.activity * seg.returns);
    let requests = 1.0 + sessions as f64;
    let impressions = rng.poisson(requests * seg.impressions * t.depth);
    let clicks = rng.poisson(requests * seg.clicks * t.click * t.depth);
    let dwell = if clicks > 0 && seg.clicks > 0.0 {
        let per_click = seg.dwell_s / seg.clicks * t.dwell;
        rng.gamma_mean(clicks as f64, clicks as f64 * per_click)
    } else {
        0.0
    };
    let mut categories = 0u32;
    for &q in &seg.cat_seen[..seg.n_cats] {
        let never = (1.0 - q as f64).powi(requests as i32);
        categories += u32::from(rng.bernoulli(1.0 - never));
    }
    let latency = latency_ms + t.device_ms + REQUEST_LATENCY_SD_MS * rng.normal() / requests.sqrt();
    [impressions as f64, clicks as f64, dwell, sessions as f64, categories as f64, latency]
}

/// Per-arm sufficient statistics of every metric, accumulated user by user.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ArmSums {
    pub units: u64,
    sum: [f64; MEANS],
    sum_sq: [f64; MEANS],
    pre_sum: [f64; MEANS],
    pre_sum_sq: [f64; MEANS],
    sum_product: [f64; MEANS],
    ctr_num_sq: f64,
    ctr_den_sq: f64,
    ctr_product: f64,
}

impl ArmSums {
    fn add(&mut self, now: &[f64; MEANS], pre: &[f64; MEANS]) {
        self.units += 1;
        for m in 0..MEANS {
            self.sum[m] += now[m];
            self.sum_sq[m] += now[m] * now[m];
            self.pre_sum[m] += pre[m];
            self.pre_sum_sq[m] += pre[m] * pre[m];
            self.sum_product[m] += now[m] * pre[m];
        }
        let (clicks, impressions) = (now[1], now[0]);
        self.ctr_num_sq += clicks * clicks;
        self.ctr_den_sq += impressions * impressions;
        self.ctr_product += clicks * impressions;
    }

    /// Adds another batch of users; batches are always merged in the same order, so
    /// the floating-point sums are reproducible.
    pub fn merge(&mut self, o: &ArmSums) {
        self.units += o.units;
        for m in 0..MEANS {
            self.sum[m] += o.sum[m];
            self.sum_sq[m] += o.sum_sq[m];
            self.pre_sum[m] += o.pre_sum[m];
            self.pre_sum_sq[m] += o.pre_sum_sq[m];
            self.sum_product[m] += o.sum_product[m];
        }
        self.ctr_num_sq += o.ctr_num_sq;
        self.ctr_den_sq += o.ctr_den_sq;
        self.ctr_product += o.ctr_product;
    }

    /// Mean of a mean metric so far (NaN when empty).
    pub fn mean(&self, metric: &str) -> f64 {
        match METRICS.iter().position(|m| *m == metric) {
            Some(m) if m < MEANS => self.sum[m] / self.units as f64,
            _ if metric == "ctr" => self.sum[1] / self.sum[0],
            _ => f64::NAN,
        }
    }

    /// The contract's per-metric sufficient statistics.
    pub fn metrics(&self) -> BTreeMap<String, MetricData> {
        let mut out: BTreeMap<String, MetricData> = METRICS[..MEANS]
            .iter()
            .enumerate()
            .map(|(m, name)| {
                let data = MetricData::Mean {
                    n: self.units,
                    sum: self.sum[m],
                    sum_sq: self.sum_sq[m],
                    pre: Some(PreSums {
                        sum: self.pre_sum[m],
                        sum_sq: self.pre_sum_sq[m],
                        sum_product: self.sum_product[m],
                    }),
                };
                (name.to_string(), data)
            })
            .collect();
        out.insert(
            "ctr".into(),
            MetricData::Ratio {
                n: self.units,
                num: Sums { sum: self.sum[1], sum_sq: self.ctr_num_sq },
                den: Sums { sum: self.sum[0], sum_sq: self.ctr_den_sq },
                sum_product: self.ctr_product,
            },
        );
        out
    }
}

/// Simulates `users` independent users of one arm into `sums`. `model` is the arm's
/// configuration, `pre` the production configuration of the pre-period; `stream`
/// names the random stream (seed, arm, chunk), so equal streams give equal users.
pub fn simulate_users(model: &ArmModel, pre: &ArmModel, stream: &[u64], users: u64, sums: &mut ArmSums) {
    let mut rng = Sampler::new(stream);
    let segments = model.segments.len().min(pre.segments.len());
    if segments == 0 {
        return;
    }
    for _ in 0..users {
        let t = Traits {
            segment: rng.below(segments),
            activity: rng.lognormal_mean_one(SIGMA_ACTIVITY),
            click: rng.lognormal_mean_one(SIGMA_CLICK),
            dwell: rng.lognormal_mean_one(SIGMA_DWELL),
            depth: rng.lognormal_mean_one(SIGMA_DEPTH),
            device_ms: DEVICE_LATENCY_SD_MS * rng.normal(),
        };
        let now = period(&t, &model.segments[t.segment], model.latency_ms, &mut rng);
        let before = period(&t, &pre.segments[t.segment], pre.latency_ms, &mut rng);
        sums.add(&now, &before);
    }
}

/// Expected per-user value of every metric (ctr as the ratio of expected sums) over the
/// population: segments weighted equally, traits integrated exactly, except the
/// distinct-category count, whose dependence on activity is integrated numerically.
pub fn expected(model: &ArmModel) -> BTreeMap<String, f64> {
    let nodes = activity_nodes();
    let n = model.segments.len().max(1) as f64;
    let mut acc = [0.0; MEANS];
    for seg in &model.segments {
        let requests = 1.0 + seg.returns;
        acc[0] += requests * seg.impressions;
        acc[1] += requests * seg.clicks;
        acc[2] += requests * seg.dwell_s;
        acc[3] += seg.returns;
        for &q in &seg.cat_seen[..seg.n_cats] {
            let q = q as f64;
            // E[(1-q)^(1+S)] with S ~ Poisson(A * returns) is (1-q) E_A[exp(-A returns q)].
            let never: f64 = nodes.iter().map(|(a, w)| w * (-a * seg.returns * q).exp()).sum();
            acc[4] += 1.0 - (1.0 - q) * never;
        }
    }
    let mut out: BTreeMap<String, f64> =
        METRICS[..MEANS].iter().zip(acc).map(|(name, s)| (name.to_string(), s / n)).collect();
    out.insert("latency_ms".into(), model.latency_ms);
    out.insert("ctr".into(), if acc[0] > 0.0 { acc[1] / acc[0] } else { 0.0 });
    out
}

/// Activity values and weights for integrating over its log-normal law: the trapezoid
/// rule on the normal scale is exact to many digits for these smooth integrands.
fn activity_nodes() -> Vec<(f64, f64)> {
    let s = SIGMA_ACTIVITY;
    let zs: Vec<f64> = (-20..=20).map(|i| i as f64 * 0.25).collect();
    let total: f64 = zs.iter().map(|z| (-0.5 * z * z).exp()).sum();
    zs.iter().map(|z| ((s * z - 0.5 * s * s).exp(), (-0.5 * z * z).exp() / total)).collect()
}

#[cfg(test)]
mod tests {
    use super::super::calibration::ModelVersion;
    use super::super::catalogue::SimConfig;
    use super::super::world::World;
    use super::*;

    fn corr(s: &ArmSums, m: usize) -> f64 {
        let n = s.units as f64;
        let cov = s.sum_product[m] / n - s.sum[m] / n * s.pre_sum[m] / n;
        let v = s.sum_sq[m] / n - (s.sum[m] / n).powi(2);
        let vp = s.pre_sum_sq[m] / n - (s.pre_sum[m] / n).powi(2);
        cov / (v * vp).sqrt()
    }

    #[test]
    fn pre_period_is_positively_correlated_and_noise_is_realistic() {
        let w = World::shared(ModelVersion::V1);
        let model = ArmModel::build(&w, &SimConfig::default());
        let mut s = ArmSums::default();
        simulate_users(&model, &model, &[1, 2, 3], 40_000, &mut s);
        let n = s.units as f64;
        for (m, name) in METRICS[..MEANS].iter().enumerate() {
            let r = corr(&s, m);
            assert!(r > 0.2, "{name}: pre-period correlation {r}");
        }
        for m in [2, 3] {
            let mean = s.sum[m] / n;
            let cv = (s.sum_sq[m] / n - mean * mean).sqrt() / mean;
            assert!((0.4..=1.5).contains(&cv), "{}: cv {cv}", METRICS[m]);
        }
    }

    #[test]
    fn sample_means_match_the_expectation() {
        let w = World::shared(ModelVersion::V1);
        let model = ArmModel::build(&w, &SimConfig::default());
        let mut s = ArmSums::default();
        simulate_users(&model, &model, &[5], 200_000, &mut s);
        let e = expected(&model);
        for name in METRICS {
            let (got, want) = (s.mean(name), e[name]);
            assert!((got / want - 1.0).abs() < 0.01, "{name}: sampled {got}, expected {want}");
        }
    }
}
