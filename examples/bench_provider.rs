//! A minimal OpenAI-compatible streaming provider for `bench/batch.sh`. Not part of aigne-ci.
//!
//! `bench_provider PORT LATENCY_FILE`: answers every `POST .../chat/completions` with a two-chunk
//! SSE stream after the latency (milliseconds) read from LATENCY_FILE on each request, so one
//! server serves both the throughput and the memory run. A request asking for structured output
//! (a judge) gets the JSON grade `{"pass": true, "score": 1, "reason": "ok"}` instead of `ok`.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use axum::{Router, extract::State, http::header, response::IntoResponse, routing::post};

const BODY: &str = concat!(
    r#"data: {"id":"b","object":"chat.completion.chunk","created":0,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}]}"#,
    "\n\n",
    r#"data: {"id":"b","object":"chat.completion.chunk","created":0,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}"#,
    "\n\ndata: [DONE]\n\n"
);

const GRADE_BODY: &str = concat!(
    r#"data: {"id":"b","object":"chat.completion.chunk","created":0,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"{\"pass\":true,\"score\":1,\"reason\":\"ok\"}"},"finish_reason":"stop"}]}"#,
    "\n\n",
    r#"data: {"id":"b","object":"chat.completion.chunk","created":0,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}"#,
    "\n\ndata: [DONE]\n\n"
);

async fn answer(State(latency_file): State<Arc<PathBuf>>, body: String) -> impl IntoResponse {
    let latency_ms: u64 = tokio::fs::read_to_string(latency_file.as_ref())
        .await
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(0);
    if latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(latency_ms)).await;
    }
    let reply = if body.contains("\"response_format\"") {
        GRADE_BODY
    } else {
        BODY
    };
    ([(header::CONTENT_TYPE, "text/event-stream")], reply)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args
        .next()
        .ok_or("usage: bench_provider PORT LATENCY_FILE")?
        .parse()?;
    let latency_file = PathBuf::from(
        args.next()
            .ok_or("usage: bench_provider PORT LATENCY_FILE")?,
    );
    let app = Router::new()
        .fallback(post(answer))
        .with_state(Arc::new(latency_file));
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
