//! Reading cases: inputs files (`.jsonl`/`.ndjson`, `.json` object or array, `.yaml` list,
//! `-` for stdin), `--prompt` and `--input-json`.
//!
//! Each entry is interpreted the same way (DESIGN.md):
//! - an object with an `input` key is a case `{id?, input, expected?, assert?, agent?, session?,
//!   metadata?, tags?}` (other keys are an error, so a typo never silently becomes input);
//! - any other object is the input itself;
//! - a string is text for the agent's `input_key` (or `message`).
//!
//! Every malformed entry is found with its line (nothing stops at the first), so the caller can
//! report them before any model call (a screenful, the rest counted: [`parse_inputs_keeping`]),
//! or record them all as skipped.
//!
//! Lines: in JSON Lines the physical line; in a JSON array the line where the element starts; in
//! a YAML list the line of the element's `-` (block style; a flow-style list gives line 1).
//! Blank lines of a JSON Lines file are not cases.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::assertion::{Assertion, JudgeKind, excerpt, kind_of};
use super::case::{Case, InvalidCase};
use super::error::BatchError;

/// Keys of the case shape.
const CASE_KEYS: &[&str] = &[
    "id", "input", "expected", "assert", "agent", "session", "metadata", "tags",
];

/// Where the cases come from.
#[derive(Debug, Clone)]
pub enum InputsSource {
    /// An inputs file (format from the extension; sniffed when unknown).
    File(PathBuf),
    /// Standard input (format sniffed).
    Stdin,
    /// `--prompt TEXT`: one text input.
    Prompt(String),
    /// `--input-json JSON`: one entry.
    InputJson(String),
}

/// The format of an inputs text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputsFormat {
    /// One JSON value per line.
    JsonLines,
    /// One JSON object (one case) or an array of entries.
    Json,
    /// A YAML list of entries (or one mapping).
    Yaml,
    /// Decide from the content.
    Sniff,
}

impl InputsFormat {
    /// The format of a file, from its extension.
    pub fn of_path(path: &Path) -> Self {
        match path
            .extension()
            .and_then(|extension| extension.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("jsonl" | "ndjson") => Self::JsonLines,
            Some("json") => Self::Json,
            Some("yaml" | "yml") => Self::Yaml,
            _ => Self::Sniff,
        }
    }
}

/// The cases of a run, before sharding.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// How the source is named in messages and annotations (the path as given, `<stdin>`,
    /// `--prompt`, `--input-json`).
    pub label: String,
    /// The path of the file, for annotations (`None` for stdin and inline inputs).
    pub path: Option<PathBuf>,
    /// Well-formed cases in file order.
    pub cases: Vec<Case>,
    /// Malformed entries in file order (the first ones only, when the reader was asked to keep
    /// only a few: see [`Inputs::more_invalid`]).
    pub invalid: Vec<InvalidCase>,
    /// How many more malformed entries there were than `invalid` holds (counted, not kept).
    pub more_invalid: usize,
}

impl Inputs {
    /// Every line holding a case, valid or not, sorted.
    pub fn lines(&self) -> Vec<usize> {
        let mut lines: Vec<usize> = self
            .cases
            .iter()
            .map(|case| case.line)
            .chain(self.invalid.iter().map(|invalid| invalid.line))
            .collect();
        lines.sort_unstable();
        lines
    }
}

/// Reads and parses the cases of a source. `display` is how a file path is named.
pub fn read_inputs(source: &InputsSource) -> Result<Inputs, BatchError> {
    let (label, path, text, format) = match source {
        InputsSource::File(path) => {
            let label = path.display().to_string();
            let text = fs_err::read_to_string(path).map_err(|source| BatchError::ReadInputs {
                file: label.clone(),
                source,
            })?;
            (label, Some(path.clone()), text, InputsFormat::of_path(path))
        }
        InputsSource::Stdin => {
            let text = std::io::read_to_string(std::io::stdin()).map_err(|source| {
                BatchError::ReadInputs {
                    file: "<stdin>".to_owned(),
                    source,
                }
            })?;
            ("<stdin>".to_owned(), None, text, InputsFormat::Sniff)
        }
        InputsSource::Prompt(text) => {
            let mut case = Case::new(1, Value::String(text.clone()));
            case.id = "prompt".to_owned();
            return Ok(Inputs {
                label: "--prompt".to_owned(),
                path: None,
                cases: vec![case],
                invalid: Vec::new(),
                more_invalid: 0,
            });
        }
        InputsSource::InputJson(text) => {
            let (mut cases, invalid) = parse_inputs(text, InputsFormat::Json);
            if let Some(case) = cases.first_mut()
                && case.id == "line-1"
            {
                case.id = "input-json".to_owned();
            }
            return Ok(Inputs {
                label: "--input-json".to_owned(),
                path: None,
                cases,
                invalid,
                more_invalid: 0,
            });
        }
    };
    let (cases, invalid) = parse_inputs(&text, format);
    Ok(Inputs {
        label,
        path,
        cases,
        invalid,
        more_invalid: 0,
    })
}

/// Parses an inputs text into cases and malformed entries (all of them).
pub fn parse_inputs(text: &str, format: InputsFormat) -> (Vec<Case>, Vec<InvalidCase>) {
    let parsed = parse_inputs_keeping(text, format, usize::MAX);
    (parsed.cases, parsed.invalid)
}

/// What [`parse_inputs_keeping`] found.
#[derive(Debug)]
pub struct Parsed {
    /// Well-formed cases in file order.
    pub cases: Vec<Case>,
    /// The first malformed entries in file order (at most the `keep` asked for).
    pub invalid: Vec<InvalidCase>,
    /// How many more malformed entries there were (counted, not kept).
    pub more_invalid: usize,
}

/// Parses an inputs text into cases and malformed entries, keeping the first `keep` of these
/// and counting the rest: when they are only listed (`--on-invalid-input error` lists a
/// screenful), a file of a million malformed lines must not hold a million messages in memory.
pub fn parse_inputs_keeping(text: &str, format: InputsFormat, keep: usize) -> Parsed {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let entries: Box<dyn Iterator<Item = Entry> + '_> = match format {
        InputsFormat::JsonLines => Box::new(json_lines(text)),
        InputsFormat::Json => Box::new(json_document(text).into_iter()),
        InputsFormat::Yaml => Box::new(yaml_document(text).into_iter()),
        InputsFormat::Sniff => sniff(text),
    };
    let mut parsed = Parsed {
        cases: Vec::new(),
        invalid: Vec::new(),
        more_invalid: 0,
    };
    let mut malformed = |invalid: InvalidCase| {
        if parsed.invalid.len() < keep {
            parsed.invalid.push(invalid);
        } else {
            parsed.more_invalid += 1;
        }
    };
    let mut cases = Vec::new();
    let mut ids: HashMap<String, usize> = HashMap::new();
    for entry in entries {
        match entry {
            Entry::Value { line, value, text } => match interpret(line, value) {
                Ok(case) => {
                    if let Some(first) = ids.get(&case.id) {
                        malformed(InvalidCase {
                            line,
                            message: format!("duplicate id `{}` (first on line {first})", case.id),
                            text,
                        });
                    } else {
                        ids.insert(case.id.clone(), line);
                        cases.push(case);
                    }
                }
                Err(message) => malformed(InvalidCase {
                    line,
                    message,
                    text,
                }),
            },
            Entry::Invalid(invalid_case) => malformed(invalid_case),
        }
    }
    parsed.cases = cases;
    parsed
}

enum Entry {
    Value {
        line: usize,
        value: Value,
        text: String,
    },
    Invalid(InvalidCase),
}

fn json_lines(text: &str) -> impl Iterator<Item = Entry> + '_ {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            let number = index + 1;
            match serde_json::from_str::<Value>(line) {
                Ok(value) => Entry::Value {
                    line: number,
                    value,
                    text: excerpt(line.trim()),
                },
                Err(error) => Entry::Invalid(InvalidCase {
                    line: number,
                    message: format!("invalid JSON: {}", json_error_text(&error)),
                    text: excerpt(line.trim()),
                }),
            }
        })
}

/// serde_json's message without its own ` at line L column C` suffix (we give the line).
fn json_error_text(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(index) => format!("{} (column {})", &text[..index], error.column()),
        None => text,
    }
}

fn json_document(text: &str) -> Vec<Entry> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(items)) => {
            let lines = json_array_item_lines(text);
            spread(items, &lines, text)
        }
        Ok(value) => vec![Entry::Value {
            line: first_content_line(text),
            value,
            text: excerpt(text.trim()),
        }],
        Err(error) => vec![Entry::Invalid(InvalidCase {
            line: error.line().max(1),
            message: format!("invalid JSON: {}", json_error_text(&error)),
            text: excerpt(
                text.lines()
                    .nth(error.line().saturating_sub(1))
                    .unwrap_or("")
                    .trim(),
            ),
        })],
    }
}

fn yaml_document(text: &str) -> Vec<Entry> {
    match serde_yaml_ng::from_str::<Value>(text) {
        Ok(Value::Array(items)) => {
            let lines = yaml_item_lines(text);
            spread(items, &lines, text)
        }
        Ok(Value::Null) => Vec::new(),
        Ok(value) => vec![Entry::Value {
            line: first_content_line(text),
            value,
            text: excerpt(text.trim()),
        }],
        Err(error) => {
            let line = error
                .location()
                .map(|location| location.line())
                .unwrap_or(1);
            let message = error.to_string();
            let message = match message.rfind(" at line ") {
                Some(index) => message[..index].to_owned(),
                None => message,
            };
            vec![Entry::Invalid(InvalidCase {
                line,
                message: format!("invalid YAML: {message}"),
                text: excerpt(
                    text.lines()
                        .nth(line.saturating_sub(1))
                        .unwrap_or("")
                        .trim(),
                ),
            })]
        }
    }
}

/// Pairs array items with their lines (line 1 for all when the lines could not be found).
fn spread(items: Vec<Value>, lines: &[usize], text: &str) -> Vec<Entry> {
    let found = lines.len() == items.len();
    let source_lines: Vec<&str> = text.lines().collect();
    items
        .into_iter()
        .enumerate()
        .map(|(index, value)| {
            let line = if found { lines[index] } else { 1 };
            Entry::Value {
                line,
                text: excerpt(source_lines.get(line - 1).copied().unwrap_or("").trim()),
                value,
            }
        })
        .collect()
}

fn first_content_line(text: &str) -> usize {
    text.lines()
        .position(|line| !line.trim().is_empty())
        .map_or(1, |index| index + 1)
}

/// Lines where the elements of a top-level JSON array start.
fn json_array_item_lines(text: &str) -> Vec<usize> {
    let mut lines = Vec::new();
    let mut line = 1;
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut expecting_item = false;
    for character in text.chars() {
        if character == '\n' {
            line += 1;
        }
        if in_string {
            if escaped {
                escaped = false;
            } else if character == '\\' {
                escaped = true;
            } else if character == '"' {
                in_string = false;
            }
            continue;
        }
        if character.is_whitespace() {
            continue;
        }
        if expecting_item && character != ']' {
            lines.push(line);
            expecting_item = false;
        }
        match character {
            '"' => in_string = true,
            '[' | '{' => {
                depth += 1;
                if depth == 1 && character == '[' {
                    expecting_item = true;
                }
            }
            ']' | '}' => {
                depth = depth.saturating_sub(1);
                expecting_item = false;
            }
            ',' if depth == 1 => expecting_item = true,
            _ => {}
        }
    }
    lines
}

/// Lines of the `-` of each element of a top-level block-style YAML list.
fn yaml_item_lines(text: &str) -> Vec<usize> {
    let mut indent = None;
    let mut lines = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with("---") {
            continue;
        }
        let this_indent = line.len() - trimmed.len();
        let is_item = trimmed == "-" || trimmed.starts_with("- ");
        match indent {
            None if is_item => {
                indent = Some(this_indent);
                lines.push(index + 1);
            }
            None => return Vec::new(),
            Some(level) if is_item && this_indent == level => lines.push(index + 1),
            Some(_) => {}
        }
    }
    lines
}

/// JSON Lines when every line parses; else one JSON document; else a YAML list; else JSON Lines
/// (so every bad line is reported).
fn sniff(text: &str) -> Box<dyn Iterator<Item = Entry> + '_> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        return Box::new(json_document(text).into_iter());
    }
    // JSON Lines when every line is a JSON value (checked without keeping anything, so that a
    // text of malformed lines is not held twice).
    let all_json = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .all(|line| serde_json::from_str::<serde::de::IgnoredAny>(line).is_ok());
    if all_json {
        return Box::new(json_lines(text));
    }
    if serde_json::from_str::<Value>(text).is_ok() {
        return Box::new(json_document(text).into_iter());
    }
    if let Ok(Value::Array(_)) = serde_yaml_ng::from_str::<Value>(text) {
        return Box::new(yaml_document(text).into_iter());
    }
    Box::new(json_lines(text))
}

/// One entry → a case, or why it is malformed.
fn interpret(line: usize, value: Value) -> Result<Case, String> {
    match value {
        Value::String(_) => Ok(Case::new(line, value)),
        Value::Object(map) if map.contains_key("input") => case_shape(line, map),
        Value::Object(_) => Ok(Case::new(line, value)),
        other => Err(format!(
            "an entry must be a JSON object or string, found {}",
            kind_of(&other)
        )),
    }
}

fn case_shape(line: usize, mut map: Map<String, Value>) -> Result<Case, String> {
    if let Some(unknown) = map.keys().find(|key| !CASE_KEYS.contains(&key.as_str())) {
        return Err(format!(
            "unknown key `{unknown}` in a case (an object with `input` is a case with keys {}; \
             to pass an object that has an `input` field, wrap it: `{{\"input\": {{…}}}}`)",
            CASE_KEYS
                .iter()
                .map(|key| format!("`{key}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let input = match map.remove("input") {
        Some(input @ (Value::Object(_) | Value::String(_))) => input,
        Some(other) => {
            return Err(format!(
                "`input` must be an object or a string, found {}",
                kind_of(&other)
            ));
        }
        None => return Err("missing `input`".to_owned()),
    };
    let mut case = Case::new(line, input);
    match map.remove("id") {
        None | Some(Value::Null) => {}
        Some(Value::String(id)) if !id.is_empty() => case.id = id,
        Some(Value::Number(number)) => case.id = number.to_string(),
        Some(other) => {
            return Err(format!(
                "`id` must be a non-empty string or a number, found {}",
                kind_of(&other)
            ));
        }
    }
    case.agent = match map.remove("agent") {
        None | Some(Value::Null) => None,
        Some(Value::String(agent)) if !agent.is_empty() => Some(agent),
        Some(other) => {
            return Err(format!(
                "`agent` must be a non-empty string, found {}",
                kind_of(&other)
            ));
        }
    };
    case.session = match map.remove("session") {
        None | Some(Value::Null) => None,
        Some(Value::String(session)) if !session.is_empty() => Some(session),
        Some(Value::Number(number)) => Some(number.to_string()),
        Some(other) => {
            return Err(format!(
                "`session` must be a non-empty string or a number, found {}",
                kind_of(&other)
            ));
        }
    };
    case.tags = match map.remove("tags") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(tags)) => tags
            .into_iter()
            .map(|tag| match tag {
                Value::String(tag) => Ok(tag),
                other => Err(format!(
                    "`tags` must hold strings, found {}",
                    kind_of(&other)
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(format!(
                "`tags` must be an array of strings, found {}",
                kind_of(&other)
            ));
        }
    };
    case.metadata = map.remove("metadata").filter(|value| !value.is_null());
    if let Some(expected) = map.remove("expected").filter(|value| !value.is_null()) {
        case.assertions.push(Assertion::expected(expected.clone()));
        case.expected = Some(expected);
    }
    match map.remove("assert") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (index, item) in items.iter().enumerate() {
                let assertion = Assertion::parse(item)
                    .map_err(|message| format!("`assert[{index}]`: {message}"))?;
                case.assertions.push(assertion);
            }
        }
        Some(other) => {
            return Err(format!(
                "`assert` must be an array of assertions, found {}",
                kind_of(&other)
            ));
        }
    }
    // As `aigne eval`: a judge compares the output with `expected`, so `expected` is no exact
    // check then. The evaluator's input requires it (`expectedOutput: Required` otherwise).
    let judges: Vec<JudgeKind> = case
        .assertions
        .iter()
        .filter_map(|assertion| assertion.judged())
        .map(|spec| spec.kind)
        .filter(|kind| !matches!(kind, JudgeKind::Rubric { .. }))
        .collect();
    if !judges.is_empty() {
        if case.expected.is_none() && judges.contains(&JudgeKind::Evaluator) {
            return Err(
                "a `judge` assertion needs the case's `expected`: the `aigne eval` evaluator compares the output with it"
                    .to_owned(),
            );
        }
        case.assertions.retain(|assertion| !assertion.is_expected());
    }
    Ok(case)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lines_of(cases: &[Case]) -> Vec<usize> {
        cases.iter().map(|case| case.line).collect()
    }

    #[test]
    fn json_lines_every_shape() {
        let text = "\"plain text\"\n{\"question\": \"q\"}\n\n{\"id\": 7, \"input\": {\"q\": 1}, \"expected\": \"x\", \"assert\": [{\"type\": \"contains\", \"value\": \"x\"}], \"agent\": \"a\", \"session\": 3, \"metadata\": {\"k\": 1}, \"tags\": [\"t\"]}\n";
        let (cases, invalid) = parse_inputs(text, InputsFormat::JsonLines);
        assert!(invalid.is_empty(), "{invalid:?}");
        assert_eq!(lines_of(&cases), vec![1, 2, 4]);
        assert_eq!(cases[0].input, json!("plain text"));
        assert_eq!(cases[0].id, "line-1");
        assert_eq!(cases[1].input, json!({"question": "q"}));
        let full = &cases[2];
        assert_eq!(full.id, "7");
        assert_eq!(full.input, json!({"q": 1}));
        assert_eq!(full.assertions.len(), 2);
        assert_eq!(full.assertions[0].kind(), "expected");
        assert_eq!(full.agent.as_deref(), Some("a"));
        assert_eq!(full.session.as_deref(), Some("3"));
        assert_eq!(full.metadata, Some(json!({"k": 1})));
        assert_eq!(full.tags, vec!["t".to_owned()]);
    }

    #[test]
    fn every_malformed_line_is_reported() {
        let text = "{\"a\": 1}\n{oops\n42\n{\"input\": 5}\n{\"input\": \"x\", \"asert\": []}\n{\"input\": \"x\", \"assert\": [{\"type\": \"regex\", \"value\": \"(\"}]}\n{\"id\": \"d\", \"input\": \"x\"}\n{\"id\": \"d\", \"input\": \"y\"}\n[1]\n";
        let (cases, invalid) = parse_inputs(text, InputsFormat::JsonLines);
        assert_eq!(lines_of(&cases), vec![1, 7]);
        let found: Vec<(usize, &str)> = invalid
            .iter()
            .map(|invalid| (invalid.line, invalid.message.as_str()))
            .collect();
        assert_eq!(found.len(), 7, "{found:?}");
        assert_eq!(found[0].0, 2);
        assert!(
            found[0]
                .1
                .starts_with("invalid JSON: key must be a string (column 2)"),
            "{}",
            found[0].1
        );
        assert_eq!(
            found[1],
            (
                3,
                "an entry must be a JSON object or string, found a number"
            )
        );
        assert_eq!(
            found[2],
            (4, "`input` must be an object or a string, found a number")
        );
        assert!(found[3].1.starts_with("unknown key `asert` in a case"));
        assert!(found[4].1.starts_with("`assert[0]`: invalid regex `(`"));
        assert_eq!(found[5], (8, "duplicate id `d` (first on line 7)"));
        assert_eq!(
            found[6],
            (
                9,
                "an entry must be a JSON object or string, found an array"
            )
        );
        assert_eq!(invalid[1].text, "42");
    }

    #[test]
    fn json_array_keeps_element_lines() {
        let text = "[\n  {\"input\": \"a\"},\n  \"b\",\n  {\n    \"q\": \"[,]\"\n  }\n]\n";
        let (cases, invalid) = parse_inputs(text, InputsFormat::Json);
        assert!(invalid.is_empty());
        assert_eq!(lines_of(&cases), vec![2, 3, 4]);
        assert_eq!(cases[2].input, json!({"q": "[,]"}));
        let (cases, _) = parse_inputs(
            "{\"input\": {\"x\": 1}, \"id\": \"one\"}",
            InputsFormat::Json,
        );
        assert_eq!(cases[0].id, "one");
        let (_, invalid) = parse_inputs("[\n{\"a\": 1},\n{\"a\" 2}\n]", InputsFormat::Json);
        assert_eq!(invalid[0].line, 3);
    }

    #[test]
    fn yaml_list_keeps_item_lines() {
        let text = "# cases\n- input: hello\n  id: h\n- question: what\n-  plain\n- input:\n    q: 1\n  assert:\n    - type: contains\n      value: x\n";
        let (cases, invalid) = parse_inputs(text, InputsFormat::Yaml);
        assert!(invalid.is_empty(), "{invalid:?}");
        assert_eq!(lines_of(&cases), vec![2, 4, 5, 6]);
        assert_eq!(cases[0].id, "h");
        assert_eq!(cases[1].input, json!({"question": "what"}));
        assert_eq!(cases[2].input, json!("plain"));
        assert_eq!(cases[3].assertions.len(), 1);
        let (_, invalid) = parse_inputs("- a: [\n- b\n", InputsFormat::Yaml);
        assert_eq!(invalid.len(), 1);
        assert!(invalid[0].message.starts_with("invalid YAML"));
    }

    #[test]
    fn sniffing_picks_the_format() {
        let (cases, _) = parse_inputs("{\"a\": 1}\n{\"b\": 2}\n", InputsFormat::Sniff);
        assert_eq!(lines_of(&cases), vec![1, 2]);
        let (cases, _) = parse_inputs("{\n \"a\": 1\n}\n", InputsFormat::Sniff);
        assert_eq!(cases.len(), 1);
        let (cases, _) = parse_inputs("- a\n- b\n", InputsFormat::Sniff);
        assert_eq!(lines_of(&cases), vec![1, 2]);
        let (cases, invalid) = parse_inputs("{\"a\": 1}\nnope\n", InputsFormat::Sniff);
        assert_eq!((cases.len(), invalid[0].line), (1, 2));
    }
}
