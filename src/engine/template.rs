//! Instruction templates with Nunjucks semantics (AIGNE `prompt/template.ts`), on minijinja.
//!
//! What matches Nunjucks as AIGNE configures it:
//! - `{{ a.b }}`, `{{ a["b"] }}`, `{% if %}/{% elif %}/{% else %}`, `{% for %}` (with `loop.*`),
//!   `{% set %}`, `{% include "path" %}` (relative to the including file; the root template's
//!   folder is the instruction file's, or the agent file's for inline text), comments, whitespace
//!   control (`{%-`, `-%}`), and the usual filters (`length`, `join`, `upper`, `default`, …).
//! - Undefined variables and attributes of undefined values render as empty (no error).
//! - `null`/undefined render as empty; objects and arrays render as compact JSON (AIGNE overrides
//!   `suppressValue`); no HTML escaping; a trailing newline is kept.
//! - Filters `yaml.stringify` (YAML as npm `yaml` prints it), `json.stringify(replacer, indent)`
//!   and `dump`. Dotted filter names are rewritten to `yaml_stringify`/`json_stringify` before
//!   parsing (also in included files).
//! - A template that renders to the empty string is an error (`Failed to render template`).
//!
//! Not supported (documented in `docs/native-engine.md`): `$afs` and `$agent` variables (names
//! starting with `$`), JS method calls on values (`name.toUpperCase()`), `tson.stringify`,
//! `{% for k, v in object %}` over a mapping (use `object|items`), `{% macro %}`/`{% import %}`
//! across files with Nunjucks-only syntax, `{% extends %}` blocks from files with Nunjucks-only
//! syntax, and Nunjucks-only filters (`dump` is provided; others like `selectattr` follow
//! minijinja semantics).

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use minijinja::value::{Value as TemplateValue, ValueKind};
use minijinja::{AutoEscape, Environment, Error as TemplateError, ErrorKind, UndefinedBehavior};
use regex::Regex;
use serde_json::Value;

use super::yaml::to_yaml_string;

/// A template failed to render; the message names the template file and line when known.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderError {
    /// The file the template came from.
    pub path: PathBuf,
    /// The line in that file (for errors inside included files, the include's file).
    pub line: Option<usize>,
    /// What went wrong.
    pub message: String,
}

impl std::fmt::Display for RenderError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}", self.message)
    }
}

static DOTTED_FILTER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\|\s*(yaml|json|tson)\.stringify").unwrap_or_else(|_| unreachable!())
});

/// Rewrites Nunjucks-only syntax that minijinja cannot parse.
fn preprocess(source: &str) -> String {
    DOTTED_FILTER
        .replace_all(source, "| ${1}_stringify")
        .into_owned()
}

/// Renders `source` (which came from `path`) with `variables`.
pub fn render(source: &str, path: &Path, variables: &Value) -> Result<String, RenderError> {
    let mut environment = Environment::new();
    environment.set_undefined_behavior(UndefinedBehavior::Chainable);
    environment.set_keep_trailing_newline(true);
    environment.set_auto_escape_callback(|_| AutoEscape::None);
    environment.set_formatter(format_value);
    environment.set_path_join_callback(|name, parent| {
        let name_path = Path::new(name);
        if name_path.is_absolute() {
            return name.to_owned().into();
        }
        let base = Path::new(parent).parent().unwrap_or(Path::new("."));
        base.join(name_path).to_string_lossy().into_owned().into()
    });
    environment.set_loader(|name| match fs_err::read_to_string(name) {
        Ok(text) => Ok(Some(preprocess(&text))),
        Err(error) => Err(TemplateError::new(
            ErrorKind::TemplateNotFound,
            format!("cannot read `{name}`: {error}"),
        )),
    });
    environment.add_filter(
        "yaml_stringify",
        |value: TemplateValue| -> Result<String, TemplateError> {
            let json = to_json(&value)?;
            Ok(to_yaml_string(&json))
        },
    );
    environment.add_filter(
        "tson_stringify",
        |_value: TemplateValue| -> Result<String, TemplateError> {
            Err(TemplateError::new(
                ErrorKind::InvalidOperation,
                "the `tson.stringify` filter is not supported by the native engine",
            ))
        },
    );
    environment.add_filter("json_stringify", json_stringify);
    environment.add_filter("dump", json_stringify);
    let name = path.to_string_lossy().into_owned();
    let source = preprocess(source);
    let error = |error: TemplateError| RenderError {
        path: error
            .name()
            .map(PathBuf::from)
            .unwrap_or_else(|| path.to_path_buf()),
        line: error.line(),
        message: describe(&error),
    };
    let template = environment
        .template_from_named_str(&name, &source)
        .map_err(error)?;
    let rendered = template.render(variables).map_err(error)?;
    if rendered.is_empty() {
        return Err(RenderError {
            path: path.to_path_buf(),
            line: None,
            message: format!("Failed to render template: {}", excerpt(source.as_str())),
        });
    }
    Ok(rendered)
}

fn excerpt(text: &str) -> String {
    let mut short: String = text.chars().take(80).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}

fn describe(error: &TemplateError) -> String {
    let mut message = error
        .detail()
        .map_or_else(|| error.kind().to_string(), str::to_owned);
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        message.push_str(": ");
        message.push_str(&inner.to_string());
        source = inner.source();
    }
    message
}

fn to_json(value: &TemplateValue) -> Result<Value, TemplateError> {
    serde_json::to_value(value).map_err(|error| {
        TemplateError::new(
            ErrorKind::InvalidOperation,
            format!("cannot serialise value: {error}"),
        )
    })
}

/// `json.stringify(value, replacer?, indent?)`: `JSON.stringify` with an optional indent.
fn json_stringify(
    value: TemplateValue,
    args: minijinja::value::Rest<TemplateValue>,
) -> Result<String, TemplateError> {
    if value.is_undefined() {
        // JSON.stringify(undefined) is undefined, which renders as empty.
        return Ok(String::new());
    }
    let json = to_json(&value)?;
    let indent = args.get(1).and_then(|indent| {
        if let Ok(count) = i64::try_from(indent.clone()) {
            Some(" ".repeat(count.clamp(0, 10) as usize))
        } else {
            indent.as_str().map(|s| s.chars().take(10).collect())
        }
    });
    Ok(match indent {
        Some(indent) if !indent.is_empty() => js_pretty(&json, &indent),
        _ => js_compact(&json),
    })
}

/// `JSON.stringify(value)`.
pub fn js_compact(value: &Value) -> String {
    let mut out = String::new();
    write_json(value, None, 0, &mut out);
    out
}

/// `JSON.stringify(value, null, indent)`.
pub fn js_pretty(value: &Value, indent: &str) -> String {
    let mut out = String::new();
    write_json(value, Some(indent), 0, &mut out);
    out
}

fn write_json(value: &Value, indent: Option<&str>, depth: usize, out: &mut String) {
    let newline = |out: &mut String, depth: usize| {
        if let Some(indent) = indent {
            out.push('\n');
            for _ in 0..depth {
                out.push_str(indent);
            }
        }
    };
    match value {
        Value::Number(number) => out.push_str(&js_number(number)),
        Value::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                newline(out, depth + 1);
                write_json(item, indent, depth + 1, out);
            }
            newline(out, depth);
            out.push(']');
        }
        Value::Object(map) => {
            if map.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push('{');
            for (index, (key, item)) in map.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                newline(out, depth + 1);
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                if indent.is_some() {
                    out.push(' ');
                }
                write_json(item, indent, depth + 1, out);
            }
            newline(out, depth);
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// A number as JavaScript prints it (`1.0` → `1`).
pub fn js_number(number: &serde_json::Number) -> String {
    if let Some(float) = number.as_f64()
        && number.is_f64()
    {
        if float.fract() == 0.0 && float.abs() < 1e21 {
            return format!("{}", float as i64);
        }
        return format!("{float}");
    }
    number.to_string()
}

fn format_value(
    out: &mut minijinja::Output<'_>,
    _state: &minijinja::State<'_, '_>,
    value: &TemplateValue,
) -> Result<(), TemplateError> {
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => Ok(()),
        ValueKind::Map | ValueKind::Seq | ValueKind::Iterable | ValueKind::Plain => {
            let json = to_json(value)?;
            write_str(out, &js_compact(&json))
        }
        ValueKind::Bool => write_str(out, if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => {
            let json = to_json(value)?;
            match json {
                Value::Number(number) => write_str(out, &js_number(&number)),
                other => write_str(out, &other.to_string()),
            }
        }
        _ => {
            if let Some(text) = value.as_str() {
                write_str(out, text)
            } else {
                write_str(out, &value.to_string())
            }
        }
    }
}

fn write_str(out: &mut minijinja::Output<'_>, text: &str) -> Result<(), TemplateError> {
    out.write_str(text)
        .map_err(|error| TemplateError::new(ErrorKind::WriteFailure, error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render_str(source: &str, variables: Value) -> Result<String, RenderError> {
        render(source, Path::new("/nowhere/agent.yaml"), &variables)
    }

    #[test]
    fn variables_null_objects_and_numbers() {
        let variables =
            json!({"a": {"b": "x"}, "n": null, "o": {"k": [1, 2]}, "f": 1.0, "t": true});
        assert_eq!(
            render_str(
                "{{ a.b }}|{{ n }}|{{ missing.deep }}|{{ o }}|{{ f }}|{{ t }}",
                variables
            )
            .unwrap(),
            "x|||{\"k\":[1,2]}|1|true"
        );
    }

    #[test]
    fn control_flow_and_set() {
        let source = "{% set greeting = 'hi' %}{% if x > 2 %}big{% elif x > 1 %}mid{% else %}small{% endif %} {% for i in items %}{{ loop.index }}{{ i }}{% endfor %} {{ greeting }}\n";
        assert_eq!(
            render_str(source, json!({"x": 2, "items": ["a", "b"]})).unwrap(),
            "mid 1a2b hi\n"
        );
    }

    /// Objects keep their keys in input order, inside arrays too, as `JSON.stringify` prints
    /// them (checked against the official runtime).
    #[test]
    fn objects_keep_input_key_order() {
        let variables = json!({"o": {"z": 1, "a": 2}, "list": [{"b": 1, "a": {"y": 1, "x": 2}}]});
        assert_eq!(
            render_str("{{ o }} {{ list }} {{ list | json.stringify }} {% for i in list %}{{ i }}{% endfor %}", variables).unwrap(),
            r#"{"z":1,"a":2} [{"b":1,"a":{"y":1,"x":2}}] [{"b":1,"a":{"y":1,"x":2}}] {"b":1,"a":{"y":1,"x":2}}"#
        );
    }

    #[test]
    fn no_html_escaping() {
        assert_eq!(render_str("{{ s }}", json!({"s": "<b>&"})).unwrap(), "<b>&");
    }

    #[test]
    fn dotted_filters() {
        let variables = json!({"o": {"a": 1, "b": ["x", "y"]}});
        assert_eq!(
            render_str("{{ o | yaml.stringify }}", variables.clone()).unwrap(),
            "a: 1\nb:\n  - x\n  - y\n"
        );
        assert_eq!(
            render_str("{{ o | json.stringify }}", variables.clone()).unwrap(),
            "{\"a\":1,\"b\":[\"x\",\"y\"]}"
        );
        assert_eq!(
            render_str("{{ o|json.stringify(null, 2) }}", variables).unwrap(),
            "{\n  \"a\": 1,\n  \"b\": [\n    \"x\",\n    \"y\"\n  ]\n}"
        );
    }

    #[test]
    fn empty_render_is_an_error() {
        let error = render_str("{{ nothing }}", json!({})).unwrap_err();
        assert!(
            error.message.starts_with("Failed to render template"),
            "{error:?}"
        );
    }

    #[test]
    fn include_is_relative_to_the_including_file() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::create_dir_all(dir.path().join("prompts/nested")).unwrap();
        fs_err::write(
            dir.path().join("prompts/a.md"),
            "A {% include \"./nested/b.md\" %}",
        )
        .unwrap();
        fs_err::write(
            dir.path().join("prompts/nested/b.md"),
            "B {{ x }} {% include \"c.md\" %}",
        )
        .unwrap();
        fs_err::write(dir.path().join("prompts/nested/c.md"), "C").unwrap();
        let agent = dir.path().join("agent.yaml");
        let rendered = render("{% include \"prompts/a.md\" %}!", &agent, &json!({"x": 1})).unwrap();
        assert_eq!(rendered, "A B 1 C!");
    }

    #[test]
    fn missing_include_names_the_file() {
        let error = render_str("{% include \"nope.md\" %}", json!({})).unwrap_err();
        assert!(error.message.contains("nope.md"), "{error:?}");
    }
}
