//! Anthropic Messages API, streaming (`@aigne/anthropic` `AnthropicChatModel` with
//! `@anthropic-ai/sdk`): request building from a [`ChatRequest`] and stream parsing into a
//! [`ChatResponse`].
//!
//! Behaviour follows the reference code: system messages become `system` blocks, tool results
//! are separate user turns, structured output goes through a forced `generate_json` tool,
//! `max_tokens` depends on the model, and prompt-cache breakpoints go on the last system block,
//! the last tool and the last message.

use serde_json::{Map, Value, json};

use super::types::{
    ChatMessage, ChatRequest, ChatResponse, Content, ContentPart, ResponseFormat, Role, ToolCall,
    ToolChoice, Usage,
};
use super::wire::{self, Variables, WireError, WireRequest};
use crate::env_vars::EnvVars;
use crate::http::sse;
use crate::secret::Secret;

/// Provider id.
pub const PROVIDER: &str = "anthropic";
/// `CHAT_MODEL_CLAUDE_DEFAULT_MODEL`.
pub const DEFAULT_MODEL: &str = "claude-3-7-sonnet-latest";
/// The SDK's default endpoint.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
/// The SDK's `anthropic-version` header.
pub const API_VERSION: &str = "2023-06-01";
/// The tool that carries structured output.
pub const OUTPUT_FUNCTION_NAME: &str = "generate_json";
/// The timeout AIGNE sets on the client (`600e3` ms).
pub const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// What an Anthropic client needs.
#[derive(Debug, Clone)]
pub struct AnthropicSettings {
    /// `ANTHROPIC_API_KEY`, else `CLAUDE_API_KEY`.
    pub api_key: Secret,
    /// `ANTHROPIC_BASE_URL` (read by the SDK), else the public endpoint.
    pub base_url: url::Url,
    /// The configured model (`modelOptions.model` overrides it per call).
    pub model: String,
}

impl AnthropicSettings {
    /// Reads the key and base URL as AIGNE and the SDK do.
    pub fn from_environment(
        environment: &dyn Variables,
        model: Option<&str>,
    ) -> Result<Self, WireError> {
        Ok(Self {
            api_key: wire::api_key(
                environment,
                PROVIDER,
                EnvVars::ANTHROPIC_API_KEY,
                EnvVars::CLAUDE_API_KEY,
            )?,
            base_url: wire::base_url(
                environment.variable(EnvVars::ANTHROPIC_BASE_URL),
                EnvVars::ANTHROPIC_BASE_URL,
                DEFAULT_BASE_URL,
            )?,
            model: model
                .filter(|model| !model.is_empty())
                .unwrap_or(DEFAULT_MODEL)
                .to_owned(),
        })
    }
}

/// The streaming `POST /v1/messages` request.
pub fn build_request(
    settings: &AnthropicSettings,
    request: &ChatRequest,
) -> Result<WireRequest, WireError> {
    let body = build_body(request, &settings.model)?;
    let mut wire_request =
        WireRequest::post_json(wire::join_url(&settings.base_url, "v1/messages"), &body)?;
    wire_request.header("anthropic-version", API_VERSION)?;
    wire_request.header("accept", "application/json")?;
    wire_request.secret_header("x-api-key", "", &settings.api_key)?;
    Ok(wire_request)
}

/// `max_tokens` by model id (`getMaxTokens`).
pub fn max_tokens(model: &str) -> u64 {
    const TABLE: &[(&str, u64)] = &[
        ("claude-opus-4-", 32000),
        ("claude-sonnet-4-", 64000),
        ("claude-3-7-sonnet-", 64000),
        ("claude-3-5-sonnet-", 8192),
        ("claude-3-5-haiku-", 8192),
    ];
    TABLE
        .iter()
        .find(|(prefix, _)| model.contains(prefix))
        .map_or(4096, |(_, tokens)| *tokens)
}

/// `cacheConfig` after defaults (`parseCacheConfig`, with `ChatModel.getModelOptions` making
/// `autoBreakpoints.lastMessage` default to true).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// `enabled !== false`.
    pub enabled: bool,
    /// `ttl === "1h"`.
    pub one_hour: bool,
    /// `strategy` is `auto` (the default).
    pub auto: bool,
    /// `autoBreakpoints.tools !== false`.
    pub tools: bool,
    /// `autoBreakpoints.system !== false`.
    pub system: bool,
    /// `autoBreakpoints.lastMessage ?? true`.
    pub last_message: bool,
}

impl CacheConfig {
    /// Reads `modelOptions.cacheConfig`.
    pub fn from_options(options: &Map<String, Value>) -> Self {
        let config = options.get("cacheConfig");
        let get = |key: &str| config.and_then(|config| config.get(key));
        let breakpoint =
            |key: &str| get("autoBreakpoints").and_then(|points| points.get(key).cloned());
        Self {
            enabled: get("enabled") != Some(&Value::Bool(false)),
            one_hour: get("ttl").and_then(Value::as_str) == Some("1h"),
            auto: get("strategy")
                .and_then(Value::as_str)
                .is_none_or(|strategy| strategy == "auto"),
            tools: breakpoint("tools") != Some(Value::Bool(false)),
            system: breakpoint("system") != Some(Value::Bool(false)),
            last_message: breakpoint("lastMessage")
                .filter(|value| !value.is_null())
                .is_none_or(|value| value == Value::Bool(true)),
        }
    }

    fn control(&self) -> Value {
        if self.one_hour {
            json!({"type": "ephemeral", "ttl": "1h"})
        } else {
            json!({"type": "ephemeral"})
        }
    }
}

/// The JSON body (`getMessageCreateParams` plus `stream: true`).
pub fn build_body(request: &ChatRequest, configured_model: &str) -> Result<Value, WireError> {
    let options = &request.model_options;
    let model = wire::model_name(options, configured_model);
    let cache = CacheConfig::from_options(options);
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    if let Some(temperature) = wire::number_option(options, "temperature") {
        body.insert("temperature".into(), temperature);
    }
    if let Some(top_p) = wire::number_option(options, "topP") {
        body.insert("top_p".into(), top_p);
    }
    body.insert("max_tokens".into(), json!(max_tokens(model)));
    let (messages, system) = convert_messages(&request.messages, &cache)?;
    body.insert("messages".into(), Value::Array(messages));
    if let Some(system) = system {
        body.insert("system".into(), Value::Array(system));
    }
    let disable_parallel = options.get("parallelToolCalls") == Some(&Value::Bool(false));
    let (tools, tool_choice) = convert_tools(request, disable_parallel, &cache);
    if let Some(tools) = tools {
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(tool_choice) = tool_choice {
        body.insert("tool_choice".into(), tool_choice);
    }
    body.insert("stream".into(), Value::Bool(true));
    Ok(Value::Object(body))
}

type Messages = (Vec<Value>, Option<Vec<Value>>);

fn convert_messages(messages: &[ChatMessage], cache: &CacheConfig) -> Result<Messages, WireError> {
    let mut system_blocks: Vec<Value> = Vec::new();
    let mut converted: Vec<Value> = Vec::new();
    for message in messages {
        match message.role {
            Role::System => match &message.content {
                Some(Content::Text(text)) => {
                    system_blocks.push(json!({"type": "text", "text": text}))
                }
                Some(Content::Parts(parts)) => {
                    for part in parts {
                        let ContentPart::Text { text } = part else {
                            return Err(WireError::invalid(
                                PROVIDER,
                                "System message only supports text content blocks",
                            ));
                        };
                        system_blocks.push(json!({"type": "text", "text": text}));
                    }
                }
                None => {
                    return Err(WireError::invalid(
                        PROVIDER,
                        "System message must have string or array content",
                    ));
                }
            },
            Role::Tool => {
                let tool_call_id = message.tool_call_id.as_deref().ok_or_else(|| {
                    WireError::invalid(PROVIDER, "Tool message must have toolCallId")
                })?;
                let content = message.content.as_ref().ok_or_else(|| {
                    WireError::invalid(PROVIDER, "Tool message must have content")
                })?;
                converted.push(json!({
                    "role": "user",
                    "content": [{
                        "type": "tool_result",
                        "tool_use_id": tool_call_id,
                        "content": convert_content(content)?,
                    }],
                }));
            }
            Role::User => {
                let content = message.content.as_ref().ok_or_else(|| {
                    WireError::invalid(PROVIDER, "User message must have content")
                })?;
                converted.push(json!({"role": "user", "content": convert_content(content)?}));
            }
            Role::Agent => {
                if !message.tool_calls.is_empty() {
                    let calls: Vec<Value> = message
                        .tool_calls
                        .iter()
                        .map(|call| {
                            json!({
                                "type": "tool_use",
                                "id": call.id,
                                "name": call.name,
                                "input": call.arguments,
                            })
                        })
                        .collect();
                    converted.push(json!({"role": "assistant", "content": calls}));
                } else if let Some(content) = &message.content {
                    converted
                        .push(json!({"role": "assistant", "content": convert_content(content)?}));
                } else {
                    return Err(WireError::invalid(
                        PROVIDER,
                        "Agent message must have content or toolCalls",
                    ));
                }
            }
        }
    }
    if cache.enabled && cache.auto {
        if cache.system
            && let Some(Value::Object(block)) = system_blocks.last_mut()
        {
            block.insert("cache_control".into(), cache.control());
        }
        if cache.last_message
            && let Some(Value::Object(last)) = converted.last_mut()
        {
            mark_last_block(last, cache);
        }
    }
    if converted.is_empty() {
        if system_blocks.is_empty() {
            return Err(WireError::invalid(PROVIDER, "No messages provided"));
        }
        let text: Vec<&str> = system_blocks
            .iter()
            .filter_map(|block| block.get("text").and_then(Value::as_str))
            .collect();
        return Ok((
            vec![json!({"role": "user", "content": text.join("\n")})],
            None,
        ));
    }
    let system = (!system_blocks.is_empty()).then_some(system_blocks);
    Ok((converted, system))
}

fn mark_last_block(message: &mut Map<String, Value>, cache: &CacheConfig) {
    match message.get_mut("content") {
        Some(Value::String(text)) => {
            let block = json!([{"type": "text", "text": text, "cache_control": cache.control()}]);
            message.insert("content".into(), block);
        }
        Some(Value::Array(blocks)) => {
            if let Some(Value::Object(block)) = blocks.last_mut() {
                let kind = block.get("type").and_then(Value::as_str);
                if kind != Some("thinking") && kind != Some("redacted_thinking") {
                    block.insert("cache_control".into(), cache.control());
                }
            }
        }
        _ => {}
    }
}

fn convert_content(content: &Content) -> Result<Value, WireError> {
    match content {
        Content::Text(text) => Ok(Value::String(text.clone())),
        Content::Parts(parts) => Ok(Value::Array(
            parts
                .iter()
                .map(|part| match part {
                    ContentPart::Text { text } => json!({"type": "text", "text": text}),
                    ContentPart::Url { url, .. } => {
                        json!({"type": "image", "source": {"type": "url", "url": url}})
                    }
                    ContentPart::File {
                        data,
                        mime_type,
                        filename,
                    } => {
                        let name = mime_type.as_deref().or(filename.as_deref()).unwrap_or("");
                        let mut source = Map::new();
                        source.insert("type".into(), json!("base64"));
                        source.insert("data".into(), json!(data));
                        if let Some(media_type) = wire::mime_type(name) {
                            source.insert("media_type".into(), json!(media_type));
                        }
                        json!({"type": "image", "source": source})
                    }
                })
                .collect(),
        )),
    }
}

fn convert_tools(
    request: &ChatRequest,
    disable_parallel: bool,
    cache: &CacheConfig,
) -> (Option<Vec<Value>>, Option<Value>) {
    let mut tools: Vec<Value> = request
        .tools
        .iter()
        .map(|tool| {
            let mut converted = Map::new();
            converted.insert("name".into(), json!(tool.name));
            if let Some(description) = &tool.description {
                converted.insert("description".into(), json!(description));
            }
            let schema = if wire::is_empty_schema(&tool.parameters) {
                json!({"type": "object"})
            } else {
                tool.parameters.clone()
            };
            converted.insert("input_schema".into(), schema);
            Value::Object(converted)
        })
        .collect();
    let json_schema = match &request.response_format {
        Some(ResponseFormat::JsonSchema { schema, .. }) => Some(schema),
        _ => None,
    };
    if let Some(schema) = json_schema {
        tools.push(json!({
            "name": OUTPUT_FUNCTION_NAME,
            "description": "Generate a json result by given context",
            "input_schema": schema,
        }));
    }
    if cache.enabled
        && cache.auto
        && cache.tools
        && let Some(Value::Object(last)) = tools.last_mut()
    {
        last.insert("cache_control".into(), cache.control());
    }
    let choice = if json_schema.is_some() {
        Some(if request.tools.is_empty() {
            json!({"type": "tool", "name": OUTPUT_FUNCTION_NAME, "disable_parallel_tool_use": true})
        } else {
            json!({"type": "any", "disable_parallel_tool_use": disable_parallel})
        })
    } else {
        match &request.tool_choice {
            Some(ToolChoice::Function(name)) => Some(
                json!({"type": "tool", "name": name, "disable_parallel_tool_use": disable_parallel}),
            ),
            Some(ToolChoice::Required) => {
                Some(json!({"type": "any", "disable_parallel_tool_use": disable_parallel}))
            }
            Some(ToolChoice::Auto) => {
                Some(json!({"type": "auto", "disable_parallel_tool_use": disable_parallel}))
            }
            Some(ToolChoice::None) => Some(json!({"type": "none"})),
            None => None,
        }
    };
    ((!tools.is_empty()).then_some(tools), choice)
}

#[derive(Debug, Default)]
struct PendingCall {
    id: String,
    name: String,
    arguments: String,
}

/// The state of one streamed answer (`processInput`).
#[derive(Debug, Default)]
pub struct AnthropicStream {
    model: Option<String>,
    usage: Option<Usage>,
    text: String,
    blocks: std::collections::BTreeMap<u64, PendingCall>,
}

impl AnthropicStream {
    /// Takes one SSE event.
    pub fn event(&mut self, event: &sse::Event) -> Result<(), WireError> {
        let chunk: Value = serde_json::from_str(&event.data).map_err(|error| {
            WireError::malformed(PROVIDER, format!("event data is not JSON: {error}"))
        })?;
        let kind = chunk
            .get("type")
            .and_then(Value::as_str)
            .or(event.event.as_deref())
            .unwrap_or_default();
        match kind {
            "message_start" => {
                let message = chunk.get("message").unwrap_or(&Value::Null);
                self.model = message
                    .get("model")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                let usage = message.get("usage").unwrap_or(&Value::Null);
                let count = |key: &str| usage.get(key).and_then(Value::as_u64);
                self.usage = Some(Usage {
                    input_tokens: count("input_tokens").unwrap_or(0),
                    output_tokens: count("output_tokens").unwrap_or(0),
                    cache_creation_input_tokens: count("cache_creation_input_tokens"),
                    cache_read_input_tokens: count("cache_read_input_tokens"),
                });
            }
            "message_delta" => {
                if let (Some(usage), Some(output)) = (
                    self.usage.as_mut(),
                    chunk
                        .pointer("/usage/output_tokens")
                        .and_then(Value::as_u64),
                ) {
                    usage.output_tokens = output;
                }
            }
            "content_block_start" => {
                let block = chunk.get("content_block").unwrap_or(&Value::Null);
                if block.get("type").and_then(Value::as_str) == Some("tool_use") {
                    let index = block_index(&chunk)?;
                    let text = |key: &str| {
                        block
                            .get(key)
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned()
                    };
                    self.blocks.insert(
                        index,
                        PendingCall {
                            id: text("id"),
                            name: text("name"),
                            arguments: String::new(),
                        },
                    );
                }
            }
            "content_block_delta" => {
                let delta = chunk.get("delta").unwrap_or(&Value::Null);
                match delta.get("type").and_then(Value::as_str) {
                    Some("text_delta") => {
                        if let Some(text) = delta.get("text").and_then(Value::as_str) {
                            self.text.push_str(text);
                        }
                    }
                    Some("input_json_delta") => {
                        let index = block_index(&chunk)?;
                        let call = self
                            .blocks
                            .get_mut(&index)
                            .ok_or_else(|| WireError::malformed(PROVIDER, "Tool call not found"))?;
                        if let Some(part) = delta.get("partial_json").and_then(Value::as_str) {
                            call.arguments.push_str(part);
                        }
                    }
                    _ => {}
                }
            }
            "error" => {
                let error = chunk.get("error").unwrap_or(&Value::Null);
                return Err(WireError::Reported {
                    provider: PROVIDER,
                    message: error
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or(&event.data)
                        .to_owned(),
                    kind: error.get("type").and_then(Value::as_str).map(str::to_owned),
                });
            }
            _ => {}
        }
        Ok(())
    }

    /// The assembled answer.
    pub fn finish(self) -> Result<ChatResponse, WireError> {
        let mut response = ChatResponse {
            text: (!self.text.is_empty()).then_some(self.text),
            usage: self.usage.unwrap_or_default(),
            model: self.model,
            ..ChatResponse::default()
        };
        for call in self.blocks.into_values() {
            let arguments = wire::parse_arguments(PROVIDER, &call.name, &call.arguments)?;
            if call.name == OUTPUT_FUNCTION_NAME {
                if response.json.is_none() {
                    response.json = Some(arguments);
                }
            } else {
                response.tool_calls.push(ToolCall {
                    id: call.id,
                    name: call.name,
                    arguments,
                    metadata: None,
                });
            }
        }
        Ok(response)
    }
}

fn block_index(chunk: &Value) -> Result<u64, WireError> {
    chunk
        .get("index")
        .and_then(Value::as_u64)
        .ok_or_else(|| WireError::malformed(PROVIDER, "content block without an index"))
}

/// Parses a whole streamed body. A stream that ends before `message_stop` is malformed (the
/// transport has retried it already: [`check_end`]).
pub fn parse_stream(body: &[u8]) -> Result<ChatResponse, WireError> {
    let mut stream = AnthropicStream::default();
    let mut stopped = false;
    let malformed = |error: sse::SseError| WireError::malformed(PROVIDER, error.to_string());
    let body = String::from_utf8_lossy(body);
    for event in sse::parse(&body).map_err(malformed)? {
        let event = event.map_err(malformed)?;
        stream.event(&event)?;
        stopped |= is_message_stop(&event);
    }
    if !stopped {
        return Err(WireError::malformed(PROVIDER, "the stream ended early"));
    }
    stream.finish()
}

fn is_message_stop(event: &sse::Event) -> bool {
    event.event.as_deref() == Some("message_stop") || event.data.contains("\"message_stop\"")
}

/// Whether a streamed answer reached `message_stop` (`Err` says what is missing). A stream that
/// stopped before it was cut; the transport retries it like a dropped connection. An `error`
/// event is left to [`parse_stream`], which reports it.
pub fn check_end(body: &[u8]) -> Result<(), String> {
    let body = String::from_utf8_lossy(body);
    let Ok(events) = sse::parse(&body) else {
        return Ok(());
    };
    for event in events {
        // A body the parser refuses is reported by `parse_stream`.
        let Ok(event) = event else {
            return Ok(());
        };
        if is_message_stop(&event) || event.event.as_deref() == Some("error") {
            return Ok(());
        }
    }
    Err("the stream ended before `message_stop`".to_owned())
}

/// The message and type of an error body (`{"type":"error","error":{"type","message"}}`).
pub fn error_message(body: &[u8]) -> Option<(String, Option<String>)> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let error = value.get("error")?;
    Some((
        error.get("message")?.as_str()?.to_owned(),
        error.get("type").and_then(Value::as_str).map(str::to_owned),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::types::ToolDefinition;
    use crate::settings::Environment;
    use pretty_assertions::assert_eq;

    fn add_tool() -> ToolDefinition {
        ToolDefinition {
            name: "add".into(),
            description: Some("Add two numbers".into()),
            parameters: json!({"type": "object", "properties": {"a": {"type": "number"}}}),
        }
    }

    fn text_part(text: &str) -> Content {
        Content::Parts(vec![ContentPart::Text { text: text.into() }])
    }

    /// The second request of the captured tool round trip of the official runtime
    /// (`aigne run` with `@anthropic-ai/sdk` 0.63 against a fake server).
    #[test]
    fn tool_round_trip_matches_official_runtime() {
        let request = ChatRequest {
            messages: vec![
                ChatMessage::text(Role::System, "You are helpful."),
                ChatMessage {
                    content: Some(text_part("what is 1+2")),
                    ..ChatMessage::text(Role::User, "")
                },
                ChatMessage {
                    content: Some(text_part("Let me add.")),
                    ..ChatMessage::text(Role::Agent, "")
                },
                ChatMessage {
                    content: None,
                    tool_calls: vec![ToolCall {
                        id: "toolu_1".into(),
                        name: "add".into(),
                        arguments: json!({"a": 1, "b": 2}),
                        metadata: None,
                    }],
                    ..ChatMessage::text(Role::Agent, "")
                },
                ChatMessage {
                    content: Some(text_part("sum: 3\n")),
                    tool_call_id: Some("toolu_1".into()),
                    ..ChatMessage::text(Role::Tool, "")
                },
            ],
            tools: vec![add_tool()],
            tool_choice: Some(ToolChoice::Auto),
            ..ChatRequest::default()
        };
        let body = build_body(&request, "claude-3-5-sonnet-20241022").unwrap();
        assert_eq!(
            body,
            json!({
                "model": "claude-3-5-sonnet-20241022",
                "max_tokens": 8192,
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "what is 1+2"}]},
                    {"role": "assistant", "content": [{"type": "text", "text": "Let me add."}]},
                    {"role": "assistant", "content": [
                        {"type": "tool_use", "id": "toolu_1", "name": "add", "input": {"a": 1, "b": 2}}
                    ]},
                    {"role": "user", "content": [{
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": [{"type": "text", "text": "sum: 3\n"}],
                        "cache_control": {"type": "ephemeral"}
                    }]}
                ],
                "system": [{"type": "text", "text": "You are helpful.", "cache_control": {"type": "ephemeral"}}],
                "tools": [{
                    "name": "add",
                    "description": "Add two numbers",
                    "input_schema": {"type": "object", "properties": {"a": {"type": "number"}}},
                    "cache_control": {"type": "ephemeral"}
                }],
                "tool_choice": {"type": "auto", "disable_parallel_tool_use": false},
                "stream": true
            })
        );
    }

    #[test]
    fn structured_output_forces_generate_json() {
        let schema = json!({"type": "object", "properties": {"city": {"type": "string"}}});
        let mut request = ChatRequest {
            messages: vec![ChatMessage::text(Role::User, "Paris is nice")],
            response_format: Some(ResponseFormat::JsonSchema {
                name: "output".into(),
                description: None,
                schema: schema.clone(),
                strict: true,
            }),
            ..ChatRequest::default()
        };
        request
            .model_options
            .insert("temperature".into(), json!(0.2));
        request
            .model_options
            .insert("cacheConfig".into(), json!({"ttl": "1h"}));
        let body = build_body(&request, "claude-sonnet-4-5").unwrap();
        assert_eq!(
            body,
            json!({
                "model": "claude-sonnet-4-5",
                "temperature": 0.2,
                "max_tokens": 64000,
                "messages": [{"role": "user", "content": [
                    {"type": "text", "text": "Paris is nice", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
                ]}],
                "tools": [{
                    "name": "generate_json",
                    "description": "Generate a json result by given context",
                    "input_schema": schema,
                    "cache_control": {"type": "ephemeral", "ttl": "1h"}
                }],
                "tool_choice": {"type": "tool", "name": "generate_json", "disable_parallel_tool_use": true},
                "stream": true
            })
        );
        // With business tools the model may choose: `any`.
        request.tools.push(add_tool());
        request
            .model_options
            .insert("parallelToolCalls".into(), json!(false));
        let body = build_body(&request, "claude-sonnet-4-5").unwrap();
        assert_eq!(
            body["tool_choice"],
            json!({"type": "any", "disable_parallel_tool_use": true})
        );
        assert_eq!(body["tools"][1]["name"], "generate_json");
    }

    #[test]
    fn only_system_messages_become_one_user_message_and_cache_can_be_off() {
        let mut request = ChatRequest {
            messages: vec![
                ChatMessage::text(Role::System, "a"),
                ChatMessage::text(Role::System, "b"),
            ],
            ..ChatRequest::default()
        };
        request
            .model_options
            .insert("cacheConfig".into(), json!({"enabled": false}));
        let body = build_body(&request, "claude-3-haiku").unwrap();
        assert_eq!(
            body["messages"],
            json!([{"role": "user", "content": "a\nb"}])
        );
        assert_eq!(body.get("system"), None);
        assert_eq!(body["max_tokens"], 4096);
        let empty = ChatRequest::default();
        assert!(matches!(
            build_body(&empty, "m"),
            Err(WireError::InvalidRequest { message, .. }) if message == "No messages provided"
        ));
    }

    #[test]
    fn files_and_tool_choices() {
        let request = ChatRequest {
            messages: vec![ChatMessage {
                content: Some(Content::Parts(vec![
                    ContentPart::File {
                        data: "AAAA".into(),
                        mime_type: None,
                        filename: Some("cat.png".into()),
                    },
                    ContentPart::Url {
                        url: "https://x/y.jpg".into(),
                        mime_type: None,
                        filename: None,
                    },
                ])),
                ..ChatMessage::text(Role::User, "")
            }],
            tools: vec![ToolDefinition {
                name: "noargs".into(),
                description: None,
                parameters: json!({}),
            }],
            tool_choice: Some(ToolChoice::Function("noargs".into())),
            ..ChatRequest::default()
        };
        let body = build_body(&request, "m").unwrap();
        assert_eq!(
            body["messages"][0]["content"],
            json!([
                {"type": "image", "source": {"type": "base64", "data": "AAAA", "media_type": "image/png"}},
                {"type": "image", "source": {"type": "url", "url": "https://x/y.jpg"}, "cache_control": {"type": "ephemeral"}}
            ])
        );
        assert_eq!(
            body["tools"],
            json!([{"name": "noargs", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}}])
        );
        assert_eq!(
            body["tool_choice"],
            json!({"type": "tool", "name": "noargs", "disable_parallel_tool_use": false})
        );
    }

    fn sse(events: &[Value]) -> Vec<u8> {
        events
            .iter()
            .map(|event| {
                format!(
                    "event: {}\ndata: {event}\n\n",
                    event["type"].as_str().unwrap()
                )
            })
            .collect::<String>()
            .into_bytes()
    }

    fn message_start() -> Value {
        json!({"type": "message_start", "message": {"model": "claude-3-5-sonnet-20241022",
            "usage": {"input_tokens": 25, "output_tokens": 1, "cache_creation_input_tokens": 3, "cache_read_input_tokens": 10}}})
    }

    #[test]
    fn parses_text_tool_calls_and_usage() {
        let body = sse(&[
            message_start(),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Let me "}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "add."}}),
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "add", "input": {}}}),
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"a\": 1, "}}),
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "\"b\": 2}"}}),
            json!({"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use", "id": "toolu_2", "name": "noargs", "input": {}}}),
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 30}}),
            json!({"type": "message_stop"}),
        ]);
        let response = parse_stream(&body).unwrap();
        assert_eq!(
            response,
            ChatResponse {
                text: Some("Let me add.".into()),
                tool_calls: vec![
                    ToolCall {
                        id: "toolu_1".into(),
                        name: "add".into(),
                        arguments: json!({"a": 1, "b": 2}),
                        metadata: None
                    },
                    ToolCall {
                        id: "toolu_2".into(),
                        name: "noargs".into(),
                        arguments: json!({}),
                        metadata: None
                    },
                ],
                usage: Usage {
                    input_tokens: 25,
                    output_tokens: 30,
                    cache_read_input_tokens: Some(10),
                    cache_creation_input_tokens: Some(3),
                },
                model: Some("claude-3-5-sonnet-20241022".into()),
                ..ChatResponse::default()
            }
        );
    }

    #[test]
    fn generate_json_becomes_json() {
        let body = sse(&[
            message_start(),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "t", "name": "generate_json", "input": {}}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{\"city\":\"Paris\"}"}}),
            json!({"type": "message_stop"}),
        ]);
        let response = parse_stream(&body).unwrap();
        assert_eq!(response.json, Some(json!({"city": "Paris"})));
        assert!(response.tool_calls.is_empty());
        assert_eq!(response.text, None);
    }

    #[test]
    fn stream_errors() {
        let bad_json = sse(&[
            message_start(),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "t", "name": "add"}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{\"a\":"}}),
            json!({"type": "message_stop"}),
        ]);
        assert!(matches!(
            parse_stream(&bad_json),
            Err(WireError::InvalidToolArguments { tool, .. }) if tool == "add"
        ));
        let overloaded = sse(&[
            message_start(),
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
        ]);
        assert!(matches!(
            parse_stream(&overloaded),
            Err(WireError::Reported { message, kind: Some(kind), .. })
                if message == "Overloaded" && kind == "overloaded_error"
        ));
        let cut = b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{}}\n\nevent: content_block_delta\ndata: {\"ty";
        assert!(matches!(
            parse_stream(cut),
            Err(WireError::MalformedResponse { .. })
        ));
        assert!(matches!(
            parse_stream(b"data: not json\n\n"),
            Err(WireError::MalformedResponse { .. })
        ));
    }

    #[test]
    fn settings_read_key_fallback_and_base_url() {
        let environment = Environment::from_variables(
            [
                ("CLAUDE_API_KEY".to_owned(), "sk-claude".to_owned()),
                (
                    "ANTHROPIC_BASE_URL".to_owned(),
                    "http://127.0.0.1:9/proxy".to_owned(),
                ),
            ]
            .into(),
            ".".into(),
        );
        let settings = AnthropicSettings::from_environment(&environment, None).unwrap();
        assert_eq!(settings.model, DEFAULT_MODEL);
        let request = build_request(
            &settings,
            &ChatRequest {
                messages: vec![ChatMessage::text(Role::User, "hi")],
                ..ChatRequest::default()
            },
        )
        .unwrap();
        assert_eq!(request.url.as_str(), "http://127.0.0.1:9/proxy/v1/messages");
        assert_eq!(request.headers["x-api-key"], "sk-claude");
        assert_eq!(request.headers["anthropic-version"], API_VERSION);
        let none = Environment::from_variables(Default::default(), ".".into());
        let error = AnthropicSettings::from_environment(&none, None).unwrap_err();
        assert_eq!(
            error.to_string(),
            "`anthropic` needs an API key: set `ANTHROPIC_API_KEY` or `CLAUDE_API_KEY`"
        );
    }

    #[test]
    fn error_body_message() {
        let body = br#"{"type":"error","error":{"type":"rate_limit_error","message":"Too many"}}"#;
        assert_eq!(
            error_message(body),
            Some(("Too many".into(), Some("rate_limit_error".into())))
        );
    }
}
