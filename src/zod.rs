//! Input and output checks as the official runtime makes them: `@aigne/core`'s loader turns an
//! agent's JSON schema into a zod (v3.25) schema with `@aigne/json-schema-to-zod` 1.3, makes the
//! top level `passthrough()`, and `checkArguments` words zod's issues as
//! `${issue.path}: ${issue.message}` joined by `, ` (an `invalid_union` issue adds
//! ` expect ${expected types} got ${the value}`). Users assert on that text, and zod's rules are
//! not JSON Schema's (`enum` wins over `type`, a `type` list is a union, `uniqueItems` and other
//! keywords it does not build are ignored, a nested `additionalProperties: false` refuses
//! unknown keys while the top level lets them through, `format: email` is checked by zod's own
//! regex), so this module interprets the schema as that converter builds it and runs zod's
//! parse: its issue codes, messages (zod's English error map), order and dirty/aborted statuses.
//!
//! Hand-written because no crate does this: JSON Schema validators (the `jsonschema` crate) word
//! and decide differently, and zod exists only in JavaScript. The converter's constructs built
//! from `superRefine`/`refine`/intersections (`allOf`, `oneOf` with several schemas, `not`,
//! `if`/`then`/`else`, `patternProperties`, `anyOf` on an object, tuple `items`) are not
//! interpreted: [`compile`] returns the construct's name, `inspect` lists it (`schema keyword
//! NAME`) as not native, and `--engine auto` runs the cases that reach it in the node engine.
//! Regular expressions (`pattern`, zod's own format checks) run on `regress`, an ECMAScript
//! regex engine, as `new RegExp(pattern)` would; `format: uri` is WHATWG URL parsing (`url`),
//! as zod's `new URL(value)`.
//!
//! The chat model checks a structured reply (and tool-call arguments) a second way:
//! `ChatModel.validateJsonSchema` builds its zod schema from the schema sent to the model with
//! `zod-from-json-schema` 0.0.5 (other keywords, another order, `uniqueItems` refined, no
//! formats) and words issues as `${path}: ${message}`; [`compile_model`] builds that one.

use std::sync::LazyLock;

use serde_json::{Map, Value};

/// A zod schema as `@aigne/json-schema-to-zod` builds it.
#[derive(Debug)]
enum Node {
    Any,
    Never,
    String(Vec<StringCheck>),
    Number(Vec<NumberCheck>),
    Boolean,
    Null,
    Literal(Value),
    Enum(Vec<String>),
    Union(Vec<Node>),
    /// `oneOf` with several schemas: `z.any().superRefine(…)` that parses the value with each
    /// schema (`safeParse`, paths from the value) and adds one `invalid_union` issue unless
    /// exactly one succeeds.
    OneOf(Vec<Node>),
    Array {
        item: Box<Node>,
        /// `zod-from-json-schema`'s `uniqueItems` refinement.
        unique: bool,
        min: Option<(usize, Option<String>)>,
        max: Option<(usize, Option<String>)>,
    },
    Object {
        shape: Vec<(String, Node)>,
        unknown: Unknown,
    },
    Record(Box<Node>),
    Optional(Box<Node>),
    Nullable(Box<Node>),
    Default(Value, Box<Node>),
}

#[derive(Debug)]
enum Unknown {
    Strip,
    Strict,
    Passthrough,
    Catchall(Box<Node>),
}

#[derive(Debug)]
enum StringCheck {
    /// `validation` name of zod's `invalid_string` issue, and the test.
    Format(&'static str, Format, Option<String>),
    Regex(regress::Regex, Option<String>),
    Min(usize, Option<String>),
    Max(usize, Option<String>),
}

#[derive(Debug, Clone, Copy)]
enum Format {
    Email,
    Ip,
    Ipv4,
    Ipv6,
    Url,
    Uuid,
    DateTime,
    Time,
    Date,
    Base64,
    Duration,
}

#[derive(Debug)]
enum NumberCheck {
    Int(Option<String>),
    MultipleOf(f64, Option<String>),
    Min(f64, bool, Option<String>),
    Max(f64, bool, Option<String>),
}

/// A construct the interpreter does not run (named as `inspect` lists it).
pub type Unsupported = String;

/// Whether the checks run natively for a schema construct `inspect` lists
/// (`project::Feature::SchemaConstruct`): every keyword runs as zod runs it (or is ignored, as
/// the converter ignores it) except those the converter builds from refinements or
/// intersections.
pub fn supports(construct: &str) -> bool {
    !matches!(
        construct,
        "keyword allOf"
            | "keyword not"
            | "keyword if"
            | "keyword patternProperties"
            | "keyword items list"
            | "keyword anyOf on an object"
            | "keyword pattern that is not a JavaScript regex"
            | "that is not an object"
    )
}

/// An agent's input or output schema as the official runtime checks it (top level
/// `passthrough()`), or the construct it cannot interpret.
pub fn compile(schema: &Value) -> Result<Compiled, Unsupported> {
    // The loader's `jsonSchemaSchema` keeps only these keys at the top level.
    let top = match schema {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(key, _)| {
                    matches!(
                        key.as_str(),
                        "type" | "properties" | "required" | "additionalProperties"
                    )
                })
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect(),
        ),
        other => other.clone(),
    };
    let mut node = parse_schema(&top, false)?;
    // `schema.passthrough()`: the agent's schema must be a zod object.
    let top = match &mut node {
        Node::Object { unknown, .. } => unknown,
        Node::Default(_, inner) => match inner.as_mut() {
            Node::Object { unknown, .. } => unknown,
            _ => return Err("a top-level schema that is not an object with properties".into()),
        },
        _ => return Err("a top-level schema that is not an object with properties".into()),
    };
    if !matches!(top, Unknown::Catchall(_)) {
        *top = Unknown::Passthrough;
    }
    Ok(Compiled(node))
}

/// The schema `ChatModel.validateJsonSchema` checks a structured reply or tool arguments with
/// (`convertJsonSchemaToZod` of `zod-from-json-schema` 0.0.5), or the construct it cannot
/// interpret (`allOf`, a boolean `exclusiveMinimum`/`exclusiveMaximum`).
pub fn compile_model(schema: &Value) -> Result<Compiled, Unsupported> {
    Ok(Compiled(model_node(schema)?))
}

fn model_node(schema: &Value) -> Result<Node, Unsupported> {
    let Value::Object(map) = schema else {
        return Err("a schema that is not an object".into());
    };
    let literals = |options: &[Value]| match options {
        [single] => Node::Literal(single.clone()),
        _ => Node::Union(options.iter().cloned().map(Node::Literal).collect()),
    };
    let enum_of = |name: &str| map.get(name).and_then(Value::as_array);
    if let Some(value) = map.get("const") {
        return Ok(match value {
            Value::Null => Node::Null,
            other => Node::Literal(other.clone()),
        });
    }
    match map.get("type").and_then(Value::as_str) {
        Some("string") => {
            if let Some(options) = enum_of("enum") {
                return Ok(if options.is_empty() {
                    Node::String(Vec::new())
                } else {
                    // `z.enum` of the values (a non-text value never matches).
                    Node::Enum(options.iter().map(js_string).collect())
                });
            }
            let mut checks = Vec::new();
            if let Some(min) = map.get("minLength").and_then(Value::as_u64) {
                checks.push(StringCheck::Min(min as usize, None));
            }
            if let Some(max) = map.get("maxLength").and_then(Value::as_u64) {
                checks.push(StringCheck::Max(max as usize, None));
            }
            if let Some(pattern) = map.get("pattern") {
                let regex = regress::Regex::new(&js_string(pattern))
                    .map_err(|_| "pattern that is not a JavaScript regex")?;
                checks.push(StringCheck::Regex(regex, None));
            }
            return Ok(Node::String(checks));
        }
        Some(kind @ ("number" | "integer")) => {
            if let Some(options) = enum_of("enum").filter(|options| !options.is_empty()) {
                return Ok(literals(options));
            }
            let mut checks = Vec::new();
            if kind == "integer" {
                checks.push(NumberCheck::Int(None));
            }
            let bound = |key: &str| -> Result<Option<f64>, Unsupported> {
                match map.get(key) {
                    None => Ok(None),
                    Some(Value::Number(number)) => Ok(number.as_f64()),
                    Some(_) => Err(format!("a {key} that is not a number")),
                }
            };
            if let Some(minimum) = bound("minimum")? {
                checks.push(NumberCheck::Min(minimum, true, None));
            }
            if let Some(maximum) = bound("maximum")? {
                checks.push(NumberCheck::Max(maximum, true, None));
            }
            if let Some(minimum) = bound("exclusiveMinimum")? {
                checks.push(NumberCheck::Min(minimum, false, None));
            }
            if let Some(maximum) = bound("exclusiveMaximum")? {
                checks.push(NumberCheck::Max(maximum, false, None));
            }
            if let Some(step) = bound("multipleOf")? {
                checks.push(NumberCheck::MultipleOf(step, None));
            }
            return Ok(Node::Number(checks));
        }
        Some("boolean") => {
            return Ok(
                match enum_of("enum").filter(|options| !options.is_empty()) {
                    Some(options) => literals(options),
                    None => Node::Boolean,
                },
            );
        }
        Some("null") => return Ok(Node::Null),
        Some("object") => {
            let Some(Value::Object(properties)) = map.get("properties") else {
                return Ok(Node::Object {
                    shape: Vec::new(),
                    unknown: Unknown::Strip,
                });
            };
            let required: Option<Vec<&str>> = map
                .get("required")
                .and_then(Value::as_array)
                .map(|names| names.iter().filter_map(Value::as_str).collect());
            let mut shape = Vec::new();
            for (key, property) in properties {
                let node = model_node(property)?;
                let node = match &required {
                    Some(names) if names.contains(&key.as_str()) => node,
                    _ => Node::Optional(Box::new(node)),
                };
                shape.push((key.clone(), node));
            }
            let unknown = match map.get("additionalProperties") {
                Some(Value::Bool(false)) => Unknown::Strip,
                _ => Unknown::Passthrough,
            };
            return Ok(Node::Object { shape, unknown });
        }
        Some("array") => {
            let item = match map.get("items") {
                Some(items) if is_js_truthy(items) => model_node(items)?,
                _ => Node::Any,
            };
            let limit = |key: &str| {
                map.get(key)
                    .and_then(Value::as_u64)
                    .map(|n| (n as usize, None))
            };
            return Ok(Node::Array {
                item: Box::new(item),
                unique: map.get("uniqueItems") == Some(&Value::Bool(true)),
                min: limit("minItems"),
                max: limit("maxItems"),
            });
        }
        _ => {}
    }
    if let Some(options) = enum_of("enum") {
        return Ok(if options.is_empty() {
            Node::Never
        } else if options.iter().all(Value::is_string) {
            Node::Enum(options.iter().map(js_string).collect())
        } else {
            literals(options)
        });
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(options) = enum_of(key).filter(|options| options.len() >= 2) {
            return Ok(Node::Union(
                options.iter().map(model_node).collect::<Result<_, _>>()?,
            ));
        }
        if key == "anyOf" && map.contains_key("allOf") {
            return Err("allOf".into());
        }
    }
    Ok(Node::Any)
}

/// A compiled schema.
#[derive(Debug)]
pub struct Compiled(Node);

impl Compiled {
    /// `checkArguments`' message for `value` (without its `PREFIX check arguments error: `), or
    /// `Ok` when zod's parse succeeds.
    pub fn check(&self, value: &Value) -> Result<(), String> {
        let mut issues = Vec::new();
        let mut path = Vec::new();
        parse(&self.0, Some(value), &mut path, &mut issues);
        if issues.is_empty() {
            return Ok(());
        }
        Err(issues
            .iter()
            .map(|issue| {
                let path = issue
                    .path
                    .iter()
                    .map(Segment::to_string)
                    .collect::<Vec<_>>()
                    .join(",");
                match &issue.union {
                    Some(errors) => {
                        let mut expected = Vec::new();
                        for error in errors {
                            expected_types(error, &mut expected);
                        }
                        let got =
                            lookup(value, &issue.path).map_or("undefined".to_owned(), js_string);
                        format!(
                            "{path}: {} expect {} got {got}",
                            issue.message,
                            expected.join(",")
                        )
                    }
                    None => format!("{path}: {}", issue.message),
                }
            })
            .collect::<Vec<_>>()
            .join(", "))
    }
}

impl Compiled {
    /// The value zod's parse returns for a `value` [`Compiled::check_plain`] accepted: objects
    /// list their schema's properties first, in its order, then (`passthrough()`) the other
    /// keys; a stripping object drops those. Unions and anything else are returned as they are.
    pub fn parsed(&self, value: Value) -> Value {
        parsed(&self.0, value)
    }

    /// `ChatModel.validateJsonSchema`'s message for `value` (after its `Output JSON does not
    /// conform to the provided JSON schema: `): `${path}: ${message}` per issue.
    pub fn check_plain(&self, value: &Value) -> Result<(), String> {
        let mut issues = Vec::new();
        parse(&self.0, Some(value), &mut Vec::new(), &mut issues);
        if issues.is_empty() {
            return Ok(());
        }
        Err(issues
            .iter()
            .map(|issue| {
                let path: Vec<String> = issue.path.iter().map(Segment::to_string).collect();
                format!("{}: {}", path.join(","), issue.message)
            })
            .collect::<Vec<_>>()
            .join(", "))
    }
}

#[derive(Debug, Clone)]
enum Segment {
    Key(String),
    Index(usize),
}

impl std::fmt::Display for Segment {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Key(key) => formatter.write_str(key),
            Self::Index(index) => write!(formatter, "{index}"),
        }
    }
}

#[derive(Debug)]
struct Issue {
    path: Vec<Segment>,
    message: String,
    /// `String(issue.expected)` where the issue has `expected` (`invalid_type`,
    /// `invalid_literal`), for `checkArguments`' union wording.
    expected: Option<String>,
    /// An `invalid_union`: each option's issues.
    union: Option<Vec<Vec<Issue>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Valid,
    Dirty,
    Aborted,
}

fn custom_message(schema: &Map<String, Value>, key: &str) -> Option<String> {
    schema
        .get("errorMessage")
        .and_then(|messages| messages.get(key))
        .map(js_string)
}

/// `parseSchema` of `@aigne/json-schema-to-zod` (`block_meta`: no `.default()`).
fn parse_schema(schema: &Value, block_meta: bool) -> Result<Node, Unsupported> {
    let map = match schema {
        Value::Object(map) => map,
        // `typeof schema !== 'object'`: `true` → any, `false` → never.
        Value::Bool(true) => return Ok(Node::Any),
        Value::Bool(false) | Value::Number(_) | Value::String(_) => {
            return Ok(if is_js_truthy(schema) {
                Node::Any
            } else {
                Node::Never
            });
        }
        Value::Null | Value::Array(_) => return Err("a schema that is not an object".into()),
    };
    let mut node = select(map)?;
    if !block_meta && let Some(default) = map.get("default") {
        node = Node::Default(default.clone(), Box::new(node));
    }
    Ok(node)
}

fn is_js_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(flag) => *flag,
        Value::Number(number) => number.as_f64().is_some_and(|n| n != 0.0 && !n.is_nan()),
        Value::String(text) => !text.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// `selectParser`, in its order.
fn select(map: &Map<String, Value>) -> Result<Node, Unsupported> {
    let kind = map.get("type");
    if map.get("nullable") == Some(&Value::Bool(true)) {
        let mut inner = map.clone();
        inner.remove("nullable");
        return Ok(Node::Nullable(Box::new(parse_schema(
            &Value::Object(inner),
            true,
        )?)));
    }
    if kind.and_then(Value::as_str) == Some("object") {
        return object(map);
    }
    if kind.and_then(Value::as_str) == Some("array") {
        return array(map);
    }
    if let Some(any_of) = map.get("anyOf") {
        return match any_of {
            Value::Array(items) if items.is_empty() => Ok(Node::Any),
            Value::Array(items) if items.len() == 1 => parse_schema(&items[0], false),
            Value::Array(items) => Ok(Node::Union(
                items
                    .iter()
                    .map(|item| parse_schema(item, false))
                    .collect::<Result<_, _>>()?,
            )),
            _ => Err("anyOf".into()),
        };
    }
    if map.contains_key("allOf") {
        return Err("allOf".into());
    }
    if let Some(one_of) = map.get("oneOf") {
        return match one_of {
            Value::Array(items) if items.is_empty() => Ok(Node::Any),
            Value::Array(items) if items.len() == 1 => parse_schema(&items[0], false),
            Value::Array(items) => Ok(Node::OneOf(
                items
                    .iter()
                    .map(|item| parse_schema(item, false))
                    .collect::<Result<_, _>>()?,
            )),
            _ => Err("oneOf".into()),
        };
    }
    if map.contains_key("not") {
        return Err("not".into());
    }
    if let Some(options) = map.get("enum") {
        let Value::Array(options) = options else {
            return Err("enum".into());
        };
        return Ok(match options.as_slice() {
            [] => Node::Never,
            [single] => Node::Literal(single.clone()),
            _ if options.iter().all(Value::is_string) => Node::Enum(
                options
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
            ),
            _ => Node::Union(options.iter().cloned().map(Node::Literal).collect()),
        });
    }
    if let Some(value) = map.get("const") {
        return Ok(Node::Literal(value.clone()));
    }
    if let Some(Value::Array(types)) = kind {
        let mut options = Vec::new();
        for item in types {
            let mut single = map.clone();
            single.insert("type".to_owned(), item.clone());
            options.push(parse_schema(&Value::Object(single), false)?);
        }
        return Ok(Node::Union(options));
    }
    match kind.and_then(Value::as_str) {
        Some("string") => return string(map),
        Some("number" | "integer") => return Ok(number(map)),
        Some("boolean") => return Ok(Node::Boolean),
        Some("null") => return Ok(Node::Null),
        _ => {}
    }
    let truthy = |key: &str| map.get(key).is_some_and(is_js_truthy);
    if map.contains_key("if") && truthy("if") && truthy("then") && truthy("else") {
        return Err("if".into());
    }
    Ok(Node::Any)
}

fn object(map: &Map<String, Value>) -> Result<Node, Unsupported> {
    if map
        .get("patternProperties")
        .and_then(Value::as_object)
        .is_some_and(|patterns| !patterns.is_empty())
        || map.get("patternProperties").is_some_and(|p| !p.is_object())
    {
        return Err("patternProperties".into());
    }
    if ["anyOf", "oneOf", "allOf"]
        .iter()
        .any(|key| map.contains_key(*key))
    {
        return Err("anyOf on an object".into());
    }
    let additional = map
        .get("additionalProperties")
        .map(|schema| parse_schema(schema, false))
        .transpose()?;
    let Some(properties) = map.get("properties") else {
        return Ok(Node::Record(Box::new(additional.unwrap_or(Node::Any))));
    };
    let Value::Object(properties) = properties else {
        return Err("properties".into());
    };
    let required: Option<Vec<&str>> = map
        .get("required")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).collect());
    let mut shape = Vec::new();
    for (key, property) in properties {
        let node = parse_schema(property, false)?;
        let has_default = property.get("default").is_some();
        let is_required = match &required {
            Some(names) => names.contains(&key.as_str()),
            None => property.get("required") == Some(&Value::Bool(true)),
        };
        let node = if !has_default && !is_required {
            Node::Optional(Box::new(node))
        } else {
            node
        };
        shape.push((key.clone(), node));
    }
    let unknown = match additional {
        None => Unknown::Strip,
        Some(Node::Never) => Unknown::Strict,
        Some(other) => Unknown::Catchall(Box::new(other)),
    };
    Ok(Node::Object { shape, unknown })
}

fn array(map: &Map<String, Value>) -> Result<Node, Unsupported> {
    let item = match map.get("items") {
        Some(Value::Array(_)) => return Err("items list".into()),
        Some(items) if is_js_truthy(items) => parse_schema(items, false)?,
        _ => Node::Any,
    };
    let limit = |key: &str| {
        map.get(key)
            .and_then(Value::as_u64)
            .map(|n| (n as usize, custom_message(map, key)))
    };
    Ok(Node::Array {
        item: Box::new(item),
        unique: false,
        min: limit("minItems"),
        max: limit("maxItems"),
    })
}

fn string(map: &Map<String, Value>) -> Result<Node, Unsupported> {
    let mut checks = Vec::new();
    if let Some(format) = map.get("format").and_then(Value::as_str) {
        let message = custom_message(map, "format");
        let check = match format {
            "email" => Some(("email", Format::Email)),
            "ip" => Some(("ip", Format::Ip)),
            "ipv4" => Some(("ip", Format::Ipv4)),
            "ipv6" => Some(("ip", Format::Ipv6)),
            "uri" => Some(("url", Format::Url)),
            "uuid" => Some(("uuid", Format::Uuid)),
            "date-time" => Some(("datetime", Format::DateTime)),
            "time" => Some(("time", Format::Time)),
            "date" => Some(("date", Format::Date)),
            "binary" => Some(("base64", Format::Base64)),
            "duration" => Some(("duration", Format::Duration)),
            _ => None,
        };
        if let Some((name, format)) = check {
            checks.push(StringCheck::Format(name, format, message));
        }
    }
    if map.contains_key("contentEncoding") {
        checks.push(StringCheck::Format(
            "base64",
            Format::Base64,
            custom_message(map, "contentEncoding"),
        ));
    }
    if let Some(pattern) = map.get("pattern") {
        let source = js_string(pattern);
        let regex =
            regress::Regex::new(&source).map_err(|_| "pattern that is not a JavaScript regex")?;
        checks.push(StringCheck::Regex(regex, custom_message(map, "pattern")));
    }
    if let Some(min) = map.get("minLength").and_then(Value::as_u64) {
        checks.push(StringCheck::Min(
            min as usize,
            custom_message(map, "minLength"),
        ));
    }
    if let Some(max) = map.get("maxLength").and_then(Value::as_u64) {
        checks.push(StringCheck::Max(
            max as usize,
            custom_message(map, "maxLength"),
        ));
    }
    Ok(Node::String(checks))
}

fn number(map: &Map<String, Value>) -> Node {
    let mut checks = Vec::new();
    let mut integer = false;
    if map.get("type").and_then(Value::as_str) == Some("integer") {
        integer = true;
        checks.push(NumberCheck::Int(custom_message(map, "type")));
    } else if map.get("format").and_then(Value::as_str) == Some("int64") {
        integer = true;
        checks.push(NumberCheck::Int(custom_message(map, "format")));
    }
    if let Some(step) = map.get("multipleOf").and_then(Value::as_f64) {
        let message = custom_message(map, "multipleOf");
        if step == 1.0 {
            if !integer {
                checks.push(NumberCheck::Int(message));
            }
        } else {
            checks.push(NumberCheck::MultipleOf(step, message));
        }
    }
    let number = |key: &str| map.get(key).and_then(Value::as_f64);
    if let Some(minimum) = number("minimum") {
        let exclusive = map.get("exclusiveMinimum") == Some(&Value::Bool(true));
        checks.push(NumberCheck::Min(
            minimum,
            !exclusive,
            custom_message(map, "minimum"),
        ));
    } else if let Some(minimum) = number("exclusiveMinimum") {
        checks.push(NumberCheck::Min(
            minimum,
            false,
            custom_message(map, "exclusiveMinimum"),
        ));
    }
    if let Some(maximum) = number("maximum") {
        let exclusive = map.get("exclusiveMaximum") == Some(&Value::Bool(true));
        checks.push(NumberCheck::Max(
            maximum,
            !exclusive,
            custom_message(map, "maximum"),
        ));
    } else if let Some(maximum) = number("exclusiveMaximum") {
        checks.push(NumberCheck::Max(
            maximum,
            false,
            custom_message(map, "exclusiveMaximum"),
        ));
    }
    Node::Number(checks)
}

/// zod's `getParsedType` of a JSON value (`None`: `undefined`).
fn parsed_type(value: Option<&Value>) -> &'static str {
    match value {
        None => "undefined",
        Some(Value::Null) => "null",
        Some(Value::Bool(_)) => "boolean",
        Some(Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Array(_)) => "array",
        Some(Value::Object(_)) => "object",
    }
}

fn push(issues: &mut Vec<Issue>, path: &[Segment], message: String) {
    issues.push(Issue {
        path: path.to_vec(),
        message,
        expected: None,
        union: None,
    });
}

/// An `invalid_type` issue (`Required` when the value is missing).
fn invalid_type(issues: &mut Vec<Issue>, path: &[Segment], expected: &str, value: Option<&Value>) {
    let received = parsed_type(value);
    let message = match value {
        None => "Required".to_owned(),
        Some(_) => format!("Expected {expected}, received {received}"),
    };
    issues.push(Issue {
        path: path.to_vec(),
        message,
        expected: Some(expected.to_owned()),
        union: None,
    });
}

/// zod's `_parse` of `node` over `value` (`None`: `undefined`): its issues, in zod's order.
fn parse(
    node: &Node,
    value: Option<&Value>,
    path: &mut Vec<Segment>,
    issues: &mut Vec<Issue>,
) -> Status {
    match node {
        Node::Any => Status::Valid,
        Node::Never => {
            invalid_type(issues, path, "never", value);
            Status::Aborted
        }
        Node::Optional(inner) => match value {
            None => Status::Valid,
            Some(_) => parse(inner, value, path, issues),
        },
        Node::Nullable(inner) => match value {
            Some(Value::Null) => Status::Valid,
            _ => parse(inner, value, path, issues),
        },
        Node::Default(default, inner) => match value {
            None => parse(inner, Some(default), path, issues),
            Some(_) => parse(inner, value, path, issues),
        },
        Node::Boolean | Node::Null => {
            let expected = if matches!(node, Node::Boolean) {
                "boolean"
            } else {
                "null"
            };
            if parsed_type(value) == expected {
                Status::Valid
            } else {
                invalid_type(issues, path, expected, value);
                Status::Aborted
            }
        }
        Node::Literal(expected) => {
            if value.is_some_and(|value| js_strict_equal(value, expected)) {
                Status::Valid
            } else {
                issues.push(Issue {
                    path: path.clone(),
                    message: format!("Invalid literal value, expected {}", js_json(expected)),
                    expected: Some(js_string(expected)),
                    union: None,
                });
                Status::Aborted
            }
        }
        Node::Enum(options) => {
            let joined = options
                .iter()
                .map(|option| format!("'{option}'"))
                .collect::<Vec<_>>()
                .join(" | ");
            match value {
                Some(Value::String(text)) if options.contains(text) => Status::Valid,
                Some(Value::String(text)) => {
                    push(
                        issues,
                        path,
                        format!("Invalid enum value. Expected {joined}, received '{text}'"),
                    );
                    Status::Aborted
                }
                _ => {
                    invalid_type(issues, path, &joined, value);
                    Status::Aborted
                }
            }
        }
        Node::String(checks) => {
            let Some(Value::String(text)) = value else {
                invalid_type(issues, path, "string", value);
                return Status::Aborted;
            };
            let mut status = Status::Valid;
            for check in checks {
                if let Some(message) = string_issue(check, text) {
                    push(issues, path, message);
                    status = Status::Dirty;
                }
            }
            status
        }
        Node::Number(checks) => {
            let Some(number) = value.and_then(Value::as_f64) else {
                invalid_type(issues, path, "number", value);
                return Status::Aborted;
            };
            let mut status = Status::Valid;
            for check in checks {
                let (failed, message, default) = match check {
                    NumberCheck::Int(message) => {
                        if number.fract() != 0.0 || !number.is_finite() {
                            issues.push(Issue {
                                path: path.clone(),
                                message: message
                                    .clone()
                                    .unwrap_or_else(|| "Expected integer, received float".into()),
                                expected: Some("integer".to_owned()),
                                union: None,
                            });
                            status = Status::Dirty;
                        }
                        continue;
                    }
                    NumberCheck::MultipleOf(step, message) => (
                        float_safe_remainder(number, *step) != 0.0,
                        message,
                        format!("Number must be a multiple of {}", js_number(*step)),
                    ),
                    NumberCheck::Min(minimum, true, message) => (
                        number < *minimum,
                        message,
                        format!(
                            "Number must be greater than or equal to {}",
                            js_number(*minimum)
                        ),
                    ),
                    NumberCheck::Min(minimum, false, message) => (
                        number <= *minimum,
                        message,
                        format!("Number must be greater than {}", js_number(*minimum)),
                    ),
                    NumberCheck::Max(maximum, true, message) => (
                        number > *maximum,
                        message,
                        format!(
                            "Number must be less than or equal to {}",
                            js_number(*maximum)
                        ),
                    ),
                    NumberCheck::Max(maximum, false, message) => (
                        number >= *maximum,
                        message,
                        format!("Number must be less than {}", js_number(*maximum)),
                    ),
                };
                if failed {
                    push(issues, path, message.clone().unwrap_or(default));
                    status = Status::Dirty;
                }
            }
            status
        }
        Node::Union(options) => {
            let mut dirty: Option<Vec<Issue>> = None;
            let mut errors = Vec::new();
            for option in options {
                let mut own = Vec::new();
                match parse(option, value, path, &mut own) {
                    Status::Valid => return Status::Valid,
                    Status::Dirty if dirty.is_none() => {
                        dirty = Some(own);
                        continue;
                    }
                    _ => {}
                }
                if !own.is_empty() {
                    errors.push(own);
                }
            }
            if let Some(own) = dirty {
                issues.extend(own);
                return Status::Dirty;
            }
            issues.push(Issue {
                path: path.clone(),
                message: "Invalid input".to_owned(),
                expected: None,
                union: Some(errors),
            });
            Status::Aborted
        }
        Node::OneOf(options) => {
            let mut errors = Vec::new();
            let mut passed = 0;
            for option in options {
                let mut own = Vec::new();
                if parse(option, value, &mut Vec::new(), &mut own) == Status::Valid {
                    passed += 1;
                } else {
                    errors.push(own);
                }
            }
            if passed == 1 {
                return Status::Valid;
            }
            // `ctx.addIssue({path: ctx.path, …})` inside the refinement: zod prefixes the
            // context's path again, so the issue's path is the value's path twice.
            let mut doubled = path.clone();
            doubled.extend(path.iter().cloned());
            issues.push(Issue {
                path: doubled,
                message: "Invalid input: Should pass single schema".to_owned(),
                expected: None,
                union: Some(errors),
            });
            Status::Dirty
        }
        Node::Array {
            item,
            unique,
            min,
            max,
        } => {
            let Some(Value::Array(items)) = value else {
                invalid_type(issues, path, "array", value);
                return Status::Aborted;
            };
            let mut status = Status::Valid;
            if let Some((minimum, message)) = min
                && items.len() < *minimum
            {
                push(
                    issues,
                    path,
                    message.clone().unwrap_or_else(|| {
                        format!("Array must contain at least {minimum} element(s)")
                    }),
                );
                status = Status::Dirty;
            }
            if let Some((maximum, message)) = max
                && items.len() > *maximum
            {
                push(
                    issues,
                    path,
                    message.clone().unwrap_or_else(|| {
                        format!("Array must contain at most {maximum} element(s)")
                    }),
                );
                status = Status::Dirty;
            }
            let status = merge(
                status,
                items.iter().enumerate().map(|(index, entry)| {
                    path.push(Segment::Index(index));
                    let status = parse(item, Some(entry), path, issues);
                    path.pop();
                    status
                }),
            );
            // A refinement runs unless the array is aborted.
            if *unique && status != Status::Aborted && !js_unique(items) {
                push(issues, path, "Array items must be unique".to_owned());
                return Status::Dirty;
            }
            status
        }
        Node::Record(item) => {
            let Some(Value::Object(map)) = value else {
                invalid_type(issues, path, "object", value);
                return Status::Aborted;
            };
            merge(
                Status::Valid,
                map.iter().map(|(key, entry)| {
                    path.push(Segment::Key(key.clone()));
                    let status = parse(item, Some(entry), path, issues);
                    path.pop();
                    status
                }),
            )
        }
        Node::Object { shape, unknown } => {
            let Some(Value::Object(map)) = value else {
                invalid_type(issues, path, "object", value);
                return Status::Aborted;
            };
            let mut statuses = Vec::new();
            for (key, property) in shape {
                path.push(Segment::Key(key.clone()));
                statuses.push(parse(property, map.get(key), path, issues));
                path.pop();
            }
            let extra: Vec<&String> = map
                .keys()
                .filter(|key| !shape.iter().any(|(name, _)| name == *key))
                .collect();
            let mut status = Status::Valid;
            match unknown {
                Unknown::Strip | Unknown::Passthrough => {}
                Unknown::Strict => {
                    if !extra.is_empty() {
                        let keys = extra
                            .iter()
                            .map(|key| format!("'{key}'"))
                            .collect::<Vec<_>>()
                            .join(", ");
                        push(
                            issues,
                            path,
                            format!("Unrecognized key(s) in object: {keys}"),
                        );
                        status = Status::Dirty;
                    }
                }
                Unknown::Catchall(item) => {
                    for key in extra {
                        path.push(Segment::Key(key.clone()));
                        statuses.push(parse(item, map.get(key), path, issues));
                        path.pop();
                    }
                }
            }
            merge(status, statuses.into_iter())
        }
    }
}

fn parsed(node: &Node, value: Value) -> Value {
    match (node, value) {
        (Node::Optional(inner) | Node::Nullable(inner) | Node::Default(_, inner), value) => {
            parsed(inner, value)
        }
        (Node::Array { item, .. }, Value::Array(items)) => {
            Value::Array(items.into_iter().map(|entry| parsed(item, entry)).collect())
        }
        (Node::Object { shape, unknown }, Value::Object(mut map)) => {
            let mut out = Map::new();
            for (key, property) in shape {
                if let Some(entry) = map.shift_remove(key) {
                    out.insert(key.clone(), parsed(property, entry));
                }
            }
            match unknown {
                Unknown::Strip | Unknown::Strict => {}
                Unknown::Passthrough => out.extend(map),
                Unknown::Catchall(item) => {
                    out.extend(
                        map.into_iter()
                            .map(|(key, entry)| (key, parsed(item, entry))),
                    );
                }
            }
            Value::Object(out)
        }
        (Node::Record(item), Value::Object(map)) => Value::Object(
            map.into_iter()
                .map(|(key, entry)| (key, parsed(item, entry)))
                .collect(),
        ),
        (_, value) => value,
    }
}

/// `zod-from-json-schema`'s `uniqueItems` test: text, numbers and booleans by value (in one
/// set, as JavaScript's `Set` keeps `1` and `"1"` apart), anything else by its
/// `JSON.stringify` text, which joins the same set as text.
fn js_unique(items: &[Value]) -> bool {
    #[derive(PartialEq)]
    enum Seen {
        Text(String),
        Number(f64),
        Bool(bool),
    }
    let mut seen: Vec<Seen> = Vec::new();
    for item in items {
        let key = match item {
            Value::String(text) => Seen::Text(text.clone()),
            Value::Number(number) => Seen::Number(number.as_f64().unwrap_or(f64::NAN)),
            Value::Bool(flag) => Seen::Bool(*flag),
            other => Seen::Text(js_json(other)),
        };
        if seen.contains(&key) {
            return false;
        }
        seen.push(key);
    }
    true
}

/// `ParseStatus.mergeArray` / `mergeObjectSync`: aborted if any part is.
fn merge(status: Status, parts: impl Iterator<Item = Status>) -> Status {
    let mut status = status;
    let mut aborted = false;
    for part in parts {
        match part {
            Status::Aborted => aborted = true,
            Status::Dirty if status == Status::Valid => status = Status::Dirty,
            _ => {}
        }
    }
    if aborted { Status::Aborted } else { status }
}

/// The message of a failed string check, or `None`.
fn string_issue(check: &StringCheck, text: &str) -> Option<String> {
    // JavaScript's `length`: UTF-16 code units.
    let length = || text.encode_utf16().count();
    match check {
        StringCheck::Min(minimum, message) => (length() < *minimum).then(|| {
            message
                .clone()
                .unwrap_or_else(|| format!("String must contain at least {minimum} character(s)"))
        }),
        StringCheck::Max(maximum, message) => (length() > *maximum).then(|| {
            message
                .clone()
                .unwrap_or_else(|| format!("String must contain at most {maximum} character(s)"))
        }),
        StringCheck::Regex(regex, message) => regex
            .find(text)
            .is_none()
            .then(|| message.clone().unwrap_or_else(|| "Invalid".to_owned())),
        StringCheck::Format(name, format, message) => (!format_matches(*format, text))
            .then(|| message.clone().unwrap_or_else(|| format!("Invalid {name}"))),
    }
}

fn js_regex(source: &str, flags: &str) -> regress::Regex {
    regress::Regex::with_flags(source, flags).expect("zod's own regular expressions compile")
}

// zod 3.25's regular expressions (`v3/types.js`), as written there.
static EMAIL: LazyLock<regress::Regex> = LazyLock::new(|| {
    js_regex(
        r"^(?!\.)(?!.*\.\.)([A-Z0-9_'+\-\.]*)[A-Z0-9_+-]@([A-Z0-9][A-Z0-9\-]*\.)+[A-Z]{2,}$",
        "i",
    )
});
static UUID: LazyLock<regress::Regex> = LazyLock::new(|| {
    js_regex(
        r"^[0-9a-fA-F]{8}\b-[0-9a-fA-F]{4}\b-[0-9a-fA-F]{4}\b-[0-9a-fA-F]{4}\b-[0-9a-fA-F]{12}$",
        "i",
    )
});
static IPV4: LazyLock<regress::Regex> = LazyLock::new(|| {
    js_regex(
        r"^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])$",
        "",
    )
});
static IPV6: LazyLock<regress::Regex> = LazyLock::new(|| {
    js_regex(
        r"^(([0-9a-fA-F]{1,4}:){7,7}[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,7}:|([0-9a-fA-F]{1,4}:){1,6}:[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,5}(:[0-9a-fA-F]{1,4}){1,2}|([0-9a-fA-F]{1,4}:){1,4}(:[0-9a-fA-F]{1,4}){1,3}|([0-9a-fA-F]{1,4}:){1,3}(:[0-9a-fA-F]{1,4}){1,4}|([0-9a-fA-F]{1,4}:){1,2}(:[0-9a-fA-F]{1,4}){1,5}|[0-9a-fA-F]{1,4}:((:[0-9a-fA-F]{1,4}){1,6})|:((:[0-9a-fA-F]{1,4}){1,7}|:)|fe80:(:[0-9a-fA-F]{0,4}){0,4}%[0-9a-zA-Z]{1,}|::(ffff(:0{1,4}){0,1}:){0,1}((25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])\.){3,3}(25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])|([0-9a-fA-F]{1,4}:){1,4}:((25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])\.){3,3}(25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9]))$",
        "",
    )
});
static BASE64: LazyLock<regress::Regex> = LazyLock::new(|| {
    js_regex(
        r"^([0-9a-zA-Z+/]{4})*(([0-9a-zA-Z+/]{2}==)|([0-9a-zA-Z+/]{3}=))?$",
        "",
    )
});
static DURATION: LazyLock<regress::Regex> = LazyLock::new(|| {
    js_regex(
        r"^[-+]?P(?!$)(?:(?:[-+]?\d+Y)|(?:[-+]?\d+[.,]\d+Y$))?(?:(?:[-+]?\d+M)|(?:[-+]?\d+[.,]\d+M$))?(?:(?:[-+]?\d+W)|(?:[-+]?\d+[.,]\d+W$))?(?:(?:[-+]?\d+D)|(?:[-+]?\d+[.,]\d+D$))?(?:T(?=[\d+-])(?:(?:[-+]?\d+H)|(?:[-+]?\d+[.,]\d+H$))?(?:(?:[-+]?\d+M)|(?:[-+]?\d+[.,]\d+M$))?(?:[-+]?\d+(?:[.,]\d+)?S)?)??$",
        "",
    )
});
const DATE_SOURCE: &str = r"((\d\d[2468][048]|\d\d[13579][26]|\d\d0[48]|[02468][048]00|[13579][26]00)-02-29|\d{4}-((0[13578]|1[02])-(0[1-9]|[12]\d|3[01])|(0[469]|11)-(0[1-9]|[12]\d|30)|(02)-(0[1-9]|1\d|2[0-8])))";
/// `timeRegexSource({precision: null})`.
const TIME_SOURCE: &str = r"([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d+)?)?";
static DATE: LazyLock<regress::Regex> = LazyLock::new(|| js_regex(&format!("^{DATE_SOURCE}$"), ""));
static TIME: LazyLock<regress::Regex> = LazyLock::new(|| js_regex(&format!("^{TIME_SOURCE}$"), ""));
/// `datetimeRegex({offset: true, local: false, precision: null})`.
static DATE_TIME: LazyLock<regress::Regex> = LazyLock::new(|| {
    js_regex(
        &format!("^{DATE_SOURCE}T{TIME_SOURCE}(Z|([+-]\\d{{2}}:?\\d{{2}}))$"),
        "",
    )
});

fn format_matches(format: Format, text: &str) -> bool {
    let regex = match format {
        Format::Email => &EMAIL,
        Format::Uuid => &UUID,
        Format::Ipv4 => &IPV4,
        Format::Ipv6 => &IPV6,
        Format::Ip => return IPV4.find(text).is_some() || IPV6.find(text).is_some(),
        Format::Base64 => &BASE64,
        Format::Duration => &DURATION,
        Format::Date => &DATE,
        Format::Time => &TIME,
        Format::DateTime => &DATE_TIME,
        // `new URL(value)`: the WHATWG URL parser, as the `url` crate implements it.
        Format::Url => return url::Url::parse(text).is_ok(),
    };
    regex.find(text).is_some()
}

/// zod's `floatSafeRemainder(value, step)`.
fn float_safe_remainder(value: f64, step: f64) -> f64 {
    let decimals = |number: f64| {
        js_number(number)
            .split('.')
            .nth(1)
            .map_or(0, |digits| digits.len())
    };
    let count = decimals(value).max(decimals(step));
    // `Number.parseInt(x.toFixed(count).replace(".", ""))` (`toFixed` prints 1e21 and beyond
    // as `String(x)` does, and `parseInt` reads the leading digits).
    let as_int = |number: f64| -> f64 {
        let fixed = if number.abs() >= 1e21 {
            js_float(number)
        } else {
            format!("{number:.count$}")
        };
        let text = fixed.replacen('.', "", 1);
        let digits: String = text
            .char_indices()
            .take_while(|(i, c)| c.is_ascii_digit() || (*i == 0 && *c == '-'))
            .map(|(_, c)| c)
            .collect();
        digits.parse::<f64>().unwrap_or(f64::NAN)
    };
    (as_int(value) % as_int(step)) / 10f64.powi(count as i32)
}

/// A number as JavaScript's `String(n)` prints it.
fn js_number(number: f64) -> String {
    js_float(number)
}

/// ECMAScript's `Number::toString(x)`: the shortest digits that read back as `x` (Rust's
/// `{:e}` finds them), placed as the specification places them (plain from 1e-7 up to 1e21,
/// else `d.ddde±n`).
pub fn js_float(float: f64) -> String {
    if float.is_nan() {
        return "NaN".to_owned();
    }
    if float == 0.0 {
        return "0".to_owned();
    }
    if float.is_infinite() {
        return if float > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    let sign = if float < 0.0 { "-" } else { "" };
    let scientific = format!("{:e}", float.abs());
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let k = digits.len() as i32;
    // The decimal point sits after `n` digits.
    let n = exponent.parse::<i32>().unwrap_or(0) + 1;
    let body = if k <= n && n <= 21 {
        format!("{digits}{}", "0".repeat((n - k) as usize))
    } else if 0 < n && n <= 21 {
        format!("{}.{}", &digits[..n as usize], &digits[n as usize..])
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", "0".repeat((-n) as usize))
    } else {
        let e = n - 1;
        let e = if e >= 0 {
            format!("+{e}")
        } else {
            e.to_string()
        };
        match k {
            1 => format!("{digits}e{e}"),
            _ => format!("{}.{}e{e}", &digits[..1], &digits[1..]),
        }
    };
    format!("{sign}{body}")
}

/// JavaScript's `String(value)` of a JSON value.
pub fn js_string(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => js_json_number(number),
        Value::String(text) => text.clone(),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::Null => String::new(),
                other => js_string(other),
            })
            .collect::<Vec<_>>()
            .join(","),
        Value::Object(_) => "[object Object]".to_owned(),
    }
}

/// A JSON number as JavaScript prints it (an integer beyond 2^53 is a float to it too).
pub fn js_json_number(number: &serde_json::Number) -> String {
    match number.as_f64() {
        Some(float) if number.is_f64() || float.abs() >= 1e21 => js_float(float),
        _ => number.to_string(),
    }
}

/// `JSON.stringify(value)`.
fn js_json(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// `===` between two JSON values (objects and arrays are never equal: distinct references).
fn js_strict_equal(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Array(_) | Value::Object(_), _) => false,
        _ => left == right,
    }
}

/// `checkArguments`' `getExpectedTypes` over one option's issues.
fn expected_types(issues: &[Issue], out: &mut Vec<String>) {
    for issue in issues {
        if let Some(expected) = &issue.expected {
            out.push(expected.clone());
        } else if let Some(errors) = &issue.union {
            for error in errors {
                expected_types(error, out);
            }
        }
    }
}

/// `get(value, path)` of `@aigne/core`'s type utils: a step into anything but a plain object
/// (an array too) is `undefined`; an empty path is the value itself.
fn lookup<'a>(value: &'a Value, path: &[Segment]) -> Option<&'a Value> {
    let mut current = value;
    for segment in path {
        current = match (segment, current) {
            (Segment::Key(key), Value::Object(map)) => map.get(key)?,
            (Segment::Index(index), Value::Object(map)) => map.get(&index.to_string())?,
            _ => return None,
        };
    }
    Some(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(schema: Value, value: Value) -> Result<(), String> {
        compile(&schema).unwrap().check(&value)
    }

    /// Each expected text is what `checkArguments` of `@aigne/core` 1.72 printed for the same
    /// schema (converted by `@aigne/json-schema-to-zod`, `passthrough()`) and value.
    #[test]
    fn issues_are_worded_and_ordered_as_zod() {
        assert_eq!(
            check(
                json!({"type":"object","properties":{"name":{"type":"string","minLength":3,"maxLength":5,"pattern":"^[A-Z]"}},"required":["name"]}),
                json!({"name":"a"})
            ),
            Err("name: Invalid, name: String must contain at least 3 character(s)".into())
        );
        assert_eq!(
            check(
                json!({"type":"object","properties":{"mail":{"type":"string","format":"email"},"u":{"type":"string","format":"uri"},"id":{"type":"string","format":"uuid"},"t":{"type":"string","format":"date-time"},"d":{"type":"string","format":"date"},"tm":{"type":"string","format":"time"},"url":{"type":"string","format":"url"}}}),
                json!({"mail":"x","u":"nope","id":"1","t":"2020-01-01","d":"2020-02-30","tm":"25:00","url":"x"})
            ),
            Err("mail: Invalid email, u: Invalid url, id: Invalid uuid, t: Invalid datetime, d: Invalid date, tm: Invalid time".into())
        );
        assert_eq!(
            check(
                json!({"type":"object","properties":{"n":{"type":"integer","minimum":2,"maximum":5,"multipleOf":2},"m":{"type":"number","exclusiveMinimum":0,"exclusiveMaximum":1.5}}}),
                json!({"n":1.5,"m":1.5})
            ),
            Err("n: Expected integer, received float, n: Number must be a multiple of 2, n: Number must be greater than or equal to 2, m: Number must be less than 1.5".into())
        );
        assert_eq!(
            check(
                json!({"type":"object","properties":{"a":{"type":"array","minItems":2,"maxItems":3,"items":{"type":"object","properties":{"name":{"type":"string"}},"required":["name"]}}}}),
                json!({"a":[{}]})
            ),
            Err("a: Array must contain at least 2 element(s), a,0,name: Required".into())
        );
        assert_eq!(
            check(
                json!({"type":"object","properties":{"c":{"const":"x"},"e":{"enum":[1,2,3]},"s":{"type":"string","enum":["a","b"]}}}),
                json!({"c":"y","e":5,"s":4})
            ),
            Err("c: Invalid literal value, expected \"x\", e: Invalid input expect 1,2,3 got 5, s: Expected 'a' | 'b', received number".into())
        );
        assert_eq!(
            check(
                json!({"type":"object","properties":{"o":{"type":["string","null"]}},"required":["o"]}),
                json!({})
            ),
            Err("o: Invalid input expect string,null got undefined".into())
        );
        assert_eq!(
            check(
                json!({"type":"object","properties":{"o":{"type":["string","number"]}},"required":["o"]}),
                json!({"o":[1,[2,3]]})
            ),
            Err("o: Invalid input expect string,number got 1,2,3".into())
        );
        assert_eq!(
            check(
                json!({"type":"object","properties":{"o":{"type":"object","properties":{"x":{"type":"string"}},"additionalProperties":false}},"additionalProperties":false}),
                json!({"o":{"x":"a","y":1,"z":2},"top":1})
            ),
            Err("o: Unrecognized key(s) in object: 'y', 'z'".into())
        );
        assert_eq!(
            check(
                json!({"type":"object","properties":{"n":{"type":"number","minimum":1e21,"multipleOf":0.1}}}),
                json!({"n":0.30000000000000004})
            ),
            Err("n: Number must be a multiple of 0.1, n: Number must be greater than or equal to 1e+21".into())
        );
        assert_eq!(
            check(
                json!({"type":"object","properties":{"o":{"anyOf":[{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]},{"type":"null"}]},"p":{"type":["string","null"],"minLength":3}}}),
                json!({"o":{},"p":"a"})
            ),
            Err("o: Invalid input expect string,null got [object Object], p: String must contain at least 3 character(s)".into())
        );
        assert_eq!(
            check(
                json!({"type":"object","properties":{"o":{"enum":[]},"p":{"enum":["x"]},"r":{"enum":["a",1]},"e":{"type":"string","errorMessage":{"minLength":"too short!"},"minLength":4}}}),
                json!({"o":1,"r":true,"e":"a"})
            ),
            Err("o: Expected never, received number, r: Invalid input expect a,1 got true, e: too short!".into())
        );
        assert_eq!(
            check(
                json!({"type":"object","properties":{"o":{"type":"string","format":"ipv4"},"p":{"type":"string","format":"binary"},"q":{"type":"string","format":"duration"},"r":{"type":"string","format":"hostname"},"i":{"type":"integer","format":"int64"},"m":{"type":"number","multipleOf":1}}}),
                json!({"o":"1.2.3","p":"@@","q":"P","r":"??","i":1.5,"m":2.5})
            ),
            Err("o: Invalid ip, p: Invalid base64, q: Invalid duration, i: Expected integer, received float, m: Expected integer, received float".into())
        );
        assert_eq!(
            check(
                json!({"type":"object","properties":{"a":{"type":"array","items":{"type":"string"},"minItems":1},"d":{"type":"string","default":"zz","minLength":3}},"required":["a"]}),
                json!({"a":[1,"x",null]})
            ),
            Err("a,0: Expected string, received number, a,2: Expected string, received null, d: String must contain at least 3 character(s)".into())
        );
    }

    /// What `ChatModel.validateJsonSchema` (`zod-from-json-schema`) printed for each.
    #[test]
    fn model_checks_are_worded_as_zod_from_json_schema() {
        let model =
            |schema: Value, value: Value| compile_model(&schema).unwrap().check_plain(&value);
        assert_eq!(
            model(
                json!({"type":"object","properties":{"title":{"type":"string","minLength":3,"maxLength":4,"pattern":"^x"},"rating":{"type":"integer","minimum":1,"maximum":5,"multipleOf":2},"links":{"type":"array","maxItems":2,"uniqueItems":true,"items":{"type":"string","format":"uri"}}},"required":["title","rating"],"additionalProperties":false}),
                json!({"title":"ok","rating":7.5,"links":["nope","nope","b"]})
            ),
            Err("title: String must contain at least 3 character(s), title: Invalid, rating: Expected integer, received float, rating: Number must be less than or equal to 5, rating: Number must be a multiple of 2, links: Array must contain at most 2 element(s), links: Array items must be unique".into())
        );
        assert_eq!(
            model(
                json!({"type":"object","properties":{"a":{"anyOf":[{"type":"string"},{"type":"number"}]},"b":{"enum":[1,2]},"c":{"const":null},"d":{"type":"string","enum":["x","y"]},"e":{"type":"object","properties":{"f":{"type":"number","exclusiveMinimum":0}},"required":["f"]}},"required":["a","b","c","d","e"]}),
                json!({"a":true,"b":3,"c":1,"d":"z","e":{"f":0}})
            ),
            Err("a: Invalid input, b: Invalid input, c: Expected null, received number, d: Invalid enum value. Expected 'x' | 'y', received 'z', e,f: Number must be greater than 0".into())
        );
        assert_eq!(
            model(
                json!({"type":"object","properties":{"a":{"type":"array","uniqueItems":true}}}),
                json!({"a":["{}",{}]})
            ),
            Err("a: Array items must be unique".into())
        );
        // A stripping object drops keys its schema does not list; properties come first.
        let compiled = compile_model(&json!({"type":"object","properties":{"a":{"type":"string"},"b":{"type":"object","properties":{"c":{"type":"number"}}}},"additionalProperties":false})).unwrap();
        assert_eq!(
            compiled
                .parsed(json!({"x":1,"b":{"d":2,"c":1},"a":"s"}))
                .to_string(),
            r#"{"a":"s","b":{"c":1,"d":2}}"#
        );
    }

    /// Found by comparing 3000 random schemas and values with the reference: `get` does not step
    /// into arrays, and `toFixed` of 1e21 is exponential (so 1e21 is no multiple of 2).
    #[test]
    fn union_values_inside_arrays_and_huge_multiples() {
        assert_eq!(
            check(
                json!({"type":"object","properties":{"s":{"type":"array","items":{"enum":[1,2]}},"n":{"type":"integer","multipleOf":2}}}),
                json!({"s":[3],"n":1e21})
            ),
            Err(
                "s,0: Invalid input expect 1,2 got undefined, n: Number must be a multiple of 2"
                    .into()
            )
        );
    }

    #[test]
    fn valid_values_pass() {
        let schema = json!({"type":"object","properties":{
            "mail":{"type":"string","format":"email"},"t":{"type":"string","format":"date-time"},
            "id":{"type":"string","format":"uuid"},"u":{"type":"string","format":"uri"},
            "n":{"type":["integer","null"],"minimum":0},"tags":{"type":"array","uniqueItems":true},
            "free":{"type":"object","additionalProperties":true}
        },"required":["mail"],"additionalProperties":false});
        assert_eq!(
            check(
                schema,
                json!({"mail":"a.b@example.com","t":"2024-05-01T10:00:00.5+02:00","id":"123e4567-e89b-12d3-a456-426614174000","u":"https://x.dev/a?b","n":null,"tags":[1,1],"free":{"x":1},"extra":true})
            ),
            Ok(())
        );
    }

    #[test]
    fn constructs_built_from_refinements_are_named() {
        for (schema, name) in [
            (
                json!({"allOf": [{"type": "string"}, {"minLength": 1}]}),
                "allOf",
            ),
            (json!({"not": {"type": "string"}}), "not"),
            (
                json!({"type": "array", "items": [{"type": "string"}]}),
                "items list",
            ),
            (
                json!({"type": "object", "patternProperties": {"^x": {}}}),
                "patternProperties",
            ),
        ] {
            let top = json!({"type": "object", "properties": {"a": schema}});
            assert_eq!(compile(&top).unwrap_err(), name);
        }
        assert!(compile(&json!({"type": "object"})).is_err());
    }
    /// `oneOf` with several schemas (`z.any().superRefine`): exactly one must pass; the issue's
    /// path is doubled (`ctx.addIssue({path: ctx.path})`), so `get` finds nothing there. Each
    /// expected result is what `checkArguments` of `@aigne/core` (`@aigne/cli` 1.59.0) gave for
    /// the same schema (`passthrough()`) and value (on success, the value it returned).
    #[test]
    fn one_of_runs_as_the_refinement_does() {
        for (schema, value, expected) in [
            (
                json!({"type": "object", "properties": {"choice": {"oneOf": [{"type": "string", "maxLength": 3}, {"type": "number"}]}}, "required": ["choice"]}),
                json!({"choice": "abc"}),
                Ok::<Value, &str>(json!({"choice":"abc"})),
            ),
            (
                json!({"type": "object", "properties": {"choice": {"oneOf": [{"type": "string", "maxLength": 3}, {"type": "number"}]}}, "required": ["choice"]}),
                json!({"choice": "abcdef"}),
                Err(
                    "choice,choice: Invalid input: Should pass single schema expect number got undefined",
                ),
            ),
            (
                json!({"type": "object", "properties": {"choice": {"oneOf": [{"type": "string", "maxLength": 3}, {"type": "number"}]}}, "required": ["choice"]}),
                json!({}),
                Err(
                    "choice,choice: Invalid input: Should pass single schema expect string,number got undefined",
                ),
            ),
            (
                json!({"type": "object", "properties": {"choice": {"oneOf": [{"type": "string", "maxLength": 3}, {"type": "number"}]}}}),
                json!({}),
                Ok(json!({})),
            ),
            (
                json!({"type": "object", "properties": {"choice": {"oneOf": [{"type": "string"}, {"type": "string", "minLength": 2}]}}}),
                json!({"choice": "abc"}),
                Err(
                    "choice,choice: Invalid input: Should pass single schema expect  got undefined",
                ),
            ),
            (
                json!({"type": "object", "properties": {"l": {"type": "array", "items": {"oneOf": [{"type": "string"}, {"enum": [1, 2]}]}}}}),
                json!({"l": ["a", 3, true]}),
                Err(
                    "l,1,l,1: Invalid input: Should pass single schema expect string,1,2 got undefined, l,2,l,2: Invalid input: Should pass single schema expect string,1,2 got undefined",
                ),
            ),
            (
                json!({"type": "object", "properties": {"o": {"type": "object", "properties": {"p": {"oneOf": [{"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}, {"type": "null"}]}}, "required": ["p"]}}}),
                json!({"o": {"p": {"a": 1}}}),
                Err(
                    "o,p,o,p: Invalid input: Should pass single schema expect string,null got undefined",
                ),
            ),
            (
                json!({"type": "object", "properties": {"o": {"oneOf": [{"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}, {"type": "object", "properties": {"b": {"type": "number"}}}]}}}),
                json!({"o": {"a": "x", "c": 1}}),
                Err("o,o: Invalid input: Should pass single schema expect  got undefined"),
            ),
            (
                json!({"type": "object", "properties": {"o": {"oneOf": [{"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}, {"type": "object", "properties": {"b": {"type": "number"}}, "required": ["b"]}]}, "n": {"type": "number"}}}),
                json!({"o": {"a": "x", "c": 1}, "n": "s"}),
                Err("n: Expected number, received string"),
            ),
            (
                json!({"type": "object", "properties": {"o": {"oneOf": [{"type": "string"}, {"type": "number"}], "default": 5}}}),
                json!({}),
                Ok(json!({"o":5})),
            ),
            (
                json!({"type": "object", "properties": {"o": {"oneOf": [{"type": "string"}, {"anyOf": [{"type": "number"}, {"type": "boolean"}]}]}}}),
                json!({"o": null}),
                Err(
                    "o,o: Invalid input: Should pass single schema expect string,number,boolean got undefined",
                ),
            ),
        ] {
            let got = compile(&schema).unwrap().check(&value);
            assert_eq!(
                got,
                expected.map(|_| ()).map_err(str::to_owned),
                "{schema} {value}"
            );
        }
    }
}
