//! Answer schemas derived from the Rust answer types, so the JSON Schema a model is asked
//! to follow and the type its answer is parsed into cannot drift apart: every answer type
//! implements [`AnswerSchema`] next to its definition, from the same field list, and a test
//! checks that a serialised value of the type satisfies its own schema (with
//! `additionalProperties: false` and every field required, a renamed or added field fails
//! that test).

use serde_json::{json, Map, Value};
use skillhub::{ParamKind, Space};

/// What a schema may depend on besides the type: the task's space, the ids the answer may
/// cite, how many items it may hold. Built per question by the agent asking it.
#[derive(Debug, Clone, Default)]
pub struct SchemaContext {
    pub space: Space,
    /// Most items the answer's main list may hold.
    pub max_items: usize,
    /// Ids the answer may refer to (candidate ids, fact ids), when constrained.
    pub ids: Vec<String>,
    /// Experiment ids an answer may cite as evidence.
    pub experiments: Vec<String>,
    /// Metric names an answer may name.
    pub metrics: Vec<String>,
}

/// A type a model can be asked to answer with.
pub trait AnswerSchema {
    /// The schema's name in the request (`[a-zA-Z0-9_-]`).
    const NAME: &'static str;
    fn schema(ctx: &SchemaContext) -> Value;
}

/// An object whose fields are all required and nothing else is allowed: the shape of every
/// answer type (they are `deny_unknown_fields` and have no optional field).
pub fn object(fields: &[(&str, Value)]) -> Value {
    let props: Map<String, Value> = fields.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    let required: Vec<&str> = fields.iter().map(|(k, _)| *k).collect();
    json!({"type": "object", "additionalProperties": false, "required": required, "properties": props})
}

pub fn array(items: Value, min: usize, max: usize) -> Value {
    json!({"type": "array", "items": items, "minItems": min, "maxItems": max.max(min)})
}

/// Bounded text: a bound keeps a small model from rambling into the token limit.
pub fn text(max_len: usize) -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": max_len})
}

pub fn boolean() -> Value {
    json!({"type": "boolean"})
}

pub fn number() -> Value {
    json!({"type": "number"})
}

/// One of `values`; a free string when the list is empty (nothing to constrain to yet).
pub fn one_of(values: &[String]) -> Value {
    if values.is_empty() {
        return json!({"type": "string"});
    }
    json!({"type": "string", "enum": values})
}

/// A configuration of `space`: every parameter, typed and bounded, nothing else. Number
/// bounds are stated for the model, but the domain validator checks them again because
/// some servers (llama.cpp) do not enforce `minimum`/`maximum` on numbers.
pub fn configuration(space: &Space) -> Value {
    let fields: Vec<(&str, Value)> = space.params.iter().map(|p| (p.name.as_str(), param(&p.kind))).collect();
    object(&fields)
}

fn param(kind: &ParamKind) -> Value {
    match kind {
        ParamKind::Float { min, max } => json!({"type": "number", "minimum": min, "maximum": max}),
        ParamKind::Int { min, max } => json!({"type": "integer", "minimum": min, "maximum": max}),
        ParamKind::Choice { values } => json!({"type": "string", "enum": values}),
        ParamKind::Bool => boolean(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::check_schema;

    #[test]
    fn configuration_schema_requires_every_parameter_and_checks_types() {
        let task = crate::fixtures::task(&["a", "b"], vec![]);
        let schema = configuration(&task.space());
        assert!(check_schema(&json!({"a": 0.2, "b": 0.9}), &schema).is_ok());
        let errors = check_schema(&json!({"a": "x", "c": 1}), &schema).unwrap_err();
        assert!(errors.iter().any(|e| e.contains('b')), "{errors:?}");
        assert!(errors.iter().any(|e| e.contains('c')), "{errors:?}");
    }
}
