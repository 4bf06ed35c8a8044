//! Amazon Bedrock Converse / ConverseStream (`@aigne/bedrock` `BedrockChatModel` with
//! `@aws-sdk/client-bedrock-runtime`): request building and SigV4 signing, event-stream
//! parsing, and the second non-streaming `generate_json` call for structured output.

pub mod event_stream;
pub mod sigv4;

use serde_json::{Map, Value, json};

use super::types::{
    ChatMessage, ChatRequest, ChatResponse, Content, ContentPart, ResponseFormat, Role, ToolCall,
    ToolChoice, Usage,
};
use super::wire::{self, Variables, WireError, WireRequest};
use crate::env_vars::EnvVars;
use crate::secret::Secret;

/// Provider id.
pub const PROVIDER: &str = "bedrock";
/// `BEDROCK_DEFAULT_CHAT_MODEL`.
pub const DEFAULT_MODEL: &str = "us.amazon.nova-lite-v1:0";
/// The SigV4 service name.
pub const SERVICE: &str = "bedrock";
/// The tool of the structured-output call.
pub const OUTPUT_FUNCTION_NAME: &str = "generate_json";

/// What a Bedrock client needs.
#[derive(Debug, Clone)]
pub struct BedrockSettings {
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`.
    pub credentials: sigv4::Credentials,
    /// `AWS_REGION`.
    pub region: String,
    /// `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`, `AWS_ENDPOINT_URL`, else the regional endpoint.
    pub endpoint: url::Url,
    /// The configured model id.
    pub model: String,
}

impl BedrockSettings {
    /// Reads credentials, region and endpoint as AIGNE and the AWS SDK do.
    pub fn from_environment(
        environment: &dyn Variables,
        model: Option<&str>,
    ) -> Result<Self, WireError> {
        let access_key_id = environment.variable(EnvVars::AWS_ACCESS_KEY_ID);
        let secret_access_key = environment.variable(EnvVars::AWS_SECRET_ACCESS_KEY);
        let (Some(access_key_id), Some(secret_access_key)) = (access_key_id, secret_access_key)
        else {
            return Err(WireError::MissingCredential {
                provider: PROVIDER,
                what: "an access key id and secret",
                variable: if access_key_id.is_none() {
                    EnvVars::AWS_ACCESS_KEY_ID
                } else {
                    EnvVars::AWS_SECRET_ACCESS_KEY
                },
                variables: format!(
                    "`{}` and `{}`",
                    EnvVars::AWS_ACCESS_KEY_ID,
                    EnvVars::AWS_SECRET_ACCESS_KEY
                ),
            });
        };
        let region = environment.variable(EnvVars::AWS_REGION).ok_or_else(|| {
            WireError::MissingCredential {
                provider: PROVIDER,
                what: "a region",
                variable: EnvVars::AWS_REGION,
                variables: format!("`{}`", EnvVars::AWS_REGION),
            }
        })?;
        let (variable, value) = [
            EnvVars::AWS_ENDPOINT_URL_BEDROCK_RUNTIME,
            EnvVars::AWS_ENDPOINT_URL,
        ]
        .into_iter()
        .find_map(|name| environment.variable(name).map(|value| (name, Some(value))))
        .unwrap_or((EnvVars::AWS_REGION, None));
        let default = format!("https://bedrock-runtime.{region}.amazonaws.com");
        Ok(Self {
            credentials: sigv4::Credentials {
                access_key_id: access_key_id.to_owned(),
                secret_access_key: Secret::new(secret_access_key),
                session_token: environment
                    .variable(EnvVars::AWS_SESSION_TOKEN)
                    .map(Secret::new),
            },
            region: region.to_owned(),
            endpoint: wire::base_url(value, variable, &default)?,
            model: model
                .filter(|model| !model.is_empty())
                .unwrap_or(DEFAULT_MODEL)
                .to_owned(),
        })
    }

    /// A signed `POST /model/{modelId}/{action}` of `body`, dated `now`.
    pub fn signed_request(
        &self,
        model: &str,
        action: &str,
        body: &Value,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<WireRequest, WireError> {
        let mut url = self.endpoint.clone();
        let prefix = url.path().trim_end_matches('/').to_owned();
        let path = format!("{prefix}/model/{}/{action}", sigv4::encode(model));
        url.set_path(&path);
        let mut request = WireRequest::post_json(url, body)?;
        let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
        let hash = sigv4::payload_hash(&request.body);
        let host = match request.url.port() {
            Some(port) => format!("{}:{port}", request.url.host_str().unwrap_or_default()),
            None => request.url.host_str().unwrap_or_default().to_owned(),
        };
        let token = self.credentials.session_token.as_ref().map(Secret::expose);
        let mut signed = vec![
            ("content-type", "application/json"),
            ("host", host.as_str()),
            ("x-amz-content-sha256", hash.as_str()),
            ("x-amz-date", amz_date.as_str()),
        ];
        if let Some(token) = token {
            signed.push(("x-amz-security-token", token));
        }
        let authorization = sigv4::authorization(
            &sigv4::SigningInput {
                method: "POST",
                path: request.url.path(),
                query: "",
                headers: &signed,
                payload_hash: &hash,
                amz_date: &amz_date,
                region: &self.region,
                service: SERVICE,
            },
            &self.credentials,
        );
        request.header("x-amz-content-sha256", &hash)?;
        request.header("x-amz-date", &amz_date)?;
        if let Some(token) = &self.credentials.session_token {
            request.secret_header("x-amz-security-token", "", token)?;
        }
        request.secret_header("authorization", "", &Secret::new(authorization))?;
        Ok(request)
    }
}

/// The signed ConverseStream request.
pub fn build_request(
    settings: &BedrockSettings,
    request: &ChatRequest,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<WireRequest, WireError> {
    let model = wire::model_name(&request.model_options, &settings.model);
    settings.signed_request(model, "converse-stream", &build_body(request)?, now)
}

/// The ConverseStream body (AIGNE's `_process`; `modelId` goes into the path).
pub fn build_body(request: &ChatRequest) -> Result<Value, WireError> {
    let options = &request.model_options;
    let (messages, system) = convert_messages(&request.messages)?;
    let mut body = Map::new();
    body.insert("messages".into(), Value::Array(messages));
    body.insert("system".into(), Value::Array(system));
    let mut inference = Map::new();
    for (from, to) in [("temperature", "temperature"), ("topP", "topP")] {
        if let Some(value) = wire::number_option(options, from) {
            inference.insert(to.into(), value);
        }
    }
    body.insert("inferenceConfig".into(), Value::Object(inference));
    if let Some(tool_config) = convert_tools(request) {
        body.insert("toolConfig".into(), tool_config);
    }
    Ok(Value::Object(body))
}

fn convert_messages(messages: &[ChatMessage]) -> Result<(Vec<Value>, Vec<Value>), WireError> {
    let mut system: Vec<Value> = Vec::new();
    let mut converted: Vec<Value> = Vec::new();
    for message in messages {
        match message.role {
            Role::System => {
                let content = message.content.as_ref().ok_or_else(|| {
                    WireError::invalid(PROVIDER, "System message must have content")
                })?;
                system.extend(text_blocks(content));
            }
            Role::Tool => {
                let tool_call_id = message.tool_call_id.as_deref().ok_or_else(|| {
                    WireError::invalid(PROVIDER, "Tool message must have toolCallId")
                })?;
                let content = message.content.as_ref().ok_or_else(|| {
                    WireError::invalid(PROVIDER, "Tool message must have content")
                })?;
                let block = json!({"toolResult": {"toolUseId": tool_call_id, "content": text_blocks(content)}});
                match converted.last_mut() {
                    Some(last) if last["role"] == "user" => {
                        if let Some(Value::Array(blocks)) = last.get_mut("content") {
                            blocks.push(block);
                        }
                    }
                    _ => converted.push(json!({"role": "user", "content": [block]})),
                }
            }
            Role::User => {
                let content = message.content.as_ref().ok_or_else(|| {
                    WireError::invalid(PROVIDER, "User message must have content")
                })?;
                converted.push(json!({"role": "user", "content": text_blocks(content)}));
            }
            Role::Agent => {
                if !message.tool_calls.is_empty() {
                    let calls: Vec<Value> = message
                        .tool_calls
                        .iter()
                        .map(|call| {
                            json!({"toolUse": {"toolUseId": call.id, "name": call.name, "input": call.arguments}})
                        })
                        .collect();
                    converted.push(json!({"role": "assistant", "content": calls}));
                } else if let Some(content) = &message.content {
                    converted.push(json!({"role": "assistant", "content": text_blocks(content)}));
                } else {
                    return Err(WireError::invalid(
                        PROVIDER,
                        "Agent message must have content or toolCalls",
                    ));
                }
            }
        }
    }
    if converted.first().map(|message| &message["role"]) != Some(&json!("user")) {
        converted.insert(0, json!({"role": "user", "content": [{"text": "."}]}));
    }
    Ok((converted, system))
}

/// Text blocks only: AIGNE drops image and file parts for Bedrock.
fn text_blocks(content: &Content) -> Vec<Value> {
    match content {
        Content::Text(text) => vec![json!({"text": text})],
        Content::Parts(parts) => parts
            .iter()
            .filter_map(|part| match part {
                ContentPart::Text { text } => Some(json!({"text": text})),
                _ => None,
            })
            .collect(),
    }
}

fn convert_tools(request: &ChatRequest) -> Option<Value> {
    if request.tools.is_empty() || request.tool_choice == Some(ToolChoice::None) {
        return None;
    }
    let tools: Vec<Value> = request
        .tools
        .iter()
        .map(|tool| {
            let mut parameters = tool.parameters.clone();
            if wire::is_empty_schema(&parameters) {
                parameters = json!({"type": "object"});
            }
            let mut spec = Map::new();
            spec.insert("name".into(), json!(tool.name));
            if let Some(description) = &tool.description {
                spec.insert("description".into(), json!(description));
            }
            spec.insert("inputSchema".into(), json!({"json": parameters}));
            json!({"toolSpec": spec})
        })
        .collect();
    let mut config = Map::new();
    config.insert("tools".into(), Value::Array(tools));
    let choice = match &request.tool_choice {
        Some(ToolChoice::Function(name)) => Some(json!({"tool": {"name": name}})),
        Some(ToolChoice::Required) => Some(json!({"any": {}})),
        Some(ToolChoice::Auto) => Some(json!({"auto": {}})),
        _ => None,
    };
    if let Some(choice) = choice {
        config.insert("toolChoice".into(), choice);
    }
    Some(Value::Object(config))
}

/// The second, non-streaming call AIGNE makes when a JSON answer came back as text
/// (`requestStructuredOutput`): the same body plus a system prompt and the forced
/// `generate_json` tool.
pub fn structured_output_body(body: &Value, schema: &Value) -> Value {
    let mut body = body.clone();
    if let Value::Object(map) = &mut body {
        let mut system = map
            .get("system")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        system.push(json!({"text": format!(
            "Use the generate_json tool to generate a json result. {}",
            wire::json_tool_input_prompt(schema)
        )}));
        map.insert("system".into(), Value::Array(system));
        map.insert(
            "toolConfig".into(),
            json!({
                "tools": [{"toolSpec": {
                    "name": OUTPUT_FUNCTION_NAME,
                    "description": "Generate a json result by given context",
                    "inputSchema": {"json": schema},
                }}],
                "toolChoice": {"tool": {"name": OUTPUT_FUNCTION_NAME}},
            }),
        );
    }
    body
}

/// Whether AIGNE makes the second call: JSON asked for, text came back, no tool calls.
pub fn needs_structured_output_call(request: &ChatRequest, first: &ChatResponse) -> Option<Value> {
    match &request.response_format {
        Some(ResponseFormat::JsonSchema { schema, .. })
            if first.tool_calls.is_empty()
                && first.text.as_deref().is_some_and(|t| !t.is_empty()) =>
        {
            Some(schema.clone())
        }
        _ => None,
    }
}

/// Parses the Converse answer of the structured-output call and merges it with the first
/// answer as AIGNE does (`{...output, usage: mergeUsage(...)}`: the text is dropped).
pub fn parse_structured_output(
    body: &[u8],
    first: &ChatResponse,
    model: &str,
) -> Result<ChatResponse, WireError> {
    let value: Value = serde_json::from_slice(body).map_err(|error| {
        WireError::malformed(PROVIDER, format!("Converse answer is not JSON: {error}"))
    })?;
    let json = value
        .pointer("/output/message/content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|block| block.pointer("/toolUse/name") == Some(&json!(OUTPUT_FUNCTION_NAME)))
        .and_then(|block| block.pointer("/toolUse/input"))
        .cloned()
        .ok_or_else(|| WireError::malformed(PROVIDER, "Json tool not found"))?;
    let count = |key: &str| {
        value
            .pointer(&format!("/usage/{key}"))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    Ok(ChatResponse {
        json: Some(json),
        model: Some(model.to_owned()),
        usage: Usage {
            input_tokens: first.usage.input_tokens + count("inputTokens"),
            output_tokens: first.usage.output_tokens + count("outputTokens"),
            ..Usage::default()
        },
        ..ChatResponse::default()
    })
}

#[derive(Debug, Default)]
struct PendingCall {
    id: String,
    name: String,
    arguments: String,
}

/// The state of one ConverseStream answer (`extractResultFromStream`).
#[derive(Debug, Default)]
pub struct BedrockStream {
    decoder: event_stream::Decoder,
    text: String,
    usage: Option<Usage>,
    calls: std::collections::BTreeMap<u64, PendingCall>,
}

impl BedrockStream {
    /// Feeds raw response bytes.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), WireError> {
        let messages = self
            .decoder
            .feed(bytes)
            .map_err(|error| WireError::malformed(PROVIDER, error.0))?;
        for message in messages {
            self.message(&message)?;
        }
        Ok(())
    }

    fn message(&mut self, message: &event_stream::Message) -> Result<(), WireError> {
        let payload: Value = serde_json::from_slice(&message.payload).unwrap_or(Value::Null);
        match message.header(":message-type") {
            Some("event") => {}
            Some("exception") => {
                return Err(WireError::Reported {
                    provider: PROVIDER,
                    message: payload.get("message").and_then(Value::as_str).map_or_else(
                        || String::from_utf8_lossy(&message.payload).into_owned(),
                        str::to_owned,
                    ),
                    kind: message.header(":exception-type").map(str::to_owned),
                });
            }
            Some("error") => {
                return Err(WireError::Reported {
                    provider: PROVIDER,
                    message: message
                        .header(":error-message")
                        .unwrap_or("unknown error")
                        .to_owned(),
                    kind: message.header(":error-code").map(str::to_owned),
                });
            }
            other => {
                return Err(WireError::malformed(
                    PROVIDER,
                    format!("unknown message type `{}`", other.unwrap_or("")),
                ));
            }
        }
        if payload.is_null() {
            return Err(WireError::malformed(PROVIDER, "event payload is not JSON"));
        }
        let index = || {
            payload
                .get("contentBlockIndex")
                .and_then(Value::as_u64)
                .ok_or_else(|| WireError::malformed(PROVIDER, "Content block index is required"))
        };
        match message.header(":event-type") {
            Some("contentBlockStart") => {
                if let Some(tool_use) = payload.pointer("/start/toolUse") {
                    let name = tool_use
                        .get("name")
                        .and_then(Value::as_str)
                        .filter(|name| !name.is_empty())
                        .ok_or_else(|| WireError::malformed(PROVIDER, "Tool use is invalid"))?;
                    let id = tool_use
                        .get("toolUseId")
                        .and_then(Value::as_str)
                        .filter(|id| !id.is_empty())
                        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);
                    self.calls.insert(
                        index()?,
                        PendingCall {
                            id,
                            name: name.to_owned(),
                            arguments: String::new(),
                        },
                    );
                }
            }
            Some("contentBlockDelta") => {
                let delta = payload.get("delta").unwrap_or(&Value::Null);
                if let Some(text) = delta.get("text").and_then(Value::as_str) {
                    self.text.push_str(text);
                }
                if let Some(input) = delta.pointer("/toolUse/input").and_then(Value::as_str) {
                    let call = self
                        .calls
                        .get_mut(&index()?)
                        .ok_or_else(|| WireError::malformed(PROVIDER, "Tool call not found"))?;
                    call.arguments.push_str(input);
                }
            }
            Some("metadata") => {
                if let Some(usage) = payload.get("usage") {
                    let count = |key: &str| usage.get(key).and_then(Value::as_u64).unwrap_or(0);
                    self.usage = Some(Usage {
                        input_tokens: count("inputTokens"),
                        output_tokens: count("outputTokens"),
                        ..Usage::default()
                    });
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The assembled answer; `model` is the requested model id, as in AIGNE.
    pub fn finish(self, model: &str) -> Result<ChatResponse, WireError> {
        if self.decoder.has_remainder() {
            return Err(WireError::malformed(PROVIDER, "the stream ended early"));
        }
        let mut tool_calls = Vec::new();
        for call in self.calls.into_values() {
            let arguments = wire::parse_arguments(PROVIDER, &call.name, &call.arguments)?;
            tool_calls.push(ToolCall {
                id: call.id,
                name: call.name,
                arguments,
                metadata: None,
            });
        }
        Ok(ChatResponse {
            text: (!self.text.is_empty()).then_some(self.text),
            tool_calls,
            usage: self.usage.unwrap_or_default(),
            model: Some(model.to_owned()),
            ..ChatResponse::default()
        })
    }
}

/// Whether a ConverseStream body reached `messageStop` (`Err` says what is missing). A stream
/// that stopped before it was cut; the transport retries it like a dropped connection. An
/// exception or error frame and a frame that does not decode are left to [`parse_stream`].
pub fn check_end(body: &[u8]) -> Result<(), String> {
    let mut decoder = event_stream::Decoder::default();
    let Ok(messages) = decoder.feed(body) else {
        return Ok(());
    };
    let ended = messages.iter().any(|message| {
        matches!(message.header(":message-type"), Some("exception" | "error"))
            || message.header(":event-type") == Some("messageStop")
    });
    if ended {
        Ok(())
    } else {
        Err("the stream ended before `messageStop`".to_owned())
    }
}

/// Parses a whole ConverseStream body.
pub fn parse_stream(body: &[u8], model: &str) -> Result<ChatResponse, WireError> {
    let mut stream = BedrockStream::default();
    stream.feed(body)?;
    stream.finish(model)
}

/// The message and type of an error answer (`{"message": …}` plus `x-amzn-errortype`).
pub fn error_message(body: &[u8], error_type: Option<&str>) -> Option<(String, Option<String>)> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let message = value
        .get("message")
        .or_else(|| value.get("Message"))?
        .as_str()?;
    let kind = error_type.map(|kind| kind.split(':').next().unwrap_or(kind).to_owned());
    Some((message.to_owned(), kind))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::types::ToolDefinition;
    use crate::settings::Environment;
    use pretty_assertions::assert_eq;

    fn text_part(text: &str) -> Content {
        Content::Parts(vec![ContentPart::Text { text: text.into() }])
    }

    fn settings() -> BedrockSettings {
        let environment = Environment::from_variables(
            [
                ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
                ("AWS_SECRET_ACCESS_KEY", "secret"),
                ("AWS_REGION", "us-east-1"),
                ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "http://127.0.0.1:18905"),
            ]
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value.to_owned()))
            .collect(),
            ".".into(),
        );
        BedrockSettings::from_environment(&environment, None).unwrap()
    }

    /// The second request of the captured tool round trip of the official runtime.
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
                        id: "tooluse_1".into(),
                        name: "add".into(),
                        arguments: json!({"a": 1, "b": 2}),
                        metadata: None,
                    }],
                    ..ChatMessage::text(Role::Agent, "")
                },
                ChatMessage {
                    content: Some(text_part("sum: 3\n")),
                    tool_call_id: Some("tooluse_1".into()),
                    ..ChatMessage::text(Role::Tool, "")
                },
            ],
            tools: vec![ToolDefinition {
                name: "add".into(),
                description: Some("Add two numbers".into()),
                parameters: json!({"type": "object"}),
            }],
            tool_choice: Some(ToolChoice::Auto),
            ..ChatRequest::default()
        };
        assert_eq!(
            build_body(&request).unwrap(),
            json!({
                "messages": [
                    {"role": "user", "content": [{"text": "what is 1+2"}]},
                    {"role": "assistant", "content": [{"text": "Let me add."}]},
                    {"role": "assistant", "content": [{"toolUse": {"toolUseId": "tooluse_1", "name": "add", "input": {"a": 1, "b": 2}}}]},
                    {"role": "user", "content": [{"toolResult": {"toolUseId": "tooluse_1", "content": [{"text": "sum: 3\n"}]}}]}
                ],
                "system": [{"text": "You are helpful."}],
                "inferenceConfig": {},
                "toolConfig": {
                    "tools": [{"toolSpec": {"name": "add", "description": "Add two numbers", "inputSchema": {"json": {"type": "object"}}}}],
                    "toolChoice": {"auto": {}}
                }
            })
        );
    }

    #[test]
    fn first_message_must_be_user_and_tool_results_merge() {
        let request = ChatRequest {
            messages: vec![
                ChatMessage {
                    tool_calls: vec![
                        ToolCall {
                            id: "a".into(),
                            name: "t".into(),
                            arguments: json!({}),
                            metadata: None,
                        },
                        ToolCall {
                            id: "b".into(),
                            name: "t".into(),
                            arguments: json!({}),
                            metadata: None,
                        },
                    ],
                    content: None,
                    ..ChatMessage::text(Role::Agent, "")
                },
                ChatMessage {
                    tool_call_id: Some("a".into()),
                    ..ChatMessage::text(Role::Tool, "1")
                },
                ChatMessage {
                    tool_call_id: Some("b".into()),
                    ..ChatMessage::text(Role::Tool, "2")
                },
            ],
            tools: vec![ToolDefinition {
                name: "t".into(),
                description: None,
                parameters: json!({}),
            }],
            tool_choice: Some(ToolChoice::None),
            ..ChatRequest::default()
        };
        let mut request = request;
        request.model_options.insert("temperature".into(), json!(0));
        let body = build_body(&request).unwrap();
        assert_eq!(
            body["messages"],
            json!([
                {"role": "user", "content": [{"text": "."}]},
                {"role": "assistant", "content": [
                    {"toolUse": {"toolUseId": "a", "name": "t", "input": {}}},
                    {"toolUse": {"toolUseId": "b", "name": "t", "input": {}}}
                ]},
                {"role": "user", "content": [
                    {"toolResult": {"toolUseId": "a", "content": [{"text": "1"}]}},
                    {"toolResult": {"toolUseId": "b", "content": [{"text": "2"}]}}
                ]}
            ])
        );
        assert_eq!(body.get("toolConfig"), None, "toolChoice none drops tools");
        assert_eq!(body["inferenceConfig"], json!({"temperature": 0}));
    }

    #[test]
    fn signed_request_shape() {
        let settings = settings();
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-24T00:49:46Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let request = build_request(
            &settings,
            &ChatRequest {
                messages: vec![ChatMessage::text(Role::User, "hi")],
                ..ChatRequest::default()
            },
            now,
        )
        .unwrap();
        assert_eq!(
            request.url.as_str(),
            "http://127.0.0.1:18905/model/us.amazon.nova-lite-v1%3A0/converse-stream"
        );
        assert_eq!(request.headers["x-amz-date"], "20261124T004946Z");
        assert_eq!(
            request.headers["x-amz-content-sha256"],
            sigv4::payload_hash(&request.body).as_str()
        );
        let authorization = request.headers["authorization"].to_str().unwrap();
        assert!(authorization.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261124/us-east-1/bedrock/aws4_request, \
             SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date, Signature="
        ));
        assert!(request.headers["authorization"].is_sensitive());
    }

    #[test]
    fn missing_credentials_and_region() {
        let environment = Environment::from_variables(
            [("AWS_ACCESS_KEY_ID".to_owned(), "id".to_owned())].into(),
            ".".into(),
        );
        assert_eq!(
            BedrockSettings::from_environment(&environment, None)
                .unwrap_err()
                .to_string(),
            "`bedrock` needs an access key id and secret: set `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`"
        );
        let environment = Environment::from_variables(
            [
                ("AWS_ACCESS_KEY_ID".to_owned(), "id".to_owned()),
                ("AWS_SECRET_ACCESS_KEY".to_owned(), "s".to_owned()),
            ]
            .into(),
            ".".into(),
        );
        assert_eq!(
            BedrockSettings::from_environment(&environment, None)
                .unwrap_err()
                .to_string(),
            "`bedrock` needs a region: set `AWS_REGION`"
        );
    }

    fn frame(event_type: &str, payload: Value) -> Vec<u8> {
        event_stream::encode(
            &[
                (":event-type", event_type),
                (":content-type", "application/json"),
                (":message-type", "event"),
            ],
            payload.to_string().as_bytes(),
        )
    }

    #[test]
    fn parses_the_stream() {
        let body = [
            frame("messageStart", json!({"role": "assistant"})),
            frame("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"text": "Let me add."}})),
            frame("contentBlockStart", json!({"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "tooluse_1", "name": "add"}}})),
            frame("contentBlockDelta", json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": "{\"a\":1,"}}})),
            frame("contentBlockDelta", json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": "\"b\":2}"}}})),
            frame("messageStop", json!({"stopReason": "tool_use"})),
            frame("metadata", json!({"usage": {"inputTokens": 30, "outputTokens": 10, "totalTokens": 40}})),
        ]
        .concat();
        let response = parse_stream(&body, "us.amazon.nova-lite-v1:0").unwrap();
        assert_eq!(
            response,
            ChatResponse {
                text: Some("Let me add.".into()),
                tool_calls: vec![ToolCall {
                    id: "tooluse_1".into(),
                    name: "add".into(),
                    arguments: json!({"a": 1, "b": 2}),
                    metadata: None
                }],
                usage: Usage {
                    input_tokens: 30,
                    output_tokens: 10,
                    ..Usage::default()
                },
                model: Some("us.amazon.nova-lite-v1:0".into()),
                ..ChatResponse::default()
            }
        );
        let truncated = &body[..body.len() - 5];
        assert!(matches!(
            parse_stream(truncated, "m"),
            Err(WireError::MalformedResponse { .. })
        ));
        let exception = event_stream::encode(
            &[
                (":exception-type", "throttlingException"),
                (":content-type", "application/json"),
                (":message-type", "exception"),
            ],
            br#"{"message":"Too many requests"}"#,
        );
        assert!(matches!(
            parse_stream(&exception, "m"),
            Err(WireError::Reported { message, kind: Some(kind), .. })
                if message == "Too many requests" && kind == "throttlingException"
        ));
    }

    /// The captured second call of the official runtime for a JSON answer that came as text.
    #[test]
    fn structured_output_second_call() {
        let schema = json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]});
        let request = ChatRequest {
            messages: vec![
                ChatMessage::text(Role::System, "Extract the city."),
                ChatMessage::text(Role::User, "Paris is nice"),
            ],
            response_format: Some(ResponseFormat::JsonSchema {
                name: "output".into(),
                description: None,
                schema: schema.clone(),
                strict: true,
            }),
            ..ChatRequest::default()
        };
        let body = build_body(&request).unwrap();
        let first = ChatResponse {
            text: Some("The city is Paris.".into()),
            usage: Usage {
                input_tokens: 50,
                output_tokens: 6,
                ..Usage::default()
            },
            ..ChatResponse::default()
        };
        let schema_for_call = needs_structured_output_call(&request, &first).unwrap();
        assert_eq!(
            structured_output_body(&body, &schema_for_call),
            json!({
                "messages": [{"role": "user", "content": [{"text": "Paris is nice"}]}],
                "system": [
                    {"text": "Extract the city."},
                    {"text": format!("Use the generate_json tool to generate a json result. Tool input must be a JSON object containing the following fields only.\n<json_fields>\n{schema}\n</json_fields>\nDo not include any explanations, comments, or Markdown formatting (such as triple backticks). Return only the raw JSON.")}
                ],
                "inferenceConfig": {},
                "toolConfig": {
                    "tools": [{"toolSpec": {"name": "generate_json", "description": "Generate a json result by given context", "inputSchema": {"json": schema}}}],
                    "toolChoice": {"tool": {"name": "generate_json"}}
                }
            })
        );
        let answer = br#"{"output":{"message":{"role":"assistant","content":[{"toolUse":{"toolUseId":"t","name":"generate_json","input":{"city":"Paris"}}}]}},"usage":{"inputTokens":70,"outputTokens":8,"totalTokens":78}}"#;
        let merged = parse_structured_output(answer, &first, "m").unwrap();
        assert_eq!(merged.json, Some(json!({"city": "Paris"})));
        assert_eq!(merged.text, None);
        assert_eq!(
            (merged.usage.input_tokens, merged.usage.output_tokens),
            (120, 14)
        );
        assert!(matches!(
            parse_structured_output(br#"{"output":{"message":{"content":[]}}}"#, &first, "m"),
            Err(WireError::MalformedResponse { message, .. }) if message == "Json tool not found"
        ));
    }

    #[test]
    fn error_bodies() {
        assert_eq!(
            error_message(
                br#"{"message":"Rate exceeded"}"#,
                Some("ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/")
            ),
            Some(("Rate exceeded".into(), Some("ThrottlingException".into())))
        );
    }
}
