//! The behaviour AIGNE's `ChatModel` (`packages/core/src/agents/chat-model.ts`) applies around
//! every provider: tool-name sanitising and mapping back, argument and output validation, lenient
//! JSON parsing (`safeParseJSON`), the JSON-output prompt, model-option merging, retry delays.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Map, Value};

use super::ModelError;
use super::transport::Transport;
use super::types::{
    ChatRequest, ChatResponse, Content, ContentPart, ModelOptions, ResponseFormat, ToolCall,
    ToolDefinition,
};
use crate::http::RetryPolicy;
use crate::http::retry;

/// `normalizeToolName`: `-` and whitespace become `_`.
pub fn sanitize_tool_name(name: &str) -> String {
    name.chars()
        .map(|character| {
            if character == '-' || character.is_whitespace() {
                '_'
            } else {
                character
            }
        })
        .collect()
}

/// `validateToolNames`: `^[a-zA-Z0-9_]+$`.
pub fn is_valid_tool_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || character == '_')
}

/// Sanitised name → the original tool (AIGNE's `_toolsMap`; a later tool with the same
/// sanitised name wins, as in the JS object).
pub fn tools_map(tools: &[ToolDefinition]) -> HashMap<String, &ToolDefinition> {
    tools
        .iter()
        .map(|tool| (sanitize_tool_name(&tool.name), tool))
        .collect()
}

/// `safeParseJSON` (the `jaison` parser): strict JSON first, then the repairs jaison makes for
/// model output — a Markdown code fence around the value, trailing text after a complete value,
/// JSON5 syntax (single quotes, unquoted keys, trailing commas, comments), Chinese `：`/`，`
/// outside strings, and a value cut off at the end (open strings and brackets are closed).
/// `None` when nothing parses (jaison throws and AIGNE returns null).
pub fn safe_parse_json(text: &str) -> Option<Value> {
    if text.is_empty() {
        return None;
    }
    if let Ok(value) = serde_json::from_str(text) {
        return Some(value);
    }
    let text = strip_code_fence(text);
    if let Ok(value) = serde_json::from_str(text) {
        return Some(value);
    }
    let trimmed = text.trim_start();
    // A complete value followed by other text.
    if let Some(Ok(value)) = serde_json::Deserializer::from_str(trimmed)
        .into_iter::<Value>()
        .next()
    {
        return Some(value);
    }
    if let Ok(value) = json5::from_str::<Value>(trimmed) {
        return Some(value);
    }
    let punctuation = replace_chinese_punctuation(trimmed);
    if let Ok(value) = json5::from_str::<Value>(&punctuation) {
        return Some(value);
    }
    let closed = close_truncated(&punctuation)?;
    serde_json::from_str(&closed)
        .ok()
        .or_else(|| json5::from_str(&closed).ok())
}

fn strip_code_fence(text: &str) -> &str {
    let trimmed = text.trim();
    let Some(rest) = trimmed.strip_prefix("```") else {
        return text;
    };
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_alphanumeric() || c == '+' || c == '-');
    let rest = rest.strip_suffix("```").unwrap_or(rest);
    rest.trim()
}

fn replace_chinese_punctuation(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for character in text.chars() {
        match quote {
            Some(open) => {
                if escaped {
                    escaped = false;
                } else if character == '\\' {
                    escaped = true;
                } else if character == open {
                    quote = None;
                }
                out.push(character);
            }
            None => match character {
                '"' | '\'' => {
                    quote = Some(character);
                    out.push(character);
                }
                '：' => out.push(':'),
                '，' => out.push(','),
                _ => out.push(character),
            },
        }
    }
    out
}

/// Closes an unterminated string and any open brackets of a value cut off at the end; drops a
/// dangling `,` or `:` (with its key).
fn close_truncated(text: &str) -> Option<String> {
    if !(text.starts_with('{') || text.starts_with('[')) {
        return None;
    }
    let mut stack = Vec::new();
    let mut in_string = false;
    let mut escaped = false;
    for character in text.chars() {
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
        match character {
            '"' => in_string = true,
            '{' => stack.push('}'),
            '[' => stack.push(']'),
            '}' | ']' if stack.pop() != Some(character) => return None,
            _ => {}
        }
    }
    let mut closed = text.to_owned();
    if in_string {
        if escaped {
            closed.pop();
        }
        closed.push('"');
    }
    let trimmed_len = closed.trim_end().len();
    closed.truncate(trimmed_len);
    if closed.ends_with(',') {
        closed.pop();
    }
    if closed.ends_with(':') {
        closed.push_str("null");
    }
    while let Some(close) = stack.pop() {
        closed.push(close);
    }
    Some(closed)
}

/// `omitByDeep(output, isNil)`: removes `null` fields from objects, deeply (array items stay).
pub fn remove_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, value)| !value.is_null())
                .map(|(key, value)| (key, remove_nulls(value)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(remove_nulls).collect()),
        other => other,
    }
}

/// `wrapAutoParseJsonSchema`: where the schema expects an object or an array and the value is a
/// string, the string is parsed as JSON (leniently) first.
pub fn auto_parse(schema: &Value, value: Value) -> Value {
    let expects = |kind: &str| match schema.get("type") {
        Some(Value::String(name)) => name == kind,
        Some(Value::Array(names)) => names.iter().any(|name| name == kind),
        _ => false,
    };
    let value = match value {
        Value::String(text) if expects("object") || expects("array") => {
            safe_parse_json(&text).unwrap_or(Value::String(text))
        }
        other => other,
    };
    match value {
        Value::Object(mut map) => {
            if let Some(Value::Object(properties)) = schema.get("properties") {
                // In place: the keys keep their order, as the model sent them (a remove and
                // re-insert would move them).
                for (key, property) in properties {
                    if let Some(field) = map.get_mut(key) {
                        *field = auto_parse(property, field.take());
                    }
                }
            }
            Value::Object(map)
        }
        Value::Array(items) => match schema.get("items") {
            Some(item_schema) => Value::Array(
                items
                    .into_iter()
                    .map(|item| auto_parse(item_schema, item))
                    .collect(),
            ),
            None => Value::Array(items),
        },
        other => other,
    }
}

/// `validateJsonSchema`: auto-parses string fields holding JSON, then validates. `Err` holds
/// AIGNE's message (`Output JSON does not conform to the provided JSON schema: …`).
pub fn validate_json_schema(schema: &Value, value: Value) -> Result<Value, String> {
    let value = auto_parse(schema, value);
    let refused = |problems: String| {
        format!("Output JSON does not conform to the provided JSON schema: {problems}")
    };
    // zod's parse of the schema as `zod-from-json-schema` builds it (`crate::zod`); a
    // construct it does not interpret (`allOf`) is checked as JSON Schema.
    if let Ok(compiled) = crate::zod::compile_model(schema) {
        compiled.check_plain(&value).map_err(refused)?;
        return Ok(compiled.parsed(value));
    }
    // An empty schema (`parameters: {}`) accepts anything.
    let validator = jsonschema::validator_for(schema)
        .map_err(|error| format!("the JSON schema is not valid: {error}"))?;
    let problems: Vec<String> = validator
        .iter_errors(&value)
        .map(|error| format!("{}: {}", error.instance_path(), error))
        .collect();
    if problems.is_empty() {
        Ok(value)
    } else {
        Err(refused(problems.join(", ")))
    }
}

/// Maps tool calls back to the original tool names and validates their arguments
/// (`ChatModel.processAgentOutput`).
pub fn map_tool_calls_back(
    tools: &[ToolDefinition],
    calls: Vec<ToolCall>,
) -> Result<Vec<ToolCall>, String> {
    if tools.is_empty() {
        return Ok(calls);
    }
    let map = tools_map(tools);
    calls
        .into_iter()
        .map(|mut call| {
            let Some(tool) = map.get(&call.name) else {
                return Err(format!("Tool \"{}\" not found in tools map", call.name));
            };
            call.name = tool.name.clone();
            call.arguments = validate_json_schema(&tool.parameters, call.arguments)?;
            Ok(call)
        })
        .collect()
}

/// `getJsonOutputPrompt(schema)` (`packages/core/src/utils/prompts.ts`).
pub fn json_output_prompt(schema: &Value) -> String {
    format!(
        "Output must be a JSON object containing the following fields only.\n<json_fields>\n{}\n</json_fields>\nDo not include any explanations, comments, or Markdown formatting (such as triple backticks). Return only the raw JSON.",
        crate::model::common::js_stringify(schema)
    )
}

/// `JSON.stringify` of a value (compact, key order kept).
pub fn js_stringify(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// Drops getters that were never resolved (`{"$get": key}` resolves to undefined in AIGNE when
/// the input has no such key) and the `null`s they leave.
pub fn drop_unresolved_getters(options: ModelOptions) -> ModelOptions {
    options
        .into_iter()
        .filter_map(|(key, value)| strip_getters(value).map(|value| (key, value)))
        .collect()
}

fn strip_getters(value: Value) -> Option<Value> {
    match value {
        Value::Null => None,
        Value::Object(map) if map.get("$get").is_some_and(Value::is_string) => None,
        Value::Object(map) => Some(Value::Object(
            map.into_iter()
                .filter_map(|(key, value)| strip_getters(value).map(|value| (key, value)))
                .collect::<Map<String, Value>>(),
        )),
        Value::Array(items) => Some(Value::Array(
            items
                .into_iter()
                .map(|item| strip_getters(item).unwrap_or(Value::Null))
                .collect(),
        )),
        other => Some(other),
    }
}

/// `mime.getType(path)`: the type of the text after the last `.` of the last path segment
/// (so a URL with a query string has none).
pub fn mime_type_of(path: &str) -> Option<String> {
    let last = path
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(path)
        .to_lowercase();
    let (_, extension) = last.rsplit_once('.')?;
    if extension.is_empty() {
        return None;
    }
    mime_guess::from_ext(extension)
        .first()
        .map(|mime| mime.essence_str().to_owned())
}

/// `ChatModel.preprocess`: `url` parts are downloaded and sent inline (base64 `file` parts)
/// unless the model option `preferInputFileType` is `"url"`.
pub async fn inline_url_parts(
    request: &ChatRequest,
    options: &ModelOptions,
    transport: &Transport,
    provider: &str,
) -> Result<Option<ChatRequest>, ModelError> {
    use base64::Engine;
    let has_urls = request.messages.iter().any(|message| {
        matches!(&message.content, Some(Content::Parts(parts))
            if parts.iter().any(|part| matches!(part, ContentPart::Url { .. })))
    });
    if !has_urls || options.get("preferInputFileType").and_then(Value::as_str) == Some("url") {
        return Ok(None);
    }
    let mut inlined = request.clone();
    for message in &mut inlined.messages {
        let Some(Content::Parts(parts)) = &mut message.content else {
            continue;
        };
        for part in parts.iter_mut() {
            let ContentPart::Url {
                url,
                mime_type,
                filename,
            } = part
            else {
                continue;
            };
            let parsed = url::Url::parse(url).map_err(|error| ModelError::Download {
                url: crate::secret::mask_url_text(url),
                message: error.to_string(),
            })?;
            let bytes = transport
                .download(
                    provider,
                    &crate::secret::SafeUrl::new(parsed),
                    request.case_label.as_deref(),
                )
                .await?;
            let mime_type = mime_type
                .clone()
                .or_else(|| mime_type_of(filename.as_deref().unwrap_or(url)));
            *part = ContentPart::File {
                data: base64::engine::general_purpose::STANDARD.encode(bytes),
                mime_type,
                filename: filename.clone(),
            };
        }
    }
    Ok(Some(inlined))
}

/// AIGNE's framework back-off: `1000ms * 2^(attempt-1)` (attempt from 1), zero under the test knob
/// ([`framework_policy`]'s delay).
pub fn framework_delay(attempt: u32, no_delay: bool) -> Duration {
    framework_policy(attempt, no_delay).delay(attempt, None)
}

/// AIGNE's framework retry policy for `retries` retries: the shared back-off formula without
/// jitter from one second (`1000ms * 2^(attempt-1)`, at most 2^16 s).
pub fn framework_policy(retries: u32, no_delay: bool) -> RetryPolicy {
    RetryPolicy::doubling(
        retries,
        Duration::from_secs(1),
        Duration::from_secs(1 << 16),
    )
    .without_delays_if(no_delay)
}

/// AIGNE's `ChatModel` retry of a whole call, through the shared [`retry::run`]: `call` runs
/// again, after [`framework_delay`], while it fails with a framework-retryable error and retries
/// are left; the answer counts every HTTP attempt made, and an error after retries says how many
/// calls were made.
pub async fn with_framework_retries<F, Fut>(
    retries: u32,
    no_delay: bool,
    mut call: F,
) -> Result<ChatResponse, ModelError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<ChatResponse, ModelError>>,
{
    /// HTTP attempts of a failed call (1 when the error does not count them).
    fn http_attempts(error: &ModelError) -> u32 {
        match error {
            ModelError::Status { attempts, .. }
            | ModelError::Network { attempts, .. }
            | ModelError::Timeout { attempts, .. } => *attempts,
            _ => 1,
        }
    }
    let mut failed_attempts = 0;
    let (outcome, calls) = retry::run(
        &framework_policy(retries, no_delay),
        |_| {
            let called = call();
            async move {
                match called.await {
                    Err(error) if error.is_framework_retryable() => retry::Verdict::Retry {
                        reason: error.to_string(),
                        outcome: Err(error),
                        retry_after: None,
                    },
                    outcome => retry::Verdict::Done(outcome),
                }
            }
        },
        |outcome, _| {
            if let Err(error) = outcome {
                failed_attempts += http_attempts(error);
            }
        },
    )
    .await;
    match outcome {
        Ok(mut response) => {
            response.attempts += failed_attempts;
            Ok(response)
        }
        // AIGNE appends " (after N retries)" with N = calls made.
        Err(error) if calls > 1 => Err(ModelError::Retried {
            retries: calls,
            source: Box::new(error),
        }),
        Err(error) => Err(error),
    }
}

/// `ChatModel.processAgentOutput`: nulls removed, JSON validated when there are no tool calls,
/// tool names mapped back and arguments validated.
pub fn postprocess(
    provider: &str,
    model: &str,
    request: &ChatRequest,
    response: ChatResponse,
) -> Result<ChatResponse, ModelError> {
    let structured = |message: String| ModelError::StructuredOutput {
        provider: provider.to_owned(),
        model: model.to_owned(),
        message,
    };
    let json = response
        .json
        .map(remove_nulls)
        .filter(|json| !json.is_null());
    let tool_calls: Vec<ToolCall> = response
        .tool_calls
        .into_iter()
        .map(|mut call| {
            call.arguments = remove_nulls(call.arguments);
            call
        })
        .collect();
    let json = match &request.response_format {
        Some(ResponseFormat::JsonSchema { schema, .. }) if tool_calls.is_empty() => {
            Some(validate_json_schema(schema, json.unwrap_or(Value::Null)).map_err(structured)?)
        }
        _ => json,
    };
    let tool_calls = map_tool_calls_back(&request.tools, tool_calls).map_err(structured)?;
    Ok(ChatResponse {
        json,
        tool_calls,
        ..response
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sanitizes_tool_names() {
        assert_eq!(sanitize_tool_name("get-weather now"), "get_weather_now");
        assert!(is_valid_tool_name("get_weather_2"));
        assert!(!is_valid_tool_name("get.weather"));
        assert!(!is_valid_tool_name(""));
    }

    #[test]
    fn parses_json_leniently() {
        assert_eq!(safe_parse_json(r#"{"a":1}"#), Some(json!({"a": 1})));
        assert_eq!(
            safe_parse_json("```json\n{\"a\": 1}\n```"),
            Some(json!({"a": 1}))
        );
        assert_eq!(safe_parse_json(r#"{"a": "b"#), Some(json!({"a": "b"})));
        assert_eq!(
            safe_parse_json(r#"{"a": [1, 2"#),
            Some(json!({"a": [1, 2]}))
        );
        assert_eq!(safe_parse_json("{a: 'x',}"), Some(json!({"a": "x"})));
        assert_eq!(
            safe_parse_json(r#"{"a"："中，文"}"#),
            Some(json!({"a": "中，文"}))
        );
        assert_eq!(
            safe_parse_json(r#"{"a":1} trailing"#),
            Some(json!({"a": 1}))
        );
        assert_eq!(safe_parse_json(""), None);
        assert_eq!(safe_parse_json("hello world"), None);
    }

    #[test]
    fn removes_nulls_deeply() {
        assert_eq!(
            remove_nulls(json!({"a": null, "b": {"c": null, "d": 1}, "e": [null, 1]})),
            json!({"b": {"d": 1}, "e": [null, 1]})
        );
    }

    #[test]
    fn validates_with_auto_parse() {
        let schema = json!({
            "type": "object",
            "properties": {"items": {"type": "array", "items": {"type": "string"}}},
            "required": ["items"]
        });
        assert_eq!(
            validate_json_schema(&schema, json!({"items": "[\"a\"]"})),
            Ok(json!({"items": ["a"]}))
        );
        let error = validate_json_schema(&schema, json!({"items": 3})).unwrap_err();
        assert!(
            error
                == "Output JSON does not conform to the provided JSON schema: items: Expected array, received number",
            "{error}"
        );
        assert!(validate_json_schema(&json!({}), json!({"x": 1})).is_ok());
    }

    #[test]
    fn maps_tool_names_back() {
        let tools = vec![ToolDefinition {
            name: "get-weather".to_owned(),
            description: None,
            parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
        }];
        let call = |name: &str, arguments: Value| ToolCall {
            id: "1".to_owned(),
            name: name.to_owned(),
            arguments,
            metadata: None,
        };
        let mapped = map_tool_calls_back(
            &tools,
            vec![call("get_weather", json!({"city": "Oslo"})).clone()],
        )
        .unwrap();
        assert_eq!(mapped[0].name, "get-weather");
        assert!(map_tool_calls_back(&tools, vec![call("other", json!({}))]).is_err());
        assert!(map_tool_calls_back(&tools, vec![call("get_weather", json!({}))]).is_err());
    }

    #[test]
    fn drops_unresolved_getters() {
        let mut options = ModelOptions::new();
        options.insert("temperature".to_owned(), json!({"$get": "t"}));
        options.insert("topP".to_owned(), json!(0.5));
        assert_eq!(
            Value::Object(drop_unresolved_getters(options)),
            json!({"topP": 0.5})
        );
    }

    #[test]
    fn guesses_mime_types_like_the_mime_package() {
        assert_eq!(
            mime_type_of("https://example.com/cat.png").as_deref(),
            Some("image/png")
        );
        assert_eq!(mime_type_of("photo.JPG").as_deref(), Some("image/jpeg"));
        assert_eq!(mime_type_of("https://example.com/cat.png?x=1"), None);
        assert_eq!(mime_type_of("https://example.com/cat"), None);
    }

    #[test]
    fn framework_delays_double() {
        assert_eq!(framework_delay(1, false), Duration::from_secs(1));
        assert_eq!(framework_delay(3, false), Duration::from_secs(4));
        assert_eq!(framework_delay(3, true), Duration::ZERO);
    }
}
