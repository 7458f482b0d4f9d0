//! The world: items, user taste segments, and each segment's candidates with their true
//! engagement probabilities and the models' predictions of them.
//!
//! Everything is generated from a fixed seed, so every process sees the same world. The
//! truth is the same for both model versions; only the predictions differ.

use super::calibration::{sigmoid, ModelVersion};
use super::sampling::Sampler;
use std::sync::{Arc, OnceLock};

pub const DIM: usize = 8;
pub const CATEGORIES: usize = 12;
pub const ITEMS: usize = 4000;
pub const SEGMENTS: usize = 512;
const TASTE_CANDIDATES: usize = 650;
const POPULAR_CANDIDATES: usize = 150;
const FRESH_CANDIDATES: usize = 150;
/// Spread of the user-item match only the ranking model sees.
const NUANCE_SD: f64 = 0.4;
const WORLD_SEED: u64 = 0x0005_1A7E_C0DE_2026;

/// Typical logits of the heads: calibration temperatures pivot around them.
const CENTRE_CLICK: f64 = -2.3;
const CENTRE_LONG: f64 = -3.2;
const CENTRE_LIKE: f64 = -4.5;
const CENTRE_DISMISS: f64 = -3.3;
/// The offset `b` of the multiplicative formula `prod (b + p)^w`.
pub const MULT_OFFSET: f64 = 0.02;
/// A long view is a click followed by at least this many seconds on the item.
const LONG_VIEW_S: f64 = 12.0;

#[derive(Debug, Clone)]
pub struct Item {
    pub taste: [f32; DIM],
    pub cat: u8,
    pub quality: f32,
    /// 1 = just published; decays with a four-day time constant.
    pub fresh: f32,
    pub clickbait: bool,
    pub dismiss_prone: f32,
    pub popularity: f32,
}

/// One candidate of one segment: the truth, and what the models believe.
#[derive(Debug, Clone, Copy)]
pub struct Cand {
    pub item: u32,
    pub cat: u8,
    pub clickbait: bool,
    pub fresh: f32,
    /// True click probability per impression.
    pub t_click: f32,
    /// True mean dwell seconds per click.
    pub t_dwell: f32,
    /// True like probability per click.
    pub t_like: f32,
    /// True dismiss probability per impression.
    pub t_dismiss: f32,
}

/// The ranking model's predictions for a candidate, apart from [`Cand`] for the same
/// reason as [`Light`]: the rank stage reads only these.
#[derive(Debug, Clone, Copy)]
pub struct Heads {
    /// Probabilities per impression of a click, a long view, a like and a dismissal.
    pub click: f32,
    pub long: f32,
    pub like: f32,
    pub dismiss: f32,
    /// ln((b + p) / (b + mean p)) of each head, for the multiplicative formula.
    pub l_click: f32,
    pub l_long: f32,
    pub l_like: f32,
    pub l_dismiss: f32,
}

/// What the pre-ranker sees of a candidate, kept apart from [`Cand`] because the
/// pre-ranker reads every candidate and nothing else: a compact array keeps that scan
/// in cache.
#[derive(Debug, Clone, Copy)]
pub struct Light {
    /// The retrieval (two-tower) score mapped to [0, 1]; the pre-ranker's fixed prior.
    pub prior: f32,
    /// The light model's click and long-dwell scores and the item's freshness, each
    /// normalised so the average candidate scores 1.
    pub click: f32,
    pub long: f32,
    pub fresh: f32,
}

pub struct World {
    pub version: ModelVersion,
    pub items: Vec<Item>,
    cands: Vec<Cand>,
    heads: Vec<Heads>,
    light: Vec<Light>,
    offsets: Vec<usize>,
}

impl World {
    /// The world of a model version, built once per process and shared.
    pub fn shared(version: ModelVersion) -> Arc<World> {
        static V1: OnceLock<Arc<World>> = OnceLock::new();
        static V2: OnceLock<Arc<World>> = OnceLock::new();
        let cell = match version {
            ModelVersion::V1 => &V1,
            ModelVersion::V2 => &V2,
        };
        cell.get_or_init(|| Arc::new(World::generate(version))).clone()
    }

    pub fn segments(&self) -> usize {
        self.offsets.len() - 1
    }

    pub fn candidates(&self, segment: usize) -> &[Cand] {
        &self.cands[self.offsets[segment]..self.offsets[segment + 1]]
    }

    /// The ranking model's predictions for the same candidates, index for index.
    pub fn heads(&self, segment: usize) -> &[Heads] {
        &self.heads[self.offsets[segment]..self.offsets[segment + 1]]
    }

    /// The pre-ranker's view of the same candidates, index for index.
    pub fn light(&self, segment: usize) -> &[Light] {
        &self.light[self.offsets[segment]..self.offsets[segment + 1]]
    }

    /// Cosine similarity of two items' tastes (the vectors are unit length).
    #[inline]
    pub fn similarity(&self, a: u32, b: u32) -> f32 {
        let (x, y) = (&self.items[a as usize].taste, &self.items[b as usize].taste);
        let mut s = 0.0;
        for d in 0..DIM {
            s += x[d] * y[d];
        }
        s
    }

    pub fn generate(version: ModelVersion) -> World {
        let mut rng = Sampler::new(&[WORLD_SEED, 0]);
        let centroids: Vec<[f64; DIM]> = (0..CATEGORIES).map(|_| unit(&mut rng, &[0.0; DIM], 1.0)).collect();
        // Category sizes fall off so that a few categories dominate, as in real catalogues.
        let cat_weights: Vec<f64> = (0..CATEGORIES).map(|c| 1.0 / (1.0 + 0.12 * c as f64)).collect();
        let items: Vec<Item> = (0..ITEMS)
            .map(|_| {
                let cat = pick(&mut rng, &cat_weights);
                let taste = unit(&mut rng, &centroids[cat], 0.3);
                let clickbait = rng.bernoulli(0.04);
                let quality = rng.normal() - if clickbait { 0.4 } else { 0.0 };
                let fresh = (-30.0 * rng.uniform() / 4.0).exp();
                let dismiss_prone = rng.normal() + if clickbait { 0.8 } else { 0.0 };
                let popularity = 0.8 * quality + if clickbait { 0.6 } else { 0.0 } + 0.5 * rng.normal() + 0.8 * fresh;
                Item {
                    taste: taste.map(|x| x as f32),
                    cat: cat as u8,
                    quality: quality as f32,
                    fresh: fresh as f32,
                    clickbait,
                    dismiss_prone: dismiss_prone as f32,
                    popularity: popularity as f32,
                }
            })
            .collect();
        let popular = top_by(ITEMS, POPULAR_CANDIDATES, |i| items[i].popularity as f64);
        let freshest = top_by(ITEMS, FRESH_CANDIDATES, |i| items[i].fresh as f64);

        let cal = version.calibration();
        let mut cands = Vec::with_capacity(SEGMENTS * 900);
        let mut heads = Vec::with_capacity(SEGMENTS * 900);
        let mut light = Vec::with_capacity(SEGMENTS * 900);
        let mut offsets = vec![0];
        for g in 0..SEGMENTS {
            let mut srng = Sampler::new(&[WORLD_SEED, 1, g as u64]);
            let mut erng = Sampler::new(&[WORLD_SEED, 2, version.stream_id(), g as u64]);
            let c1 = pick(&mut srng, &cat_weights);
            let c2 = pick(&mut srng, &cat_weights);
            let mut mix = [0.0; DIM];
            for d in 0..DIM {
                mix[d] = 0.65 * centroids[c1][d] + 0.35 * centroids[c2][d];
            }
            let taste = unit(&mut srng, &mix, 0.12);
            let cat_bias: Vec<f64> =
                (0..CATEGORIES).map(|c| 0.25 * srng.normal() + if c == c1 { 0.3 } else { 0.0 }).collect();
            let cosine: Vec<f64> =
                items.iter().map(|it| (0..DIM).map(|d| taste[d] * it.taste[d] as f64).sum()).collect();
            // The two-tower model approximates the taste match with some error.
            let retrieval: Vec<f64> = cosine.iter().map(|c| c + 0.15 * srng.normal()).collect();
            let mut chosen = top_by(ITEMS, TASTE_CANDIDATES, |i| retrieval[i]);
            chosen.extend_from_slice(&popular);
            chosen.extend_from_slice(&freshest);
            chosen.sort_unstable();
            chosen.dedup();
            for &i in &chosen {
                let it = &items[i];
                // A fine-grained match that only the heavy ranking model's features see:
                // the light model and retrieval are blind to it, so a deeper pre-rank cut
                // lets the ranking model find more of the items that suit the user best.
                let nuance = NUANCE_SD * srng.normal();
                let coarse = cosine[i] + cat_bias[it.cat as usize];
                let cb = if it.clickbait { 1.0 } else { 0.0 };
                let (q, fresh) = (it.quality as f64, it.fresh as f64);
                // Polarising items are dismissed more but hold those who click for longer.
                let dp = it.dismiss_prone as f64;
                let truth = |affinity: f64| {
                    let click = sigmoid(-4.0 + 1.7 * affinity + 0.3 * q + 0.6 * cb + 0.3 * fresh);
                    let dwell = (40.0 * (0.45 * affinity + 0.3 * q + 0.25 * dp - 1.3 * cb).exp()).clamp(3.0, 600.0);
                    (click, dwell, click * (-LONG_VIEW_S / dwell).exp())
                };
                let (click, dwell, long) = truth(coarse + nuance);
                let (light_click, _, light_long) = truth(coarse);
                let affinity = coarse + nuance;
                let like = sigmoid(-2.8 + 1.0 * affinity + 0.3 * q + 0.3 * dp - 1.5 * cb);
                let dismiss = sigmoid(-3.5 - 0.5 * affinity + 1.1 * dp + 0.6 * cb);
                let z: [f64; 6] = std::array::from_fn(|_| erng.normal());
                // The light model is distilled from the ranking model, so their errors correlate.
                let (zc, zl) = (0.5 * z[0] + 0.866 * z[4], 0.5 * z[1] + 0.866 * z[5]);
                cands.push(Cand {
                    item: i as u32,
                    cat: it.cat,
                    clickbait: it.clickbait,
                    fresh: it.fresh,
                    t_click: click as f32,
                    t_dwell: dwell as f32,
                    t_like: like as f32,
                    t_dismiss: dismiss as f32,
                });
                heads.push(Heads {
                    click: cal.click.predict(click, z[0], CENTRE_CLICK) as f32,
                    long: cal.long.predict(long, z[1], CENTRE_LONG) as f32,
                    like: cal.like.predict(click * like, z[2], CENTRE_LIKE) as f32,
                    dismiss: cal.dismiss.predict(dismiss, z[3], CENTRE_DISMISS) as f32,
                    l_click: 0.0,
                    l_long: 0.0,
                    l_like: 0.0,
                    l_dismiss: 0.0,
                });
                light.push(Light {
                    prior: (0.5 * (retrieval[i] + 1.0)).clamp(0.0, 1.0) as f32,
                    click: cal.pre_click.predict(light_click, zc, CENTRE_CLICK) as f32,
                    long: cal.pre_long.predict(light_long, zl, CENTRE_LONG) as f32,
                    fresh: it.fresh,
                });
            }
            offsets.push(cands.len());
        }
        normalise(&mut heads, &mut light);
        World { version, items, cands, heads, light, offsets }
    }
}

/// Puts the pre-ranking scores on a common scale and precomputes the log terms of the
/// multiplicative formula, both relative to the average candidate of the world.
fn normalise(heads: &mut [Heads], light: &mut [Light]) {
    let n = heads.len().max(1) as f64;
    let mean = |f: fn(&Heads) -> f32| heads.iter().map(|c| f(c) as f64).sum::<f64>() / n;
    let (mc, ml, mk, md) = (mean(|c| c.click), mean(|c| c.long), mean(|c| c.like), mean(|c| c.dismiss));
    let light_mean = |f: fn(&Light) -> f32| light.iter().map(|c| f(c) as f64).sum::<f64>() / n;
    let (mpc, mpl, mpf) = (light_mean(|c| c.click), light_mean(|c| c.long), light_mean(|c| c.fresh));
    let lr = |p: f32, m: f64| ((MULT_OFFSET + p as f64) / (MULT_OFFSET + m)).ln() as f32;
    for c in heads {
        c.l_click = lr(c.click, mc);
        c.l_long = lr(c.long, ml);
        c.l_like = lr(c.like, mk);
        c.l_dismiss = lr(c.dismiss, md);
    }
    for c in light {
        c.click = (c.click as f64 / mpc) as f32;
        c.long = (c.long as f64 / mpl) as f32;
        c.fresh = (c.fresh as f64 / mpf) as f32;
    }
}

fn unit(rng: &mut Sampler, centre: &[f64; DIM], noise: f64) -> [f64; DIM] {
    let mut v = [0.0; DIM];
    for d in 0..DIM {
        v[d] = centre[d] + noise * rng.normal();
    }
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
    v.map(|x| x / norm)
}

fn pick(rng: &mut Sampler, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut u = rng.uniform() * total;
    for (i, w) in weights.iter().enumerate() {
        if u < *w {
            return i;
        }
        u -= w;
    }
    weights.len() - 1
}

/// Indices of the `k` largest keys among `0..n` (in no particular order), ties broken
/// by index.
fn top_by(n: usize, k: usize, key: impl Fn(usize) -> f64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    if k == 0 || k >= n {
        idx.truncate(k);
        return idx;
    }
    idx.select_nth_unstable_by(k - 1, |&a, &b| key(b).total_cmp(&key(a)).then(a.cmp(&b)));
    idx.truncate(k);
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn world_is_deterministic_and_has_hundreds_of_candidates_per_segment() {
        let w = World::shared(ModelVersion::V1);
        let sizes: Vec<usize> = (0..w.segments()).map(|g| w.candidates(g).len()).collect();
        let min = *sizes.iter().min().unwrap_or(&0);
        let max = *sizes.iter().max().unwrap_or(&0);
        assert!(min >= 500 && max <= 1000, "{min}..{max}");
        let again = World::generate(ModelVersion::V1);
        let (a, b) = (w.candidates(7)[3], again.candidates(7)[3]);
        assert_eq!((a.item, w.heads(7)[3].click.to_bits()), (b.item, again.heads(7)[3].click.to_bits()));
    }

    #[test]
    fn versions_share_the_truth_but_not_the_predictions() {
        let (a, b) = (World::shared(ModelVersion::V1), World::shared(ModelVersion::V2));
        let (x, y) = (a.candidates(3)[10], b.candidates(3)[10]);
        assert_eq!(x.item, y.item);
        assert_eq!(x.t_click.to_bits(), y.t_click.to_bits());
        assert_ne!(a.heads(3)[10].long.to_bits(), b.heads(3)[10].long.to_bits());
    }

    #[test]
    fn clickbait_clicks_more_and_dwells_less() {
        let w = World::shared(ModelVersion::V1);
        let (mut cb, mut plain) = ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0));
        for c in (0..w.segments()).flat_map(|g| w.candidates(g)) {
            let t = if c.clickbait { &mut cb } else { &mut plain };
            t.0 += c.t_click as f64;
            t.1 += c.t_dwell as f64;
            t.2 += 1.0;
        }
        assert!(cb.0 / cb.2 > 1.5 * plain.0 / plain.2);
        assert!(cb.1 / cb.2 < 0.5 * plain.1 / plain.2);
    }
}
