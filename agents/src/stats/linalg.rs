//! Cholesky factorisation for the small symmetric positive-definite systems of the
//! regressions here (a few dozen unknowns at most), so no linear-algebra dependency is
//! needed.

/// Lower-triangular L with `L L' = a`, or `None` when `a` is not numerically positive
/// definite (a pivot below `1e-12` of the largest diagonal entry, or not finite).
pub fn cholesky(a: &[Vec<f64>]) -> Option<Vec<Vec<f64>>> {
    let n = a.len();
    let scale = a.iter().enumerate().map(|(i, r)| r.get(i).copied().unwrap_or(0.0).abs()).fold(0.0, f64::max);
    let tiny = 1e-12 * scale.max(f64::MIN_POSITIVE);
    let mut l = vec![vec![0.0; n]; n];
    for i in 0..n {
        if a[i].len() != n {
            return None;
        }
        for j in 0..=i {
            let dot: f64 = (0..j).map(|k| l[i][k] * l[j][k]).sum();
            let v = a[i][j] - dot;
            if i == j {
                if v <= tiny || !v.is_finite() {
                    return None;
                }
                l[i][i] = v.sqrt();
            } else {
                l[i][j] = v / l[j][j];
            }
        }
    }
    Some(l)
}

/// Solves `L L' x = b` by forward then backward substitution.
pub fn cholesky_solve(l: &[Vec<f64>], b: &[f64]) -> Vec<f64> {
    let n = l.len();
    let mut y = vec![0.0; n];
    for i in 0..n {
        let dot: f64 = (0..i).map(|k| l[i][k] * y[k]).sum();
        y[i] = (b[i] - dot) / l[i][i];
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        let dot: f64 = (i + 1..n).map(|k| l[k][i] * x[k]).sum();
        x[i] = (y[i] - dot) / l[i][i];
    }
    x
}

/// The inverse of `L L'`, one column at a time.
pub fn cholesky_inverse(l: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let n = l.len();
    let cols: Vec<Vec<f64>> = (0..n)
        .map(|j| {
            let e: Vec<f64> = (0..n).map(|i| f64::from(u8::from(i == j))).collect();
            cholesky_solve(l, &e)
        })
        .collect();
    (0..n).map(|i| (0..n).map(|j| cols[j][i]).collect()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solves_a_known_system() {
        let a = vec![vec![4.0, 2.0, 0.4], vec![2.0, 5.0, 1.0], vec![0.4, 1.0, 3.0]];
        let l = cholesky(&a).unwrap();
        let x = cholesky_solve(&l, &[1.0, 2.0, 3.0]);
        for (row, want) in a.iter().zip([1.0, 2.0, 3.0]) {
            let got: f64 = row.iter().zip(&x).map(|(r, v)| r * v).sum();
            assert!((got - want).abs() < 1e-12);
        }
        let inv = cholesky_inverse(&l);
        let id: f64 = (0..3).map(|k| a[0][k] * inv[k][0]).sum();
        assert!((id - 1.0).abs() < 1e-12);
    }

    #[test]
    fn singular_and_malformed_matrices_are_refused() {
        assert!(cholesky(&[vec![1.0, 1.0], vec![1.0, 1.0]]).is_none());
        assert!(cholesky(&[vec![1.0, f64::NAN], vec![f64::NAN, 1.0]]).is_none());
        assert!(cholesky(&[vec![1.0], vec![0.0, 1.0]]).is_none());
        assert!(cholesky(&[]).is_some());
    }
}
