//! Gemini `streamGenerateContent` (`@aigne/gemini` `GeminiChatModel` with `@google/genai`):
//! request building from a [`ChatRequest`] and stream parsing into a [`ChatResponse`].
//!
//! The body is what the GenAI SDK sends for AIGNE's `generateContentStream({model, contents,
//! config})`: `systemInstruction`, `tools` and `toolConfig` at the top, everything else of
//! `config` under `generationConfig` (checked against the official runtime).

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
pub const PROVIDER: &str = "gemini";
/// `GEMINI_DEFAULT_CHAT_MODEL`.
pub const DEFAULT_MODEL: &str = "gemini-2.0-flash";
/// The SDK's default endpoint.
pub const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com";
/// The function that carries structured output when tools are present.
pub const OUTPUT_FUNCTION_NAME: &str = "output";

/// What a Gemini client needs.
#[derive(Debug, Clone)]
pub struct GeminiSettings {
    /// `GEMINI_API_KEY`, else `GOOGLE_API_KEY`.
    pub api_key: Secret,
    /// `GOOGLE_GEMINI_BASE_URL` (read by the SDK), else the public endpoint.
    pub base_url: url::Url,
    /// The configured model.
    pub model: String,
}

impl GeminiSettings {
    /// Reads the key and base URL as AIGNE and the SDK do.
    pub fn from_environment(
        environment: &dyn Variables,
        model: Option<&str>,
    ) -> Result<Self, WireError> {
        Ok(Self {
            api_key: wire::api_key(
                environment,
                PROVIDER,
                EnvVars::GEMINI_API_KEY,
                EnvVars::GOOGLE_API_KEY,
            )?,
            base_url: wire::base_url(
                environment.variable(EnvVars::GOOGLE_GEMINI_BASE_URL),
                EnvVars::GOOGLE_GEMINI_BASE_URL,
                DEFAULT_BASE_URL,
            )?,
            model: model
                .filter(|model| !model.is_empty())
                .unwrap_or(DEFAULT_MODEL)
                .to_owned(),
        })
    }
}

/// The `POST /v1beta/models/{model}:streamGenerateContent?alt=sse` request.
pub fn build_request(
    settings: &GeminiSettings,
    request: &ChatRequest,
) -> Result<WireRequest, WireError> {
    let model = wire::model_name(&request.model_options, &settings.model);
    if model.contains("..") || model.contains('?') || model.contains('&') {
        return Err(WireError::invalid(PROVIDER, "invalid model parameter"));
    }
    let resource = if model.starts_with("models/") || model.starts_with("tunedModels/") {
        model.to_owned()
    } else {
        format!("models/{model}")
    };
    let mut url = wire::join_url(
        &settings.base_url,
        &format!("v1beta/{resource}:streamGenerateContent"),
    );
    url.set_query(Some("alt=sse"));
    let body = build_body(request, &settings.model)?;
    let mut wire_request = WireRequest::post_json(url, &body)?;
    wire_request.secret_header("x-goog-api-key", "", &settings.api_key)?;
    Ok(wire_request)
}

/// What thinking a model supports (`thinkingBudgetModelMap`), first match wins.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Thinking {
    None,
    Level,
    Budget { min: i64, max: i64 },
}

fn thinking_support(model: &str) -> Thinking {
    let matches = |pattern: &str| {
        regex::Regex::new(pattern)
            .map(|regex| regex.is_match(model))
            .unwrap_or(false)
    };
    if matches("gemini-2.5-flash-image-preview") {
        return Thinking::None;
    }
    // `/gemini-3(?!.*-image-)/`: some `gemini-3` not followed by `-image-`.
    if model
        .rmatch_indices("gemini-3")
        .next()
        .is_some_and(|(index, _)| !model[index..].contains("-image-"))
    {
        return Thinking::Level;
    }
    if matches("gemini-2.5-pro") {
        return Thinking::Budget {
            min: 128,
            max: 32768,
        };
    }
    if matches("gemini-2.5-flash") {
        return Thinking::Budget { min: 0, max: 24576 };
    }
    if matches("2.5-flash-lite") {
        return Thinking::Budget {
            min: 512,
            max: 24576,
        };
    }
    Thinking::None
}

fn budget_for_level(level: &str) -> Option<i64> {
    match level {
        "high" => Some(100_000),
        "medium" => Some(10_000),
        "low" => Some(5_000),
        "minimal" => Some(200),
        _ => None,
    }
}

/// `thinkingConfig` for a model and `reasoningEffort` (`getThinkingBudget`).
pub fn thinking_config(model: &str, effort: Option<&Value>) -> Option<Value> {
    let mut config = Map::new();
    config.insert("includeThoughts".into(), Value::Bool(true));
    match thinking_support(model) {
        Thinking::None => return None,
        Thinking::Level => {
            let level = match effort {
                Some(Value::String(effort)) => match effort.as_str() {
                    "high" | "medium" => Some("HIGH"),
                    "low" | "minimal" => Some("LOW"),
                    _ => None,
                },
                Some(Value::Number(number)) => {
                    Some(if number.as_f64().unwrap_or(0.0) >= 10_000.0 {
                        "HIGH"
                    } else {
                        "LOW"
                    })
                }
                _ => Some("THINKING_LEVEL_UNSPECIFIED"),
            };
            if let Some(level) = level {
                config.insert("thinkingLevel".into(), json!(level));
            }
        }
        Thinking::Budget { min, max } => {
            let budget = match effort {
                Some(Value::String(effort)) => budget_for_level(effort),
                Some(Value::Number(number)) => number.as_f64().map(|budget| budget as i64),
                _ => None,
            };
            if let Some(budget) = budget {
                config.insert("thinkingBudget".into(), json!(budget.max(min).min(max)));
            }
        }
    }
    Some(Value::Object(config))
}

/// The JSON body.
pub fn build_body(request: &ChatRequest, configured_model: &str) -> Result<Value, WireError> {
    let options = &request.model_options;
    let model = wire::model_name(options, configured_model);
    let (contents, system_parts) = build_contents(&request.messages)?;
    let mut body = Map::new();
    body.insert("contents".into(), Value::Array(contents));
    if !system_parts.is_empty() {
        body.insert(
            "systemInstruction".into(),
            json!({"parts": system_parts, "role": "user"}),
        );
    }
    let mut tools: Vec<Value> = request
        .tools
        .iter()
        .map(|tool| {
            let mut declaration = Map::new();
            declaration.insert("name".into(), json!(tool.name));
            if let Some(description) = &tool.description {
                declaration.insert("description".into(), json!(description));
            }
            declaration.insert("parametersJsonSchema".into(), tool.parameters.clone());
            json!({"functionDeclarations": [declaration]})
        })
        .collect();
    let mut function_calling = match &request.tool_choice {
        None => None,
        Some(ToolChoice::Auto) => Some(json!({"mode": "AUTO"})),
        Some(ToolChoice::None) => Some(json!({"mode": "NONE"})),
        Some(ToolChoice::Required) => Some(json!({"mode": "ANY"})),
        Some(ToolChoice::Function(name)) => {
            Some(json!({"mode": "ANY", "allowedFunctionNames": [name]}))
        }
    };
    let mut generation = Map::new();
    if let Some(thinking) = thinking_config(model, options.get("reasoningEffort")) {
        generation.insert("thinkingConfig".into(), thinking);
    }
    if let Some(modalities) = options.get("modalities").filter(|value| !value.is_null()) {
        generation.insert("responseModalities".into(), modalities.clone());
    }
    for key in ["temperature", "topP", "frequencyPenalty", "presencePenalty"] {
        if let Some(value) = wire::number_option(options, key) {
            generation.insert(key.into(), value);
        }
    }
    if let Some(ResponseFormat::JsonSchema { schema, .. }) = &request.response_format {
        if tools.is_empty() {
            generation.insert("responseMimeType".into(), json!("application/json"));
            generation.insert("responseJsonSchema".into(), schema.clone());
        } else {
            tools.push(json!({"functionDeclarations": [{
                "name": OUTPUT_FUNCTION_NAME,
                "description": "Output the final response",
                "parametersJsonSchema": schema,
            }]}));
            function_calling = Some(json!({"mode": "ANY"}));
        }
    }
    body.insert("tools".into(), Value::Array(tools));
    let mut tool_config = Map::new();
    if let Some(function_calling) = function_calling {
        tool_config.insert("functionCallingConfig".into(), function_calling);
    }
    body.insert("toolConfig".into(), Value::Object(tool_config));
    // Always present, `{}` when empty: the official model's SDK sends it so.
    body.insert("generationConfig".into(), Value::Object(generation));
    Ok(Value::Object(body))
}

fn build_contents(messages: &[ChatMessage]) -> Result<(Vec<Value>, Vec<Value>), WireError> {
    let mut system_parts: Vec<Value> = Vec::new();
    let mut contents: Vec<Value> = Vec::new();
    for message in messages {
        if message.role == Role::System {
            match &message.content {
                Some(Content::Text(text)) => system_parts.push(json!({"text": text})),
                Some(Content::Parts(parts)) => {
                    for part in parts {
                        let ContentPart::Text { text } = part else {
                            return Err(WireError::invalid(
                                PROVIDER,
                                format!("Unsupported content type: {}", part_kind(part)),
                            ));
                        };
                        system_parts.push(json!({"text": text}));
                    }
                }
                None => {}
            }
            continue;
        }
        let mut content = Map::new();
        let parts = if !message.tool_calls.is_empty() {
            Some(
                message
                    .tool_calls
                    .iter()
                    .map(|call| {
                        let mut part = Map::new();
                        part.insert(
                            "functionCall".into(),
                            json!({"id": call.id, "args": call.arguments, "name": call.name}),
                        );
                        if let Some(signature) = call
                            .metadata
                            .as_ref()
                            .and_then(|metadata| metadata.get("thoughtSignature"))
                            .filter(|signature| !signature.is_null())
                        {
                            part.insert("thoughtSignature".into(), signature.clone());
                        }
                        Value::Object(part)
                    })
                    .collect(),
            )
        } else if let Some(tool_call_id) = &message.tool_call_id {
            Some(vec![json!({
                "functionResponse": function_response(messages, message, tool_call_id)?
            })])
        } else {
            message.content.as_ref().map(content_to_parts)
        };
        if let Some(parts) = parts {
            content.insert("parts".into(), Value::Array(parts));
        }
        match message.role {
            Role::User => {
                content.insert("role".into(), json!("user"));
            }
            Role::Agent => {
                content.insert("role".into(), json!("model"));
            }
            _ => {}
        }
        contents.push(Value::Object(content));
    }
    // `ensureMessagesHasUserMessage`.
    if contents.is_empty()
        && let Some(system) = system_parts.pop()
    {
        contents.push(json!({"parts": [system], "role": "user"}));
    }
    if contents.first().and_then(|content| content.get("role")) == Some(&json!("model"))
        && let Some(system) = system_parts.pop()
    {
        contents.insert(0, json!({"parts": [system], "role": "user"}));
    }
    Ok((contents, system_parts))
}

fn function_response(
    messages: &[ChatMessage],
    message: &ChatMessage,
    tool_call_id: &str,
) -> Result<Value, WireError> {
    let call = messages
        .iter()
        .flat_map(|message| &message.tool_calls)
        .find(|call| call.id == tool_call_id)
        .ok_or_else(|| {
            WireError::invalid(PROVIDER, format!("Tool call not found: {tool_call_id}"))
        })?;
    let content = message
        .content
        .as_ref()
        .ok_or_else(|| WireError::invalid(PROVIDER, "Tool call must have content"))?;
    let text = match content {
        Content::Text(text) => Some(text.as_str()),
        Content::Parts(parts) => match parts.as_slice() {
            [ContentPart::Text { text }] => Some(text.as_str()),
            _ => None,
        },
    };
    let mut response = Map::new();
    response.insert("id".into(), json!(tool_call_id));
    response.insert("name".into(), json!(call.name));
    match text.filter(|text| !text.is_empty()) {
        Some(text) => {
            let record = serde_yaml_ng::from_str::<Value>(text)
                .ok()
                .filter(Value::is_object);
            response.insert(
                "response".into(),
                record.unwrap_or_else(|| json!({"result": text})),
            );
        }
        None => {
            response.insert("parts".into(), Value::Array(content_to_parts(content)));
        }
    }
    Ok(Value::Object(response))
}

fn part_kind(part: &ContentPart) -> &'static str {
    match part {
        ContentPart::Text { .. } => "text",
        ContentPart::Url { .. } => "url",
        ContentPart::File { .. } => "file",
    }
}

fn content_to_parts(content: &Content) -> Vec<Value> {
    match content {
        Content::Text(text) => vec![json!({"text": text})],
        Content::Parts(parts) => parts
            .iter()
            .map(|part| match part {
                ContentPart::Text { text } => json!({"text": text}),
                ContentPart::Url { url, mime_type, .. } => {
                    let mut data = Map::new();
                    data.insert("fileUri".into(), json!(url));
                    if let Some(mime_type) = mime_type {
                        data.insert("mimeType".into(), json!(mime_type));
                    }
                    json!({"fileData": data})
                }
                ContentPart::File {
                    data, mime_type, ..
                } => {
                    let mut inline = Map::new();
                    inline.insert("data".into(), json!(data));
                    if let Some(mime_type) = mime_type {
                        inline.insert("mimeType".into(), json!(mime_type));
                    }
                    json!({"inlineData": inline})
                }
            })
            .collect(),
    }
}

/// The state of one streamed answer (`processInput`).
#[derive(Debug)]
pub struct GeminiStream {
    request_model: String,
    json_mode: bool,
    model: Option<String>,
    usage: Usage,
    text: String,
    thoughts: String,
    files: usize,
    finished: bool,
    json: Option<Value>,
    tool_calls: Vec<ToolCall>,
}

impl GeminiStream {
    /// A stream for a request sent to `model`.
    pub fn new(request: &ChatRequest, configured_model: &str) -> Self {
        Self {
            request_model: wire::model_name(&request.model_options, configured_model).to_owned(),
            json_mode: matches!(
                request.response_format,
                Some(ResponseFormat::JsonSchema { .. })
            ),
            model: None,
            usage: Usage::default(),
            text: String::new(),
            thoughts: String::new(),
            files: 0,
            finished: false,
            json: None,
            tool_calls: Vec::new(),
        }
    }

    /// Takes one `data:` chunk (a `GenerateContentResponse`).
    pub fn chunk(&mut self, data: &str) -> Result<(), WireError> {
        let chunk: Value = serde_json::from_str(data).map_err(|error| {
            WireError::malformed(PROVIDER, format!("chunk is not JSON: {error}"))
        })?;
        if let Some(error) = chunk.get("error") {
            return Err(WireError::Reported {
                provider: PROVIDER,
                message: error
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or(data)
                    .to_owned(),
                kind: error
                    .get("status")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            });
        }
        if self.model.is_none() {
            self.model = chunk
                .get("modelVersion")
                .and_then(Value::as_str)
                .map(str::to_owned);
        }
        let candidates = chunk.get("candidates").and_then(Value::as_array);
        for candidate in candidates.into_iter().flatten() {
            self.finished |= candidate
                .get("finishReason")
                .is_some_and(|reason| !reason.is_null());
            let parts = candidate
                .pointer("/content/parts")
                .and_then(Value::as_array);
            for part in parts.into_iter().flatten() {
                self.part(part);
            }
        }
        if let Some(usage) = chunk.get("usageMetadata") {
            let count = |key: &str| usage.get(key).and_then(Value::as_u64).unwrap_or(0);
            if count("promptTokenCount") > 0 {
                self.usage.input_tokens = count("promptTokenCount");
            }
            let output = count("candidatesTokenCount") + count("thoughtsTokenCount");
            if output > 0 {
                self.usage.output_tokens = output;
            }
            if count("cachedContentTokenCount") > 0 {
                self.usage.cache_read_input_tokens = Some(count("cachedContentTokenCount"));
            }
        }
        Ok(())
    }

    fn part(&mut self, part: &Value) {
        if let Some(text) = part
            .get("text")
            .and_then(Value::as_str)
            .filter(|text| !text.is_empty())
        {
            if part.get("thought") == Some(&Value::Bool(true)) {
                self.thoughts.push_str(text);
            } else {
                self.text.push_str(text);
            }
        }
        if part.pointer("/inlineData/data").is_some() {
            self.files += 1;
        }
        let Some(call) = part.get("functionCall") else {
            return;
        };
        let Some(name) = call
            .get("name")
            .and_then(Value::as_str)
            .filter(|name| !name.is_empty())
        else {
            return;
        };
        let arguments = call
            .get("args")
            .filter(|args| !args.is_null())
            .cloned()
            .unwrap_or_else(|| json!({}));
        if name == OUTPUT_FUNCTION_NAME {
            self.json = Some(arguments);
            return;
        }
        let id = call
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);
        let metadata = part
            .get("thoughtSignature")
            .filter(|_| self.request_model.contains("gemini-3"))
            .map(|signature| json!({"thoughtSignature": signature}));
        self.tool_calls.push(ToolCall {
            id,
            name: name.to_owned(),
            arguments,
            metadata,
        });
    }

    /// The assembled answer. [`WireError::StructuredOutput`] with `No JSON response from the
    /// model` when JSON was asked for and none came (AIGNE retries that);
    /// [`GeminiStream::is_empty_answer`] tells the caller to run AIGNE's empty-answer retry.
    pub fn finish(self) -> Result<ChatResponse, WireError> {
        let mut response = ChatResponse {
            thoughts: (!self.thoughts.is_empty()).then_some(self.thoughts),
            usage: self.usage,
            model: self.model,
            tool_calls: self.tool_calls,
            ..ChatResponse::default()
        };
        if self.json_mode {
            if let Some(json) = self.json {
                response.json = Some(json);
            } else if !self.text.is_empty() {
                response.json = super::common::safe_parse_json(&self.text);
            } else if response.tool_calls.is_empty() {
                return Err(WireError::StructuredOutput {
                    provider: PROVIDER,
                    message: "No JSON response from the model".into(),
                });
            }
        } else if !self.text.is_empty() {
            response.text = Some(self.text);
        }
        Ok(response)
    }

    /// A plain (non-JSON) answer with no text, files or tool calls: AIGNE then asks again with
    /// [`empty_answer_retry`].
    pub fn is_empty_answer(&self) -> bool {
        !self.json_mode && self.text.is_empty() && self.files == 0 && self.tool_calls.is_empty()
    }
}

/// The request AIGNE sends after an empty plain answer: the same input with a JSON schema
/// `{output: string}`; the answer's `output` becomes the text.
pub fn empty_answer_retry(request: &ChatRequest) -> ChatRequest {
    ChatRequest {
        response_format: Some(ResponseFormat::JsonSchema {
            name: "output".into(),
            description: None,
            schema: json!({
                "type": "object",
                "properties": {"output": {"type": "string", "description": "The final answer from the model"}},
                "required": ["output"],
                "additionalProperties": false,
                "$schema": "http://json-schema.org/draft-07/schema#"
            }),
            strict: false,
        }),
        ..request.clone()
    }
}

/// Folds the retry's answer into the first (empty) one, as AIGNE does: usage summed (input and
/// output only, `mergeUsage`), tool calls taken, else `json.output` as the text.
pub fn merge_empty_answer_retry(
    first: ChatResponse,
    retry: ChatResponse,
) -> Result<ChatResponse, WireError> {
    let usage = Usage {
        input_tokens: first.usage.input_tokens + retry.usage.input_tokens,
        output_tokens: first.usage.output_tokens + retry.usage.output_tokens,
        ..Usage::default()
    };
    let no_response = || WireError::StructuredOutput {
        provider: PROVIDER,
        message: "No response from the model".into(),
    };
    let mut merged = ChatResponse { usage, ..first };
    if !retry.tool_calls.is_empty() {
        merged.tool_calls = retry.tool_calls;
        return Ok(merged);
    }
    let text = retry
        .json
        .as_ref()
        .and_then(|json| json.get("output"))
        .and_then(Value::as_str)
        .ok_or_else(no_response)?;
    merged.text = Some(text.to_owned());
    Ok(merged)
}

/// Parses a whole streamed body into a stream state (check
/// [`GeminiStream::is_empty_answer`], then [`GeminiStream::finish`]). A stream whose
/// candidates never carry a `finishReason` ended early.
pub fn parse_stream(
    body: &[u8],
    request: &ChatRequest,
    configured_model: &str,
) -> Result<GeminiStream, WireError> {
    let mut stream = GeminiStream::new(request, configured_model);
    let malformed = |error: sse::SseError| WireError::malformed(PROVIDER, error.to_string());
    let body = String::from_utf8_lossy(body);
    for event in sse::parse(&body).map_err(malformed)? {
        stream.chunk(&event.map_err(malformed)?.data)?;
    }
    if !stream.finished {
        return Err(WireError::malformed(PROVIDER, "the stream ended early"));
    }
    Ok(stream)
}

/// Whether a streamed answer reached a candidate's `finishReason` (`Err` says what is missing).
/// A stream that stopped before it was cut; the transport retries it like a dropped connection.
/// An `error` chunk and a chunk that is not JSON are left to [`parse_stream`], which reports them.
pub fn check_end(body: &[u8]) -> Result<(), String> {
    let body = String::from_utf8_lossy(body);
    let Ok(events) = sse::parse(&body) else {
        return Ok(());
    };
    for event in events {
        // A body the parser refuses, or a chunk that is not JSON, is `parse_stream`'s to report.
        let Some(chunk) = event
            .ok()
            .and_then(|event| serde_json::from_str::<Value>(&event.data).ok())
        else {
            return Ok(());
        };
        let finished = chunk
            .get("candidates")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|candidate| {
                candidate
                    .get("finishReason")
                    .is_some_and(|reason| !reason.is_null())
            });
        if finished || chunk.get("error").is_some() {
            return Ok(());
        }
    }
    Err("the stream ended before a `finishReason`".to_owned())
}

/// The message and status of an error body (`{"error":{"code","message","status"}}`).
pub fn error_message(body: &[u8]) -> Option<(String, Option<String>)> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let value = match value {
        Value::Array(mut items) if !items.is_empty() => items.swap_remove(0),
        value => value,
    };
    let error = value.get("error")?;
    Some((
        error.get("message")?.as_str()?.to_owned(),
        error
            .get("status")
            .and_then(Value::as_str)
            .map(str::to_owned),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::types::ToolDefinition;
    use pretty_assertions::assert_eq;

    fn text_part(text: &str) -> Content {
        Content::Parts(vec![ContentPart::Text { text: text.into() }])
    }

    fn add_tool() -> ToolDefinition {
        ToolDefinition {
            name: "add".into(),
            description: Some("Add two numbers".into()),
            parameters: json!({"type": "object", "properties": {"a": {"type": "number"}}}),
        }
    }

    /// The second request of the captured tool round trip of the official runtime
    /// (`aigne run` with `@google/genai` 1.52 against a fake server).
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
                    content: None,
                    tool_calls: vec![ToolCall {
                        id: "call-1".into(),
                        name: "add".into(),
                        arguments: json!({"a": 1, "b": 2}),
                        metadata: Some(json!({"thoughtSignature": "c2ln"})),
                    }],
                    ..ChatMessage::text(Role::Agent, "")
                },
                ChatMessage {
                    content: Some(text_part("sum: 3\n")),
                    tool_call_id: Some("call-1".into()),
                    ..ChatMessage::text(Role::Tool, "")
                },
            ],
            tools: vec![add_tool()],
            tool_choice: Some(ToolChoice::Auto),
            ..ChatRequest::default()
        };
        let body = build_body(&request, "gemini-2.5-flash").unwrap();
        assert_eq!(
            body,
            json!({
                "contents": [
                    {"parts": [{"text": "what is 1+2"}], "role": "user"},
                    {"parts": [{"functionCall": {"id": "call-1", "args": {"a": 1, "b": 2}, "name": "add"}, "thoughtSignature": "c2ln"}], "role": "model"},
                    {"parts": [{"functionResponse": {"id": "call-1", "name": "add", "response": {"sum": 3}}}]}
                ],
                "systemInstruction": {"parts": [{"text": "You are helpful."}], "role": "user"},
                "tools": [{"functionDeclarations": [{
                    "name": "add", "description": "Add two numbers",
                    "parametersJsonSchema": {"type": "object", "properties": {"a": {"type": "number"}}}
                }]}],
                "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
                "generationConfig": {"thinkingConfig": {"includeThoughts": true}}
            })
        );
        let settings = GeminiSettings {
            api_key: Secret::new("gem"),
            base_url: url::Url::parse("http://127.0.0.1:9").unwrap(),
            model: "gemini-2.5-flash".into(),
        };
        let wire_request = build_request(&settings, &request).unwrap();
        assert_eq!(
            wire_request.url.as_str(),
            "http://127.0.0.1:9/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        );
        assert_eq!(wire_request.headers["x-goog-api-key"], "gem");
    }

    /// A plain chat request: the official model (checked against @aigne/gemini with the SDK
    /// on a loopback server) sends `generationConfig: {}` even when no option is set.
    #[test]
    fn plain_chat_carries_an_empty_generation_config() {
        let request = ChatRequest {
            messages: vec![ChatMessage::text(Role::User, "hello")],
            ..ChatRequest::default()
        };
        assert_eq!(
            build_body(&request, "gemini-2.0-flash").unwrap(),
            json!({
                "contents": [{"parts": [{"text": "hello"}], "role": "user"}],
                "tools": [],
                "toolConfig": {},
                "generationConfig": {}
            })
        );
    }

    #[test]
    fn structured_output_native_or_output_function() {
        let schema = json!({"type": "object", "properties": {"city": {"type": "string"}}});
        let mut request = ChatRequest {
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
        request
            .model_options
            .insert("temperature".into(), json!(0.5));
        assert_eq!(
            build_body(&request, "gemini-2.0-flash").unwrap(),
            json!({
                "contents": [{"parts": [{"text": "Paris is nice"}], "role": "user"}],
                "systemInstruction": {"parts": [{"text": "Extract the city."}], "role": "user"},
                "tools": [],
                "toolConfig": {},
                "generationConfig": {
                    "temperature": 0.5,
                    "responseMimeType": "application/json",
                    "responseJsonSchema": schema
                }
            })
        );
        request.tools.push(add_tool());
        request.tool_choice = Some(ToolChoice::Function("add".into()));
        let body = build_body(&request, "gemini-2.0-flash").unwrap();
        assert_eq!(
            body["toolConfig"],
            json!({"functionCallingConfig": {"mode": "ANY"}})
        );
        assert_eq!(
            body["tools"][1],
            json!({"functionDeclarations": [{"name": "output", "description": "Output the final response", "parametersJsonSchema": schema}]})
        );
        assert_eq!(body["generationConfig"], json!({"temperature": 0.5}));
    }

    #[test]
    fn thinking_tables() {
        let effort = |value: Value| thinking_config("gemini-2.5-pro", Some(&value));
        assert_eq!(
            effort(json!("high")),
            Some(json!({"includeThoughts": true, "thinkingBudget": 32768}))
        );
        assert_eq!(
            effort(json!(5)),
            Some(json!({"includeThoughts": true, "thinkingBudget": 128}))
        );
        assert_eq!(
            thinking_config("gemini-2.5-flash-lite", Some(&json!("minimal"))),
            Some(json!({"includeThoughts": true, "thinkingBudget": 200}))
        );
        assert_eq!(
            thinking_config("gemini-3-pro-preview", None),
            Some(json!({"includeThoughts": true, "thinkingLevel": "THINKING_LEVEL_UNSPECIFIED"}))
        );
        assert_eq!(
            thinking_config("gemini-3-pro-preview", Some(&json!("medium"))),
            Some(json!({"includeThoughts": true, "thinkingLevel": "HIGH"}))
        );
        assert_eq!(
            thinking_config("gemini-3-pro-preview", Some(&json!(9999))),
            Some(json!({"includeThoughts": true, "thinkingLevel": "LOW"}))
        );
        assert_eq!(thinking_config("gemini-3-pro-image-preview", None), None);
        assert_eq!(
            thinking_config("gemini-2.5-flash-image-preview", None),
            None
        );
        assert_eq!(
            thinking_config("gemini-2.0-flash", Some(&json!("high"))),
            None
        );
    }

    #[test]
    fn fix_ups_tool_results_and_files() {
        let request = ChatRequest {
            messages: vec![
                ChatMessage::text(Role::System, "s1"),
                ChatMessage::text(Role::System, "s2"),
                ChatMessage {
                    tool_calls: vec![ToolCall {
                        id: "c".into(),
                        name: "lookup".into(),
                        arguments: json!({}),
                        metadata: None,
                    }],
                    content: None,
                    ..ChatMessage::text(Role::Agent, "")
                },
                ChatMessage {
                    content: Some(Content::Text("- a\n- b".into())),
                    tool_call_id: Some("c".into()),
                    ..ChatMessage::text(Role::Tool, "")
                },
                ChatMessage {
                    content: Some(Content::Parts(vec![ContentPart::File {
                        data: "AAAA".into(),
                        mime_type: Some("image/png".into()),
                        filename: None,
                    }])),
                    ..ChatMessage::text(Role::User, "")
                },
            ],
            ..ChatRequest::default()
        };
        let body = build_body(&request, "gemini-2.0-flash").unwrap();
        assert_eq!(
            body["contents"],
            json!([
                {"parts": [{"text": "s2"}], "role": "user"},
                {"parts": [{"functionCall": {"id": "c", "args": {}, "name": "lookup"}}], "role": "model"},
                {"parts": [{"functionResponse": {"id": "c", "name": "lookup", "response": {"result": "- a\n- b"}}}]},
                {"parts": [{"inlineData": {"data": "AAAA", "mimeType": "image/png"}}], "role": "user"}
            ])
        );
        assert_eq!(
            body["systemInstruction"],
            json!({"parts": [{"text": "s1"}], "role": "user"})
        );
        let orphan = ChatRequest {
            messages: vec![ChatMessage {
                content: Some(Content::Text("x".into())),
                tool_call_id: Some("missing".into()),
                ..ChatMessage::text(Role::Tool, "")
            }],
            ..ChatRequest::default()
        };
        assert!(matches!(
            build_body(&orphan, "m"),
            Err(WireError::InvalidRequest { message, .. }) if message == "Tool call not found: missing"
        ));
    }

    /// The chunks, then a last one that finishes the candidate.
    fn sse(chunks: &[Value]) -> Vec<u8> {
        chunks
            .iter()
            .chain([&json!({"candidates": [{"finishReason": "STOP"}]})])
            .map(|chunk| format!("data: {chunk}\r\n\r\n"))
            .collect::<String>()
            .into_bytes()
    }

    #[test]
    fn parses_thoughts_calls_and_usage() {
        let body = sse(&[
            json!({"candidates": [{"content": {"parts": [{"thought": true, "text": "thinking..."}], "role": "model"}}], "modelVersion": "gemini-3-pro-preview"}),
            json!({"candidates": [{"content": {"parts": [
                {"text": "Adding."},
                {"functionCall": {"name": "add", "args": {"a": 1, "b": 2}}, "thoughtSignature": "c2ln"},
                {"functionCall": {"id": "x", "name": "noargs"}}
            ], "role": "model"}}],
              "usageMetadata": {"promptTokenCount": 40, "candidatesTokenCount": 5, "thoughtsTokenCount": 7, "cachedContentTokenCount": 4}}),
        ]);
        let request = ChatRequest::default();
        let stream = parse_stream(&body, &request, "gemini-3-pro-preview").unwrap();
        assert!(!stream.is_empty_answer());
        let response = stream.finish().unwrap();
        assert_eq!(response.text.as_deref(), Some("Adding."));
        assert_eq!(response.thoughts.as_deref(), Some("thinking..."));
        assert_eq!(response.model.as_deref(), Some("gemini-3-pro-preview"));
        assert_eq!(
            response.usage,
            Usage {
                input_tokens: 40,
                output_tokens: 12,
                cache_read_input_tokens: Some(4),
                cache_creation_input_tokens: None
            }
        );
        assert_eq!(response.tool_calls.len(), 2);
        assert_eq!(response.tool_calls[0].name, "add");
        assert_eq!(response.tool_calls[0].arguments, json!({"a": 1, "b": 2}));
        assert_eq!(
            response.tool_calls[0].metadata,
            Some(json!({"thoughtSignature": "c2ln"}))
        );
        assert_eq!(response.tool_calls[0].id.len(), 36, "a generated uuid");
        assert_eq!(response.tool_calls[1].id, "x");
        assert_eq!(response.tool_calls[1].arguments, json!({}));
    }

    #[test]
    fn json_mode_answers() {
        let json_request = ChatRequest {
            response_format: Some(ResponseFormat::JsonSchema {
                name: "output".into(),
                description: None,
                schema: json!({}),
                strict: true,
            }),
            ..ChatRequest::default()
        };
        let text = sse(&[
            json!({"candidates": [{"content": {"parts": [{"text": "{\"city\":"}]}}]}),
            json!({"candidates": [{"content": {"parts": [{"text": "\"Paris\"}"}]}}]}),
        ]);
        let response = parse_stream(&text, &json_request, "m")
            .unwrap()
            .finish()
            .unwrap();
        assert_eq!(response.json, Some(json!({"city": "Paris"})));
        assert_eq!(response.text, None);
        // The text is parsed leniently (`safeParseJSON`): a Markdown fence is fine.
        let fenced = sse(&[
            json!({"candidates": [{"content": {"parts": [{"text": "```json\n{\"city\": \"Oslo\"}\n```"}]}}]}),
        ]);
        let response = parse_stream(&fenced, &json_request, "m")
            .unwrap()
            .finish()
            .unwrap();
        assert_eq!(response.json, Some(json!({"city": "Oslo"})));
        let output = sse(&[
            json!({"candidates": [{"content": {"parts": [{"functionCall": {"name": "output", "args": {"city": "Rome"}}}]}}]}),
        ]);
        let response = parse_stream(&output, &json_request, "m")
            .unwrap()
            .finish()
            .unwrap();
        assert_eq!(response.json, Some(json!({"city": "Rome"})));
        let empty = sse(&[json!({"candidates": [{"content": {"parts": []}}]})]);
        let error = parse_stream(&empty, &json_request, "m")
            .unwrap()
            .finish()
            .unwrap_err();
        assert!(error.is_structured_output());
        assert_eq!(
            error.to_string(),
            "`gemini`: No JSON response from the model"
        );
    }

    #[test]
    fn empty_plain_answer_retry() {
        let request = ChatRequest {
            messages: vec![ChatMessage::text(Role::User, "hi")],
            ..ChatRequest::default()
        };
        let empty = sse(&[json!({"candidates": [{"content": {"parts": []}}],
            "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 0}})]);
        let stream = parse_stream(&empty, &request, "m").unwrap();
        assert!(stream.is_empty_answer());
        let first = stream.finish().unwrap();
        let retry_request = empty_answer_retry(&request);
        let body = build_body(&retry_request, "m").unwrap();
        assert_eq!(
            body["generationConfig"]["responseMimeType"],
            "application/json"
        );
        let retry = ChatResponse {
            json: Some(json!({"output": "Hello"})),
            usage: Usage {
                input_tokens: 4,
                output_tokens: 2,
                ..Usage::default()
            },
            ..ChatResponse::default()
        };
        let merged = merge_empty_answer_retry(first.clone(), retry).unwrap();
        assert_eq!(merged.text.as_deref(), Some("Hello"));
        assert_eq!(merged.usage.input_tokens, 7);
        assert_eq!(merged.usage.output_tokens, 2);
        let error = merge_empty_answer_retry(first, ChatResponse::default()).unwrap_err();
        assert_eq!(error.to_string(), "`gemini`: No response from the model");
    }

    #[test]
    fn errors_in_stream_and_bodies() {
        let body = b"data: {\"error\":{\"code\":500,\"message\":\"Internal\",\"status\":\"INTERNAL\"}}\n\n";
        assert!(matches!(
            parse_stream(body, &ChatRequest::default(), "m"),
            Err(WireError::Reported { message, .. }) if message == "Internal"
        ));
        assert!(matches!(
            parse_stream(b"data: {\"candidates\":[", &ChatRequest::default(), "m"),
            Err(WireError::MalformedResponse { .. })
        ));
        let unfinished =
            b"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\"}]}}]}\n\n";
        assert!(matches!(
            parse_stream(unfinished, &ChatRequest::default(), "m"),
            Err(WireError::MalformedResponse { message, .. }) if message == "the stream ended early"
        ));
        let error = br#"[{"error":{"code":429,"message":"Resource exhausted","status":"RESOURCE_EXHAUSTED"}}]"#;
        assert_eq!(
            error_message(error),
            Some((
                "Resource exhausted".into(),
                Some("RESOURCE_EXHAUSTED".into())
            ))
        );
    }
}
