//! The Node bridge: runs a project's JavaScript function agents for the native engine.
//!
//! One long-lived `node` child per run, started on the first [`JsBridge::load`] (never when a
//! project has no JavaScript), spoken to in JSON lines (protocol: the header of `bridge.mjs`,
//! which ships inside the binary and is written to the cache). It loads `.js`/`.mjs` files
//! (default export: a function with `description`, `input_schema`, … properties, an agent
//! instance, or a definition object) and inline `type: function` `process` bodies, and calls
//! them as `(input, options)`. `options.context.invoke(agent, input)` and
//! `options.context.agents[name]` come back to the engine through [`JsHost`] on the same pipe;
//! `options.context.userContext` is one object per case, shared by nested calls;
//! `options.prompts` throws (aigne-ci never prompts).
//!
//! A call that does not return in time is a [`JsError::Timeout`]; when node no longer answers
//! (a synchronous endless loop), it is killed and restarted on the next call, the loaded files
//! are loaded again and their handles stay valid.

mod error;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value, json};

pub use error::{JsError, install_failure_hint};

use crate::engine::line_child::{LineChild, LineChildError, LineChildSpec, MessageHandler};
use crate::engine::npm::{self, NpmError, NpmSettings};
use crate::engine::subprocess::{SubprocessLog, find_program};

/// The bridge script, shipped inside the binary.
const BRIDGE_SCRIPT: &str = include_str!("bridge.mjs");

/// The name the bridge gives an error about a reply over `--max-tool-result`.
const TOO_LARGE: &str = "AigneCiTooLarge";

/// How long a bridge that let a call time out gets to prove it still answers.
const PING_TIMEOUT: Duration = Duration::from_secs(1);

/// What the bridge needs from the run's settings.
#[derive(Debug, Clone)]
pub struct JsSettings {
    /// The complete environment of the `node` child (its `PATH` is where `node` is looked up).
    pub env: BTreeMap<String, String>,
    /// node's working folder: where aigne-ci was started, as under the official CLI
    /// (`process.cwd()` in the project's JavaScript).
    pub working_dir: PathBuf,
    /// The project folder (where its `package.json` dependencies are installed).
    pub project_dir: PathBuf,
    /// Where the bridge script is written (a cache folder).
    pub script_dir: PathBuf,
    /// Longest a single call may take.
    pub call_timeout: Duration,
    /// Largest reply a call may send back (`--max-tool-result`).
    pub max_result_bytes: usize,
    /// `--deny-exec`: refuse to start node.
    pub deny_exec: bool,
    /// Names of the project's agents (what `options.context.agents` lists).
    pub agent_names: Vec<String>,
    /// How to install the project's `package.json` dependencies before node first starts
    /// ([`None`]: never install).
    pub dependencies: Option<NpmSettings>,
}

/// What to load.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum JsSource {
    /// A `.js`/`.mjs` agent file (absolute path).
    File(PathBuf),
    /// An inline `type: function` agent: the body of `async (input, options) => { … }`.
    Inline {
        /// The agent's name.
        name: String,
        /// The `process` body.
        code: String,
    },
}

impl JsSource {
    fn label(&self) -> String {
        match self {
            Self::File(path) => path.display().to_string(),
            Self::Inline { name, .. } => name.clone(),
        }
    }
}

/// A loaded, callable agent inside the bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct JsHandle(u64);

/// What a JavaScript file exported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsAgentKind {
    /// A function (or `{process: function, …}`): callable.
    Function,
    /// An agent instance built with `@aigne/core` (`class_name`: `FunctionAgent`, `AIAgent`, …);
    /// callable when it is a `FunctionAgent`.
    Agent {
        /// The instance's class.
        class_name: String,
    },
    /// A plain definition object, to be read like a YAML agent file (not callable).
    Definition,
}

/// What [`JsBridge::load`] learnt about an agent.
#[derive(Debug, Clone)]
pub struct JsAgentInfo {
    /// How to call it ([`None`] for definitions).
    pub handle: Option<JsHandle>,
    /// What was exported.
    pub kind: JsAgentKind,
    /// `agent_name`/`agentName`/`name`, else the function's name.
    pub name: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `input_schema` (a JSON Schema, or a path as written).
    pub input_schema: Option<Value>,
    /// `output_schema`.
    pub output_schema: Option<Value>,
    /// `default_input`.
    pub default_input: Option<Value>,
    /// Every JSON-safe property (the whole definition for [`JsAgentKind::Definition`]).
    pub definition: Map<String, Value>,
}

/// An error the engine reports back to JavaScript (it becomes a thrown `Error`).
#[derive(Debug, Clone)]
pub struct JsHostError {
    /// The message the JavaScript error gets.
    pub message: String,
}

/// The engine, as seen from JavaScript: one per case (or per invocation tree).
#[async_trait]
pub trait JsHost: Send + Sync {
    /// `options.context.invoke(agent, input)` for an agent of the project, by name.
    async fn invoke(&self, agent: &str, input: Value) -> Result<Value, JsHostError>;
    /// Identifies the case: nested calls with the same id share one `userContext` object.
    fn context_id(&self) -> String;
    /// The current `userContext`.
    fn user_context(&self) -> Value;
    /// Stores the `userContext` JavaScript left behind.
    fn set_user_context(&self, user_context: Value);
}

/// The bridge to one `node` child. Cheap to clone.
#[derive(Clone)]
pub struct JsBridge {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for JsBridge {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("JsBridge")
            .field("working_dir", &self.inner.settings.working_dir)
            .finish_non_exhaustive()
    }
}

struct Loaded {
    request: Value,
    label: String,
}

type CallRegistry = Arc<Mutex<HashMap<u64, Arc<dyn JsHost>>>>;

struct Inner {
    settings: JsSettings,
    log: SubprocessLog,
    child: tokio::sync::Mutex<Option<LineChild>>,
    /// The outcome of installing the project's dependencies (once, before node first starts).
    dependencies: tokio::sync::OnceCell<Result<(), Arc<NpmError>>>,
    loaded: Mutex<Vec<Loaded>>,
    infos: Mutex<HashMap<JsSource, JsAgentInfo>>,
    labels: Mutex<HashMap<JsHandle, String>>,
    calls: CallRegistry,
    next_handle: AtomicU64,
    next_call: AtomicU64,
}

#[derive(Debug, Deserialize)]
struct Reply {
    ok: bool,
    #[serde(default)]
    value: Value,
    #[serde(default)]
    user_context: Option<Value>,
    #[serde(default)]
    error: Option<ReplyError>,
}

#[derive(Debug, Deserialize)]
struct ReplyError {
    message: String,
    #[serde(default)]
    name: Option<String>,
    /// What was over `--max-tool-result` (errors named [`TOO_LARGE`]).
    #[serde(default)]
    what: Option<String>,
    #[serde(default)]
    stack: Option<String>,
}

#[derive(Debug, Deserialize)]
struct LoadedValue {
    kind: String,
    #[serde(default)]
    class_name: Option<String>,
    #[serde(default)]
    definition: Map<String, Value>,
}

impl JsBridge {
    /// Prepares a bridge; `node` starts on the first [`JsBridge::load`].
    pub fn start(settings: JsSettings, log: SubprocessLog) -> Self {
        Self {
            inner: Arc::new(Inner {
                settings,
                log,
                child: tokio::sync::Mutex::new(None),
                dependencies: tokio::sync::OnceCell::new(),
                loaded: Mutex::new(Vec::new()),
                infos: Mutex::new(HashMap::new()),
                labels: Mutex::new(HashMap::new()),
                calls: Arc::new(Mutex::new(HashMap::new())),
                next_handle: AtomicU64::new(1),
                next_call: AtomicU64::new(1),
            }),
        }
    }

    /// Imports a file or compiles an inline body (once; later loads of the same source answer
    /// from memory).
    pub async fn load(&self, source: &JsSource) -> Result<JsAgentInfo, JsError> {
        if let Some(info) = self.cached_info(source) {
            return Ok(info);
        }
        let label = source.label();
        let child = self.child(&label).await?;
        let handle = JsHandle(self.inner.next_handle.fetch_add(1, Ordering::SeqCst));
        let request = match source {
            JsSource::File(path) => json!({"type": "load", "handle": handle.0, "path": path}),
            JsSource::Inline { name, code } => {
                json!({"type": "load_inline", "handle": handle.0, "name": name, "code": code})
            }
        };
        let reply = request_reply(&child, request.clone(), &label).await?;
        if !reply.ok {
            let error = reply.error.unwrap_or(ReplyError {
                message: "unknown error".to_owned(),
                name: None,
                what: None,
                stack: None,
            });
            return Err(JsError::Load {
                agent: label,
                message: error.message,
                stack: error.stack,
                install_failure: self.install_failure(),
            });
        }
        let loaded: LoadedValue =
            serde_json::from_value(reply.value).map_err(|error| JsError::Protocol {
                agent: label.clone(),
                message: error.to_string(),
            })?;
        let info = agent_info(handle, loaded);
        if info.handle.is_some() {
            let agent_label = info.name.clone().unwrap_or_else(|| label.clone());
            if let Ok(mut labels) = self.inner.labels.lock() {
                labels.insert(handle, agent_label);
            }
            if let Ok(mut loaded) = self.inner.loaded.lock() {
                loaded.push(Loaded { request, label });
            }
        }
        if let Ok(mut infos) = self.inner.infos.lock() {
            infos.insert(source.clone(), info.clone());
        }
        Ok(info)
    }

    /// Calls a loaded agent with `input`; `host` answers `options.context.invoke`.
    pub async fn call(
        &self,
        handle: JsHandle,
        input: Value,
        host: Arc<dyn JsHost>,
    ) -> Result<Value, JsError> {
        let agent = self.label(handle);
        let child = self.child(&agent).await?;
        let call_id = self.inner.next_call.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut calls) = self.inner.calls.lock() {
            calls.insert(call_id, Arc::clone(&host));
        }
        let _registration = CallRegistration {
            calls: &self.inner.calls,
            call_id,
        };
        let request = json!({
            "type": "call",
            "call_id": call_id,
            "handle": handle.0,
            "input": input,
            "context_id": host.context_id(),
            "user_context": host.user_context(),
            "agents": self.inner.settings.agent_names,
        });
        let timeout = self.inner.settings.call_timeout;
        let reply =
            match tokio::time::timeout(timeout, request_reply(&child, request, &agent)).await {
                Ok(reply) => reply?,
                Err(_) => {
                    self.recover(&child).await;
                    return Err(JsError::Timeout { agent, timeout });
                }
            };
        if let Some(user_context) = reply.user_context {
            host.set_user_context(user_context);
        }
        if reply.ok {
            Ok(reply.value)
        } else {
            let error = reply.error.unwrap_or(ReplyError {
                message: "unknown error".to_owned(),
                name: None,
                what: None,
                stack: None,
            });
            if error.name.as_deref() == Some(TOO_LARGE) {
                return Err(JsError::TooLarge {
                    agent,
                    what: error.what.unwrap_or_else(|| "the result".to_owned()),
                    limit: self.inner.settings.max_result_bytes,
                });
            }
            Err(JsError::Thrown {
                agent,
                message: error.message,
                stack: error.stack,
            })
        }
    }

    /// Whether a `node` child is running now.
    pub async fn is_running(&self) -> bool {
        self.inner
            .child
            .lock()
            .await
            .as_ref()
            .is_some_and(LineChild::is_alive)
    }

    /// Stops the child (closing its stdin), if one runs.
    pub async fn shutdown(&self) {
        let child = self.inner.child.lock().await.take();
        if let Some(child) = child {
            child.shutdown().await;
        }
    }

    fn cached_info(&self, source: &JsSource) -> Option<JsAgentInfo> {
        self.inner
            .infos
            .lock()
            .ok()
            .and_then(|infos| infos.get(source).cloned())
    }

    fn label(&self, handle: JsHandle) -> String {
        self.inner
            .labels
            .lock()
            .ok()
            .and_then(|labels| labels.get(&handle).cloned())
            .unwrap_or_else(|| format!("#{}", handle.0))
    }

    /// After a timeout: keep node when it still answers, else kill it (the next call restarts it).
    async fn recover(&self, child: &LineChild) {
        let ping = tokio::time::timeout(PING_TIMEOUT, child.request(json!({"type": "ping"}))).await;
        if !matches!(ping, Ok(Ok(_))) {
            child.kill().await;
        }
    }

    /// The running child, started (and its files loaded again) when needed.
    async fn child(&self, agent: &str) -> Result<LineChild, JsError> {
        let mut slot = self.inner.child.lock().await;
        if let Some(child) = slot.as_ref().filter(|child| child.is_alive()) {
            return Ok(child.clone());
        }
        let settings = &self.inner.settings;
        if settings.deny_exec {
            return Err(JsError::Denied {
                agent: agent.to_owned(),
            });
        }
        let program =
            find_program("node", &settings.env, &settings.working_dir).ok_or_else(|| {
                JsError::NodeMissing {
                    agent: agent.to_owned(),
                }
            })?;
        // A failed install is not fatal (the official runtime installs nothing); a load that
        // then fails says so.
        let _ = self.install_dependencies().await;
        let script = write_script(&settings.script_dir)?;
        let spec = LineChildSpec {
            purpose: "js-bridge".to_owned(),
            program: program.clone(),
            args: vec![
                script.display().to_string(),
                settings.max_result_bytes.to_string(),
            ],
            env: settings.env.clone(),
            working_dir: settings.working_dir.clone(),
            max_line_bytes: settings.max_result_bytes,
        };
        let child = LineChild::spawn(
            &spec,
            &self.inner.log,
            invoke_handler(Arc::clone(&self.inner.calls)),
        )
        .map_err(|source| JsError::Spawn {
            program,
            agent: agent.to_owned(),
            source,
        })?;
        // A restart: load every file again under its old handle.
        let replays: Vec<(Value, String)> = self
            .inner
            .loaded
            .lock()
            .map(|loaded| {
                loaded
                    .iter()
                    .map(|entry| (entry.request.clone(), entry.label.clone()))
                    .collect()
            })
            .unwrap_or_default();
        for (request, label) in replays {
            request_reply(&child, request, &label).await?;
        }
        *slot = Some(child.clone());
        Ok(child)
    }
}

impl JsBridge {
    /// Installs the project's `package.json` dependencies (once; later calls, and node's first
    /// start, reuse the outcome). The run calls it before the first case when its agents reach
    /// JavaScript, to warn about a failure; node's first start calls it otherwise.
    ///
    /// A failure is never the run's: the official runtime installs nothing, so the JavaScript
    /// runs as it would there (an import of a missing package fails to load, and that error's
    /// hint names the failed install).
    ///
    /// npm runs in a task of its own: a case that times out while npm works does not kill the
    /// install, and the next caller waits for it (on npm's lock) instead of starting over.
    pub async fn install_dependencies(&self) -> Result<(), Arc<NpmError>> {
        let Some(npm_settings) = &self.inner.settings.dependencies else {
            return Ok(());
        };
        let dir = &self.inner.settings.project_dir;
        self.inner
            .dependencies
            .get_or_init(|| {
                let (dir, npm_settings, log) =
                    (dir.clone(), npm_settings.clone(), self.inner.log.clone());
                async move {
                    let task_dir = dir.clone();
                    let task = tokio::spawn(async move {
                        npm::install_project_dependencies(&task_dir, &npm_settings, &log).await
                    });
                    match task.await {
                        Ok(result) => result.map(|_| ()).map_err(Arc::new),
                        Err(error) => Err(Arc::new(NpmError::Io {
                            path: dir,
                            source: std::io::Error::other(error.to_string()),
                        })),
                    }
                }
            })
            .await
            .clone()
    }

    /// The failed install, once one was tried and failed.
    fn install_failure(&self) -> Option<Arc<NpmError>> {
        self.inner
            .dependencies
            .get()
            .and_then(|outcome| outcome.clone().err())
    }
}

struct CallRegistration<'a> {
    calls: &'a CallRegistry,
    call_id: u64,
}

impl Drop for CallRegistration<'_> {
    fn drop(&mut self) {
        if let Ok(mut calls) = self.calls.lock() {
            calls.remove(&self.call_id);
        }
    }
}

async fn request_reply(child: &LineChild, request: Value, agent: &str) -> Result<Reply, JsError> {
    let reply = child.request(request).await.map_err(|error| match error {
        LineChildError::Exited { status, stderr } => JsError::Exited {
            agent: agent.to_owned(),
            reason: format!("node exited{status}"),
            stderr,
        },
        LineChildError::Write { message } => JsError::Exited {
            agent: agent.to_owned(),
            reason: message,
            stderr: child.stderr_tail(),
        },
        LineChildError::TooLong { limit } => JsError::TooLarge {
            agent: agent.to_owned(),
            what: "its reply".to_owned(),
            limit,
        },
    })?;
    serde_json::from_value(reply).map_err(|error| JsError::Protocol {
        agent: agent.to_owned(),
        message: error.to_string(),
    })
}

fn agent_info(handle: JsHandle, loaded: LoadedValue) -> JsAgentInfo {
    let kind = match loaded.kind.as_str() {
        "function" => JsAgentKind::Function,
        "agent" => JsAgentKind::Agent {
            class_name: loaded.class_name.unwrap_or_default(),
        },
        _ => JsAgentKind::Definition,
    };
    let definition = loaded.definition;
    let text = |key: &str| {
        definition
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let value = |keys: &[&str]| keys.iter().find_map(|key| definition.get(*key).cloned());
    JsAgentInfo {
        handle: (kind != JsAgentKind::Definition).then_some(handle),
        name: text("name"),
        description: text("description"),
        input_schema: value(&["input_schema", "inputSchema"]),
        output_schema: value(&["output_schema", "outputSchema"]),
        default_input: value(&["default_input", "defaultInput"]),
        kind,
        definition,
    }
}

/// Answers the bridge's `invoke` lines through the [`JsHost`] of the call they belong to.
fn invoke_handler(calls: CallRegistry) -> MessageHandler {
    Arc::new(move |message: Value, child: LineChild| {
        if message.get("type").and_then(Value::as_str) != Some("invoke") {
            return;
        }
        let id = message.get("id").cloned().unwrap_or(Value::Null);
        let call = message.get("call").and_then(Value::as_u64);
        let host = call.and_then(|call| {
            calls
                .lock()
                .ok()
                .and_then(|calls| calls.get(&call).cloned())
        });
        tokio::spawn(async move {
            let reply = match host {
                None => json!({
                    "id": id, "type": "invoke_result", "ok": false,
                    "error": {"message": "context.invoke was called after its agent returned"},
                }),
                Some(host) => {
                    if let Some(user_context) = message.get("user_context") {
                        host.set_user_context(user_context.clone());
                    }
                    let agent = message.get("agent").and_then(Value::as_str).unwrap_or("");
                    let input = message.get("input").cloned().unwrap_or(json!({}));
                    let result = host.invoke(agent, input).await;
                    let user_context = host.user_context();
                    match result {
                        Ok(value) => json!({
                            "id": id, "type": "invoke_result", "ok": true,
                            "value": value, "user_context": user_context,
                        }),
                        Err(error) => json!({
                            "id": id, "type": "invoke_result", "ok": false,
                            "error": {"message": error.message}, "user_context": user_context,
                        }),
                    }
                }
            };
            let _ = child.send(&reply).await;
        });
    })
}

/// Writes the bridge script under a name that changes with its content; reuses it when present.
fn write_script(dir: &Path) -> Result<PathBuf, JsError> {
    crate::engine::subprocess::write_script(dir, "bridge", BRIDGE_SCRIPT)
        .map_err(|(path, source)| JsError::WriteScript { path, source })
}
