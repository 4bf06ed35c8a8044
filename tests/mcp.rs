//! MCP client against real rmcp servers: the `mcp_test_server` example over stdio, and the same
//! server over streamable HTTP on 127.0.0.1.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aigne_ci::engine::mcp::{
    McpConnection, McpError, McpHttpTransport, McpPool, McpServerSpec, McpSettings,
};
use aigne_ci::engine::subprocess::SubprocessLog;
use pretty_assertions::assert_eq;
use serde_json::{Map, Value, json};

use crate::common::mcp_server::{SERVER_NAME, TestServer};

/// The stdio test server, built by cargo next to the binary under test (`examples/`).
pub fn test_server_binary() -> PathBuf {
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
pub fn stdio_spec(pid_file: &Path) -> McpServerSpec {
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
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Waits (bounded) until the process is gone; true when it is.
pub fn gone_soon(pid: u32) -> bool {
    for _ in 0..100 {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn read_pid(path: &Path) -> u32 {
    std::fs::read_to_string(path)
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
    let spec = stdio_spec(&pid_file);
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
pub async fn serve_http(
    addr: std::net::SocketAddr,
    token: tokio_util::sync::CancellationToken,
) -> std::net::SocketAddr {
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
    let router = axum::Router::new().nest_service("/mcp", service);
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let bound = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async move { token.cancelled_owned().await })
            .await;
    });
    bound
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
