//! Checks a model's answer against the JSON Schema it was asked to follow. Servers enforce
//! schemas loosely or not at all (plain JSON mode, a dropped keyword for Gemini), so the
//! answer is checked here before any agent reads it.
//!
//! Supported keywords: `type` (a name or a list of names, `integer` meaning a number with
//! no fractional part), `properties`, `required`, `additionalProperties` (`false` or a
//! schema), `items`, `enum`, `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum`,
//! `minItems`, `maxItems`, `minLength`, `maxLength`. Other keywords are ignored, not
//! rejected: this is a guard for the agents' own simple schemas, not a general validator.

use serde_json::{Map, Value};

/// Every way `value` breaks `schema`, each prefixed by where, e.g.
/// `candidates[1].config: missing required property `rank.w_click``.
pub fn check_schema(value: &Value, schema: &Value) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    check(value, schema, &mut Path::root(), &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Where in the answer a value sits, written the way a reader would index it.
struct Path(String);

impl Path {
    fn root() -> Self {
        Path(String::new())
    }

    fn shown(&self) -> &str {
        if self.0.is_empty() {
            "(root)"
        } else {
            &self.0
        }
    }

    /// Runs `f` with `segment` appended, then restores the path.
    fn with<R>(&mut self, segment: &str, f: impl FnOnce(&mut Path) -> R) -> R {
        let len = self.0.len();
        if !self.0.is_empty() && !segment.starts_with('[') {
            self.0.push('.');
        }
        self.0.push_str(segment);
        let result = f(self);
        self.0.truncate(len);
        result
    }
}

fn check(value: &Value, schema: &Value, path: &mut Path, errors: &mut Vec<String>) {
    let Some(schema) = schema.as_object() else { return };
    if let Some(expected) = schema.get("type") {
        if !type_matches(value, expected) {
            errors.push(format!("{}: expected {}, got {}", path.shown(), type_list(expected), type_name(value)));
            return;
        }
    }
    check_enum(value, schema, path, errors);
    match value {
        Value::Object(fields) => check_object(fields, schema, path, errors),
        Value::Array(items) => check_array(items, schema, path, errors),
        Value::Number(_) => check_number(value, schema, path, errors),
        Value::String(s) => check_length(s, schema, path, errors),
        _ => {}
    }
}

fn type_matches(value: &Value, expected: &Value) -> bool {
    match expected {
        Value::String(name) => is_type(value, name),
        Value::Array(names) => names.iter().filter_map(Value::as_str).any(|n| is_type(value, n)),
        _ => true,
    }
}

fn is_type(value: &Value, name: &str) -> bool {
    match name {
        "integer" => value.as_f64().is_some_and(|x| x.fract() == 0.0),
        "number" => value.is_number(),
        other => type_name(value) == other,
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_list(expected: &Value) -> String {
    match expected {
        Value::Array(names) => names.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" or "),
        other => other.as_str().unwrap_or("?").to_string(),
    }
}

fn check_enum(value: &Value, schema: &Map<String, Value>, path: &Path, errors: &mut Vec<String>) {
    let Some(allowed) = schema.get("enum").and_then(Value::as_array) else { return };
    if !allowed.iter().any(|a| same(a, value)) {
        let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
        errors.push(format!("{}: {value} is not one of [{}]", path.shown(), list.join(", ")));
    }
}

/// JSON equality where `1` and `1.0` are the same number, as JSON Schema says.
fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn check_object(fields: &Map<String, Value>, schema: &Map<String, Value>, path: &mut Path, errors: &mut Vec<String>) {
    let empty = Map::new();
    let properties = schema.get("properties").and_then(Value::as_object).unwrap_or(&empty);
    for name in schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
        if !fields.contains_key(name) {
            errors.push(format!("{}: missing required property `{name}`", path.shown()));
        }
    }
    for (name, field) in fields {
        let extra = match (properties.get(name), schema.get("additionalProperties")) {
            (Some(sub), _) => Some(sub),
            (None, Some(Value::Bool(false))) => {
                errors.push(format!("{}: unexpected property `{name}`", path.shown()));
                None
            }
            (None, other) => other,
        };
        if let Some(sub) = extra {
            path.with(name, |p| check(field, sub, p, errors));
        }
    }
}

fn check_array(items: &[Value], schema: &Map<String, Value>, path: &mut Path, errors: &mut Vec<String>) {
    let n = items.len() as u64;
    if let Some(min) = schema.get("minItems").and_then(Value::as_u64).filter(|&min| n < min) {
        errors.push(format!("{}: has {n} items, at least {min} required", path.shown()));
    }
    if let Some(max) = schema.get("maxItems").and_then(Value::as_u64).filter(|&max| n > max) {
        errors.push(format!("{}: has {n} items, at most {max} allowed", path.shown()));
    }
    let Some(item_schema) = schema.get("items") else { return };
    for (i, item) in items.iter().enumerate() {
        path.with(&format!("[{i}]"), |p| check(item, item_schema, p, errors));
    }
}

fn check_number(value: &Value, schema: &Map<String, Value>, path: &Path, errors: &mut Vec<String>) {
    let Some(x) = value.as_f64() else { return };
    let bound = |key: &str| schema.get(key).and_then(Value::as_f64);
    let mut fail = |what: &str, limit: f64| errors.push(format!("{}: {value} is {what} {limit}", path.shown()));
    if let Some(min) = bound("minimum").filter(|&m| x < m) {
        fail("below the minimum", min);
    }
    if let Some(max) = bound("maximum").filter(|&m| x > m) {
        fail("above the maximum", max);
    }
    if let Some(min) = bound("exclusiveMinimum").filter(|&m| x <= m) {
        fail("not above", min);
    }
    if let Some(max) = bound("exclusiveMaximum").filter(|&m| x >= m) {
        fail("not below", max);
    }
}

fn check_length(s: &str, schema: &Map<String, Value>, path: &Path, errors: &mut Vec<String>) {
    let n = s.chars().count() as u64;
    if let Some(min) = schema.get("minLength").and_then(Value::as_u64).filter(|&min| n < min) {
        errors.push(format!("{}: is {n} characters long, at least {min} required", path.shown()));
    }
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64).filter(|&max| n > max) {
        errors.push(format!("{}: is {n} characters long, at most {max} allowed", path.shown()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn proposal_schema() -> Value {
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["candidates"],
            "properties": {
                "candidates": {
                    "type": "array", "minItems": 1, "maxItems": 3,
                    "items": {
                        "type": "object",
                        "required": ["config", "hypothesis"],
                        "properties": {
                            "hypothesis": {"type": "string", "minLength": 5, "maxLength": 40},
                            "config": {
                                "type": "object",
                                "additionalProperties": false,
                                "required": ["rank.w_click"],
                                "properties": {
                                    "rank.w_click": {"type": "number", "minimum": 0, "maximum": 1},
                                    "retrieval.k": {"type": "integer", "minimum": 10},
                                    "mode": {"enum": ["fast", "exact"]},
                                },
                            },
                        },
                    },
                },
            },
        })
    }

    /// Sorted, since the order follows the answer's key order, which is not the point.
    fn errors(value: Value) -> Vec<String> {
        let mut errors = check_schema(&value, &proposal_schema()).err().unwrap_or_default();
        errors.sort();
        errors
    }

    #[test]
    fn a_conforming_answer_passes() {
        let ok = json!({"candidates": [{"hypothesis": "more clicks", "config": {"rank.w_click": 0.5, "retrieval.k": 200.0}}]});
        assert_eq!(check_schema(&ok, &proposal_schema()), Ok(()));
    }

    #[test]
    fn a_missing_property_is_named_with_its_path() {
        let e = errors(json!({"candidates": [
            {"hypothesis": "more clicks", "config": {"rank.w_click": 0.5}},
            {"hypothesis": "more clicks", "config": {}},
        ]}));
        assert_eq!(e, ["candidates[1].config: missing required property `rank.w_click`"]);
    }

    #[test]
    fn every_violation_is_reported_not_just_the_first() {
        let e = errors(json!({
            "candidates": [{"hypothesis": "hm", "config": {"rank.w_click": 1.5, "retrieval.k": 2.5, "mode": "slow", "extra": 1}}],
            "notes": "x",
        }));
        assert_eq!(
            e,
            [
                "(root): unexpected property `notes`",
                "candidates[0].config.mode: \"slow\" is not one of [\"fast\", \"exact\"]",
                "candidates[0].config.rank.w_click: 1.5 is above the maximum 1",
                "candidates[0].config.retrieval.k: expected integer, got number",
                "candidates[0].config: unexpected property `extra`",
                "candidates[0].hypothesis: is 2 characters long, at least 5 required",
            ]
        );
    }

    #[test]
    fn array_bounds_and_wrong_types_are_reported() {
        assert_eq!(errors(json!({"candidates": []})), ["candidates: has 0 items, at least 1 required"]);
        let four = json!({"hypothesis": "more clicks", "config": {"rank.w_click": 0}});
        let e = errors(json!({"candidates": [four.clone(), four.clone(), four.clone(), four]}));
        assert_eq!(e, ["candidates: has 4 items, at most 3 allowed"]);
        assert_eq!(errors(json!([1])), ["(root): expected object, got array"]);
    }

    #[test]
    fn type_lists_nullable_types_and_exclusive_bounds() {
        let schema = json!({"type": ["number", "null"], "exclusiveMinimum": 0, "exclusiveMaximum": 1});
        assert_eq!(check_schema(&json!(null), &schema), Ok(()));
        assert_eq!(check_schema(&json!(0.5), &schema), Ok(()));
        assert_eq!(check_schema(&json!(0), &schema), Err(vec!["(root): 0 is not above 0".to_string()]));
        assert_eq!(check_schema(&json!("x"), &schema), Err(vec!["(root): expected number or null, got string".into()]));
    }

    #[test]
    fn additional_properties_may_be_a_schema() {
        let schema = json!({"type": "object", "additionalProperties": {"type": "number"}});
        assert_eq!(check_schema(&json!({"a": 1, "b": 2}), &schema), Ok(()));
        assert_eq!(check_schema(&json!({"a": "x"}), &schema), Err(vec!["a: expected number, got string".into()]));
    }

    #[test]
    fn integer_enum_values_match_their_float_spelling() {
        assert_eq!(check_schema(&json!(2.0), &json!({"enum": [1, 2]})), Ok(()));
    }
}
