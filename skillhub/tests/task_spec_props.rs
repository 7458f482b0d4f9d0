//! Property tests of the task parser: any text, read as a task (TOML or JSON) and
//! validated, gives a value or an error and never a panic, and so does everything the
//! agents then do with a task that validated (its space, units, baseline, invariants);
//! valid tasks survive a round trip through both formats unchanged.

use proptest::prelude::*;
use skillhub::{Budget, Configuration, Guardrail, Invariant, Limit, Objective, ParamKind, ParamSpec, TaskSpec, Value};
use std::collections::BTreeMap;

fn finite() -> impl Strategy<Value = f64> {
    prop_oneof![-1e6..1e6f64, Just(0.0), -1e300..1e300f64]
}

fn param(name: String) -> impl Strategy<Value = ParamSpec> {
    let float = (finite(), finite(), 0.0..=1.0f64).prop_filter_map("min < max", |(a, b, u)| {
        let (min, max) = if a < b { (a, b) } else { (b, a) };
        let baseline = min + u * (max - min);
        (min < max && baseline.is_finite() && baseline >= min && baseline <= max)
            .then_some((ParamKind::Float { min, max }, Value::Num(baseline)))
    });
    // A baseline exactly representable as an f64, bounds around it from tight to extreme.
    let reach = || prop_oneof![0..10u64, 0..1_000_000u64, any::<u64>()];
    let int = (-(1i64 << 52)..(1i64 << 52), reach(), reach()).prop_map(|(base, below, above)| {
        let min = base.saturating_sub_unsigned(below);
        let max = base.saturating_add_unsigned(above.max(1));
        (ParamKind::Int { min, max }, Value::Num(base as f64))
    });
    let choice = (prop::collection::btree_set("[a-z]{1,8}", 1..5), any::<prop::sample::Index>()).prop_map(|(v, i)| {
        let values: Vec<String> = v.into_iter().collect();
        let baseline = Value::Str(values[i.index(values.len())].clone());
        (ParamKind::Choice { values }, baseline)
    });
    let boolean = any::<bool>().prop_map(|b| (ParamKind::Bool, Value::Bool(b)));
    (prop_oneof![float, int, choice, boolean], ".{0,40}").prop_map(move |((kind, baseline), description)| ParamSpec {
        name: name.clone(),
        kind,
        baseline,
        description,
    })
}

fn objective() -> impl Strategy<Value = Objective> {
    ("[a-z_]{1,10}", any::<bool>(), 0.01..10.0f64).prop_map(|(metric, max, weight)| Objective {
        metric,
        direction: if max { skillhub::Direction::Maximize } else { skillhub::Direction::Minimize },
        weight,
    })
}

fn guardrail() -> impl Strategy<Value = Guardrail> {
    ("[a-z_]{1,10}", 0..4u8, 0.0..1e6f64).prop_map(|(metric, kind, v)| {
        let limit = [Limit::AtMost(v), Limit::AtLeast(v), Limit::MaxDropPct(v), Limit::MaxRisePct(v)][kind as usize];
        Guardrail { metric, limit }
    })
}

prop_compose! {
    fn valid_task()(
        id in "[a-z][a-z0-9-]{0,15}",
        context in ".{0,60}",
        names in prop::collection::btree_set("[a-z]{1,6}\\.[a-z_]{1,8}", 1..6),
        objectives in prop::collection::vec(objective(), 1..4),
        guardrails in prop::collection::vec(guardrail(), 0..3),
        budget in (1..50u32, 1..10u32, 100..10_000_000u64),
        with_invariant in any::<bool>(),
    )(
        params in names.into_iter().map(param).collect::<Vec<_>>(),
        id in Just(id), context in Just(context), objectives in Just(objectives),
        guardrails in Just(guardrails), budget in Just(budget), with_invariant in Just(with_invariant),
    ) -> TaskSpec {
        let mut task = TaskSpec {
            id,
            context,
            params,
            objectives,
            guardrails,
            invariants: vec![],
            budget: Budget { rounds: budget.0, arms_per_round: budget.1, units_per_arm: budget.2 },
        };
        // An invariant the baseline satisfies, over the numeric parameters.
        let numeric: BTreeMap<String, f64> = task
            .params
            .iter()
            .filter(|p| matches!(p.kind, ParamKind::Float { .. } | ParamKind::Int { .. }))
            .map(|p| (p.name.clone(), 1.0))
            .collect();
        if with_invariant && !numeric.is_empty() {
            let inv = Invariant { description: "sum".into(), terms: numeric, min: None, max: None };
            if let Some(v) = inv.value(&task.baseline()).filter(|v| v.is_finite()) {
                task.invariants.push(Invariant { min: Some(v - 1.0), ..inv });
            }
        }
        task
    }
}

/// What the agents do with a task that validated: none of it may panic.
fn exercise(task: &TaskSpec, u: &[f64]) {
    let space = task.space();
    let baseline = task.baseline();
    let _ = space.check(&baseline);
    let unit = space.to_unit(&baseline);
    assert_eq!(unit.len(), space.dim());
    assert!(unit.iter().all(|x| (0.0..=1.0).contains(x)), "unit coordinates in [0, 1]: {unit:?}");
    let u: Vec<f64> = (0..space.dim()).map(|i| u.get(i).copied().unwrap_or(0.5)).collect();
    let cfg = space.from_unit(&u);
    let _ = space.check(&cfg);
    let _ = space.distance(&baseline, &cfg);
    let _ = task.violations(&cfg);
    let lifts: BTreeMap<String, f64> = task.metrics().into_iter().map(|m| (m, 1.0)).collect();
    let _ = task.score(&lifts);
    let _ = task.feasible(&lifts, &lifts);
}

fn metrics_of(task: &TaskSpec) -> Vec<String> {
    task.metrics()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn valid_tasks_validate_and_round_trip_through_json_and_toml(task in valid_task(), u in prop::collection::vec(-1.0..2.0f64, 0..8)) {
        prop_assert_eq!(task.validate(None), Ok(()));
        prop_assert_eq!(task.validate(Some(&metrics_of(&task))), Ok(()));
        let json = serde_json::to_string(&task).expect("serialise JSON");
        prop_assert_eq!(&serde_json::from_str::<TaskSpec>(&json).expect("parse JSON"), &task);
        let toml_text = toml::to_string(&task).expect("serialise TOML");
        prop_assert_eq!(&toml::from_str::<TaskSpec>(&toml_text).expect("parse TOML"), &task);
        exercise(&task, &u);
        let baseline: Configuration = task.baseline();
        prop_assert_eq!(task.space().check(&baseline), Ok(()));
    }

    #[test]
    fn any_text_parses_to_a_task_or_an_error(text in ".{0,400}", u in prop::collection::vec(-1.0..2.0f64, 0..8)) {
        for task in [toml::from_str::<TaskSpec>(&text).ok(), serde_json::from_str::<TaskSpec>(&text).ok()].into_iter().flatten() {
            if task.validate(None).is_ok() {
                exercise(&task, &u);
            }
        }
    }

    #[test]
    fn mangled_task_files_parse_to_a_task_or_an_error(
        task in valid_task(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..6),
        u in prop::collection::vec(-1.0..2.0f64, 0..8),
    ) {
        for text in [toml::to_string(&task).expect("TOML"), serde_json::to_string(&task).expect("JSON")] {
            let mut bytes = text.into_bytes();
            for (at, byte, op) in &edits {
                if bytes.is_empty() { break; }
                let i = at.index(bytes.len());
                match op { 0 => bytes[i] = *byte, 1 => { bytes.remove(i); } _ => bytes.insert(i, *byte) }
            }
            let text = String::from_utf8_lossy(&bytes);
            for parsed in [toml::from_str::<TaskSpec>(&text).ok(), serde_json::from_str::<TaskSpec>(&text).ok()].into_iter().flatten() {
                if parsed.validate(Some(&metrics_of(&task))).is_ok() {
                    exercise(&parsed, &u);
                }
            }
        }
    }
}

#[test]
fn extreme_integer_bounds_do_not_overflow_the_unit_mapping() {
    let text = r#"
        id = "t"
        [[params]]
        name = "p"
        type = "int"
        min = -9223372036854775808
        max = 9223372036854775807
        baseline = 0
        [[objectives]]
        metric = "m"
        direction = "maximize"
        [budget]
        rounds = 1
        arms_per_round = 1
        units_per_arm = 100
    "#;
    let task: TaskSpec = toml::from_str(text).expect("parses");
    assert_eq!(task.validate(None), Ok(()));
    exercise(&task, &[0.25]);
}
