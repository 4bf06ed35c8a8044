//! Stage 3a: model providers against the fake OpenAI-compatible server.

use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use crate::common::fake_openai::{FakeOpenAi, FakeToolCall, Reply, sse_body};

async fn post(server: &FakeOpenAi, body: Value) -> (u16, Vec<(String, String)>, String) {
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{}/chat/completions", server.base_url()))
        .bearer_auth("sk-test")
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
        .collect();
    (status, headers, response.text().await.unwrap())
}

#[tokio::test]
async fn fake_server_streams_tool_call_fragments_and_usage() {
    let server = FakeOpenAi::start();
    server
        .push(Reply::tool_calls([FakeToolCall::new("call_1", "add", json!({"a": 1}))]).usage(7, 3));
    let (status, _, body) = post(
        &server,
        json!({"model": "gpt-4o-mini", "messages": [], "stream": true, "stream_options": {"include_usage": true}}),
    )
    .await;
    assert_eq!(status, 200);
    let frames: Vec<&str> = body
        .split("\n\n")
        .filter(|frame| !frame.is_empty())
        .collect();
    assert_eq!(frames.last(), Some(&"data: [DONE]"));
    let chunks: Vec<Value> = frames[..frames.len() - 1]
        .iter()
        .map(|frame| serde_json::from_str(frame.strip_prefix("data: ").unwrap()).unwrap())
        .collect();
    assert_eq!(
        chunks[1]["choices"][0]["delta"]["tool_calls"][0],
        json!({"index": 0, "id": "call_1", "type": "function", "function": {"name": "add", "arguments": ""}})
    );
    let arguments: String = chunks[2..4]
        .iter()
        .map(|chunk| {
            chunk["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(arguments, r#"{"a":1}"#);
    assert_eq!(chunks[4]["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(chunks[5]["choices"], json!([]));
    assert_eq!(chunks[5]["usage"]["prompt_tokens"], 7);
    assert_eq!(
        body,
        sse_body(
            &Reply::tool_calls([FakeToolCall::new("call_1", "add", json!({"a": 1}))]).usage(7, 3),
            "gpt-4o-mini",
            true
        )
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/v1/chat/completions");
    assert_eq!(requests[0].header("Authorization"), Some("Bearer sk-test"));
    assert_eq!(requests[0].body["model"], "gpt-4o-mini");
}

#[tokio::test]
async fn fake_server_answers_json_errors_and_handler() {
    let server = FakeOpenAi::start();
    server.push(Reply::error(429, json!({"error": {"message": "slow down"}})).retry_after("2"));
    server.push(Reply::text("plain").usage(1, 2));
    server.set_handler(|request| Reply::text(&format!("request {}", request.index)));
    let (status, headers, body) = post(&server, json!({"model": "m", "messages": []})).await;
    assert_eq!(status, 429);
    assert!(headers.contains(&("retry-after".to_owned(), "2".to_owned())));
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"]["message"],
        "slow down"
    );
    let (status, _, body) = post(&server, json!({"model": "m", "messages": []})).await;
    assert_eq!(status, 200);
    let completion: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(completion["choices"][0]["message"]["content"], "plain");
    assert_eq!(
        completion["usage"],
        json!({"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3})
    );
    let (_, _, body) = post(
        &server,
        json!({"model": "m", "messages": [], "stream": true}),
    )
    .await;
    assert!(body.contains(r#""content":"requ"#), "{body}");
    assert!(
        !body.contains("usage"),
        "no usage without include_usage: {body}"
    );
    server.shutdown();
}

#[tokio::test]
async fn fake_server_without_script_is_loud() {
    let server = FakeOpenAi::start();
    let (status, _, body) = post(&server, json!({"model": "m", "messages": []})).await;
    assert_eq!(status, 500);
    assert!(body.contains("no scripted reply for request 0"), "{body}");
}

// --- the model stage against the fake server -------------------------------------------------

use std::collections::BTreeMap;
use std::sync::Arc;

use aigne_ci::model::types::{
    ChatMessage, ChatRequest, ChatResponse, Content, ContentPart, ResponseFormat, Role, ToolCall,
    ToolChoice, ToolDefinition, Usage,
};
use aigne_ci::model::{
    ChatModel, ModelError, ModelRegistry, ModelResolver, ModelSettings, ModelSpec,
};

fn variables(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect()
}

fn settings_for(server: &FakeOpenAi, extra: &[(&str, &str)]) -> ModelSettings {
    let mut vars = variables(&[
        ("OPENAI_API_KEY", "sk-test-123456"),
        ("OPENAI_BASE_URL", &server.base_url()),
    ]);
    vars.extend(variables(extra));
    ModelSettings::from_variables(vars).without_retry_delays()
}

fn model_for(server: &FakeOpenAi, model: &str) -> Arc<dyn ChatModel> {
    let registry = ModelRegistry::new(settings_for(server, &[])).unwrap();
    registry.resolve(&spec(model)).unwrap()
}

fn spec(model: &str) -> ModelSpec {
    ModelSpec {
        model: Some(model.to_owned()),
        options: Default::default(),
    }
}

fn user(text: &str) -> ChatMessage {
    ChatMessage::text(Role::User, text)
}

/// Compares JSON including key order (what goes on the wire).
fn assert_wire(actual: &Value, expected: Value) {
    assert_eq!(
        serde_json::to_string_pretty(actual).unwrap(),
        serde_json::to_string_pretty(&expected).unwrap()
    );
}

fn weather_tool() -> ToolDefinition {
    ToolDefinition {
        name: "get-weather".to_owned(),
        description: Some("Weather of a city".to_owned()),
        parameters: json!({
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": false
        }),
    }
}

#[tokio::test]
async fn plain_text_request_body_and_answer() {
    let server = FakeOpenAi::start();
    server.push(
        Reply::text("Hello there")
            .usage(12, 3)
            .cached_tokens(4)
            .model("gpt-4o-mini-2024-07-18"),
    );
    let model = model_for(&server, "openai:gpt-4o-mini");
    assert_eq!((model.provider(), model.model()), ("openai", "gpt-4o-mini"));
    let mut request = ChatRequest {
        messages: vec![ChatMessage::text(Role::System, "Be brief"), user("Hi")],
        ..ChatRequest::default()
    };
    request
        .model_options
        .insert("temperature".to_owned(), json!(0.2));
    request.model_options.insert("topP".to_owned(), json!(1));
    request
        .model_options
        .insert("reasoningEffort".to_owned(), json!(2000));
    let response = model.complete(request).await.unwrap();
    assert_eq!(
        response,
        ChatResponse {
            text: Some("Hello there".to_owned()),
            usage: Usage {
                input_tokens: 12,
                output_tokens: 3,
                cache_read_input_tokens: Some(4),
                cache_creation_input_tokens: None,
            },
            model: Some("gpt-4o-mini-2024-07-18".to_owned()),
            attempts: 1,
            ..ChatResponse::default()
        }
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].path, "/v1/chat/completions");
    assert_eq!(
        requests[0].header("authorization"),
        Some("Bearer sk-test-123456")
    );
    assert_wire(
        &requests[0].body,
        json!({
            "model": "gpt-4o-mini",
            "temperature": 0.2,
            "top_p": 1,
            "messages": [
                {"role": "system", "content": "Be brief"},
                {"role": "user", "content": "Hi"}
            ],
            "stream_options": {"include_usage": true},
            "stream": true,
            "reasoning_effort": "medium"
        }),
    );
}

#[tokio::test]
async fn tools_and_tool_results_round_trip() {
    let server = FakeOpenAi::start();
    server.push(
        Reply::tool_calls([
            FakeToolCall::new("call_a", "get_weather", json!({"city": "Oslo"})),
            FakeToolCall::new("call_b", "get_weather", json!({"city": "Rome"})),
        ])
        .fragments(4),
    );
    let model = model_for(&server, "openai:gpt-4o");
    let mut request = ChatRequest {
        messages: vec![
            user("Weather?"),
            ChatMessage {
                role: Role::Agent,
                content: None,
                tool_calls: vec![ToolCall {
                    id: "call_0".to_owned(),
                    name: "get-weather".to_owned(),
                    arguments: json!({"city": "Paris"}),
                    metadata: None,
                }],
                tool_call_id: None,
                name: None,
            },
            ChatMessage {
                role: Role::Tool,
                content: Some(Content::Parts(vec![ContentPart::Text {
                    text: "temperature: 20\n".to_owned(),
                }])),
                tool_calls: Vec::new(),
                tool_call_id: Some("call_0".to_owned()),
                name: None,
            },
        ],
        tools: vec![weather_tool()],
        tool_choice: Some(ToolChoice::Auto),
        ..ChatRequest::default()
    };
    request
        .model_options
        .insert("parallelToolCalls".to_owned(), json!(true));
    let response = model.complete(request).await.unwrap();
    assert_eq!(
        response.tool_calls,
        vec![
            ToolCall {
                id: "call_a".to_owned(),
                name: "get-weather".to_owned(),
                arguments: json!({"city": "Oslo"}),
                metadata: None
            },
            ToolCall {
                id: "call_b".to_owned(),
                name: "get-weather".to_owned(),
                arguments: json!({"city": "Rome"}),
                metadata: None
            },
        ]
    );
    assert_eq!(response.text, None);
    assert_wire(
        &server.bodies()[0],
        json!({
            "model": "gpt-4o",
            "messages": [
                {"role": "user", "content": "Weather?"},
                {"role": "assistant", "tool_calls": [
                    {"id": "call_0", "type": "function", "function": {"name": "get-weather", "arguments": "{\"city\":\"Paris\"}"}}
                ]},
                {"role": "tool", "content": [{"type": "text", "text": "temperature: 20\n"}], "tool_call_id": "call_0"}
            ],
            "stream_options": {"include_usage": true},
            "stream": true,
            "tools": [{"type": "function", "function": {
                "name": "get_weather",
                "description": "Weather of a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": false}
            }}],
            "tool_choice": "auto",
            "parallel_tool_calls": true
        }),
    );
}

fn output_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "answer": {"type": "string"},
            "confidence": {"type": "number"}
        },
        "required": ["answer"],
        "additionalProperties": false
    })
}

fn json_schema_format() -> ResponseFormat {
    ResponseFormat::JsonSchema {
        name: "output".to_owned(),
        description: None,
        schema: output_schema(),
        strict: true,
    }
}

#[tokio::test]
async fn structured_output_converts_the_schema_and_drops_nulls() {
    let server = FakeOpenAi::start();
    server.push(Reply::json(json!({"answer": "42", "confidence": null})));
    let model = model_for(&server, "openai:gpt-4o-mini");
    let response = model
        .complete(ChatRequest {
            messages: vec![user("Answer?")],
            response_format: Some(json_schema_format()),
            ..ChatRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(response.json, Some(json!({"answer": "42"})));
    assert_eq!(response.text, None);
    assert_wire(
        &server.bodies()[0],
        json!({
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "Answer?"}],
            "stream_options": {"include_usage": true},
            "stream": true,
            "response_format": {"type": "json_schema", "json_schema": {
                "name": "output",
                "schema": {
                    "type": "object",
                    "properties": {
                        "answer": {"type": "string"},
                        "confidence": {"anyOf": [{"type": "number"}, {"type": ["null"]}]}
                    },
                    "required": ["answer", "confidence"],
                    "additionalProperties": false
                },
                "strict": true
            }}
        }),
    );
}

#[tokio::test]
async fn deepseek_uses_json_object_and_the_schema_prompt() {
    let server = FakeOpenAi::start();
    server.push(Reply::text("```json\n{\"answer\": \"yes\"}\n```"));
    let settings = settings_for(
        &server,
        &[
            ("DEEPSEEK_API_KEY", "ds-key-0000"),
            ("AIGNE_CI_TEST_BASE_URL_DEEPSEEK", &server.url()),
        ],
    );
    let registry = ModelRegistry::new(settings).unwrap();
    // The `deepseek-chat` quirk: a provider-only string, so the default model.
    let model = registry.resolve(&spec("deepseek-chat")).unwrap();
    assert_eq!(
        (model.provider(), model.model()),
        ("deepseek", "deepseek-chat")
    );
    let response = model
        .complete(ChatRequest {
            messages: vec![user("Answer?")],
            tools: vec![ToolDefinition {
                name: "noop".to_owned(),
                description: None,
                parameters: json!({}),
            }],
            response_format: Some(json_schema_format()),
            ..ChatRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(response.json, Some(json!({"answer": "yes"})));
    let requests = server.requests();
    assert_eq!(requests[0].path, "/chat/completions");
    assert_eq!(
        requests[0].header("authorization"),
        Some("Bearer ds-key-0000")
    );
    let prompt = format!(
        "Output must be a JSON object containing the following fields only.\n<json_fields>\n{}\n</json_fields>\nDo not include any explanations, comments, or Markdown formatting (such as triple backticks). Return only the raw JSON.",
        serde_json::to_string(&output_schema()).unwrap()
    );
    assert_wire(
        &requests[0].body,
        json!({
            "model": "deepseek-chat",
            "messages": [
                {"role": "system", "content": prompt},
                {"role": "user", "content": "Answer?"}
            ],
            "stream_options": {"include_usage": true},
            "stream": true,
            "tools": [{"type": "function", "function": {"name": "noop", "parameters": {"type": "object"}}}],
            "response_format": {"type": "json_object"}
        }),
    );
}

#[tokio::test]
async fn invalid_json_with_tools_asks_again_without_tools() {
    let server = FakeOpenAi::start();
    server.push(Reply::text("I think the answer is yes").usage(10, 5));
    server.push(Reply::json(json!({"answer": "yes", "confidence": 0.5})).usage(20, 7));
    let model = model_for(&server, "openai:gpt-4o-mini");
    let response = model
        .complete(ChatRequest {
            messages: vec![user("Answer?")],
            tools: vec![weather_tool()],
            tool_choice: Some(ToolChoice::Auto),
            response_format: Some(json_schema_format()),
            ..ChatRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(
        response.json,
        Some(json!({"answer": "yes", "confidence": 0.5}))
    );
    assert_eq!(
        (response.usage.input_tokens, response.usage.output_tokens),
        (30, 12)
    );
    assert_eq!(response.attempts, 2);
    let bodies = server.bodies();
    assert_eq!(bodies.len(), 2);
    assert!(bodies[0].get("tools").is_some());
    assert!(bodies[0].get("response_format").is_some());
    let keys: Vec<&str> = bodies[1]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "model",
            "messages",
            "stream_options",
            "stream",
            "response_format"
        ]
    );
}

#[tokio::test]
async fn schema_mismatch_is_retried_by_the_framework() {
    let server = FakeOpenAi::start();
    server.push(Reply::json(json!({"confidence": 1})));
    server.push(Reply::json(json!({"answer": "ok"})));
    let model = model_for(&server, "openai:gpt-4o-mini");
    let response = model
        .complete(ChatRequest {
            messages: vec![user("Answer?")],
            response_format: Some(json_schema_format()),
            ..ChatRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(response.json, Some(json!({"answer": "ok"})));
    assert_eq!(response.attempts, 2);
    assert_eq!(server.request_count(), 2);
}

#[tokio::test]
async fn unknown_tool_and_bad_arguments_fail_after_framework_retries() {
    let server = FakeOpenAi::start();
    server.set_default(Reply::tool_calls([FakeToolCall::raw(
        "c1",
        "get_weather",
        "{\"town\": 1}",
    )]));
    let model = model_for(&server, "openai:gpt-4o-mini");
    let error = model
        .complete(ChatRequest {
            messages: vec![user("Weather?")],
            tools: vec![weather_tool()],
            ..ChatRequest::default()
        })
        .await
        .unwrap_err();
    assert_eq!(server.request_count(), 4, "1 call + 3 framework retries");
    assert_eq!(error.kind(), "structured_output");
    assert_eq!(error.to_string(), "model call failed after 4 retries");
    let source = std::error::Error::source(&error).unwrap().to_string();
    assert!(
        source.contains("Output JSON does not conform to the provided JSON schema"),
        "{source}"
    );
}

#[tokio::test]
async fn rate_limit_is_retried_honouring_retry_after() {
    let server = FakeOpenAi::start();
    server.push(
        Reply::error(
            429,
            json!({"error": {"message": "Rate limit reached", "type": "requests"}}),
        )
        .retry_after("1"),
    );
    server.push(Reply::text("after the wait"));
    let model = model_for(&server, "openai:gpt-4o-mini");
    let response = model
        .complete(ChatRequest {
            messages: vec![user("Hi")],
            ..ChatRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(response.text.as_deref(), Some("after the wait"));
    assert_eq!(response.attempts, 2);
    let bodies = server.bodies();
    assert_eq!(bodies[0], bodies[1], "the retry sends the same body");
}

#[tokio::test]
async fn server_errors_exhaust_the_retries() {
    let server = FakeOpenAi::start();
    server.set_default(Reply::error(
        503,
        json!({"error": {"message": "overloaded"}}),
    ));
    let model = model_for(&server, "openai:gpt-4o-mini");
    let error = model
        .complete(ChatRequest {
            messages: vec![user("Hi")],
            ..ChatRequest::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        server.request_count(),
        4,
        "1 attempt + 3 retries (--retries default)"
    );
    assert_eq!(
        error.to_string(),
        "provider `openai` (model `gpt-4o-mini`) answered with status 503 after 4 attempt(s): overloaded"
    );
    assert_eq!(error.status(), Some(503));
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let server = FakeOpenAi::start();
    server.push(Reply::error(
        401,
        json!({"error": {"message": "Incorrect API key provided"}}),
    ));
    let model = model_for(&server, "openai:gpt-4o-mini");
    let error = model
        .complete(ChatRequest {
            messages: vec![user("Hi")],
            ..ChatRequest::default()
        })
        .await
        .unwrap_err();
    assert_eq!(server.request_count(), 1);
    assert!(
        error
            .to_string()
            .contains("status 401 after 1 attempt(s): Incorrect API key provided")
    );
    assert!(!error.to_string().contains("sk-test"));
    assert_eq!(
        aigne_ci::hint::Hint::hint(&error).as_deref(),
        Some("check that the API key is valid for this provider")
    );
}

#[tokio::test]
async fn malformed_stream_is_a_protocol_error() {
    let server = FakeOpenAi::start();
    server.push(Reply::malformed_stream());
    let model = model_for(&server, "openai:gpt-4o-mini");
    let error = model
        .complete(ChatRequest {
            messages: vec![user("Hi")],
            ..ChatRequest::default()
        })
        .await
        .unwrap_err();
    assert_eq!(error.kind(), "model_protocol");
    assert!(
        error.to_string().starts_with("provider `openai` (model `gpt-4o-mini`) sent a malformed response: invalid JSON in stream chunk"),
        "{error}"
    );
}

#[tokio::test]
async fn refusal_is_an_error() {
    let server = FakeOpenAi::start();
    server.push(Reply::refusal("I can't help with that"));
    let model = model_for(&server, "openai:gpt-4o-mini");
    let error = model
        .complete(ChatRequest {
            messages: vec![user("Hi")],
            ..ChatRequest::default()
        })
        .await
        .unwrap_err();
    assert_eq!(server.request_count(), 1, "a refusal is not retried");
    assert_eq!(
        error.to_string(),
        "got refusal from LLM `gpt-4o-mini` of provider `openai`: I can't help with that"
    );
}

#[tokio::test]
async fn unreachable_provider_is_a_network_error() {
    let server = FakeOpenAi::start();
    let model = model_for(&server, "openai:gpt-4o-mini");
    server.shutdown();
    let error = model
        .complete(ChatRequest {
            messages: vec![user("Hi")],
            ..ChatRequest::default()
        })
        .await
        .unwrap_err();
    assert_eq!(error.kind(), "model_network");
    let source = error.to_string();
    assert!(
        source.starts_with(
            "request to provider `openai` (model `gpt-4o-mini`) at `http://127.0.0.1:"
        ),
        "{source}"
    );
    assert!(source.ends_with("failed after 4 attempt(s)"), "{source}");
    assert!(
        std::error::Error::source(&error).is_some(),
        "the reqwest error is chained"
    );
}

#[test]
fn missing_key_names_the_variable() {
    let registry = ModelRegistry::new(ModelSettings::from_variables(BTreeMap::new())).unwrap();
    let error = match registry.resolve(&spec("openai:gpt-4o")) {
        Err(error) => error,
        Ok(_) => panic!("resolved without a key"),
    };
    assert!(matches!(error, ModelError::MissingKey { .. }));
    assert_eq!(
        error.to_string(),
        "provider `openai` needs an API key for model `gpt-4o`: `OPENAI_API_KEY` is not set"
    );
    assert_eq!(
        registry.describe(&spec("openai:gpt-4o")).unwrap(),
        aigne_ci::model::ResolvedModel {
            provider: "openai".to_owned(),
            model: "gpt-4o".to_owned(),
            supported: true,
            missing_key: Some("OPENAI_API_KEY".to_owned()),
        }
    );
    assert_eq!(
        registry.describe(&ModelSpec::default()).unwrap(),
        aigne_ci::model::ResolvedModel {
            provider: "aignehub".to_owned(),
            model: "openai/gpt-5-mini".to_owned(),
            supported: true,
            missing_key: Some("AIGNE_HUB_API_KEY".to_owned()),
        }
    );
    let hint = aigne_ci::hint::Hint::hint(&error).unwrap();
    assert!(
        hint.starts_with("set `OPENAI_API_KEY` in the environment"),
        "{hint}"
    );
    // Nothing configured at all: the AIGNE Hub default, which needs its key (no login).
    let error = match registry.resolve(&ModelSpec::default()) {
        Err(error) => error,
        Ok(_) => panic!("resolved the hub"),
    };
    assert_eq!(
        error.to_string(),
        "provider `aignehub` needs an API key for model `openai/gpt-5-mini`: `AIGNE_HUB_API_KEY` is not set"
    );
}

#[tokio::test]
async fn model_flag_overrides_the_project_and_cli_options_win() {
    let server = FakeOpenAi::start();
    server.set_default(Reply::text("ok"));
    let mut settings = settings_for(
        &server,
        &[
            ("XAI_API_KEY", "xai-key-0000"),
            ("AIGNE_CI_TEST_BASE_URL_XAI", &server.base_url()),
        ],
    );
    settings.model_override = Some("xai:grok-3".to_owned());
    settings
        .cli_options
        .insert("temperature".to_owned(), json!(1));
    let registry = ModelRegistry::new(settings).unwrap();
    let mut project = spec("openai:gpt-4o");
    project.options.insert("temperature".to_owned(), json!(0.5));
    project
        .options
        .insert("presencePenalty".to_owned(), json!(0.1));
    let model = registry.resolve(&project).unwrap();
    assert_eq!((model.provider(), model.model()), ("xai", "grok-3"));
    let mut request = ChatRequest {
        messages: vec![user("Hi")],
        ..ChatRequest::default()
    };
    // The engine passes the project's options per call; the CLI's still win.
    request
        .model_options
        .insert("temperature".to_owned(), json!(0.5));
    model.complete(request).await.unwrap();
    let body = &server.bodies()[0];
    assert_eq!(body["model"], "grok-3");
    assert_eq!(body["temperature"], json!(1));
    assert_eq!(body["presence_penalty"], json!(0.1));
}

#[tokio::test]
async fn dotenv_files_supply_keys_with_dotenv_flow_precedence() {
    let server = FakeOpenAi::start();
    server.set_default(Reply::text("ok"));
    let cwd = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    fs_err::write(
        cwd.path().join(".env"),
        format!(
            "OPENAI_API_KEY=from-cwd\nOPENAI_BASE_URL={}\n",
            server.base_url()
        ),
    )
    .unwrap();
    fs_err::write(
        project.path().join(".env"),
        "OPENAI_API_KEY=from-project\nMODEL=openai:gpt-4.1\n",
    )
    .unwrap();
    let environment = aigne_ci::settings::Environment::from_variables(
        variables(&[("AIGNE_CI_TEST_NO_RETRY_DELAY", "1")]),
        cwd.path().to_path_buf(),
    );
    #[derive(clap::Parser)]
    struct Flags {
        #[command(flatten)]
        model: aigne_ci::cli::ModelArgs,
    }
    let args = <Flags as clap::Parser>::try_parse_from(["aigne-ci"])
        .unwrap()
        .model;
    let settings = aigne_ci::plan::model_settings(&args, &environment, project.path()).unwrap();
    assert_eq!(settings.model_override.as_deref(), Some("openai:gpt-4.1"));
    let registry = ModelRegistry::new(settings).unwrap();
    let model = registry.resolve(&spec("openai:gpt-4o")).unwrap();
    assert_eq!(model.model(), "gpt-4.1");
    model
        .complete(ChatRequest {
            messages: vec![user("Hi")],
            ..ChatRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(
        server.requests()[0].header("authorization"),
        Some("Bearer from-cwd")
    );
}

#[tokio::test]
async fn record_then_replay_without_network_or_key() {
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("cassette.jsonl");
    let server = FakeOpenAi::start();
    server.push(Reply::tool_calls([FakeToolCall::new(
        "call_1",
        "get_weather",
        json!({"city": "Oslo"}),
    )]));
    server.push(Reply::text("Sunny in Oslo, and the key is sk-test-123456").usage(30, 8));
    server.push(Reply::text("Sunny again"));
    let mut settings = settings_for(&server, &[]);
    settings.record = Some(cassette.clone());
    let registry = ModelRegistry::new(settings).unwrap();
    let model = registry.resolve(&spec("gpt-4o")).unwrap();
    let first = ChatRequest {
        messages: vec![user("Weather in Oslo?")],
        tools: vec![weather_tool()],
        case_label: Some("oslo".to_owned()),
        ..ChatRequest::default()
    };
    let recorded_1 = model.complete(first.clone()).await.unwrap();
    let mut second = first.clone();
    second.messages.push(ChatMessage {
        role: Role::Agent,
        content: None,
        tool_calls: recorded_1.tool_calls.clone(),
        tool_call_id: None,
        name: None,
    });
    second.messages.push(ChatMessage {
        role: Role::Tool,
        content: Some(Content::Text("sunny".to_owned())),
        tool_calls: Vec::new(),
        tool_call_id: Some("call_1".to_owned()),
        name: None,
    });
    let recorded_2 = model.complete(second.clone()).await.unwrap();
    let recorded_3 = model.complete(second.clone()).await.unwrap();
    server.shutdown();
    drop(registry);

    let text = fs_err::read_to_string(&cassette).unwrap();
    assert_eq!(text.lines().count(), 3);
    assert!(!text.contains("sk-test-123456"), "{text}");
    assert!(!text.to_lowercase().contains("authorization"), "{text}");
    let line: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(line["provider"], "openai");
    assert_eq!(line["path"], "/v1/chat/completions");
    assert_eq!(line["case"], "oslo");
    assert_eq!(line["status"], 200);

    // Replay: no key, no server; a base URL still names the path.
    let mut settings =
        ModelSettings::from_variables(variables(&[("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")]))
            .without_retry_delays();
    settings.replay = Some(cassette.clone());
    let registry = ModelRegistry::new(settings).unwrap();
    let model = registry.resolve(&spec("gpt-4o")).unwrap();
    assert_eq!(model.complete(first.clone()).await.unwrap(), recorded_1);
    let replayed_2 = model.complete(second.clone()).await.unwrap();
    assert_eq!(
        replayed_2.text.as_deref(),
        Some("Sunny in Oslo, and the key is ****")
    );
    assert_eq!(replayed_2.usage, recorded_2.usage);
    assert_eq!(model.complete(second.clone()).await.unwrap(), recorded_3);

    let mut other = first.clone();
    other.messages[0] = user("Weather in Rome?");
    other.case_label = Some("rome".to_owned());
    let error = model.complete(other).await.unwrap_err();
    assert_eq!(error.kind(), "cassette_miss");
    assert_eq!(
        error.to_string(),
        format!(
            "no recorded answer in cassette `{}` for case `rome` (openai /v1/chat/completions): closest recorded request differs at `/messages/0/content`: recorded \"Weather in Oslo?\", now \"Weather in Rome?\"",
            cassette.display()
        )
    );
}

#[tokio::test]
async fn concurrent_recording_writes_whole_lines() {
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("c.jsonl");
    let server = FakeOpenAi::start();
    server.set_handler(|request| {
        Reply::text(
            &request.body["messages"][0]["content"]
                .as_str()
                .unwrap()
                .repeat(200),
        )
    });
    let mut settings = settings_for(&server, &[]);
    settings.record = Some(cassette.clone());
    let registry = ModelRegistry::new(settings).unwrap();
    let model = registry.resolve(&spec("openai:gpt-4o-mini")).unwrap();
    let calls = (0..16).map(|index| {
        let model = model.clone();
        tokio::spawn(async move {
            model
                .complete(ChatRequest {
                    messages: vec![user(&format!("case-{index}"))],
                    ..ChatRequest::default()
                })
                .await
                .unwrap()
        })
    });
    for call in futures::future::join_all(calls).await {
        call.unwrap();
    }
    let text = fs_err::read_to_string(&cassette).unwrap();
    let mut seen: Vec<String> = text
        .lines()
        .map(|line| {
            let line: Value = serde_json::from_str(line).unwrap();
            line["request"]["messages"][0]["content"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    seen.sort();
    let mut expected: Vec<String> = (0..16).map(|index| format!("case-{index}")).collect();
    expected.sort();
    assert_eq!(seen, expected);
}

// --- conformance with the official runtime ---------------------------------------------------

/// The official AIGNE install to compare with: `AIGNE_CI_REF_AIGNE` or `/work/ref-aigne`, used
/// only when it holds `@aigne/openai` and `node` runs.
fn reference_install() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("AIGNE_CI_REF_AIGNE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from("/work/ref-aigne"));
    let has_packages = ["openai", "deepseek", "poe", "xai", "ollama"]
        .iter()
        .all(|name| {
            dir.join("node_modules/@aigne")
                .join(name)
                .join("package.json")
                .is_file()
        });
    let has_node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    (has_packages && has_node).then_some(dir)
}

/// An AIGNE `ChatModelInput` as our [`ChatRequest`].
fn request_from_aigne(input: &Value) -> ChatRequest {
    let content = |value: &Value| -> Option<Content> {
        match value {
            Value::String(text) => Some(Content::Text(text.clone())),
            Value::Array(parts) => Some(Content::Parts(
                parts
                    .iter()
                    .map(|part| match part["type"].as_str().unwrap() {
                        "text" => ContentPart::Text {
                            text: part["text"].as_str().unwrap().to_owned(),
                        },
                        "url" => ContentPart::Url {
                            url: part["url"].as_str().unwrap().to_owned(),
                            mime_type: part["mimeType"].as_str().map(str::to_owned),
                            filename: None,
                        },
                        "file" => ContentPart::File {
                            data: part["data"].as_str().unwrap().to_owned(),
                            mime_type: part["mimeType"].as_str().map(str::to_owned),
                            filename: None,
                        },
                        other => panic!("part type {other}"),
                    })
                    .collect(),
            )),
            _ => None,
        }
    };
    let messages = input["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|message| ChatMessage {
            role: serde_json::from_value(message["role"].clone()).unwrap(),
            content: content(&message["content"]),
            tool_calls: message["toolCalls"]
                .as_array()
                .map(|calls| {
                    calls
                        .iter()
                        .map(|call| ToolCall {
                            id: call["id"].as_str().unwrap().to_owned(),
                            name: call["function"]["name"].as_str().unwrap().to_owned(),
                            arguments: call["function"]["arguments"].clone(),
                            metadata: None,
                        })
                        .collect()
                })
                .unwrap_or_default(),
            tool_call_id: message["toolCallId"].as_str().map(str::to_owned),
            name: message["name"].as_str().map(str::to_owned),
        })
        .collect();
    let tools = input["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .map(|tool| ToolDefinition {
                    name: tool["function"]["name"].as_str().unwrap().to_owned(),
                    description: tool["function"]["description"].as_str().map(str::to_owned),
                    parameters: tool["function"]["parameters"].clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    let tool_choice = match &input["toolChoice"] {
        Value::String(choice) => Some(serde_json::from_value(json!(choice)).unwrap()),
        Value::Object(choice) => Some(ToolChoice::Function(
            choice["function"]["name"].as_str().unwrap().to_owned(),
        )),
        _ => None,
    };
    let response_format = match input["responseFormat"]["type"].as_str() {
        Some("json_schema") => {
            let schema = &input["responseFormat"]["jsonSchema"];
            Some(ResponseFormat::JsonSchema {
                name: schema["name"].as_str().unwrap().to_owned(),
                description: schema["description"].as_str().map(str::to_owned),
                schema: schema["schema"].clone(),
                strict: schema["strict"].as_bool().unwrap_or(false),
            })
        }
        _ => None,
    };
    ChatRequest {
        messages,
        tools,
        tool_choice,
        response_format,
        model_options: input["modelOptions"]
            .as_object()
            .cloned()
            .unwrap_or_default(),
        case_label: None,
    }
}

/// The parts of an answer both runtimes produce, in AIGNE's output shape.
fn comparable(output: &Value) -> Value {
    json!({
        "text": output["text"],
        "json": output["json"],
        "toolCalls": output["toolCalls"].as_array().map(|calls| calls.iter().map(|call| json!({
            "id": call["id"], "name": call["function"]["name"], "arguments": call["function"]["arguments"]
        })).collect::<Vec<_>>()),
        "usage": output["usage"].as_object().map(|usage| json!({"inputTokens": usage["inputTokens"], "outputTokens": usage["outputTokens"]})),
        "model": output["model"],
    })
}

fn ours_as_aigne(response: &ChatResponse) -> Value {
    json!({
        "text": response.text,
        "json": response.json,
        "toolCalls": (!response.tool_calls.is_empty()).then(|| response.tool_calls.iter().map(|call| json!({
            "id": call.id, "function": {"name": call.name, "arguments": call.arguments}
        })).collect::<Vec<_>>()),
        "usage": {"inputTokens": response.usage.input_tokens, "outputTokens": response.usage.output_tokens},
        "model": response.model,
    })
}

#[tokio::test]
async fn request_bodies_equal_the_official_runtime() {
    let Some(reference) = reference_install() else {
        crate::common::skip("node or the official AIGNE install (AIGNE_CI_REF_AIGNE) is missing");
        return;
    };
    let schema = json!({
        "type": "object",
        "properties": {"answer": {"type": "string"}, "score": {"type": "number"}, "tags": {"type": "array", "items": {"type": "string"}}},
        "required": ["answer"],
        "additionalProperties": false
    });
    let json_schema = json!({"type": "json_schema", "jsonSchema": {"name": "output", "schema": schema, "strict": true}});
    let weather = json!({"type": "function", "function": {"name": "get-weather", "description": "Weather of a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}});
    let noop = json!({"type": "function", "function": {"name": "noop", "parameters": {}}});
    // (provider, model, input, replies)
    let cases: Vec<(&str, &str, Value, Vec<Reply>)> = vec![
        (
            "openai",
            "gpt-4o-mini",
            json!({"messages": [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Hi"}],
                   "modelOptions": {"temperature": 0.2, "topP": 1, "frequencyPenalty": 0.5, "presencePenalty": -0.5, "reasoningEffort": 2000}}),
            vec![Reply::text("Hello there").usage(12, 3)],
        ),
        (
            "openai",
            "gpt-4o",
            json!({"messages": [
                    {"role": "user", "content": "Weather?"},
                    {"role": "agent", "toolCalls": [{"id": "call_0", "type": "function", "function": {"name": "get-weather", "arguments": {"city": "Paris"}}}]},
                    {"role": "tool", "toolCallId": "call_0", "content": [{"type": "text", "text": "temperature: 20\n"}]}
                  ],
                  "tools": [weather], "toolChoice": "auto", "modelOptions": {"parallelToolCalls": true}}),
            vec![
                Reply::tool_calls([
                    FakeToolCall::new("call_a", "get_weather", json!({"city": "Oslo"})),
                    FakeToolCall::new("call_b", "get_weather", json!({"city": "Rome"})),
                ])
                .fragments(3),
            ],
        ),
        (
            "openai",
            "gpt-4o-mini",
            json!({"messages": [{"role": "user", "content": "Answer?"}], "responseFormat": json_schema}),
            vec![Reply::json(
                json!({"answer": "42", "score": null, "tags": "[\"a\"]"}),
            )],
        ),
        (
            "deepseek",
            "deepseek-chat",
            json!({"messages": [{"role": "user", "content": "Answer?"}], "tools": [noop], "responseFormat": json_schema}),
            vec![Reply::text("```json\n{\"answer\": \"yes\"}\n```")],
        ),
        (
            "openai",
            "gpt-4o-mini",
            json!({"messages": [{"role": "user", "content": "Answer?"}], "tools": [weather], "toolChoice": "auto", "responseFormat": json_schema}),
            vec![
                Reply::text("The answer is yes").usage(10, 5),
                Reply::json(json!({"answer": "yes"})).usage(20, 7),
            ],
        ),
        (
            "openai",
            "gpt-5-mini",
            json!({"messages": [{"role": "user", "content": "Use the tool"}], "tools": [weather],
                   "toolChoice": weather,
                   "modelOptions": {"temperature": 0.7, "topP": 0.9, "presencePenalty": 0.1, "reasoningEffort": "low"}}),
            vec![Reply::tool_calls([FakeToolCall::new(
                "call_z",
                "get_weather",
                json!({"city": "Lima"}),
            )])],
        ),
        (
            "poe",
            "gpt-5-mini",
            json!({"messages": [{"role": "user", "content": [
                    {"type": "text", "text": "What is in the picture?"},
                    {"type": "url", "url": "https://example.com/cat.png"},
                    {"type": "file", "data": "aGVsbG8=", "mimeType": "image/jpeg"}
                  ]}],
                  "tools": [weather], "modelOptions": {"parallelToolCalls": false, "preferInputFileType": "url"}}),
            vec![Reply::text("A cat").reasoning("looking")],
        ),
        (
            "openai",
            "gpt-4o-mini",
            json!({"messages": [{"role": "user", "content": "Bad idea"}]}),
            vec![Reply::refusal("I can't help with that")],
        ),
        (
            "openai",
            "gpt-4o",
            json!({"messages": [{"role": "user", "content": [
              {"type": "text", "text": "Describe"},
              {"type": "url", "url": "http://FILES/files/cat.png"},
              {"type": "url", "url": "http://FILES/files/photo", "mimeType": "image/webp"}
            ]}]}),
            vec![Reply::text("A cat")],
        ),
        (
            "openai",
            "o3-mini",
            json!({"messages": [{"role": "user", "content": "Plan"}], "tools": [weather],
                   "modelOptions": {"temperature": 1, "topP": 0.5, "parallelToolCalls": false}}),
            vec![Reply::text("done")],
        ),
        (
            "deepseek",
            "deepseek-reasoner",
            json!({"messages": [{"role": "system", "content": "Réponds en français 🎉 </script> \u{2028} \\ \"q\""}, {"role": "user", "content": "Ça va?"}],
                   "responseFormat": json_schema}),
            vec![Reply::json(json!({"answer": "Oui ✓", "tags": ["a"]}))],
        ),
        (
            "xai",
            "grok-4-latest",
            json!({"messages": [{"role": "user", "content": "Weather?"}], "tools": [weather]}),
            vec![
                Reply::tool_calls([FakeToolCall::new(
                    "call_x",
                    "get_weather",
                    json!({"city": "Oslo"}),
                )])
                .whole_tool_calls(),
            ],
        ),
        (
            "ollama",
            "llama3.2",
            json!({"messages": [{"role": "user", "content": "Hi"}], "modelOptions": {"temperature": 0}}),
            vec![Reply::text("Hi!")],
        ),
    ];

    // The official runtime, against its own fake server.
    let official = FakeOpenAi::start();
    let with_files = |input: &Value, server: &FakeOpenAi| -> Value {
        serde_json::from_str(&input.to_string().replace("http://FILES", &server.url())).unwrap()
    };
    let png: &[u8] = b"\x89PNG fake image";
    official.serve_file("/files/cat.png", "image/png", png);
    official.serve_file("/files/photo", "application/octet-stream", b"webp bytes");
    let dir = tempfile::tempdir().unwrap();
    let cases_file = dir.path().join("cases.json");
    let listed: Vec<Value> = cases
        .iter()
.map(|(provider, model, input, _)| json!({"provider": provider, "model": model, "input": with_files(input, &official)}))
        .collect();
    fs_err::write(&cases_file, serde_json::to_string(&listed).unwrap()).unwrap();
    for (_, _, _, replies) in &cases {
        official.push_all(replies.clone());
    }
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/conformance/openai_reference.cjs");
    let ran = std::process::Command::new("node")
        .arg(&script)
        .arg(&reference)
        .arg(&cases_file)
        .arg(official.base_url())
        .env_remove("OPENAI_BASE_URL")
        .output()
        .unwrap();
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let official_outputs: Vec<Value> = String::from_utf8(ran.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(official_outputs.len(), cases.len());

    // Ours, against another.
    let ours = FakeOpenAi::start();
    ours.serve_file("/files/cat.png", "image/png", png);
    ours.serve_file("/files/photo", "application/octet-stream", b"webp bytes");
    for (_, _, _, replies) in &cases {
        ours.push_all(replies.clone());
    }
    let base = ours.base_url();
    let settings = settings_for(
        &ours,
        &[
            ("DEEPSEEK_API_KEY", "sk-conformance"),
            ("POE_API_KEY", "sk-conformance"),
            ("XAI_API_KEY", "sk-conformance"),
            ("OLLAMA_API_KEY", "sk-conformance"),
            ("AIGNE_CI_TEST_BASE_URL_DEEPSEEK", &base),
            ("AIGNE_CI_TEST_BASE_URL_POE", &base),
            ("AIGNE_CI_TEST_BASE_URL_XAI", &base),
            ("AIGNE_CI_TEST_BASE_URL_OLLAMA", &base),
        ],
    );
    let registry = ModelRegistry::new(settings).unwrap();
    for ((provider, model, input, _), official_output) in cases.iter().zip(&official_outputs) {
        let chat_model = registry
            .resolve(&spec(&format!("{provider}:{model}")))
            .unwrap();
        let result = chat_model
            .complete(request_from_aigne(&with_files(input, &ours)))
            .await;
        match (&official_output.get("error"), result) {
            (Some(error), Err(ours)) => {
                let error = error.as_str().unwrap();
                let kind = if error.starts_with("Got refusal from LLM") {
                    "model_refusal"
                } else if error.contains("not found in tools map") {
                    "structured_output"
                } else {
                    panic!("official error {error}")
                };
                assert_eq!(ours.kind(), kind, "{ours} / {error}");
            }
            (None, Ok(response)) => {
                assert_eq!(
                    comparable(&ours_as_aigne(&response)),
                    comparable(&official_output["output"]),
                    "{input}"
                );
            }
            (official_error, ours) => panic!("{input}: official {official_error:?}, ours {ours:?}"),
        }
    }

    let official_requests = official.requests();
    let our_requests = ours.requests();
    assert_eq!(our_requests.len(), official_requests.len());
    // The official runtime downloads a message's files concurrently (`Promise.all`), so the order
    // of those GETs varies between runs: compare them as sorted lists, and the model calls in
    // order.
    let file_paths = |requests: &[crate::common::fake_openai::RecordedRequest]| {
        let mut paths: Vec<String> = requests
            .iter()
            .filter(|request| request.method == "GET")
            .map(|request| request.path.clone())
            .collect();
        paths.sort();
        paths
    };
    assert_eq!(file_paths(&our_requests), file_paths(&official_requests));
    let official_calls = official_requests
        .iter()
        .filter(|request| request.method != "GET");
    let our_calls: Vec<_> = our_requests
        .iter()
        .filter(|request| request.method != "GET")
        .collect();
    for (official_request, our_request) in official_calls.zip(our_calls) {
        assert_eq!(our_request.path, official_request.path);
        // Byte-for-byte: same fields, same order, same number formatting.
        assert_eq!(our_request.raw_body, official_request.raw_body);
    }
    // `url` parts were downloaded and inlined, with the type from the name or the part.
    assert!(our_requests.iter().any(|request| request.method == "GET"));
    let inlined = our_requests
        .iter()
        .find(|request| request.raw_body.contains("Describe"))
        .unwrap();
    assert!(
        inlined
            .raw_body
            .contains("data:image/png;base64,iVBORyBmYWtlIGltYWdl")
            && inlined
                .raw_body
                .contains("data:image/webp;base64,d2VicCBieXRlcw=="),
        "{}",
        inlined.raw_body
    );
}

#[tokio::test]
async fn url_parts_are_downloaded_recorded_and_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("files.jsonl");
    let server = FakeOpenAi::start();
    server.serve_file("/img/a.jpg", "image/jpeg", b"jpeg!");
    server.push(Reply::text("a picture"));
    let request = ChatRequest {
        messages: vec![ChatMessage {
            role: Role::User,
            content: Some(Content::Parts(vec![ContentPart::Url {
                url: format!("{}/img/a.jpg", server.url()),
                mime_type: None,
                filename: None,
            }])),
            tool_calls: Vec::new(),
            tool_call_id: None,
            name: None,
        }],
        case_label: Some("img".to_owned()),
        ..ChatRequest::default()
    };
    let mut settings = settings_for(&server, &[]);
    settings.record = Some(cassette.clone());
    let model = ModelRegistry::new(settings)
        .unwrap()
        .resolve(&spec("openai:gpt-4o"))
        .unwrap();
    let recorded = model.complete(request.clone()).await.unwrap();
    let bodies = server.bodies();
    assert_eq!(
        bodies.last().unwrap()["messages"][0]["content"],
        json!([{"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,anBlZyE="}}])
    );
    server.shutdown();
    let mut settings = ModelSettings::from_variables(BTreeMap::new());
    settings.replay = Some(cassette);
    let model = ModelRegistry::new(settings)
        .unwrap()
        .resolve(&spec("openai:gpt-4o"))
        .unwrap();
    assert_eq!(model.complete(request).await.unwrap(), recorded);
}
