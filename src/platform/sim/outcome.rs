//! From a slate to expected engagement per session, and from a configuration to the
//! per-segment outcome model of one arm.
//!
//! Users scan the slate top-down (position bias, and they leave early after dismissals
//! and redundancy); items similar to ones already shown engage less (fatigue).
//! Return visits follow a satisfaction index built from quality dwell, likes,
//! freshness and variety, and lowered by clickbait clicks, dismissals, redundancy and
//! serving latency.

use super::cascade::{build_slate, Scratch, Slate, SLATE};
use super::catalogue::{Policy, SimConfig};
use super::world::{World, CATEGORIES};

/// Return sessions in the period of a user of activity 1 seeing a reference slate.
const BASE_RETURNS: f64 = 11.0;
/// Satisfaction of the production slate, roughly: keeps `BASE_RETURNS` interpretable.
const SAT_REF: f64 = 0.64;
/// Relative loss of return sessions per millisecond of latency above the reference.
const LATENCY_COST: f64 = 0.0008;
const LATENCY_REF_MS: f64 = 70.0;
/// Strength of fatigue: engagement with an item falls by exp(-FATIGUE * redundancy).
const FATIGUE: f64 = 0.25;

/// Expected engagement of one segment's slate, per session, and the return rate.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SegmentOutcome {
    /// Expected return sessions in the period for a user of activity 1.
    pub returns: f64,
    pub impressions: f64,
    pub clicks: f64,
    pub dwell_s: f64,
    /// Probability of seeing each slate category in one session, `n_cats` of them.
    pub cat_seen: [f32; SLATE],
    pub n_cats: usize,
    /// Also per session, for diagnostics: clicks on clickbait, dismissals, likes.
    pub clickbait_clicks: f64,
    pub dismissals: f64,
    pub likes: f64,
}

/// The outcome model of one configuration: every segment's outcome and the serving
/// latency.
#[derive(Debug, Clone, PartialEq)]
pub struct ArmModel {
    pub segments: Vec<SegmentOutcome>,
    pub latency_ms: f64,
}

/// Mean serving latency: the ranking model scores `prerank.top_k` items, the re-ranker
/// works through `rank.top_k` (MMR compares every pair it considers).
pub fn latency_ms(cfg: &SimConfig) -> f64 {
    let mmr = if cfg.policy == Policy::Mmr { 0.06 * cfg.rank_top_k as f64 } else { 0.0 };
    30.0 + 0.1 * cfg.pre_top_k as f64 + 0.45 * cfg.rank_top_k as f64 + mmr
}

impl ArmModel {
    /// Runs the cascade for every segment. Segments are independent, so they are split
    /// across threads; the result does not depend on the split.
    pub fn build(world: &World, cfg: &SimConfig) -> ArmModel {
        let latency = latency_ms(cfg);
        let n = world.segments();
        let threads = std::thread::available_parallelism().map_or(1, |p| p.get()).clamp(1, 4);
        let mut segments = vec![SegmentOutcome::default(); n];
        let chunk = n.div_ceil(threads);
        std::thread::scope(|scope| {
            for (t, out) in segments.chunks_mut(chunk).enumerate() {
                scope.spawn(move || {
                    let mut scratch = Scratch::default();
                    for (k, o) in out.iter_mut().enumerate() {
                        let g = t * chunk + k;
                        let slate = build_slate(world, g, cfg, &mut scratch);
                        *o = evaluate_slate(world, g, &slate, latency);
                    }
                });
            }
        });
        ArmModel { segments, latency_ms: latency }
    }
}

pub fn evaluate_slate(world: &World, segment: usize, slate: &Slate, latency: f64) -> SegmentOutcome {
    let cands = world.candidates(segment);
    let mut out = SegmentOutcome::default();
    // Scrolling is nested (reaching position k means having seen 1..k), so a category
    // is seen exactly when its first position is reached.
    let mut seen = [0.0f64; CATEGORIES];
    let mut view = 1.0;
    let (mut fresh, mut exposure, mut redundancy) = (0.0, 0.0, 0.0);
    for k in 0..slate.len {
        let c = &cands[slate.items[k] as usize];
        let mut red = 0.0;
        for j in 0..k {
            let o = &cands[slate.items[j] as usize];
            // Same category counts most; taste similarity adds only when close.
            let same = if o.cat == c.cat { 0.6 } else { 0.0 };
            red += same + 0.4 * ((world.similarity(o.item, c.item) as f64 - 0.3) / 0.7).max(0.0);
        }
        let fatigue = (-FATIGUE * red).exp();
        let examine = view / (1.0 + 0.18 * k as f64);
        let click = examine * c.t_click as f64 * fatigue;
        let dismiss = view * c.t_dismiss as f64 * (1.0 + 0.5 * red);
        out.impressions += view;
        out.clicks += click;
        out.dwell_s += click * c.t_dwell as f64;
        out.likes += click * c.t_like as f64;
        out.dismissals += dismiss;
        if c.clickbait {
            out.clickbait_clicks += click;
        }
        fresh += examine * c.fresh as f64;
        exposure += examine;
        redundancy += view * red;
        seen[c.cat as usize] = seen[c.cat as usize].max(view);
        view *= (0.95 - 1.5 * c.t_dismiss as f64 * (1.0 + 0.5 * red) - 0.015 * red).clamp(0.5, 0.99);
    }
    let mut variety = 0.0;
    for p in seen {
        if p > 0.0 && out.n_cats < SLATE {
            out.cat_seen[out.n_cats] = p as f32;
            out.n_cats += 1;
            variety += p;
        }
    }
    let fresh_share = fresh / exposure.max(1e-9);
    let mean_redundancy = redundancy / out.impressions.max(1e-9);
    let satisfaction =
        0.3 * (1.0 + out.dwell_s / 60.0).ln() + 0.3 * out.likes - 0.3 * out.clickbait_clicks - 0.3 * out.dismissals
            + 0.2 * fresh_share
            + 0.15 * variety.max(1.0).ln()
            - 0.02 * mean_redundancy;
    out.returns = BASE_RETURNS * (satisfaction - SAT_REF).exp() * (-LATENCY_COST * (latency - LATENCY_REF_MS)).exp();
    out
}
