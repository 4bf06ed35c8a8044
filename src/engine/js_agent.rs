//! JavaScript agents inside the native engine: `.js`/`.mjs` files and inline `type: function`
//! run through the Node bridge ([`super::js`]).
//!
//! A JS file's name, description and schemas live in its default export, so a [`AgentKind::JsFile`]
//! definition is *resolved* (loaded through the bridge, once per definition) before it is used as
//! a tool, a team member or an entry agent. While a JS agent runs, its
//! `options.context.invoke(agent, input)` calls come back here over a channel and run as nested
//! invocations of the same case; `userContext` is one object per case.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde_json::{Map, Value};
use tokio::sync::{mpsc, oneshot};

use crate::project::{AgentDef, AgentKind};

use super::error::InvokeError;
use super::js::{JsAgentKind, JsBridge, JsError, JsHost, JsHostError, JsSource};
use super::{Engine, Run};

/// The engine's JavaScript state: the bridge (when the run allows one) and resolved files.
#[derive(Debug, Default)]
pub(super) struct JsAgents {
    bridge: Option<JsBridge>,
    resolved: Mutex<HashMap<usize, Arc<AgentDef>>>,
    next_case: AtomicU64,
}

impl JsAgents {
    pub(super) fn new(bridge: Option<JsBridge>) -> Self {
        Self {
            bridge,
            ..Self::default()
        }
    }

    /// A fresh per-case context (`userContext` starts empty, as in AIGNE).
    pub(super) fn case_context(&self) -> JsCaseContext {
        JsCaseContext {
            id: format!("case-{}", self.next_case.fetch_add(1, Ordering::SeqCst)),
            user_context: Arc::new(Mutex::new(Value::Object(Map::new()))),
        }
    }
}

/// What JavaScript shares across the nested calls of one case.
#[derive(Debug, Clone)]
pub(super) struct JsCaseContext {
    id: String,
    user_context: Arc<Mutex<Value>>,
}

/// `context.invoke` from JavaScript, waiting for the engine.
struct HostRequest {
    agent: String,
    input: Value,
    reply: oneshot::Sender<Result<Value, JsHostError>>,
}

/// The [`JsHost`] of one JS call: forwards invocations to the future that runs the call.
struct ChannelHost {
    sender: mpsc::UnboundedSender<HostRequest>,
    context: JsCaseContext,
}

#[async_trait]
impl JsHost for ChannelHost {
    async fn invoke(&self, agent: &str, input: Value) -> Result<Value, JsHostError> {
        let (reply, answer) = oneshot::channel();
        let request = HostRequest {
            agent: agent.to_owned(),
            input,
            reply,
        };
        let gone = || JsHostError {
            message: format!("cannot invoke `{agent}`: the calling agent already returned"),
        };
        self.sender.send(request).map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    fn context_id(&self) -> String {
        self.context.id.clone()
    }

    fn user_context(&self) -> Value {
        self.context
            .user_context
            .lock()
            .map(|value| value.clone())
            .unwrap_or_default()
    }

    fn set_user_context(&self, user_context: Value) {
        if let Ok(mut value) = self.context.user_context.lock() {
            *value = user_context;
        }
    }
}

impl Engine {
    /// The agent named `name` (the first of `agents:` for [`None`]), also found by the name a
    /// JS file exports (which may differ from its file name).
    pub(super) async fn find_agent(
        &self,
        name: Option<&str>,
    ) -> Result<Arc<AgentDef>, InvokeError> {
        let error = match self.project.agent(name) {
            Ok(agent) => return self.resolve_js(agent).await,
            Err(error) => error,
        };
        let Some(name) = name else {
            return Err(error.into());
        };
        let candidates: Vec<Arc<AgentDef>> = self
            .project
            .top_level_agents()
            .into_iter()
            .filter(|agent| matches!(agent.kind, AgentKind::JsFile))
            .cloned()
            .collect();
        if candidates.is_empty() || self.js.bridge.is_none() {
            return Err(error.into());
        }
        for candidate in candidates {
            let resolved = self.resolve_js(&candidate).await?;
            if resolved.name == name || resolved.alias.iter().any(|alias| alias == name) {
                return Ok(resolved);
            }
        }
        Err(error.into())
    }

    /// The name under which [`Engine::invoke`] finds agent `name`: the project's own, or the
    /// name a JavaScript file's default export gives it (loading the project's JS files with
    /// the Node bridge to find out).
    pub async fn agent_name(&self, name: Option<&str>) -> Result<String, InvokeError> {
        self.find_agent(name).await.map(|agent| agent.name.clone())
    }

    /// A JS file's definition with the name, description, schemas and `default_input` its
    /// default export carries. Other kinds come back as they are.
    pub(super) async fn resolve_js(
        &self,
        agent: &Arc<AgentDef>,
    ) -> Result<Arc<AgentDef>, InvokeError> {
        if !matches!(agent.kind, AgentKind::JsFile) {
            return Ok(Arc::clone(agent));
        }
        let key = Arc::as_ptr(agent) as usize;
        let cached = self
            .js
            .resolved
            .lock()
            .ok()
            .and_then(|resolved| resolved.get(&key).cloned());
        if let Some(resolved) = cached {
            return Ok(resolved);
        }
        let bridge = self.bridge(agent)?;
        let info = bridge
            .load(&JsSource::File(agent.path.clone()))
            .await
            .map_err(InvokeError::Js)?;
        match &info.kind {
            JsAgentKind::Function => {}
            JsAgentKind::Agent { class_name } if class_name == "FunctionAgent" => {}
            JsAgentKind::Agent { class_name } => {
                return Err(super::unsupported(
                    agent,
                    format!("a JavaScript `{class_name}` instance"),
                ));
            }
            JsAgentKind::Definition => {
                return Err(super::unsupported(
                    agent,
                    "a JavaScript agent definition object".to_owned(),
                ));
            }
        }
        let mut definition = AgentDef::clone(agent);
        if let Some(name) = info.name {
            definition.name = name;
        }
        if info.description.is_some() {
            definition.description = info.description;
        }
        if let Some(schema) = info.input_schema.filter(Value::is_object) {
            definition.input_schema = Some(schema);
        }
        if let Some(schema) = info.output_schema.filter(Value::is_object) {
            definition.output_schema = Some(schema);
        }
        // AIGNE: the file's own `default_input` wins over the reference's.
        if let Some(Value::Object(default_input)) = info.default_input {
            definition.default_input.extend(default_input);
        }
        let resolved = Arc::new(definition);
        if let Ok(mut cache) = self.js.resolved.lock() {
            cache.insert(key, Arc::clone(&resolved));
        }
        Ok(resolved)
    }

    /// Runs a JS file or inline function agent, answering its `context.invoke` calls.
    pub(super) async fn run_js(
        &self,
        run: &Run,
        agent: &Arc<AgentDef>,
        input: &Map<String, Value>,
    ) -> Result<Map<String, Value>, InvokeError> {
        let source = match &agent.kind {
            AgentKind::JsFile => JsSource::File(agent.path.clone()),
            AgentKind::Function { process } => JsSource::Inline {
                name: agent.name.clone(),
                code: process.clone(),
            },
            _ => return Err(super::unsupported(agent, super::agent_type_feature(agent))),
        };
        let bridge = self.bridge(agent)?;
        let info = bridge.load(&source).await.map_err(InvokeError::Js)?;
        let handle = info.handle.ok_or_else(|| {
            InvokeError::Js(JsError::NotCallable {
                agent: agent.name.clone(),
            })
        })?;
        let (sender, mut requests) = mpsc::unbounded_channel();
        let host = Arc::new(ChannelHost {
            sender,
            context: run.js.clone(),
        });
        let call = bridge.call(handle, Value::Object(input.clone()), host);
        tokio::pin!(call);
        let mut nested = FuturesUnordered::new();
        let result = loop {
            tokio::select! {
                result = &mut call => break result,
                Some(request) = requests.recv() => nested.push(self.answer_js(run, request)),
                Some(()) = nested.next(), if !nested.is_empty() => {}
            }
        };
        let output = result.map_err(InvokeError::Js)?;
        // A function that returns an agent hands the case over to it (AIGNE `transferAgentTo`):
        // the target runs on the original input.
        if let Some(target) = output
            .get("$transferAgentTo")
            .and_then(|transfer| transfer.get("agent"))
            .and_then(Value::as_str)
        {
            let target = self.find_agent(Some(target)).await?;
            return self.invoke_agent(run, &target, input.clone(), None).await;
        }
        match output {
            Value::Object(map) => Ok(map),
            other => Err(InvokeError::Agent {
                agent: agent.name.clone(),
                message: format!(
                    "expect to return a record type such as {{result: ...}}, but got ({})",
                    crate::project::type_name(&other)
                ),
            }),
        }
    }

    async fn answer_js(&self, run: &Run, request: HostRequest) {
        let result = async {
            let agent = self.find_agent(Some(&request.agent)).await?;
            let input = match request.input {
                Value::Object(map) => map,
                _ => Map::new(),
            };
            self.invoke_agent(run, &agent, input, None).await
        }
        .await;
        let reply = result.map(Value::Object).map_err(|error| JsHostError {
            message: error.tool_message(),
        });
        let _ = request.reply.send(reply);
    }

    fn bridge(&self, agent: &AgentDef) -> Result<&JsBridge, InvokeError> {
        self.js.bridge.as_ref().ok_or_else(|| {
            super::unsupported(
                agent,
                format!(
                    "{} (this run has no Node bridge)",
                    super::agent_type_feature(agent)
                ),
            )
        })
    }
}
