//! A deterministic derivative-free maximiser for the oracle: a space-filling design
//! (Halton points, one design per combination of choice values) followed by compass
//! pattern search from the best few distinct points. Guardrails enter as an exact
//! penalty, so the local search can walk along a binding constraint; the answer is
//! always the best point that satisfies them.

use skillhub::{Configuration, ParamKind, Space};
use std::collections::HashMap;

/// The value of one configuration: its task score and how far it breaks the guardrails
/// (0 when feasible).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Eval {
    pub score: f64,
    pub violation: f64,
}

impl Eval {
    fn penalised(&self) -> f64 {
        self.score - PENALTY * self.violation
    }
    pub fn feasible(&self) -> bool {
        self.violation <= 0.0
    }
}

/// Score points lost per percent of guardrail breach.
const PENALTY: f64 = 20.0;
const MAX_CHOICE_COMBINATIONS: usize = 12;
const STARTS: usize = 5;
const FIRST_STEP: f64 = 0.2;
const LAST_STEP: f64 = 1.0 / 256.0;
const MIN_START_DISTANCE: f64 = 0.15;

#[derive(Debug, Clone)]
pub struct Found {
    pub config: Configuration,
    pub eval: Eval,
    pub evaluations: usize,
}

struct Memo<'a, F> {
    space: &'a Space,
    f: F,
    seen: HashMap<String, Eval>,
    best: Option<(Configuration, Eval)>,
}

impl<F: Fn(&Configuration) -> Eval> Memo<'_, F> {
    fn eval(&mut self, cfg: &Configuration) -> Eval {
        let key = serde_json::to_string(cfg).unwrap_or_default();
        if let Some(e) = self.seen.get(&key) {
            return *e;
        }
        let e = (self.f)(cfg);
        self.seen.insert(key, e);
        let better = match &self.best {
            None => true,
            Some((_, b)) => match (e.feasible(), b.feasible()) {
                (true, false) => true,
                (false, true) => false,
                (true, true) => e.score > b.score,
                (false, false) => e.penalised() > b.penalised(),
            },
        };
        if better {
            self.best = Some((cfg.clone(), e));
        }
        e
    }

    fn at(&mut self, u: &[f64]) -> Eval {
        let cfg = self.space.from_unit(u);
        self.eval(&cfg)
    }
}

/// Maximises `f` over `space`; `baseline` is always among the evaluated points.
pub fn maximise(space: &Space, baseline: &Configuration, f: impl Fn(&Configuration) -> Eval) -> Option<Found> {
    maximise_from(space, baseline, &[], f)
}

/// Like [`maximise`], with the pattern search also started from every one of `hints`
/// (e.g. the optimum of a looser constraint: walking from there along a constraint
/// that tightens finds what a space-filling design can miss when the feasible region
/// shrinks to a thin sliver).
pub fn maximise_from(
    space: &Space,
    baseline: &Configuration,
    hints: &[Configuration],
    f: impl Fn(&Configuration) -> Eval,
) -> Option<Found> {
    if space.dim() == 0 {
        return None;
    }
    let mut memo = Memo { space, f, seen: HashMap::new(), best: None };
    let base_u = space.to_unit(baseline);
    let base_eval = memo.at(&base_u);
    let categorical: Vec<usize> = (0..space.dim()).filter(|&i| space.params[i].is_categorical()).collect();
    let continuous: Vec<usize> = (0..space.dim()).filter(|i| !categorical.contains(i)).collect();
    let levels: Vec<usize> = categorical.iter().map(|&i| choice_count(&space.params[i].kind)).collect();
    let combos: usize = levels.iter().product();
    // Too many combinations: treat choices as ordered coordinates instead.
    let (categorical, continuous, combos) = if combos > MAX_CHOICE_COMBINATIONS {
        (vec![], (0..space.dim()).collect::<Vec<_>>(), 1)
    } else {
        (categorical, continuous, combos)
    };

    let mut pool: Vec<(Vec<f64>, Eval)> = vec![(base_u.clone(), base_eval)];
    let design = (12 * continuous.len()).max(24);
    for combo in 0..combos {
        let mut u = base_u.clone();
        let mut c = combo;
        for (k, &i) in categorical.iter().enumerate() {
            let n = levels[k];
            u[i] = if n <= 1 { 0.0 } else { (c % n) as f64 / (n - 1) as f64 };
            c /= n;
        }
        pool.push((u.clone(), memo.at(&u)));
        for j in 1..=design {
            for (k, &i) in continuous.iter().enumerate() {
                u[i] = halton(j, PRIMES[k % PRIMES.len()]);
            }
            pool.push((u.clone(), memo.at(&u)));
        }
    }

    pool.sort_by(|a, b| b.1.penalised().total_cmp(&a.1.penalised()));
    let mut starts: Vec<Vec<f64>> = Vec::new();
    for (u, _) in &pool {
        if starts.len() == STARTS {
            break;
        }
        if starts.iter().all(|s| distance(s, u) >= MIN_START_DISTANCE) {
            starts.push(u.clone());
        }
    }
    starts.extend(hints.iter().map(|h| space.to_unit(h)));
    for start in starts {
        compass(&mut memo, &continuous, start);
    }
    let evaluations = memo.seen.len();
    memo.best.map(|(config, eval)| Found { config, eval, evaluations })
}

fn compass<F: Fn(&Configuration) -> Eval>(memo: &mut Memo<'_, F>, coords: &[usize], mut x: Vec<f64>) {
    let mut fx = memo.at(&x).penalised();
    let mut step = FIRST_STEP;
    while step >= LAST_STEP {
        let mut best: Option<(Vec<f64>, f64)> = None;
        for &i in coords {
            for dir in [1.0, -1.0] {
                let mut y = x.clone();
                y[i] = (y[i] + dir * step).clamp(0.0, 1.0);
                if y[i] == x[i] {
                    continue;
                }
                let fy = memo.at(&y).penalised();
                if fy > fx + 1e-9 && !matches!(&best, Some((_, fb)) if fy <= *fb) {
                    best = Some((y, fy));
                }
            }
        }
        match best {
            Some((y, fy)) => {
                x = y;
                fx = fy;
            }
            None => step /= 2.0,
        }
    }
}

fn choice_count(kind: &ParamKind) -> usize {
    match kind {
        ParamKind::Choice { values } => values.len().max(1),
        ParamKind::Bool => 2,
        _ => 1,
    }
}

const PRIMES: [u32; 8] = [2, 3, 5, 7, 11, 13, 17, 19];

fn halton(mut i: usize, base: u32) -> f64 {
    let (mut f, mut r) = (1.0, 0.0);
    let b = base as usize;
    while i > 0 {
        f /= base as f64;
        r += f * (i % b) as f64;
        i /= b;
    }
    r
}

fn distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>().sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use skillhub::{ParamSpec, Value};

    fn float(name: &str) -> ParamSpec {
        ParamSpec {
            name: name.into(),
            kind: ParamKind::Float { min: 0.0, max: 1.0 },
            baseline: Value::Num(0.5),
            description: String::new(),
        }
    }

    #[test]
    fn finds_a_constrained_interior_optimum() {
        let space = Space::new(vec![float("x"), float("y")]);
        // Unconstrained peak at (0.8, 0.3); the constraint x + y <= 0.9 binds.
        let f = |c: &Configuration| {
            let (x, y) = (c["x"].as_f64().unwrap_or(0.0), c["y"].as_f64().unwrap_or(0.0));
            Eval { score: -(x - 0.8).powi(2) - (y - 0.3).powi(2), violation: (x + y - 0.9).max(0.0) }
        };
        let found = maximise(&space, &space.baseline(), f).expect("a point");
        let (x, y) = (found.config["x"].as_f64().unwrap_or(0.0), found.config["y"].as_f64().unwrap_or(0.0));
        assert!(found.eval.feasible());
        assert!((x - 0.7).abs() < 0.02 && (y - 0.2).abs() < 0.02, "{x} {y}");
    }

    #[test]
    fn enumerates_choice_values() {
        let space = Space::new(vec![
            float("x"),
            ParamSpec {
                name: "mode".into(),
                kind: ParamKind::Choice { values: vec!["a".into(), "b".into(), "c".into()] },
                baseline: Value::Str("a".into()),
                description: String::new(),
            },
        ]);
        let f = |c: &Configuration| {
            let bonus = if c["mode"].as_str() == Some("c") { 1.0 } else { 0.0 };
            Eval { score: bonus - (c["x"].as_f64().unwrap_or(0.0) - 0.25).powi(2), violation: 0.0 }
        };
        let found = maximise(&space, &space.baseline(), f).expect("a point");
        assert_eq!(found.config["mode"].as_str(), Some("c"));
    }
}
