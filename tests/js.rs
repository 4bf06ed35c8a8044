//! The Node bridge for JavaScript function agents (`aigne_ci::engine::js`), driven through its
//! library API with a fake engine host.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aigne_ci::engine::js::{
    JsAgentKind, JsBridge, JsError, JsHandle, JsHost, JsHostError, JsSettings, JsSource,
};
use aigne_ci::engine::subprocess::SubprocessLog;
use async_trait::async_trait;
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/js")
        .join(name)
}

fn settings(script_dir: &Path, path_var: &str) -> JsSettings {
    let mut env = BTreeMap::new();
    env.insert("PATH".to_owned(), path_var.to_owned());
    JsSettings {
        env,
        working_dir: fixture(""),
        project_dir: fixture(""),
        script_dir: script_dir.to_path_buf(),
        call_timeout: Duration::from_secs(10),
        max_result_bytes: aigne_ci::engine::DEFAULT_MAX_TOOL_RESULT,
        deny_exec: false,
        agent_names: vec!["greeter".to_owned(), "callerAgent".to_owned()],
        dependencies: None,
    }
}

fn system_path() -> String {
    std::env::var("PATH").unwrap_or_default()
}

/// A host that routes `greeter` back into the bridge (JS → Rust → JS) and fails the rest.
struct FakeHost {
    bridge: JsBridge,
    greeter: Option<JsHandle>,
    user_context: Mutex<Value>,
    invoked: Mutex<Vec<String>>,
}

#[async_trait]
impl JsHost for FakeHost {
    async fn invoke(&self, agent: &str, input: Value) -> Result<Value, JsHostError> {
        self.invoked.lock().unwrap().push(agent.to_owned());
        if let Value::Object(map) = &mut *self.user_context.lock().unwrap() {
            map.insert("seenByHost".to_owned(), json!(true));
        }
        let Some(greeter) = self.greeter.filter(|_| agent == "greeter") else {
            return Err(JsHostError {
                message: format!("agent `{agent}` not found"),
            });
        };
        let host = Arc::new(FakeHost {
            bridge: self.bridge.clone(),
            greeter: self.greeter,
            user_context: Mutex::new(self.user_context()),
            invoked: Mutex::new(Vec::new()),
        });
        let output = self
            .bridge
            .call(greeter, input, host.clone())
            .await
            .map_err(|error| JsHostError {
                message: error.to_string(),
            })?;
        self.set_user_context(host.user_context());
        Ok(output)
    }

    fn context_id(&self) -> String {
        "case-1".to_owned()
    }

    fn user_context(&self) -> Value {
        self.user_context.lock().unwrap().clone()
    }

    fn set_user_context(&self, user_context: Value) {
        *self.user_context.lock().unwrap() = user_context;
    }
}

fn no_host(bridge: &JsBridge) -> Arc<FakeHost> {
    Arc::new(FakeHost {
        bridge: bridge.clone(),
        greeter: None,
        user_context: Mutex::new(json!({})),
        invoked: Mutex::new(Vec::new()),
    })
}

#[tokio::test]
async fn function_file_loads_with_its_properties_and_is_called() {
    let dir = tempfile::tempdir().unwrap();
    let log = SubprocessLog::default();
    let bridge = JsBridge::start(settings(dir.path(), &system_path()), log.clone());
    assert!(!bridge.is_running().await, "node starts only when needed");

    let info = bridge
        .load(&JsSource::File(fixture("echo.mjs")))
        .await
        .unwrap();
    assert_eq!(info.kind, JsAgentKind::Function);
    assert_eq!(info.name.as_deref(), Some("echo"));
    assert_eq!(info.description.as_deref(), Some("Echoes its input"));
    assert_eq!(
        info.input_schema,
        Some(json!({
            "type": "object",
            "properties": {"text": {"type": "string"}},
            "required": ["text"],
        }))
    );
    let output = bridge
        .call(
            info.handle.unwrap(),
            json!({"text": "hi"}),
            no_host(&bridge),
        )
        .await
        .unwrap();
    assert_eq!(
        output,
        json!({"echo": {"text": "hi"}, "self": "echo", "hasPrompts": true})
    );

    let records = log.records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].purpose, "js-bridge");
    assert!(records[0].program.ends_with("node"));
    bridge.shutdown().await;
}

#[tokio::test]
async fn aigne_create_template_sandbox_tool_evaluates_code() {
    let dir = tempfile::tempdir().unwrap();
    let bridge = JsBridge::start(
        settings(dir.path(), &system_path()),
        SubprocessLog::default(),
    );
    let sandbox = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/projects/aigne-create-default/sandbox.js");
    let info = bridge.load(&JsSource::File(sandbox)).await.unwrap();
    assert_eq!(info.name.as_deref(), Some("evaluateJs"));
    assert_eq!(
        info.description.as_deref(),
        Some("This agent evaluates JavaScript code.")
    );
    let output = bridge
        .call(
            info.handle.unwrap(),
            json!({"code": "[1, 2, 3].map((n) => n * 2).join('-')"}),
            no_host(&bridge),
        )
        .await
        .unwrap();
    assert_eq!(output, json!({"result": "2-4-6"}));
}

#[tokio::test]
async fn context_invoke_routes_back_to_the_host_and_shares_user_context() {
    let dir = tempfile::tempdir().unwrap();
    let bridge = JsBridge::start(
        settings(dir.path(), &system_path()),
        SubprocessLog::default(),
    );
    let greeter = bridge
        .load(&JsSource::File(fixture("greeter.mjs")))
        .await
        .unwrap();
    let caller = bridge
        .load(&JsSource::File(fixture("caller.mjs")))
        .await
        .unwrap();
    assert_eq!(caller.name.as_deref(), Some("callerAgent"));
    let host = Arc::new(FakeHost {
        bridge: bridge.clone(),
        greeter: greeter.handle,
        user_context: Mutex::new(json!({"userId": "ci"})),
        invoked: Mutex::new(Vec::new()),
    });
    let output = bridge
        .call(caller.handle.unwrap(), json!({"name": "ada"}), host.clone())
        .await
        .unwrap();
    assert_eq!(
        output,
        json!({
            "greeting": "hello ada",
            "loud": "hello ADA",
            "failure": "agent `missing` not found",
            "agents": ["greeter", "callerAgent"],
            "seenByHost": true,
        })
    );
    assert_eq!(
        *host.invoked.lock().unwrap(),
        ["greeter", "greeter", "missing"]
    );
    assert_eq!(
        host.user_context(),
        json!({"userId": "ci", "visits": 1, "seenByHost": true, "greeted": ["ada", "ADA"]})
    );
}

#[tokio::test]
async fn thrown_errors_carry_message_and_stack() {
    let dir = tempfile::tempdir().unwrap();
    let bridge = JsBridge::start(
        settings(dir.path(), &system_path()),
        SubprocessLog::default(),
    );
    let info = bridge
        .load(&JsSource::File(fixture("throws.mjs")))
        .await
        .unwrap();
    let error = bridge
        .call(info.handle.unwrap(), json!({}), no_host(&bridge))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "the JavaScript agent `thrower` failed: the widget is broken"
    );
    let stack = error.stack().unwrap();
    assert!(
        stack.starts_with("TypeError: the widget is broken"),
        "{stack}"
    );
    assert!(stack.contains("throws.mjs:2"), "{stack}");

    // The bridge survives and keeps answering.
    let echo = bridge
        .load(&JsSource::File(fixture("echo.mjs")))
        .await
        .unwrap();
    assert!(
        bridge
            .call(echo.handle.unwrap(), json!({"text": "x"}), no_host(&bridge))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn syntax_errors_fail_the_load_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bridge = JsBridge::start(
        settings(dir.path(), &system_path()),
        SubprocessLog::default(),
    );
    let error = bridge
        .load(&JsSource::File(fixture("broken.mjs")))
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "cannot load the JavaScript agent `{}`: ",
            fixture("broken.mjs").display()
        )),
        "{message}"
    );
    assert!(message.contains("Unexpected"), "{message}");
}

#[tokio::test]
async fn hanging_calls_time_out_and_a_stuck_node_is_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings(dir.path(), &system_path());
    settings.call_timeout = Duration::from_millis(300);
    let log = SubprocessLog::default();
    let bridge = JsBridge::start(settings, log.clone());
    let hangs = bridge
        .load(&JsSource::File(fixture("hangs.mjs")))
        .await
        .unwrap();
    let echo = bridge
        .load(&JsSource::File(fixture("echo.mjs")))
        .await
        .unwrap();

    // A promise that never settles: node still answers, so it is kept.
    let error = bridge
        .call(
            hangs.handle.unwrap(),
            json!({"mode": "async"}),
            no_host(&bridge),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, JsError::Timeout { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "the JavaScript agent `hangs` did not return within 300ms"
    );
    assert_eq!(log.records().len(), 1);

    // A synchronous endless loop: node is killed; the next call restarts it and reloads.
    let error = bridge
        .call(
            hangs.handle.unwrap(),
            json!({"mode": "sync"}),
            no_host(&bridge),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, JsError::Timeout { .. }), "{error:?}");
    assert!(!bridge.is_running().await);
    let output = bridge
        .call(
            echo.handle.unwrap(),
            json!({"text": "again"}),
            no_host(&bridge),
        )
        .await
        .unwrap();
    assert_eq!(output["echo"], json!({"text": "again"}));
    assert_eq!(log.records().len(), 2);
}

#[tokio::test]
async fn node_missing_names_the_agent() {
    let dir = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let bridge = JsBridge::start(
        settings(dir.path(), &empty.path().display().to_string()),
        SubprocessLog::default(),
    );
    let error = bridge
        .load(&JsSource::File(fixture("echo.mjs")))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "`node` was not found on PATH; it is needed to run the JavaScript agent `{}`",
            fixture("echo.mjs").display()
        )
    );
    assert!(error.hint().unwrap().contains("actions/setup-node"));
}

#[tokio::test]
async fn deny_exec_refuses_before_starting_node() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings(dir.path(), &system_path());
    settings.deny_exec = true;
    let log = SubprocessLog::default();
    let bridge = JsBridge::start(settings, log.clone());
    let error = bridge
        .load(&JsSource::Inline {
            name: "guard".to_owned(),
            code: "return {}".to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "refusing to run the JavaScript agent `guard` because `--deny-exec` is set"
    );
    assert!(log.records().is_empty());
}

#[tokio::test]
async fn inline_function_bodies_prompts_streams_definitions_and_console() {
    let dir = tempfile::tempdir().unwrap();
    let bridge = JsBridge::start(
        settings(dir.path(), &system_path()),
        SubprocessLog::default(),
    );
    let inline = bridge
        .load(&JsSource::Inline {
            name: "adder".to_owned(),
            code: "return { sum: input.a + input.b, name: this.name };".to_owned(),
        })
        .await
        .unwrap();
    assert_eq!(
        bridge
            .call(
                inline.handle.unwrap(),
                json!({"a": 2, "b": 3}),
                no_host(&bridge)
            )
            .await
            .unwrap(),
        json!({"sum": 5, "name": "adder"})
    );

    let prompts = bridge
        .load(&JsSource::File(fixture("prompts.mjs")))
        .await
        .unwrap();
    let error = bridge
        .call(prompts.handle.unwrap(), json!({}), no_host(&bridge))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "the JavaScript agent `asks` failed: options.prompts.confirm() asks an interactive \
         question, which aigne-ci never does in CI; pass the answer in the case input instead"
    );

    let stream = bridge
        .load(&JsSource::File(fixture("stream.mjs")))
        .await
        .unwrap();
    assert_eq!(
        bridge
            .call(stream.handle.unwrap(), json!({}), no_host(&bridge))
            .await
            .unwrap(),
        json!({"message": "Hello", "done": true})
    );

    let definition = bridge
        .load(&JsSource::File(fixture("definition.mjs")))
        .await
        .unwrap();
    assert_eq!(definition.kind, JsAgentKind::Definition);
    assert_eq!(definition.handle, None);
    assert_eq!(
        Value::Object(definition.definition),
        json!({"type": "ai", "name": "defined", "instructions": "You are terse.",
               "input_key": "message", "hooks": {}})
    );

    let logs = bridge
        .load(&JsSource::File(fixture("logs.mjs")))
        .await
        .unwrap();
    assert_eq!(
        bridge
            .call(logs.handle.unwrap(), json!({}), no_host(&bridge))
            .await
            .unwrap(),
        json!({"logged": true})
    );
}

/// `--engine node`: the official AIGNE packages in a Node host.
mod node_engine {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use aigne_ci::engine::node::{
        DEFAULT_AIGNE_CLI_VERSION, NodeEngine, NodeEngineError, NodeEngineSettings,
        NodeInvokeError, NodeInvokeRequest,
    };
    use aigne_ci::engine::subprocess::SubprocessLog;
    use pretty_assertions::assert_eq;
    use serde_json::{Map, json};

    use crate::common::fake_openai::{FakeOpenAi, FakeToolCall, Reply};

    /// The folder holding `node_modules/@aigne/cli`: `AIGNE_CI_TEST_NODE_ENGINE_DIR` when set
    /// (CI pre-installs it), else one shared npm install under the temp folder (needs the npm
    /// registry once).
    fn packages() -> (Option<PathBuf>, PathBuf) {
        match std::env::var_os("AIGNE_CI_TEST_NODE_ENGINE_DIR") {
            Some(dir) => (Some(PathBuf::from(dir)), std::env::temp_dir()),
            None => (None, std::env::temp_dir().join("aigne-ci-test-node-engine")),
        }
    }

    fn project(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/projects")
            .join(name)
    }

    fn settings(project_dir: PathBuf, server: &FakeOpenAi) -> NodeEngineSettings {
        let (preinstalled, cache_dir) = packages();
        let mut env = BTreeMap::new();
        for key in ["PATH", "HOME"] {
            if let Ok(value) = std::env::var(key) {
                env.insert(key.to_owned(), value);
            }
        }
        env.insert("OPENAI_API_KEY".to_owned(), "sk-test".to_owned());
        env.insert("OPENAI_BASE_URL".to_owned(), server.base_url());
        NodeEngineSettings {
            env,
            working_dir: project_dir.clone(),
            project_dir,
            cache_dir,
            version: DEFAULT_AIGNE_CLI_VERSION.to_owned(),
            preinstalled,
            offline: false,
            deny_exec: false,
            allow_install_scripts: false,
            project_has_js: true,
            case_timeout: Duration::from_secs(20),
            max_reply_bytes: aigne_ci::engine::DEFAULT_MAX_TOOL_RESULT,
            max_reflection_rounds: 16,
            max_team_iterations: 1000,
            model: None,
            model_options: Map::new(),
        }
    }

    fn request(agent: &str, input: serde_json::Value) -> NodeInvokeRequest {
        NodeInvokeRequest {
            agent: agent.to_owned(),
            input,
            user_context: None,
            session: None,
            transcript: None,
        }
    }

    #[tokio::test]
    async fn runs_the_chat_agent_with_its_javascript_tool_through_the_official_runtime() {
        let server = FakeOpenAi::start();
        server.push(
            Reply::tool_calls([FakeToolCall::new(
                "call_1",
                "evaluateJs",
                json!({"code": "6 * 7"}),
            )])
            .usage(20, 7),
        );
        server.push(Reply::text("It is 42").usage(30, 4));
        let log = SubprocessLog::default();
        let engine = NodeEngine::start(settings(project("js-tools"), &server), log.clone())
            .await
            .unwrap();
        let names: Vec<_> = engine
            .project()
            .agents
            .iter()
            .map(|agent| agent.name.as_str())
            .collect();
        assert_eq!(names, ["chat", "report", "greeter", "slow"]);
        assert_eq!(engine.project().default_agent.as_deref(), Some("chat"));

        let outcome = engine
            .invoke(&request("chat", json!({"message": "what is 6 * 7?"})))
            .await
            .unwrap();
        assert_eq!(outcome.output, json!({"message": "It is 42"}));
        assert_eq!(
            (outcome.usage.input_tokens, outcome.usage.output_tokens),
            (50, 11)
        );
        let bodies = server.bodies();
        assert_eq!(bodies.len(), 2);
        assert_eq!(bodies[0]["model"], "gpt-4o-mini");
        assert_eq!(bodies[0]["tools"][0]["function"]["name"], "evaluateJs");
        let messages = bodies[1]["messages"].as_array().unwrap();
        let tool = messages.last().unwrap();
        assert_eq!(tool["role"], "tool");
        assert_eq!(tool["tool_call_id"], "call_1");
        assert_eq!(
            tool["content"],
            json!([{"type": "text", "text": "result: 42\n"}])
        );

        // A JS agent that calls another through `context.invoke`.
        let outcome = engine
            .invoke(&request("report", json!({"name": "ada"})))
            .await
            .unwrap();
        assert_eq!(outcome.output, json!({"report": "hello ada!"}));
        let purposes: Vec<_> = log.records().into_iter().map(|r| r.purpose).collect();
        assert_eq!(purposes, ["node-engine"]);
        engine.shutdown().await;
    }

    #[tokio::test]
    async fn a_case_that_hangs_restarts_the_host_without_losing_the_others() {
        let server = FakeOpenAi::start();
        let mut settings = settings(project("js-tools"), &server);
        settings.case_timeout = Duration::from_secs(3);
        let log = SubprocessLog::default();
        let engine = NodeEngine::start(settings, log.clone()).await.unwrap();
        let hanging = request("slow", json!({"mode": "sync"}));
        let fine = request("slow", json!({"mode": "fast"}));
        let mut turn = fine.clone();
        turn.session = Some("s".to_owned());
        assert_eq!(
            engine.invoke(&turn).await.unwrap().output,
            json!({"done": "fast"})
        );
        // The endless loop blocks the whole host: the fine case, sent just after, is stuck too
        // until the hanging one times out, then runs again on the new host.
        let (hung, done) = tokio::join!(engine.invoke(&hanging), async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            engine.invoke(&fine).await
        });
        let error = hung.unwrap_err();
        assert!(
            matches!(error, NodeInvokeError::Timeout { .. }),
            "{error:?}"
        );
        assert_eq!(error.to_string(), "agent `slow` did not finish within 3s");
        assert_eq!(done.unwrap().output, json!({"done": "fast"}));
        assert_eq!(log.records().len(), 2, "the host was started again once");
        // The session's first turn is gone with the killed host: its next turn says so
        // instead of running as a new conversation; a new session runs.
        let error = engine.invoke(&turn).await.unwrap_err();
        assert_eq!(error.kind(), "engine");
        assert_eq!(
            error.to_string(),
            "agent `slow`: the Node engine was restarted after an earlier turn of session `s`, \
             and the official runtime keeps a session's history only in the host it ran on"
        );
        turn.session = Some("t".to_owned());
        assert_eq!(
            engine.invoke(&turn).await.unwrap().output,
            json!({"done": "fast"})
        );
        engine.shutdown().await;
    }

    #[tokio::test]
    async fn agent_errors_fail_only_their_case() {
        let server = FakeOpenAi::start();
        server.push(Reply::error(401, json!({"error": {"message": "bad key"}})));
        let engine = NodeEngine::start(
            settings(project("js-tools"), &server),
            SubprocessLog::default(),
        )
        .await
        .unwrap();
        let error = engine
            .invoke(&request("chat", json!({"message": "hi"})))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), "agent");
        assert!(error.to_string().starts_with("agent `chat`: "), "{error}");
        assert!(error.to_string().contains("bad key"), "{error}");
        let error = engine
            .invoke(&request("nobody", json!({})))
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "agent `nobody`: agent `nobody` not found in the project"
        );
        let outcome = engine
            .invoke(&request("greeter", json!({"name": "bo"})))
            .await
            .unwrap();
        assert_eq!(outcome.output, json!({"text": "hello bo"}));
    }

    #[tokio::test]
    async fn start_errors_are_clear() {
        let server = FakeOpenAi::start();
        let missing = tempfile::tempdir().unwrap();
        let error = NodeEngine::start(
            settings(missing.path().to_path_buf(), &server),
            SubprocessLog::default(),
        )
        .await
        .unwrap_err();
        assert!(matches!(error, NodeEngineError::Load { .. }), "{error:?}");

        let cache = tempfile::tempdir().unwrap();
        let mut offline = settings(project("js-tools"), &server);
        offline.preinstalled = None;
        offline.cache_dir = cache.path().to_path_buf();
        offline.offline = true;
        let error = NodeEngine::start(offline, SubprocessLog::default())
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "the Node engine packages `@aigne/cli@1.59.0` are not installed in `{}` and `--offline` is set",
                cache.path().join("node-engine-v1/1.59.0").display()
            )
        );

        let mut denied = settings(project("js-tools"), &server);
        denied.deny_exec = true;
        let log = SubprocessLog::default();
        let error = NodeEngine::start(denied, log.clone()).await.unwrap_err();
        assert!(matches!(error, NodeEngineError::Denied));
        assert!(log.records().is_empty());

        let mut no_node = settings(project("js-tools"), &server);
        no_node
            .env
            .insert("PATH".to_owned(), missing.path().display().to_string());
        let error = NodeEngine::start(no_node, SubprocessLog::default())
            .await
            .unwrap_err();
        assert!(matches!(error, NodeEngineError::NodeMissing));

        // No provider key: the CLI would ask on the terminal; the host refuses instead of
        // hanging on a question nobody answers.
        let home = tempfile::tempdir().unwrap();
        let mut no_key = settings(project("js-tools"), &server);
        no_key.env.remove("OPENAI_API_KEY");
        no_key
            .env
            .insert("HOME".to_owned(), home.path().display().to_string());
        let error = NodeEngine::start(no_key, SubprocessLog::default())
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "the official AIGNE runtime cannot load the project `{}`: the official runtime \
                 would ask `No API key is configured for openai/gpt-4o-mini, How would you like \
                 to proceed?` and aigne-ci never prompts: set the provider's API key (e.g. \
                 OPENAI_API_KEY) or pass --model",
                project("js-tools").display()
            )
        );
        assert_eq!(
            error.hint().as_deref(),
            Some(
                "set the provider's key in the environment (e.g. `OPENAI_API_KEY`; \
                 `AIGNE_HUB_API_KEY` for AIGNE Hub), or pick a provider with `--model \
                 provider:name`"
            )
        );
    }
}

/// JavaScript agents inside the native engine: tools of the AI tool loop, team members,
/// `context.invoke`, and the same answers as the official runtime.
mod native_engine {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};
    use std::sync::Arc;
    use std::time::Duration;

    use aigne_ci::engine::js::{JsBridge, JsSettings};
    use aigne_ci::engine::subprocess::SubprocessLog;
    use aigne_ci::engine::{Engine, EngineSettings, InvokeRequest};
    use aigne_ci::model::registry::ModelRegistry;
    use aigne_ci::model::settings::ModelSettings;
    use aigne_ci::project::Project;
    use pretty_assertions::assert_eq;
    use serde_json::{Value, json};

    use crate::common::fake_openai::{FakeOpenAi, FakeToolCall, Reply};

    fn project_dir(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/projects")
            .join(name)
    }

    fn engine(dir: &Path, server: &FakeOpenAi, log: &SubprocessLog, script_dir: &Path) -> Engine {
        let project = Project::load(dir).unwrap();
        let mut variables = BTreeMap::new();
        variables.insert("OPENAI_API_KEY".to_owned(), "sk-test".to_owned());
        variables.insert("OPENAI_BASE_URL".to_owned(), server.base_url());
        let models =
            ModelRegistry::new(ModelSettings::from_variables(variables).without_retry_delays())
                .unwrap();
        let mut env = BTreeMap::new();
        env.insert("PATH".to_owned(), std::env::var("PATH").unwrap_or_default());
        let bridge = JsBridge::start(
            JsSettings {
                env,
                working_dir: dir.to_path_buf(),
                project_dir: dir.to_path_buf(),
                script_dir: script_dir.to_path_buf(),
                call_timeout: Duration::from_secs(10),
                max_result_bytes: aigne_ci::engine::DEFAULT_MAX_TOOL_RESULT,
                deny_exec: false,
                agent_names: project
                    .top_level_agents()
                    .iter()
                    .map(|agent| agent.name.clone())
                    .collect(),
                dependencies: None,
            },
            log.clone(),
        );
        Engine::new(
            Arc::new(project),
            Arc::new(models),
            EngineSettings {
                js: Some(bridge),
                ..EngineSettings::default()
            },
        )
    }

    fn request(agent: Option<&str>, input: Value) -> InvokeRequest {
        InvokeRequest {
            agent: agent.map(str::to_owned),
            input,
            case_label: "case".to_owned(),
            session: None,
        }
    }

    /// The `aigne create` template as generated, minus its MCP filesystem skill (that one is
    /// `npx -y @modelcontextprotocol/server-filesystem`, fetched from the npm registry).
    fn template_without_mcp() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for entry in fs_err::read_dir(project_dir("aigne-create-default")).unwrap() {
            let entry = entry.unwrap();
            fs_err::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
        }
        let manifest = dir.path().join("aigne.yaml");
        let text = fs_err::read_to_string(&manifest).unwrap();
        assert!(text.contains("  - filesystem.yaml\n"));
        fs_err::write(&manifest, text.replace("  - filesystem.yaml\n", "")).unwrap();
        dir
    }

    #[tokio::test]
    async fn aigne_create_template_runs_its_sandbox_tool_in_the_tool_loop() {
        let server = FakeOpenAi::start();
        server.push(Reply::tool_calls([FakeToolCall::new(
            "call_1",
            "evaluateJs",
            json!({"code": "[1, 2, 3].reduce((a, b) => a + b, 0)"}),
        )]));
        server.push(Reply::text("The sum is 6"));
        let project = template_without_mcp();
        let scripts = tempfile::tempdir().unwrap();
        let log = SubprocessLog::default();
        let engine = engine(project.path(), &server, &log, scripts.path());

        let outcome = engine
            .invoke(request(None, json!("add 1, 2 and 3")))
            .await
            .unwrap();
        assert_eq!(outcome.output, json!({"message": "The sum is 6"}));
        assert_eq!(outcome.model_calls, 2);

        let bodies = server.bodies();
        assert_eq!(
            bodies[0]["tools"],
            json!([{
                "type": "function",
                "function": {
                    "name": "evaluateJs",
                    "description": "This agent evaluates JavaScript code.",
                    "parameters": {
                        "type": "object",
                        "additionalProperties": false,
                        "properties": {
                            "code": {"type": "string", "description": "JavaScript code to evaluate"}
                        },
                        "required": ["code"],
                        "$schema": "http://json-schema.org/draft-07/schema#",
                    },
                },
            }])
        );
        let messages = bodies[1]["messages"].as_array().unwrap();
        let tool = messages.last().unwrap();
        assert_eq!(tool["role"], "tool");
        assert_eq!(tool["tool_call_id"], "call_1");
        let content = serde_json::to_string(&tool["content"]).unwrap();
        assert!(content.contains("result: 6"), "{content}");
        assert_eq!(log.records().len(), 1, "one node child for the run");
    }

    #[tokio::test]
    async fn js_agents_invoke_others_and_are_found_by_their_exported_names() {
        let server = FakeOpenAi::start();
        let scripts = tempfile::tempdir().unwrap();
        let log = SubprocessLog::default();
        let engine = engine(&project_dir("js-tools"), &server, &log, scripts.path());
        let outcome = engine
            .invoke(request(Some("report"), json!({"name": "ada"})))
            .await
            .unwrap();
        assert_eq!(outcome.output, json!({"report": "hello ada!"}));

        // Input validation uses the schema the file exports.
        let error = engine
            .invoke(request(Some("report"), json!({})))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), "schema");
        assert!(log.records().len() == 1);
        assert!(server.bodies().is_empty());
    }

    #[tokio::test]
    async fn js_errors_and_missing_bridge_are_reported_per_agent() {
        let server = FakeOpenAi::start();
        let project = Project::load(&project_dir("js-tools")).unwrap();
        let models = ModelRegistry::new(ModelSettings::from_variables(BTreeMap::new())).unwrap();
        let engine = Engine::new(
            Arc::new(project),
            Arc::new(models),
            EngineSettings::default(),
        );
        let error = engine
            .invoke(request(Some("greeter"), json!({"name": "x"})))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), "unsupported");
        assert!(error.to_string().contains("no Node bridge"), "{error}");
        drop(server);
    }

    /// The same cases through both engines give the same outputs.
    #[tokio::test]
    async fn native_and_node_engines_agree() {
        use aigne_ci::engine::node::{
            DEFAULT_AIGNE_CLI_VERSION, NodeEngine, NodeEngineSettings, NodeInvokeRequest,
        };
        let script = |server: &FakeOpenAi| {
            server.push(Reply::tool_calls([FakeToolCall::new(
                "call_1",
                "evaluateJs",
                json!({"code": "'ab'.repeat(2)"}),
            )]));
            server.push(Reply::text("abab it is"));
        };
        let cases = [
            ("chat", json!({"message": "repeat ab twice"})),
            ("report", json!({"name": "bo"})),
            ("greeter", json!({"name": "cy"})),
        ];

        let native_server = FakeOpenAi::start();
        script(&native_server);
        let scripts = tempfile::tempdir().unwrap();
        let native = engine(
            &project_dir("js-tools"),
            &native_server,
            &SubprocessLog::default(),
            scripts.path(),
        );
        let mut native_outputs = Vec::new();
        for (agent, input) in &cases {
            let outcome = native
                .invoke(request(Some(agent), input.clone()))
                .await
                .unwrap();
            native_outputs.push(outcome.output);
        }

        let node_server = FakeOpenAi::start();
        script(&node_server);
        let (preinstalled, cache_dir) = match std::env::var_os("AIGNE_CI_TEST_NODE_ENGINE_DIR") {
            Some(dir) => (Some(PathBuf::from(dir)), std::env::temp_dir()),
            None => (None, std::env::temp_dir().join("aigne-ci-test-node-engine")),
        };
        let mut env = BTreeMap::new();
        env.insert("PATH".to_owned(), std::env::var("PATH").unwrap_or_default());
        env.insert("OPENAI_API_KEY".to_owned(), "sk-test".to_owned());
        env.insert("OPENAI_BASE_URL".to_owned(), node_server.base_url());
        let node = NodeEngine::start(
            NodeEngineSettings {
                env,
                project_dir: project_dir("js-tools"),
                working_dir: project_dir("js-tools"),
                cache_dir,
                version: DEFAULT_AIGNE_CLI_VERSION.to_owned(),
                preinstalled,
                offline: false,
                deny_exec: false,
                allow_install_scripts: false,
                project_has_js: true,
                case_timeout: Duration::from_secs(20),
                max_reply_bytes: aigne_ci::engine::DEFAULT_MAX_TOOL_RESULT,
                max_reflection_rounds: 16,
                max_team_iterations: 1000,
                model: None,
                model_options: Default::default(),
            },
            SubprocessLog::default(),
        )
        .await
        .unwrap();
        let mut node_outputs = Vec::new();
        for (agent, input) in &cases {
            let outcome = node
                .invoke(&NodeInvokeRequest {
                    agent: (*agent).to_owned(),
                    input: input.clone(),
                    user_context: None,
                    session: None,
                    transcript: None,
                })
                .await
                .unwrap();
            node_outputs.push(outcome.output);
        }
        node.shutdown().await;

        assert_eq!(native_outputs, node_outputs);
        assert_eq!(
            native_outputs,
            [
                json!({"message": "abab it is"}),
                json!({"report": "hello bo!"}),
                json!({"text": "hello cy"}),
            ]
        );
        // Both sent the model the same tool and the same tool result.
        let native_bodies = native_server.bodies();
        let node_bodies = node_server.bodies();
        assert_eq!(native_bodies[0]["tools"], node_bodies[0]["tools"]);
        let last = |bodies: &[Value]| bodies[1]["messages"].as_array().unwrap().last().cloned();
        assert_eq!(last(&native_bodies), last(&node_bodies));
    }
}

/// A project's `package.json` dependencies, installed with npm before its JavaScript runs,
/// through the binary. The dependency is a local `file:` package and npm's registry points at a
/// closed loopback port, so nothing leaves the machine.
mod project_dependencies {
    use std::path::{Path, PathBuf};

    use pretty_assertions::assert_eq;
    use serde_json::{Value, json};

    use crate::common;

    /// A fresh copy of the `js-deps` fixture (installs write into the project folder).
    fn project() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/projects/js-deps"),
            dir.path(),
        );
        dir
    }

    fn copy_dir(from: &Path, to: &Path) {
        fs_err::create_dir_all(to).unwrap();
        for entry in fs_err::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy_dir(&entry.path(), &target);
            } else {
                fs_err::copy(entry.path(), &target).unwrap();
            }
        }
    }

    /// `aigne-ci run <project> <agent> --input-json <input>` with npm kept off the network.
    fn run_in(project: &Path, work: &Path, agent: &str, input: &str) -> common::Run {
        run_with_cache(project, work, &work.join("cache"), agent, input)
    }

    /// [`run_in`] with the cache in `cache`.
    fn run_with_cache(
        project: &Path,
        work: &Path,
        cache: &Path,
        agent: &str,
        input: &str,
    ) -> common::Run {
        common::Run::in_dir(work)
            .env("npm_config_registry", "http://127.0.0.1:9/")
            .env("npm_config_cache", work.join("npm-cache"))
            .arg("run")
            .arg(project)
            .env("AIGNE_CI_ENGINE", "native")
            .args([agent, "--input-json", input])
            .arg("--cache-dir")
            .arg(cache)
    }

    /// [`run_in`] as a `Command`.
    fn command(project: &Path, work: &Path, agent: &str, input: &str) -> std::process::Command {
        run_in(project, work, agent, input).into_command()
    }

    /// [`run_with_cache`] as a `Command`.
    fn command_with_cache(
        project: &Path,
        work: &Path,
        cache: &Path,
        agent: &str,
        input: &str,
    ) -> std::process::Command {
        run_with_cache(project, work, cache, agent, input).into_command()
    }

    fn output_of(work: &Path) -> (Value, Value) {
        let out = work.join("aigne-ci-output");
        let results = fs_err::read_to_string(out.join("results.jsonl")).unwrap();
        let record: Value = serde_json::from_str(results.lines().next().unwrap()).unwrap();
        let summary: Value = common::summary(&out);
        (record, summary)
    }

    /// `(purpose, args)` of every subprocess in `summary.json`.
    fn subprocesses(summary: &Value) -> Vec<(String, Vec<String>)> {
        summary["subprocesses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|process| {
                (
                    process["purpose"].as_str().unwrap().to_owned(),
                    process["args"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|arg| arg.as_str().unwrap().to_owned())
                        .collect(),
                )
            })
            .collect()
    }

    fn purposes(summary: &Value) -> Vec<String> {
        subprocesses(summary)
            .into_iter()
            .map(|(purpose, _)| purpose)
            .collect()
    }

    const NPM_ARGS: [&str; 6] = [
        "install",
        "--no-audit",
        "--no-fund",
        "--omit=dev",
        "--loglevel=error",
        "--no-update-notifier",
    ];

    fn npm_args(extra: &[&str]) -> Vec<String> {
        NPM_ARGS
            .iter()
            .chain(extra)
            .map(|arg| (*arg).to_owned())
            .collect()
    }

    #[test]
    fn installed_once_with_install_scripts_off_and_imported_by_the_agent() {
        let project = project();
        let work = tempfile::tempdir().unwrap();
        run_in(project.path(), work.path(), "shouter", r#"{"text": "hi"}"#)
            .expect_exit(0)
            .run();
        let (record, summary) = output_of(work.path());
        assert_eq!(
            record["output"],
            json!({"shouted": "HI!", "install_script_ran": false})
        );
        assert_eq!(
            subprocesses(&summary),
            vec![
                (
                    "npm-install".to_owned(),
                    npm_args(&["--ignore-scripts", "--no-package-lock"])
                ),
                ("js-bridge".to_owned(), subprocesses(&summary)[1].1.clone()),
            ]
        );
        assert!(project.path().join("node_modules/fixture-lib").exists());
        assert!(!project.path().join("postinstall-ran").exists());
        // Only `node_modules` is new in the project: no lock file, marker or `package-lock.json`.
        assert_eq!(
            entries(project.path()),
            [
                "aigne.yaml",
                "node_modules",
                "package.json",
                "shouter.mjs",
                "upper.yaml",
                "vendor"
            ]
        );

        // The second run finds `node_modules` and installs nothing.
        run_in(
            project.path(),
            work.path(),
            "shouter",
            r#"{"text": "again"}"#,
        )
        .expect_exit(0)
        .run();
        let (record, summary) = output_of(work.path());
        assert_eq!(record["output"]["shouted"], json!("AGAIN!"));
        assert_eq!(purposes(&summary), ["js-bridge"]);
    }

    #[test]
    fn install_scripts_run_with_allow_install_scripts_and_offline_keeps_npm_offline() {
        let project = project();
        let work = tempfile::tempdir().unwrap();
        run_in(project.path(), work.path(), "shouter", r#"{"text": "x"}"#)
            .args(["--allow-install-scripts", "--offline"])
            .expect_exit(0)
            .run();
        let (record, summary) = output_of(work.path());
        assert_eq!(
            record["output"],
            json!({"shouted": "X!", "install_script_ran": true})
        );
        assert_eq!(
            subprocesses(&summary)[0].1,
            npm_args(&["--no-package-lock", "--offline"])
        );
        assert_eq!(
            fs_err::read_to_string(project.path().join("postinstall-ran")).unwrap(),
            "yes\n"
        );
    }

    /// Runs sharing one project folder and one cache at once: one lock, one install.
    #[test]
    fn parallel_runs_install_once() {
        let project = project();
        let work = tempfile::tempdir().unwrap();
        let children: Vec<_> = ["a", "b", "c"]
            .iter()
            .map(|name| {
                let dir = work.path().join(name);
                fs_err::create_dir(&dir).unwrap();
                command_with_cache(
                    project.path(),
                    &dir,
                    &work.path().join("cache"),
                    "shouter",
                    r#"{"text": "p"}"#,
                )
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
            })
            .collect();
        for mut child in children {
            assert!(child.wait().unwrap().success());
        }
        let mut installs = 0;
        for name in ["a", "b", "c"] {
            let (record, summary) = output_of(&work.path().join(name));
            assert_eq!(record["output"]["shouted"], json!("P!"));
            installs += purposes(&summary)
                .iter()
                .filter(|purpose| *purpose == "npm-install")
                .count();
        }
        assert_eq!(installs, 1);
        assert_eq!(
            entries(project.path()),
            [
                "aigne.yaml",
                "node_modules",
                "package.json",
                "shouter.mjs",
                "upper.yaml",
                "vendor"
            ]
        );
    }

    #[test]
    fn an_interrupted_install_is_done_again() {
        let project = project();
        let work = tempfile::tempdir().unwrap();
        // What a run killed while npm worked leaves behind: a partial `node_modules` and, in
        // the cache, the marker named after the project folder.
        fs_err::create_dir(project.path().join("node_modules")).unwrap();
        let state = work.path().join("cache/npm-project-state");
        fs_err::create_dir_all(&state).unwrap();
        let marker = state.join(format!("{}.incomplete", state_key(project.path())));
        fs_err::write(&marker, "").unwrap();
        run_in(project.path(), work.path(), "shouter", r#"{"text": "y"}"#)
            .expect_exit(0)
            .run();
        let (record, summary) = output_of(work.path());
        assert_eq!(record["output"]["shouted"], json!("Y!"));
        assert_eq!(purposes(&summary), ["npm-install", "js-bridge"]);
        assert!(!marker.exists());
    }

    #[test]
    fn nothing_is_installed_when_no_javascript_runs_or_exec_is_denied() {
        let project = project();
        let work = tempfile::tempdir().unwrap();
        run_in(project.path(), work.path(), "upper", r#"{"text": "abc"}"#)
            .expect_exit(0)
            .run();
        let (record, summary) = output_of(work.path());
        assert_eq!(record["output"], json!({"upper": "ABC"}));
        assert_eq!(summary["subprocesses"], json!([]));
        assert!(!project.path().join("node_modules").exists());

        let ran = run_in(project.path(), work.path(), "shouter", r#"{"text": "z"}"#)
            .arg("--deny-exec")
            .expect_exit(2)
            .run();
        assert!(
            ran.stderr.contains(&format!(
                "error: refusing to run with `--deny-exec`: agent `shouter` at `{}` starts Node.js",
                project.path().join("shouter.mjs").display()
            )),
            "{}",
            ran.stderr
        );
        assert!(!project.path().join("node_modules").exists());
    }

    /// No npm: a warning naming the cause, and the run goes on as under the official runtime
    /// (which installs nothing): the agent whose import needs the package fails to load, with a
    /// hint naming the failed install.
    #[test]
    fn npm_missing_is_a_warning_and_the_failed_import_names_it() {
        let project = project();
        let work = tempfile::tempdir().unwrap();
        // A PATH with node and without npm.
        let bin = work.path().join("bin");
        fs_err::create_dir(&bin).unwrap();
        let node = which_node();
        fs_err::os::unix::fs::symlink(&node, bin.join("node")).unwrap();
        let ran = run_in(project.path(), work.path(), "shouter", r#"{"text": "z"}"#)
            .env("PATH", &bin)
            .run();
        // The case errors (node loads JavaScript when it is first called).
        assert_eq!(ran.code, Some(1), "{}", ran.stderr);
        assert!(
            ran.stderr.contains(&format!(
                "warning: the dependencies in `{dir}/package.json` were not installed; the \
                 project runs without them, as under the official runtime\n  Caused by: `npm` \
                 was not found on PATH; it is needed to install `the dependencies of \
                 `{dir}/package.json``\n\nhint: install npm (it comes with Node.js)",
                dir = project.path().display()
            )),
            "{}",
            ran.stderr
        );
        let (record, _) = output_of(work.path());
        let message = record["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!(
                "cannot load the JavaScript agent `{}/shouter.mjs`: Cannot find package \
                 'fixture-lib'",
                project.path().display()
            )),
            "{message}"
        );
        assert!(
            message.ends_with(&format!(
                " (the project's `package.json` dependencies are not installed: `npm` was not \
                 found on PATH; it is needed to install `the dependencies of \
                 `{}/package.json``)",
                project.path().display()
            )),
            "{message}"
        );
        assert!(!project.path().join("node_modules").exists());
    }

    /// A package copied out of a pnpm/yarn monorepo: npm cannot install `workspace:` versions,
    /// so nothing is tried; a warning names them and the run goes on, and its JavaScript that
    /// imports none of them runs, as under the official runtime. Nothing is written into the
    /// project folder.
    #[test]
    fn workspace_dependencies_are_a_warning_and_the_run_goes_on() {
        let project = project();
        let work = tempfile::tempdir().unwrap();
        fs_err::write(
            project.path().join("package.json"),
            r#"{"name": "copied", "dependencies": {"fixture-lib": "file:./vendor/fixture-lib", "@acme/shared": "workspace:*"}}"#,
        )
        .unwrap();
        fs_err::write(
            project.path().join("plain.mjs"),
            "export default async function plain({ text }) { return { plain: text }; }\n",
        )
        .unwrap();
        fs_err::write(
            project.path().join("aigne.yaml"),
            "agents:\n  - shouter.mjs\n  - plain.mjs\n",
        )
        .unwrap();
        let before = entries(project.path());
        let ran = run_in(project.path(), work.path(), "plain", r#"{"text": "ok"}"#)
            .expect_exit(0)
            .run();
        let (record, summary) = output_of(work.path());
        assert_eq!(record["output"], json!({"plain": "ok"}));
        assert_eq!(purposes(&summary), ["js-bridge"]);
        assert!(
            ran.stderr.contains(&format!(
                "  Caused by: `{}/package.json` depends on `@acme/shared@workspace:*` through a \
                 monorepo protocol npm cannot install\n\nhint: `workspace:` (and `catalog:`) \
                 versions belong to a pnpm/yarn monorepo: the package was copied out of its \
                 monorepo.",
                project.path().display()
            )),
            "{}",
            ran.stderr
        );
        assert_eq!(entries(project.path()), before);
    }

    /// A project folder npm cannot write to (read-only, or a checkout owned by someone else):
    /// the install fails, a warning says why, and the run goes on; nothing of ours is written
    /// into the folder. (The folder is made read-only; since root writes to it anyway, the
    /// `npm` on PATH fails as npm does on such a folder, so the test holds as any user.)
    #[cfg(unix)]
    #[test]
    fn a_read_only_project_folder_is_a_warning_and_nothing_is_written() {
        use std::os::unix::fs::PermissionsExt;

        let project = project();
        let work = tempfile::tempdir().unwrap();
        fs_err::write(
            project.path().join("plain.mjs"),
            "export default async function plain({ text }) { return { plain: text }; }\n",
        )
        .unwrap();
        fs_err::write(
            project.path().join("aigne.yaml"),
            "agents:\n  - shouter.mjs\n  - plain.mjs\n",
        )
        .unwrap();
        let bin = work.path().join("bin");
        fs_err::create_dir(&bin).unwrap();
        fs_err::os::unix::fs::symlink(which_node(), bin.join("node")).unwrap();
        let npm = bin.join("npm");
        fs_err::write(
            &npm,
            format!(
                "#!/bin/sh\necho 'npm error code EACCES' >&2\necho 'npm error syscall mkdir' >&2\n\
                 echo 'npm error path {}/node_modules' >&2\necho 'npm error errno -13' >&2\nexit 243\n",
                project.path().display()
            ),
        )
        .unwrap();
        fs_err::set_permissions(&npm, std::fs::Permissions::from_mode(0o755)).unwrap();
        let before = entries(project.path());
        fs_err::set_permissions(project.path(), std::fs::Permissions::from_mode(0o555)).unwrap();
        let ran = run_in(project.path(), work.path(), "plain", r#"{"text": "ro"}"#)
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .run();
        fs_err::set_permissions(project.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(ran.code, Some(0), "{}", ran.stderr);
        let (record, summary) = output_of(work.path());
        assert_eq!(record["output"], json!({"plain": "ro"}));
        assert_eq!(purposes(&summary), ["npm-install", "js-bridge"]);
        assert!(
            ran.stderr.contains(&format!(
                "hint: npm cannot write into `{}` (a read-only folder, or one owned by another \
                 user)",
                project.path().display()
            )),
            "{}",
            ran.stderr
        );
        assert_eq!(entries(project.path()), before);
        // The failed install is not marked as done: the next run tries again.
        run_in(project.path(), work.path(), "plain", r#"{"text": "ro"}"#)
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .expect_exit(0)
            .run();
        assert_eq!(
            purposes(&output_of(work.path()).1),
            ["npm-install", "js-bridge"]
        );
    }

    /// The names in a folder, sorted.
    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs_err::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// The name of a project folder's lock and marker files in the cache's
    /// `npm-project-state` folder.
    fn state_key(project: &Path) -> String {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(project.as_os_str().as_encoded_bytes());
        hex::encode(&digest[..12])
    }

    /// A signal during the install stops the run at once (exit 130), and neither npm nor anything
    /// npm started outlives it: npm runs in its own process group, killed whole.
    #[cfg(unix)]
    #[test]
    fn a_signal_during_the_install_leaves_no_npm_process_behind() {
        let project = project();
        let work = tempfile::tempdir().unwrap();
        // An `npm` that starts a child of its own, says so, and never finishes.
        let bin = work.path().join("bin");
        fs_err::create_dir(&bin).unwrap();
        fs_err::os::unix::fs::symlink(which_node(), bin.join("node")).unwrap();
        let pids = work.path().join("pids");
        let npm = bin.join("npm");
        fs_err::write(
            &npm,
            format!(
                "#!/bin/sh\nsleep 300 &\necho \"$$ $!\" > {}.tmp && mv {}.tmp {}\nwait\n",
                pids.display(),
                pids.display(),
                pids.display()
            ),
        )
        .unwrap();
        let mut permissions = fs_err::metadata(&npm).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
        fs_err::set_permissions(&npm, permissions).unwrap();
        let child = command(project.path(), work.path(), "shouter", r#"{"text": "z"}"#)
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut started = None;
        for _ in 0..400 {
            if let Ok(text) = fs_err::read_to_string(&pids) {
                started = Some(text);
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        let started = started.expect("the fake npm started");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(130), "{stderr}");
        let alive = |pid: &str| {
            std::path::Path::new(&format!("/proc/{pid}")).exists()
                && !fs_err::read_to_string(format!("/proc/{pid}/stat"))
                    .is_ok_and(|stat| stat.contains(") Z "))
        };
        for pid in started.split_whitespace() {
            let mut gone = false;
            for _ in 0..200 {
                if !alive(pid) {
                    gone = true;
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(25));
            }
            assert!(gone, "process {pid} (npm or its child) outlived the run");
        }
    }

    /// JavaScript the run's agents do not reach up front (found by `context.invoke`) installs
    /// them when node first starts; a failure is kept and reported again.
    #[tokio::test]
    async fn the_bridge_installs_them_before_node_first_starts() {
        use aigne_ci::engine::js::{JsBridge, JsError, JsSettings, JsSource};
        use aigne_ci::engine::npm::{NpmError, NpmSettings};
        use aigne_ci::engine::subprocess::SubprocessLog;

        let project = project();
        let work = tempfile::tempdir().unwrap();
        let bin = work.path().join("bin");
        fs_err::create_dir(&bin).unwrap();
        fs_err::os::unix::fs::symlink(which_node(), bin.join("node")).unwrap();
        let mut env = std::collections::BTreeMap::new();
        env.insert("PATH".to_owned(), bin.display().to_string());
        let settings = |env: std::collections::BTreeMap<String, String>| JsSettings {
            env: env.clone(),
            working_dir: work.path().to_path_buf(),
            project_dir: project.path().to_path_buf(),
            script_dir: work.path().join("scripts"),
            call_timeout: std::time::Duration::from_secs(10),
            max_result_bytes: aigne_ci::engine::DEFAULT_MAX_TOOL_RESULT,
            deny_exec: false,
            agent_names: vec!["shouter".to_owned()],
            dependencies: Some(NpmSettings {
                env,
                deny_exec: false,
                allow_install_scripts: false,
                offline: true,
                state_dir: work.path().join("state"),
            }),
        };
        let log = SubprocessLog::default();
        let bridge = JsBridge::start(settings(env), log.clone());
        let source = JsSource::File(project.path().join("shouter.mjs"));
        // No npm: node starts all the same, and the import that fails names the failed install.
        let error = bridge.load(&source).await.unwrap_err();
        let JsError::Load {
            install_failure: Some(failure),
            ..
        } = &error
        else {
            panic!("{error:?}");
        };
        assert!(
            matches!(failure.as_ref(), NpmError::NpmMissing { .. }),
            "{error:?}"
        );
        let purposes: Vec<String> = log
            .records()
            .into_iter()
            .map(|record| record.purpose)
            .collect();
        assert_eq!(purposes, ["js-bridge"]);
        bridge.shutdown().await;

        let mut env = std::collections::BTreeMap::new();
        env.insert("PATH".to_owned(), std::env::var("PATH").unwrap());
        env.insert("HOME".to_owned(), work.path().display().to_string());
        env.insert(
            "npm_config_registry".to_owned(),
            "http://127.0.0.1:9/".to_owned(),
        );
        let log = SubprocessLog::default();
        let bridge = JsBridge::start(settings(env), log.clone());
        let info = bridge.load(&source).await.unwrap();
        assert_eq!(info.name.as_deref(), Some("shouter"));
        let purposes: Vec<String> = log
            .records()
            .into_iter()
            .map(|record| record.purpose)
            .collect();
        assert_eq!(purposes, ["npm-install", "js-bridge"]);
        bridge.shutdown().await;
    }

    fn which_node() -> PathBuf {
        std::env::split_paths(&std::env::var_os("PATH").unwrap())
            .map(|dir| dir.join("node"))
            .find(|path| path.is_file())
            .expect("node on PATH")
    }

    /// `--engine node`: the official runtime imports the dependency from the project's
    /// `node_modules`, installed the same way before the host starts.
    #[test]
    fn the_node_engine_installs_them_too() {
        let Some(packages) = std::env::var_os("AIGNE_CI_TEST_NODE_ENGINE_DIR") else {
            crate::common::skip("AIGNE_CI_TEST_NODE_ENGINE_DIR is not set");
            return;
        };
        let project = project();
        let work = tempfile::tempdir().unwrap();
        let mut command = command(project.path(), work.path(), "shouter", r#"{"text": "n"}"#);
        // The official runtime loads a chat model even for a project without AI agents.
        command
            .env("OPENAI_API_KEY", "sk-test")
            .args(["--model", "openai:gpt-4o-mini"])
            .args(["--engine", "node", "--timeout", "20s", "--node-engine-dir"])
            .arg(&packages);
        let ran = common::run(&mut command);
        assert_eq!(ran.code, Some(0), "{}", ran.stderr);
        let (record, summary) = output_of(work.path());
        assert_eq!(
            record["output"],
            json!({"shouted": "N!", "install_script_ran": false})
        );
        assert_eq!(purposes(&summary), ["npm-install", "node-engine"]);
    }
}

/// Cases sharing `session` are one conversation in both engines: the second turn's request
/// carries the first turn, byte for byte the same through `--engine native` and
/// `--engine node`.
mod sessions {
    use std::path::Path;

    use pretty_assertions::assert_eq;
    use serde_json::{Value, json};

    use crate::common;
    use crate::common::fake_openai::{FakeOpenAi, Reply};

    fn project(dir: &Path) {
        fs_err::write(
            dir.join("aigne.yaml"),
            "chat_model:\n  provider: openai\n  name: gpt-4o-mini\nagents:\n  - history.yaml\n  - memory.yaml\n",
        )
        .unwrap();
        fs_err::write(
            dir.join("history.yaml"),
            "name: history_chat\ninstructions: Remember things.\ninput_key: message\nafs:\n  modules:\n    - history\n",
        )
        .unwrap();
        fs_err::write(
            dir.join("memory.yaml"),
            "name: memory_chat\ninstructions: You keep notes.\ninput_key: message\nmemory: true\n",
        )
        .unwrap();
        fs_err::write(
            dir.join("memory.jsonl"),
            [
                r#"{"id": "m1", "input": "note: blue", "session": "m", "agent": "memory_chat"}"#,
                r#"{"id": "o1", "input": "note: red", "session": "o", "agent": "memory_chat"}"#,
                r#"{"id": "m2", "input": "which colour?", "session": "m", "agent": "memory_chat"}"#,
            ]
            .join("\n"),
        )
        .unwrap();
        fs_err::write(
            dir.join("history.jsonl"),
            [
                r#"{"id": "h1", "input": "my name is Ada", "session": "h", "agent": "history_chat"}"#,
                r#"{"id": "h2", "input": "what is my name?", "session": "h", "agent": "history_chat"}"#,
                r#"{"id": "x1", "input": "who am I?", "session": "other", "agent": "history_chat"}"#,
            ]
            .join("\n"),
        )
        .unwrap();
    }

    /// Answers `echo: <last user text>`.
    fn echo_server() -> FakeOpenAi {
        let server = FakeOpenAi::start();
        server.set_handler(|request| {
            Reply::text(&format!("echo: {}", request.last_user_text())).usage(5, 2)
        });
        server
    }

    /// Runs the inputs through one engine; returns the request bodies by case id of their
    /// last user message, and the outputs by case id.
    fn run(
        dir: &Path,
        inputs: &str,
        engine: &str,
        packages: Option<&std::ffi::OsStr>,
    ) -> (Vec<Value>, Value) {
        let server = echo_server();
        let out = dir.join(format!("out-{inputs}-{engine}"));
        let mut command = common::command(dir);
        command
            .env("OPENAI_BASE_URL", server.base_url())
            .env("OPENAI_API_KEY", "sk-test")
            .env("HOME", dir)
            .args(["run", ".", "--input", inputs, "--concurrency", "1"])
            .args(["--engine", engine, "--timeout", "20s", "--out-dir"])
            .arg(&out);
        if let Some(packages) = packages {
            command.arg("--node-engine-dir").arg(packages);
        }
        let ran = common::run(&mut command);
        assert_eq!(ran.code, Some(0), "{engine}: {}", ran.stderr);
        let results = fs_err::read_to_string(out.join("results.jsonl")).unwrap();
        let mut outputs = serde_json::Map::new();
        for line in results.lines() {
            let record: Value = serde_json::from_str(line).unwrap();
            outputs.insert(
                record["id"].as_str().unwrap().to_owned(),
                record["output"].clone(),
            );
        }
        (server.bodies(), Value::Object(outputs))
    }

    #[test]
    fn a_session_is_one_conversation_in_both_engines() {
        let dir = tempfile::tempdir().unwrap();
        project(dir.path());
        let (native, native_outputs) = run(dir.path(), "memory.jsonl", "native", None);
        assert_eq!(
            native_outputs,
            json!({
                "m1": {"message": "echo: note: blue"},
                "o1": {"message": "echo: note: red"},
                "m2": {"message": "echo: which colour?"},
            })
        );
        // An agent with an AFS is refused by the native engine, naming the feature: AIGNE offers
        // the AFS as `afs_*` tools, which the native engine does not have.
        let mut command = common::command(dir.path());
        command.env("OPENAI_API_KEY", "sk-test").args([
            "run",
            ".",
            "--input",
            "history.jsonl",
            "--engine",
            "native",
        ]);
        let refused = common::run(&mut command);
        assert_eq!(refused.code, Some(2), "{}", refused.stderr);
        assert!(
            refused.stderr.contains("`afs: history`") && refused.stderr.contains("history.yaml"),
            "{}",
            refused.stderr
        );
        let Some(packages) = std::env::var_os("AIGNE_CI_TEST_NODE_ENGINE_DIR") else {
            crate::common::skip("the node half needs AIGNE_CI_TEST_NODE_ENGINE_DIR");
            return;
        };
        let (node, node_outputs) = run(dir.path(), "memory.jsonl", "node", Some(&packages));
        assert_eq!(node_outputs, native_outputs);

        // Legacy `memory`: the second turn's request, whole, is the same in both engines, and
        // carries the first turn (not the other session's) in the system message.
        let second_memory_turn = json!({
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": [
                    {"type": "text", "text": "You keep notes."},
                    {"type": "text", "text": "note: blue"},
                    {"type": "text", "text": "echo: note: blue"},
                ]},
                {"role": "user", "content": [{"type": "text", "text": "which colour?"}]},
            ],
            "stream_options": {"include_usage": true},
            "stream": true,
        });
        assert_eq!(turn(&native, "which colour?"), second_memory_turn);
        assert_eq!(turn(&node, "which colour?"), second_memory_turn);

        // AFS `history` (node engine, which `--engine auto` picks for it): the second turn's
        // messages are the first turn's between the system and the new user message; another
        // session sees none of it; the AFS is offered as AIGNE's `afs_*` tools.
        let (history, history_outputs) = run(dir.path(), "history.jsonl", "auto", Some(&packages));
        assert_eq!(
            history_outputs,
            json!({
                "h1": {"message": "echo: my name is Ada"},
                "h2": {"message": "echo: what is my name?"},
                "x1": {"message": "echo: who am I?"},
            })
        );
        assert_eq!(
            turn(&history, "what is my name?")["messages"],
            json!([
                {"role": "system", "content": [{"type": "text", "text": "Remember things."}]},
                {"role": "user", "content": [{"type": "text", "text": "my name is Ada"}]},
                {"role": "assistant", "content": [{"type": "text", "text": "echo: my name is Ada"}]},
                {"role": "user", "content": [{"type": "text", "text": "what is my name?"}]},
            ])
        );
        assert_eq!(
            turn(&history, "who am I?")["messages"],
            json!([
                {"role": "system", "content": [{"type": "text", "text": "Remember things."}]},
                {"role": "user", "content": [{"type": "text", "text": "who am I?"}]},
            ])
        );
        let second_turn = turn(&history, "what is my name?");
        let tools: Vec<&str> = second_turn["tools"]
            .as_array()
            .map(|tools| {
                tools
                    .iter()
                    .filter_map(|tool| tool["function"]["name"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(
            tools,
            [
                "afs_list",
                "afs_search",
                "afs_read",
                "afs_write",
                "afs_edit",
                "afs_delete",
                "afs_rename",
                "afs_exec"
            ]
        );
    }

    /// The one request whose last message is the user's `text`.
    fn turn(bodies: &[Value], text: &str) -> Value {
        let matching: Vec<&Value> = bodies
            .iter()
            .filter(|body| {
                body["messages"]
                    .as_array()
                    .and_then(|messages| messages.last())
                    == Some(&json!({"role": "user", "content": [{"type": "text", "text": text}]}))
            })
            .collect();
        assert_eq!(matching.len(), 1, "{text}: {bodies:#?}");
        matching[0].clone()
    }
}

/// AIGNE names a JavaScript file's agent after its default export; `aigne-ci run` finds the
/// entry agent by that name in both engines.
mod exported_names {
    use std::path::Path;

    use pretty_assertions::assert_eq;
    use serde_json::{Value, json};

    use crate::common;

    fn project(dir: &Path) {
        fs_err::write(
            dir.join("aigne.yaml"),
            "model: openai:gpt-4o-mini\nagents:\n  - check-detail.mjs\n",
        )
        .unwrap();
        fs_err::write(
            dir.join("check-detail.mjs"),
            "export default async function checkDetail({ detail }) {\n  return { checked: `${detail} ok` };\n}\n",
        )
        .unwrap();
    }

    fn run(dir: &Path, agent: &str, engine: &str) -> common::Ran {
        let mut command = common::command(dir);
        command
            .env("OPENAI_API_KEY", "sk-test")
            .env("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
            .args(["run", ".", agent, "--input-json", r#"{"detail": "d"}"#])
            .args(["--engine", engine, "--out-dir"])
            .arg(dir.join(format!("out-{engine}")));
        if let Some(packages) = std::env::var_os("AIGNE_CI_TEST_NODE_ENGINE_DIR") {
            command.arg("--node-engine-dir").arg(packages);
        }
        common::run(&mut command)
    }

    fn record(dir: &Path, engine: &str) -> Value {
        let text = fs_err::read_to_string(dir.join(format!("out-{engine}/results.jsonl"))).unwrap();
        serde_json::from_str(text.lines().next().unwrap()).unwrap()
    }

    #[test]
    fn the_entry_agent_is_found_by_its_exported_name() {
        let dir = tempfile::tempdir().unwrap();
        project(dir.path());
        let mut engines = vec!["native"];
        if std::env::var_os("AIGNE_CI_TEST_NODE_ENGINE_DIR").is_some() {
            engines.push("node");
        } else {
            crate::common::skip("the node half needs AIGNE_CI_TEST_NODE_ENGINE_DIR");
        }
        for engine in engines {
            let ran = run(dir.path(), "checkDetail", engine);
            assert_eq!(ran.code, Some(0), "{engine}: {}", ran.stderr);
            let record = record(dir.path(), engine);
            assert_eq!(record["agent"], json!("checkDetail"), "{engine}");
            assert_eq!(record["output"], json!({"checked": "d ok"}), "{engine}");

            let ran = run(dir.path(), "nope", engine);
            assert_eq!(ran.code, Some(2), "{engine}: {}", ran.stderr);
            assert!(
                ran.stderr.contains("agent `nope` not found"),
                "{engine}: {}",
                ran.stderr
            );
        }
    }
}

/// The node engine cannot answer from a cassette: `--replay`/`--record` with it is a usage error
/// before anything starts, never a run that silently reaches the provider.
#[test]
fn cassettes_are_refused_with_the_node_engine() {
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(dir.path().join("aigne.yaml"), "agents:\n  - chat.yaml\n").unwrap();
    fs_err::write(dir.path().join("chat.yaml"), "name: chat\n").unwrap();
    fs_err::write(dir.path().join("cassette.jsonl"), "").unwrap();
    for flag in ["--replay", "--record"] {
        let ran = crate::common::Run::in_dir(dir.path())
            .args(["run", ".", "--prompt", "hi", "--engine", "node", flag])
            .arg("cassette.jsonl")
            .expect_exit(2)
            .run();
        assert!(
            ran.stderr.contains(&format!(
                "error: `{flag} cassette.jsonl` works only with the native engine, and this run \
                 uses the node engine (`--engine node` was given)"
            )),
            "{}",
            ran.stderr
        );
        assert!(!ran.stderr.contains("cannot start"), "{}", ran.stderr);
    }
}

/// Working directory: as under the official CLI (`aigne run DIR` does not change directory),
/// JavaScript agents see `process.cwd()` = where aigne-ci was started, and stdio MCP servers
/// start there, in both engines; the official runtime, run from the same folder, agrees.
mod working_directory {
    use std::path::Path;

    use pretty_assertions::assert_eq;
    use serde_json::{Value, json};

    use crate::common;
    use crate::common::fake_openai::{FakeOpenAi, Reply};

    /// A project with a JS agent returning `process.cwd()` and an AI agent whose MCP skill is a
    /// stdio server that writes its working folder to `cwd_file` and then serves.
    fn project(dir: &Path, cwd_file: &Path) {
        fs_err::write(
            dir.join("aigne.yaml"),
            "model: openai/gpt-4o-mini\nagents:\n  - where.mjs\n  - chat.yaml\n",
        )
        .unwrap();
        fs_err::write(
            dir.join("where.mjs"),
            "export default async function where() {\n  return { cwd: process.cwd() };\n}\nwhere.description = \"Where node runs\";\n",
        )
        .unwrap();
        fs_err::write(
            dir.join("chat.yaml"),
            "name: chat\ninstructions: You use tools.\ninput_key: message\nskills:\n  - tools.yaml\n",
        )
        .unwrap();
        fs_err::write(
            dir.join("tools.yaml"),
            format!(
                "type: mcp\ncommand: sh\nargs:\n  - -c\n  - pwd > {} && exec {}\n",
                cwd_file.display(),
                crate::mcp::test_server_binary().display()
            ),
        )
        .unwrap();
    }

    fn node_engine_dir() -> Option<std::path::PathBuf> {
        let dir = std::env::var_os("AIGNE_CI_TEST_NODE_ENGINE_DIR").map(std::path::PathBuf::from);
        if dir.is_none() {
            assert!(
                std::env::var_os("CI").is_none(),
                "AIGNE_CI_TEST_NODE_ENGINE_DIR must be set under CI"
            );
            let _ = std::io::Write::write_all(
                &mut std::io::stderr(),
                b"skipped: AIGNE_CI_TEST_NODE_ENGINE_DIR is not set\n",
            );
        }
        dir
    }

    /// Runs agent `where` and agent `chat` from `work` with `engine`; returns the JS agent's
    /// output and the folder the MCP server started in.
    fn run(engine: &str, project_dir: &Path, work: &Path, cwd_file: &Path) -> (Value, String) {
        let server = FakeOpenAi::start();
        server.push(Reply::text("hello"));
        let inputs = work.join("inputs.jsonl");
        fs_err::write(
            &inputs,
            "{\"id\": \"w\", \"agent\": \"where\", \"input\": {}}\n{\"id\": \"c\", \"agent\": \"chat\", \"input\": \"hi\"}\n",
        )
        .unwrap();
        let mut command = common::command(work);
        command
            .env("OPENAI_BASE_URL", server.base_url())
            .env("OPENAI_API_KEY", "sk-test")
            .arg("run")
            .arg(project_dir)
            .arg("--input")
            .arg(&inputs)
            .args(["--engine", engine, "--concurrency", "1", "--timeout", "30s"])
            .arg("--cache-dir")
            .arg(work.join("cache"));
        if engine == "node" {
            command
                .arg("--node-engine-dir")
                .arg(node_engine_dir().unwrap());
        }
        let ran = common::run(&mut command);
        assert_eq!(ran.code, Some(0), "{}", ran.stderr);
        let results = fs_err::read_to_string(work.join("aigne-ci-output/results.jsonl")).unwrap();
        let records: Vec<Value> = results
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        let where_output =
            records.iter().find(|record| record["id"] == "w").unwrap()["output"].clone();
        let started_in = fs_err::read_to_string(cwd_file).unwrap();
        (where_output, started_in.trim_end().to_owned())
    }

    #[test]
    fn javascript_and_stdio_mcp_servers_run_where_aigne_ci_was_started() {
        let project_dir = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        let cwd_file = work.path().join("mcp-cwd");
        project(project_dir.path(), &cwd_file);
        // `pwd` and `process.cwd()` print the resolved path.
        let expected = fs_err::canonicalize(work.path()).unwrap();
        let expected = expected.display().to_string();

        let (output, mcp_cwd) = run("native", project_dir.path(), work.path(), &cwd_file);
        assert_eq!(output, json!({"cwd": expected}));
        assert_eq!(mcp_cwd, expected);

        let Some(reference) = node_engine_dir() else {
            return;
        };
        fs_err::remove_file(&cwd_file).unwrap();
        let (output, mcp_cwd) = run("node", project_dir.path(), work.path(), &cwd_file);
        assert_eq!(output, json!({"cwd": expected}));
        assert_eq!(mcp_cwd, expected);

        // The official runtime, run from the same folder, answers the same.
        fs_err::remove_file(&cwd_file).unwrap();
        let cases = work.path().join("cases.json");
        fs_err::write(&cases, r#"[{"agent": "where", "input": {}}]"#).unwrap();
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/engine_reference.mjs");
        let output = std::process::Command::new("node")
            .arg(&script)
            .arg(&reference)
            .arg(project_dir.path())
            .arg(&cases)
            .current_dir(work.path())
            .env("OPENAI_API_KEY", "sk-test")
            .env("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let line: Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
        assert_eq!(line, json!({"output": {"cwd": expected}}));
        assert_eq!(
            fs_err::read_to_string(&cwd_file).unwrap().trim_end(),
            expected
        );
    }
}
