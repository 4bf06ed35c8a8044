//! OpenAI chat completions (`models/openai/src/openai-chat-model.ts`), for every
//! OpenAI-compatible provider: the request body field by field as the official runtime sends
//! it, the streamed answer assembled, the structured-output fallbacks, and AIGNE's common
//! `ChatModel` behaviour around it ([`super::common`]).

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use super::common::{
    self, drop_unresolved_getters, is_valid_tool_name, json_output_prompt, safe_parse_json,
    sanitize_tool_name, validate_json_schema,
};
use super::providers::{Capabilities, Provider};
use super::transport::{HttpCall, Transport};
use super::types::{
    ChatMessage, ChatRequest, ChatResponse, Content, ContentPart, ModelOptions, ResponseFormat,
    Role, ToolCall, ToolChoice, Usage,
};
use super::{ChatModel, ModelError};
use crate::http::sse;
use crate::secret::{SafeUrl, Secret};

/// An OpenAI-compatible chat model bound to one provider and model.
pub struct OpenAiChatModel {
    provider: &'static Provider,
    /// The constructor model (`options.model || default`).
    model: String,
    url: SafeUrl,
    key: Option<Secret>,
    capabilities: Capabilities,
    /// Constructor `modelOptions`: the project's options with the CLI's over them.
    options: ModelOptions,
    /// The CLI's options (they win over per-call options, as they are in the constructor and
    /// the engine's per-call options come from the project).
    cli_options: ModelOptions,
    transport: Arc<Transport>,
    framework_retries: u32,
    no_retry_delay: bool,
}

/// How [`OpenAiChatModel::new`] is configured.
pub struct OpenAiSettings {
    pub provider: &'static Provider,
    pub model: String,
    /// Base URL (`…/v1`); `/chat/completions` is appended.
    pub base_url: url::Url,
    pub key: Option<Secret>,
    pub options: ModelOptions,
    pub cli_options: ModelOptions,
    pub framework_retries: u32,
    pub no_retry_delay: bool,
}

/// What one streamed request gave.
#[derive(Debug, Default)]
struct Extracted {
    text: Option<String>,
    thoughts: Option<String>,
    json: Option<Value>,
    tool_calls: Vec<ToolCall>,
    usage: Option<Usage>,
    model: Option<String>,
    attempts: u32,
}

#[derive(Debug, Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

impl OpenAiChatModel {
    /// A model; the key is checked by the caller (none under replay).
    pub fn new(settings: OpenAiSettings, transport: Arc<Transport>) -> Result<Self, ModelError> {
        let base = settings.base_url.as_str().trim_end_matches('/').to_owned();
        let url = url::Url::parse(&format!("{base}/chat/completions")).map_err(|error| {
            ModelError::InvalidSetting {
                name: "base URL".to_owned(),
                message: format!("`{base}`: {error}"),
            }
        })?;
        Ok(Self {
            capabilities: Capabilities::for_model(settings.provider, &settings.model),
            provider: settings.provider,
            model: settings.model,
            url: SafeUrl::new(url),
            key: settings.key,
            options: settings.options,
            cli_options: settings.cli_options,
            transport,
            framework_retries: settings.framework_retries,
            no_retry_delay: settings.no_retry_delay,
        })
    }

    /// The URL requests go to.
    pub fn url(&self) -> &SafeUrl {
        &self.url
    }

    /// `Model.getModelOptions`: constructor options, then the call's, then the CLI's again.
    fn model_options(&self, request: &ChatRequest) -> ModelOptions {
        let mut merged = self.options.clone();
        for (key, value) in &request.model_options {
            merged.insert(key.clone(), value.clone());
        }
        for (key, value) in &self.cli_options {
            merged.insert(key.clone(), value.clone());
        }
        drop_unresolved_getters(merged)
    }

    /// The request body without tools or response format (`_process`'s `body`).
    fn base_body(&self, request: &ChatRequest, options: &ModelOptions) -> Map<String, Value> {
        let model = options
            .get("model")
            .and_then(Value::as_str)
            .filter(|model| !model.is_empty())
            .unwrap_or(&self.model)
            .to_owned();
        let mut body = Map::new();
        body.insert("model".to_owned(), json!(model));
        if self.capabilities.supports_temperature
            && let Some(value) = options.get("temperature")
        {
            body.insert("temperature".to_owned(), value.clone());
        }
        for (option, field) in [
            ("topP", "top_p"),
            ("frequencyPenalty", "frequency_penalty"),
            ("presencePenalty", "presence_penalty"),
        ] {
            if let Some(value) = options.get(option) {
                body.insert(field.to_owned(), value.clone());
            }
        }
        body.insert("messages".to_owned(), Value::Array(self.messages(request)));
        body.insert("stream_options".to_owned(), json!({"include_usage": true}));
        body.insert("stream".to_owned(), json!(true));
        if let Some(effort) = options.get("reasoningEffort").and_then(reasoning_effort) {
            body.insert("reasoning_effort".to_owned(), effort);
        }
        if model.contains("gpt-5") || model.contains("o1-") {
            body.shift_remove("temperature");
            body.shift_remove("top_p");
        }
        body
    }

    /// `getRunMessages`: the mapped messages, with the JSON prompt first when the provider has
    /// no native structured output.
    fn messages(&self, request: &ChatRequest) -> Vec<Value> {
        let mut messages: Vec<Value> = request.messages.iter().map(message_json).collect();
        if let Some(ResponseFormat::JsonSchema { schema, .. }) = &request.response_format
            && (!self.capabilities.supports_native_structured_outputs
                || (!self.capabilities.supports_tools_use_with_json_schema
                    && !request.tools.is_empty()))
        {
            messages.insert(
                0,
                json!({"role": "system", "content": json_output_prompt(schema)}),
            );
        }
        messages
    }

    /// `getRunResponseFormat`: `(json_mode, response_format)`.
    fn response_format(&self, request: &ChatRequest, with_tools: bool) -> (bool, Option<Value>) {
        if !self.capabilities.supports_tools_use_with_json_schema && with_tools {
            return (false, None);
        }
        let json_schema = match &request.response_format {
            Some(ResponseFormat::JsonSchema {
                name,
                description,
                schema,
                strict,
            }) => Some((name, description, schema, strict)),
            _ => None,
        };
        if !self.capabilities.supports_native_structured_outputs {
            return match json_schema {
                Some(_) => (true, Some(json!({"type": "json_object"}))),
                None => (false, None),
            };
        }
        match json_schema {
            Some((name, description, schema, strict)) => {
                let mut inner = Map::new();
                inner.insert("name".to_owned(), json!(name));
                if let Some(description) = description {
                    inner.insert("description".to_owned(), json!(description));
                }
                inner.insert("schema".to_owned(), to_openai_json_schema(schema));
                inner.insert("strict".to_owned(), json!(strict));
                (
                    true,
                    Some(json!({"type": "json_schema", "json_schema": Value::Object(inner)})),
                )
            }
            None => (false, None),
        }
    }

    /// `_process` plus `ChatModel.processAgentOutput`, once (no framework retry).
    async fn process(&self, request: &ChatRequest) -> Result<ChatResponse, ModelError> {
        for tool in &request.tools {
            if !is_valid_tool_name(&sanitize_tool_name(&tool.name)) {
                return Err(ModelError::InvalidToolName {
                    name: sanitize_tool_name(&tool.name),
                });
            }
        }
        let options = self.model_options(request);
        let inlined =
            common::inline_url_parts(request, &options, &self.transport, self.provider.id).await?;
        let request = inlined.as_ref().unwrap_or(request);
        let body = self.base_body(request, &options);
        let model = body
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or(&self.model)
            .to_owned();
        let json_schema = match &request.response_format {
            Some(ResponseFormat::JsonSchema { schema, .. }) => Some(schema),
            _ => None,
        };
        let extracted = if request.tools.is_empty()
            && let Some(_) = json_schema
        {
            self.structured_output(request, &body, &model).await?
        } else {
            let (json_mode, response_format) = self.response_format(request, true);
            let mut full = body.clone();
            if !request.tools.is_empty() {
                full.insert("tools".to_owned(), self.tools_json(request));
            }
            if let Some(choice) = tool_choice_json(request) {
                full.insert("tool_choice".to_owned(), choice);
            }
            if self.capabilities.supports_parallel_tool_calls
                && !request.tools.is_empty()
                && let Some(parallel) = options.get("parallelToolCalls")
            {
                full.insert("parallel_tool_calls".to_owned(), parallel.clone());
            }
            if let Some(format) = response_format {
                full.insert("response_format".to_owned(), format);
            }
            let mut result = self
                .send(&Value::Object(full), json_mode, &model, request)
                .await?;
            match json_schema {
                None => result,
                Some(_) if !result.tool_calls.is_empty() || result.json.is_some() => result,
                Some(schema) => {
                    let parsed = safe_parse_json(result.text.as_deref().unwrap_or(""))
                        .unwrap_or(Value::Null);
                    match validate_json_schema(schema, parsed) {
                        Ok(json) => {
                            result.json = Some(json);
                            result.text = None;
                            result
                        }
                        Err(_) => {
                            // AIGNE logs a warning and asks again without tools.
                            let mut second = self.structured_output(request, &body, &model).await?;
                            second.usage = merge_usage(result.usage, second.usage);
                            second.attempts += result.attempts;
                            second
                        }
                    }
                }
            }
        };
        self.postprocess(request, extracted, &model)
    }

    /// `requestStructuredOutput`: the body with only a response format.
    async fn structured_output(
        &self,
        request: &ChatRequest,
        body: &Map<String, Value>,
        model: &str,
    ) -> Result<Extracted, ModelError> {
        let (json_mode, response_format) = self.response_format(request, false);
        let mut full = body.clone();
        if let Some(format) = response_format {
            full.insert("response_format".to_owned(), format);
        }
        self.send(&Value::Object(full), json_mode, model, request)
            .await
    }

    fn tools_json(&self, request: &ChatRequest) -> Value {
        Value::Array(
            request
                .tools
                .iter()
                .map(|tool| {
                    let mut parameters = tool.parameters.clone();
                    if !self.capabilities.supports_tools_empty_parameters
                        && let Value::Object(map) = &mut parameters
                        && map.is_empty()
                    {
                        map.insert("type".to_owned(), json!("object"));
                    }
                    let mut function = Map::new();
                    function.insert("name".to_owned(), json!(sanitize_tool_name(&tool.name)));
                    if let Some(description) = &tool.description {
                        function.insert("description".to_owned(), json!(description));
                    }
                    function.insert("parameters".to_owned(), parameters);
                    json!({"type": "function", "function": Value::Object(function)})
                })
                .collect(),
        )
    }

    async fn send(
        &self,
        body: &Value,
        json_mode: bool,
        model: &str,
        request: &ChatRequest,
    ) -> Result<Extracted, ModelError> {
        let answer = self
            .transport
            .post_json(HttpCall {
                provider: self.provider.id,
                model,
                url: &self.url,
                key: self.key.as_ref(),
                body,
                case: request.case_label.as_deref(),
                check_end: Some(check_end),
            })
            .await?;
        let mut extracted = self.extract(&answer.body, json_mode, model)?;
        extracted.attempts = answer.attempts;
        Ok(extracted)
    }

    /// `extractResultFromStream`: assembles the SSE answer.
    fn extract(&self, body: &str, json_mode: bool, model: &str) -> Result<Extracted, ModelError> {
        let protocol = |message: String| ModelError::Protocol {
            provider: self.provider.id.to_owned(),
            model: model.to_owned(),
            message,
        };
        let trimmed = body.trim_start();
        // A provider that ignores `stream: true` and answers one JSON object.
        let chunks: Box<dyn Iterator<Item = Result<Value, String>> + '_> =
            if trimmed.starts_with('{') {
                let completion: Value = serde_json::from_str(trimmed)
                    .map_err(|error| protocol(format!("invalid JSON body: {error}")))?;
                Box::new(std::iter::once(Ok(completion_as_chunk(completion))))
            } else {
                // Chunk by chunk, as the events are parsed: only the assembled answer is kept.
                Box::new(stream_chunks(body).map_err(protocol)?)
            };
        let mut extracted = Extracted::default();
        let mut text = String::new();
        let mut thoughts = String::new();
        let mut refusal = String::new();
        let mut calls: Vec<Option<PartialCall>> = Vec::new();
        let mut complete_calls: Vec<(PartialCall, Value)> = Vec::new();
        for chunk in chunks {
            let mut chunk = chunk.map_err(protocol)?;
            if extracted.model.is_none() {
                extracted.model = chunk
                    .get("model")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
            }
            let delta = chunk.pointer("/choices/0/delta");
            if let Some(Value::Array(tool_calls)) = delta.and_then(|delta| delta.get("tool_calls"))
            {
                for call in tool_calls {
                    let index = call.get("index").and_then(Value::as_u64);
                    let id = call
                        .get("id")
                        .and_then(Value::as_str)
                        .filter(|id| !id.is_empty());
                    let name = call.pointer("/function/name").and_then(Value::as_str);
                    let arguments = call.pointer("/function/arguments").and_then(Value::as_str);
                    match index {
                        Some(index) if self.capabilities.supports_tool_streaming => {
                            let index = usize::try_from(index).unwrap_or(usize::MAX).min(1024);
                            if calls.len() <= index {
                                calls.resize_with(index + 1, || None);
                            }
                            let entry = calls[index].get_or_insert_with(|| PartialCall {
                                id: id.map(str::to_owned).unwrap_or_else(new_call_id),
                                ..PartialCall::default()
                            });
                            entry.name.push_str(name.unwrap_or(""));
                            entry.arguments.push_str(arguments.unwrap_or(""));
                        }
                        _ => {
                            let arguments = arguments.unwrap_or("");
                            let parsed = safe_parse_json(if arguments.is_empty() {
                                "{}"
                            } else {
                                arguments
                            })
                            .unwrap_or(Value::Null);
                            complete_calls.push((
                                PartialCall {
                                    id: id.map(str::to_owned).unwrap_or_else(new_call_id),
                                    name: name.unwrap_or("").to_owned(),
                                    arguments: arguments.to_owned(),
                                },
                                parsed,
                            ));
                        }
                    }
                }
            }
            if let Some(reasoning) = delta
                .and_then(|delta| delta.get("reasoning"))
                .and_then(Value::as_str)
            {
                thoughts.push_str(reasoning);
            }
            if let Some(refusal_part) = delta
                .and_then(|delta| delta.get("refusal"))
                .and_then(Value::as_str)
            {
                refusal.push_str(refusal_part);
            }
            if let Some(usage) = chunk.get("usage").filter(|usage| usage.is_object()) {
                let count = |pointer: &str| usage.pointer(pointer).and_then(Value::as_u64);
                extracted.usage = Some(Usage {
                    input_tokens: count("/prompt_tokens").unwrap_or(0),
                    output_tokens: count("/completion_tokens").unwrap_or(0),
                    cache_read_input_tokens: count("/prompt_tokens_details/cached_tokens")
                        .filter(|tokens| *tokens > 0),
                    cache_creation_input_tokens: None,
                });
            }
            // Taken, not copied: a whole non-streamed answer is one delta.
            if let Some(Value::String(content)) = chunk
                .pointer_mut("/choices/0/delta/content")
                .map(Value::take)
            {
                if text.is_empty() {
                    text = content;
                } else {
                    text.push_str(&content);
                }
            }
        }
        if !refusal.is_empty() {
            return Err(ModelError::Refusal {
                provider: self.provider.id.to_owned(),
                model: model.to_owned(),
                refusal,
            });
        }
        // In JSON mode the text becomes `json` and is not part of the answer.
        if json_mode {
            if !text.is_empty() {
                extracted.json = safe_parse_json(&text);
            }
        } else if !text.is_empty() {
            extracted.text = Some(text);
        }
        if !thoughts.is_empty() {
            extracted.thoughts = Some(thoughts);
        }
        for call in calls.into_iter().flatten() {
            let arguments = if call.arguments.is_empty() {
                json!({})
            } else {
                safe_parse_json(&call.arguments).unwrap_or(Value::Null)
            };
            extracted.tool_calls.push(ToolCall {
                id: call.id,
                name: call.name,
                arguments,
                metadata: None,
            });
        }
        for (call, arguments) in complete_calls {
            extracted.tool_calls.push(ToolCall {
                id: call.id,
                name: call.name,
                arguments,
                metadata: None,
            });
        }
        Ok(extracted)
    }

    /// `ChatModel.processAgentOutput` on the extracted answer.
    fn postprocess(
        &self,
        request: &ChatRequest,
        extracted: Extracted,
        model: &str,
    ) -> Result<ChatResponse, ModelError> {
        let response = ChatResponse {
            text: extracted.text,
            thoughts: extracted.thoughts,
            json: extracted.json,
            tool_calls: extracted.tool_calls,
            usage: extracted.usage.unwrap_or_default(),
            model: extracted.model,
            attempts: extracted.attempts,
        };
        common::postprocess(self.provider.id, model, request, response)
    }
}

#[async_trait]
impl ChatModel for OpenAiChatModel {
    fn provider(&self) -> &str {
        self.provider.id
    }

    fn model(&self) -> &str {
        &self.model
    }

    async fn complete(&self, request: ChatRequest) -> Result<ChatResponse, ModelError> {
        common::with_framework_retries(self.framework_retries, self.no_retry_delay, || {
            self.process(&request)
        })
        .await
    }
}

/// `mergeUsage`: input and output only.
fn merge_usage(left: Option<Usage>, right: Option<Usage>) -> Option<Usage> {
    match (left, right) {
        (None, None) => None,
        (left, right) => {
            let left = left.unwrap_or_default();
            let right = right.unwrap_or_default();
            Some(Usage {
                input_tokens: left.input_tokens + right.input_tokens,
                output_tokens: left.output_tokens + right.output_tokens,
                cache_read_input_tokens: None,
                cache_creation_input_tokens: None,
            })
        }
    }
}

fn new_call_id() -> String {
    // AIGNE uses a UUIDv7; any unique id serves (it only pairs the call with its result).
    use rand::Rng;
    let bytes: [u8; 16] = rand::rng().random();
    format!("call_{}", hex::encode(bytes))
}

/// Whether a streamed answer reached its end: `[DONE]` or a choice with a `finish_reason`
/// (`Err` says what is missing). A stream that stopped before both was cut; the transport retries
/// it like a dropped connection. A JSON body (no stream), an `error` chunk and a chunk that is
/// not JSON are left to `OpenAiChatModel::extract`, which reports them.
pub fn check_end(body: &[u8]) -> Result<(), String> {
    let body = String::from_utf8_lossy(body);
    if body.trim_start().starts_with('{') {
        return Ok(());
    }
    let Ok(events) = sse::parse(&body) else {
        return Ok(());
    };
    for event in events {
        // A body the parser refuses is `extract`'s to report.
        let Ok(event) = event else {
            return Ok(());
        };
        if event.data == "[DONE]" {
            return Ok(());
        }
        let Ok(chunk) = serde_json::from_str::<Value>(&event.data) else {
            return Ok(());
        };
        if chunk.get("error").is_some_and(|error| !error.is_null()) {
            return Ok(());
        }
        let finished = chunk
            .get("choices")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|choice| {
                choice
                    .get("finish_reason")
                    .is_some_and(|reason| !reason.is_null())
            });
        if finished {
            return Ok(());
        }
    }
    Err("the stream ended before a `finish_reason` or `[DONE]`".to_owned())
}

/// The chunks of a streamed answer up to `[DONE]`, parsed one event at a time; `Err` (which ends
/// the answer) for a body that is not an event stream, a chunk that is not JSON and an `error`
/// chunk.
fn stream_chunks(body: &str) -> Result<impl Iterator<Item = Result<Value, String>> + '_, String> {
    let events = sse::parse(body).map_err(|error| error.to_string())?;
    Ok(events
        .map_while(|event| match event {
            Ok(event) if event.data == "[DONE]" => None,
            other => Some(other),
        })
        .map(|event| {
            let event = event.map_err(|error| error.to_string())?;
            let chunk: Value = serde_json::from_str(&event.data).map_err(|error| {
                format!(
                    "invalid JSON in stream chunk `{}`: {error}",
                    excerpt(&event.data)
                )
            })?;
            if let Some(error) = chunk.get("error").filter(|error| !error.is_null()) {
                let message = error
                    .get("message")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .unwrap_or_else(|| error.to_string());
                return Err(format!("error in stream: {message}"));
            }
            Ok(chunk)
        }))
}

fn excerpt(text: &str) -> String {
    crate::text::excerpt(text, 80)
}

/// A non-streamed `chat.completion` turned into one chunk (`message` read as a delta).
fn completion_as_chunk(mut completion: Value) -> Value {
    if let Some(Value::Array(choices)) = completion.get_mut("choices") {
        for choice in choices {
            if let Some(message) = choice.get("message").cloned() {
                let mut delta = message;
                if let Some(Value::Array(calls)) = delta.get_mut("tool_calls") {
                    for (index, call) in calls.iter_mut().enumerate() {
                        call["index"] = json!(index);
                    }
                }
                choice["delta"] = delta;
            }
        }
    }
    completion
}

/// `getReasoningEffort`: strings pass through; numbers map to levels.
fn reasoning_effort(value: &Value) -> Option<Value> {
    match value {
        Value::String(_) => Some(value.clone()),
        Value::Number(number) => {
            let effort = number.as_f64()?;
            let level = if effort > 5000.0 {
                "high"
            } else if effort > 1000.0 {
                "medium"
            } else if effort > 500.0 {
                "low"
            } else if effort > 0.0 {
                "minimal"
            } else {
                return None;
            };
            Some(json!(level))
        }
        _ => None,
    }
}

/// `tool_choice` as AIGNE passes it through.
fn tool_choice_json(request: &ChatRequest) -> Option<Value> {
    Some(match request.tool_choice.as_ref()? {
        ToolChoice::Auto => json!("auto"),
        ToolChoice::None => json!("none"),
        ToolChoice::Required => json!("required"),
        ToolChoice::Function(name) => {
            // AIGNE's input check only accepts a whole tool here, and the tool goes out
            // unchanged: the original (unsanitised) name, description and parameters.
            let tool = request.tools.iter().find(|tool| &tool.name == name);
            let mut function = Map::new();
            function.insert("name".to_owned(), json!(name));
            if let Some(description) = tool.and_then(|tool| tool.description.clone()) {
                function.insert("description".to_owned(), json!(description));
            }
            if let Some(tool) = tool {
                function.insert("parameters".to_owned(), tool.parameters.clone());
            }
            json!({"type": "function", "function": Value::Object(function)})
        }
    })
}

/// `contentsFromInputMessages` for one message.
fn message_json(message: &ChatMessage) -> Value {
    let mut out = Map::new();
    let role = match message.role {
        Role::System => "system",
        Role::User => "user",
        Role::Agent => "assistant",
        Role::Tool => "tool",
    };
    out.insert("role".to_owned(), json!(role));
    match &message.content {
        Some(Content::Text(text)) => {
            out.insert("content".to_owned(), json!(text));
        }
        Some(Content::Parts(parts)) => {
            let parts: Vec<Value> = parts
                .iter()
                .map(|part| match part {
                    ContentPart::Text { text } => json!({"type": "text", "text": text}),
                    ContentPart::Url { url, .. } => {
                        json!({"type": "image_url", "image_url": {"url": url}})
                    }
                    ContentPart::File {
                        data, mime_type, ..
                    } => json!({"type": "image_url", "image_url": {"url": format!(
                        "data:{};base64,{data}",
                        mime_type.as_deref().filter(|mime| !mime.is_empty()).unwrap_or("image/png")
                    )}}),
                })
                .collect();
            out.insert("content".to_owned(), Value::Array(parts));
        }
        None => {}
    }
    if !message.tool_calls.is_empty() {
        let calls: Vec<Value> = message
            .tool_calls
            .iter()
            .map(|call| {
                let mut value = json!({
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": common::js_stringify(&call.arguments)},
                });
                if let Some(metadata) = &call.metadata {
                    value["metadata"] = metadata.clone();
                }
                value
            })
            .collect();
        out.insert("tool_calls".to_owned(), Value::Array(calls));
    }
    if let Some(id) = &message.tool_call_id {
        out.insert("tool_call_id".to_owned(), json!(id));
    }
    if let Some(name) = &message.name {
        out.insert("name".to_owned(), json!(name));
    }
    Value::Object(out)
}

/// `jsonSchemaToOpenAIJsonSchema` (`optionalFieldMode = "anyOf"`): every object lists all its
/// properties as required, and a property that was optional becomes
/// `{"anyOf": [<schema>, {"type": ["null"]}]}`; recurses into properties and array items (not
/// into anyOf/oneOf). Keys keep their places (`{...schema, properties, required}`).
pub fn to_openai_json_schema(schema: &Value) -> Value {
    let Value::Object(map) = schema else {
        return schema.clone();
    };
    match map.get("type").and_then(Value::as_str) {
        Some("object") => {
            let Some(Value::Object(properties)) = map.get("properties") else {
                return schema.clone();
            };
            let required: Vec<&str> = map
                .get("required")
                .and_then(Value::as_array)
                .map(|items| items.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let converted: Map<String, Value> = properties
                .iter()
                .map(|(key, value)| {
                    let value_schema = to_openai_json_schema(value);
                    let value_schema = if required.contains(&key.as_str()) {
                        value_schema
                    } else {
                        json!({"anyOf": [value_schema, {"type": ["null"]}]})
                    };
                    (key.clone(), value_schema)
                })
                .collect();
            let all: Vec<Value> = properties.keys().map(|key| json!(key)).collect();
            let mut out = map.clone();
            out.insert("properties".to_owned(), Value::Object(converted));
            out.insert("required".to_owned(), Value::Array(all));
            Value::Object(out)
        }
        Some("array") => {
            let mut out = map.clone();
            if let Some(items) = map.get("items") {
                out.insert("items".to_owned(), to_openai_json_schema(items));
            }
            Value::Object(out)
        }
        _ => schema.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_schemas_for_strict_mode() {
        let schema = json!({
            "type": "object",
            "properties": {
                "a": {"type": "string"},
                "b": {"type": "object", "properties": {"c": {"type": "number"}}, "additionalProperties": false},
                "d": {"type": "array", "items": {"type": "object", "properties": {"e": {"type": "string"}}, "required": ["e"]}}
            },
            "required": ["a"],
            "additionalProperties": false
        });
        assert_eq!(
            common::js_stringify(&to_openai_json_schema(&schema)),
            common::js_stringify(&json!({
                "type": "object",
                "properties": {
                    "a": {"type": "string"},
                    "b": {"anyOf": [{"type": "object", "properties": {"c": {"anyOf": [{"type": "number"}, {"type": ["null"]}]}}, "additionalProperties": false, "required": ["c"]}, {"type": ["null"]}]},
                    "d": {"anyOf": [{"type": "array", "items": {"type": "object", "properties": {"e": {"type": "string"}}, "required": ["e"]}}, {"type": ["null"]}]}
                },
                "required": ["a", "b", "d"],
                "additionalProperties": false
            }))
        );
    }

    #[test]
    fn maps_reasoning_effort() {
        assert_eq!(reasoning_effort(&json!(6000)), Some(json!("high")));
        assert_eq!(reasoning_effort(&json!(2000)), Some(json!("medium")));
        assert_eq!(reasoning_effort(&json!(600)), Some(json!("low")));
        assert_eq!(reasoning_effort(&json!(1)), Some(json!("minimal")));
        assert_eq!(reasoning_effort(&json!(0)), None);
        assert_eq!(reasoning_effort(&json!("low")), Some(json!("low")));
    }
}
