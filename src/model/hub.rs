//! AIGNE Hub (`@aigne/aigne-hub` `AIGNEHubChatModel` over `@aigne/transport` `BaseClient`):
//! mount-point discovery, the `/api/v2/chat` request carrying AIGNE's own `ChatModelInput`, and
//! AIGNE's streamed chunk format (`data:` JSON chunks, `event: error`).
//!
//! Unlike the official CLI, a missing hub key is an immediate error: there is no secret store
//! and no browser login in CI.

use serde_json::{Map, Value, json};

use super::types::{
    ChatMessage, ChatRequest, ChatResponse, ResponseFormat, ToolCall, ToolChoice, Usage,
};
use super::wire::{self, Variables, WireError, WireRequest};
use crate::env_vars::EnvVars;
use crate::http::sse;
use crate::secret::Secret;

/// Provider id.
pub const PROVIDER: &str = "aignehub";
/// `AIGNE_HUB_DEFAULT_MODEL`.
pub const DEFAULT_MODEL: &str = "openai/gpt-5-mini";
/// `AIGNE_HUB_URL`.
pub const DEFAULT_BASE_URL: &str = "https://hub.aigne.io/";
/// The DID of the AI Kit component whose mount point serves the API.
pub const BLOCKLET_DID: &str = "z8ia3xzq2tMq8CRHfaXj1BTYJyYnEcHbqP8cJ";
/// The chat endpoint under the mount point.
pub const CHAT_PATH: &str = "/api/v2/chat";
/// `BaseClient`'s timeout until the chat response's headers (`TIMEOUT` env, default 60 s).
pub const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// `@aigne/core` `fetch`'s timeout until the discovery response's headers (`TIMEOUT` env,
/// default 8 s).
pub const DISCOVERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(8);
/// `BaseClient`'s retries of failed fetches (`DEFAULT_MAX_RECONNECTS`).
pub const MAX_RETRIES: u32 = 3;

/// What a hub client needs.
#[derive(Debug, Clone)]
pub struct HubSettings {
    /// `AIGNE_HUB_API_KEY`.
    pub api_key: Secret,
    /// `AIGNE_HUB_API_URL`, else the official hub.
    pub base_url: url::Url,
    /// The configured model (`provider/model`).
    pub model: String,
    /// The `x-aigne-hub-client-did` header.
    pub client_id: String,
    /// Time until the chat response's headers.
    pub chat_timeout: std::time::Duration,
    /// Time until the discovery response's headers.
    pub discovery_timeout: std::time::Duration,
}

impl HubSettings {
    /// Reads the hub key and URL. No key is an error right away (never a login prompt).
    pub fn from_environment(
        environment: &dyn Variables,
        model: Option<&str>,
    ) -> Result<Self, WireError> {
        let api_key = environment
            .variable(EnvVars::AIGNE_HUB_API_KEY)
            .ok_or_else(|| WireError::MissingCredential {
                provider: PROVIDER,
                what: "an access key",
                variable: EnvVars::AIGNE_HUB_API_KEY,
                variables: format!(
                    "`{}` (and `{}` for a hub other than {DEFAULT_BASE_URL})",
                    EnvVars::AIGNE_HUB_API_KEY,
                    EnvVars::AIGNE_HUB_API_URL
                ),
            })?;
        Ok(Self {
            api_key: Secret::new(api_key),
            base_url: wire::base_url(
                environment.variable(EnvVars::AIGNE_HUB_API_URL),
                EnvVars::AIGNE_HUB_API_URL,
                DEFAULT_BASE_URL,
            )?,
            model: model
                .filter(|model| !model.is_empty())
                .unwrap_or(DEFAULT_MODEL)
                .to_owned(),
            client_id: format!(
                "@aigne/aigne-hub:{}",
                environment
                    .variable(EnvVars::HOSTNAME)
                    .unwrap_or("aigne-ci")
            ),
            chat_timeout: timeout_variable(environment).unwrap_or(TIMEOUT),
            discovery_timeout: timeout_variable(environment).unwrap_or(DISCOVERY_TIMEOUT),
        })
    }

    /// The hub origin (`scheme://host[:port]`), where `__blocklet__.js` lives.
    pub fn origin(&self) -> url::Url {
        let mut origin = self.base_url.clone();
        origin.set_path("/");
        origin.set_query(None);
        origin.set_fragment(None);
        origin
    }
}

/// `TIMEOUT` in milliseconds, read as JavaScript's `parseInt(...) || default` does: a leading
/// integer, and zero or no number means the default.
fn timeout_variable(environment: &dyn Variables) -> Option<std::time::Duration> {
    let text = environment.variable(EnvVars::TIMEOUT)?.trim_start();
    let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
    let negative = text.starts_with('-');
    let millis: u64 = digits
        .parse()
        .ok()
        .filter(|millis| *millis > 0 && !negative)?;
    Some(std::time::Duration::from_millis(millis))
}

/// `GET {origin}/__blocklet__.js?type=json`.
pub fn discovery_request(settings: &HubSettings) -> WireRequest {
    let mut url = wire::join_url(&settings.origin(), "__blocklet__.js");
    url.set_query(Some("type=json"));
    WireRequest::get(url)
}

/// The chat endpoint from the blocklet description: `{origin}{mountPoint}/api/v2/chat`.
pub fn chat_endpoint(settings: &HubSettings, blocklet: &[u8]) -> Result<url::Url, WireError> {
    let origin = settings.origin();
    let value: Value = serde_json::from_slice(blocklet).map_err(|error| {
        WireError::malformed(PROVIDER, format!("`__blocklet__.js` is not JSON: {error}"))
    })?;
    let mount_point = value
        .get("componentMountPoints")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|component| component.get("did").and_then(Value::as_str) == Some(BLOCKLET_DID))
        .and_then(|component| component.get("mountPoint").and_then(Value::as_str))
        .ok_or_else(|| WireError::HubComponentNotFound {
            origin: origin.as_str().trim_end_matches('/').to_owned(),
        })?;
    let mount = wire::join_url(&origin, mount_point);
    Ok(if mount.path().ends_with(CHAT_PATH) {
        mount
    } else {
        wire::join_url(&mount, CHAT_PATH)
    })
}

/// The chat `POST` to a discovered endpoint.
pub fn build_request(
    settings: &HubSettings,
    endpoint: &url::Url,
    request: &ChatRequest,
) -> Result<WireRequest, WireError> {
    let body = build_body(request, &settings.model);
    let mut wire_request = WireRequest::post_json(endpoint.clone(), &body)?;
    wire_request.header("x-aigne-hub-client-did", &settings.client_id)?;
    wire_request.secret_header("authorization", "Bearer ", &settings.api_key)?;
    Ok(wire_request)
}

/// `{input, agent: "$CHAT_MODEL", options: {streaming, userContext, memories}}`.
pub fn build_body(request: &ChatRequest, configured_model: &str) -> Value {
    json!({
        "input": aigne_input(request, configured_model),
        "agent": "$CHAT_MODEL",
        "options": {"streaming": true, "userContext": {}, "memories": []},
    })
}

/// A [`ChatRequest`] as AIGNE's `ChatModelInput` JSON, with `modelOptions` completed as
/// `ChatModel.getModelOptions` and the hub model do.
pub fn aigne_input(request: &ChatRequest, configured_model: &str) -> Value {
    let mut input = Map::new();
    input.insert(
        "messages".into(),
        Value::Array(request.messages.iter().map(aigne_message).collect()),
    );
    if !request.tools.is_empty() {
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|tool| {
                let mut function = Map::new();
                function.insert("name".into(), json!(tool.name));
                if let Some(description) = &tool.description {
                    function.insert("description".into(), json!(description));
                }
                function.insert("parameters".into(), tool.parameters.clone());
                json!({"type": "function", "function": function})
            })
            .collect();
        input.insert("tools".into(), Value::Array(tools));
    }
    if let Some(choice) = &request.tool_choice {
        let choice = match choice {
            ToolChoice::Auto => json!("auto"),
            ToolChoice::None => json!("none"),
            ToolChoice::Required => json!("required"),
            ToolChoice::Function(name) => json!({"type": "function", "function": {"name": name}}),
        };
        input.insert("toolChoice".into(), choice);
    }
    if let Some(format) = &request.response_format {
        let format = match format {
            ResponseFormat::Text => json!({"type": "text"}),
            ResponseFormat::JsonSchema {
                name,
                description,
                schema,
                strict,
            } => {
                let mut json_schema = Map::new();
                json_schema.insert("name".into(), json!(name));
                if let Some(description) = description {
                    json_schema.insert("description".into(), json!(description));
                }
                json_schema.insert("schema".into(), schema.clone());
                json_schema.insert("strict".into(), json!(strict));
                json!({"type": "json_schema", "jsonSchema": json_schema})
            }
        };
        input.insert("responseFormat".into(), format);
    }
    let mut options = request.model_options.clone();
    let mut cache_config = match options.shift_remove("cacheConfig") {
        Some(Value::Object(config)) => config,
        _ => Map::new(),
    };
    let mut breakpoints = match cache_config.shift_remove("autoBreakpoints") {
        Some(Value::Object(points)) => points,
        _ => Map::new(),
    };
    if breakpoints.get("lastMessage").is_none_or(Value::is_null) {
        breakpoints.insert("lastMessage".into(), Value::Bool(true));
    }
    cache_config.insert("autoBreakpoints".into(), Value::Object(breakpoints));
    options.insert("cacheConfig".into(), Value::Object(cache_config));
    let model = wire::model_name(&request.model_options, configured_model).to_owned();
    options.insert("model".into(), json!(model));
    input.insert("modelOptions".into(), Value::Object(options));
    input.insert("outputFileType".into(), json!("url"));
    Value::Object(input)
}

fn aigne_message(message: &ChatMessage) -> Value {
    let mut value = Map::new();
    value.insert("role".into(), json!(message.role));
    if let Some(content) = &message.content {
        value.insert("content".into(), json!(content));
    }
    if !message.tool_calls.is_empty() {
        let calls: Vec<Value> = message
            .tool_calls
            .iter()
            .map(|call| {
                let mut value = json!({
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                });
                if let Some(metadata) = &call.metadata {
                    value["metadata"] = metadata.clone();
                }
                value
            })
            .collect();
        value.insert("toolCalls".into(), Value::Array(calls));
    }
    if let Some(id) = &message.tool_call_id {
        value.insert("toolCallId".into(), json!(id));
    }
    if let Some(name) = &message.name {
        value.insert("name".into(), json!(name));
    }
    Value::Object(value)
}

/// The merged output of AIGNE response chunks (`AgentResponseStreamParser`): `json` deltas
/// are shallow-merged, `text` deltas concatenated.
#[derive(Debug, Default)]
pub struct HubStream {
    output: Map<String, Value>,
}

impl HubStream {
    /// Takes one SSE event.
    pub fn event(&mut self, event: &str, data: &str) -> Result<(), WireError> {
        let chunk: Value = serde_json::from_str(data).map_err(|error| {
            WireError::malformed(
                PROVIDER,
                format!("Parse response chunk json error: {error} {data}"),
            )
        })?;
        match event {
            "error" => {
                return Err(WireError::Reported {
                    provider: PROVIDER,
                    message: chunk
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or(data)
                        .to_owned(),
                    kind: chunk.get("type").and_then(Value::as_str).map(str::to_owned),
                });
            }
            "" => {}
            // AIGNE warns about unknown events and goes on.
            _ => return Ok(()),
        }
        let Some(delta) = chunk.get("delta") else {
            return Ok(());
        };
        if let Some(Value::Object(json)) = delta.get("json") {
            for (key, value) in json {
                self.output.insert(key.clone(), value.clone());
            }
        }
        if let Some(Value::Object(text)) = delta.get("text") {
            for (key, value) in text {
                let mut joined = self
                    .output
                    .get(key)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                joined.push_str(value.as_str().unwrap_or_default());
                if !joined.is_empty() {
                    self.output.insert(key.clone(), Value::String(joined));
                }
            }
        }
        Ok(())
    }

    /// The assembled answer.
    pub fn finish(self) -> Result<ChatResponse, WireError> {
        output_to_response(Value::Object(self.output))
    }
}

/// AIGNE's `ChatModelOutput` JSON as a [`ChatResponse`].
pub fn output_to_response(output: Value) -> Result<ChatResponse, WireError> {
    let text = |key: &str| {
        output
            .get(key)
            .and_then(Value::as_str)
            .filter(|text| !text.is_empty())
            .map(str::to_owned)
    };
    let mut tool_calls = Vec::new();
    for call in output
        .get("toolCalls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = call
            .pointer("/function/name")
            .and_then(Value::as_str)
            .ok_or_else(|| WireError::malformed(PROVIDER, "a tool call without a name"))?;
        tool_calls.push(ToolCall {
            id: call
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            name: name.to_owned(),
            arguments: call
                .pointer("/function/arguments")
                .filter(|arguments| !arguments.is_null())
                .cloned()
                .unwrap_or_else(|| json!({})),
            metadata: call.get("metadata").filter(|m| !m.is_null()).cloned(),
        });
    }
    let usage = output.get("usage").unwrap_or(&Value::Null);
    let count = |key: &str| usage.get(key).and_then(Value::as_u64);
    Ok(ChatResponse {
        text: text("text"),
        thoughts: text("thoughts"),
        json: output.get("json").filter(|json| !json.is_null()).cloned(),
        tool_calls,
        usage: Usage {
            input_tokens: count("inputTokens").unwrap_or(0),
            output_tokens: count("outputTokens").unwrap_or(0),
            cache_read_input_tokens: count("cacheReadInputTokens"),
            cache_creation_input_tokens: count("cacheCreationInputTokens"),
        },
        model: text("model"),
        ..ChatResponse::default()
    })
}

/// Parses a whole answer: SSE chunks, or one JSON `ChatModelOutput` when the hub did not
/// stream (`content-type: application/json`).
pub fn parse_response(body: &[u8], content_type: Option<&str>) -> Result<ChatResponse, WireError> {
    if content_type.is_some_and(|kind| kind.starts_with("application/json")) {
        let output: Value = serde_json::from_slice(body).map_err(|error| {
            WireError::malformed(PROVIDER, format!("answer is not JSON: {error}"))
        })?;
        return output_to_response(output);
    }
    let mut stream = HubStream::default();
    let malformed = |error: sse::SseError| WireError::malformed(PROVIDER, error.to_string());
    let body = String::from_utf8_lossy(body);
    for event in sse::parse(&body).map_err(malformed)? {
        let event = event.map_err(malformed)?;
        stream.event(event.event.as_deref().unwrap_or_default(), &event.data)?;
    }
    stream.finish()
}

/// Whether a streamed answer ended cleanly (`Err` says what is wrong). AIGNE Hub's stream has
/// no end marker (the server closes the connection after the last chunk), so what can be told
/// is a body with no event at all, or one that stops inside an event (no closing blank line):
/// both were cut, and the transport retries them like a dropped connection. A JSON answer (no
/// stream) is left to [`parse_response`].
pub fn check_end(body: &[u8]) -> Result<(), String> {
    let body = String::from_utf8_lossy(body);
    if body.trim_start().starts_with('{') {
        return Ok(());
    }
    if sse::ends_inside_an_event(&body) {
        return Err("the stream ended inside an event".to_owned());
    }
    match sse::parse(&body).map(|mut events| events.next()) {
        Ok(None) => Err("the stream ended before its first event".to_owned()),
        _ => Ok(()),
    }
}

/// The message and type of an error body (`{"error":{"message","type"}}`).
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
    use crate::model::types::{Content, ContentPart, Role, ToolDefinition};
    use crate::settings::Environment;
    use pretty_assertions::assert_eq;

    fn settings(url: &str) -> HubSettings {
        let environment = Environment::from_variables(
            [
                ("AIGNE_HUB_API_KEY".to_owned(), "hub-key".to_owned()),
                ("AIGNE_HUB_API_URL".to_owned(), url.to_owned()),
                ("HOSTNAME".to_owned(), "vm".to_owned()),
            ]
            .into(),
            ".".into(),
        );
        HubSettings::from_environment(&environment, None).unwrap()
    }

    fn text_part(text: &str) -> Content {
        Content::Parts(vec![ContentPart::Text { text: text.into() }])
    }

    #[test]
    fn discovery_uses_the_origin_and_the_ai_kit_mount_point() {
        let settings = settings("http://127.0.0.1:18908/some/path");
        assert_eq!(
            discovery_request(&settings).url.as_str(),
            "http://127.0.0.1:18908/__blocklet__.js?type=json"
        );
        let blocklet = json!({"componentMountPoints": [
            {"did": "zOther", "mountPoint": "/other"},
            {"did": BLOCKLET_DID, "mountPoint": "/app/ai-kit"}
        ]});
        assert_eq!(
            chat_endpoint(&settings, blocklet.to_string().as_bytes())
                .unwrap()
                .as_str(),
            "http://127.0.0.1:18908/app/ai-kit/api/v2/chat"
        );
        let root = json!({"componentMountPoints": [{"did": BLOCKLET_DID, "mountPoint": "/"}]});
        assert_eq!(
            chat_endpoint(&settings, root.to_string().as_bytes())
                .unwrap()
                .as_str(),
            "http://127.0.0.1:18908/api/v2/chat"
        );
        let error = chat_endpoint(&settings, b"{}").unwrap_err();
        assert_eq!(
            error.to_string(),
            "AIGNE Hub at `http://127.0.0.1:18908` has no AI Kit component in `__blocklet__.js`"
        );
    }

    #[test]
    fn missing_key_is_an_immediate_clear_error() {
        let environment = Environment::from_variables(Default::default(), ".".into());
        assert_eq!(
            HubSettings::from_environment(&environment, None)
                .unwrap_err()
                .to_string(),
            "`aignehub` needs an access key: set `AIGNE_HUB_API_KEY` (and `AIGNE_HUB_API_URL` for a hub other than https://hub.aigne.io/)"
        );
    }

    /// The second request of the captured tool round trip of the official runtime.
    #[test]
    fn tool_round_trip_matches_official_runtime() {
        let settings = settings("http://127.0.0.1:18909");
        let endpoint = url::Url::parse("http://127.0.0.1:18909/app/ai-kit/api/v2/chat").unwrap();
        let schema = json!({"type": "object", "properties": {"a": {"type": "number"}}});
        let request = ChatRequest {
            messages: vec![
                ChatMessage {
                    content: Some(text_part("You are helpful.")),
                    ..ChatMessage::text(Role::System, "")
                },
                ChatMessage {
                    content: Some(text_part("what is 1+2")),
                    ..ChatMessage::text(Role::User, "")
                },
                ChatMessage {
                    content: None,
                    tool_calls: vec![ToolCall {
                        id: "call_1".into(),
                        name: "add".into(),
                        arguments: json!({"a": 1, "b": 2}),
                        metadata: None,
                    }],
                    ..ChatMessage::text(Role::Agent, "")
                },
                ChatMessage {
                    content: Some(text_part("sum: 3\n")),
                    tool_call_id: Some("call_1".into()),
                    ..ChatMessage::text(Role::Tool, "")
                },
            ],
            tools: vec![ToolDefinition {
                name: "add".into(),
                description: Some("Add two numbers".into()),
                parameters: schema.clone(),
            }],
            tool_choice: Some(ToolChoice::Auto),
            ..ChatRequest::default()
        };
        let wire_request = build_request(&settings, &endpoint, &request).unwrap();
        assert_eq!(wire_request.headers["authorization"], "Bearer hub-key");
        assert!(wire_request.headers["authorization"].is_sensitive());
        assert_eq!(
            wire_request.headers["x-aigne-hub-client-did"],
            "@aigne/aigne-hub:vm"
        );
        assert_eq!(
            wire_request.json_body().unwrap(),
            json!({
                "input": {
                    "messages": [
                        {"role": "system", "content": [{"type": "text", "text": "You are helpful."}]},
                        {"role": "user", "content": [{"type": "text", "text": "what is 1+2"}]},
                        {"role": "agent", "toolCalls": [{"id": "call_1", "type": "function", "function": {"name": "add", "arguments": {"a": 1, "b": 2}}}]},
                        {"role": "tool", "content": [{"type": "text", "text": "sum: 3\n"}], "toolCallId": "call_1"}
                    ],
                    "tools": [{"type": "function", "function": {"name": "add", "description": "Add two numbers", "parameters": schema}}],
                    "toolChoice": "auto",
                    "modelOptions": {"cacheConfig": {"autoBreakpoints": {"lastMessage": true}}, "model": "openai/gpt-5-mini"},
                    "outputFileType": "url"
                },
                "agent": "$CHAT_MODEL",
                "options": {"streaming": true, "userContext": {}, "memories": []}
            })
        );
    }

    #[test]
    fn structured_request_and_model_override() {
        let mut request = ChatRequest {
            messages: vec![ChatMessage::text(Role::User, "Paris")],
            response_format: Some(ResponseFormat::JsonSchema {
                name: "output".into(),
                description: None,
                schema: json!({"type": "object"}),
                strict: true,
            }),
            ..ChatRequest::default()
        };
        request
            .model_options
            .insert("model".into(), json!("claude-sonnet-4-5"));
        request
            .model_options
            .insert("temperature".into(), json!(0.1));
        let input = aigne_input(&request, DEFAULT_MODEL);
        assert_eq!(
            input,
            json!({
                "messages": [{"role": "user", "content": "Paris"}],
                "responseFormat": {"type": "json_schema", "jsonSchema": {"name": "output", "schema": {"type": "object"}, "strict": true}},
                "modelOptions": {"model": "claude-sonnet-4-5", "temperature": 0.1, "cacheConfig": {"autoBreakpoints": {"lastMessage": true}}},
                "outputFileType": "url"
            })
        );
    }

    #[test]
    fn parses_aigne_chunks() {
        let body = [
            r#"data: {"delta":{"json":{"model":"openai/gpt-5-mini"}}}"#,
            r#"data: {"delta":{"text":{"text":"Let me "}}}"#,
            r#"data: {"delta":{"text":{"text":"add.","thoughts":"hmm"}}}"#,
            r#"data: {"progress":{"event":"agentStarted"}}"#,
            r#"data: {"delta":{"json":{"toolCalls":[{"id":"call_1","type":"function","function":{"name":"add","arguments":{"a":1,"b":2}}}]}}}"#,
            r#"data: {"delta":{"json":{"usage":{"inputTokens":30,"outputTokens":10,"aigneHubCredits":1.5,"cacheReadInputTokens":2}}}}"#,
        ]
        .map(|line| format!("{line}\n\n"))
        .concat();
        let response = parse_response(body.as_bytes(), Some("text/event-stream")).unwrap();
        assert_eq!(
            response,
            ChatResponse {
                text: Some("Let me add.".into()),
                thoughts: Some("hmm".into()),
                tool_calls: vec![ToolCall {
                    id: "call_1".into(),
                    name: "add".into(),
                    arguments: json!({"a": 1, "b": 2}),
                    metadata: None
                }],
                usage: Usage {
                    input_tokens: 30,
                    output_tokens: 10,
                    cache_read_input_tokens: Some(2),
                    cache_creation_input_tokens: None
                },
                model: Some("openai/gpt-5-mini".into()),
                ..ChatResponse::default()
            }
        );
        let json = parse_response(
            br#"{"json":{"city":"Paris"},"usage":{"inputTokens":1,"outputTokens":2}}"#,
            Some("application/json; charset=utf-8"),
        )
        .unwrap();
        assert_eq!(json.json, Some(json!({"city": "Paris"})));
    }

    #[test]
    fn error_events_and_bodies() {
        let body = "data: {\"delta\":{\"text\":{\"text\":\"x\"}}}\n\nevent: error\ndata: {\"message\":\"Insufficient credits\"}\n\n";
        assert_eq!(
            parse_response(body.as_bytes(), None)
                .unwrap_err()
                .to_string(),
            "`aignehub` reported an error: Insufficient credits"
        );
        assert!(matches!(
            parse_response(b"data: {\"delta\":", None),
            Err(WireError::MalformedResponse { .. })
        ));
        assert_eq!(
            error_message(br#"{"error":{"message":"Unauthorized","type":"auth"}}"#),
            Some(("Unauthorized".into(), Some("auth".into())))
        );
    }
}
