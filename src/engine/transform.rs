//! `type: transform`: a JSONata expression over the input (AIGNE `agents/transform-agent.ts`),
//! evaluated with the `jsonata-rs` crate (a port of jsonata-js).
//!
//! Works: paths, `$merge`, `$count`, `&`, object/array constructors, maps (`.`), filters
//! (`[…]`), conditionals (`? :`), and the functions jsonata-rs binds (`docs/native-engine.md`
//! lists them and what is missing: `$eval`, `$formatNumber`, `$type`, `$base64encode`, …).

use std::collections::HashMap;
use std::sync::LazyLock;

use bumpalo::Bump;
use jsonata_rs::JsonAta;
use regex::Regex;
use serde_json::{Map, Value};

/// Evaluates `expression` with `input` as `$`; the result must be an object.
pub fn evaluate(
    expression: &str,
    input: &Map<String, Value>,
) -> Result<Map<String, Value>, String> {
    let arena = Bump::new();
    let compiled = JsonAta::new(expression, &arena).map_err(|error| error.to_string())?;
    let input_text = serde_json::to_string(input).map_err(|error| error.to_string())?;
    let result = compiled
        .evaluate(Some(&input_text), None)
        .map_err(|error| error.to_string())?;
    if result.is_undefined() {
        return Err(
            "expect to return a record type such as {result: ...}, but got (undefined): undefined"
                .to_owned(),
        );
    }
    let text = result.serialize(false);
    let value: Value = serde_json::from_str(&text).map_err(|error| error.to_string())?;
    let ranks = expression_key_ranks(expression);
    let value = reorder(value, Some(&Value::Object(input.clone())), &ranks);
    match value {
        Value::Object(map) => Ok(map),
        other => Err(format!(
            "expect to return a record type such as {{result: ...}}, but got ({}): {}",
            match other {
                Value::Array(_) => "object",
                Value::String(_) => "string",
                Value::Number(_) => "number",
                Value::Bool(_) => "boolean",
                _ => "object",
            },
            js_display(&other)
        )),
    }
}

/// jsonata-rs keeps objects in hash maps, so key order is lost (JS keeps insertion order).
/// Order is rebuilt: the root object (usually `$merge([$, {…}])`) and objects equal to the
/// input at the same path list the input's keys first (input order), then keys in the order
/// their string literals appear in the expression; other (constructed) objects list expression
/// keys first, then input keys; anything else goes last, alphabetically.
fn reorder(value: Value, reference: Option<&Value>, ranks: &HashMap<String, usize>) -> Value {
    reorder_at(value, reference, ranks, 0)
}

fn reorder_at(
    value: Value,
    reference: Option<&Value>,
    ranks: &HashMap<String, usize>,
    depth: usize,
) -> Value {
    match value {
        Value::Object(map) => {
            let reference_map = reference.and_then(Value::as_object);
            let input_first =
                depth == 0 || reference.is_some_and(|r| *r == Value::Object(map.clone()));
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            let position = |key: &str| -> (usize, usize, String) {
                let from_input = reference_map.and_then(|r| r.keys().position(|k| k == key));
                let from_expression = ranks.get(key).copied();
                match (input_first, from_input, from_expression) {
                    (true, Some(index), _) => (0, index, String::new()),
                    (true, None, Some(rank)) => (1, rank, String::new()),
                    (false, _, Some(rank)) => (0, rank, String::new()),
                    (false, Some(index), None) => (1, index, String::new()),
                    (_, None, None) => (2, 0, key.to_owned()),
                }
            };
            entries.sort_by_cached_key(|(key, _)| position(key));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(key, item)| {
                        let inner = reference_map.and_then(|r| r.get(&key));
                        let item = reorder_at(item, inner, ranks, depth + 1);
                        (key, item)
                    })
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(index, item)| {
                    let inner = reference.and_then(|r| r.get(index));
                    reorder_at(item, inner, ranks, depth + 1)
                })
                .collect(),
        ),
        other => other,
    }
}

/// `${value}` in JS.
fn js_display(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Array(items) => items.iter().map(js_display).collect::<Vec<_>>().join(","),
        Value::Object(_) => "[object Object]".to_owned(),
        Value::Null => "null".to_owned(),
        other => other.to_string(),
    }
}

static KEY_LITERAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#""((?:[^"\\]|\\.)*)"\s*:|'((?:[^'\\]|\\.)*)'\s*:"#)
        .unwrap_or_else(|_| unreachable!())
});

fn expression_key_ranks(expression: &str) -> HashMap<String, usize> {
    let mut ranks = HashMap::new();
    for captures in KEY_LITERAL.captures_iter(expression) {
        if let Some(key) = captures.get(1).or_else(|| captures.get(2)) {
            let next = ranks.len();
            ranks.entry(key.as_str().to_owned()).or_insert(next);
        }
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(expression: &str, input: Value) -> Result<Value, String> {
        let Value::Object(map) = input else { panic!() };
        evaluate(expression, &map).map(Value::Object)
    }

    #[test]
    fn merge_count_concat_paths_maps_conditionals() {
        let input = json!({"a": "x", "items": [{"n": 1}, {"n": 2}], "o": {"p": {"q": 3}}});
        assert_eq!(
            eval(r#"$merge([$, {"b": a & "-y"}])"#, input.clone()).unwrap(),
            json!({"a": "x", "items": [{"n": 1}, {"n": 2}], "o": {"p": {"q": 3}}, "b": "x-y"})
        );
        assert_eq!(
            eval(r#"{"count": $count(items), "q": o.p.q, "ns": items.n, "big": $count(items) > 1 ? "yes" : "no"}"#, input.clone()).unwrap(),
            json!({"count": 2, "q": 3, "ns": [1, 2], "big": "yes"})
        );
        assert_eq!(
            eval(
                r#"{"doubled": items.(n * 2), "names": items.{"id": n}}"#,
                input
            )
            .unwrap(),
            json!({"doubled": [2, 4], "names": [{"id": 1}, {"id": 2}]})
        );
    }

    #[test]
    fn key_order_follows_input_then_expression() {
        for _ in 0..5 {
            let output = eval(
                r#"$merge([$, {"z": 1, "a": {"y": 2, "b": 3}, "m": 4}])"#,
                json!({"q": 1, "c": 2, "a": {"b": 0}}),
            )
            .unwrap();
            assert_eq!(
                serde_json::to_string(&output).unwrap(),
                r#"{"q":1,"c":2,"a":{"y":2,"b":3},"z":1,"m":4}"#
            );
        }
    }

    #[test]
    fn non_object_result_is_an_error() {
        assert!(
            eval("a", json!({"a": "x"}))
                .unwrap_err()
                .contains("record type")
        );
        assert!(
            eval("missing", json!({}))
                .unwrap_err()
                .contains("record type")
        );
        assert!(eval("$$$", json!({})).is_err());
    }
}
