//! Reading project files: YAML (npm `yaml` v2 semantics, YAML 1.2) → JSON values, AIGNE's key
//! camelizing (`utils/camelize.ts`), and finding the line of a key for error messages.

use std::path::Path;

use serde_json::{Map, Number, Value};

use super::error::{Location, ProjectError};
use super::files::FileAccess;

/// A parsed file: its text (for line lookups) and its value.
#[derive(Debug, Clone)]
pub(super) struct YamlFile {
    /// The raw text.
    pub text: String,
    /// The parsed document (`null` for an empty file).
    pub value: Value,
}

/// Reads and parses a YAML (or JSON) file the project names at `reference` (`None`: the
/// project file itself), through `files` (confined, regular, capped).
pub(super) fn read_yaml(
    files: &FileAccess,
    path: &Path,
    reference: Option<&Location>,
) -> Result<YamlFile, ProjectError> {
    let text = files.read_text(path, reference)?;
    let value = parse_yaml(path, &text)?;
    Ok(YamlFile { text, value })
}

/// Parses YAML text; errors carry the parser's line and column.
pub(super) fn parse_yaml(path: &Path, text: &str) -> Result<Value, ProjectError> {
    let parsed: serde_yaml_ng::Value = match serde_yaml_ng::from_str(text) {
        Ok(value) => value,
        Err(error) => {
            let location = error.location();
            return Err(ProjectError::Parse {
                location: Location {
                    path: path.to_path_buf(),
                    line: location.as_ref().map(|l| l.line()),
                    column: location.as_ref().map(|l| l.column()),
                },
                message: error.to_string(),
            });
        }
    };
    yaml_to_json(parsed).map_err(|message| ProjectError::Parse {
        location: Location::file(path),
        message,
    })
}

/// Converts a YAML value into JSON (non-string keys are written as text, as JS objects do).
pub(super) fn yaml_to_json(value: serde_yaml_ng::Value) -> Result<Value, String> {
    Ok(match value {
        serde_yaml_ng::Value::Null => Value::Null,
        serde_yaml_ng::Value::Bool(flag) => Value::Bool(flag),
        serde_yaml_ng::Value::Number(number) => {
            if let Some(int) = number.as_i64() {
                Value::Number(int.into())
            } else if let Some(int) = number.as_u64() {
                Value::Number(int.into())
            } else {
                let float = number.as_f64().unwrap_or(f64::NAN);
                // JSON has no NaN/Infinity; JS would keep them, but no agent key needs one.
                Number::from_f64(float).map_or(Value::Null, Value::Number)
            }
        }
        serde_yaml_ng::Value::String(text) => Value::String(text),
        serde_yaml_ng::Value::Sequence(items) => Value::Array(
            items
                .into_iter()
                .map(yaml_to_json)
                .collect::<Result<_, _>>()?,
        ),
        serde_yaml_ng::Value::Mapping(mapping) => {
            let mut map = Map::new();
            for (key, value) in mapping {
                let key = match key {
                    serde_yaml_ng::Value::String(text) => text,
                    serde_yaml_ng::Value::Bool(flag) => flag.to_string(),
                    serde_yaml_ng::Value::Number(number) => number.to_string(),
                    serde_yaml_ng::Value::Null => "null".to_owned(),
                    other => return Err(format!("unsupported mapping key `{other:?}`")),
                };
                map.insert(key, yaml_to_json(value)?);
            }
            Value::Object(map)
        }
        serde_yaml_ng::Value::Tagged(tagged) => yaml_to_json(tagged.value)?,
    })
}

/// AIGNE's `camelCase`: each `_x`, `-x`, `.x` → `X` (a trailing separator is dropped), then the
/// first character lower-cased.
pub fn camel_case(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut chars = key.chars().peekable();
    while let Some(c) = chars.next() {
        if matches!(c, '_' | '.' | '-') {
            match chars.peek().copied() {
                // `\w` = [A-Za-z0-9_]
                Some(next) if next.is_ascii_alphanumeric() || next == '_' => {
                    chars.next();
                    out.extend(next.to_uppercase());
                }
                None => {}
                Some(_) => out.push(c),
            }
        } else {
            out.push(c);
        }
    }
    let mut result = String::with_capacity(out.len());
    let mut iter = out.chars();
    if let Some(first) = iter.next() {
        result.extend(first.to_lowercase());
        result.extend(iter);
    }
    result
}

/// Shallow camelize of an object's keys (later keys win on collision, as in JS).
pub(super) fn camelize(map: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in map {
        out.insert(camel_case(key), value.clone());
    }
    out
}

/// The 1-based line of a key path (`["skills"]`, `["reflection", "reviewer"]`) in YAML text,
/// matching keys after camelizing. Best effort: `None` when not found.
pub(super) fn key_line(text: &str, path: &[&str]) -> Option<usize> {
    let mut parent_indent: Option<usize> = None;
    let mut segment = 0;
    for (index, line) in text.lines().enumerate() {
        if segment >= path.len() {
            break;
        }
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        if let Some(parent) = parent_indent
            && indent <= parent
            && !trimmed.starts_with("- ")
        {
            // Left the parent block without finding the key.
            return None;
        }
        let body = trimmed.trim_start_matches("- ");
        let Some((key, _)) = body.split_once(':') else {
            continue;
        };
        let key = key.trim().trim_matches(|c| c == '"' || c == '\'');
        if camel_case(key) == path[segment] || key == path[segment] {
            segment += 1;
            parent_indent = Some(indent);
            if segment == path.len() {
                return Some(index + 1);
            }
        }
    }
    None
}

/// The 1-based line, at or after `from`, where `value` is written (the line of a file reference
/// inside a list under a key); `from` when not found.
pub(super) fn value_line(text: &str, from: Option<usize>, value: &str) -> Option<usize> {
    let start = from.unwrap_or(1);
    text.lines()
        .enumerate()
        .skip(start.saturating_sub(1))
        .find(|(_, line)| !value.is_empty() && line.contains(value))
        .map(|(index, _)| index + 1)
        .or(from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_case_matches_aigne() {
        assert_eq!(camel_case("input_key"), "inputKey");
        assert_eq!(
            camel_case("iterate-with-previous-output"),
            "iterateWithPreviousOutput"
        );
        assert_eq!(camel_case("a.b"), "aB");
        assert_eq!(camel_case("InputKey"), "inputKey");
        assert_eq!(camel_case("trailing_"), "trailing");
        assert_eq!(camel_case("share_afs"), "shareAfs");
        assert_eq!(camel_case("alreadyCamel"), "alreadyCamel");
    }

    #[test]
    fn key_lines() {
        let text = "name: x\n# c\ninput_schema:\n  type: object\nreflection:\n  reviewer: r.yaml\n";
        assert_eq!(key_line(text, &["inputSchema"]), Some(3));
        assert_eq!(key_line(text, &["reflection", "reviewer"]), Some(6));
        assert_eq!(key_line(text, &["missing"]), None);
    }

    #[test]
    fn parse_error_has_line() {
        let error = parse_yaml(Path::new("a.yaml"), "a: 1\nb: [\n").unwrap_err();
        match error {
            ProjectError::Parse { location, .. } => assert!(location.line.is_some()),
            other => panic!("{other:?}"),
        }
    }
}
