//! YAML output as npm `yaml` v2 `stringify` prints it (AIGNE serialises tool results and
//! `yaml.stringify` template values with it): 2-space indent, indented sequences, block literals
//! for multi-line strings, quotes only where a plain scalar would be misread, long plain strings
//! folded at 80 columns.

use serde_json::Value;

use super::template::js_number;

const LINE_WIDTH: usize = 80;

/// `stringify(value)` of npm `yaml` (always ends with a newline).
pub fn to_yaml_string(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_map(map, 0, &mut out),
        Value::Array(items) if !items.is_empty() => write_seq(items, 0, &mut out),
        scalar => {
            out.push_str(&scalar_text(scalar, 0, None));
            out.push('\n');
        }
    }
    out
}

fn pad(out: &mut String, indent: usize) {
    for _ in 0..indent {
        out.push(' ');
    }
}

fn write_map(map: &serde_json::Map<String, Value>, indent: usize, out: &mut String) {
    let mut first = true;
    for (key, value) in map {
        if !first {
            pad(out, indent);
        }
        first = false;
        let key_text = key_text(key);
        out.push_str(&key_text);
        out.push(':');
        write_value_after_key(value, indent, key_text.chars().count() + 2, out);
    }
}

/// After `key:` (or `- `): nested collections go on the next lines, scalars on this one.
fn write_value_after_key(value: &Value, indent: usize, indent_at_start: usize, out: &mut String) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            pad(out, indent + 2);
            write_map(map, indent + 2, out);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            pad(out, indent + 2);
            write_seq(items, indent + 2, out);
        }
        scalar => {
            out.push(' ');
            out.push_str(&scalar_text(scalar, indent + 2, Some(indent_at_start)));
            out.push('\n');
        }
    }
}

fn write_seq(items: &[Value], indent: usize, out: &mut String) {
    let mut first = true;
    for item in items {
        if !first {
            pad(out, indent);
        }
        first = false;
        out.push_str("- ");
        match item {
            Value::Object(map) if !map.is_empty() => write_map(map, indent + 2, out),
            Value::Array(inner) if !inner.is_empty() => write_seq(inner, indent + 2, out),
            scalar => {
                out.push_str(&scalar_text(scalar, indent + 2, None));
                out.push('\n');
            }
        }
    }
}

fn key_text(key: &str) -> String {
    if needs_quotes(key) || key.contains('\n') {
        quote(key)
    } else {
        key.to_owned()
    }
}

/// A scalar; `indent` is the block indent for continuation lines.
fn scalar_text(value: &Value, indent: usize, indent_at_start: Option<usize>) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => js_number(number),
        Value::String(text) => string_text(text, indent, indent_at_start),
        Value::Array(_) => "[]".to_owned(),
        Value::Object(_) => "{}".to_owned(),
    }
}

fn string_text(text: &str, indent: usize, indent_at_start: Option<usize>) -> String {
    if text.contains('\n') {
        return block_literal(text, indent);
    }
    if needs_quotes(text) {
        return fold(&quote(text), indent, indent_at_start);
    }
    fold(text, indent, indent_at_start)
}

fn block_literal(text: &str, indent: usize) -> String {
    let trailing = text.len() - text.trim_end_matches('\n').len();
    let chomp = match trailing {
        0 => "-",
        1 => "",
        _ => "+",
    };
    let body = match trailing {
        0 => text,
        1 => &text[..text.len() - 1],
        _ => text,
    };
    let indicator = if body.starts_with(' ') { "2" } else { "" };
    let mut out = format!("|{indicator}{chomp}");
    let body = if trailing > 1 {
        &body[..body.len() - 1]
    } else {
        body
    };
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            for _ in 0..indent {
                out.push(' ');
            }
            out.push_str(line);
        }
    }
    out
}

/// `foldFlowLines` of npm `yaml` (flow and quoted modes): breaks at single spaces so that
/// lines stay within 80 columns; `indent` is the continuation indent; `indent_at_start` is
/// where the first line starts (`key:`'s length + 1 for map values; unset for sequence items
/// and documents, where the indent is used).
fn fold(text: &str, indent: usize, indent_at_start: Option<usize>) -> String {
    const MIN_CONTENT_WIDTH: usize = 20;
    let chars: Vec<char> = text.chars().collect();
    let end_step = (1 + MIN_CONTENT_WIDTH).max((1 + LINE_WIDTH).saturating_sub(indent));
    if chars.len() <= end_step {
        return text.to_owned();
    }
    let mut folds: Vec<usize> = Vec::new();
    let mut end = LINE_WIDTH as isize - indent as isize;
    if let Some(at_start) = indent_at_start {
        if at_start > LINE_WIDTH - 2.max(MIN_CONTENT_WIDTH) {
            folds.push(0);
        } else {
            end = LINE_WIDTH as isize - at_start as isize;
        }
    }
    let mut split: Option<usize> = None;
    let mut prev: Option<char> = None;
    for (i, &ch) in chars.iter().enumerate() {
        if ch == '\n' {
            end = (i + indent + end_step) as isize;
            split = None;
        } else {
            if ch == ' '
                && prev.is_some_and(|p| p != ' ' && p != '\n' && p != '\t')
                && chars
                    .get(i + 1)
                    .is_some_and(|&n| n != ' ' && n != '\n' && n != '\t')
            {
                split = Some(i);
            }
            if i as isize >= end
                && let Some(at) = split.take()
            {
                folds.push(at);
                end = (at + end_step) as isize;
            }
        }
        prev = Some(ch);
    }
    if folds.is_empty() {
        return text.to_owned();
    }
    let pad: String = " ".repeat(indent);
    let mut out: String = chars[..folds[0]].iter().collect();
    for (index, &at) in folds.iter().enumerate() {
        let stop = folds.get(index + 1).copied().unwrap_or(chars.len());
        if at == 0 {
            out = format!("\n{pad}{}", chars[..stop].iter().collect::<String>());
        } else {
            out.push('\n');
            out.push_str(&pad);
            out.extend(&chars[at + 1..stop]);
        }
    }
    out
}

fn needs_quotes(text: &str) -> bool {
    if text.is_empty() {
        return true;
    }
    if resolves_to_non_string(text) {
        return true;
    }
    let first = text.chars().next().unwrap_or(' ');
    if "\t ,[]{}#&*!|>'\"%@`\n".contains(first) {
        return true;
    }
    if text == "-"
        || text == "?"
        || text.starts_with("- ")
        || text.starts_with("? ")
        || text.starts_with("-\t")
        || text.starts_with("?\t")
    {
        return true;
    }
    if text.contains(": ") || text.contains(":\t") || text.contains(" #") || text.contains("\t#") {
        return true;
    }
    let last = text.chars().last().unwrap_or(' ');
    if last == ' ' || last == '\t' || last == ':' {
        return true;
    }
    text.chars().any(|c| c.is_control() && c != '\t')
}

/// Whether the YAML 1.2 core schema reads `text` as null, a boolean or a number.
fn resolves_to_non_string(text: &str) -> bool {
    matches!(
        text,
        "~" | "null"
            | "Null"
            | "NULL"
            | "true"
            | "True"
            | "TRUE"
            | "false"
            | "False"
            | "FALSE"
            | ".inf"
            | ".Inf"
            | ".INF"
            | "-.inf"
            | "-.Inf"
            | "-.INF"
            | "+.inf"
            | "+.Inf"
            | "+.INF"
            | ".nan"
            | ".NaN"
            | ".NAN"
    ) || is_core_number(text)
}

fn is_core_number(text: &str) -> bool {
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    if let Some(hex) = text.strip_prefix("0x") {
        return !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit());
    }
    if let Some(octal) = text.strip_prefix("0o") {
        return !octal.is_empty() && octal.chars().all(|c| ('0'..='7').contains(&c));
    }
    if body.is_empty() {
        return false;
    }
    // [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(at) => (&body[..at], Some(&body[at + 1..])),
        None => (body, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => {
            (int.chars().all(|c| c.is_ascii_digit()) && frac.chars().all(|c| c.is_ascii_digit()))
                && (!int.is_empty() || !frac.is_empty())
        }
        None => !mantissa.is_empty() && mantissa.chars().all(|c| c.is_ascii_digit()),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let digits = e.strip_prefix(['-', '+']).unwrap_or(e);
        !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
    });
    mantissa_ok && exponent_ok
}

fn quote(text: &str) -> String {
    if text.contains('"') && !text.contains('\'') && !text.chars().any(char::is_control) {
        return format!("'{text}'");
    }
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn matches_npm_yaml() {
        assert_eq!(
            to_yaml_string(&json!({"a":1,"b":"x","c":[1,2],"d":{"e":null,"f":true},"g":[],"h":{}})),
            "a: 1\nb: x\nc:\n  - 1\n  - 2\nd:\n  e: null\n  f: true\ng: []\nh: {}\n"
        );
        assert_eq!(
            to_yaml_string(&json!([{"a":1,"b":2},{"c":[3]},[1,[2]]])),
            "- a: 1\n  b: 2\n- c:\n    - 3\n- - 1\n  - - 2\n"
        );
        assert_eq!(
            to_yaml_string(&json!({"isError": true, "error": {"message": "boom"}})),
            "isError: true\nerror:\n  message: boom\n"
        );
        assert_eq!(
            to_yaml_string(&json!({"nested":{"list":[{"a":1,"b":{"c":2}},"s"]}})),
            "nested:\n  list:\n    - a: 1\n      b:\n        c: 2\n    - s\n"
        );
        assert_eq!(
            to_yaml_string(&json!({"ml":"line1\nline2\n\nline4","mlt":"x\n  indented\n"})),
            "ml: |-\n  line1\n  line2\n\n  line4\nmlt: |\n  x\n    indented\n"
        );
        assert_eq!(
            to_yaml_string(&json!({"1": 2, "key with space": 1, "k:x": 3, "": 4})),
            "\"1\": 2\nkey with space: 1\nk:x: 3\n\"\": 4\n"
        );
    }

    #[test]
    fn quoting() {
        let cases = [
            ("true", "\"true\""),
            ("123", "\"123\""),
            ("", "\"\""),
            ("a: b", "\"a: b\""),
            (" lead", "\" lead\""),
            ("trail ", "\"trail \""),
            ("#x", "\"#x\""),
            ("x #y", "\"x #y\""),
            ("-x", "-x"),
            ("- x", "\"- x\""),
            ("null", "\"null\""),
            ("it's", "it's"),
            ("say \"hi\"", "say \"hi\""),
            ("@x", "\"@x\""),
            ("x:y", "x:y"),
            ("~", "\"~\""),
            ("1.5", "\"1.5\""),
            ("0x1f", "\"0x1f\""),
            ("yes", "yes"),
            ("x,y", "x,y"),
            ("?x", "?x"),
            ("1e3", "\"1e3\""),
            (".5", "\".5\""),
            ("-", "\"-\""),
            ("a\\b", "a\\b"),
            ("|", "\"|\""),
        ];
        for (input, expected) in cases {
            assert_eq!(
                to_yaml_string(&json!({"s": input})),
                format!("s: {expected}\n"),
                "{input:?}"
            );
        }
    }

    #[test]
    fn folds_long_plain_strings() {
        let long = vec!["word"; 30].join(" ");
        let expected = format!(
            "long: {}\n  {}\n",
            vec!["word"; 15].join(" "),
            vec!["word"; 15].join(" ")
        );
        assert_eq!(to_yaml_string(&json!({"long": long})), expected);
    }

    #[test]
    fn folds_like_npm_yaml() {
        let long = "expect to return a record type such as {result: ...}, but got (string): not an object and then some more words to make it go over two lines of text";
        assert_eq!(
            to_yaml_string(&json!({"isError": true, "error": {"message": long}})),
            "isError: true\nerror:\n  message: \"expect to return a record type such as {result: ...}, but got\n    (string): not an object and then some more words to make it go over two\n    lines of text\"\n"
        );
        assert_eq!(
            to_yaml_string(&json!([long])),
            "- \"expect to return a record type such as {result: ...}, but got (string): not\n  an object and then some more words to make it go over two lines of text\"\n"
        );
        assert_eq!(
            to_yaml_string(&json!({"a": {"b": {"c": long}}})),
            "a:\n  b:\n    c: \"expect to return a record type such as {result: ...}, but got (string): not\n      an object and then some more words to make it go over two lines of text\"\n"
        );
        assert_eq!(
            to_yaml_string(&json!({"k": format!("say \"hi\" {long}")})),
            "k: 'say \"hi\" expect to return a record type such as {result: ...}, but got\n  (string): not an object and then some more words to make it go over two lines\n  of text'\n"
        );
        let xs = "x".repeat(90);
        assert_eq!(to_yaml_string(&json!({"k": xs})), format!("k: {xs}\n"));
        assert_eq!(
            to_yaml_string(&json!({"k": "a  b ".repeat(20)})),
            "k: \"a  b a  b a  b a  b a  b a  b a  b a  b a  b a  b a  b a  b a  b a  b a  b\n  a  b a  b a  b a  b a  b \"\n"
        );
    }

    #[test]
    fn scalars_at_top_level() {
        assert_eq!(to_yaml_string(&json!("plain")), "plain\n");
        assert_eq!(to_yaml_string(&json!(42)), "42\n");
        assert_eq!(to_yaml_string(&json!(null)), "null\n");
    }
}
