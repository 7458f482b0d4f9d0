//! What the agents tell a model, as short plain text: the task, the parameter space, the
//! skill's six slots, the elites, the sensitivities, recent results and the constraints.
//! Kept terse on purpose: small local models have small context windows.

use crate::protocol::Insight;
use skillhub::{Configuration, ParamKind, Skill, Space, TaskSpec};

/// Recent measured configurations shown to a model.
const RECENT_RESULTS: usize = 6;

pub fn task(t: &TaskSpec) -> String {
    let objectives: Vec<String> =
        t.objectives.iter().map(|o| format!("{:?} {} (weight {})", o.direction, o.metric, o.weight)).collect();
    format!("{}: {}\nObjectives: {}", t.id, t.context, objectives.join(", "))
}

pub fn space(s: &Space) -> String {
    let line = |p: &skillhub::ParamSpec| {
        let domain = match &p.kind {
            ParamKind::Float { min, max } => format!("number in [{min}, {max}]"),
            ParamKind::Int { min, max } => format!("integer in [{min}, {max}]"),
            ParamKind::Choice { values } => format!("one of {}", values.join(" | ")),
            ParamKind::Bool => "true or false".into(),
        };
        format!("- {}: {domain}; production {}. {}", p.name, p.baseline, p.description)
    };
    s.params.iter().map(line).collect::<Vec<_>>().join("\n")
}

pub fn config(c: &Configuration) -> String {
    c.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
}

/// The six slots: context, requirement, north star, initial configuration, rules, tools.
pub fn skill(s: Option<&Skill>) -> String {
    let Some(s) = s else { return "(no skill yet)".into() };
    let rules: Vec<String> = s
        .active_rules()
        .map(|r| {
            format!("  - [{}] {} (evidence: {}; confidence {:.2})", r.id, r.text, r.evidence.join(", "), r.confidence)
        })
        .collect();
    let guardrails: Vec<String> = s.north_star.guardrails.iter().map(|g| g.describe()).collect();
    format!(
        "context: {} / {}: {}\nrequirement: {}; limits: {}\nnorth star: {} objective(s); guardrails: {}\n\
         initial config ({}): {}\nrules:\n{}\ntools: {}",
        s.context.stage,
        s.context.component,
        s.context.summary,
        s.requirement.output_schema,
        s.requirement.limits.join("; "),
        s.north_star.objectives.len(),
        guardrails.join("; "),
        s.initial_config.source,
        config(&s.initial_config.config),
        if rules.is_empty() { "  (none)".into() } else { rules.join("\n") },
        s.tools.join(", ")
    )
}

pub fn elites(i: Option<&Insight>) -> String {
    let Some(i) = i.filter(|i| !i.elites.is_empty()) else { return "(nothing measured yet)".into() };
    let line = |e: &crate::protocol::Elite| {
        let s = e.score_vs_baseline;
        format!(
            "- {}: objective {:+.2}% [{:+.2}, {:+.2}]; {}",
            e.candidate_id,
            s.estimate,
            s.low,
            s.high,
            config(&e.config)
        )
    };
    i.elites.iter().map(line).collect::<Vec<_>>().join("\n")
}

pub fn sensitivities(i: Option<&Insight>, skill: Option<&Skill>) -> String {
    let map = match (i, skill) {
        (Some(i), _) if !i.sensitivity.is_empty() => &i.sensitivity,
        (_, Some(s)) if !s.priors.sensitivity.is_empty() => &s.priors.sensitivity,
        _ => return "(unknown yet)".into(),
    };
    map.iter().map(|(p, v)| format!("{p}={v:.2}")).collect::<Vec<_>>().join(", ")
}

/// The latest measured configurations, newest first.
pub fn results(i: Option<&Insight>) -> String {
    let Some(i) = i.filter(|i| !i.observations.is_empty()) else { return "(no experiments yet)".into() };
    let line = |o: &crate::protocol::Observation| {
        let safe = if o.safe { "guardrails ok" } else { "guardrail breached" };
        format!(
            "- {} (round {}, {}): objective {:+.2}% [{:+.2}, {:+.2}], {safe}; {}",
            o.candidate_id,
            o.round,
            o.experiments.join("+"),
            o.score.estimate,
            o.score.low,
            o.score.high,
            config(&o.config)
        )
    };
    i.observations.iter().rev().take(RECENT_RESULTS).map(line).collect::<Vec<_>>().join("\n")
}

pub fn constraints(t: &TaskSpec) -> String {
    let mut out: Vec<String> = t.guardrails.iter().map(|g| format!("- guardrail: {}", g.describe())).collect();
    out.extend(t.invariants.iter().map(|v| {
        let terms: Vec<String> = v.terms.iter().map(|(p, w)| format!("{w}*{p}")).collect();
        let bound = match (v.min, v.max) {
            (Some(lo), Some(hi)) => format!("between {lo} and {hi}"),
            (Some(lo), None) => format!(">= {lo}"),
            (None, Some(hi)) => format!("<= {hi}"),
            (None, None) => "unbounded".into(),
        };
        format!("- invariant ({}): {} {bound}", v.description, terms.join(" + "))
    }));
    out.push("- every configuration sets every parameter above, inside its range, and nothing else".into());
    out.join("\n")
}
