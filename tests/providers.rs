//! Stage 3a: the native providers (Anthropic, Gemini, Bedrock, AIGNE Hub) through the registry
//! and the shared transport, against scripted fake servers on loopback: exact request bodies,
//! streamed answers, usage, HTTP retries, errors, and record/replay.

use std::collections::BTreeMap;
use std::sync::Arc;

use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use aigne_ci::model::bedrock::sigv4;
use aigne_ci::model::types::{
    ChatMessage, ChatRequest, ChatResponse, Content, ResponseFormat, Role, ToolCall, ToolChoice,
    ToolDefinition, Usage,
};
use aigne_ci::model::{
    ChatModel, ModelError, ModelRegistry, ModelResolver, ModelSettings, ModelSpec,
};

use crate::common::fake_provider::{
    AnthropicBlock, Canned, FakeProvider, HUB_MOUNT, anthropic_stream, bedrock_event,
    bedrock_stream, event_frame, gemini_stream, hub_stream,
};

fn settings(pairs: &[(&str, &str)]) -> ModelSettings {
    let variables: BTreeMap<String, String> = pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect();
    ModelSettings::from_variables(variables).without_retry_delays()
}

fn model(settings: ModelSettings, model: &str) -> Arc<dyn ChatModel> {
    let registry = ModelRegistry::new(settings).unwrap();
    registry
        .resolve(&ModelSpec {
            model: Some(model.to_owned()),
            options: Default::default(),
        })
        .unwrap()
}

fn anthropic(server: &FakeProvider) -> ModelSettings {
    settings(&[
        ("CLAUDE_API_KEY", "sk-ant-test-1234"),
        ("ANTHROPIC_BASE_URL", &server.url()),
    ])
}

fn gemini(server: &FakeProvider) -> ModelSettings {
    settings(&[
        ("GEMINI_API_KEY", "gem-test-1234"),
        ("GOOGLE_GEMINI_BASE_URL", &server.url()),
    ])
}

fn bedrock(server: &FakeProvider) -> ModelSettings {
    settings(&[
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret-key-1234"),
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", &server.url()),
    ])
}

fn hub(server: &FakeProvider) -> ModelSettings {
    settings(&[
        ("AIGNE_HUB_API_KEY", "hub-key-1234"),
        ("AIGNE_HUB_API_URL", &format!("{}/some/page", server.url())),
        ("HOSTNAME", "runner"),
    ])
}

fn weather_tool() -> ToolDefinition {
    ToolDefinition {
        name: "get-weather".to_owned(),
        description: Some("Weather of a city".to_owned()),
        parameters: json!({
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"]
        }),
    }
}

fn city_schema() -> Value {
    json!({
        "type": "object",
        "properties": {"city": {"type": "string"}, "population": {"type": "number"}},
        "required": ["city"],
        "additionalProperties": false
    })
}

fn json_format() -> Option<ResponseFormat> {
    Some(ResponseFormat::JsonSchema {
        name: "output".to_owned(),
        description: None,
        schema: city_schema(),
        strict: true,
    })
}

/// System + user, the weather tool, `toolChoice: auto`.
fn weather_request() -> ChatRequest {
    ChatRequest {
        messages: vec![
            ChatMessage::text(Role::System, "You are helpful."),
            ChatMessage::text(Role::User, "Weather in Oslo?"),
        ],
        tools: vec![weather_tool()],
        tool_choice: Some(ToolChoice::Auto),
        ..ChatRequest::default()
    }
}

/// The weather request after the model called the tool and the tool answered.
fn weather_follow_up(call_id: &str) -> ChatRequest {
    let mut request = weather_request();
    request.messages.push(ChatMessage {
        role: Role::Agent,
        content: None,
        tool_calls: vec![ToolCall {
            id: call_id.to_owned(),
            name: "get-weather".to_owned(),
            arguments: json!({"city": "Oslo"}),
            metadata: None,
        }],
        tool_call_id: None,
        name: None,
    });
    request.messages.push(ChatMessage {
        role: Role::Tool,
        content: Some(Content::Text("temperature: 21\n".to_owned())),
        tool_calls: Vec::new(),
        tool_call_id: Some(call_id.to_owned()),
        name: None,
    });
    request
}

fn weather_call(id: &str) -> ToolCall {
    ToolCall {
        id: id.to_owned(),
        name: "get-weather".to_owned(),
        arguments: json!({"city": "Oslo"}),
        metadata: None,
    }
}

// --- Anthropic -------------------------------------------------------------------------------

#[tokio::test]
async fn anthropic_tool_round_trip() {
    let server = FakeProvider::start();
    let answer = |blocks: &[AnthropicBlock<'_>], output| {
        Canned::sse(anthropic_stream(
            "claude-3-5-sonnet-20241022",
            blocks,
            output,
        ))
    };
    server.push(answer(
        &[
            AnthropicBlock::Text("Let me check."),
            AnthropicBlock::ToolUse("toolu_1", "get_weather", r#"{"city":"Oslo"}"#),
        ],
        30,
    ));
    server.push(answer(&[AnthropicBlock::Text("It is 21 degrees.")], 12));
    let model = model(anthropic(&server), "anthropic:claude-3-5-sonnet-20241022");
    let first = model.complete(weather_request()).await.unwrap();
    assert_eq!(
        first,
        ChatResponse {
            text: Some("Let me check.".to_owned()),
            tool_calls: vec![weather_call("toolu_1")],
            usage: Usage {
                input_tokens: 25,
                output_tokens: 30,
                cache_read_input_tokens: Some(10),
                cache_creation_input_tokens: Some(3),
            },
            model: Some("claude-3-5-sonnet-20241022".to_owned()),
            attempts: 1,
            ..ChatResponse::default()
        }
    );
    let second = model.complete(weather_follow_up("toolu_1")).await.unwrap();
    assert_eq!(second.text.as_deref(), Some("It is 21 degrees."));
    assert_eq!(second.usage.output_tokens, 12);

    let calls = server.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].method, "POST");
    assert_eq!(calls[0].path, "/v1/messages");
    assert_eq!(calls[0].header("x-api-key"), Some("sk-ant-test-1234"));
    assert_eq!(calls[0].header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(calls[0].header("content-type"), Some("application/json"));
    let tool = json!({
        "name": "get_weather",
        "description": "Weather of a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        "cache_control": {"type": "ephemeral"}
    });
    let system = json!([{"type": "text", "text": "You are helpful.", "cache_control": {"type": "ephemeral"}}]);
    assert_eq!(
        calls[1].body,
        json!({
            "model": "claude-3-5-sonnet-20241022",
            "max_tokens": 8192,
            "messages": [
                {"role": "user", "content": "Weather in Oslo?"},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "toolu_1", "name": "get-weather", "input": {"city": "Oslo"}}
                ]},
                {"role": "user", "content": [{
                    "type": "tool_result", "tool_use_id": "toolu_1", "content": "temperature: 21\n",
                    "cache_control": {"type": "ephemeral"}
                }]}
            ],
            "system": system,
            "tools": [tool],
            "tool_choice": {"type": "auto", "disable_parallel_tool_use": false},
            "stream": true
        })
    );
}

#[tokio::test]
async fn anthropic_structured_output_through_generate_json() {
    let server = FakeProvider::start();
    server.push(Canned::sse(anthropic_stream(
        "claude-sonnet-4-5",
        &[AnthropicBlock::ToolUse(
            "toolu_9",
            "generate_json",
            r#"{"city":"Paris","population":null}"#,
        )],
        9,
    )));
    let model = model(anthropic(&server), "anthropic:claude-sonnet-4-5");
    let mut request = ChatRequest {
        messages: vec![ChatMessage::text(Role::User, "Paris is nice")],
        response_format: json_format(),
        ..ChatRequest::default()
    };
    request
        .model_options
        .insert("temperature".to_owned(), json!(0.2));
    let response = model.complete(request).await.unwrap();
    // `null` fields are dropped before validation, as AIGNE does.
    assert_eq!(response.json, Some(json!({"city": "Paris"})));
    assert!(response.tool_calls.is_empty());
    assert_eq!(
        server.calls()[0].body,
        json!({
            "model": "claude-sonnet-4-5",
            "temperature": 0.2,
            "max_tokens": 64000,
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "Paris is nice", "cache_control": {"type": "ephemeral"}}
            ]}],
            "tools": [{
                "name": "generate_json",
                "description": "Generate a json result by given context",
                "input_schema": city_schema(),
                "cache_control": {"type": "ephemeral"}
            }],
            "tool_choice": {"type": "tool", "name": "generate_json", "disable_parallel_tool_use": true},
            "stream": true
        })
    );
}

#[tokio::test]
async fn anthropic_retries_429_with_retry_after_then_succeeds() {
    let server = FakeProvider::start();
    server.push(Canned::error(429, "rate limited").header("retry-after", "1"));
    server.push(Canned::error(529, "overloaded"));
    server.push(Canned::sse(anthropic_stream(
        "claude-3-7-sonnet-20250219",
        &[AnthropicBlock::Text("ok")],
        2,
    )));
    let model = model(anthropic(&server), "anthropic:claude-3-7-sonnet-latest");
    let response = model
        .complete(ChatRequest {
            messages: vec![ChatMessage::text(Role::User, "hi")],
            ..ChatRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(response.text.as_deref(), Some("ok"));
    assert_eq!(response.attempts, 3);
    let calls = server.calls();
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[0].body, calls[2].body, "the same request is retried");
    assert_eq!(calls[0].body["max_tokens"], 64000);
}

#[tokio::test]
async fn anthropic_errors_status_and_malformed_stream() {
    let server = FakeProvider::start();
    for _ in 0..4 {
        server.push(Canned::error(500, "internal trouble"));
    }
    let chat = model(anthropic(&server), "anthropic:claude-3-5-haiku-20241022");
    let request = ChatRequest {
        messages: vec![ChatMessage::text(Role::User, "hi")],
        ..ChatRequest::default()
    };
    let error = chat.complete(request.clone()).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "provider `anthropic` (model `claude-3-5-haiku-20241022`) answered with status 500 after 4 attempt(s): internal trouble"
    );
    assert_eq!(server.calls().len(), 4, "1 attempt + 3 retries");

    // A stream cut before `message_stop` is retried like a dropped connection, then an error
    // (issue 13: never a passed output); `truncated_streams_*` below covers every provider.
    let body = anthropic_stream("m", &[AnthropicBlock::Text("partial")], 1);
    let cut = &body[..body.find("event: message_delta").unwrap()];
    for _ in 0..4 {
        server.push(Canned::sse(cut.to_owned()));
    }
    let error = chat.complete(request.clone()).await.unwrap_err();
    assert!(matches!(error, ModelError::Truncated { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!(
            "provider `anthropic` (model `claude-3-5-haiku-20241022`) at `{}/v1/messages` ended its answer early after 4 attempt(s): the stream ended before `message_stop`",
            server.url()
        )
    );
    // An `error` event inside the stream.
    server.push(Canned::sse(
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n".to_owned(),
    ));
    let error = chat.complete(request).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "provider `anthropic` (model `claude-3-5-haiku-20241022`) reported an error: Overloaded"
    );
}

#[tokio::test]
async fn a_stalled_provider_times_out() {
    let server = FakeProvider::start();
    server.push(
        Canned::sse(anthropic_stream("m", &[AnthropicBlock::Text("late")], 1))
            .delay(std::time::Duration::from_secs(1)),
    );
    let mut settings = anthropic(&server);
    settings.request_timeout = std::time::Duration::from_millis(200);
    settings.http.retry.max_retries = 0;
    settings.framework_retries = 0;
    let model = model(settings, "anthropic:claude-3-5-haiku-20241022");
    let error = model
        .complete(ChatRequest {
            messages: vec![ChatMessage::text(Role::User, "hi")],
            ..ChatRequest::default()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(error, ModelError::Timeout { attempts: 1, .. }),
        "{error:?}"
    );
    assert_eq!(error.kind(), "model_timeout");
}

// --- Gemini ----------------------------------------------------------------------------------

#[tokio::test]
async fn gemini_tool_round_trip_and_usage() {
    let server = FakeProvider::start();
    server.push(Canned::sse(gemini_stream(
        "gemini-2.5-flash",
        &[
            json!([{"thought": true, "text": "Need weather."}]),
            json!([{"functionCall": {"id": "fc_1", "name": "get_weather", "args": {"city": "Oslo"}}}]),
        ],
        json!({"promptTokenCount": 40, "candidatesTokenCount": 5, "thoughtsTokenCount": 7, "cachedContentTokenCount": 4}),
    )));
    server.push(Canned::sse(gemini_stream(
        "gemini-2.5-flash",
        &[
            json!([{"text": "It is "}]),
            json!([{"text": "21 degrees."}]),
        ],
        json!({"promptTokenCount": 60, "candidatesTokenCount": 6}),
    )));
    let model = model(gemini(&server), "gemini:gemini-2.5-flash");
    let first = model.complete(weather_request()).await.unwrap();
    assert_eq!(
        first,
        ChatResponse {
            thoughts: Some("Need weather.".to_owned()),
            tool_calls: vec![weather_call("fc_1")],
            usage: Usage {
                input_tokens: 40,
                output_tokens: 12,
                cache_read_input_tokens: Some(4),
                cache_creation_input_tokens: None,
            },
            model: Some("gemini-2.5-flash".to_owned()),
            attempts: 1,
            ..ChatResponse::default()
        }
    );
    let second = model.complete(weather_follow_up("fc_1")).await.unwrap();
    assert_eq!(second.text.as_deref(), Some("It is 21 degrees."));
    assert_eq!(
        (second.usage.input_tokens, second.usage.output_tokens),
        (60, 6)
    );

    let calls = server.calls();
    assert_eq!(
        calls[0].path,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    );
    assert_eq!(calls[0].query.as_deref(), Some("alt=sse"));
    assert_eq!(calls[0].header("x-goog-api-key"), Some("gem-test-1234"));
    assert_eq!(
        calls[1].body,
        json!({
            "contents": [
                {"parts": [{"text": "Weather in Oslo?"}], "role": "user"},
                {"parts": [{"functionCall": {"id": "fc_1", "args": {"city": "Oslo"}, "name": "get-weather"}}], "role": "model"},
                {"parts": [{"functionResponse": {"id": "fc_1", "name": "get-weather", "response": {"temperature": 21}}}]}
            ],
            "systemInstruction": {"parts": [{"text": "You are helpful."}], "role": "user"},
            "tools": [{"functionDeclarations": [{
                "name": "get_weather",
                "description": "Weather of a city",
                "parametersJsonSchema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
            }]}],
            "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
            "generationConfig": {"thinkingConfig": {"includeThoughts": true}}
        })
    );
}

#[tokio::test]
async fn gemini_structured_output_and_empty_answer_retry() {
    let server = FakeProvider::start();
    server.push(Canned::sse(gemini_stream(
        "gemini-2.0-flash",
        &[
            json!([{"text": "{\"city\":"}]),
            json!([{"text": "\"Paris\"}"}]),
        ],
        json!({"promptTokenCount": 20, "candidatesTokenCount": 6}),
    )));
    let model = model(gemini(&server), "google:gemini-2.0-flash");
    let response = model
        .complete(ChatRequest {
            messages: vec![ChatMessage::text(Role::User, "Paris is nice")],
            response_format: json_format(),
            ..ChatRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(response.json, Some(json!({"city": "Paris"})));
    assert_eq!(response.text, None);
    assert_eq!(
        server.calls()[0].body,
        json!({
            "contents": [{"parts": [{"text": "Paris is nice"}], "role": "user"}],
            "tools": [],
            "toolConfig": {},
            "generationConfig": {"responseMimeType": "application/json", "responseJsonSchema": city_schema()}
        })
    );

    // An empty plain answer: AIGNE asks again for `{output}` and sums usage.
    server.push(Canned::sse(gemini_stream(
        "gemini-2.0-flash",
        &[json!([])],
        json!({"promptTokenCount": 3}),
    )));
    server.push(Canned::sse(gemini_stream(
        "gemini-2.0-flash",
        &[json!([{"text": "{\"output\":\"Hello!\"}"}])],
        json!({"promptTokenCount": 4, "candidatesTokenCount": 2}),
    )));
    let response = model
        .complete(ChatRequest {
            messages: vec![ChatMessage::text(Role::User, "hi")],
            ..ChatRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(response.text.as_deref(), Some("Hello!"));
    assert_eq!(
        (response.usage.input_tokens, response.usage.output_tokens),
        (7, 2)
    );
    assert_eq!(response.attempts, 2);
    let retry = &server.calls()[2].body;
    assert_eq!(
        retry["generationConfig"]["responseMimeType"],
        "application/json"
    );
    assert_eq!(
        retry["generationConfig"]["responseJsonSchema"]["required"],
        json!(["output"])
    );
}

#[tokio::test]
async fn gemini_missing_json_is_retried_then_fails_and_broken_stream_is_malformed() {
    let server = FakeProvider::start();
    for _ in 0..4 {
        server.push(Canned::sse(gemini_stream("m", &[json!([])], json!({}))));
    }
    let model = model(gemini(&server), "gemini:gemini-2.0-flash");
    let request = ChatRequest {
        messages: vec![ChatMessage::text(Role::User, "Paris")],
        response_format: json_format(),
        ..ChatRequest::default()
    };
    let error = model.complete(request.clone()).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "model call failed after 4 retries",
        "AIGNE retries StructuredOutputError 3 times"
    );
    assert!(matches!(
        &error,
        ModelError::Retried { source, .. }
            if source.to_string() == "structured output error from `google` model `gemini-2.0-flash`: No JSON response from the model"
    ));
    assert_eq!(server.calls().len(), 4);
    server.push(Canned::sse(
        "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]}}]}\n\ndata: {\"candid"
            .to_owned(),
    ));
    let error = model.complete(request).await.unwrap_err();
    assert!(matches!(error, ModelError::Protocol { .. }), "{error:?}");
}

// --- Bedrock ---------------------------------------------------------------------------------

/// Checks the SigV4 signature the server received against the headers and body it received.
fn assert_signed(call: &crate::common::fake_provider::Received, region: &str) {
    let authorization = call.header("authorization").unwrap();
    let signed: Vec<&str> = authorization
        .split("SignedHeaders=")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .split(';')
        .collect();
    assert_eq!(
        signed,
        ["content-type", "host", "x-amz-content-sha256", "x-amz-date"]
    );
    let hash = sigv4::payload_hash(&call.raw_body);
    assert_eq!(call.header("x-amz-content-sha256"), Some(hash.as_str()));
    let headers: Vec<(&str, &str)> = signed
        .iter()
        .map(|name| (*name, call.header(name).unwrap()))
        .collect();
    let expected = sigv4::authorization(
        &sigv4::SigningInput {
            method: &call.method,
            path: &call.path,
            query: "",
            headers: &headers,
            payload_hash: &hash,
            amz_date: call.header("x-amz-date").unwrap(),
            region,
            service: "bedrock",
        },
        &sigv4::Credentials {
            access_key_id: "AKIDEXAMPLE".to_owned(),
            secret_access_key: aigne_ci::secret::Secret::new("secret-key-1234"),
            session_token: None,
        },
    );
    assert_eq!(authorization, expected);
}

#[tokio::test]
async fn bedrock_tool_round_trip_signed() {
    let server = FakeProvider::start();
    let stream = "application/vnd.amazon.eventstream";
    server.push(Canned::bytes(
        stream,
        bedrock_stream(
            Some("Checking."),
            &[("tooluse_1", "get_weather", r#"{"city":"Oslo"}"#)],
            30,
            10,
        ),
    ));
    server.push(Canned::bytes(
        stream,
        bedrock_stream(Some("21 degrees."), &[], 50, 6),
    ));
    let model = model(bedrock(&server), "bedrock:us.amazon.nova-lite-v1:0");
    let first = model.complete(weather_request()).await.unwrap();
    assert_eq!(
        first,
        ChatResponse {
            text: Some("Checking.".to_owned()),
            tool_calls: vec![weather_call("tooluse_1")],
            usage: Usage {
                input_tokens: 30,
                output_tokens: 10,
                ..Usage::default()
            },
            model: Some("us.amazon.nova-lite-v1:0".to_owned()),
            attempts: 1,
            ..ChatResponse::default()
        }
    );
    let second = model
        .complete(weather_follow_up("tooluse_1"))
        .await
        .unwrap();
    assert_eq!(second.text.as_deref(), Some("21 degrees."));
    let calls = server.calls();
    assert_eq!(
        calls[0].path,
        "/model/us.amazon.nova-lite-v1%3A0/converse-stream"
    );
    assert_signed(&calls[0], "eu-west-1");
    assert_signed(&calls[1], "eu-west-1");
    assert_eq!(
        calls[1].body,
        json!({
            "messages": [
                {"role": "user", "content": [{"text": "Weather in Oslo?"}]},
                {"role": "assistant", "content": [{"toolUse": {"toolUseId": "tooluse_1", "name": "get-weather", "input": {"city": "Oslo"}}}]},
                {"role": "user", "content": [{"toolResult": {"toolUseId": "tooluse_1", "content": [{"text": "temperature: 21\n"}]}}]}
            ],
            "system": [{"text": "You are helpful."}],
            "inferenceConfig": {},
            "toolConfig": {
                "tools": [{"toolSpec": {
                    "name": "get_weather",
                    "description": "Weather of a city",
                    "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
                }}],
                "toolChoice": {"auto": {}}
            }
        })
    );
}

#[tokio::test]
async fn bedrock_structured_output_second_call_and_exceptions() {
    let server = FakeProvider::start();
    server.push(Canned::bytes(
        "application/vnd.amazon.eventstream",
        bedrock_stream(Some("The city is Paris."), &[], 50, 6),
    ));
    server.push(Canned::json(
        200,
        &json!({"output": {"message": {"role": "assistant", "content": [
            {"toolUse": {"toolUseId": "t", "name": "generate_json", "input": {"city": "Paris"}}}
        ]}}, "stopReason": "tool_use", "usage": {"inputTokens": 70, "outputTokens": 8, "totalTokens": 78}}),
    ));
    let model = model(
        bedrock(&server),
        "bedrock:anthropic.claude-3-haiku-20240307-v1:0",
    );
    let request = ChatRequest {
        messages: vec![
            ChatMessage::text(Role::System, "Extract the city."),
            ChatMessage::text(Role::User, "Paris is nice"),
        ],
        response_format: json_format(),
        ..ChatRequest::default()
    };
    let response = model.complete(request.clone()).await.unwrap();
    assert_eq!(response.json, Some(json!({"city": "Paris"})));
    assert_eq!(response.text, None);
    assert_eq!(
        (response.usage.input_tokens, response.usage.output_tokens),
        (120, 14)
    );
    assert_eq!(response.attempts, 2);
    let calls = server.calls();
    assert_eq!(
        calls[1].path,
        "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
    );
    assert_signed(&calls[1], "eu-west-1");
    assert_eq!(
        calls[1].body["toolConfig"],
        json!({
            "tools": [{"toolSpec": {"name": "generate_json", "description": "Generate a json result by given context", "inputSchema": {"json": city_schema()}}}],
            "toolChoice": {"tool": {"name": "generate_json"}}
        })
    );
    assert_eq!(
        calls[1].body["system"][1]["text"],
        format!(
            "Use the generate_json tool to generate a json result. Tool input must be a JSON object containing the following fields only.\n<json_fields>\n{}\n</json_fields>\nDo not include any explanations, comments, or Markdown formatting (such as triple backticks). Return only the raw JSON.",
            city_schema()
        )
    );

    // A throttling exception frame inside a 200 stream, and an HTTP 400 with `{"message"}`.
    let mut body = bedrock_event("messageStart", json!({"role": "assistant"}));
    body.extend(event_frame(
        &[
            (":exception-type", "throttlingException"),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ],
        br#"{"message":"Too many tokens"}"#,
    ));
    server.push(Canned::bytes("application/vnd.amazon.eventstream", body));
    let error = model.complete(request.clone()).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "provider `bedrock` (model `anthropic.claude-3-haiku-20240307-v1:0`) reported an error: Too many tokens"
    );
    server.push(
        Canned::json(400, &json!({"message": "Malformed input request"}))
            .header("x-amzn-errortype", "ValidationException"),
    );
    let error = model.complete(request).await.unwrap_err();
    assert_eq!(error.status(), Some(400));
    assert!(
        error.to_string().ends_with(": Malformed input request"),
        "{error}"
    );
}

// --- AIGNE Hub -------------------------------------------------------------------------------

#[tokio::test]
async fn hub_discovers_the_mount_point_and_streams_aigne_chunks() {
    let server = FakeProvider::start();
    server.push(Canned::sse(hub_stream(&[
        json!({"delta": {"json": {"model": "openai/gpt-5-mini"}}}),
        json!({"delta": {"text": {"text": "Checking."}}}),
        json!({"delta": {"json": {"toolCalls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}]}}}),
        json!({"delta": {"json": {"usage": {"inputTokens": 30, "outputTokens": 10, "aigneHubCredits": 1.5}}}}),
    ])));
    server.push(Canned::sse(hub_stream(&[
        json!({"delta": {"text": {"text": "21 degrees."}}}),
        json!({"delta": {"json": {"usage": {"inputTokens": 50, "outputTokens": 6}}}}),
    ])));
    // No model configured: AIGNE's default, the hub with `openai/gpt-5-mini`.
    let registry = ModelRegistry::new(hub(&server)).unwrap();
    let model = registry.resolve(&ModelSpec::default()).unwrap();
    assert_eq!(
        (model.provider(), model.model()),
        ("aignehub", "openai/gpt-5-mini")
    );
    let first = model.complete(weather_request()).await.unwrap();
    assert_eq!(
        first,
        ChatResponse {
            text: Some("Checking.".to_owned()),
            tool_calls: vec![weather_call("call_1")],
            usage: Usage {
                input_tokens: 30,
                output_tokens: 10,
                ..Usage::default()
            },
            model: Some("openai/gpt-5-mini".to_owned()),
            attempts: 1,
            ..ChatResponse::default()
        }
    );
    model.complete(weather_follow_up("call_1")).await.unwrap();
    let requests = server.requests();
    assert_eq!(requests.len(), 3, "discovery once, then two chats");
    assert_eq!(
        (requests[0].method.as_str(), requests[0].path.as_str()),
        ("GET", "/__blocklet__.js")
    );
    assert_eq!(requests[0].query.as_deref(), Some("type=json"));
    assert_eq!(requests[1].path, format!("{HUB_MOUNT}/api/v2/chat"));
    assert_eq!(
        requests[1].header("authorization"),
        Some("Bearer hub-key-1234")
    );
    assert_eq!(
        requests[1].header("x-aigne-hub-client-did"),
        Some("@aigne/aigne-hub:runner")
    );
    let tools = json!([{"type": "function", "function": {
        "name": "get_weather",
        "description": "Weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    }}]);
    assert_eq!(
        requests[2].body,
        json!({
            "input": {
                "messages": [
                    {"role": "system", "content": "You are helpful."},
                    {"role": "user", "content": "Weather in Oslo?"},
                    {"role": "agent", "toolCalls": [{"id": "call_1", "type": "function", "function": {"name": "get-weather", "arguments": {"city": "Oslo"}}}]},
                    {"role": "tool", "content": "temperature: 21\n", "toolCallId": "call_1"}
                ],
                "tools": tools,
                "toolChoice": "auto",
                "modelOptions": {"cacheConfig": {"autoBreakpoints": {"lastMessage": true}}, "model": "openai/gpt-5-mini"},
                "outputFileType": "url"
            },
            "agent": "$CHAT_MODEL",
            "options": {"streaming": true, "userContext": {}, "memories": []}
        })
    );
}

#[tokio::test]
async fn hub_errors_and_missing_key() {
    let server = FakeProvider::start();
    server.push(Canned::sse(
        "data: {\"delta\":{\"text\":{\"text\":\"x\"}}}\n\nevent: error\ndata: {\"message\":\"Insufficient credits\"}\n\n".to_owned(),
    ));
    server.push(Canned::json(
        401,
        &json!({"error": {"message": "Invalid access key", "type": "auth"}}),
    ));
    let model = model(hub(&server), "aignehub:anthropic/claude-sonnet-4-5");
    let request = ChatRequest {
        messages: vec![ChatMessage::text(Role::User, "hi")],
        ..ChatRequest::default()
    };
    let error = model.complete(request.clone()).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "provider `aignehub` (model `anthropic/claude-sonnet-4-5`) reported an error: Insufficient credits"
    );
    let error = model.complete(request).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "provider `aignehub` (model `anthropic/claude-sonnet-4-5`) answered with status 401 after 1 attempt(s): Invalid access key"
    );
    // Nothing configured at all: an immediate error naming the variable, no request, no login.
    let before = server.requests().len();
    let registry = ModelRegistry::new(settings(&[("AIGNE_HUB_API_URL", &server.url())])).unwrap();
    let error = match registry.resolve(&ModelSpec::default()) {
        Err(error) => error,
        Ok(_) => panic!("resolved the hub without a key"),
    };
    assert_eq!(
        error.to_string(),
        "provider `aignehub` needs an API key for model `openai/gpt-5-mini`: `AIGNE_HUB_API_KEY` is not set"
    );
    assert_eq!(server.requests().len(), before);
}

#[tokio::test]
async fn hub_waits_for_response_headers_as_long_as_timeout_says() {
    let server = FakeProvider::start();
    // Headers later than `TIMEOUT` (ms) on every attempt, then an answer in time.
    for _ in 0..2 {
        server.push(Canned::sse(hub_stream(&[])).delay(std::time::Duration::from_secs(5)));
    }
    server.push(Canned::sse(hub_stream(&[
        json!({"delta": {"text": {"text": "in time"}}}),
    ])));
    let mut variables = vec![("AIGNE_HUB_API_KEY", "hub-key-1234"), ("TIMEOUT", "300")];
    let url = server.url();
    variables.push(("AIGNE_HUB_API_URL", &url));
    let mut settings = settings(&variables);
    settings.http.retry.max_retries = 1;
    settings.framework_retries = 0;
    let model = model(settings, "aignehub:openai/gpt-5-mini");
    let request = ChatRequest {
        messages: vec![ChatMessage::text(Role::User, "hi")],
        ..ChatRequest::default()
    };
    let error = model.complete(request.clone()).await.unwrap_err();
    assert!(
        error
            .to_string()
            .ends_with("timed out after 300ms (2 attempt(s))"),
        "{error}"
    );
    let response = model.complete(request).await.unwrap();
    assert_eq!(response.text.as_deref(), Some("in time"));
}

// --- record / replay -------------------------------------------------------------------------

#[tokio::test]
async fn every_provider_records_and_replays_without_network_or_keys() {
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("cassette.jsonl");
    let server = FakeProvider::start();
    server.push(Canned::sse(anthropic_stream(
        "claude-3-5-sonnet-20241022",
        &[AnthropicBlock::ToolUse(
            "toolu_1",
            "get_weather",
            r#"{"city":"Oslo"}"#,
        )],
        5,
    )));
    server.push(Canned::sse(gemini_stream(
        "gemini-2.0-flash",
        &[json!([{"text": "Gemini says hi"}])],
        json!({"promptTokenCount": 3, "candidatesTokenCount": 2}),
    )));
    server.push(Canned::bytes(
        "application/vnd.amazon.eventstream",
        bedrock_stream(Some("Bedrock says hi"), &[], 4, 3),
    ));
    server.push(Canned::sse(hub_stream(&[
        json!({"delta": {"text": {"text": "Hub says hi"}}}),
        json!({"delta": {"json": {"usage": {"inputTokens": 5, "outputTokens": 4}}}}),
    ])));
    let models = [
        "anthropic:claude-3-5-sonnet-20241022",
        "gemini:gemini-2.0-flash",
        "bedrock:us.amazon.nova-lite-v1:0",
        "aignehub:openai/gpt-5-mini",
    ];
    let mut all = BTreeMap::new();
    for settings in [
        anthropic(&server),
        gemini(&server),
        bedrock(&server),
        hub(&server),
    ] {
        all.extend(settings.variables);
    }
    let mut recording = ModelSettings::from_variables(all).without_retry_delays();
    recording.record = Some(cassette.clone());
    let registry = ModelRegistry::new(recording).unwrap();
    let mut recorded = Vec::new();
    for name in models {
        let model = registry
            .resolve(&ModelSpec {
                model: Some(name.to_owned()),
                options: Default::default(),
            })
            .unwrap();
        let mut request = weather_request();
        request.case_label = Some(name.to_owned());
        recorded.push(model.complete(request).await.unwrap());
    }
    drop(registry);
    drop(server);
    assert_eq!(recorded[0].tool_calls, vec![weather_call("toolu_1")]);
    assert_eq!(recorded[2].text.as_deref(), Some("Bedrock says hi"));
    let text = fs_err::read_to_string(&cassette).unwrap();
    for secret in [
        "sk-ant-test-1234",
        "gem-test-1234",
        "secret-key-1234",
        "hub-key-1234",
    ] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let providers: Vec<&str> = lines
        .iter()
        .map(|line| line["provider"].as_str().unwrap())
        .collect();
    assert_eq!(
        providers,
        ["anthropic", "google", "bedrock", "aignehub", "aignehub"]
    );
    assert_eq!(lines[2]["response_encoding"], "base64");
    assert_eq!(lines[3]["method"], "GET");

    // Replay: no server, no keys.
    let mut replaying = ModelSettings::from_variables(BTreeMap::new()).without_retry_delays();
    replaying.replay = Some(cassette.clone());
    let registry = ModelRegistry::new(replaying).unwrap();
    for (name, expected) in models.iter().zip(&recorded) {
        let model = registry
            .resolve(&ModelSpec {
                model: Some((*name).to_owned()),
                options: Default::default(),
            })
            .unwrap();
        let replayed = model.complete(weather_request()).await.unwrap();
        assert_eq!(&replayed, expected, "{name}");
    }
}

// --- parity with the official runtime --------------------------------------------------------

/// The project of `tests/fixtures/providers` run by the native engine sends, for every native
/// provider, the request bodies the official runtime sent for the same agent and input.
#[tokio::test]
async fn engine_sends_what_the_official_runtime_sends() {
    use aigne_ci::engine::{Engine, EngineSettings, InvokeRequest};
    use aigne_ci::project::Project;

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/providers");
    let official: Value = serde_json::from_str(
        &fs_err::read_to_string(root.join("official-structured-requests.json")).unwrap(),
    )
    .unwrap();
    let project = Arc::new(Project::load(&root.join("project")).unwrap());
    let server = FakeProvider::start();
    let cases: [(&str, ModelSettings, &str, Vec<Canned>); 4] = [
        (
            "anthropic",
            anthropic(&server),
            "anthropic:claude-sonnet-4-5",
            vec![Canned::sse(anthropic_stream(
                "claude-sonnet-4-5",
                &[AnthropicBlock::ToolUse(
                    "t",
                    "generate_json",
                    r#"{"city":"Paris"}"#,
                )],
                5,
            ))],
        ),
        (
            "gemini",
            gemini(&server),
            "google:gemini-2.0-flash",
            vec![Canned::sse(gemini_stream(
                "gemini-2.0-flash",
                &[json!([{"text": "{\"city\":\"Paris\"}"}])],
                json!({"promptTokenCount": 20, "candidatesTokenCount": 6}),
            ))],
        ),
        (
            "bedrock",
            bedrock(&server),
            "bedrock:anthropic.claude-3-haiku-20240307-v1:0",
            vec![
                Canned::bytes(
                    "application/vnd.amazon.eventstream",
                    bedrock_stream(Some("Paris."), &[], 50, 6),
                ),
                Canned::json(
                    200,
                    &json!({"output": {"message": {"content": [{"toolUse": {"toolUseId": "t", "name": "generate_json", "input": {"city": "Paris"}}}]}},
                        "usage": {"inputTokens": 70, "outputTokens": 8}}),
                ),
            ],
        ),
        (
            "aignehub",
            hub(&server),
            "claude-sonnet-4-5",
            vec![Canned::sse(hub_stream(&[
                json!({"delta": {"json": {"json": {"city": "Paris"}}}}),
                json!({"delta": {"json": {"usage": {"inputTokens": 20, "outputTokens": 5}}}}),
            ]))],
        ),
    ];
    for (provider, mut settings, model, answers) in cases {
        let before = server.calls().len();
        for answer in answers {
            server.push(answer);
        }
        settings.model_override = Some(model.to_owned());
        let registry = Arc::new(ModelRegistry::new(settings).unwrap());
        let engine = Engine::new(project.clone(), registry, EngineSettings::default());
        let outcome = engine
            .invoke(InvokeRequest {
                agent: Some("structured".to_owned()),
                input: json!("Paris is nice"),
                case_label: "parity".to_owned(),
                session: None,
            })
            .await
            .unwrap();
        assert_eq!(outcome.output, json!({"city": "Paris"}), "{provider}");
        let sent: Vec<Value> = server.calls()[before..]
            .iter()
            .map(|call| call.body.clone())
            .collect();
        assert_eq!(&Value::Array(sent), &official[provider], "{provider}");
    }
}

// --- Streams that end early (issue 13 item 7) ------------------------------------------------

/// A stream cut before its protocol's end marker is retried like a dropped connection: a cut
/// answer followed by a whole one passes with the whole one's text (two calls), and four cut
/// answers (one attempt and three retries) are a `model_truncated` error naming what is missing,
/// never an output.
async fn assert_truncation_is_retried_then_an_error(
    server: &FakeProvider,
    chat: Arc<dyn ChatModel>,
    cut: Canned,
    whole: Canned,
    text: &str,
    missing: &str,
) {
    let request = ChatRequest {
        messages: vec![ChatMessage::text(Role::User, "hi")],
        ..ChatRequest::default()
    };
    let before = server.calls().len();
    server.push(cut.clone());
    server.push(whole);
    let answer = chat.complete(request.clone()).await.unwrap();
    assert_eq!(answer.text.as_deref(), Some(text));
    assert_eq!(answer.attempts, 2, "the cut answer was retried");
    assert_eq!(server.calls().len() - before, 2);

    for _ in 0..4 {
        server.push(cut.clone());
    }
    let error = chat.complete(request).await.unwrap_err();
    assert_eq!(error.kind(), "model_truncated", "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("ended its answer early after 4 attempt(s)") && message.ends_with(missing),
        "{message}"
    );
    assert_eq!(server.calls().len() - before, 6);
}

#[tokio::test]
async fn truncated_streams_openai_without_finish_reason_or_done() {
    let server = FakeProvider::start();
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "c1", "object": "chat.completion.chunk", "model": "gpt-4o-mini",
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let first = chunk(json!({"role": "assistant", "content": "Hel"}), Value::Null);
    let cut = format!("data: {first}\n\n");
    let whole = format!(
        "data: {first}\n\ndata: {}\n\ndata: [DONE]\n\n",
        chunk(json!({"content": "lo"}), json!("stop"))
    );
    let settings = settings(&[
        ("OPENAI_API_KEY", "sk-test-1234"),
        ("OPENAI_BASE_URL", &format!("{}/v1", server.url())),
    ]);
    assert_truncation_is_retried_then_an_error(
        &server,
        model(settings, "openai:gpt-4o-mini"),
        Canned::sse(cut),
        Canned::sse(whole),
        "Hello",
        "the stream ended before a `finish_reason` or `[DONE]`",
    )
    .await;
}

#[tokio::test]
async fn truncated_streams_anthropic_without_message_stop() {
    let server = FakeProvider::start();
    let whole = anthropic_stream("m", &[AnthropicBlock::Text("whole")], 1);
    let cut = whole[..whole.find("event: message_stop").unwrap()].to_owned();
    assert_truncation_is_retried_then_an_error(
        &server,
        model(anthropic(&server), "anthropic:claude-3-5-haiku-20241022"),
        Canned::sse(cut),
        Canned::sse(whole),
        "whole",
        "the stream ended before `message_stop`",
    )
    .await;
}

#[tokio::test]
async fn truncated_streams_gemini_without_finish_reason() {
    let server = FakeProvider::start();
    let whole = gemini_stream(
        "m",
        &[json!([{"text": "who"}]), json!([{"text": "le"}])],
        json!({"promptTokenCount": 1, "candidatesTokenCount": 1}),
    );
    // The first chunk only: no candidate has a `finishReason` yet.
    let cut = whole[..whole.find("\r\n\r\n").unwrap() + 4].to_owned();
    assert_truncation_is_retried_then_an_error(
        &server,
        model(gemini(&server), "gemini:gemini-2.0-flash"),
        Canned::sse(cut),
        Canned::sse(whole),
        "whole",
        "the stream ended before a `finishReason`",
    )
    .await;
}

#[tokio::test]
async fn truncated_streams_bedrock_without_message_stop() {
    let server = FakeProvider::start();
    let mut cut = bedrock_event("messageStart", json!({"role": "assistant"}));
    cut.extend(bedrock_event(
        "contentBlockDelta",
        json!({"contentBlockIndex": 0, "delta": {"text": "par"}}),
    ));
    let kind = "application/vnd.amazon.eventstream";
    assert_truncation_is_retried_then_an_error(
        &server,
        model(bedrock(&server), "bedrock:us.amazon.nova-lite-v1:0"),
        Canned::bytes(kind, cut),
        Canned::bytes(kind, bedrock_stream(Some("whole"), &[], 3, 1)),
        "whole",
        "the stream ended before `messageStop`",
    )
    .await;
}

#[tokio::test]
async fn truncated_streams_hub_inside_an_event() {
    let server = FakeProvider::start();
    // AIGNE Hub's stream has no end marker: what shows a cut is an event without its closing
    // blank line.
    let first = hub_stream(&[json!({"delta": {"text": {"text": "who"}}})]);
    let cut = format!("{first}data: {{\"delta\": {{\"text\": {{\"text\": \"le");
    let whole = format!(
        "{first}{}",
        hub_stream(&[json!({"delta": {"text": {"text": "le"}}})])
    );
    assert_truncation_is_retried_then_an_error(
        &server,
        model(hub(&server), "aignehub:openai/gpt-5-mini"),
        Canned::sse(cut),
        Canned::sse(whole),
        "whole",
        "the stream ended inside an event",
    )
    .await;
}

// Multi-threaded: the refused answer's connection is closed by a client task, which must run
// while the fake server's drop waits for its connections to end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_over_the_size_cap_is_refused_not_buffered() {
    let server = FakeProvider::start();
    let limit = aigne_ci::model::transport::DEFAULT_MAX_RESPONSE_BYTES;
    server.push(Canned::sse(format!("data: {}\n\n", "x".repeat(limit))));
    let chat = model(anthropic(&server), "anthropic:claude-3-5-haiku-20241022");
    let error = chat
        .complete(ChatRequest {
            messages: vec![ChatMessage::text(Role::User, "hi")],
            ..ChatRequest::default()
        })
        .await
        .unwrap_err();
    assert_eq!(error.kind(), "model_too_large", "{error:?}");
    assert!(
        error
            .to_string()
            .ends_with("sent an answer larger than the 16 MiB cap (`--max-response-size`)"),
        "{error}"
    );
    assert_eq!(server.calls().len(), 1, "not retried");
    drop(chat);
}
