//! [`McpConnection`]: one connected MCP server — its tools, and calls to them.
//!
//! A stdio server is started by [`crate::process::spawn`], in its own process group, so that
//! shutting it down also ends what it started (`npx` runs the real server as its child); rmcp
//! speaks to it over its stdin and stdout. Shutdown is explicit ([`McpConnection::shutdown`]: the
//! session ends, which closes the server's stdin, then [`crate::process::Child::shutdown`] waits,
//! sends `SIGTERM`, then `SIGKILL`, to the group) and, as a last resort, on drop: the group is
//! killed synchronously, so no server outlives aigne-ci.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CancelledNotification, CancelledNotificationParam,
    ClientCapabilities, ClientConfig, ClientRequest, Implementation, ProtocolVersion, RequestId,
    ServerResult,
};
use rmcp::service::{PeerRequestOptions, RoleClient, RunningService, ServiceError, ServiceExt};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Map, Value};

use super::error::McpError;
use super::settings::McpSettings;
use super::spec::{McpHttpTransport, McpServerSpec};
use super::sse::SseClientTransport;
use super::stdio::CappedStdio;
use crate::http::RetryPolicy;
use crate::http::retry;
use crate::process::{self, ChildSpec, StderrTail, SubprocessLog, find_program};

/// AIGNE's default `max_reconnects` for URL servers.
const DEFAULT_MAX_RECONNECTS: u32 = 10;
/// How long the session may take to end (it closes the server's stdin).
const SESSION_CLOSE_GRACE: Duration = Duration::from_secs(2);
/// How long a server gets to exit after its stdin closes, and again after `SIGTERM`, before its
/// process group is killed (rmcp's own graceful shutdown waits as long).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
/// How long shutdown waits for the cancellations of calls still in flight to be written.
const CANCEL_GRACE: Duration = Duration::from_secs(1);
/// Lines of a stdio server's stderr shown in its errors (AIGNE pipes and hides them; aigne-ci
/// shows them when the server fails).
const STDERR_TAIL_LINES: usize = 20;
/// Longest pause between two reconnect attempts (AIGNE's p-retry doubles without bound).
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(30);

/// One tool offered by an MCP server, as an AI agent's skill sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct McpTool {
    /// Tool name (the skill name).
    pub name: String,
    /// Tool description.
    pub description: Option<String>,
    /// The tool's input JSON Schema; `{}` when it has no properties (AIGNE `toolFromMCPTool`).
    pub input_schema: Value,
}

/// A connected MCP server.
pub struct McpConnection {
    spec: McpServerSpec,
    label: String,
    settings: McpSettings,
    server_name: Option<String>,
    server_version: Option<String>,
    tools: Vec<McpTool>,
    session: tokio::sync::RwLock<Option<Arc<Session>>>,
    reconnecting: tokio::sync::Mutex<()>,
    log: SubprocessLog,
}

impl std::fmt::Debug for McpConnection {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("McpConnection")
            .field("server", &self.label)
            .field("tools", &self.tools.len())
            .finish_non_exhaustive()
    }
}

/// One live client session (replaced when a URL server reconnects).
struct Session {
    service: tokio::sync::Mutex<Option<RunningService<RoleClient, ClientConfig>>>,
    peer: rmcp::service::Peer<RoleClient>,
    /// The stdio server process (none for a URL server).
    child: tokio::sync::Mutex<Option<process::Child>>,
    stderr: StderrTail,
    /// `tools/call` requests sent and not answered yet (cancelled on shutdown).
    in_flight: InFlight,
}

impl McpConnection {
    /// Starts or reaches the server, does the MCP handshake and lists its tools.
    /// A started stdio server is recorded in `log` (purpose `mcp-server`) for `summary.json`.
    pub async fn connect(
        spec: &McpServerSpec,
        settings: &McpSettings,
        log: &SubprocessLog,
    ) -> Result<Self, McpError> {
        let label = spec.label();
        let session = open_session(spec, settings, log, &label, settings.request_timeout).await?;
        let info = session.peer.peer_info();
        let server_name = info
            .as_ref()
            .and_then(|info| info.server_info.as_ref())
            .map(|server| server.name.clone());
        let server_version = info
            .as_ref()
            .and_then(|info| info.server_info.as_ref())
            .map(|server| server.version.clone());
        let offers_tools = info
            .as_ref()
            .is_some_and(|info| info.capabilities.tools.is_some());
        let connection = Self {
            spec: spec.clone(),
            label,
            settings: settings.clone(),
            server_name,
            server_version,
            tools: Vec::new(),
            session: tokio::sync::RwLock::new(Some(Arc::new(session))),
            reconnecting: tokio::sync::Mutex::new(()),
            log: log.clone(),
        };
        // AIGNE lists tools only when the server declares the capability.
        if !offers_tools {
            return Ok(connection);
        }
        match connection.list_tools().await {
            Ok(tools) => Ok(Self {
                tools,
                ..connection
            }),
            Err(error) => {
                connection.shutdown().await;
                Err(error)
            }
        }
    }

    /// `command arg…` or the masked URL.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The server's spec.
    pub fn spec(&self) -> &McpServerSpec {
        &self.spec
    }

    /// The name the server reports (AIGNE names the `MCPAgent` after it).
    pub fn server_name(&self) -> Option<&str> {
        self.server_name.as_deref()
    }

    /// The version the server reports.
    pub fn server_version(&self) -> Option<&str> {
        self.server_version.as_deref()
    }

    /// The tools listed at connect time.
    pub fn tools(&self) -> &[McpTool] {
        &self.tools
    }

    /// Whether this connection started a child process.
    pub fn is_stdio(&self) -> bool {
        self.spec.is_stdio()
    }

    async fn list_tools(&self) -> Result<Vec<McpTool>, McpError> {
        let session = self.current_session().await?;
        let timeout = self.settings.request_timeout;
        let listed = tokio::time::timeout(timeout, session.peer.list_all_tools()).await;
        let tools = match listed {
            Ok(Ok(tools)) => tools,
            Ok(Err(source)) => {
                return Err(self.request_error(&session, "tools/list", None, source));
            }
            Err(_) => {
                return Err(McpError::Timeout {
                    server: self.label.clone(),
                    method: "tools/list",
                    tool: None,
                    timeout,
                });
            }
        };
        Ok(tools.into_iter().map(tool_from_mcp).collect())
    }

    /// Calls a tool and returns its `CallToolResult` as JSON (`content`, `structuredContent`,
    /// `isError`, `_meta`), as AIGNE's `MCPTool` returns it. A URL server that fails is
    /// reconnected and the call retried once, as AIGNE's `ClientWithReconnect` does.
    pub async fn call(&self, tool: &str, arguments: Map<String, Value>) -> Result<Value, McpError> {
        let session = self.current_session().await?;
        match self.call_once(&session, tool, arguments.clone()).await {
            Ok(value) => Ok(value),
            Err(error) if self.spec.url.is_some() => {
                self.reconnect(&session, error).await?;
                let session = self.current_session().await?;
                self.call_once(&session, tool, arguments).await
            }
            Err(error) => Err(error),
        }
    }

    async fn call_once(
        &self,
        session: &Session,
        tool: &str,
        arguments: Map<String, Value>,
    ) -> Result<Value, McpError> {
        let timeout = self.settings.request_timeout;
        let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments);
        let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
        let handle = session
            .peer
            .send_request_with_option(request, PeerRequestOptions::no_options())
            .await
            .map_err(|source| {
                self.request_error(session, "tools/call", Some(tool.to_owned()), source)
            })?;
        // Until the answer arrives, a dropped call (case timeout, cancelled run) or a timed-out
        // one sends `notifications/cancelled`, as the TypeScript SDK does, so the server can stop.
        let pending = session.in_flight.start(&session.peer, handle.id.clone());
        let answered = tokio::time::timeout(timeout, handle.await_response()).await;
        if answered.is_ok() {
            pending.answered();
        }
        match answered {
            Ok(Ok(ServerResult::CallToolResult(result))) => {
                Ok(serde_json::to_value(result).unwrap_or(Value::Null))
            }
            Ok(Ok(_)) => Err(self.request_error(
                session,
                "tools/call",
                Some(tool.to_owned()),
                ServiceError::UnexpectedResponse,
            )),
            Ok(Err(source)) => match super::cap::too_large_cap(&source) {
                Some(limit) => Err(McpError::TooLarge {
                    server: self.label.clone(),
                    tool: tool.to_owned(),
                    limit,
                }),
                None => {
                    Err(self.request_error(session, "tools/call", Some(tool.to_owned()), source))
                }
            },
            Err(_) => Err(McpError::Timeout {
                server: self.label.clone(),
                method: "tools/call",
                tool: Some(tool.to_owned()),
                timeout,
            }),
        }
    }

    fn request_error(
        &self,
        session: &Session,
        method: &'static str,
        tool: Option<String>,
        source: ServiceError,
    ) -> McpError {
        match source {
            ServiceError::TransportClosed | ServiceError::TransportSend(_) => McpError::Closed {
                server: self.label.clone(),
                method,
                tool,
                stderr: session.stderr.last_lines(STDERR_TAIL_LINES),
            },
            ServiceError::Timeout { timeout } => McpError::Timeout {
                server: self.label.clone(),
                method,
                tool,
                timeout,
            },
            source => McpError::Request {
                server: self.label.clone(),
                method,
                tool,
                source,
            },
        }
    }

    async fn current_session(&self) -> Result<Arc<Session>, McpError> {
        self.session
            .read()
            .await
            .clone()
            .ok_or_else(|| McpError::ShutDown {
                server: self.label.clone(),
            })
    }

    /// Replaces a failed session of a URL server, trying up to `max_reconnects` times.
    async fn reconnect(&self, failed: &Arc<Session>, error: McpError) -> Result<(), McpError> {
        let _one_at_a_time = self.reconnecting.lock().await;
        match self.session.read().await.as_ref() {
            // Another call reconnected already.
            Some(current) if !Arc::ptr_eq(current, failed) => return Ok(()),
            None => {
                return Err(McpError::ShutDown {
                    server: self.label.clone(),
                });
            }
            Some(_) => {}
        }
        failed.close().await;
        let attempts = self.spec.max_reconnects.unwrap_or(DEFAULT_MAX_RECONNECTS);
        if attempts == 0 {
            return Err(error);
        }
        let connect_timeout = self
            .spec
            .reconnect_timeout
            .unwrap_or(self.settings.request_timeout);
        // The shared retry loop: `attempts` reconnects, waiting 1 s, 2 s, 4 s, … (at most
        // [`MAX_RECONNECT_DELAY`]) in between.
        let policy = RetryPolicy::doubling(attempts, Duration::from_secs(1), MAX_RECONNECT_DELAY)
            .without_delays_if(self.settings.no_retry_delay);
        let (opened, _) = retry::run(
            &policy,
            |_| async {
                match open_session(
                    &self.spec,
                    &self.settings,
                    &self.log,
                    &self.label,
                    connect_timeout,
                )
                .await
                {
                    Ok(session) => retry::Verdict::Done(Ok(session)),
                    Err(error) => retry::Verdict::Retry {
                        reason: error.to_string(),
                        outcome: Err(error),
                        retry_after: None,
                    },
                }
            },
            |_, _| {},
        )
        .await;
        *self.session.write().await = Some(Arc::new(opened?));
        Ok(())
    }

    /// Closes the session and ends the server process (stdin closed, then `SIGTERM`, then
    /// `SIGKILL` to its whole process group). Idempotent.
    pub async fn shutdown(&self) {
        let session = self.session.write().await.take();
        if let Some(session) = session {
            session.close().await;
        }
    }
}

impl Session {
    /// Cancels the calls still in flight (so that a server waiting for its handlers to finish
    /// can stop them), then cancels the rmcp service, which drops its transport and so closes
    /// the server's stdin; then the process module's shutdown: wait, `SIGTERM`, wait, `SIGKILL`
    /// to the server's process group.
    async fn close(&self) {
        self.in_flight.cancel_all(&self.peer).await;
        let service = self.service.lock().await.take();
        if let Some(mut service) = service {
            let _ = service.close_with_timeout(SESSION_CLOSE_GRACE).await;
        }
        let child = self.child.lock().await.take();
        if let Some(child) = child {
            child.shutdown(SHUTDOWN_GRACE).await;
        }
    }
}

/// Starts or reaches the server and does the handshake within `timeout`.
async fn open_session(
    spec: &McpServerSpec,
    settings: &McpSettings,
    log: &SubprocessLog,
    label: &str,
    timeout: Duration,
) -> Result<Session, McpError> {
    if let Some(url) = &spec.url {
        return open_http_session(spec, settings, url, label, timeout).await;
    }
    let Some(command) = &spec.command else {
        return Err(McpError::NoServer);
    };
    if settings.deny_exec {
        return Err(McpError::DenyExec {
            server: label.to_owned(),
        });
    }
    let mut env = settings.inherited_env.clone();
    env.extend(spec.env.clone());
    let working_dir = spec.cwd.clone().unwrap_or_else(|| PathBuf::from("."));
    let child_spec = ChildSpec {
        purpose: "mcp-server".to_owned(),
        program: find_program(command, &env, &working_dir)
            .unwrap_or_else(|| PathBuf::from(command)),
        args: spec.args.clone(),
        env,
        working_dir,
        stdin: true,
        stdout: true,
    };
    let mut child = process::spawn(&child_spec, log).map_err(|source| McpError::Spawn {
        server: label.to_owned(),
        source,
    })?;
    let tail = child.stderr();
    let (Some(stdout), Some(stdin)) = (child.take_stdout(), child.take_stdin()) else {
        return Err(McpError::Spawn {
            server: label.to_owned(),
            source: std::io::Error::other("the server's stdio was not piped"),
        });
    };
    let noted = tail.clone();
    let transport = CappedStdio::new(
        stdout,
        stdin,
        settings.max_result_bytes,
        Box::new(move |line| noted.push(&format!("{line}\n"))),
    );
    // A failed handshake drops `child`, which kills the server's group.
    let (service, peer) = handshake(transport, label, timeout, &tail).await?;
    Ok(Session {
        service: tokio::sync::Mutex::new(Some(service)),
        peer,
        child: tokio::sync::Mutex::new(Some(child)),
        stderr: tail,
        in_flight: InFlight::default(),
    })
}

async fn open_http_session(
    spec: &McpServerSpec,
    settings: &McpSettings,
    url: &str,
    label: &str,
    timeout: Duration,
) -> Result<Session, McpError> {
    let parsed = url::Url::parse(url).map_err(|source| McpError::InvalidUrl {
        url: label.to_owned(),
        source,
    })?;
    let client =
        crate::http::client(&settings.http_settings()).map_err(|source| McpError::HttpClient {
            server: label.to_owned(),
            source,
        })?;
    let headers = header_map(spec).map_err(|name| McpError::InvalidHeader {
        server: label.to_owned(),
        name,
    })?;
    let tail = StderrTail::default();
    let (service, peer) = match spec.transport {
        McpHttpTransport::StreamableHttp => {
            // Answers are held to `--max-tool-result`, whether a JSON body or an event.
            let mut config = StreamableHttpClientTransportConfig::with_uri(parsed.as_str())
                .max_sse_event_size(settings.max_result_bytes)
                .max_json_response_size(settings.max_result_bytes);
            config.custom_headers = headers
                .into_iter()
                .filter_map(|(name, value)| Some((name?, value)))
                .collect();
            let transport = StreamableHttpClientTransport::with_client(
                super::cap::CappedHttpClient { inner: client },
                config,
            );
            handshake(transport, label, timeout, &tail).await?
        }
        // AIGNE's default for `url`: the legacy SSE transport.
        McpHttpTransport::Sse => {
            let transport = match tokio::time::timeout(
                timeout,
                SseClientTransport::connect(client, parsed, headers, settings.max_result_bytes),
            )
            .await
            {
                Ok(Ok(transport)) => transport,
                Ok(Err(source)) => {
                    return Err(McpError::Connect {
                        server: label.to_owned(),
                        stderr: String::new(),
                        source: Box::new(source),
                    });
                }
                Err(_) => {
                    return Err(McpError::Timeout {
                        server: label.to_owned(),
                        method: "initialize",
                        tool: None,
                        timeout,
                    });
                }
            };
            handshake(transport, label, timeout, &tail).await?
        }
    };
    Ok(Session {
        service: tokio::sync::Mutex::new(Some(service)),
        peer,
        child: tokio::sync::Mutex::new(None),
        stderr: tail,
        in_flight: InFlight::default(),
    })
}

/// `opts.requestInit.headers` as HTTP headers, or the name of the first bad one (a value never
/// appears in errors).
fn header_map(spec: &McpServerSpec) -> Result<reqwest::header::HeaderMap, String> {
    let mut headers = reqwest::header::HeaderMap::new();
    for (name, value) in &spec.headers {
        let parsed_name =
            reqwest::header::HeaderName::from_bytes(name.as_bytes()).map_err(|_| name.clone())?;
        let mut parsed_value =
            reqwest::header::HeaderValue::from_str(value).map_err(|_| name.clone())?;
        parsed_value.set_sensitive(true);
        headers.insert(parsed_name, parsed_value);
    }
    Ok(headers)
}

/// The legacy `initialize` handshake (what AIGNE's TypeScript SDK speaks), bounded by `timeout`.
async fn handshake<T, E, A>(
    transport: T,
    label: &str,
    timeout: Duration,
    stderr: &StderrTail,
) -> Result<
    (
        RunningService<RoleClient, ClientConfig>,
        rmcp::service::Peer<RoleClient>,
    ),
    McpError,
>
where
    T: rmcp::transport::IntoTransport<RoleClient, E, A> + Send + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    let info = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("aigne-ci", env!("CARGO_PKG_VERSION")),
    )
    .with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE);
    match tokio::time::timeout(timeout, info.serve(transport)).await {
        Ok(Ok(service)) => {
            let peer = service.peer().clone();
            Ok((service, peer))
        }
        Ok(Err(source)) => Err(McpError::Connect {
            server: label.to_owned(),
            stderr: stderr.last_lines(STDERR_TAIL_LINES),
            source: Box::new(source),
        }),
        Err(_) => Err(McpError::Timeout {
            server: label.to_owned(),
            method: "initialize",
            tool: None,
            timeout,
        }),
    }
}

/// AIGNE `toolFromMCPTool`: empty `properties` ⇒ `{}`, else the tool's schema as is.
fn tool_from_mcp(tool: rmcp::model::Tool) -> McpTool {
    let schema = Value::Object(tool.input_schema.as_ref().clone());
    let has_properties = schema
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|properties| !properties.is_empty());
    McpTool {
        name: tool.name.into_owned(),
        description: tool.description.map(|description| description.into_owned()),
        input_schema: if has_properties {
            schema
        } else {
            Value::Object(Map::new())
        },
    }
}

/// The ids of `tools/call` requests sent and not answered yet.
#[derive(Clone, Default)]
struct InFlight(Arc<Mutex<HashSet<RequestId>>>);

impl InFlight {
    fn start(&self, peer: &rmcp::service::Peer<RoleClient>, id: RequestId) -> PendingCall {
        if let Ok(mut ids) = self.0.lock() {
            ids.insert(id.clone());
        }
        PendingCall {
            in_flight: self.clone(),
            peer: peer.clone(),
            id: Some(id),
        }
    }

    fn take_all(&self) -> Vec<RequestId> {
        self.0
            .lock()
            .map(|mut ids| ids.drain().collect())
            .unwrap_or_default()
    }

    /// Sends `notifications/cancelled` for every call still in flight and waits (bounded) until
    /// they are written, so that they reach the server before its stdin closes.
    async fn cancel_all(&self, peer: &rmcp::service::Peer<RoleClient>) {
        let ids = self.take_all();
        if ids.is_empty() {
            return;
        }
        let sends = ids
            .into_iter()
            .map(|id| peer.send_notification(cancelled(id, "aigne-ci is shutting down").into()));
        let _ = tokio::time::timeout(CANCEL_GRACE, futures::future::join_all(sends)).await;
    }
}

fn cancelled(id: RequestId, reason: &str) -> CancelledNotification {
    CancelledNotification::new(CancelledNotificationParam::new(
        Some(id),
        Some(reason.to_owned()),
    ))
}

/// One call in flight: when dropped before [`PendingCall::answered`] (its future was dropped,
/// or timed out), it tells the server the request is cancelled.
struct PendingCall {
    in_flight: InFlight,
    peer: rmcp::service::Peer<RoleClient>,
    id: Option<RequestId>,
}

impl PendingCall {
    fn answered(mut self) {
        if let Some(id) = self.id.take()
            && let Ok(mut ids) = self.in_flight.0.lock()
        {
            ids.remove(&id);
        }
    }
}

impl Drop for PendingCall {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else {
            return;
        };
        let in_flight = self.in_flight.clone();
        let peer = self.peer.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = peer
                    .send_notification(
                        cancelled(id.clone(), "request abandoned by aigne-ci").into(),
                    )
                    .await;
                if let Ok(mut ids) = in_flight.0.lock() {
                    ids.remove(&id);
                }
            });
        }
    }
}
