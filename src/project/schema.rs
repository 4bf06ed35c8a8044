//! `input_schema` / `output_schema` loading (AIGNE `loader/schema.ts` `inputOutputSchema`):
//! the top level must be an object schema (only `type`, `properties`, `required`,
//! `additionalProperties` are kept); a string is a path to a schema file; inside `properties`
//! (through nested `properties` and `items`) a string is a path to a schema file that is inlined.
//! (quirk) nested paths resolve against the agent file's folder, even inside external files.

use std::path::Path;

use serde_json::{Map, Value};

use super::error::{Location, ProjectError};
use super::files::FileAccess;
use super::yaml::parse_yaml;

/// Loads a schema value of an agent file at `agent_path`, named at `reference`. Schema files are
/// read through `files`; a schema of the wrong shape is `invalid(message)`.
pub(super) fn load_io_schema(
    files: &FileAccess,
    agent_path: &Path,
    reference: &Location,
    value: &Value,
    invalid: &dyn Fn(String) -> ProjectError,
) -> Result<Value, ProjectError> {
    let base = agent_path.parent().unwrap_or(Path::new("."));
    let object = match value {
        Value::String(relative) => {
            let file = base.join(relative);
            let text = files.read_text(&file, Some(reference))?;
            parse_yaml(&file, &text)?
        }
        other => other.clone(),
    };
    let Value::Object(map) = object else {
        return Err(invalid(
            "expected a JSON schema object with `type: object` and `properties`".to_owned(),
        ));
    };
    check_top_level(&map).map_err(invalid)?;
    let mut top = Map::new();
    for key in ["type", "properties", "required", "additionalProperties"] {
        if let Some(value) = map.get(key) {
            top.insert(key.to_owned(), value.clone());
        }
    }
    let schema_files = SchemaFiles {
        files,
        base,
        reference,
        invalid,
    };
    schema_files.include_external(Value::Object(top), 0)
}

/// The top level must be an object schema with `properties`.
fn check_top_level(map: &Map<String, Value>) -> Result<(), String> {
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
    Ok(())
}

/// Where nested schema files resolve and how they are read.
struct SchemaFiles<'a> {
    files: &'a FileAccess,
    base: &'a Path,
    reference: &'a Location,
    invalid: &'a dyn Fn(String) -> ProjectError,
}

impl SchemaFiles<'_> {
    fn include_external(&self, schema: Value, depth: usize) -> Result<Value, ProjectError> {
        if depth > 64 {
            return Err((self.invalid)(
                "schema file references nest too deep (a cycle?)".to_owned(),
            ));
        }
        let base = self.base;
        match schema {
            Value::String(relative) => {
                let file = base.join(&relative);
                let text = self.files.read_text(&file, Some(self.reference))?;
                let parsed = parse_yaml(&file, &text)?;
                if !parsed.get("type").is_some_and(Value::is_string) {
                    return Err((self.invalid)(format!(
                        "schema file `{}` must be an object with a `type`",
                        file.display()
                    )));
                }
                self.include_external(parsed, depth + 1)
            }
            Value::Object(mut map) => {
                let kind = map.get("type").and_then(Value::as_str).map(str::to_owned);
                match kind.as_deref() {
                    Some("object") => {
                        if let Some(Value::Object(properties)) = map.get("properties").cloned() {
                            let mut out = Map::new();
                            for (key, value) in properties {
                                out.insert(key, self.include_external(value, depth + 1)?);
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
                                self.include_external(items, depth + 1)?,
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
}
