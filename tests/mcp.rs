//! MCP client against real rmcp servers: the `mcp_test_server` example over stdio, and the same
//! server over streamable HTTP on 127.0.0.1.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aigne_ci::engine::mcp::{
    McpConnection, McpError, McpHttpTransport, McpPool, McpServerSpec, McpSettings,
};
use aigne_ci::process::SubprocessLog;
use pretty_assertions::assert_eq;
use serde_json::{Map, Value, json};

use crate::common::mcp_server::{SERVER_NAME, TestServer};

/// The stdio test server, built by cargo next to the binary under test (`examples/`).
pub(crate) fn test_server_binary() -> PathBuf {
    let binary = crate::common::binary();
    let path = binary
        .parent()
        .map(|dir| dir.join("examples").join("mcp_test_server"))
        .unwrap_or_default();
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build --examples` (cargo test and nextest do)",
        path.display()
    );
    path
}

/// A stdio spec for the test server that writes its pid to `pid_file`.
pub(crate) fn stdio_spec(pid_file: &Path) -> McpServerSpec {
    let mut spec = McpServerSpec::stdio(test_server_binary().display().to_string(), Vec::new());
    spec.env.insert(
        "MCP_TEST_PID_FILE".to_owned(),
        pid_file.display().to_string(),
    );
    spec
}

fn settings() -> McpSettings {
    McpSettings {
        no_retry_delay: true,
        ..McpSettings::default()
    }
}

fn arguments(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Whether a process is alive (a zombie counts as gone).
pub(crate) fn alive(pid: u32) -> bool {
    match fs_err::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Waits (bounded) until the process is gone; true when it is.
pub(crate) fn gone_soon(pid: u32) -> bool {
    for _ in 0..100 {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn read_pid(path: &Path) -> u32 {
    fs_err::read_to_string(path)
        .expect("the test server wrote its pid")
        .trim()
        .parse()
        .expect("a pid")
}

#[tokio::test]
async fn stdio_server_lists_tools_and_answers_calls() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let connection = McpConnection::connect(
        &stdio_spec(&pid_file),
        &settings(),
        &SubprocessLog::default(),
    )
    .await
    .unwrap();
    let pid = read_pid(&pid_file);
    assert!(alive(pid));
    assert_eq!(connection.server_name(), Some(SERVER_NAME));
    assert_eq!(connection.server_version(), Some("1.2.3"));

    let mut names: Vec<&str> = connection
        .tools()
        .iter()
        .map(|tool| tool.name.as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        vec![
            "add",
            "crash",
            "echo",
            "env",
            "fail",
            "hang",
            "ping",
            "spawn_child"
        ]
    );
    let echo = connection
        .tools()
        .iter()
        .find(|tool| tool.name == "echo")
        .unwrap();
    assert_eq!(echo.description.as_deref(), Some("Echo the text back"));
    assert_eq!(echo.input_schema["type"], json!("object"));
    assert_eq!(
        echo.input_schema["properties"]["text"]["type"],
        json!("string")
    );
    assert_eq!(echo.input_schema["required"], json!(["text"]));
    // No properties ⇒ `{}`, as AIGNE's toolFromMCPTool.
    let ping = connection
        .tools()
        .iter()
        .find(|tool| tool.name == "ping")
        .unwrap();
    assert_eq!(ping.input_schema, json!({}));

    let result = connection
        .call("echo", arguments(json!({"text": "héllo"})))
        .await
        .unwrap();
    assert_eq!(
        result,
        json!({"content": [{"type": "text", "text": "héllo"}], "isError": false})
    );
    let result = connection
        .call("add", arguments(json!({"a": 2, "b": 40})))
        .await
        .unwrap();
    assert_eq!(result["content"][0]["text"], json!("42"));
    // A tool error is a result, not an error (AIGNE passes it to the model).
    let result = connection.call("fail", Map::new()).await.unwrap();
    assert_eq!(
        result,
        json!({"content": [{"type": "text", "text": "it failed on purpose"}], "isError": true})
    );

    connection.shutdown().await;
    assert!(gone_soon(pid), "server {pid} still running after shutdown");
    let error = connection.call("ping", Map::new()).await.unwrap_err();
    assert!(matches!(error, McpError::ShutDown { .. }), "{error:?}");
}

#[tokio::test]
async fn stdio_server_gets_only_safe_variables_and_its_env() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = stdio_spec(&dir.path().join("pid"));
    spec.env.insert("GREETING".to_owned(), "bonjour".to_owned());
    spec.cwd = Some(dir.path().to_path_buf());
    let mut inherited = BTreeMap::new();
    inherited.insert("PATH".to_owned(), "/usr/bin:/bin".to_owned());
    let settings = McpSettings {
        inherited_env: inherited,
        ..settings()
    };
    let connection = McpConnection::connect(&spec, &settings, &SubprocessLog::default())
        .await
        .unwrap();
    let text = |result: Value| result["content"][0]["text"].as_str().unwrap().to_owned();
    let greeting = connection
        .call("env", arguments(json!({"name": "GREETING"})))
        .await
        .unwrap();
    assert_eq!(text(greeting), "bonjour");
    let path = connection
        .call("env", arguments(json!({"name": "PATH"})))
        .await
        .unwrap();
    assert_eq!(text(path), "/usr/bin:/bin");
    // The test process has CARGO_* variables; the server must not see them.
    let leaked = connection
        .call("env", arguments(json!({"name": "CARGO_PKG_NAME"})))
        .await
        .unwrap();
    assert_eq!(text(leaked), "<unset>");
    connection.shutdown().await;
}

#[tokio::test]
async fn a_server_that_dies_mid_call_is_an_error_naming_server_and_tool() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let spec = stdio_spec(&pid_file);
    let connection = McpConnection::connect(&spec, &settings(), &SubprocessLog::default())
        .await
        .unwrap();
    let pid = read_pid(&pid_file);
    let error = connection.call("crash", Map::new()).await.unwrap_err();
    let McpError::Closed {
        server,
        method,
        tool,
        stderr,
    } = &error
    else {
        panic!("expected Closed, got {error:?}");
    };
    assert_eq!(server, &spec.label());
    assert_eq!(*method, "tools/call");
    assert_eq!(tool.as_deref(), Some("crash"));
    assert!(stderr.contains("crashing on purpose"), "{stderr}");
    assert!(
        error
            .to_string()
            .contains("closed the connection during `tools/call` for tool `crash`"),
        "{error}"
    );
    // Later calls fail fast too (AIGNE does not restart stdio servers).
    let again = connection.call("ping", Map::new()).await.unwrap_err();
    assert!(matches!(again, McpError::Closed { .. }), "{again:?}");
    connection.shutdown().await;
    assert!(gone_soon(pid));
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let cancelled_file = dir.path().join("cancelled");
    let mut spec = stdio_spec(&pid_file);
    spec.env.insert(
        "MCP_TEST_CANCELLED_FILE".to_owned(),
        cancelled_file.display().to_string(),
    );
    let settings = McpSettings {
        request_timeout: Duration::from_millis(300),
        ..settings()
    };
    let connection = McpConnection::connect(&spec, &settings, &SubprocessLog::default())
        .await
        .unwrap();
    let pid = read_pid(&pid_file);
    let error = connection.call("hang", Map::new()).await.unwrap_err();
    assert!(matches!(error, McpError::Timeout { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!(
            "the MCP server `{}` did not answer `tools/call` for tool `hang` within 300ms",
            spec.label()
        )
    );
    // The connection stays usable after a timed-out call.
    let result = connection.call("ping", Map::new()).await.unwrap();
    assert_eq!(result["content"][0]["text"], json!("pong"));
    // The server was told to stop the timed-out call (`notifications/cancelled`, as AIGNE's SDK
    // sends on timeout).
    for _ in 0..100 {
        if cancelled_file.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        cancelled_file.exists(),
        "the server never saw the cancellation"
    );
    connection.shutdown().await;
    assert!(gone_soon(pid));
}

#[tokio::test]
async fn deny_exec_refuses_stdio_servers() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let settings = McpSettings {
        deny_exec: true,
        ..settings()
    };
    let error =
        McpConnection::connect(&stdio_spec(&pid_file), &settings, &SubprocessLog::default())
            .await
            .unwrap_err();
    assert!(matches!(error, McpError::DenyExec { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .starts_with("refusing to start the stdio MCP server `"),
        "{error}"
    );
    assert!(!pid_file.exists(), "nothing may be started");
}

#[tokio::test]
async fn a_missing_command_is_a_spawn_error() {
    let spec = McpServerSpec::stdio("aigne-ci-no-such-mcp-server", vec!["--x".to_owned()]);
    let error = McpConnection::connect(&spec, &settings(), &SubprocessLog::default())
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "could not start the MCP server `aigne-ci-no-such-mcp-server --x`"
    );
}

#[tokio::test]
async fn a_dropped_pool_kills_servers_and_their_children() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let spec = stdio_spec(&pid_file);
    let log = SubprocessLog::default();
    let pool = McpPool::new(settings(), log.clone());
    let connection = pool.connect(&spec).await.unwrap();
    let again = pool.connect(&spec).await.unwrap();
    assert!(
        Arc::ptr_eq(&connection, &again),
        "one connection per server"
    );
    assert_eq!(pool.started_stdio_servers(), vec![spec.label()]);
    let pid = read_pid(&pid_file);
    let records = log.records();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].purpose, "mcp-server");
    assert_eq!(records[0].program, test_server_binary());
    assert_eq!(records[0].pid, Some(pid));
    let result = connection.call("spawn_child", Map::new()).await.unwrap();
    let child: u32 = result["content"][0]["text"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(alive(pid) && alive(child));
    // Cancellation: nothing is shut down explicitly.
    drop((connection, again, pool));
    assert!(gone_soon(pid), "server {pid} outlived its pool");
    assert!(gone_soon(child), "grandchild {child} outlived its server");
}

#[tokio::test]
async fn pool_shutdown_ends_every_server() {
    let dir = tempfile::tempdir().unwrap();
    let first_pid = dir.path().join("first");
    let second_pid = dir.path().join("second");
    let first = stdio_spec(&first_pid);
    let mut second = stdio_spec(&second_pid);
    second.args.push("--second".to_owned());
    let pool = McpPool::new(settings(), SubprocessLog::default());
    let (a, b) = tokio::join!(pool.connect(&first), pool.connect(&second));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(!Arc::ptr_eq(&a, &b));
    let mut started = pool.started_stdio_servers();
    started.sort();
    let mut expected = vec![first.label(), second.label()];
    expected.sort();
    assert_eq!(started, expected);
    let pids = [read_pid(&first_pid), read_pid(&second_pid)];
    pool.shutdown().await;
    for pid in pids {
        assert!(gone_soon(pid), "server {pid} still running");
    }
}

/// Serves [`TestServer`] over streamable HTTP on 127.0.0.1 (`addr` 0 = any port) until the token
/// is cancelled.
pub(crate) async fn serve_http(
    addr: std::net::SocketAddr,
    token: tokio_util::sync::CancellationToken,
) -> std::net::SocketAddr {
    serve_http_requiring(addr, token, None).await
}

/// [`serve_http`], answering 401 to requests without this `Authorization` header.
pub(crate) async fn serve_http_requiring(
    addr: std::net::SocketAddr,
    token: tokio_util::sync::CancellationToken,
    authorization: Option<&'static str>,
) -> std::net::SocketAddr {
    use axum::response::IntoResponse;
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    };
    let service: StreamableHttpService<TestServer, LocalSessionManager> =
        StreamableHttpService::new(
            || Ok(TestServer::default()),
            Default::default(),
            StreamableHttpServerConfig::default()
                .with_sse_keep_alive(None)
                .with_cancellation_token(token.child_token()),
        );
    let router =
        axum::Router::new()
            .nest_service("/mcp", service)
            .layer(axum::middleware::from_fn(
                move |request: axum::extract::Request, next: axum::middleware::Next| async move {
                    let given = request
                        .headers()
                        .get("authorization")
                        .and_then(|value| value.to_str().ok());
                    match authorization {
                        Some(required) if given != Some(required) => {
                            axum::http::StatusCode::UNAUTHORIZED.into_response()
                        }
                        _ => next.run(request).await,
                    }
                },
            ));
    crate::common::server::Loopback::serve_until(addr, router, token).detach()
}

#[tokio::test]
async fn http_server_answers_and_is_reconnected_after_a_restart() {
    let token = tokio_util::sync::CancellationToken::new();
    let addr = serve_http("127.0.0.1:0".parse().unwrap(), token.clone()).await;
    let url = format!("http://user:pw@{addr}/mcp");
    let spec = McpServerSpec::http(url, McpHttpTransport::StreamableHttp);
    assert_eq!(spec.label(), format!("http://user:****@{addr}/mcp"));
    let connection = McpConnection::connect(&spec, &settings(), &SubprocessLog::default())
        .await
        .unwrap();
    assert!(!connection.is_stdio());
    assert_eq!(connection.server_name(), Some(SERVER_NAME));
    assert_eq!(connection.tools().len(), 8);
    let result = connection
        .call("add", arguments(json!({"a": 1, "b": 2})))
        .await
        .unwrap();
    assert_eq!(
        result,
        json!({"content": [{"type": "text", "text": "3"}], "isError": false})
    );

    // The server restarts on the same port: its sessions are gone.
    token.cancel();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let token = tokio_util::sync::CancellationToken::new();
    serve_http(addr, token.clone()).await;
    let result = connection
        .call("echo", arguments(json!({"text": "back"})))
        .await
        .unwrap();
    assert_eq!(result["content"][0]["text"], json!("back"));
    connection.shutdown().await;
    token.cancel();
}

#[tokio::test]
async fn http_server_that_is_down_fails_after_bounded_reconnects() {
    let token = tokio_util::sync::CancellationToken::new();
    let addr = serve_http("127.0.0.1:0".parse().unwrap(), token.clone()).await;
    let mut spec = McpServerSpec::http(
        format!("http://{addr}/mcp"),
        McpHttpTransport::StreamableHttp,
    );
    spec.max_reconnects = Some(2);
    spec.reconnect_timeout = Some(Duration::from_secs(2));
    let connection = McpConnection::connect(&spec, &settings(), &SubprocessLog::default())
        .await
        .unwrap();
    token.cancel();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let error = connection.call("ping", Map::new()).await.unwrap_err();
    assert!(
        error
            .to_string()
            .contains(&format!("MCP server `http://{addr}/mcp`")),
        "{error}"
    );
    connection.shutdown().await;
}

/// Settings capping answers at 16 KiB (`--max-tool-result 16KiB`: the tool lists fit).
fn capped_settings() -> McpSettings {
    McpSettings {
        max_result_bytes: 16 * 1024,
        ..settings()
    }
}

/// A call answered with more than the cap is a `TooLarge` error at once, naming the server, the
/// tool and the cap; the connection still answers a small call afterwards.
async fn assert_oversized_answers_are_refused(connection: &McpConnection) {
    let Err(error) = connection
        .call("echo", arguments(json!({"text": "x".repeat(64 * 1024)})))
        .await
    else {
        panic!("an answer over the cap is refused");
    };
    assert!(error.is_limit(), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("answered tool `echo` with more than the 16 KiB cap (`--max-tool-result`)"),
        "{error}"
    );
    let result = connection
        .call("echo", arguments(json!({"text": "small"})))
        .await
        .unwrap();
    assert_eq!(result["content"][0]["text"], json!("small"));
}

#[tokio::test]
async fn url_servers_are_held_to_the_max_tool_result_cap() {
    // Streamable HTTP.
    let token = tokio_util::sync::CancellationToken::new();
    let addr = serve_http("127.0.0.1:0".parse().unwrap(), token.clone()).await;
    let spec = McpServerSpec::http(
        format!("http://{addr}/mcp"),
        McpHttpTransport::StreamableHttp,
    );
    let connection = McpConnection::connect(&spec, &capped_settings(), &SubprocessLog::default())
        .await
        .unwrap();
    assert_oversized_answers_are_refused(&connection).await;
    connection.shutdown().await;
    token.cancel();

    // Legacy SSE (the official TypeScript SDK's server).
    let Some(server) = SseServer::start(0) else {
        return;
    };
    let spec = McpServerSpec::from_agent_keys(&arguments(json!({"url": server.url()}))).unwrap();
    let connection = McpConnection::connect(&spec, &capped_settings(), &SubprocessLog::default())
        .await
        .unwrap();
    assert_oversized_answers_are_refused(&connection).await;
    connection.shutdown().await;
}

// --- `type: mcp` skills in the native engine, driven by the fake OpenAI server's tool calls ---

mod engine {
    use std::collections::BTreeMap;
    use std::path::Path;
    use std::sync::Arc;

    use aigne_ci::engine::mcp::{McpPool, McpSettings};
    use aigne_ci::engine::{Engine, EngineSettings, InvokeError, InvokeRequest};
    use aigne_ci::model::{ModelRegistry, ModelSettings};
    use aigne_ci::process::SubprocessLog;
    use aigne_ci::project::Project;
    use pretty_assertions::assert_eq;
    use serde_json::{Value, json};

    use super::{alive, gone_soon, read_pid, serve_http, test_server_binary};
    use crate::common::fake_openai::{FakeOpenAi, FakeToolCall, Reply};

    /// A project whose `chat` agent gets the MCP server of `mcp_yaml` as a global skill.
    fn project(dir: &Path, mcp_yaml: &str) -> Project {
        fs_err::write(
            dir.join("aigne.yaml"),
            "model: openai/gpt-4o-mini\nagents:\n  - chat.yaml\nskills:\n  - tools.yaml\n",
        )
        .unwrap();
        fs_err::write(
            dir.join("chat.yaml"),
            "name: chat\ninstructions: You use tools.\ninput_key: message\n",
        )
        .unwrap();
        fs_err::write(dir.join("tools.yaml"), mcp_yaml).unwrap();
        Project::load(dir).unwrap()
    }

    fn stdio_yaml(pid_file: &Path) -> String {
        format!(
            "type: mcp\nname: ignored\ncommand: {}\nenv:\n  MCP_TEST_PID_FILE: {}\n",
            test_server_binary().display(),
            pid_file.display()
        )
    }

    fn engine(project: Project, server: &FakeOpenAi, pool: Arc<McpPool>) -> Engine {
        let mut variables = BTreeMap::new();
        variables.insert("OPENAI_API_KEY".to_owned(), "sk-test".to_owned());
        variables.insert("OPENAI_BASE_URL".to_owned(), server.base_url());
        let settings = ModelSettings::from_variables(variables).without_retry_delays();
        Engine::new(
            Arc::new(project),
            Arc::new(ModelRegistry::new(settings).unwrap()),
            EngineSettings::default(),
        )
        .with_mcp(pool)
    }

    fn pool(settings: McpSettings, log: &SubprocessLog) -> Arc<McpPool> {
        Arc::new(McpPool::new(settings, log.clone()))
    }

    async fn ask(engine: &Engine, message: &str) -> Result<Value, InvokeError> {
        engine
            .invoke(InvokeRequest {
                agent: None,
                input: json!({"message": message}),
                case_label: message.to_owned(),
                session: None,
            })
            .await
            .map(|outcome| outcome.output)
    }

    fn tool_message(body: &Value) -> &str {
        body["messages"]
            .as_array()
            .and_then(|messages| messages.iter().find(|message| message["role"] == "tool"))
            .and_then(|message| message["content"][0]["text"].as_str())
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn mcp_tools_are_skills_and_results_go_back_as_yaml() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let server = FakeOpenAi::start();
        let log = SubprocessLog::default();
        let pool = pool(McpSettings::default(), &log);
        let engine = engine(
            project(dir.path(), &stdio_yaml(&pid_file)),
            &server,
            pool.clone(),
        );
        // Two cases share one server process.
        for (message, text) in [("say hi", "hi"), ("say yo", "yo")] {
            server.push(Reply::tool_calls([FakeToolCall::new(
                "call_1",
                "echo",
                json!({"text": text}),
            )]));
            server.push(Reply::text("done"));
            let output = ask(&engine, message).await.unwrap();
            assert_eq!(output, json!({"message": "done"}));
        }
        let bodies = server.bodies();
        assert_eq!(bodies.len(), 4);
        let tools = bodies[0]["tools"].as_array().unwrap();
        let echo = tools
            .iter()
            .find(|tool| tool["function"]["name"] == "echo")
            .unwrap();
        assert_eq!(echo["function"]["description"], json!("Echo the text back"));
        assert_eq!(
            echo["function"]["parameters"]["properties"]["text"]["type"],
            json!("string")
        );
        assert_eq!(
            echo["function"]["parameters"]["additionalProperties"],
            json!(false)
        );
        let ping = tools
            .iter()
            .find(|tool| tool["function"]["name"] == "ping")
            .unwrap();
        assert_eq!(ping["function"]["parameters"], json!({}));
        assert_eq!(tools.len(), 8, "every tool of the server, nothing else");
        // The CallToolResult, as YAML, is the tool message.
        assert_eq!(
            tool_message(&bodies[1]),
            "content:\n  - type: text\n    text: hi\nisError: false\n"
        );
        assert_eq!(
            tool_message(&bodies[3]),
            "content:\n  - type: text\n    text: yo\nisError: false\n"
        );

        let pid = read_pid(&pid_file);
        let records = log.records();
        assert_eq!(records.len(), 1, "one server for the whole run");
        assert_eq!(records[0].purpose, "mcp-server");
        assert_eq!(records[0].pid, Some(pid));
        assert_eq!(
            engine.mcp().started_stdio_servers(),
            vec![test_server_binary().display().to_string()]
        );
        assert!(alive(pid));
        engine.mcp().shutdown().await;
        assert!(gone_soon(pid));
    }

    #[tokio::test]
    async fn a_server_dying_mid_call_is_a_tool_error_the_model_sees() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let server = FakeOpenAi::start();
        let pool = pool(McpSettings::default(), &SubprocessLog::default());
        let engine = engine(project(dir.path(), &stdio_yaml(&pid_file)), &server, pool);
        server.push(Reply::tool_calls([FakeToolCall::new(
            "call_1",
            "crash",
            json!({}),
        )]));
        server.push(Reply::text("the tool broke"));
        let output = ask(&engine, "crash it").await.unwrap();
        assert_eq!(output, json!({"message": "the tool broke"}));
        let message = tool_message(&server.bodies()[1]).to_owned();
        assert!(
            message.starts_with("isError: true\nerror:\n  message: "),
            "{message}"
        );
        let unfolded = message.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            unfolded.contains("closed the connection during `tools/call` for tool `crash`"),
            "{message}"
        );
        let pid = read_pid(&pid_file);
        drop(engine);
        assert!(gone_soon(pid));
    }

    #[tokio::test]
    async fn a_tool_that_never_answers_times_out_as_a_tool_error() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let server = FakeOpenAi::start();
        let settings = McpSettings {
            request_timeout: std::time::Duration::from_millis(300),
            ..McpSettings::default()
        };
        let pool = pool(settings, &SubprocessLog::default());
        let engine = engine(project(dir.path(), &stdio_yaml(&pid_file)), &server, pool);
        server.push(Reply::tool_calls([FakeToolCall::new(
            "call_1",
            "hang",
            json!({}),
        )]));
        server.push(Reply::text("gave up"));
        let output = ask(&engine, "wait").await.unwrap();
        assert_eq!(output, json!({"message": "gave up"}));
        let message = tool_message(&server.bodies()[1]).to_owned();
        // npm `yaml` folds lines at 80 columns.
        let unfolded = message.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            unfolded.contains("did not answer `tools/call` for tool `hang` within 300ms"),
            "{message}"
        );
        let pid = read_pid(&pid_file);
        engine.mcp().shutdown().await;
        assert!(gone_soon(pid));
    }

    #[tokio::test]
    async fn deny_exec_is_a_configuration_error() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let server = FakeOpenAi::start();
        let settings = McpSettings {
            deny_exec: true,
            ..McpSettings::default()
        };
        let pool = pool(settings, &SubprocessLog::default());
        let engine = engine(project(dir.path(), &stdio_yaml(&pid_file)), &server, pool);
        let error = ask(&engine, "hello").await.unwrap_err();
        assert!(error.is_configuration_error(), "{error:?}");
        assert_eq!(error.kind(), "mcp");
        assert_eq!(server.request_count(), 0, "no model call");
        assert!(!pid_file.exists());
    }

    #[tokio::test]
    async fn streamable_http_server_as_a_global_skill() {
        let dir = tempfile::tempdir().unwrap();
        let token = tokio_util::sync::CancellationToken::new();
        let addr = serve_http("127.0.0.1:0".parse().unwrap(), token.clone()).await;
        let server = FakeOpenAi::start();
        let pool = pool(McpSettings::default(), &SubprocessLog::default());
        let yaml = format!("type: mcp\nurl: http://{addr}/mcp\ntransport: streamableHttp\n");
        let engine = engine(project(dir.path(), &yaml), &server, pool);
        server.push(Reply::tool_calls([FakeToolCall::new(
            "call_1",
            "add",
            json!({"a": 20, "b": 22}),
        )]));
        server.push(Reply::text("42"));
        let output = ask(&engine, "add").await.unwrap();
        assert_eq!(output, json!({"message": "42"}));
        assert_eq!(
            tool_message(&server.bodies()[1]),
            "content:\n  - type: text\n    text: \"42\"\nisError: false\n"
        );
        assert!(engine.mcp().started_stdio_servers().is_empty());
        engine.mcp().shutdown().await;
        token.cancel();
    }

    /// The `aigne create` template's own `filesystem.yaml`, through npx (skipped without npx).
    #[tokio::test]
    async fn template_filesystem_server_through_npx() {
        let npx = std::process::Command::new("npx")
            .arg("--version")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        if !npx.is_ok_and(|status| status.success()) {
            crate::common::skip("npx is not on PATH");
            return;
        }
        let template = fs_err::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/projects/aigne-create-default/filesystem.yaml"),
        )
        .unwrap();
        assert!(template.contains("@modelcontextprotocol/server-filesystem"));
        let dir = tempfile::tempdir().unwrap();
        let server = FakeOpenAi::start();
        let log = SubprocessLog::default();
        let environment = aigne_ci::settings::Environment::capture();
        let pool = pool(McpSettings::resolve(&environment, false), &log);
        let engine = engine(project(dir.path(), &template), &server, pool);
        // "." is aigne-ci's working directory (as in AIGNE): here the crate root.
        server.push(Reply::tool_calls([FakeToolCall::new(
            "call_1",
            "read_text_file",
            json!({"path": "Cargo.toml", "head": 2}),
        )]));
        server.push(Reply::text("read it"));
        let output = ask(&engine, "read Cargo.toml").await.unwrap();
        assert_eq!(output, json!({"message": "read it"}));
        let bodies = server.bodies();
        let names: Vec<&str> = bodies[0]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|tool| tool["function"]["name"].as_str())
            .collect();
        assert!(names.contains(&"read_text_file"), "{names:?}");
        assert!(names.contains(&"list_directory"), "{names:?}");
        let message = tool_message(&bodies[1]);
        assert!(
            message.starts_with("content:\n  - type: text\n"),
            "{message}"
        );
        assert!(message.contains("name = \"aigne-ci\""), "{message}");
        assert_eq!(
            engine.mcp().started_stdio_servers(),
            vec!["npx -y @modelcontextprotocol/server-filesystem .".to_owned()]
        );
        let pid = log.records()[0].pid.unwrap();
        engine.mcp().shutdown().await;
        assert!(gone_soon(pid), "npx {pid} still running");
    }
}

/// `aigne-ci run` with an MCP global skill: the tool result reaches the model, the server is
/// started once for all cases and is gone when the binary exits.
#[test]
fn run_binary_with_an_mcp_skill_leaves_no_process_behind() {
    use crate::common::fake_openai::{FakeOpenAi, FakeToolCall, Reply};

    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    fs_err::write(
        dir.path().join("aigne.yaml"),
        "model: openai/gpt-4o-mini\nagents:\n  - chat.yaml\nskills:\n  - tools.yaml\n",
    )
    .unwrap();
    fs_err::write(
        dir.path().join("chat.yaml"),
        "name: chat\ninstructions: You use tools.\ninput_key: message\n",
    )
    .unwrap();
    fs_err::write(
        dir.path().join("tools.yaml"),
        format!(
            "type: mcp\ncommand: {}\nenv:\n  MCP_TEST_PID_FILE: {}\n",
            test_server_binary().display(),
            pid_file.display()
        ),
    )
    .unwrap();
    let server = FakeOpenAi::start();
    server.push(Reply::tool_calls([FakeToolCall::new(
        "call_1",
        "echo",
        json!({"text": "from mcp"}),
    )]));
    server.push(Reply::text("done"));
    crate::common::Run::in_dir(dir.path())
        .openai(&server, "sk-test")
        .args(["run", ".", "--prompt", "use the tool"])
        .expect_exit(0)
        .run();
    let bodies = server.bodies();
    let tool_text = bodies[1]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|message| message["role"] == "tool")
        .map(|message| message["content"][0]["text"].clone())
        .unwrap();
    assert_eq!(
        tool_text,
        json!("content:\n  - type: text\n    text: from mcp\nisError: false\n")
    );
    let pid = read_pid(&pid_file);
    assert!(gone_soon(pid), "server {pid} outlived aigne-ci");
    // The summary lists the stdio server the run started.
    let summary: serde_json::Value = crate::common::summary(&dir.path().join("aigne-ci-output"));
    let started = summary["subprocesses"].as_array().unwrap();
    assert_eq!(started.len(), 1, "{started:?}");
    assert_eq!(started[0]["purpose"], "mcp-server");
    assert_eq!(
        started[0]["program"],
        json!(test_server_binary().display().to_string())
    );
}

/// A successful run ends its MCP server with a clean shutdown (stdin closed, session ended).
#[test]
fn mcp_servers_shut_down_gracefully_after_a_successful_run() {
    use crate::common::fake_openai::{FakeOpenAi, FakeToolCall, Reply};

    let dir = tempfile::tempdir().unwrap();
    let (pid_file, shutdown_file) = graceful_project(dir.path());
    let server = FakeOpenAi::start();
    server.push(Reply::tool_calls([FakeToolCall::new(
        "call_1",
        "ping",
        json!({}),
    )]));
    server.push(Reply::text("done"));
    let ran = run_in(dir.path(), &server)
        .args(["--prompt", "ping it"])
        .expect_exit(0)
        .run();
    assert_eq!(server.request_count(), 2);
    assert_clean_shutdown(&pid_file, &shutdown_file, &ran.stderr);
}

/// `--deny-exec` refuses, before any case runs, a run whose agents reach a stdio MCP server or
/// JavaScript: exit 2, an `error:` naming the agent and its file, a `hint:`, no model call and no
/// results. An agent that reaches neither runs.
#[test]
fn deny_exec_refuses_the_run_before_any_case() {
    use crate::common::fake_openai::{FakeOpenAi, Reply};

    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    fs_err::write(
        dir.path().join("aigne.yaml"),
        "model: openai/gpt-4o-mini\nagents:\n  - chat.yaml\n  - upper.yaml\nskills:\n  - tools.yaml\n",
    )
    .unwrap();
    fs_err::write(
        dir.path().join("chat.yaml"),
        "name: chat\ninstructions: You use tools.\ninput_key: message\nskills:\n  - shout.yaml\n",
    )
    .unwrap();
    fs_err::write(
        dir.path().join("shout.yaml"),
        "type: function\nname: shout\nprocess: |\n  return { text: input.text.toUpperCase() };\n",
    )
    .unwrap();
    fs_err::write(
        dir.path().join("upper.yaml"),
        "type: transform\nname: upper\njsonata: '{\"text\": $uppercase(message)}'\n",
    )
    .unwrap();
    fs_err::write(
        dir.path().join("tools.yaml"),
        format!(
            "type: mcp\ncommand: {}\nenv:\n  MCP_TEST_PID_FILE: {}\n",
            test_server_binary().display(),
            pid_file.display()
        ),
    )
    .unwrap();
    fs_err::write(dir.path().join("prompts.jsonl"), "\"one\"\n\"two\"\n").unwrap();
    let server = FakeOpenAi::start();
    server.set_default(Reply::text("unused"));
    let mut command = crate::common::command(dir.path());
    command
        .env("OPENAI_BASE_URL", server.base_url())
        .env("OPENAI_API_KEY", "sk-test")
        .args(["run", ".", "--input", "prompts.jsonl", "--deny-exec"]);
    let ran = crate::common::run(&mut command);
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    let project = fs_err::canonicalize(dir.path()).unwrap();
    // The agent's own skill first, then the global skill offered to it.
    let expected = format!(
        "error: refusing to run with `--deny-exec`: agent `shout` at `{}` starts Node.js (inline `type: function` agent) (and 1 more: `MCPAgent`)",
        project.join("shout.yaml").display(),
    );
    assert!(ran.stderr.contains(&expected), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("hint: drop `--deny-exec`"),
        "{}",
        ran.stderr
    );
    assert_eq!(server.request_count(), 0, "no model call");
    assert!(!pid_file.exists(), "nothing may be started");
    assert!(
        !dir.path().join("aigne-ci-output/results.jsonl").exists(),
        "no case ran"
    );

    // `--engine node` is a subprocess itself: refused before it starts, with its own hint.
    let ran = crate::common::run(command.args(["--engine", "node"]));
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(
        ran.stderr.contains(
            "error: cannot start the node engine: refusing to start the Node engine because `--deny-exec` is set"
        ),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr
            .contains("hint: remove `--deny-exec` or use `--engine native`"),
        "{}",
        ran.stderr
    );
    assert_eq!(server.request_count(), 0, "no model call");
    assert!(!pid_file.exists());

    // The same flag through the environment, for an agent that starts nothing: it runs.
    let ran = crate::common::Run::in_dir(dir.path())
        .env("AIGNE_CI_DENY_EXEC", "true")
        .args(["run", ".", "upper", "--prompt", "quiet"])
        .expect_exit(0)
        .run();
    let output: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(output, json!({"text": "QUIET"}));
    assert!(!pid_file.exists());
}

/// A project whose `chat` agent has the stdio test server as a global skill; the server writes
/// its pid to `pid` and `closed` to `shutdown` when its session ends on stdin EOF.
fn graceful_project(dir: &Path) -> (PathBuf, PathBuf) {
    let pid_file = dir.join("pid");
    let shutdown_file = dir.join("shutdown");
    fs_err::write(
        dir.join("aigne.yaml"),
        "model: openai/gpt-4o-mini\nagents:\n  - chat.yaml\nskills:\n  - tools.yaml\n",
    )
    .unwrap();
    fs_err::write(
        dir.join("chat.yaml"),
        "name: chat\ninstructions: You use tools.\ninput_key: message\n",
    )
    .unwrap();
    fs_err::write(
        dir.join("tools.yaml"),
        format!(
            "type: mcp\ncommand: {}\nenv:\n  MCP_TEST_PID_FILE: {}\n  MCP_TEST_SHUTDOWN_FILE: {}\n",
            test_server_binary().display(),
            pid_file.display(),
            shutdown_file.display()
        ),
    )
    .unwrap();
    (pid_file, shutdown_file)
}

/// The server ended its session on stdin EOF (not killed), and its process is gone.
fn assert_clean_shutdown(pid_file: &Path, shutdown_file: &Path, stderr: &str) {
    let pid = read_pid(pid_file);
    assert!(gone_soon(pid), "server {pid} outlived aigne-ci");
    assert_eq!(
        fs_err::read_to_string(shutdown_file).ok().as_deref(),
        Some("closed"),
        "the server was not shut down cleanly\n{stderr}"
    );
}

/// `aigne-ci run .` in `dir` against the fake.
fn run_in(dir: &Path, server: &crate::common::fake_openai::FakeOpenAi) -> crate::common::Run {
    crate::common::Run::in_dir(dir)
        .openai(server, "sk-test")
        .args(["run", "."])
}

fn run_command(
    dir: &Path,
    server: &crate::common::fake_openai::FakeOpenAi,
) -> std::process::Command {
    run_in(dir, server).into_command()
}

/// A run whose policy fails (exit 1) still shuts its MCP server down gracefully.
#[test]
fn mcp_servers_shut_down_gracefully_when_the_run_fails() {
    use crate::common::fake_openai::{FakeOpenAi, Reply};

    let dir = tempfile::tempdir().unwrap();
    let (pid_file, shutdown_file) = graceful_project(dir.path());
    fs_err::write(
        dir.path().join("prompts.jsonl"),
        "{\"input\": \"hi\", \"expected\": \"something else\"}\n",
    )
    .unwrap();
    let server = FakeOpenAi::start();
    server.set_default(Reply::text("done"));
    let ran = run_in(dir.path(), &server)
        .args(["--input", "prompts.jsonl"])
        .expect_exit(1)
        .run();
    assert_eq!(server.request_count(), 1);
    assert_clean_shutdown(&pid_file, &shutdown_file, &ran.stderr);
}

/// `--total-timeout` running out while a tool call hangs (exit 4): the server still gets a clean
/// shutdown.
#[test]
fn mcp_servers_shut_down_gracefully_after_the_total_timeout() {
    use crate::common::fake_openai::{FakeOpenAi, FakeToolCall, Reply};

    let dir = tempfile::tempdir().unwrap();
    let (pid_file, shutdown_file) = graceful_project(dir.path());
    let server = FakeOpenAi::start();
    server.push(Reply::tool_calls([FakeToolCall::new(
        "call_1",
        "hang",
        json!({}),
    )]));
    server.set_default(Reply::text("unreachable"));
    let ran = run_in(dir.path(), &server)
        .args([
            "--prompt",
            "wait forever",
            "--total-timeout",
            "1s",
            "--grace-period",
            "100ms",
        ])
        .expect_exit(4)
        .run();
    assert_eq!(server.request_count(), 1, "the tool call never returned");
    assert_clean_shutdown(&pid_file, &shutdown_file, &ran.stderr);
}

/// SIGINT / SIGTERM while a tool call hangs (exit 130): the server still gets a clean shutdown.
#[cfg(unix)]
#[test]
fn mcp_servers_shut_down_gracefully_on_sigint_and_sigterm() {
    use crate::common::fake_openai::{FakeOpenAi, FakeToolCall, Reply};

    for signal in ["INT", "TERM"] {
        let dir = tempfile::tempdir().unwrap();
        let (pid_file, shutdown_file) = graceful_project(dir.path());
        let server = FakeOpenAi::start();
        server.push(Reply::tool_calls([FakeToolCall::new(
            "call_1",
            "hang",
            json!({}),
        )]));
        server.set_default(Reply::text("unreachable"));
        let child = run_command(dir.path(), &server)
            .args(["--prompt", "wait forever", "--grace-period", "100ms"])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The model asked for the tool: the server runs and the call is on its way.
        for _ in 0..200 {
            if server.request_count() >= 1 && pid_file.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        assert!(pid_file.exists(), "the server never started");
        let status = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(output.status.code(), Some(130), "{signal}: {stderr}");
        assert_clean_shutdown(&pid_file, &shutdown_file, &stderr);
    }
}

/// `aigne-ci inspect` connects to every MCP server, lists its tools (JSON on stdout, a readable
/// list on stderr) and shuts each down cleanly; servers that cannot start, time out or are
/// refused by `--deny-exec` are reported per server with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_lists_each_mcp_servers_tools() {
    let token = tokio_util::sync::CancellationToken::new();
    let addr = serve_http("127.0.0.1:0".parse().unwrap(), token.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let shutdown_file = dir.path().join("shutdown");
    let silent_pid_file = dir.path().join("silent-pid");
    let server = test_server_binary().display().to_string();
    fs_err::write(
        dir.path().join("aigne.yaml"),
        "agents:\n  - chat.yaml\nskills:\n  - local.yaml\n  - remote.yaml\n",
    )
    .unwrap();
    fs_err::write(
        dir.path().join("chat.yaml"),
        "name: chat\ninstructions: hi\nskills:\n  - missing.yaml\n  - silent.yaml\n",
    )
    .unwrap();
    fs_err::write(
        dir.path().join("local.yaml"),
        format!(
            "type: mcp\ncommand: {server}\nenv:\n  MCP_TEST_PID_FILE: {}\n  MCP_TEST_SHUTDOWN_FILE: {}\n",
            pid_file.display(),
            shutdown_file.display()
        ),
    )
    .unwrap();
    fs_err::write(
        dir.path().join("remote.yaml"),
        format!("type: mcp\nurl: http://{addr}/mcp\ntransport: streamableHttp\n"),
    )
    .unwrap();
    fs_err::write(
        dir.path().join("missing.yaml"),
        "type: mcp\ncommand: aigne-ci-no-such-mcp-server\n",
    )
    .unwrap();
    fs_err::write(
        dir.path().join("silent.yaml"),
        format!(
            "type: mcp\ncommand: {server}\nargs: [--silent]\nenv:\n  MCP_TEST_SILENT: '1'\n  MCP_TEST_PID_FILE: {}\n",
            silent_pid_file.display()
        ),
    )
    .unwrap();
    // A legacy SSE server too, when the reference install is there.
    let sse = SseServer::start(0);
    if let Some(sse) = &sse {
        fs_err::write(
            dir.path().join("aigne.yaml"),
            "agents:\n  - chat.yaml\nskills:\n  - local.yaml\n  - remote.yaml\n  - sse.yaml\n",
        )
        .unwrap();
        fs_err::write(
            dir.path().join("sse.yaml"),
            format!("type: mcp\nurl: {}\n", sse.url()),
        )
        .unwrap();
    }
    let project = fs_err::canonicalize(dir.path()).unwrap();
    let inspect = |deny_exec: bool| {
        let mut command = crate::common::command(dir.path());
        command.env("MCP_TIMEOUT", "1000").args(["inspect", "."]);
        if deny_exec {
            command.arg("--deny-exec");
        }
        tokio::task::spawn_blocking(move || crate::common::run(&mut command))
    };
    let ran = inspect(false).await.unwrap();
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let report: Value = serde_json::from_str(&ran.stdout).unwrap();
    let servers = report["mcp_servers"].as_array().unwrap();
    let by_file = |file: &str| {
        servers
            .iter()
            .find(|entry| entry["file"] == json!(project.join(file)))
            .unwrap_or_else(|| panic!("no entry for {file}: {servers:?}"))
            .clone()
    };
    assert_eq!(servers.len(), 4 + usize::from(sse.is_some()), "{servers:?}");
    let mcp_feature = report["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|feature| feature["feature"] == "type: mcp")
        .unwrap();
    assert_eq!(mcp_feature["supported"], json!(true));
    assert!(
        mcp_feature["note"]
            .as_str()
            .unwrap()
            .starts_with("the server's tools become skills"),
        "{mcp_feature}"
    );
    if let Some(sse) = &sse {
        let entry = by_file("sse.yaml");
        assert_eq!(entry["transport"], json!("sse"));
        assert_eq!(entry["server"], json!(sse.url()));
        assert_eq!(entry["connected"], json!(true), "{entry}");
        assert_eq!(entry["name"], json!("aigne-ci-sse-test-server"));
        assert_eq!(
            entry["tools"],
            json!([
                {"name": "echo", "description": "Echo the text back"},
                {"name": "add", "description": "Add two numbers"}
            ])
        );
    }
    let local = by_file("local.yaml");
    assert_eq!(local["transport"], json!("stdio"));
    assert_eq!(local["server"], json!(server));
    assert_eq!(local["connected"], json!(true));
    assert_eq!(local["name"], json!(SERVER_NAME));
    assert_eq!(local["version"], json!("1.2.3"));
    let mut tools: Vec<(String, String)> = local["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tool| {
            (
                tool["name"].as_str().unwrap().to_owned(),
                tool["description"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    tools.sort();
    assert_eq!(tools.len(), 8);
    assert_eq!(tools[0], ("add".to_owned(), "Add two numbers".to_owned()));
    let remote = by_file("remote.yaml");
    assert_eq!(remote["transport"], json!("streamableHttp"));
    assert_eq!(remote["connected"], json!(true));
    assert_eq!(remote["tools"].as_array().unwrap().len(), 8);
    let missing = by_file("missing.yaml");
    assert_eq!(missing["connected"], json!(false));
    assert_eq!(missing["tools"], json!([]));
    assert!(
        missing["error"]
            .as_str()
            .unwrap()
            .starts_with("could not start the MCP server `aigne-ci-no-such-mcp-server`"),
        "{missing}"
    );
    let silent = by_file("silent.yaml");
    assert_eq!(silent["connected"], json!(false));
    assert_eq!(
        silent["error"],
        json!(format!(
            "the MCP server `{server} --silent` did not answer `initialize` within 1s"
        ))
    );
    // People get the same on stderr.
    assert!(
        ran.stderr.contains(&format!(
            "aigne-ci: mcp: `{server}` ({SERVER_NAME} 1.2.3) for agent `"
        )),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("\n  echo — Echo the text back\n"),
        "{}",
        ran.stderr
    );
    // Each stdio server is gone; the one that answered was shut down cleanly.
    assert_clean_shutdown(&pid_file, &shutdown_file, &ran.stderr);
    let silent_pid = read_pid(&silent_pid_file);
    assert!(
        gone_soon(silent_pid),
        "silent server {silent_pid} outlived inspect"
    );

    // `--deny-exec`: stdio servers are not started, URL servers still listed.
    fs_err::remove_file(&pid_file).unwrap();
    let ran = inspect(true).await.unwrap();
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let report: Value = serde_json::from_str(&ran.stdout).unwrap();
    let servers = report["mcp_servers"].as_array().unwrap();
    let local = servers
        .iter()
        .find(|entry| entry["file"] == json!(project.join("local.yaml")))
        .unwrap();
    assert_eq!(local["connected"], json!(false));
    assert_eq!(
        local["error"],
        json!(format!(
            "refusing to start the stdio MCP server `{server}` because of `--deny-exec`"
        ))
    );
    let remote = servers
        .iter()
        .find(|entry| entry["file"] == json!(project.join("remote.yaml")))
        .unwrap();
    assert_eq!(remote["connected"], json!(true));
    assert!(!pid_file.exists(), "nothing may be started");
    token.cancel();
}

// --- legacy HTTP+SSE servers: the official TypeScript SDK's `SSEServerTransport` in node ---

/// `tests/fixtures/mcp/sse_server.mjs` running in node on 127.0.0.1; killed when dropped.
pub(crate) struct SseServer {
    child: std::process::Child,
    /// The port it listens on.
    pub port: u16,
}

impl SseServer {
    /// Starts the server on `port` (0 = any), or says why it cannot (no `AIGNE_CI_REF_AIGNE`,
    /// no node) and returns `None`.
    pub(crate) fn start(port: u16) -> Option<Self> {
        Self::start_requiring(port, None)
    }

    /// [`Self::start`], answering 401 to requests without this `Authorization` header.
    pub(crate) fn start_requiring(port: u16, authorization: Option<&str>) -> Option<Self> {
        use std::io::BufRead;
        let Some(reference) = std::env::var_os("AIGNE_CI_REF_AIGNE") else {
            crate::common::skip(
                "AIGNE_CI_REF_AIGNE is not set (the SSE test server needs its @modelcontextprotocol/sdk)",
            );
            return None;
        };
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mcp/sse_server.mjs");
        let mut node = std::process::Command::new("node");
        if let Some(authorization) = authorization {
            node.env("REQUIRE_AUTHORIZATION", authorization);
        }
        let spawned = node
            .arg(script)
            .env("AIGNE_CI_REF_AIGNE", reference)
            .env("PORT", port.to_string())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .spawn();
        let Ok(mut child) = spawned else {
            crate::common::skip("node is not on PATH");
            return None;
        };
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the SSE server prints its port");
        let port = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("the SSE server did not start: {line:?}"));
        Some(Self { child, port })
    }

    /// The URL of its event stream.
    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}/sse", self.port)
    }
}

impl Drop for SseServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn sse_server_lists_tools_answers_calls_and_is_reconnected() {
    let Some(server) = SseServer::start(0) else {
        return;
    };
    // No `transport` key: AIGNE speaks legacy SSE to a `url`.
    let spec = McpServerSpec::from_agent_keys(&arguments(json!({"url": server.url()}))).unwrap();
    assert_eq!(spec.transport, McpHttpTransport::Sse);
    let connection = McpConnection::connect(&spec, &settings(), &SubprocessLog::default())
        .await
        .unwrap();
    assert_eq!(connection.server_name(), Some("aigne-ci-sse-test-server"));
    assert_eq!(connection.server_version(), Some("0.4.0"));
    let tools: Vec<(&str, Option<&str>)> = connection
        .tools()
        .iter()
        .map(|tool| (tool.name.as_str(), tool.description.as_deref()))
        .collect();
    assert_eq!(
        tools,
        vec![
            ("echo", Some("Echo the text back")),
            ("add", Some("Add two numbers"))
        ]
    );
    let echo = &connection.tools()[0];
    assert_eq!(
        echo.input_schema["properties"]["text"]["type"],
        json!("string")
    );
    let result = connection
        .call("add", arguments(json!({"a": 2, "b": 3})))
        .await
        .unwrap();
    assert_eq!(result, json!({"content": [{"type": "text", "text": "5"}]}));

    // The server restarts on the same port: the stream ends, the next call reconnects.
    let port = server.port;
    drop(server);
    let server = SseServer::start(port).expect("restarted");
    let result = connection
        .call("echo", arguments(json!({"text": "again"})))
        .await
        .unwrap();
    assert_eq!(
        result,
        json!({"content": [{"type": "text", "text": "again"}]})
    );
    connection.shutdown().await;
    drop(server);
}

#[tokio::test]
async fn sse_url_that_is_not_an_event_stream_is_a_connect_error() {
    let Some(server) = SseServer::start(0) else {
        return;
    };
    let url = format!("http://127.0.0.1:{}/nope", server.port);
    let spec = McpServerSpec::http(url.clone(), McpHttpTransport::Sse);
    let error = McpConnection::connect(&spec, &settings(), &SubprocessLog::default())
        .await
        .unwrap_err();
    let mut chain = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    assert_eq!(
        chain,
        format!("could not connect to the MCP server `{url}`: GET `{url}` answered HTTP 404")
    );
}

/// `aigne-ci run` with a legacy SSE server as a global skill, driven by the fake model's tool
/// call.
#[test]
fn run_binary_with_an_sse_mcp_skill() {
    use crate::common::fake_openai::{FakeOpenAi, FakeToolCall, Reply};

    let Some(sse) = SseServer::start(0) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(
        dir.path().join("aigne.yaml"),
        "model: openai/gpt-4o-mini\nagents:\n  - chat.yaml\nskills:\n  - tools.yaml\n",
    )
    .unwrap();
    fs_err::write(
        dir.path().join("chat.yaml"),
        "name: chat\ninstructions: You use tools.\ninput_key: message\n",
    )
    .unwrap();
    fs_err::write(
        dir.path().join("tools.yaml"),
        format!("type: mcp\nurl: {}\n", sse.url()),
    )
    .unwrap();
    let server = FakeOpenAi::start();
    server.push(Reply::tool_calls([FakeToolCall::new(
        "call_1",
        "echo",
        json!({"text": "over sse"}),
    )]));
    server.push(Reply::text("done"));
    run_in(dir.path(), &server)
        .args([
            "--prompt",
            "use the tool",
            // URL servers start no process.
            "--deny-exec",
        ])
        .expect_exit(0)
        .run();
    let bodies = server.bodies();
    assert_eq!(bodies.len(), 2);
    let names: Vec<&str> = bodies[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|tool| tool["function"]["name"].as_str())
        .collect();
    assert_eq!(names, vec!["echo", "add"]);
    let tool_text = bodies[1]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|message| message["role"] == "tool")
        .map(|message| message["content"][0]["text"].clone())
        .unwrap();
    assert_eq!(
        tool_text,
        json!("content:\n  - type: text\n    text: over sse\n")
    );
}

/// `opts.requestInit.headers` of a `url` server go with every request, over both transports
/// (AIGNE passes `opts` to the SDK's transport); without them the servers refuse.
#[tokio::test]
async fn url_servers_get_the_headers_of_opts() {
    const AUTHORIZATION: &str = "Bearer mcp-token-123";
    let keys = |url: String, transport: Option<&str>, with_headers: bool| {
        let mut value = json!({"url": url});
        if let Some(transport) = transport {
            value["transport"] = json!(transport);
        }
        if with_headers {
            value["opts"] = json!({"requestInit": {"headers": {"Authorization": AUTHORIZATION}}});
        }
        McpServerSpec::from_agent_keys(&arguments(value)).unwrap()
    };
    let token = tokio_util::sync::CancellationToken::new();
    let addr = serve_http_requiring(
        "127.0.0.1:0".parse().unwrap(),
        token.clone(),
        Some(AUTHORIZATION),
    )
    .await;
    let url = format!("http://{addr}/mcp");
    let refused = McpConnection::connect(
        &keys(url.clone(), Some("streamableHttp"), false),
        &settings(),
        &SubprocessLog::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(refused, McpError::Connect { .. }), "{refused:?}");
    let connection = McpConnection::connect(
        &keys(url, Some("streamableHttp"), true),
        &settings(),
        &SubprocessLog::default(),
    )
    .await
    .unwrap();
    let result = connection.call("ping", Map::new()).await.unwrap();
    assert_eq!(result["content"][0]["text"], json!("pong"));
    connection.shutdown().await;
    token.cancel();

    let Some(sse) = SseServer::start_requiring(0, Some(AUTHORIZATION)) else {
        return;
    };
    let refused = McpConnection::connect(
        &keys(sse.url(), None, false),
        &settings(),
        &SubprocessLog::default(),
    )
    .await
    .unwrap_err();
    let message = format!(
        "{refused}: {}",
        std::error::Error::source(&refused).unwrap()
    );
    assert_eq!(
        message,
        format!(
            "could not connect to the MCP server `{0}`: GET `{0}` answered HTTP 401",
            sse.url()
        )
    );
    assert!(!format!("{refused:?}").contains("mcp-token-123"));
    let connection = McpConnection::connect(
        &keys(sse.url(), None, true),
        &settings(),
        &SubprocessLog::default(),
    )
    .await
    .unwrap();
    // The POSTs carry it too.
    let result = connection
        .call("echo", arguments(json!({"text": "authorized"})))
        .await
        .unwrap();
    assert_eq!(result["content"][0]["text"], json!("authorized"));
    connection.shutdown().await;
}

/// As AIGNE connects to MCP servers when it loads a project, a server the run reaches that cannot
/// be started or reached stops the run before any case: exit 2, the server and the reason, a
/// hint, no model call, no results.
#[test]
fn a_server_that_cannot_start_stops_the_run_before_any_case() {
    use crate::common::fake_openai::{FakeOpenAi, Reply};

    let dir = tempfile::tempdir().unwrap();
    let (pid_file, _) = graceful_project(dir.path());
    // A second, working server is started first and still shut down.
    fs_err::write(
        dir.path().join("aigne.yaml"),
        "model: openai/gpt-4o-mini\nagents:\n  - chat.yaml\nskills:\n  - tools.yaml\n  - missing.yaml\n",
    )
    .unwrap();
    fs_err::write(
        dir.path().join("missing.yaml"),
        "type: mcp\nname: broken\ncommand: aigne-ci-no-such-mcp-server\nargs: [--port, '1']\n",
    )
    .unwrap();
    let server = FakeOpenAi::start();
    server.set_default(Reply::text("unused"));
    let ran = run_in(dir.path(), &server)
        .args(["--prompt", "hi"])
        .expect_exit(2)
        .run();
    let project = fs_err::canonicalize(dir.path()).unwrap();
    assert!(
        ran.stderr.contains(&format!(
            "error: agent `broken` at `{}`: MCP server failed",
            project.join("missing.yaml").display()
        )),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr
            .contains("could not start the MCP server `aigne-ci-no-such-mcp-server --port 1`"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr
            .contains("hint: check that the server's `command` is installed and on `PATH`"),
        "{}",
        ran.stderr
    );
    assert_eq!(server.request_count(), 0, "no model call");
    assert!(!dir.path().join("aigne-ci-output/results.jsonl").exists());
    let pid = read_pid(&pid_file);
    assert!(gone_soon(pid), "the working server {pid} outlived the run");

    // A URL server that is down: the same, naming the URL.
    let port = crate::common::server::free_port();
    fs_err::write(
        dir.path().join("missing.yaml"),
        format!("type: mcp\nurl: http://127.0.0.1:{port}/sse\n"),
    )
    .unwrap();
    let ran = run_in(dir.path(), &server)
        .args(["--prompt", "hi"])
        .expect_exit(2)
        .run();
    assert!(
        ran.stderr.contains(&format!(
            "could not connect to the MCP server `http://127.0.0.1:{port}/sse`"
        )),
        "{}",
        ran.stderr
    );
    assert_eq!(server.request_count(), 0, "no model call");
}
