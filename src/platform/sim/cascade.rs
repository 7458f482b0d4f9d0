//! The serving cascade for one user segment: pre-rank cuts the candidates to
//! `prerank.top_k`, rank fuses the model heads and keeps `rank.top_k`, re-rank builds
//! the ten-item slate.
//!
//! Re-rank works on the raw fused score, not a normalised one: boosts, penalties and
//! MMR similarity are in the same units as the fusion, so inflating every rank weight
//! drowns the diversity terms, as it does in production stacks.

use super::catalogue::{Formula, Policy, SimConfig};
use super::world::{Cand, Heads, Light, World};

pub const SLATE: usize = 10;
/// How many recent slate positions the window penalty looks at.
const WINDOW: usize = 3;
/// The additive score of an average candidate under the production weights: the
/// multiplicative formula's relative score is expressed on this scale.
const MULT_SCALE: f32 = 0.15;

/// A slate: positions 0.. hold indices into the segment's candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slate {
    pub len: usize,
    pub items: [u32; SLATE],
}

/// Reusable buffers, so building a slate allocates nothing.
#[derive(Default)]
pub struct Scratch {
    scored: Vec<u64>,
    ranked: Vec<u64>,
    pool: Vec<(f32, u32)>,
    /// Pre-rank survivors outside the re-rank pool, for backfilling under the cap.
    rest: Vec<u64>,
    entries: Vec<Entry>,
}

/// One item of the re-rank pool, with what the slate builder reads in its inner loop.
#[derive(Debug, Clone, Copy)]
struct Entry {
    rel: f32,
    /// Highest similarity to an item already in the slate (MMR), at least 0.
    max_sim: f32,
    index: u32,
    item: u32,
    cat: u8,
    taken: bool,
}

/// Packs a score and a candidate index into one integer that orders by score, then by
/// lower index: cuts are deterministic and comparisons cost one instruction.
#[inline]
fn key(score: f32, idx: u32) -> u64 {
    let b = score.to_bits();
    let ordered = if b & 0x8000_0000 != 0 { !b } else { b | 0x8000_0000 };
    (u64::from(ordered) << 32) | u64::from(u32::MAX - idx)
}

#[inline]
fn index_of(k: u64) -> u32 {
    u32::MAX - (k as u32)
}

#[inline]
fn score_of(k: u64) -> f32 {
    let ordered = (k >> 32) as u32;
    f32::from_bits(if ordered & 0x8000_0000 != 0 { ordered & 0x7FFF_FFFF } else { !ordered })
}

/// Moves the `k` largest keys to the front (in no particular order); returns how many.
fn top_front(v: &mut [u64], k: usize) -> usize {
    if k >= v.len() {
        return v.len();
    }
    if k > 0 {
        v.select_nth_unstable_by(k - 1, |a, b| b.cmp(a));
    }
    k
}

pub fn build_slate(world: &World, segment: usize, cfg: &SimConfig, s: &mut Scratch) -> Slate {
    let cands = world.candidates(segment);
    prerank(world.light(segment), cfg, s);
    rank(world.heads(segment), cfg, s);
    rerank(world, cands, world.heads(segment), cfg, s)
}

fn prerank(light: &[Light], cfg: &SimConfig, s: &mut Scratch) {
    let (wc, wd, wf) = (cfg.pre_w_ctr as f32, cfg.pre_w_dwell as f32, cfg.pre_w_fresh as f32);
    s.scored.clear();
    s.scored.extend(
        light.iter().enumerate().map(|(i, c)| key(c.prior + wc * c.click + wd * c.long + wf * c.fresh, i as u32)),
    );
    let k = top_front(&mut s.scored, cfg.pre_top_k);
    s.scored.truncate(k);
}

fn rank(heads: &[Heads], cfg: &SimConfig, s: &mut Scratch) {
    let (wc, wd, wl, wx) = (cfg.w_click as f32, cfg.w_dwell as f32, cfg.w_like as f32, cfg.w_dismiss as f32);
    s.ranked.clear();
    match cfg.formula {
        Formula::Additive => s.ranked.extend(s.scored.iter().map(|&k| {
            let i = index_of(k);
            let c = &heads[i as usize];
            key(wc * c.click + wd * c.long + wl * c.like - wx * c.dismiss, i)
        })),
        // Ranked in log space; only the survivors are exponentiated below.
        Formula::Multiplicative => s.ranked.extend(s.scored.iter().map(|&k| {
            let i = index_of(k);
            let c = &heads[i as usize];
            key(wc * c.l_click + wd * c.l_long + wl * c.l_like - wx * c.l_dismiss, i)
        })),
    }
    let k = top_front(&mut s.ranked, cfg.rank_top_k);
    s.rest.clear();
    s.rest.extend_from_slice(&s.ranked[k..]);
    let top = &mut s.ranked[..k];
    top.sort_unstable_by(|a, b| b.cmp(a));
    s.pool.clear();
    s.pool.extend(top.iter().map(|&k| (score_of(k), index_of(k))));
    if cfg.formula == Formula::Multiplicative {
        for p in &mut s.pool {
            p.0 = MULT_SCALE * p.0.min(30.0).exp();
        }
    }
}

fn rerank(world: &World, cands: &[Cand], heads: &[Heads], cfg: &SimConfig, s: &mut Scratch) -> Slate {
    let (fb, dd) = (cfg.freshness_boost as f32, cfg.dismiss_demotion as f32);
    s.entries.clear();
    s.entries.extend(s.pool.iter().map(|&(score, i)| {
        let c = &cands[i as usize];
        Entry {
            rel: score + fb * c.fresh - dd * 2.0 * heads[i as usize].dismiss,
            max_sim: 0.0,
            index: i,
            item: c.item,
            cat: c.cat,
            taken: false,
        }
    }));
    let lambda = cfg.mmr_lambda as f32;
    let wp = cfg.window_penalty as f32;
    let mut slate = Slate { len: 0, items: [0; SLATE] };
    let mut per_cat = [0usize; 16];
    let mut cats = [u8::MAX; SLATE];
    while slate.len < SLATE {
        let recent = &cats[slate.len.saturating_sub(WINDOW)..slate.len];
        let mut best: Option<(f32, usize)> = None;
        let mut best_capped: Option<(f32, usize)> = None;
        for (j, e) in s.entries.iter().enumerate() {
            if e.taken {
                continue;
            }
            let repeats = recent.iter().filter(|&&c| c == e.cat).count() as f32;
            let value = match cfg.policy {
                Policy::None => e.rel,
                Policy::Mmr => lambda * e.rel - (1.0 - lambda) * e.max_sim - wp * repeats,
                Policy::Window => e.rel - wp * repeats,
            };
            // Strict comparison keeps the earlier (higher ranked) item on ties.
            let slot = if per_cat[e.cat as usize] < cfg.category_cap { &mut best } else { &mut best_capped };
            if !matches!(slot, Some((v, _)) if value <= *v) {
                *slot = Some((value, j));
            }
        }
        let index = match best {
            Some((_, j)) => {
                s.entries[j].taken = true;
                s.entries[j].index
            }
            // The cap is strict: reach deeper into the ranked list for an item of an
            // eligible category; only when there is none is a category repeated.
            None => match backfill(cands, &mut s.rest, &per_cat, cfg.category_cap) {
                Some(index) => index,
                None => {
                    let Some((_, j)) = best_capped else { break };
                    s.entries[j].taken = true;
                    s.entries[j].index
                }
            },
        };
        let chosen = &cands[index as usize];
        per_cat[chosen.cat as usize] += 1;
        cats[slate.len] = chosen.cat;
        slate.items[slate.len] = index;
        slate.len += 1;
        if cfg.policy == Policy::Mmr {
            for e in s.entries.iter_mut().filter(|e| !e.taken) {
                e.max_sim = e.max_sim.max(world.similarity(chosen.item, e.item));
            }
        }
    }
    slate
}

/// Takes the best-ranked item of `rest` whose category is below the cap.
fn backfill(cands: &[Cand], rest: &mut Vec<u64>, per_cat: &[usize; 16], cap: usize) -> Option<u32> {
    let mut best: Option<usize> = None;
    for (k, &entry) in rest.iter().enumerate() {
        if per_cat[cands[index_of(entry) as usize].cat as usize] < cap && !matches!(best, Some(b) if entry <= rest[b]) {
            best = Some(k);
        }
    }
    best.map(|k| index_of(rest.swap_remove(k)))
}

#[cfg(test)]
mod tests {
    use super::super::calibration::ModelVersion;
    use super::*;

    fn distinct_cats(world: &World, g: usize, slate: &Slate) -> usize {
        let mut seen: Vec<u8> = slate.items[..slate.len].iter().map(|&i| world.candidates(g)[i as usize].cat).collect();
        seen.sort_unstable();
        seen.dedup();
        seen.len()
    }

    #[test]
    fn slate_has_ten_distinct_items_and_respects_the_cap_when_it_can() {
        let w = World::shared(ModelVersion::V1);
        let cfg = SimConfig { category_cap: 2, ..SimConfig::default() };
        let mut s = Scratch::default();
        let mut capped = 0;
        for g in 0..40 {
            let slate = build_slate(&w, g, &cfg, &mut s);
            assert_eq!(slate.len, SLATE);
            let mut items = slate.items.to_vec();
            items.sort_unstable();
            items.dedup();
            assert_eq!(items.len(), SLATE);
            let mut per = [0; 16];
            for &i in &slate.items {
                per[w.candidates(g)[i as usize].cat as usize] += 1;
            }
            // The cap is relaxed only when the pre-rank survivors lack categories.
            capped += usize::from(per.iter().all(|&k| k <= 2));
        }
        assert!(capped >= 30, "cap held in only {capped} of 40 segments");
    }

    #[test]
    fn keys_order_by_score_then_lower_index() {
        let mut v = [key(0.5, 3), key(-1.0, 0), key(0.5, 1), key(2.0, 9), key(-0.25, 4)];
        v.sort_unstable_by(|a, b| b.cmp(a));
        let order: Vec<u32> = v.iter().map(|&k| index_of(k)).collect();
        assert_eq!(order, [9, 1, 3, 4, 0]);
        assert_eq!(score_of(key(-0.25, 4)), -0.25);
        assert_eq!(score_of(key(2.0, 9)), 2.0);
    }

    #[test]
    fn stronger_diversity_shows_more_categories() {
        let w = World::shared(ModelVersion::V1);
        let relevance = SimConfig { mmr_lambda: 1.0, window_penalty: 0.0, category_cap: 10, ..SimConfig::default() };
        let diverse = SimConfig { mmr_lambda: 0.4, window_penalty: 0.5, category_cap: 2, ..SimConfig::default() };
        let mut s = Scratch::default();
        let count = |cfg: &SimConfig, s: &mut Scratch| -> usize {
            (0..64).map(|g| distinct_cats(&w, g, &build_slate(&w, g, cfg, s))).sum()
        };
        assert!(count(&diverse, &mut s) > count(&relevance, &mut s));
    }
}
