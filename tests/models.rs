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
