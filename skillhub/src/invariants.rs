//! Checks of single skill parts (a rule, a region, the priors) shared by
//! [`Skill::validate`] and by the patches that introduce those parts, so both report
//! the same error for the same mistake.

use crate::patch::PatchError;
use crate::skill::{
    EliteConfig, PriorRead, Rule, RuleStatus, Skill, MAX_PRIOR_CONFIDENCE, MAX_PRIOR_READS, PRIOR_EVIDENCE_PREFIX,
};
use crate::space::{ParamKind, ParamSpec};
use std::collections::BTreeMap;

fn rule_error(rule: &Rule, field: &'static str, problem: impl Into<String>) -> PatchError {
    PatchError::InvalidRule { rule_id: rule.id.clone(), field, problem: problem.into() }
}

fn known_param<'a>(skill: &'a Skill, field: &'static str, name: &str) -> Result<&'a ParamSpec, PatchError> {
    skill.requirement.params.iter().find(|p| p.name == name).ok_or_else(|| PatchError::UnknownParameter {
        field,
        parameter: name.to_string(),
        known: skill.requirement.params.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", "),
    })
}

pub(crate) fn check_rule(skill: &Skill, rule: &Rule) -> Result<(), PatchError> {
    if rule.id.trim().is_empty() {
        return Err(rule_error(rule, "id", "is empty: give the rule a short unique id such as \"r3-1\""));
    }
    if rule.text.trim().is_empty() {
        return Err(rule_error(rule, "text", "is empty: state the rule in one sentence"));
    }
    check_evidence(rule)?;
    check_confidence(rule)?;
    if let Some(name) = &rule.parameter {
        known_param(skill, "rule.parameter", name)?;
    }
    if rule.metric.as_deref().is_some_and(|m| m.trim().is_empty()) {
        return Err(rule_error(rule, "metric", "is empty: name the metric or leave it out"));
    }
    if rule.effect_pct.is_some_and(|e| !e.is_finite()) {
        return Err(rule_error(rule, "effect_pct", "is not finite: give the measured lift in percent or leave it out"));
    }
    check_provenance_and_status(skill, rule)
}

fn check_evidence(rule: &Rule) -> Result<(), PatchError> {
    if rule.evidence.is_empty() {
        return Err(rule_error(rule, "evidence", "is empty: cite at least one experiment id"));
    }
    if rule.evidence.iter().any(|e| e.trim().is_empty()) {
        return Err(rule_error(rule, "evidence", "contains an empty id: cite experiment ids"));
    }
    let cites_prior = rule.evidence.iter().any(|e| e.starts_with(PRIOR_EVIDENCE_PREFIX));
    if cites_prior && !rule.provenance.is_seed() {
        return Err(rule_error(
            rule,
            "evidence",
            format!(
                "`{PRIOR_EVIDENCE_PREFIX}...` evidence is reserved for seed skills; agent `{}` must cite the experiment ids it measured",
                rule.provenance.agent
            ),
        ));
    }
    Ok(())
}

fn check_confidence(rule: &Rule) -> Result<(), PatchError> {
    let c = rule.confidence;
    if !(c.is_finite() && (0.0..=1.0).contains(&c)) {
        return Err(rule_error(rule, "confidence", format!("is {c}; use a number in [0, 1]")));
    }
    if rule.is_prior_only() && c > MAX_PRIOR_CONFIDENCE {
        return Err(rule_error(
            rule,
            "confidence",
            format!("is {c} but the rule cites no experiment; background knowledge may claim at most {MAX_PRIOR_CONFIDENCE}"),
        ));
    }
    Ok(())
}

fn check_provenance_and_status(skill: &Skill, rule: &Rule) -> Result<(), PatchError> {
    let p = &rule.provenance;
    if p.agent.trim().is_empty() || p.model.trim().is_empty() {
        return Err(rule_error(rule, "provenance", "needs the agent and the model (\"builtin\" or a model name)"));
    }
    if let RuleStatus::Retired { reason } = &rule.status {
        if reason.trim().is_empty() {
            return Err(rule_error(rule, "status", "a retired rule needs the reason it was retired"));
        }
    }
    if rule.created_in_version == 0 || rule.created_in_version > skill.version {
        return Err(rule_error(
            rule,
            "created_in_version",
            format!("is {} but the skill is at version {}", rule.created_in_version, skill.version),
        ));
    }
    Ok(())
}

pub(crate) fn check_sensitivity(skill: &Skill, sensitivity: &BTreeMap<String, f64>) -> Result<(), PatchError> {
    for (name, &s) in sensitivity {
        known_param(skill, "priors.sensitivity", name)?;
        if !(s.is_finite() && s >= 0.0) {
            return Err(PatchError::InvalidPriors {
                field: format!("sensitivity.{name}"),
                problem: format!("is {s}; sensitivity is an importance, use a finite number >= 0"),
            });
        }
    }
    Ok(())
}

pub(crate) fn check_elites(skill: &Skill, elites: &[EliteConfig]) -> Result<(), PatchError> {
    let space = skill.space();
    for (i, e) in elites.iter().enumerate() {
        let invalid =
            |field: &str, problem: String| PatchError::InvalidPriors { field: format!("elites[{i}].{field}"), problem };
        if e.experiment_id.trim().is_empty() || e.experiment_id.starts_with(PRIOR_EVIDENCE_PREFIX) {
            return Err(invalid("experiment_id", "name the experiment that measured this configuration".into()));
        }
        if !e.score_pct.is_finite() {
            return Err(invalid("score_pct", format!("is {}; give the measured score in percent", e.score_pct)));
        }
        space.check(&e.config).map_err(|err| invalid("config", err.to_string()))?;
    }
    Ok(())
}

pub(crate) fn check_reads(skill: &Skill, reads: &[PriorRead]) -> Result<(), PatchError> {
    if reads.len() > MAX_PRIOR_READS {
        return Err(PatchError::InvalidPriors {
            field: "reads".into(),
            problem: format!("has {} entries; keep at most {MAX_PRIOR_READS}, the newest", reads.len()),
        });
    }
    let space = skill.space();
    for (i, r) in reads.iter().enumerate() {
        let invalid = |field: String, problem: String| PatchError::InvalidPriors {
            field: format!("reads[{i}].{field}"),
            problem,
        };
        if r.experiment_id.trim().is_empty() {
            return Err(invalid("experiment_id".into(), "name the experiment that measured this configuration".into()));
        }
        if !r.score_pct.is_finite() {
            return Err(invalid("score_pct".into(), format!("is {}; give the measured score in percent", r.score_pct)));
        }
        if let Some((metric, v)) = r.lifts_pct.iter().find(|(_, v)| !v.is_finite()) {
            return Err(invalid(format!("lifts_pct.{metric}"), format!("is {v}; give the measured lift in percent")));
        }
        space.check(&r.config).map_err(|err| invalid("config".into(), err.to_string()))?;
    }
    Ok(())
}

/// A narrowed region must be a real sub-interval of the requirement and keep the
/// initial configuration inside, or the strategies would start outside their own
/// search region.
pub(crate) fn check_region(skill: &Skill, name: &str, min: f64, max: f64) -> Result<(), PatchError> {
    let narrow = |problem: String| PatchError::Narrow { parameter: name.to_string(), min, max, problem };
    let spec = known_param(skill, "region", name)?;
    let (lo, hi, integral) = match spec.kind {
        ParamKind::Float { min, max } => (min, max, false),
        ParamKind::Int { min, max } => (min as f64, max as f64, true),
        _ => {
            return Err(narrow(format!(
                "only float and int parameters have a range; `{name}` is a {}, state a preference as a rule instead",
                spec.kind.type_name()
            )))
        }
    };
    if !(min.is_finite() && max.is_finite() && min < max) {
        return Err(narrow("use finite bounds with min < max".into()));
    }
    if integral && (min.fract() != 0.0 || max.fract() != 0.0) {
        return Err(narrow("this is an int parameter: use whole-number bounds".into()));
    }
    if min < lo || max > hi {
        return Err(narrow(format!("stay inside the requirement bounds [{lo}, {hi}]")));
    }
    match skill.initial_config.config.get(name).and_then(|v| v.as_f64()) {
        Some(v) if v < min || v > max => Err(narrow(format!(
            "the initial configuration has {name} = {v}; include it, or move the baseline first with SetBaseline"
        ))),
        _ => Ok(()),
    }
}

/// True when the region for `name` still contains the configuration's value.
pub(crate) fn region_contains(region: (f64, f64), value: Option<f64>) -> bool {
    !matches!(value, Some(v) if v < region.0 || v > region.1)
}
