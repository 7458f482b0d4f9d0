//! Multiple comparisons: adjusted p-values across the (arm, metric) pairs of a read.
//!
//! Adjusted p-values rather than accept/reject flags, because a report shows them next to
//! the raw ones and any level can then be read off (`adjusted <= alpha`):
//! - Holm (step-down) controls the family-wise error rate under any dependence between
//!   the tests: `adj_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))` over ascending p;
//! - Benjamini–Hochberg (step-up) controls the false discovery rate for independent or
//!   positively dependent tests: `adj_(i) = min_{j >= i} min(1, m p_(j) / j)`.
//!
//! Both are monotone in the raw p-values and capped at 1. A p-value that is NaN or lies
//! outside [0, 1] cannot come from a valid test; it is read as 1 (no evidence) rather
//! than allowed to poison the ordering of the others.

/// Ascending order of `p` (stable, so ties keep their input order).
fn ascending(p: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|a, b| p[*a].total_cmp(&p[*b]));
    order
}

/// The p-values the procedures see: invalid ones become 1.
fn sanitised(p: &[f64]) -> Vec<f64> {
    p.iter().map(|&x| if (0.0..=1.0).contains(&x) { x } else { 1.0 }).collect()
}

/// Holm's step-down adjusted p-values, in the input order.
pub fn holm_adjusted(p: &[f64]) -> Vec<f64> {
    let p = sanitised(p);
    let m = p.len();
    let mut out = vec![1.0; m];
    let mut running = 0.0_f64;
    for (rank, &i) in ascending(&p).iter().enumerate() {
        running = running.max(((m - rank) as f64 * p[i]).min(1.0));
        out[i] = running;
    }
    out
}

/// Benjamini–Hochberg step-up adjusted p-values (q-values), in the input order.
pub fn bh_adjusted(p: &[f64]) -> Vec<f64> {
    let p = sanitised(p);
    let m = p.len();
    let mut out = vec![1.0; m];
    let mut running = 1.0_f64;
    for (rank, &i) in ascending(&p).iter().enumerate().rev() {
        running = running.min(m as f64 * p[i] / (rank + 1) as f64);
        out[i] = running;
    }
    out
}

/// Which hypotheses Holm's procedure rejects at family-wise level `alpha`.
pub fn holm_reject(p: &[f64], alpha: f64) -> Vec<bool> {
    holm_adjusted(p).into_iter().map(|q| q <= alpha).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_all_close(got: &[f64], want: &[f64]) {
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-12, "{got:?} vs {want:?}");
        }
    }

    #[test]
    fn holm_by_hand() {
        // Sorted 0.01, 0.02, 0.04 times 3, 2, 1 = 0.03, 0.04, 0.04 (running max).
        assert_all_close(&holm_adjusted(&[0.01, 0.04, 0.02]), &[0.03, 0.04, 0.04]);
        // Sorted 0.001, 0.01, 0.02, 0.03 times 4, 3, 2, 1 = 0.004, 0.03, 0.04, 0.03; the
        // running max makes the last 0.04.
        assert_all_close(&holm_adjusted(&[0.03, 0.001, 0.02, 0.01]), &[0.04, 0.004, 0.04, 0.03]);
        // Capped at 1 and monotone: 0.4*3 = 1.2 -> 1.
        assert_all_close(&holm_adjusted(&[0.4, 0.5, 0.9]), &[1.0, 1.0, 1.0]);
    }

    #[test]
    fn bh_by_hand() {
        // m = 4, sorted 0.01, 0.02, 0.03, 0.2: m p / rank = 0.04, 0.04, 0.04, 0.2.
        assert_all_close(&bh_adjusted(&[0.2, 0.01, 0.03, 0.02]), &[0.2, 0.04, 0.04, 0.04]);
        // Step-up: 0.04*3/2 = 0.06 is lowered to 0.045 = 0.045*3/3 by the larger p.
        assert_all_close(&bh_adjusted(&[0.01, 0.04, 0.045]), &[0.03, 0.045, 0.045]);
        assert_all_close(&bh_adjusted(&[0.9, 0.95]), &[0.95, 0.95]);
    }

    #[test]
    fn holm_reject_agrees_with_the_step_down_rule() {
        // alpha 0.05, m = 3: thresholds 0.0167, 0.025, 0.05 in p order.
        assert_eq!(holm_reject(&[0.01, 0.04, 0.02], 0.05), vec![true, true, true]);
        assert_eq!(holm_reject(&[0.01, 0.04, 0.03], 0.05), vec![true, false, false]);
        assert_eq!(holm_reject(&[0.02, 0.001], 0.05), vec![true, true]);
        assert_eq!(holm_reject(&[0.06, 0.001], 0.05), vec![false, true]);
    }

    #[test]
    fn adjusted_values_are_monotone_in_the_raw_ones_and_never_smaller() {
        let p = [0.3, 0.001, 0.04, 0.04, 0.2, 0.012, 0.5];
        for adj in [holm_adjusted(&p), bh_adjusted(&p)] {
            for i in 0..p.len() {
                assert!(adj[i] >= p[i] && adj[i] <= 1.0);
                for j in 0..p.len() {
                    if p[i] <= p[j] {
                        assert!(adj[i] <= adj[j], "{adj:?}");
                    }
                }
            }
        }
        // BH is never more conservative than Holm.
        for (b, h) in bh_adjusted(&p).iter().zip(holm_adjusted(&p)) {
            assert!(*b <= h);
        }
    }

    #[test]
    fn degenerate_inputs() {
        assert!(holm_adjusted(&[]).is_empty() && bh_adjusted(&[]).is_empty());
        assert_all_close(&holm_adjusted(&[0.03]), &[0.03]);
        assert_all_close(&bh_adjusted(&[0.03]), &[0.03]);
        assert_all_close(&holm_adjusted(&[f64::NAN, 0.01]), &[1.0, 0.02]);
        assert_all_close(&bh_adjusted(&[-0.5, 0.01]), &[1.0, 0.02]);
    }
}
