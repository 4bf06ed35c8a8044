//! `type: transform`: a JSONata expression over the input (AIGNE `agents/transform-agent.ts`),
//! evaluated with the `jsonata-rs` crate (a port of jsonata-js).
//!
//! Works: paths, `$merge`, `$count`, `&`, object/array constructors, maps (`.`), filters
//! (`[…]`), conditionals (`? :`), `$string`, `$number`, `$sum`, `$map`, `$filter`, `$keys`,
//! `$lookup`, `$join`, `$split`, `$substring*`, `$uppercase`/`$lowercase`, `$exists`,
//! `$append`, `$sort`, `$reverse`, `$distinct`, `$each`, `$reduce`, … (see
//! `docs/native-engine.md` for what jsonata-rs lacks: e.g. `$eval`, `$now` formatting
//! pictures, `$formatNumber`, regex literals in some functions, parent operator `%`).

use bumpalo::Bump;
use jsonata_rs::JsonAta;
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
            other
        )),
    }
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
