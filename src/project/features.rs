//! [`Feature`]s a project uses, each with the agent and file that uses it. Which of them an
//! engine supports is the engine's business; this module only lists them.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;
use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use super::Project;
use super::agent::{
    AgentDef, AgentKind, TeamMode, ToolChoiceDef, is_base_key, is_effective_passthrough,
};
use super::error::Location;

/// A feature of the AIGNE project format.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Feature {
    /// An agent `type` (`ai`, `team`, `transform`, `mcp`, `function`, `js` for JS files,
    /// `image`, or a module name).
    AgentType(String),
    /// `instructions`.
    Instructions,
    /// `{% include %}` in an instruction.
    TemplateInclude,
    /// A JSONata object constructor with an unquoted key (`{userId: user_id}`): the key is a
    /// path into the input, and jsonata-js drops the pair when it is undefined.
    JsonataPathKey,
    /// A JSONata expression with such a key that also lists an object's keys or values
    /// (`$keys`, `$each`, `$spread`, `$sift`, `$string`, the wildcards `*`/`**`): it could see a
    /// pair the native engine drops only from the result.
    JsonataPathKeyListed,
    /// A JSONata construct the native engine may not run as jsonata-js does: `function $NAME`
    /// (a call of one of jsonata-js's built-in functions) or `keys listed by NAME` (`$keys`,
    /// `$each`, `$spread`, `$sift`, `$string` of a value that may be an object, the wildcards:
    /// what they list follows an object's key order).
    JsonataConstruct(String),
    /// A Nunjucks construct in an instruction (or a file it includes) beyond variables, `if`,
    /// `for`, `set` and `include`: `tag NAME`, `filter NAME`, `variable $NAME` or
    /// `method call .NAME()`.
    TemplateSyntax(String),
    /// A JSON-schema construct of an `input_schema`/`output_schema` beyond `type`,
    /// `properties`, `required`, `items`, `description` and `default` (`keyword minLength`,
    /// `format email`, `keyword oneOf`, …), as the official runtime's zod schema is built from it.
    SchemaConstruct(String),
    /// `input_schema`.
    InputSchema,
    /// `output_schema`.
    OutputSchema,
    /// `default_input`.
    DefaultInput,
    /// `include_input_in_output`.
    IncludeInputInOutput,
    /// `skills` of an agent.
    Skills,
    /// `skills` of `aigne.yaml` (offered to every AI agent).
    GlobalSkills,
    /// `hooks`.
    Hooks,
    /// `memory` (legacy memory).
    Memory,
    /// `afs`, with its module names (`true` for `afs: true`).
    Afs(String),
    /// `session` (AI agents).
    Session,
    /// `tool_choice` with its value.
    ToolChoice(String),
    /// `tool_calls_concurrency`.
    ToolCallsConcurrency,
    /// `catch_tools_error: false`.
    CatchToolsErrorOff,
    /// `structured_stream_mode`.
    StructuredStreamMode,
    /// `input_file_key`.
    InputFileKey,
    /// `output_file_key`.
    OutputFileKey,
    /// `keep_text_in_tool_uses`.
    KeepTextInToolUses,
    /// Team `mode` (`sequential` or `parallel`).
    TeamMode(String),
    /// Team `iterate_on` (+ `concurrency`).
    IterateOn,
    /// Team `iterate_with_previous_output`.
    IterateWithPreviousOutput,
    /// Team `include_all_steps_output`.
    IncludeAllStepsOutput,
    /// Team `reflection`.
    Reflection,
    /// A per-agent `model`.
    PerAgentModel,
    /// A `{$get}` getter in model options.
    ModelGetter,
    /// `image_model`.
    ImageModel,
    /// `task_title` / `task_render_mode` (UI only).
    TaskTitle,
    /// A passthrough key some AIGNE class reads (`retry_on_error`, …), camelCase.
    PassthroughKey(String),
    /// A key no AIGNE class reads (no effect), camelCase.
    IgnoredKey(String),
}

impl fmt::Display for Feature {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AgentType(name) => write!(formatter, "type: {name}"),
            Self::Instructions => write!(formatter, "instructions"),
            Self::TemplateInclude => write!(formatter, "{{% include %}}"),
            Self::TemplateSyntax(construct) => write!(formatter, "template {construct}"),
            Self::JsonataPathKey => write!(formatter, "jsonata object key that is a path"),
            Self::JsonataConstruct(construct) => write!(formatter, "jsonata {construct}"),
            Self::JsonataPathKeyListed => write!(
                formatter,
                "jsonata object key that is a path, with the object's keys listed"
            ),
            Self::SchemaConstruct(construct) => write!(formatter, "schema {construct}"),
            Self::InputSchema => write!(formatter, "input_schema"),
            Self::OutputSchema => write!(formatter, "output_schema"),
            Self::DefaultInput => write!(formatter, "default_input"),
            Self::IncludeInputInOutput => write!(formatter, "include_input_in_output"),
            Self::Skills => write!(formatter, "skills"),
            Self::GlobalSkills => write!(formatter, "global skills"),
            Self::Hooks => write!(formatter, "hooks"),
            Self::Memory => write!(formatter, "memory"),
            Self::Afs(modules) => write!(formatter, "afs: {modules}"),
            Self::Session => write!(formatter, "session"),
            Self::ToolChoice(choice) => write!(formatter, "tool_choice: {choice}"),
            Self::ToolCallsConcurrency => write!(formatter, "tool_calls_concurrency"),
            Self::CatchToolsErrorOff => write!(formatter, "catch_tools_error: false"),
            Self::StructuredStreamMode => write!(formatter, "structured_stream_mode"),
            Self::InputFileKey => write!(formatter, "input_file_key"),
            Self::OutputFileKey => write!(formatter, "output_file_key"),
            Self::KeepTextInToolUses => write!(formatter, "keep_text_in_tool_uses"),
            Self::TeamMode(mode) => write!(formatter, "mode: {mode}"),
            Self::IterateOn => write!(formatter, "iterate_on"),
            Self::IterateWithPreviousOutput => write!(formatter, "iterate_with_previous_output"),
            Self::IncludeAllStepsOutput => write!(formatter, "include_all_steps_output"),
            Self::Reflection => write!(formatter, "reflection"),
            Self::PerAgentModel => write!(formatter, "per-agent model"),
            Self::ModelGetter => write!(formatter, "model option getter ($get)"),
            Self::ImageModel => write!(formatter, "image_model"),
            Self::TaskTitle => write!(formatter, "task_title"),
            Self::PassthroughKey(key) => write!(formatter, "key {key}"),
            Self::IgnoredKey(key) => write!(formatter, "key {key} (no effect)"),
        }
    }
}

/// One use of a feature.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureUse {
    /// The feature.
    pub feature: Feature,
    /// The agent using it (empty for `aigne.yaml` itself).
    pub agent: String,
    /// Where.
    pub location: Location,
}

pub(super) fn collect(project: &Project) -> Vec<FeatureUse> {
    let mut out = Vec::new();
    if !project.skills.is_empty() {
        out.push(FeatureUse {
            feature: Feature::GlobalSkills,
            agent: String::new(),
            location: Location::file(&project.file),
        });
    }
    if project.image_model.is_some() {
        out.push(FeatureUse {
            feature: Feature::ImageModel,
            agent: String::new(),
            location: Location::file(&project.file),
        });
    }
    if project
        .model
        .as_ref()
        .is_some_and(|m| has_getter(&m.options))
    {
        out.push(FeatureUse {
            feature: Feature::ModelGetter,
            agent: String::new(),
            location: Location::file(&project.file),
        });
    }
    let mut seen: HashSet<*const AgentDef> = HashSet::new();
    for agent in project.top_level_agents() {
        walk(&project.root_dir, agent, &mut seen, &mut out);
    }
    out
}

fn has_getter(options: &serde_json::Map<String, Value>) -> bool {
    options.values().any(|value| match value {
        Value::Object(map) => map.contains_key("$get") || has_getter(map),
        _ => false,
    })
}

/// `history`, `history,local-fs`, or `true` / `{}` when no module is mounted.
fn afs_modules(afs: &Value) -> String {
    let names: Vec<String> = afs
        .get("modules")
        .and_then(Value::as_array)
        .map(|modules| {
            modules
                .iter()
                .filter_map(|module| match module {
                    Value::String(name) => Some(name.clone()),
                    Value::Object(entry) => entry
                        .get("module")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let has_context = afs.get("context").is_some_and(|c| !c.is_null());
    match (names.is_empty(), has_context) {
        (true, _) if afs.is_boolean() => "true".to_owned(),
        (true, _) => "{}".to_owned(),
        (false, false) => names.join(","),
        (false, true) => format!("{}+context", names.join(",")),
    }
}

fn walk(
    root: &Path,
    agent: &Arc<AgentDef>,
    seen: &mut HashSet<*const AgentDef>,
    out: &mut Vec<FeatureUse>,
) {
    if !seen.insert(Arc::as_ptr(agent)) {
        return;
    }
    let mut push = |feature: Feature| {
        out.push(FeatureUse {
            feature,
            agent: agent.name.clone(),
            location: agent.location(),
        });
    };
    push(Feature::AgentType(agent.kind.type_name().to_owned()));
    if agent.input_schema.is_some() {
        push(Feature::InputSchema);
    }
    if agent.output_schema.is_some() {
        push(Feature::OutputSchema);
    }
    let mut constructs = BTreeSet::new();
    for schema in [&agent.input_schema, &agent.output_schema]
        .into_iter()
        .flatten()
    {
        schema_constructs(schema, true, &mut constructs);
    }
    for construct in constructs {
        push(Feature::SchemaConstruct(construct));
    }
    if !agent.default_input.is_empty() {
        push(Feature::DefaultInput);
    }
    if agent.include_input_in_output {
        push(Feature::IncludeInputInOutput);
    }
    if !agent.skills.is_empty() {
        push(Feature::Skills);
    }
    if !agent.hooks.is_empty() {
        push(Feature::Hooks);
    }
    if agent.memory.is_some() {
        push(Feature::Memory);
    }
    if let Some(afs) = agent.afs.as_ref().filter(|afs| **afs != Value::Bool(false)) {
        push(Feature::Afs(afs_modules(afs)));
    }
    if let Some(model) = &agent.model {
        push(Feature::PerAgentModel);
        if has_getter(&model.options) {
            push(Feature::ModelGetter);
        }
    }
    if agent.image_model.is_some() {
        push(Feature::ImageModel);
    }
    if agent.task_title.is_some() {
        push(Feature::TaskTitle);
    }
    for key in agent.extra.keys() {
        if is_base_key(key) {
            continue;
        }
        if is_effective_passthrough(key) {
            push(Feature::PassthroughKey(key.clone()));
        } else {
            push(Feature::IgnoredKey(key.clone()));
        }
    }
    match &agent.kind {
        AgentKind::Ai(ai) => {
            if !ai.instructions.is_empty() {
                push(Feature::Instructions);
            }
            if ai
                .instructions
                .iter()
                .any(|i| i.content.contains("{% include") || i.content.contains("{%- include"))
            {
                push(Feature::TemplateInclude);
            }
            let mut constructs = BTreeSet::new();
            for instruction in &ai.instructions {
                template_constructs(
                    root,
                    &instruction.content,
                    &instruction.path,
                    0,
                    &mut constructs,
                );
            }
            for construct in constructs {
                push(Feature::TemplateSyntax(construct));
            }
            if let Some(choice) = ai.tool_choice {
                push(Feature::ToolChoice(
                    match choice {
                        ToolChoiceDef::Auto => "auto",
                        ToolChoiceDef::None => "none",
                        ToolChoiceDef::Required => "required",
                        ToolChoiceDef::Router => "router",
                    }
                    .to_owned(),
                ));
            }
            if ai.tool_calls_concurrency.is_some_and(|n| n > 1) {
                push(Feature::ToolCallsConcurrency);
            }
            if !ai.catch_tools_error {
                push(Feature::CatchToolsErrorOff);
            }
            if ai.structured_stream_mode {
                push(Feature::StructuredStreamMode);
            }
            if ai.input_file_key.is_some() {
                push(Feature::InputFileKey);
            }
            if ai.output_file_key.is_some() {
                push(Feature::OutputFileKey);
            }
            if ai.keep_text_in_tool_uses {
                push(Feature::KeepTextInToolUses);
            }
            if ai.session.is_some() {
                push(Feature::Session);
            }
        }
        AgentKind::Team(team) => {
            push(Feature::TeamMode(
                match team.mode {
                    TeamMode::Sequential => "sequential",
                    TeamMode::Parallel => "parallel",
                }
                .to_owned(),
            ));
            if team.iterate_on.is_some() {
                push(Feature::IterateOn);
            }
            if team.iterate_with_previous_output {
                push(Feature::IterateWithPreviousOutput);
            }
            if team.include_all_steps_output {
                push(Feature::IncludeAllStepsOutput);
            }
            if team.reflection.is_some() {
                push(Feature::Reflection);
            }
        }
        AgentKind::Image { .. } => {
            push(Feature::Instructions);
        }
        AgentKind::Transform { jsonata } => {
            let code = TEMPLATE_STRING.replace_all(jsonata, "\"\"");
            if JSONATA_PATH_KEY.is_match(&code) {
                push(Feature::JsonataPathKey);
                if JSONATA_LISTS_KEYS.is_match(&code) {
                    push(Feature::JsonataPathKeyListed);
                }
            }
            for construct in jsonata_constructs(&code) {
                push(Feature::JsonataConstruct(construct));
            }
        }
        _ => {}
    }
    for child in agent.children() {
        walk(root, child, seen, out);
    }
}

/// Blocks `{% … %}` and expressions `{{ … }}` of a template (comments skipped).
static TEMPLATE_BLOCK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?s)\{%-?\s*([A-Za-z_]\w*)(.*?)-?%\}|\{\{(.*?)\}\}")
        .unwrap_or_else(|_| unreachable!())
});
/// `| name` (dotted names such as `yaml.stringify` included).
static TEMPLATE_FILTER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\|\s*([A-Za-z_][\w.]*)").unwrap_or_else(|_| unreachable!()));
/// `$name` variables and `.name(` method calls, outside string literals.
static TEMPLATE_DOLLAR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\$[A-Za-z_]\w*").unwrap_or_else(|_| unreachable!()));
static TEMPLATE_METHOD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[\w\])]\s*\.\s*([A-Za-z_]\w*)\s*\(").unwrap_or_else(|_| unreachable!())
});
/// String literals and the comparison operators `==`, `!=`, `===`, `!==`, in order.
static TEMPLATE_COMPARISON: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#""(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|===|!==|==|!="#)
        .unwrap_or_else(|_| unreachable!())
});
/// `{name:` or `, name:` outside strings: a dict literal key written bare (Nunjucks reads it
/// as the text `name`, minijinja as a variable).
static TEMPLATE_BARE_KEY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[{,]\s*[A-Za-z_$][\w$]*\s*:").unwrap_or_else(|_| unreachable!()));
/// A number literal with an exponent that Nunjucks' lexer splits: `1.5e3` (the number `1.5`,
/// then the name `e3`: a syntax error) and `1e+3` (the name `1e`, `+`, `3`). A plain `1e3` is
/// one name to that lexer, a variable, and the native engine reads it so.
static TEMPLATE_EXPONENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|[^\w.$])\d+(?:\.\d+[eE][+-]?|[eE][+-])\d").unwrap_or_else(|_| unreachable!())
});
static TEMPLATE_STRING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#""(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'"#).unwrap_or_else(|_| unreachable!())
});
/// `{name:` or `, name:` outside strings: an object constructor key written as a path.
static JSONATA_PATH_KEY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[{,]\s*[A-Za-z_][\w]*\s*:").unwrap_or_else(|_| unreachable!()));
/// What lists an object's keys or values in JSONata: `$keys`, `$each`, `$spread`, `$sift`,
/// `$string`, and the wildcards (`a.*`, `*.b`, `**`, a leading `*`).
static JSONATA_LISTS_KEYS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\$(?:keys|each|spread|sift|string)\b|\.\s*\*|\*\s*\.|\*\*|(?:^|[\[(,{:?])\s*\*")
        .unwrap_or_else(|_| unreachable!())
});
/// A call `$name(` (string literals already blanked).
static JSONATA_CALL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\$([A-Za-z_]\w*)\s*\(").unwrap_or_else(|_| unreachable!()));
/// Wildcards, which list an object's values in key order: `a.*`, `*.b`, `**`, a leading `*`.
static JSONATA_WILDCARD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\.\s*\*|\*\s*\.|\*\*|(?:^|[\[(,{:?])\s*\*").unwrap_or_else(|_| unreachable!())
});
/// The built-in functions of jsonata-js (2.x, as `@aigne/core` uses it).
const JSONATA_FUNCTIONS: &[&str] = &[
    "sum",
    "count",
    "max",
    "min",
    "average",
    "string",
    "substring",
    "substringBefore",
    "substringAfter",
    "lowercase",
    "uppercase",
    "length",
    "trim",
    "pad",
    "match",
    "contains",
    "replace",
    "split",
    "join",
    "formatNumber",
    "formatBase",
    "formatInteger",
    "parseInteger",
    "number",
    "floor",
    "ceil",
    "round",
    "abs",
    "sqrt",
    "power",
    "random",
    "boolean",
    "not",
    "map",
    "zip",
    "filter",
    "single",
    "reduce",
    "sift",
    "keys",
    "lookup",
    "append",
    "exists",
    "spread",
    "merge",
    "reverse",
    "each",
    "error",
    "assert",
    "type",
    "sort",
    "shuffle",
    "distinct",
    "base64encode",
    "base64decode",
    "encodeUrlComponent",
    "encodeUrl",
    "decodeUrlComponent",
    "decodeUrl",
    "eval",
    "toMillis",
    "fromMillis",
    "clone",
    "now",
    "millis",
];
/// Functions whose result lists an object's keys or values in its key order.
const JSONATA_KEY_LISTING: &[&str] = &["keys", "each", "spread", "sift"];
/// Functions whose result is a number (or a string): `$string` of one is no object.
const JSONATA_SCALAR: &[&str] = &[
    "count",
    "length",
    "sum",
    "max",
    "min",
    "average",
    "number",
    "round",
    "floor",
    "ceil",
    "abs",
    "power",
    "sqrt",
    "millis",
    "string",
    "substring",
    "lowercase",
    "uppercase",
    "trim",
    "join",
];

/// The JSONata constructs of an expression (string literals blanked) that `inspect` lists:
/// each built-in function called (`function $NAME`), and what lists an object's keys (`keys
/// listed by NAME`). A `$string(…)` whose argument is a literal number or a call of a function
/// returning a number or a string (`$string($count(items) + 1)`) lists no keys.
fn jsonata_constructs(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for captures in JSONATA_CALL.captures_iter(code) {
        let name = &captures[1];
        if !JSONATA_FUNCTIONS.contains(&name) {
            continue;
        }
        out.push(format!("function ${name}"));
        let listed = JSONATA_KEY_LISTING.contains(&name)
            || (name == "string" && {
                let end = captures.get(0).map_or(0, |whole| whole.end());
                let argument = code[end..].trim_start();
                let scalar_call = JSONATA_CALL
                    .captures(argument)
                    .filter(|call| call.get(0).is_some_and(|whole| whole.start() == 0))
                    .is_some_and(|call| JSONATA_SCALAR.contains(&&call[1]));
                let literal = argument.starts_with(|c: char| c.is_ascii_digit() || c == '-')
                    || argument.starts_with("\"\"");
                !(scalar_call || literal)
            });
        if listed {
            out.push(format!("keys listed by ${name}"));
        }
    }
    if JSONATA_WILDCARD.is_match(code) {
        out.push("keys listed by a wildcard".to_owned());
    }
    out.sort();
    out.dedup();
    out
}
static TEMPLATE_INCLUDE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"\{%-?\s*include\s+["']([^"']+)["']"#).unwrap_or_else(|_| unreachable!())
});

/// Collects the Nunjucks constructs of `text` (from `path`) beyond variables, `if`, `for`,
/// `set` and `include`, following `{% include %}`s that stay inside the project folder `root`
/// (a file that cannot be read is left to the render, which names it).
/// `==`/`!=` are JavaScript's loose equality in Nunjucks (`1 == '1'`, `'' == 0`, `null ==
/// undefined` hold) and strict in minijinja: they agree only when one side is a text literal
/// that is not empty and does not read as a number (`mode == "draft"`, as real prompts
/// compare). Any other comparison is `loose comparison`; `===`/`!==` (which minijinja lacks)
/// are `operator ===`.
fn comparison_constructs(body: &str, out: &mut BTreeSet<String>) {
    let tokens: Vec<regex::Match<'_>> = TEMPLATE_COMPARISON.find_iter(body).collect();
    let is_text = |token: &regex::Match<'_>| {
        let text = token.as_str();
        if !(text.starts_with('"') || text.starts_with('\'')) {
            return false;
        }
        let inner = text[1..text.len() - 1].trim();
        !inner.is_empty()
            && inner.parse::<f64>().is_err()
            && !inner.starts_with("0x")
            && !inner.starts_with("0X")
            && !inner.starts_with("0b")
            && !inner.starts_with("0o")
            && !inner.contains("Infinity")
    };
    for (index, token) in tokens.iter().enumerate() {
        let operator = token.as_str();
        if !matches!(operator, "==" | "!=" | "===" | "!==") {
            continue;
        }
        if operator.len() == 3 {
            out.insert("operator ===".to_owned());
            continue;
        }
        let before = index
            .checked_sub(1)
            .map(|i| &tokens[i])
            .filter(|previous| body[previous.end()..token.start()].trim().is_empty());
        let after = tokens
            .get(index + 1)
            .filter(|next| body[token.end()..next.start()].trim().is_empty());
        if !before.is_some_and(is_text) && !after.is_some_and(is_text) {
            out.insert("loose comparison".to_owned());
        }
    }
}

/// The constructs of a JSON schema (see [`Feature::SchemaConstruct`]), walking it as
/// `@aigne/json-schema-to-zod` does (properties, items, additional properties, the members of
/// `anyOf`/`oneOf`/`allOf`, `not`, `if`/`then`/`else`, pattern properties). The top level is an
/// object with properties (the loader requires it and keeps only `type`, `properties`,
/// `required` and `additionalProperties` there).
fn schema_constructs(schema: &Value, top: bool, out: &mut BTreeSet<String>) {
    let map = match schema {
        Value::Object(map) => map,
        Value::Bool(_) | Value::Number(_) | Value::String(_) => return,
        Value::Null | Value::Array(_) => {
            out.insert("that is not an object".to_owned());
            return;
        }
    };
    const PLAIN: &[&str] = &[
        "type",
        "properties",
        "required",
        "items",
        "description",
        "default",
        "title",
        "$schema",
        "$ref",
        "$id",
        "examples",
    ];
    for (key, value) in map {
        if top && !matches!(key.as_str(), "properties" | "additionalProperties") {
            continue;
        }
        match key.as_str() {
            "format" => {
                out.insert(format!("format {}", value.as_str().unwrap_or("?")));
            }
            "items" if value.is_array() => {
                out.insert("keyword items list".to_owned());
            }
            "oneOf" if value.as_array().is_some_and(|items| items.len() < 2) => {}
            "patternProperties" if value.as_object().is_some_and(|items| items.is_empty()) => {}
            "anyOf" | "oneOf" | "allOf"
                if map.get("type").and_then(Value::as_str) == Some("object") =>
            {
                out.insert("keyword anyOf on an object".to_owned());
            }
            "pattern" => {
                let source = value.as_str().unwrap_or_default();
                if regress::Regex::new(source).is_err() {
                    out.insert("keyword pattern that is not a JavaScript regex".to_owned());
                } else {
                    out.insert("keyword pattern".to_owned());
                }
            }
            "enum" => {
                let strings = value
                    .as_array()
                    .is_some_and(|items| items.iter().all(Value::is_string));
                out.insert(
                    if strings {
                        "keyword enum"
                    } else {
                        "keyword enum of non-strings"
                    }
                    .to_owned(),
                );
            }
            "type" if value.is_array() => {
                out.insert("keyword type list".to_owned());
            }
            key if PLAIN.contains(&key) => {}
            key => {
                out.insert(format!("keyword {key}"));
            }
        }
    }
    let mut walk = |value: &Value| schema_constructs(value, false, out);
    if let Some(Value::Object(properties)) = map.get("properties") {
        properties.values().for_each(&mut walk);
    }
    if let Some(Value::Object(patterns)) = map.get("patternProperties").filter(|_| !top) {
        patterns.values().for_each(&mut walk);
    }
    for key in ["items", "additionalProperties", "not", "if", "then", "else"] {
        if top && key != "additionalProperties" {
            continue;
        }
        match map.get(key) {
            Some(Value::Array(items)) => items.iter().for_each(&mut walk),
            Some(value @ Value::Object(_)) => walk(value),
            _ => {}
        }
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(items)) = map.get(key).filter(|_| !top) {
            items.iter().for_each(&mut walk);
        }
    }
}

fn template_constructs(
    root: &Path,
    text: &str,
    path: &Path,
    depth: usize,
    out: &mut BTreeSet<String>,
) {
    const PLAIN_TAGS: &[&str] = &[
        "if", "elif", "else", "endif", "for", "endfor", "set", "endset", "include",
    ];
    for block in TEMPLATE_BLOCK.captures_iter(text) {
        let (tag, body) = match (block.get(1), block.get(2), block.get(3)) {
            (Some(tag), Some(body), _) => (Some(tag.as_str()), body.as_str()),
            (_, _, Some(expression)) => (None, expression.as_str()),
            _ => continue,
        };
        if let Some(tag) = tag
            && !PLAIN_TAGS.contains(&tag)
        {
            out.insert(format!("tag {tag}"));
        }
        let code = TEMPLATE_STRING.replace_all(body, "\"\"");
        for filter in TEMPLATE_FILTER.captures_iter(&code) {
            out.insert(format!("filter {}", &filter[1]));
        }
        for variable in TEMPLATE_DOLLAR.find_iter(&code) {
            out.insert(format!("variable {}", variable.as_str()));
        }
        for method in TEMPLATE_METHOD.captures_iter(&code) {
            out.insert(format!("method call .{}()", &method[1]));
        }
        if TEMPLATE_BARE_KEY.is_match(&code) {
            out.insert("dict literal with a bare key".to_owned());
        }
        if TEMPLATE_EXPONENT.is_match(&code) {
            out.insert("number literal with an exponent".to_owned());
        }
        comparison_constructs(body, out);
    }
    if depth >= 8 {
        return;
    }
    let Some(folder) = path.parent() else {
        return;
    };
    for include in TEMPLATE_INCLUDE.captures_iter(text) {
        let target = folder.join(&include[1]);
        let Ok(canonical) = target.canonicalize() else {
            continue;
        };
        let inside = root
            .canonicalize()
            .is_ok_and(|root| canonical.starts_with(root));
        let small = canonical
            .metadata()
            .is_ok_and(|meta| meta.is_file() && meta.len() <= 1 << 20);
        if inside
            && small
            && let Ok(included) = fs_err::read_to_string(&canonical)
        {
            template_constructs(root, &included, &canonical, depth + 1, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{BTreeSet, jsonata_constructs, schema_constructs, template_constructs};
    use serde_json::json;
    use std::path::Path;

    fn template(text: &str) -> Vec<String> {
        let mut out = BTreeSet::new();
        template_constructs(
            Path::new("/nowhere"),
            text,
            Path::new("/nowhere/a.md"),
            0,
            &mut out,
        );
        out.into_iter().collect()
    }

    /// Nunjucks' readings minijinja does not share are marked; comparisons with a text literal,
    /// as real prompts write them, are not.
    #[test]
    fn template_constructs_mark_loose_equality_bare_keys_and_exponents() {
        assert!(
            template(r#"{% if mode == "draft" %}{% elif ratio != '16:9' %}{% endif %}"#).is_empty()
        );
        assert!(
            template(r#"{% if "a b" == mode %}{% endif %}{{ null | dump }}"#)
                .iter()
                .all(|construct| construct == "filter dump")
        );
        for text in [
            "{% if count == '1' %}{% endif %}",
            "{% if n == null %}{% endif %}",
            "{{ a != b }}",
            "{% if x == '' %}{% endif %}",
            "{{ loop.index == 1 }}",
        ] {
            assert_eq!(template(text), ["loose comparison"], "{text}");
        }
        assert_eq!(template("{{ a === 1 }}"), ["operator ==="]);
        assert_eq!(
            template("{% set o = {mode: 1} %}"),
            ["dict literal with a bare key"]
        );
        assert!(template(r#"{% set o = {"mode": 1} %}{{ a[1:2] }}"#).is_empty());
        for text in ["{{ 1.5e3 }}", "{{ 1e+3 }}", "{{ 2E-1 }}"] {
            assert_eq!(
                template(text),
                ["number literal with an exponent"],
                "{text}"
            );
        }
        // One name to Nunjucks' lexer, read as a variable by both engines.
        assert!(template("{{ 1e21 }}").is_empty());
        assert!(template("{{ e1 }}{{ x.e2 }}{{ 12 }}").is_empty());
    }

    #[test]
    fn schema_constructs_name_keywords_and_refinements() {
        let mut out = BTreeSet::new();
        schema_constructs(
            &json!({"type": "object", "description": "top", "properties": {
                "a": {"type": "string", "minLength": 1, "format": "email", "pattern": "^(?=x)"},
                "b": {"oneOf": [{"type": "string"}, {"type": "number"}]},
                "c": {"type": "array", "items": {"type": "object", "properties": {"d": {"enum": [1, 2]}}}},
                "e": {"type": ["string", "null"], "not": {"const": "x"}}
            }}),
            true,
            &mut out,
        );
        assert_eq!(
            out.into_iter().collect::<Vec<_>>(),
            [
                "format email",
                "keyword const",
                "keyword enum of non-strings",
                "keyword minLength",
                "keyword not",
                "keyword oneOf",
                "keyword pattern",
                "keyword type list"
            ]
        );
    }

    /// Every built-in call is listed; what lists an object's keys is marked, and `$string` of a
    /// number is not.
    #[test]
    fn jsonata_constructs_name_functions_and_key_listings() {
        assert_eq!(
            jsonata_constructs(
                r#"{"k": $keys(obj), "t": $type(x), "m": $merge([$, {}]), "f": $f(1)}"#
            ),
            [
                "function $keys",
                "function $merge",
                "function $type",
                "keys listed by $keys"
            ]
        );
        assert_eq!(
            jsonata_constructs(r#"{"v": "v" & $string($count(feedback) + 1), "n": $string(2)}"#),
            ["function $count", "function $string"]
        );
        assert_eq!(
            jsonata_constructs(r#"{"s": $string(obj)}"#),
            ["function $string", "keys listed by $string"]
        );
        assert_eq!(
            jsonata_constructs("{\"all\": obj.*, \"product\": a * b}"),
            ["keys listed by a wildcard"]
        );
        assert!(jsonata_constructs("{\"product\": price * quantity}").is_empty());
    }
}
