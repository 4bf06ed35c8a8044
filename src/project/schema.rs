//! `input_schema` / `output_schema` loading (AIGNE `loader/schema.ts` `inputOutputSchema`):
//! the top level must be an object schema (only `type`, `properties`, `required`,
//! `additionalProperties` are kept); a string is a path to a schema file; inside `properties`
//! (through nested `properties` and `items`) a string is a path to a schema file that is inlined.
//! (quirk) nested paths resolve against the agent file's folder, even inside external files.

use std::path::Path;

use serde_json::{Map, Value};

use super::yaml::{parse_yaml, read_text};

/// Loads a schema value of an agent file at `agent_path`. Errors are messages; the caller
/// adds the location.
pub(super) fn load_io_schema(agent_path: &Path, value: &Value) -> Result<Value, String> {
    let base = agent_path.parent().unwrap_or(Path::new("."));
    let object = match value {
        Value::String(relative) => {
            let file = base.join(relative);
            let text = read_text(&file).map_err(|error| error.to_string())?;
            parse_yaml(&file, &text).map_err(|error| error.to_string())?
        }
        other => other.clone(),
    };
    let Value::Object(map) = object else {
        return Err(
            "expected a JSON schema object with `type: object` and `properties`".to_owned(),
        );
    };
    if map.get("type").and_then(Value::as_str) != Some("object") {
        return Err("the schema's `type` must be `object`".to_owned());
    }
    let Some(Value::Object(_)) = map.get("properties") else {
        return Err("the schema needs `properties` (an object)".to_owned());
    };
    if let Some(required) = map.get("required")
        && !required
            .as_array()
            .is_some_and(|items| items.iter().all(Value::is_string))
    {
        return Err("`required` must be a list of strings".to_owned());
    }
    if let Some(additional) = map.get("additionalProperties")
        && !additional.is_boolean()
    {
        return Err("`additionalProperties` must be a boolean".to_owned());
    }
    let mut top = Map::new();
    for key in ["type", "properties", "required", "additionalProperties"] {
        if let Some(value) = map.get(key) {
            top.insert(key.to_owned(), value.clone());
        }
    }
    include_external(base, Value::Object(top), 0)
}

fn include_external(base: &Path, schema: Value, depth: usize) -> Result<Value, String> {
    if depth > 64 {
        return Err("schema file references nest too deep (a cycle?)".to_owned());
    }
    match schema {
        Value::String(relative) => {
            let file = base.join(&relative);
            let text = read_text(&file).map_err(|error| error.to_string())?;
            let parsed = parse_yaml(&file, &text).map_err(|error| error.to_string())?;
            if !parsed.get("type").is_some_and(Value::is_string) {
                return Err(format!(
                    "schema file `{}` must be an object with a `type`",
                    file.display()
                ));
            }
            include_external(base, parsed, depth + 1)
        }
        Value::Object(mut map) => {
            let kind = map.get("type").and_then(Value::as_str).map(str::to_owned);
            match kind.as_deref() {
                Some("object") => {
                    if let Some(Value::Object(properties)) = map.get("properties").cloned() {
                        let mut out = Map::new();
                        for (key, value) in properties {
                            out.insert(key, include_external(base, value, depth + 1)?);
                        }
                        map.insert("properties".to_owned(), Value::Object(out));
                    }
                }
                Some("array") => {
                    if let Some(items) = map.get("items").cloned()
                        && !items.is_null()
                    {
                        map.insert(
                            "items".to_owned(),
                            include_external(base, items, depth + 1)?,
                        );
                    }
                }
                _ => {}
            }
            Ok(Value::Object(map))
        }
        other => Ok(other),
    }
}
