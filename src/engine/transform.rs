//! `type: transform`: a JSONata expression over the input (AIGNE `agents/transform-agent.ts`),
//! evaluated with the `jsonata-rs` crate (a port of jsonata-js).
//!
//! Works: paths, `$merge`, `$count`, `&`, object/array constructors, maps (`.`), filters
//! (`[…]`), conditionals (`? :`), and the functions jsonata-rs binds (`docs/native-engine.md`
//! lists them and what is missing: `$eval`, `$formatNumber`, `$type`, `$base64encode`, …).
//!
//! Two differences from jsonata-js are bridged here, around the crate (it exposes neither its
//! AST nor an option for them):
//! - An object-constructor key written as an expression (`{userId: user_id}`) that evaluates
//!   to nothing drops its pair in jsonata-js; jsonata-rs raises T1003. [`rewrite_path_keys`]
//!   wraps each such key so that an undefined key becomes a marker key unique to its pair, and
//!   the marked pairs are removed from the result.
//! - jsonata-rs keeps objects in hash maps; [`reorder`] rebuilds JavaScript's key order.

use std::collections::HashMap;
use std::sync::LazyLock;

use bumpalo::Bump;
use jsonata_rs::JsonAta;
use regex::Regex;
use serde_json::{Map, Value};

/// The built-in functions jsonata-rs 0.3.4 binds (`JsonAta::evaluate_timeboxed`), and those
/// this module binds as jsonata-js defines them ([`REGISTERED_FUNCTIONS`]); jsonata-js has more
/// (`$formatNumber`, `$eval`, …), which fail here.
const BOUND_FUNCTIONS: &[&str] = &[
    "abs",
    "append",
    "assert",
    "base64decode",
    "base64encode",
    "boolean",
    "ceil",
    "contains",
    "count",
    "distinct",
    "each",
    "error",
    "exists",
    "fromMillis",
    "toMillis",
    "single",
    "filter",
    "floor",
    "join",
    "keys",
    "length",
    "lookup",
    "lowercase",
    "map",
    "match",
    "max",
    "merge",
    "min",
    "not",
    "now",
    "number",
    "pad",
    "power",
    "random",
    "reduce",
    "replace",
    "reverse",
    "round",
    "sort",
    "split",
    "sqrt",
    "string",
    "substring",
    "substringBefore",
    "substringAfter",
    "sum",
    "trim",
    "uppercase",
    "zip",
    "millis",
];

/// jsonata-js functions jsonata-rs does not bind, bound here (`register_function`) with
/// jsonata-js's semantics.
const REGISTERED_FUNCTIONS: &[&str] = &["type", "average"];

/// Whether the native engine runs a JSONata construct as jsonata-js does (`function $NAME`,
/// `keys listed by …`, as `project::Feature::JsonataConstruct` names them): a function
/// jsonata-rs binds, yes; anything listing an object's keys, no (jsonata-rs keeps objects in
/// hash maps, so `$keys`, `$each`, `$spread`, `$sift`, `$string` of an object and wildcards
/// see another key order, which no reordering of the result can undo).
pub(super) fn supports(construct: &str) -> bool {
    construct
        .strip_prefix("function $")
        .is_some_and(|name| BOUND_FUNCTIONS.contains(&name) || REGISTERED_FUNCTIONS.contains(&name))
}

/// jsonata-js `$type(value)`: the JSON type of a value (`undefined` for nothing), `function`
/// for a function.
fn fn_type<'a>(
    context: jsonata_rs::FunctionContext<'a, '_>,
    args: &[&'a jsonata_rs::Value<'a>],
) -> jsonata_rs::Result<&'a jsonata_rs::Value<'a>> {
    use jsonata_rs::Value as Jsonata;
    if args.len() > 1 {
        return Err(jsonata_rs::Error::T0410ArgumentNotValid(
            context.char_index,
            2,
            context.name.to_string(),
        ));
    }
    // Signature `<x:s>`: no argument is T0410, as in jsonata-js (no context default).
    let Some(value) = args.first().copied() else {
        return Err(jsonata_rs::Error::T0410ArgumentNotValid(
            context.char_index,
            1,
            context.name.to_string(),
        ));
    };
    let name = match value {
        Jsonata::Undefined => return Ok(Jsonata::undefined()),
        Jsonata::Null => "null",
        Jsonata::Number(number) if !number.is_nan() => "number",
        Jsonata::String(_) => "string",
        Jsonata::Bool(_) => "boolean",
        Jsonata::Array(..) | Jsonata::Range(..) => "array",
        _ if value.is_function() => "function",
        _ => "object",
    };
    Ok(Jsonata::string(context.arena, name))
}

/// jsonata-js `$average(array)`: the mean of an array of numbers (a single number is an array
/// of one), `undefined` for nothing or an empty array; anything else but numbers is T0412, as
/// its signature `<a<n>:n>` checks.
fn fn_average<'a>(
    context: jsonata_rs::FunctionContext<'a, '_>,
    args: &[&'a jsonata_rs::Value<'a>],
) -> jsonata_rs::Result<&'a jsonata_rs::Value<'a>> {
    use jsonata_rs::Value as Jsonata;
    if args.len() > 1 {
        return Err(jsonata_rs::Error::T0410ArgumentNotValid(
            context.char_index,
            2,
            context.name.to_string(),
        ));
    }
    let argument = args.first().copied().unwrap_or_else(Jsonata::undefined);
    if argument.is_undefined() {
        return Ok(Jsonata::undefined());
    }
    let items =
        Jsonata::wrap_in_array_if_needed(context.arena, argument, jsonata_rs::ArrayFlags::empty());
    let mut total = 0.0;
    let mut count = 0usize;
    for member in items.members() {
        if !member.is_number() {
            return Err(jsonata_rs::Error::T0412ArgumentMustBeArrayOfType(
                context.char_index,
                1,
                context.name.to_string(),
                "number".to_owned(),
            ));
        }
        total += member.as_f64();
        count += 1;
    }
    if count == 0 {
        return Ok(Jsonata::undefined());
    }
    #[allow(clippy::cast_precision_loss)]
    Ok(Jsonata::number(context.arena, total / count as f64))
}

/// Evaluates `expression` with `input` as `$`; the result must be an object.
pub fn evaluate(
    expression: &str,
    input: &Map<String, Value>,
) -> Result<Map<String, Value>, String> {
    let arena = Bump::new();
    let rewritten = rewrite_path_keys(expression);
    let compiled = JsonAta::new(rewritten.as_deref().unwrap_or(expression), &arena)
        .map_err(|error| error.to_string())?;
    compiled.register_function("type", 1, fn_type);
    compiled.register_function("average", 1, fn_average);
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
    let mut value = to_json(result);
    if rewritten.is_some() {
        drop_undefined_keys(&mut value);
    }
    let ranks = expression_key_ranks(expression);
    let input = Value::Object(input.clone());
    let value = reorder(value, &input, &ranks);
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

/// The result as JSON, numbers at full precision: the crate's own `serialize` prints numbers
/// as `$string` does (15 significant digits, `0.1 + 0.2` → `0.3`), but jsonata-js hands AIGNE
/// the number itself (`0.30000000000000004`). An undefined value inside an object drops its key
/// and one inside an array is `null`, as `JSON.stringify` does.
fn to_json<'a>(value: &'a jsonata_rs::Value<'a>) -> Value {
    use jsonata_rs::Value as Jsonata;
    match value {
        Jsonata::Undefined | Jsonata::Null => Value::Null,
        Jsonata::Bool(flag) => Value::Bool(*flag),
        Jsonata::Number(number) => json_number(*number),
        Jsonata::String(text) => Value::String(text.to_string()),
        Jsonata::Array(..) | Jsonata::Range(..) => {
            Value::Array(value.members().map(to_json).collect())
        }
        Jsonata::Object(..) => Value::Object(
            value
                .entries()
                .filter(|(_, item)| !item.is_undefined())
                .map(|(key, item)| (key.to_string(), to_json(item)))
                .collect(),
        ),
        Jsonata::Regex(regex) => Value::String(regex.as_pattern().to_string()),
        Jsonata::Lambda { .. } | Jsonata::NativeFn { .. } | Jsonata::Transformer { .. } => {
            Value::String(String::new())
        }
    }
}

/// A JavaScript number as JSON: whole numbers as integers (JSON.stringify prints `2`, not
/// `2.0`), others as they are; NaN and infinities are `null`.
fn json_number(number: f64) -> Value {
    const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;
    if number.fract() == 0.0 && number.abs() <= MAX_SAFE_INTEGER {
        // Exact: a whole number within ±2^53 fits an i64.
        #[allow(clippy::cast_possible_truncation)]
        return Value::from(number as i64);
    }
    serde_json::Number::from_f64(number).map_or(Value::Null, Value::Number)
}

/// jsonata-rs keeps objects in hash maps, so key order is lost (JS keeps insertion order).
/// Order is rebuilt per object from its *source*, the input object it carries keys of (the
/// input at the same path, else the input object sharing most of its keys, as `$merge([$item,
/// {…}])` inside a `$map` makes): an object holding keys of its source that the expression
/// never writes as string literals (it was spread from the input, or is the input unchanged)
/// lists its source's keys first, in the source's order, then the others in the order their
/// string literals appear in the expression; any other (constructed) object lists expression
/// keys first; keys known to neither go last, alphabetically.
fn reorder(value: Value, input: &Value, ranks: &HashMap<String, usize>) -> Value {
    let mut objects = Vec::new();
    collect_objects(input, &mut objects);
    let order = KeyOrder { ranks, objects };
    order.apply(value, Some(input))
}

fn collect_objects<'a>(value: &'a Value, out: &mut Vec<&'a Map<String, Value>>) {
    match value {
        Value::Object(map) => {
            out.push(map);
            map.values().for_each(|item| collect_objects(item, out));
        }
        Value::Array(items) => items.iter().for_each(|item| collect_objects(item, out)),
        _ => {}
    }
}

struct KeyOrder<'a> {
    ranks: &'a HashMap<String, usize>,
    /// Every object of the input, depth first.
    objects: Vec<&'a Map<String, Value>>,
}

impl<'a> KeyOrder<'a> {
    fn apply(&self, value: Value, reference: Option<&'a Value>) -> Value {
        match value {
            Value::Object(map) => {
                let reference = reference.and_then(Value::as_object);
                let source = self.source(&map, reference);
                let spread = source.is_some_and(|source| {
                    *source == map
                        || map
                            .keys()
                            .any(|key| source.contains_key(key) && !self.ranks.contains_key(key))
                });
                let position = |key: &str| -> (usize, usize, String) {
                    let from_source = source.and_then(|s| s.keys().position(|k| k == key));
                    let from_expression = self.ranks.get(key).copied();
                    match (spread, from_source, from_expression) {
                        (true, Some(index), _) => (0, index, String::new()),
                        (true, None, Some(rank)) => (1, rank, String::new()),
                        (false, _, Some(rank)) => (0, rank, String::new()),
                        (false, Some(index), None) => (1, index, String::new()),
                        (_, None, None) => (2, 0, key.to_owned()),
                    }
                };
                let mut entries: Vec<(String, Value)> = map.into_iter().collect();
                entries.sort_by_cached_key(|(key, _)| position(key));
                let inner_of = source.or(reference);
                Value::Object(
                    entries
                        .into_iter()
                        .map(|(key, item)| {
                            let inner = inner_of.and_then(|r| r.get(&key));
                            let item = self.apply(item, inner);
                            (key, item)
                        })
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(
                items
                    .into_iter()
                    .enumerate()
                    .map(|(index, item)| self.apply(item, reference.and_then(|r| r.get(index))))
                    .collect(),
            ),
            other => other,
        }
    }

    /// The input object `map` takes its keys from: the input at the same path when it shares
    /// a key with `map`, else (when `map` has keys the expression never writes) the input
    /// object sharing most of those keys (the first such, depth first).
    fn source(
        &self,
        map: &Map<String, Value>,
        reference: Option<&'a Map<String, Value>>,
    ) -> Option<&'a Map<String, Value>> {
        if let Some(reference) = reference
            && map.keys().any(|key| reference.contains_key(key))
        {
            return Some(reference);
        }
        let unwritten: Vec<&String> = map
            .keys()
            .filter(|key| !self.ranks.contains_key(*key))
            .collect();
        if unwritten.is_empty() {
            return reference;
        }
        // Most keys shared, then most values equal, then fewest keys `map` lacks.
        type Score = (usize, usize, isize);
        let mut best: Option<(&'a Map<String, Value>, Score)> = None;
        for object in &self.objects {
            let shared = unwritten
                .iter()
                .filter(|key| object.contains_key(key.as_str()))
                .count();
            if shared == 0 {
                continue;
            }
            let equal = unwritten
                .iter()
                .filter(|key| object.get(key.as_str()) == map.get(key.as_str()))
                .count();
            let lacking = object.keys().filter(|key| !map.contains_key(*key)).count();
            let score = (shared, equal, -(lacking as isize));
            if best.is_none_or(|(_, most)| score > most) {
                best = Some((object, score));
            }
        }
        best.map(|(object, _)| object).or(reference)
    }
}

/// The key a pair gets when its key expression evaluates to nothing, followed by the pair's
/// number; no JSON the transform sees holds it.
const UNDEFINED_KEY: &str = "__aigne_ci_undefined_object_key_";

/// The expression with every object-constructor key that is not a string literal wrapped so
/// that, when it evaluates to nothing, the pair gets the key [`UNDEFINED_KEY`]`N` (a string
/// jsonata-rs accepts; [`drop_undefined_keys`] removes those pairs afterwards, as jsonata-js
/// never makes them). A key that is a string, or anything else, is unchanged (a number still
/// raises T1003 in both). `None` when there is no such key (the expression runs as written).
///
/// Hand-written: a scan of JSONata's tokens (strings, names in backquotes, comments, regular
/// expressions) tracking brackets, enough to find constructor keys; jsonata-rs keeps its parser
/// private.
fn rewrite_path_keys(expression: &str) -> Option<String> {
    let spans = path_key_spans(expression)?;
    if spans.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(expression.len() + spans.len() * 96);
    let mut at = 0;
    for (index, (start, end)) in spans.into_iter().enumerate() {
        if start < at {
            return None; // a constructor inside a key: leave the expression alone
        }
        out.push_str(&expression[at..start]);
        let key = &expression[start..end];
        out.push_str(&format!(
            "($__aigneCiKey := ({key}); $exists($__aigneCiKey) ? $__aigneCiKey : \"{UNDEFINED_KEY}{index}\")"
        ));
        at = end;
    }
    out.push_str(&expression[at..]);
    Some(out)
}

#[derive(Debug)]
enum Frame {
    Paren {
        function: bool,
    },
    Bracket,
    /// A function body `{ … }` (after `function($x)`), a block like `( … )`.
    Body,
    Constructor {
        pair_start: usize,
        in_key: bool,
        pending_colons: usize,
    },
}

/// The byte spans of the constructor keys of `expression` that are not a single string
/// literal. `None` when the scan cannot follow the expression (unbalanced brackets, an
/// unterminated string): the expression then runs as written and jsonata-rs reports it.
fn path_key_spans(expression: &str) -> Option<Vec<(usize, usize)>> {
    let bytes = expression.as_bytes();
    let mut stack: Vec<Frame> = Vec::new();
    let mut spans = Vec::new();
    // Whether the last token ends a value (then `/` divides, else it starts a regex).
    let mut value_end = false;
    let mut last_word = "";
    let mut expect_body = false;
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        let start = index;
        index += 1;
        match byte {
            b' ' | b'\t' | b'\n' | b'\r' => continue,
            b'"' | b'\'' | b'`' => {
                while index < bytes.len() && bytes[index] != byte {
                    index += if bytes[index] == b'\\' && byte != b'`' {
                        2
                    } else {
                        1
                    };
                }
                if index >= bytes.len() {
                    return None;
                }
                index += 1;
                value_end = true;
                last_word = "";
                continue;
            }
            b'/' if bytes.get(index) == Some(&b'*') => {
                let close = expression[index + 1..].find("*/")?;
                index += 1 + close + 2;
                continue;
            }
            b'/' if !value_end => {
                while index < bytes.len() && bytes[index] != b'/' {
                    index += if bytes[index] == b'\\' { 2 } else { 1 };
                }
                if index >= bytes.len() {
                    return None;
                }
                index += 1;
                while index < bytes.len() && bytes[index].is_ascii_alphabetic() {
                    index += 1;
                }
                value_end = true;
                last_word = "";
                continue;
            }
            b'<' if expect_body => {
                // A function signature `<s-:n>` between the parameters and the body.
                let mut depth = 1;
                while index < bytes.len() && depth > 0 {
                    match bytes[index] {
                        b'<' => depth += 1,
                        b'>' => depth -= 1,
                        _ => {}
                    }
                    index += 1;
                }
                continue;
            }
            _ => {}
        }
        let was_expecting_body = std::mem::take(&mut expect_body);
        match byte {
            b'(' => {
                let function = matches!(last_word, "function" | "λ");
                stack.push(Frame::Paren { function });
                value_end = false;
            }
            b')' => {
                let Some(Frame::Paren { function }) = stack.pop() else {
                    return None;
                };
                expect_body = function;
                value_end = true;
            }
            b'[' => {
                stack.push(Frame::Bracket);
                value_end = false;
            }
            b']' => {
                let Some(Frame::Bracket) = stack.pop() else {
                    return None;
                };
                value_end = true;
            }
            b'{' => {
                stack.push(if was_expecting_body {
                    Frame::Body
                } else {
                    Frame::Constructor {
                        pair_start: index,
                        in_key: true,
                        pending_colons: 0,
                    }
                });
                value_end = false;
            }
            b'}' => {
                match stack.pop()? {
                    Frame::Body | Frame::Constructor { .. } => {}
                    _ => return None,
                }
                value_end = true;
            }
            b',' => {
                if let Some(Frame::Constructor {
                    pair_start, in_key, ..
                }) = stack.last_mut()
                {
                    *pair_start = index;
                    *in_key = true;
                }
                value_end = false;
            }
            b'?' => {
                if let Some(Frame::Constructor {
                    in_key: true,
                    pending_colons,
                    ..
                }) = stack.last_mut()
                {
                    *pending_colons += 1;
                }
                value_end = false;
            }
            b':' if bytes.get(index) == Some(&b'=') => {
                index += 1;
                value_end = false;
            }
            b':' => {
                if let Some(Frame::Constructor {
                    pair_start,
                    in_key,
                    pending_colons,
                }) = stack.last_mut()
                {
                    if *in_key && *pending_colons > 0 {
                        *pending_colons -= 1;
                    } else if *in_key {
                        *in_key = false;
                        let key = expression[*pair_start..start].trim();
                        if !is_string_literal(key) {
                            let offset = expression[*pair_start..start].find(key).unwrap_or(0);
                            let key_start = *pair_start + offset;
                            spans.push((key_start, key_start + key.len()));
                        }
                    }
                }
                value_end = false;
            }
            _ if byte == b'$' || byte == b'_' || byte.is_ascii_alphanumeric() || byte >= 0x80 => {
                while index < bytes.len()
                    && (bytes[index] == b'_'
                        || bytes[index] == b'$'
                        || bytes[index].is_ascii_alphanumeric()
                        || bytes[index] >= 0x80)
                {
                    index += 1;
                }
                let word = &expression[start..index];
                // Operators written as words do not end a value.
                value_end = !matches!(word, "and" | "or" | "in");
                last_word = word;
                continue;
            }
            _ => value_end = false,
        }
        last_word = "";
    }
    stack.is_empty().then_some(spans)
}

/// Whether `text` is one JSONata string literal (`"…"` or `'…'`).
fn is_string_literal(text: &str) -> bool {
    let bytes = text.as_bytes();
    let Some(&quote) = bytes.first() else {
        return false;
    };
    if !(quote == b'"' || quote == b'\'') || bytes.len() < 2 {
        return false;
    }
    let mut index = 1;
    while index < bytes.len() {
        match bytes[index] {
            b'\\' => index += 2,
            byte if byte == quote => return index == bytes.len() - 1,
            _ => index += 1,
        }
    }
    false
}

/// Removes, at any depth, the pairs [`rewrite_path_keys`] marked as having no key.
fn drop_undefined_keys(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|key, _| !key.starts_with(UNDEFINED_KEY));
            map.values_mut().for_each(drop_undefined_keys);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_undefined_keys),
        _ => {}
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

    /// Numbers keep full precision, as jsonata-js hands them to AIGNE (the crate's own
    /// serializer rounds to 15 digits, as `$string` does).
    #[test]
    fn numbers_keep_javascript_precision() {
        let output = eval(
            "{\"sum\": 0.1 + 0.2, \"whole\": 10 / 2, \"text\": $string(0.1 + 0.2)}",
            json!({}),
        )
        .unwrap();
        assert_eq!(
            serde_json::to_string(&output).unwrap(),
            r#"{"sum":0.30000000000000004,"whole":5,"text":"0.3"}"#
        );
    }

    #[test]
    fn only_bound_functions_are_supported() {
        assert!(supports("function $merge") && supports("function $base64encode"));
        assert!(supports("function $type") && supports("function $average"));
        assert!(!supports("function $formatNumber"));
        assert!(!supports("keys listed by $keys"));
    }

    #[test]
    fn type_and_average_as_jsonata_js() {
        let output = eval(
            r#"{"a": $type(v), "b": $type(n), "c": $type(s), "d": $type(o), "e": $type(x),
                "f": $type(nothing), "g": $type($type), "h": $average(list), "i": $average(n),
                "j": $average(nothing), "k": $average([]), "l": v.$type($)}"#,
            json!({"v": [1, 2], "n": 3, "s": "t", "o": {"p": 1}, "x": null, "list": [3, 4, 8]}),
        )
        .unwrap();
        assert_eq!(
            output,
            json!({"a": "array", "b": "number", "c": "string", "d": "object", "e": "null",
                   "g": "function", "h": 5, "i": 3, "l": ["number", "number"]})
        );
        let error = eval(r#"{"a": $average(["x"])}"#, json!({})).unwrap_err();
        assert!(error.contains("T0412"), "{error}");
        let error = eval(r#"{"a": $type()}"#, json!({})).unwrap_err();
        assert!(error.contains("T0410"), "{error}");
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

    #[test]
    fn path_keys_that_are_undefined_drop_their_pair() {
        let expression =
            "{\n  userId: user_id,\n  userName: user_name,\n  createdAt: created_at\n}";
        // Keys are paths into the input: undefined there, so every pair is dropped.
        assert_eq!(
            eval(expression, json!({"user_id": "u1", "user_name": "Ada"})).unwrap(),
            json!({})
        );
        // Defined keys name the pairs, in the expression's order.
        let output = eval(
            expression,
            json!({"user_id": "u1", "user_name": "Ada", "userId": "id", "userName": "name"}),
        )
        .unwrap();
        assert_eq!(output, json!({"id": "u1", "name": "Ada"}));
        // A key that is not a string still fails, as in jsonata-js (T1003).
        assert!(
            eval("{n: 1}", json!({"n": 2}))
                .unwrap_err()
                .contains("T1003")
        );
        // Nested constructors, computed keys, grouping, maps and string keys mixed.
        assert_eq!(
            eval(
                r#"{"all": items{kind: n}, "one": {($.missing): 1, "k" & "ey": 2, 'x': {a.b: 3}}}"#,
                json!({"items": [{"kind": "p", "n": 1}, {"kind": "q", "n": 2}, {"n": 3}], "a": {"b": "ab"}})
            )
            .unwrap(),
            json!({"all": {"p": 1, "q": 2}, "one": {"key": 2, "x": {"ab": 3}}})
        );
    }

    #[test]
    fn the_rewrite_leaves_strings_regexes_functions_and_quoted_keys_alone() {
        assert_eq!(
            rewrite_path_keys(r#"$merge([$, {"a": x ? 1 : 2, 'b': y}])"#),
            None
        );
        assert_eq!(
            rewrite_path_keys(r#"$map(xs, function($v)<s:o> { {"v": $v} })"#),
            None
        );
        assert_eq!(
            rewrite_path_keys(r#""{a: b}" & $replace(s, /{a:/, "")"#),
            None
        );
        assert_eq!(rewrite_path_keys("/* {a: b} */ x"), None);
        let rewritten = rewrite_path_keys("{a: 1, \"b\": 2}").unwrap();
        assert!(
            rewritten.starts_with("{($__aigneCiKey := (a);"),
            "{rewritten}"
        );
        assert!(rewritten.ends_with(", \"b\": 2}"), "{rewritten}");
        // The division after a value is not a regex.
        assert!(rewrite_path_keys("{k: a / 2, m: 1}").is_some());
        assert_eq!(path_key_spans("{k: a / 2, m: 1}").unwrap().len(), 2);
        // A condition in a key: the key ends at the colon that closes it.
        assert_eq!(
            path_key_spans(r#"{a ? "x" : "y": 1}"#).unwrap(),
            vec![(1, 14)]
        );
    }

    #[test]
    fn mapped_items_merged_with_new_keys_keep_the_items_order() {
        let input = json!({
            "pages": [{"title": "Home", "path": "/", "description": "d"}, {"path": "/docs", "title": "Docs"}],
            "locales": ["en", "zh"]
        });
        let expression = r#"$merge([$, {"list": [$map(pages, function($p) {
            $merge([$p, {"variants": [$map(locales, function($l) { {"locale": $l, "href": $l & $p.path} })]}])
        })]}])"#;
        for _ in 0..5 {
            let output = eval(expression, input.clone()).unwrap();
            assert_eq!(
                serde_json::to_string(&output["list"]).unwrap(),
                r#"[{"title":"Home","path":"/","description":"d","variants":[{"locale":"en","href":"en/"},{"locale":"zh","href":"zh/"}]},{"path":"/docs","title":"Docs","variants":[{"locale":"en","href":"en/docs"},{"locale":"zh","href":"zh/docs"}]}]"#
            );
            // A constructed root lists its keys as the expression writes them.
            let output = eval(r#"{"summary": s, "path": p}"#, json!({"p": 1, "s": 2})).unwrap();
            assert_eq!(
                serde_json::to_string(&output).unwrap(),
                r#"{"summary":2,"path":1}"#
            );
        }
    }
}
