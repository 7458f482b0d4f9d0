//! Checking a task against what the platform says it accepts, before anything launches.

use super::{ParamInfo, Platform};
use skillhub::{ParamKind, ParamSpec, TaskSpec};

fn within(p: &ParamSpec, info: &ParamInfo) -> Result<(), String> {
    let bad = |why: String| Err(format!("task.params: `{}` {why}", p.name));
    match (&p.kind, &info.kind) {
        (ParamKind::Float { min, max }, ParamKind::Float { min: lo, max: hi }) if min < lo || max > hi => {
            bad(format!("bounds [{min}, {max}] exceed the platform's [{lo}, {hi}]; narrow them"))
        }
        (ParamKind::Int { min, max }, ParamKind::Int { min: lo, max: hi }) if min < lo || max > hi => {
            bad(format!("bounds [{min}, {max}] exceed the platform's [{lo}, {hi}]; narrow them"))
        }
        (ParamKind::Choice { values }, ParamKind::Choice { values: known }) => {
            match values.iter().find(|v| !known.contains(v)) {
                Some(v) => bad(format!("choice `{v}` is not one the platform accepts ({known:?})")),
                None => Ok(()),
            }
        }
        (a, b) if a.type_name() != b.type_name() => {
            bad(format!("is a {} here but a {} on the platform", a.type_name(), b.type_name()))
        }
        _ => Ok(()),
    }
}

/// Validates the task, its metrics against the platform's catalogue and, when the
/// platform publishes one, its parameters against the parameter catalogue.
pub async fn check_task(task: &TaskSpec, platform: &dyn Platform) -> Result<(), String> {
    let metrics = platform.metrics().await.map_err(|e| format!("cannot read the platform's metric catalogue: {e}"))?;
    let names: Vec<String> = metrics.into_iter().map(|m| m.name).collect();
    task.validate(Some(&names)).map_err(|e| e.to_string())?;
    let Some(catalogue) =
        platform.parameters().await.map_err(|e| format!("cannot read the platform's parameter catalogue: {e}"))?
    else {
        return Ok(());
    };
    for p in &task.params {
        let Some(info) = catalogue.iter().find(|i| i.name == p.name) else {
            let known: Vec<&str> = catalogue.iter().map(|i| i.name.as_str()).collect();
            return Err(format!(
                "task.params: unknown parameter `{}`; the platform accepts: {}",
                p.name,
                known.join(", ")
            ));
        };
        within(p, info)?;
    }
    Ok(())
}
