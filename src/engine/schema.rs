//! JSON Schema handling as AIGNE does it: the schema a model sees (`response_format`, tool
//! `parameters`) is the agent's schema after a round trip through zod
//! (`@aigne/json-schema-to-zod` → `zod-to-json-schema`) and `outputSchemaToResponseFormatSchema`
//! (`additionalProperties: false` on every object, nullable properties turned optional); and
//! input/output validation is "passthrough" (extra keys allowed).

use serde_json::{Map, Value, json};

const DRAFT_07: &str = "http://json-schema.org/draft-07/schema#";

/// Whether a top-level object schema has no properties (AIGNE then sends no `response_format`
/// and tool `parameters: {}`).
pub(super) fn is_empty_object(schema: &Value) -> bool {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .is_none_or(Map::is_empty)
}

/// The schema AIGNE sends to a model for an agent schema (top-level object).
pub fn to_model_schema(schema: &Value) -> Value {
    let converted = roundtrip(schema);
    let zod_emitted_required = converted.get("required").is_some();
    let (mut converted, _) = nullable_to_optional(converted);
    if let Value::Object(map) = &mut converted {
        // zod-to-json-schema adds `$schema` after the body; a `required` zod did not emit is
        // appended after it by `convertNullableToOptional`.
        let required = if zod_emitted_required {
            None
        } else {
            map.remove("required")
        };
        map.insert("$schema".to_owned(), Value::String(DRAFT_07.to_owned()));
        if let Some(required) = required {
            map.insert("required".to_owned(), required);
        }
    }
    converted
}

/// The agent's input schema as AIGNE builds it for an AI agent with `input_key`: the key is
/// added as an optional nullable string.
pub(super) fn with_input_key(schema: Option<&Value>, input_key: Option<&str>) -> Option<Value> {
    let Some(key) = input_key else {
        return schema.cloned();
    };
    let mut schema = schema
        .cloned()
        .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
    if let Some(Value::Object(properties)) = schema.get_mut("properties") {
        properties.insert(key.to_owned(), json!({"type": ["string", "null"]}));
    }
    if let Some(Value::Array(required)) = schema.get_mut("required") {
        required.retain(|item| item.as_str() != Some(key));
    }
    Some(schema)
}

/// The input schema an AI agent with `input_key` checks its input with: the key is
/// `z.string().nullish()` (optional, `null` allowed; any other type is refused as a string).
pub(super) fn with_input_key_check(
    schema: Option<&Value>,
    input_key: Option<&str>,
) -> Option<Value> {
    let mut schema = with_input_key(schema, input_key)?;
    if let (Some(key), Some(Value::Object(properties))) = (input_key, schema.get_mut("properties"))
    {
        properties.insert(key.to_owned(), json!({"type": "string", "nullable": true}));
    }
    Some(schema)
}

/// zod round trip: objects become `{type, additionalProperties: false, properties, required,
/// …}` with `required` in property order; other keys keep their order with `default` and
/// `description` last.
fn roundtrip(schema: &Value) -> Value {
    let Value::Object(map) = schema else {
        return schema.clone();
    };
    if let Some(primitive) = roundtrip_primitive(map) {
        return primitive;
    }
    let mut out = Map::new();
    if let Some(kind) = map.get("type") {
        out.insert("type".to_owned(), kind.clone());
    }
    let is_object = map.get("type").and_then(Value::as_str) == Some("object");
    if is_object {
        out.insert("additionalProperties".to_owned(), Value::Bool(false));
        if let Some(Value::Object(properties)) = map.get("properties") {
            let required: Vec<&str> = map
                .get("required")
                .and_then(Value::as_array)
                .map(|items| items.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut converted = Map::new();
            for (key, value) in properties {
                converted.insert(key.clone(), roundtrip(value));
            }
            // zod-to-json-schema lists a property as required unless zod's type accepts
            // `undefined`: `z.any()` (a property schema json-schema-to-zod cannot type, e.g. a
            // `$ref` it does not follow) never is.
            let ordered: Vec<Value> = properties
                .iter()
                .filter(|(key, value)| required.contains(&key.as_str()) && !is_zod_any(value))
                .map(|(key, _)| key)
                .map(|key| Value::String(key.clone()))
                .collect();
            out.insert("properties".to_owned(), Value::Object(converted));
            if !ordered.is_empty() {
                out.insert("required".to_owned(), Value::Array(ordered));
            }
        }
    }
    for (key, value) in map {
        if matches!(
            key.as_str(),
            "type" | "default" | "description" | "$schema" | "$ref"
        ) || (is_object
            && matches!(
                key.as_str(),
                "properties" | "required" | "additionalProperties"
            ))
        {
            continue;
        }
        let value = match key.as_str() {
            "items" => roundtrip(value),
            "anyOf" | "oneOf" | "allOf" => match value {
                Value::Array(items) => Value::Array(items.iter().map(roundtrip).collect()),
                other => other.clone(),
            },
            _ => value.clone(),
        };
        out.insert(key.clone(), value);
    }
    for key in ["default", "description"] {
        if let Some(value) = map.get(key) {
            out.insert(key.to_owned(), value.clone());
        }
    }
    out.into()
}

/// A string, number or array schema as zod-to-json-schema prints the zod type
/// json-schema-to-zod builds from it: `type`, then the checks zod keeps, in zod's order
/// (`format` zod checks, `pattern`, `minLength`, `maxLength`; `multipleOf`, bounds; `items`,
/// `minItems`, `maxItems`), keywords zod does not build (`uniqueItems`, `title`, a format it
/// ignores, …) dropped, `default` and `description` last. `None` for any other schema (or one
/// with `enum`, `const`, `nullable` or a combinator, which zod builds otherwise).
fn roundtrip_primitive(map: &Map<String, Value>) -> Option<Value> {
    if [
        "enum",
        "const",
        "nullable",
        "anyOf",
        "allOf",
        "oneOf",
        "not",
        "errorMessage",
    ]
    .iter()
    .any(|key| map.contains_key(*key))
    {
        return None;
    }
    let kind = map.get("type")?.as_str()?;
    let mut out = Map::new();
    let copy = |out: &mut Map<String, Value>, key: &str| {
        if let Some(value) = map.get(key) {
            out.insert(key.to_owned(), value.clone());
        }
    };
    match kind {
        "string" => {
            out.insert("type".to_owned(), json!("string"));
            match map.get("format").and_then(Value::as_str) {
                Some(format @ ("email" | "uri" | "uuid" | "date-time" | "date" | "time")) => {
                    out.insert("format".to_owned(), json!(format));
                }
                // Checks zod-to-json-schema prints otherwise: left as written.
                Some("ip" | "ipv4" | "ipv6" | "binary" | "duration") => return None,
                // A format zod does not check is not in its schema.
                Some(_) => {}
                None if map.contains_key("format") => return None,
                None => {}
            }
            for key in ["pattern", "minLength", "maxLength"] {
                copy(&mut out, key);
            }
        }
        "number" | "integer" => {
            let step = map.get("multipleOf").and_then(Value::as_f64);
            let integer = kind == "integer"
                || step == Some(1.0)
                || map.get("format").and_then(Value::as_str) == Some("int64");
            out.insert(
                "type".to_owned(),
                json!(if integer { "integer" } else { "number" }),
            );
            if step.is_some_and(|step| step != 1.0) {
                copy(&mut out, "multipleOf");
            }
            let exclusive = |flag: &str| map.get(flag) == Some(&Value::Bool(true));
            for (bound, flag) in [
                ("minimum", "exclusiveMinimum"),
                ("maximum", "exclusiveMaximum"),
            ] {
                match (map.get(bound), map.get(flag)) {
                    (Some(value), _) if exclusive(flag) => {
                        out.insert(flag.to_owned(), value.clone());
                    }
                    (Some(value), _) => {
                        out.insert(bound.to_owned(), value.clone());
                    }
                    (None, Some(value @ Value::Number(_))) => {
                        out.insert(flag.to_owned(), value.clone());
                    }
                    _ => {}
                }
            }
        }
        "array" if !map.get("items").is_some_and(Value::is_array) => {
            out.insert("type".to_owned(), json!("array"));
            if let Some(items) = map.get("items") {
                out.insert("items".to_owned(), roundtrip(items));
            }
            copy(&mut out, "minItems");
            copy(&mut out, "maxItems");
        }
        _ => return None,
    }
    for key in ["default", "description"] {
        copy(&mut out, key);
    }
    Some(Value::Object(out))
}

/// `convertNullableToOptional`: returns the schema and whether it was nullable.
fn nullable_to_optional(schema: Value) -> (Value, bool) {
    let Value::Object(mut map) = schema else {
        return (schema, false);
    };
    let kind = map.get("type").cloned();
    if kind.as_ref().and_then(Value::as_str) == Some("object")
        && let Some(Value::Object(properties)) = map.get("properties").cloned()
    {
        let mut optional = Vec::new();
        let mut converted = Map::new();
        for (key, value) in properties {
            let (value, nullable) = nullable_to_optional(value);
            if nullable {
                optional.push(key.clone());
            }
            converted.insert(key, value);
        }
        let required: Vec<Value> = map
            .get("required")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter(|item| {
                        !item
                            .as_str()
                            .is_some_and(|k| optional.iter().any(|o| o == k))
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        map.insert("properties".to_owned(), Value::Object(converted));
        map.insert("required".to_owned(), Value::Array(required));
        return (Value::Object(map), false);
    }
    if kind.as_ref().and_then(Value::as_str) == Some("array")
        && let Some(items) = map.get("items").cloned()
        && items.is_object()
    {
        let (items, _) = nullable_to_optional(items);
        map.insert("items".to_owned(), items);
        return (Value::Object(map), false);
    }
    if let Some(Value::Array(types)) = &kind
        && types.len() == 2
        && types.iter().any(|t| t == "null")
    {
        let other = types
            .iter()
            .find(|t| *t != "null")
            .cloned()
            .unwrap_or(Value::Null);
        map.insert("type".to_owned(), other);
        return (Value::Object(map), true);
    }
    if let Some(Value::Array(any_of)) = map.get("anyOf").cloned() {
        let kept: Vec<Value> = any_of
            .iter()
            .filter(|item| {
                item.is_object()
                    && item.get("type").and_then(Value::as_str) != Some("null")
                    && !item
                        .get("not")
                        .is_some_and(|not| not.as_object().is_some_and(Map::is_empty))
            })
            .cloned()
            .collect();
        let optional = kept.len() != any_of.len();
        if kept.len() == 1 {
            let (single, _) = nullable_to_optional(kept[0].clone());
            return (single, optional);
        }
    }
    (Value::Object(map), false)
}

/// Whether `@aigne/json-schema-to-zod` makes `schema` a `z.any()`: no keyword it builds a
/// type from (`type` naming a JSON type, `anyOf`, `allOf`, `oneOf`, `not`, `enum`, `const`,
/// `nullable`, `if`/`then`/`else`); `$ref` is not followed.
fn is_zod_any(schema: &Value) -> bool {
    let Value::Object(map) = schema else {
        return false;
    };
    let typed = match map.get("type") {
        Some(Value::String(name)) => is_json_type(name),
        Some(Value::Array(_)) => true,
        _ => false,
    };
    let built = typed
        || ["anyOf", "allOf", "oneOf", "not", "enum", "const"]
            .iter()
            .any(|key| map.contains_key(*key))
        || map.get("nullable") == Some(&Value::Bool(true))
        || ["if", "then", "else"]
            .iter()
            .all(|key| map.contains_key(*key));
    !built
}

fn is_json_type(name: &str) -> bool {
    matches!(
        name,
        "string" | "number" | "integer" | "boolean" | "object" | "array" | "null"
    )
}

/// The schema used to validate inputs and outputs: passthrough (no `additionalProperties`
/// anywhere, as zod `passthrough()` at the top and stripping below). A required nullable
/// property must be present (AIGNE: `Invalid input expect string,null got undefined`).
pub(super) fn validation_schema(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, value) in map {
                let value = match key.as_str() {
                    "additionalProperties" => continue,
                    // AIGNE's json-schema-to-zod does not follow `$ref` (a relative file or a
                    // pointer): the schema around it is what zod checks.
                    "$ref" => continue,
                    // zod builds an object from its `properties`: a `required` entry naming
                    // no property, or one `z.any()` (which accepts `undefined`), is ignored.
                    "required" => match value {
                        Value::Array(names) => Value::Array(
                            names
                                .iter()
                                .filter(|name| {
                                    name.as_str().is_some_and(|name| {
                                        map.get("properties")
                                            .and_then(Value::as_object)
                                            .and_then(|properties| properties.get(name))
                                            .is_some_and(|property| !is_zod_any(property))
                                    })
                                })
                                .cloned()
                                .collect(),
                        ),
                        other => other.clone(),
                    },
                    // An unknown `type` (`"any"` in the `aigne create` template's `sandbox.js`)
                    // is `z.any()` for AIGNE's json-schema-to-zod: no constraint.
                    "type" if value.as_str().is_some_and(|name| !is_json_type(name)) => continue,
                    // Property names are data, not keywords.
                    "properties" => match value {
                        Value::Object(properties) => Value::Object(
                            properties
                                .iter()
                                .map(|(k, v)| (k.clone(), validation_schema(v)))
                                .collect(),
                        ),
                        other => other.clone(),
                    },
                    _ => validation_schema(value),
                };
                out.insert(key.clone(), value);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(validation_schema).collect()),
        other => other.clone(),
    }
}

/// Validates `value` against `schema` as the official runtime's zod schema does (see
/// [`super::zod`]): the error is `checkArguments`' text after its `… check arguments error: `.
/// A schema with a construct that module does not run (`oneOf`, `allOf`, …; `inspect` marks it
/// and `--engine auto` leaves such agents to node) is checked as JSON Schema instead, worded as
/// zod words the common keywords, else with the validator's own text.
pub fn validate(schema: &Value, value: &Value) -> Result<(), String> {
    match crate::zod::compile(schema) {
        Ok(compiled) => compiled.check(value),
        Err(_) => validate_json_schema(schema, value),
    }
}

fn validate_json_schema(schema: &Value, value: &Value) -> Result<(), String> {
    let schema = validation_schema(schema);
    let validator =
        jsonschema::validator_for(&schema).map_err(|error| format!("invalid schema: {error}"))?;
    let problems: Vec<String> = validator
        .iter_errors(value)
        .map(|error| {
            let path = error.instance_path().to_string();
            if path.is_empty() {
                error.to_string()
            } else {
                format!("{path}: {error}")
            }
        })
        .collect();
    if problems.is_empty() {
        return Ok(());
    }
    let mut issues = Vec::new();
    zod_issues(&schema, value, &mut Vec::new(), &mut issues);
    if issues.is_empty() {
        Err(problems.join("; "))
    } else {
        Err(issues.join(", "))
    }
}

/// `value` as zod's `parse` returns it once [`validate`] has passed (AIGNE's `checkArguments`
/// hands the parsed value on, for inputs and outputs alike): an object schema with `properties`
/// lists those properties first, in the schema's order (a property that is absent stays
/// absent unless it has a `default`, which fills it), then, at the top level only (the agent's
/// schema is `passthrough()`) or where `additionalProperties` allows them, the other keys in
/// their order; below the top level zod's default `strip` drops them. Array items are parsed
/// by `items`. Anything else (unions, `$ref`, free objects) is returned as it is.
pub(super) fn zod_parse(schema: &Value, value: Value) -> Value {
    parse_at(schema, value, true)
}

fn parse_at(schema: &Value, value: Value, top: bool) -> Value {
    let Value::Object(schema) = schema else {
        return value;
    };
    match value {
        Value::Object(mut map)
            if schema.get("type").and_then(Value::as_str) == Some("object")
                && schema
                    .get("patternProperties")
                    .and_then(Value::as_object)
                    .is_none_or(Map::is_empty) =>
        {
            let Some(Value::Object(properties)) = schema.get("properties") else {
                return Value::Object(map);
            };
            let mut out = Map::new();
            for (key, property) in properties {
                let parsed = match map.shift_remove(key) {
                    Some(item) => parse_at(property, item, false),
                    None => match property.get("default") {
                        Some(default) => parse_at(property, default.clone(), false),
                        None => continue,
                    },
                };
                out.insert(key.clone(), parsed);
            }
            let keep_others = top
                || schema
                    .get("additionalProperties")
                    .is_some_and(|extra| *extra != Value::Bool(false));
            if keep_others {
                out.extend(map);
            }
            Value::Object(out)
        }
        Value::Array(items) if schema.get("type").and_then(Value::as_str) == Some("array") => {
            match schema.get("items") {
                Some(item_schema @ Value::Object(_)) => Value::Array(
                    items
                        .into_iter()
                        .map(|item| parse_at(item_schema, item, false))
                        .collect(),
                ),
                _ => Value::Array(items),
            }
        }
        other => other,
    }
}

/// The issues zod (v3, as `@aigne/json-schema-to-zod` builds the schema) reports for the common
/// keywords (`type`, `properties`/`required`, `items`, string `enum`), in its order (the
/// schema's property order), each as AIGNE's `checkArguments` prints it: `${path}: ${message}`
/// with the path joined by commas (a JavaScript array printed as a string).
fn zod_issues(schema: &Value, value: &Value, path: &mut Vec<String>, out: &mut Vec<String>) {
    let Value::Object(map) = schema else {
        return;
    };
    let issue = |path: &[String], message: String| format!("{}: {message}", path.join(","));
    if let Some(expected) = map.get("type").and_then(Value::as_str) {
        let received = zod_type(value);
        let fits = match expected {
            "integer" => {
                value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            "number" => value.is_number(),
            other => received == other,
        };
        if !fits {
            let message = if expected == "integer" && value.is_number() {
                "Expected integer, received float".to_owned()
            } else {
                let expected = if expected == "integer" {
                    "number"
                } else {
                    expected
                };
                format!("Expected {expected}, received {received}")
            };
            out.push(issue(path, message));
            return;
        }
    }
    if let (Some(Value::Array(options)), Some(text)) = (map.get("enum"), value.as_str())
        && options.iter().all(Value::is_string)
        && !options.iter().any(|option| option.as_str() == Some(text))
    {
        let expected: Vec<String> = options
            .iter()
            .filter_map(Value::as_str)
            .map(|option| format!("'{option}'"))
            .collect();
        out.push(issue(
            path,
            format!(
                "Invalid enum value. Expected {}, received '{text}'",
                expected.join(" | ")
            ),
        ));
        return;
    }
    match value {
        Value::Object(object) => {
            let Some(Value::Object(properties)) = map.get("properties") else {
                return;
            };
            let required: Vec<&str> = map
                .get("required")
                .and_then(Value::as_array)
                .map(|items| items.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            for (key, property) in properties {
                path.push(key.clone());
                match object.get(key) {
                    None if required.contains(&key.as_str()) => {
                        out.push(issue(path, "Required".to_owned()));
                    }
                    None => {}
                    Some(item) => zod_issues(property, item, path, out),
                }
                path.pop();
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = map.get("items").filter(|items| items.is_object()) {
                for (index, item) in items.iter().enumerate() {
                    path.push(index.to_string());
                    zod_issues(item_schema, item, path, out);
                    path.pop();
                }
            }
        }
        _ => {}
    }
}

/// zod's name for the type of a value (`getParsedType`).
fn zod_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(number) if number.is_f64() && number.as_f64().is_some_and(f64::is_nan) => {
            "nan"
        }
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Messages as AIGNE's zod words them (checked against the official runtime in the corpus);
    /// a `required` entry naming no property is ignored, as zod ignores it.
    #[test]
    fn zod_wording_and_required_without_property() {
        let schema = json!({"type": "object", "properties": {
            "name": {"type": "string"}, "count": {"type": "number"},
            "mode": {"type": "string", "enum": ["a", "b"]},
            "items": {"type": "array", "items": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}}
        }, "required": ["name", "version"]});
        assert_eq!(validate(&schema, &json!({"name": "x"})), Ok(()));
        assert_eq!(
            validate(&schema, &json!({"count": "two", "mode": "c", "items": [{"n": 1.5}, {}]})),
            Err("name: Required, count: Expected number, received string, mode: Invalid enum value. Expected 'a' | 'b', received 'c', items,0,n: Expected integer, received float, items,1,n: Required".to_owned())
        );
    }

    #[test]
    fn unknown_types_accept_anything() {
        let schema = json!({"type": "object", "properties": {"result": {"type": "any"}}, "required": ["result"]});
        assert_eq!(validate(&schema, &json!({"result": [1, "x"]})), Ok(()));
        // `z.any()` accepts `undefined`: required or not, the key may be missing.
        assert_eq!(validate(&schema, &json!({})), Ok(()));
    }

    #[test]
    fn model_schema_matches_aigne() {
        let schema = json!({"type":"object","properties":{"a":{"type":"string","description":"x"},"b":{"type":["number","null"]},"c":{"type":"array","items":{"type":"object","properties":{"d":{"type":"integer","default":3}}}},"e":{"type":"string","enum":["x","y"]}},"required":["a","b"]});
        let expected = json!({"type":"object","additionalProperties":false,"properties":{"a":{"type":"string","description":"x"},"b":{"type":"number"},"c":{"type":"array","items":{"type":"object","additionalProperties":false,"properties":{"d":{"type":"integer","default":3}},"required":[]}},"e":{"type":"string","enum":["x","y"]}},"required":["a"],"$schema":"http://json-schema.org/draft-07/schema#"});
        let converted = to_model_schema(&schema);
        assert_eq!(converted, expected);
        assert_eq!(
            serde_json::to_string(&converted).unwrap(),
            serde_json::to_string(&expected).unwrap()
        );
    }

    #[test]
    fn required_in_property_order_and_free_objects() {
        let schema = json!({"type":"object","properties":{"o":{"type":"object"},"p":{"type":"object","properties":{"x":{"type":"string"}},"required":["x"],"additionalProperties":true},"r":{"type":"array","items":{"type":"string"},"description":"d"}},"required":["r","o"]});
        let expected = json!({"type":"object","additionalProperties":false,"properties":{"o":{"type":"object","additionalProperties":false},"p":{"type":"object","additionalProperties":false,"properties":{"x":{"type":"string"}},"required":["x"]},"r":{"type":"array","items":{"type":"string"},"description":"d"}},"required":["o","r"],"$schema":"http://json-schema.org/draft-07/schema#"});
        assert_eq!(
            serde_json::to_string(&to_model_schema(&schema)).unwrap(),
            serde_json::to_string(&expected).unwrap()
        );
    }

    /// As zod-to-json-schema prints json-schema-to-zod's zod types (checked in node).
    #[test]
    fn constraint_keywords_in_zod_order() {
        let schema = json!({"type":"object","properties":{"s":{"maxLength":4,"minLength":1,"pattern":"^x","format":"email","type":"string","title":"T"},"h":{"type":"string","format":"hostname"},"n":{"maximum":5,"minimum":1,"multipleOf":2,"type":"integer"},"x":{"type":"number","exclusiveMinimum":0,"exclusiveMaximum":9},"y":{"type":"number","multipleOf":1},"a":{"maxItems":3,"minItems":1,"uniqueItems":true,"type":"array","items":{"type":"string"}}}});
        assert_eq!(
            serde_json::to_string(&roundtrip(&schema)["properties"]).unwrap(),
            r#"{"s":{"type":"string","format":"email","pattern":"^x","minLength":1,"maxLength":4},"h":{"type":"string"},"n":{"type":"integer","multipleOf":2,"minimum":1,"maximum":5},"x":{"type":"number","exclusiveMinimum":0,"exclusiveMaximum":9},"y":{"type":"integer"},"a":{"type":"array","items":{"type":"string"},"minItems":1,"maxItems":3}}"#
        );
    }

    #[test]
    fn no_required_is_appended_last() {
        let schema = json!({"type":"object","properties":{"u":{"anyOf":[{"type":"string"},{"type":"null"}]}}});
        assert_eq!(
            serde_json::to_string(&to_model_schema(&schema)).unwrap(),
            r#"{"type":"object","additionalProperties":false,"properties":{"u":{"type":"string"}},"$schema":"http://json-schema.org/draft-07/schema#","required":[]}"#
        );
    }

    #[test]
    fn validation_is_passthrough() {
        let schema = json!({"type":"object","properties":{"a":{"type":"string"}},"required":["a"],"additionalProperties":false});
        assert!(validate(&schema, &json!({"a": "x", "extra": 1})).is_ok());
        let error = validate(&schema, &json!({"b": 1})).unwrap_err();
        assert_eq!(error, "a: Required");
    }

    #[test]
    fn parsed_values_follow_zod() {
        let schema = json!({"type": "object", "properties": {
            "b": {"type": "string", "default": "x"},
            "a": {"type": "array", "items": {"type": "object", "properties": {"k": {"type": "string"}}}},
            "free": {"type": "object", "properties": {"k": {"type": "string"}}, "additionalProperties": true}
        }});
        let value =
            json!({"extra": 1, "a": [{"k": "v", "drop": 2}], "free": {"keep": 3, "k": "v"}});
        // Schema order first; the top level keeps other keys, nested objects drop them unless
        // `additionalProperties` allows them; a default fills an absent property.
        assert_eq!(
            zod_parse(&schema, value).to_string(),
            r#"{"b":"x","a":[{"k":"v"}],"free":{"k":"v","keep":3},"extra":1}"#
        );
    }

    #[test]
    fn untyped_properties_are_never_required() {
        let schema = json!({"type": "object", "properties": {
            "theme": {"$ref": "./theme.yaml", "description": "d"},
            "name": {"type": "string"}
        }, "required": ["theme", "name"]});
        assert_eq!(to_model_schema(&schema)["required"], json!(["name"]));
        assert!(validate(&schema, &json!({"name": "n"})).is_ok());
        assert!(validate(&schema, &json!({"theme": 1})).is_err());
    }
}
