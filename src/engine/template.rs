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
use crate::project::FileAccess;
use crate::zod::js_string;

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

/// Nunjucks' async tags (`{% ifAsync %}`, `{% asyncEach %}`, `{% asyncAll %}` and their ends)
/// and `elseif`: with synchronous values they render as `if`/`for`/`elif` do.
static ASYNC_TAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(\{%-?\s*)(ifAsync|asyncEach|asyncAll|elseif|endeach|endall)\b")
        .unwrap_or_else(|_| unreachable!())
});

/// Rewrites Nunjucks-only syntax that minijinja cannot parse.
fn preprocess(source: &str) -> String {
    let source = DOTTED_FILTER.replace_all(source, "| ${1}_stringify");
    let source = ASYNC_TAG.replace_all(&source, |captures: &regex::Captures<'_>| {
        let tag = match &captures[2] {
            "ifAsync" => "if",
            "asyncEach" | "asyncAll" => "for",
            "elseif" => "elif",
            _ => "endfor",
        };
        format!("{}{tag}", &captures[1])
    });
    rewrite_length(&source)
}

/// Nunjucks looks attributes up as JavaScript does, so `items.length` and `name.length` are an
/// array's or a string's length (real prompts write `{% if items.length %}`); minijinja has no
/// such attribute. Inside `{{ … }}` and `{% … %}` (outside string literals, comments and
/// `{% raw %}` blocks), `.length` after a value becomes the `js_length` filter, which reads the
/// length as JavaScript does. A hand-written scan: minijinja exposes no AST to rewrite, and a
/// regular expression cannot tell a string literal from an expression.
fn rewrite_length(source: &str) -> String {
    const ATTRIBUTE: &str = ".length";
    let bytes = source.as_bytes();
    let mut out = String::with_capacity(source.len());
    let mut index = 0;
    let mut in_raw = false;
    while index < bytes.len() {
        let rest = &source[index..];
        let opener = if rest.starts_with("{{") {
            Some("}}")
        } else if rest.starts_with("{%") {
            Some("%}")
        } else if rest.starts_with("{#") {
            Some("#}")
        } else {
            None
        };
        let Some(closer) = opener else {
            let next = rest.find('{').map_or(rest.len(), |at| at.max(1));
            out.push_str(&rest[..next]);
            index += next;
            continue;
        };
        // The block up to its closer (outside string literals).
        let mut end = index + 2;
        let mut quote: Option<u8> = None;
        while end < bytes.len() {
            let byte = bytes[end];
            match quote {
                Some(_) if byte == b'\\' => end += 1,
                Some(q) if byte == q => quote = None,
                Some(_) => {}
                None if closer != "#}" && (byte == b'"' || byte == b'\'') => quote = Some(byte),
                None if source[end..].starts_with(closer) => break,
                None => {}
            }
            end += 1;
        }
        let block_end = (end + 2).min(bytes.len());
        let block = &source[index..block_end];
        let tag = block
            .trim_start_matches(['{', '%', '-', '+'])
            .trim_start()
            .split(|c: char| !c.is_ascii_alphanumeric())
            .next()
            .unwrap_or("");
        if closer == "%}" && tag == "raw" {
            in_raw = true;
        } else if closer == "%}" && tag == "endraw" {
            in_raw = false;
        }
        if closer == "#}" || in_raw || tag == "raw" {
            out.push_str(block);
            index = block_end;
            continue;
        }
        let block_bytes = block.as_bytes();
        let mut position = 0;
        let mut quote: Option<u8> = None;
        while position < block.len() {
            let byte = block_bytes[position];
            match quote {
                Some(_) if byte == b'\\' => {
                    out.push_str(&block[position..(position + 2).min(block.len())]);
                    position += 2;
                    continue;
                }
                Some(q) if byte == q => quote = None,
                Some(_) => {}
                None if byte == b'"' || byte == b'\'' => quote = Some(byte),
                None if block[position..].starts_with(ATTRIBUTE) => {
                    let before = block_bytes.get(position.wrapping_sub(1)).copied();
                    let after = block_bytes.get(position + ATTRIBUTE.len()).copied();
                    let after_value = before.is_some_and(|c| {
                        c.is_ascii_alphanumeric() || c == b'_' || c == b')' || c == b']'
                    });
                    let whole_word = !after.is_some_and(|c| {
                        c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c == b'('
                    });
                    if after_value && whole_word {
                        out.push_str("|js_length");
                        position += ATTRIBUTE.len();
                        continue;
                    }
                }
                None => {}
            }
            let width = block[position..].chars().next().map_or(1, char::len_utf8);
            out.push_str(&block[position..position + width]);
            position += width;
        }
        index = block_end;
    }
    out
}

/// `value.length` as JavaScript reads it: an array's item count, a string's length in UTF-16
/// units, an object's `length` key; undefined for anything else.
fn js_length(value: TemplateValue) -> TemplateValue {
    match value.kind() {
        ValueKind::Seq | ValueKind::Iterable => value
            .len()
            .map_or(TemplateValue::UNDEFINED, TemplateValue::from),
        ValueKind::String => value.as_str().map_or(TemplateValue::UNDEFINED, |text| {
            TemplateValue::from(text.encode_utf16().count())
        }),
        ValueKind::Map => value.get_attr("length").unwrap_or(TemplateValue::UNDEFINED),
        _ => TemplateValue::UNDEFINED,
    }
}

/// Nunjucks' `join(array, separator = "", attribute?)`: JavaScript's `Array.join`, which prints
/// each item as `String(item)` does (`null` as nothing, an object as `[object Object]`, an array
/// joined by commas). Anything but an array is Nunjucks' TypeError.
fn js_join(
    value: TemplateValue,
    separator: Option<TemplateValue>,
    attribute: Option<TemplateValue>,
) -> Result<String, TemplateError> {
    if !matches!(value.kind(), ValueKind::Seq | ValueKind::Iterable) {
        let what = match value.kind() {
            ValueKind::Undefined => "Cannot read properties of undefined (reading 'join')",
            ValueKind::None => "Cannot read properties of null (reading 'join')",
            _ => "arr.join is not a function",
        };
        return Err(TemplateError::new(ErrorKind::InvalidOperation, what));
    }
    let separator = match &separator {
        Some(separator) if !separator.is_undefined() && !separator.is_none() => {
            match separator.as_str() {
                Some(text) => text.to_owned(),
                None => js_string(&to_json(separator)?),
            }
        }
        _ => String::new(),
    };
    let mut parts = Vec::new();
    for item in value.try_iter()? {
        let item = match &attribute {
            Some(attribute) if attribute.is_true() => item.get_item(attribute)?,
            _ => item,
        };
        parts.push(match item.kind() {
            ValueKind::Undefined | ValueKind::None => String::new(),
            _ => js_string(&to_json(&item)?),
        });
    }
    Ok(parts.join(&separator))
}

/// Whether the native renderer runs a template construct as Nunjucks does (`tag NAME`,
/// `filter NAME`, `variable $NAME`, `method call .NAME()`, as `project::Feature::TemplateSyntax`
/// names them): AIGNE's filters, Nunjucks' async tags and the tags and filters minijinja
/// shares with Nunjucks. Everything else (`tson.stringify`, `$afs`, JavaScript method calls,
/// Nunjucks-only filters) is left to the node engine.
pub fn supports(construct: &str) -> bool {
    const TAGS: &[&str] = &[
        "ifAsync",
        "elseif",
        "asyncEach",
        "endeach",
        "asyncAll",
        "endall",
        "raw",
        "endraw",
        "macro",
        "endmacro",
        "call",
        "endcall",
        "filter",
        "endfilter",
        "import",
        "from",
        "extends",
        "block",
        "endblock",
    ];
    const FILTERS: &[&str] = &[
        "yaml.stringify",
        "json.stringify",
        "dump",
        "abs",
        "batch",
        "capitalize",
        "default",
        "d",
        "dictsort",
        "escape",
        "e",
        "first",
        "float",
        "indent",
        "int",
        "join",
        "last",
        "length",
        "list",
        "lower",
        "reject",
        "rejectattr",
        "replace",
        "reverse",
        "round",
        "safe",
        "select",
        "selectattr",
        "slice",
        "sort",
        "string",
        "sum",
        "title",
        "trim",
        "upper",
        "urlencode",
        "items",
    ];
    if let Some(tag) = construct.strip_prefix("tag ") {
        return TAGS.contains(&tag);
    }
    if let Some(filter) = construct.strip_prefix("filter ") {
        return FILTERS.contains(&filter);
    }
    false
}

/// Renders `source` (which came from `path`) with `variables`; included files are read through
/// `files` (inside the project, regular, capped).
pub fn render(
    source: &str,
    path: &Path,
    variables: &Value,
    files: &FileAccess,
) -> Result<String, RenderError> {
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
    set_confined_loader(&mut environment, files.clone());
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
    environment.add_filter("dump", dump);
    environment.add_filter("js_length", js_length);
    environment.add_filter("join", js_join);
    // Nunjucks reads `null` as a literal (minijinja knows only `none`).
    environment.add_global("null", TemplateValue::from(()));
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

/// The trust boundary of templates: an included file is read only through `files`, so it
/// resolves (symlinks followed) inside the project or an `--allow-read` folder and is a regular
/// file within the size cap. The error names the target; minijinja adds the including file and
/// line.
fn set_confined_loader(environment: &mut Environment<'_>, files: FileAccess) {
    environment.set_loader(
        move |name| match files.read_text_unlocated(Path::new(name)) {
            Ok(text) => Ok(Some(preprocess(&text))),
            // A missing file keeps minijinja's "non-existing template" handling
            // (`ignore missing`); every other problem stops the render.
            Err(crate::project::FileProblem::Io(error))
                if error.kind() == std::io::ErrorKind::NotFound =>
            {
                Ok(None)
            }
            Err(problem) => Err(TemplateError::new(
                ErrorKind::InvalidOperation,
                format!("`{name}` {problem}"),
            )),
        },
    );
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

/// Nunjucks' `dump(value, spaces?)`: `JSON.stringify(value, null, spaces)`.
fn dump(value: TemplateValue, spaces: Option<TemplateValue>) -> Result<String, TemplateError> {
    let mut args = vec![TemplateValue::from(())];
    args.extend(spaces);
    json_stringify(value, minijinja::value::Rest(args))
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

/// A number as JavaScript prints it (`1.0` → `1`, `1e21` → `1e+21`).
pub fn js_number(number: &serde_json::Number) -> String {
    crate::zod::js_json_number(number)
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
    use crate::project::LoadSettings;
    use serde_json::json;

    fn render_str(source: &str, variables: Value) -> Result<String, RenderError> {
        let files = FileAccess::new(&std::env::temp_dir(), &LoadSettings::default()).unwrap();
        render(source, Path::new("/nowhere/agent.yaml"), &variables, &files)
    }

    /// As the official runtime's Nunjucks renders them (checked with `PromptTemplate.format`).
    #[test]
    fn null_literal_and_javascript_join() {
        let variables =
            json!({"tags": ["a", null, 1, [2, 3], true, 0.5], "items": [{"a": 1}, {"b": 2}]});
        assert_eq!(
            render_str(
                "[{{ null }}][{{ null | dump }}][{{ none | dump }}][{{ tags | join(',') }}][{{ tags | join }}][{{ items | join('-') }}][{{ items | join('-', 'a') }}]",
                variables
            )
            .unwrap(),
            "[][null][null][a,,1,2,3,true,0.5][a12,3true0.5][[object Object]-[object Object]][1-]"
        );
        let error = render_str("{{ missing | join(',') }}", json!({})).unwrap_err();
        assert!(
            error.message.contains("reading 'join'"),
            "{}",
            error.message
        );
    }

    /// `String(x)` in node for each value.
    #[test]
    fn numbers_print_as_javascript_prints_them() {
        for (float, text) in [
            (1e21, "1e+21"),
            (1.5e21, "1.5e+21"),
            (123456789012345680000.0, "123456789012345680000"),
            (1e-7, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (0.000001, "0.000001"),
            (0.1 + 0.2, "0.30000000000000004"),
            (100.0, "100"),
            (-2.5, "-2.5"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (12345.678, "12345.678"),
        ] {
            assert_eq!(crate::zod::js_float(float), text);
        }
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

    /// Nunjucks' async tags render as their synchronous forms (as AIGNE's Nunjucks renders
    /// them with plain values); checked against the official runtime in the corpus.
    #[test]
    fn async_tags() {
        let source = "{% ifAsync kind == 'a' %}A{% elseif kind == 'b' %}B{% else %}C{% endif %}|{%- asyncEach i in items %}{{ i }}{% endeach %}|{% asyncAll i in items %}{{ i }}{% endall %}";
        assert_eq!(
            render_str(source, json!({"kind": "b", "items": [1, 2]})).unwrap(),
            "B|12|12"
        );
        assert!(supports("tag ifAsync") && supports("filter yaml.stringify"));
        assert!(!supports("filter tson.stringify") && !supports("variable $afs"));
        assert!(!supports("method call .toUpperCase()") && !supports("filter wordcount"));
    }

    /// `.length` reads as JavaScript reads it (checked against the official runtime in the
    /// `corpus-fidelity` project); string literals, comments and raw blocks are left alone.
    #[test]
    fn javascript_length() {
        let variables =
            json!({"items": [{"a": 1}, {"b": 2}], "name": "Adé", "obj": {"length": 7}, "n": 3});
        let source = "{{ items.length }} {{ name.length }} {{ obj.length }} [{{ n.length }}] [{{ missing.length }}] \
            {% if items.length > 1 %}many{% endif %} {{ items[0].a + items.length }} {{ 'x.length' }} \
            {# y.length #}{% raw %}{{ z.length }}{% endraw %} {{ items.lengthy }}\
            {% for i in items %}{{ loop.length }}{% endfor %}";
        assert_eq!(
            render_str(source, variables).unwrap(),
            "2 3 7 [] [] many 3 x.length {{ z.length }} 22"
        );
    }

    #[test]
    fn dump_takes_nunjucks_spaces() {
        let variables = json!({"o": {"z": 1, "a": [1]}});
        assert_eq!(
            render_str("{{ o | dump }}|{{ o | dump(2) }}", variables).unwrap(),
            "{\"z\":1,\"a\":[1]}|{\n  \"z\": 1,\n  \"a\": [\n    1\n  ]\n}"
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
        let files = FileAccess::new(dir.path(), &LoadSettings::default()).unwrap();
        let rendered = render(
            "{% include \"prompts/a.md\" %}!",
            &agent,
            &json!({"x": 1}),
            &files,
        )
        .unwrap();
        assert_eq!(rendered, "A B 1 C!");
    }

    #[test]
    fn includes_computed_at_render_time_stay_inside_the_project() {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("project");
        fs_err::create_dir_all(&root).unwrap();
        fs_err::write(outer.path().join("secret.txt"), "SECRET").unwrap();
        let files = FileAccess::new(&root, &LoadSettings::default()).unwrap();
        let error = render(
            "line 1\n{% include name %}",
            &root.join("agent.yaml"),
            &json!({"name": "../secret.txt"}),
            &files,
        )
        .unwrap_err();
        assert!(
            error.message.contains("outside the project folder"),
            "{error:?}"
        );
        assert_eq!(error.line, Some(2));
        assert!(!error.message.contains("SECRET"));
        let error = render(
            "{% include name %}",
            &root.join("agent.yaml"),
            &json!({"name": "/dev/zero"}),
            &files,
        )
        .unwrap_err();
        assert!(error.message.contains("/dev/zero"), "{error:?}");
    }

    #[test]
    fn missing_include_names_the_file() {
        let error = render_str("{% include \"nope.md\" %}", json!({})).unwrap_err();
        assert!(error.message.contains("nope.md"), "{error:?}");
    }
}
