//! Insight's elite pool: the Pareto front of what has been measured, cut down to a few
//! diverse members.
//!
//! Diversity is measured as the sum of two distances, each scaled to be O(1):
//! - in objective space, standardised per objective over the front (z-scores), as the
//!   AgenticRecTune paper's Insight does, so that elites show different trade-offs;
//! - in parameter space, `Space::distance` (unit cube, normalised to [0, 1]), so that two
//!   configurations with similar results but in different regions both survive: the
//!   Actor warm-starts from elites, and distinct regions are what it needs.

use crate::protocol::Observation;
use skillhub::{Configuration, Space, TaskSpec};

/// One measured configuration. `objectives` are oriented so that larger is better and
/// are in the same order for every point.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    pub id: String,
    pub config: Configuration,
    pub objectives: Vec<f64>,
    pub score: f64,
}

impl Measured {
    /// A point from Insight's observation: each objective's lift against the baseline
    /// times its direction's sign (a missing lift counts as unchanged, as in
    /// `TaskSpec::score`), and the measured scalar score.
    pub fn from_observation(task: &TaskSpec, obs: &Observation) -> Measured {
        let objectives = task
            .objectives
            .iter()
            .map(|o| o.direction.sign() * obs.lifts_pct.get(&o.metric).map_or(0.0, |l| l.0))
            .collect();
        Measured { id: obs.candidate_id.clone(), config: obs.config.clone(), objectives, score: obs.score.estimate }
    }

    fn is_finite(&self) -> bool {
        self.score.is_finite() && self.objectives.iter().all(|v| v.is_finite())
    }
}

/// `a` is at least as good as `b` everywhere and better somewhere. Vectors of
/// different lengths are incomparable.
pub fn dominates(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x >= y) && a.iter().zip(b).any(|(x, y)| x > y)
}

/// The non-dominated points, best scalar score first. Points with equal objective
/// vectors are kept once (the one with the best score, then the first given); points
/// with non-finite values cannot be compared and are dropped.
pub fn pareto_front(points: &[Measured]) -> Vec<Measured> {
    let mut order: Vec<&Measured> = points.iter().filter(|p| p.is_finite()).collect();
    order.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut front: Vec<Measured> = Vec::new();
    for p in &order {
        let dominated = order.iter().any(|q| dominates(&q.objectives, &p.objectives));
        let repeat = front.iter().any(|f| f.objectives == p.objectives);
        if !dominated && !repeat {
            front.push((*p).clone());
        }
    }
    front
}

/// Per-objective mean and standard deviation over the points (sd 0 when constant).
fn standardiser(points: &[Measured]) -> Vec<(f64, f64)> {
    let m = points.first().map_or(0, |p| p.objectives.len());
    let n = points.len().max(1) as f64;
    (0..m)
        .map(|j| {
            let vals = points.iter().filter_map(|p| p.objectives.get(j));
            let mean = vals.clone().sum::<f64>() / n;
            let var = vals.map(|v| (v - mean).powi(2)).sum::<f64>() / n;
            (mean, var.sqrt())
        })
        .collect()
}

fn objective_distance(a: &Measured, b: &Measured, scale: &[(f64, f64)]) -> f64 {
    let d2: f64 = a
        .objectives
        .iter()
        .zip(&b.objectives)
        .zip(scale)
        .filter(|(_, (_, sd))| *sd > 0.0)
        .map(|((x, y), (_, sd))| ((x - y) / sd).powi(2))
        .sum();
    (d2 / scale.len().max(1) as f64).sqrt()
}

/// At most `k` points of `front`: the best scalar score first, then repeatedly the point
/// whose distance to its nearest chosen point is largest (farthest-point, max-min
/// diversity); ties go to the better score. Returned in the order chosen.
pub fn select_diverse(front: &[Measured], k: usize, space: &Space) -> Vec<Measured> {
    if k == 0 {
        return Vec::new();
    }
    let Some(first) = (0..front.len()).max_by(|&a, &b| front[a].score.total_cmp(&front[b].score).then(b.cmp(&a)))
    else {
        return Vec::new();
    };
    let scale = standardiser(front);
    let dist = |a: &Measured, b: &Measured| objective_distance(a, b, &scale) + space.distance(&a.config, &b.config);
    let mut chosen = vec![first];
    let mut nearest: Vec<f64> = front.iter().map(|p| dist(p, &front[first])).collect();
    while chosen.len() < k.min(front.len()) {
        let next = (0..front.len()).filter(|i| !chosen.contains(i)).max_by(|&a, &b| {
            nearest[a].total_cmp(&nearest[b]).then(front[a].score.total_cmp(&front[b].score)).then(b.cmp(&a))
        });
        let Some(next) = next else { break };
        chosen.push(next);
        for (i, p) in front.iter().enumerate() {
            nearest[i] = nearest[i].min(dist(p, &front[next]));
        }
    }
    chosen.into_iter().map(|i| front[i].clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use skillhub::{ParamKind, ParamSpec, Value};

    fn space() -> Space {
        Space::new(vec![ParamSpec {
            name: "rerank.lambda".into(),
            kind: ParamKind::Float { min: 0.0, max: 1.0 },
            baseline: Value::Num(0.5),
            description: String::new(),
        }])
    }

    fn point(id: &str, x: f64, objectives: &[f64], score: f64) -> Measured {
        Measured {
            id: id.into(),
            config: Configuration::from([("rerank.lambda".to_string(), Value::Num(x))]),
            objectives: objectives.to_vec(),
            score,
        }
    }

    fn ids(points: &[Measured]) -> Vec<&str> {
        points.iter().map(|p| p.id.as_str()).collect()
    }

    #[test]
    fn dominated_points_are_dropped() {
        let pts =
            [point("a", 0.1, &[1.0, 1.0], 2.0), point("b", 0.2, &[0.5, 1.0], 1.5), point("c", 0.3, &[0.5, 0.5], 1.0)];
        assert_eq!(ids(&pareto_front(&pts)), vec!["a"]);
    }

    #[test]
    fn front_of_a_known_set() {
        let pts = [
            point("a", 0.0, &[3.0, 0.0], 3.0),
            point("b", 0.1, &[2.0, 2.0], 4.0),
            point("c", 0.2, &[0.0, 3.0], 3.0),
            point("d", 0.3, &[1.0, 1.0], 2.0),
            point("e", 0.4, &[2.0, 2.0], 3.5),
            point("f", 0.5, &[f64::NAN, 9.0], 9.0),
            point("g", 0.6, &[2.0, 1.0], 3.0),
        ];
        // d and g are dominated by b; e repeats b with a worse score; f cannot be compared.
        assert_eq!(ids(&pareto_front(&pts)), vec!["b", "a", "c"]);
    }

    #[test]
    fn diversity_selection_picks_the_extremes() {
        let front = [
            point("left", 0.0, &[0.0, 1.0], 1.0),
            point("l", 0.25, &[0.25, 0.75], 1.1),
            point("mid", 0.5, &[0.5, 0.5], 1.5),
            point("r", 0.75, &[0.75, 0.25], 1.1),
            point("right", 1.0, &[1.0, 0.0], 1.01),
        ];
        let s = space();
        assert_eq!(ids(&select_diverse(&front, 3, &s)), vec!["mid", "right", "left"]);
        assert_eq!(ids(&select_diverse(&front, 1, &s)), vec!["mid"]);
        assert!(select_diverse(&front, 0, &s).is_empty());
        assert_eq!(select_diverse(&front, 10, &s).len(), 5);
        assert!(select_diverse(&[], 3, &s).is_empty());
    }

    #[test]
    fn objectives_oriented_by_direction() {
        use crate::protocol::Interval;
        use skillhub::{Direction, Objective};
        let task = TaskSpec {
            params: space().params,
            objectives: vec![
                Objective { metric: "dwell_s".into(), direction: Direction::Maximize, weight: 1.0 },
                Objective { metric: "latency_ms".into(), direction: Direction::Minimize, weight: 1.0 },
            ],
            ..crate::fixtures::task(&[], vec![])
        };
        let obs = Observation {
            candidate_id: "r1-c1".into(),
            round: 1,
            config: space().baseline(),
            score: Interval { estimate: 0.5, low: 0.0, high: 1.0 },
            score_se: 0.25,
            lifts_pct: [("dwell_s".to_string(), (1.0, 0.2)), ("latency_ms".to_string(), (0.5, 0.1))].into(),
            safe: true,
            experiments: vec!["exp-1".into()],
            units: 0,
        };
        let m = Measured::from_observation(&task, &obs);
        assert_eq!(m.objectives, vec![1.0, -0.5]);
        assert_eq!(m.score, 0.5);
    }
}
