//! Engine tests with a scripted in-process chat model that records every request.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use crate::model::types::{ChatRequest, ChatResponse, ToolCall, Usage};
use crate::model::{ChatModel, ModelError, ModelResolver, ModelSpec};
use crate::project::Project;

use super::{Engine, EngineSettings, InvokeRequest};

#[derive(Default)]
struct Script {
    responses: Mutex<VecDeque<ChatResponse>>,
    requests: Mutex<Vec<ChatRequest>>,
    specs: Mutex<Vec<ModelSpec>>,
}

struct ScriptedModel(Arc<Script>);

#[async_trait]
impl ChatModel for ScriptedModel {
    fn provider(&self) -> &str {
        "scripted"
    }
    fn model(&self) -> &str {
        "scripted-model"
    }
    async fn complete(&self, request: ChatRequest) -> Result<ChatResponse, ModelError> {
        self.0.requests.lock().unwrap().push(request);
        Ok(self
            .0
            .responses
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| text("(no scripted answer)")))
    }
}

impl ModelResolver for Arc<Script> {
    fn resolve(&self, spec: &ModelSpec) -> Result<Arc<dyn ChatModel>, ModelError> {
        self.specs.lock().unwrap().push(spec.clone());
        Ok(Arc::new(ScriptedModel(self.clone())))
    }
}

fn text(text: &str) -> ChatResponse {
    ChatResponse {
        text: Some(text.to_owned()),
        usage: Usage {
            input_tokens: 10,
            output_tokens: 2,
            ..Usage::default()
        },
        model: Some("gpt-4o-mini-2024".to_owned()),
        attempts: 1,
        ..ChatResponse::default()
    }
}

fn tool_calls(calls: &[(&str, &str, Value)]) -> ChatResponse {
    ChatResponse {
        tool_calls: calls
            .iter()
            .map(|(id, name, arguments)| ToolCall {
                id: (*id).to_owned(),
                name: (*name).to_owned(),
                arguments: arguments.clone(),
                metadata: None,
            })
            .collect(),
        attempts: 1,
        ..ChatResponse::default()
    }
}

fn json_answer(value: Value) -> ChatResponse {
    ChatResponse {
        json: Some(value),
        attempts: 1,
        ..ChatResponse::default()
    }
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/projects")
        .join(name)
}

fn engine(name: &str, responses: Vec<ChatResponse>) -> (Engine, Arc<Script>) {
    let project = Project::load(&fixture(name)).unwrap();
    let script = Arc::new(Script::default());
    script.responses.lock().unwrap().extend(responses);
    let engine = Engine::new(
        Arc::new(project),
        Arc::new(script.clone()),
        EngineSettings::default(),
    );
    (engine, script)
}

fn request(agent: &str, input: Value) -> InvokeRequest {
    InvokeRequest {
        agent: Some(agent.to_owned()),
        input,
        case_label: "case-1".to_owned(),
        session: None,
    }
}

/// The request as JSON, with the messages only (the shape providers map from).
fn messages(request: &ChatRequest) -> Value {
    serde_json::to_value(&request.messages).unwrap()
}

#[tokio::test]
async fn chat_agent_with_input_key() {
    let (engine, script) = engine("basic", vec![text("Hi there")]);
    let outcome = engine
        .invoke(request(
            "chat",
            json!({"message": "Hello", "topic": "rust", "effort": "low"}),
        ))
        .await
        .unwrap();
    assert_eq!(outcome.output, json!({"message": "Hi there"}));
    assert_eq!(outcome.model_calls, 1);
    assert_eq!(outcome.usage.input_tokens, 10);
    assert_eq!(outcome.model.as_deref(), Some("gpt-4o-mini-2024"));
    let requests = script.requests.lock().unwrap();
    assert_eq!(
        messages(&requests[0]),
        json!([
            {"role": "system", "content": [{"type": "text", "text": "You are a helpful assistant. The topic is rust.\n"}]},
            {"role": "user", "content": [{"type": "text", "text": "Hello"}]}
        ])
    );
    // `{provider, name}` → `provider:name`; every other key is an option, getters resolved.
    assert_eq!(
        serde_json::to_value(&requests[0].model_options).unwrap(),
        json!({"provider": "openai", "name": "gpt-4o-mini", "temperature": 0.2, "reasoningEffort": "low"})
    );
    assert_eq!(requests[0].tools.len(), 1, "the global skill is offered");
    assert_eq!(requests[0].tools[0].name, "global-skill");
    assert_eq!(requests[0].tools[0].parameters, json!({}));
    assert_eq!(requests[0].case_label.as_deref(), Some("case-1"));
    let specs = script.specs.lock().unwrap();
    assert_eq!(specs[0].model.as_deref(), Some("openai:gpt-4o-mini"));
}

#[tokio::test]
async fn text_input_goes_to_input_key() {
    let (engine, script) = engine("basic", vec![text("ok")]);
    engine
        .invoke(request("multi_role", json!("What is up?")))
        .await
        .unwrap();
    let requests = script.requests.lock().unwrap();
    assert_eq!(
        messages(&requests[0]),
        json!([
            {"role": "system", "content": [
                {"type": "text", "text": "System A for "},
                {"type": "text", "text": "System B footer for \n"}
            ]},
            {"role": "user", "content": [
                {"type": "text", "text": "User item: What is up?"},
                {"type": "text", "text": "Agent item {{ not_rendered }}"}
            ]}
        ])
    );
}

#[tokio::test]
async fn system_only_instructions_become_the_user_message() {
    let (engine, script) = engine("basic", vec![text("haiku")]);
    engine
        .invoke(request(
            "prompt_only",
            json!({"subject": "rain", "mood": null}),
        ))
        .await
        .unwrap();
    let requests = script.requests.lock().unwrap();
    assert_eq!(
        messages(&requests[0]),
        json!([{"role": "user", "content": [{"type": "text", "text": "Write a haiku about rain."}]}])
    );
}

#[tokio::test]
async fn input_schema_is_enforced() {
    let (engine, script) = engine("basic", vec![]);
    let error = engine
        .invoke(request("prompt_only", json!({"mood": "sad"})))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), "schema");
    assert!(error.to_string().contains("prompt_only"), "{error}");
    assert!(script.requests.lock().unwrap().is_empty());
}

#[tokio::test]
async fn structured_output_sends_converted_schema_and_merges_json() {
    let answer = json!({"label": "positive", "score": 0.9, "tags": [{"name": "x"}], "note": null});
    let (engine, script) = engine("basic", vec![json_answer(answer)]);
    let outcome = engine
        .invoke(request("structured", json!({"text": "great"})))
        .await
        .unwrap();
    assert_eq!(
        outcome.output,
        json!({"label": "positive", "score": 0.9, "tags": [{"name": "x"}], "note": null})
    );
    let requests = script.requests.lock().unwrap();
    assert_eq!(
        serde_json::to_value(&requests[0].response_format).unwrap(),
        json!({"type": "json_schema", "name": "output", "strict": true, "schema": {
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "label": {"type": "string", "enum": ["positive", "negative"], "description": "The label"},
                "score": {"type": "number"},
                "tags": {"type": "array", "items": {"type": "object", "additionalProperties": false, "properties": {"name": {"type": "string"}}, "required": ["name"]}},
                "note": {"type": "string"}
            },
            "required": ["label", "score"],
            "$schema": "http://json-schema.org/draft-07/schema#"
        }})
    );
}

#[tokio::test]
async fn tool_loop_runs_skills_and_serialises_results_as_yaml() {
    let (engine, script) = engine(
        "basic",
        vec![
            tool_calls(&[
                ("call_1", "add", json!({"a": 1, "b": 2})),
                ("call_2", "failing", json!({})),
            ]),
            text("The sum is 3"),
        ],
    );
    let outcome = engine
        .invoke(request("with_tools", json!({"message": "add 1 and 2"})))
        .await
        .unwrap();
    assert_eq!(outcome.output, json!({"message": "The sum is 3"}));
    assert_eq!(outcome.model_calls, 2);
    let requests = script.requests.lock().unwrap();
    let tools = serde_json::to_value(&requests[0].tools).unwrap();
    assert_eq!(
        tools,
        json!([
            {"name": "global-skill", "description": "A global skill", "parameters": {}},
            {"name": "add", "description": "Adds two numbers", "parameters": {
                "type": "object", "additionalProperties": false,
                "properties": {"a": {"type": "number", "description": "first"}, "b": {"type": "number"}},
                "required": ["a", "b"],
                "$schema": "http://json-schema.org/draft-07/schema#"
            }},
            {"name": "failing", "description": "Always fails", "parameters": {}}
        ])
    );
    assert_eq!(
        serde_json::to_value(&requests[0].tool_choice).unwrap(),
        json!("auto")
    );
    let second = messages(&requests[1]);
    let second = second.as_array().unwrap();
    assert_eq!(second.len(), 5, "{second:#?}");
    assert_eq!(
        second[2],
        json!({"role": "agent", "tool_calls": [
            {"id": "call_1", "name": "add", "arguments": {"a": 1, "b": 2}},
            {"id": "call_2", "name": "failing", "arguments": {}}
        ]})
    );
    // Results come in completion order; both are present.
    let results: Vec<&Value> = second[3..].iter().collect();
    let add = results
        .iter()
        .find(|m| m["tool_call_id"] == "call_1")
        .unwrap();
    assert_eq!(
        add["content"],
        json!([{"type": "text", "text": "sum: 3\nseen_message: add 1 and 2\n"}])
    );
    let failing = results
        .iter()
        .find(|m| m["tool_call_id"] == "call_2")
        .unwrap();
    let failing_text = failing["content"][0]["text"].as_str().unwrap();
    assert!(
        failing_text.starts_with("isError: true\nerror:\n  message: "),
        "{failing_text}"
    );
    assert!(failing_text.contains("record type"), "{failing_text}");
}

#[tokio::test]
async fn router_invokes_the_first_tool_with_input_winning() {
    let (engine, script) = engine(
        "basic",
        vec![tool_calls(&[(
            "c1",
            "add",
            json!({"a": 5, "b": 6, "message": "from-model"}),
        )])],
    );
    let outcome = engine
        .invoke(request("router", json!({"message": "route me"})))
        .await
        .unwrap();
    assert_eq!(
        outcome.output,
        json!({"sum": 11, "seen_message": "route me"})
    );
    let requests = script.requests.lock().unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        serde_json::to_value(&requests[0].tool_choice).unwrap(),
        json!("required")
    );
}

#[tokio::test]
async fn default_input_getters_output_key_and_include_input() {
    let (engine, script) = engine("basic", vec![text("Hi")]);
    let outcome = engine
        .invoke(request("defaults", json!({"name": "Ada"})))
        .await
        .unwrap();
    assert_eq!(
        outcome.output,
        json!({"greeting": "Hello", "name": "Ada", "alias": "Ada", "answer": "Hi"})
    );
    let requests = script.requests.lock().unwrap();
    assert_eq!(
        messages(&requests[0]),
        json!([{"role": "user", "content": [{"type": "text", "text": "Hello Ada (Ada)"}]}])
    );
    // Per-agent model: `{...aigne.model, ...agent.model}` (null keys do not override).
    let specs = script.specs.lock().unwrap();
    assert_eq!(specs[0].model.as_deref(), Some("openai/gpt-4o"));
    assert_eq!(
        serde_json::to_value(&requests[0].model_options).unwrap(),
        json!({"provider": "openai", "name": "gpt-4o-mini", "temperature": 0.2, "topP": 0.5})
    );
}

#[tokio::test]
async fn filters_and_includes_render() {
    let (engine, script) = engine("basic", vec![text("ok")]);
    engine
        .invoke(request(
            "included",
            json!({"data": {"k": [1, "two"]}, "who": "me"}),
        ))
        .await
        .unwrap();
    let requests = script.requests.lock().unwrap();
    assert_eq!(
        messages(&requests[0]),
        json!([
            {"role": "system", "content": [{"type": "text", "text": "System B footer for me\n"}]},
            {"role": "user", "content": [{"type": "text", "text": "k:\n  - 1\n  - two\n--{\"k\":[1,\"two\"]}--{\"k\":[1,\"two\"]}--"}]}
        ])
    );
}

#[tokio::test]
async fn agents_with_an_afs_are_refused_naming_the_feature() {
    let (engine, script) = engine("basic", vec![text("unused")]);
    let mut req = request("memory_chat", json!({"message": "I am Ada"}));
    req.session = Some("s1".to_owned());
    let error = engine.invoke(req).await.unwrap_err();
    assert_eq!(error.kind(), "unsupported");
    assert!(error.to_string().contains("`afs`"), "{error}");
    assert!(script.requests.lock().unwrap().is_empty());
}

#[tokio::test]
async fn stateless_agents_do_not_see_other_turns() {
    let (engine, script) = engine("basic", vec![text("a"), text("b")]);
    for message in ["one", "two"] {
        let mut req = request("chat", json!({"message": message}));
        req.session = Some("s1".to_owned());
        engine.invoke(req).await.unwrap();
    }
    let requests = script.requests.lock().unwrap();
    assert_eq!(requests[1].messages.len(), 2);
}

#[tokio::test]
async fn tool_turn_limit_is_enforced() {
    let responses = (0..5)
        .map(|i| tool_calls(&[(&format!("c{i}"), "add", json!({"a": 1, "b": 1}))]))
        .collect();
    let project = Project::load(&fixture("basic")).unwrap();
    let script = Arc::new(Script::default());
    script.responses.lock().unwrap().extend::<Vec<_>>(responses);
    let engine = Engine::new(
        Arc::new(project),
        Arc::new(script.clone()),
        EngineSettings {
            max_tool_turns: 3,
            ..EngineSettings::default()
        },
    );
    let error = engine
        .invoke(request("with_tools", json!({"message": "loop"})))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "agent `with_tools`: the tool loop exceeded 3 model turns"
    );
    assert_eq!(script.requests.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn sequential_team_passes_outputs_forward_and_emits_the_last() {
    let (engine, script) = engine("team", vec![text("done")]);
    let outcome = engine
        .invoke(request("pipeline", json!({"x": "q"})))
        .await
        .unwrap();
    assert_eq!(outcome.output, json!({"result": "done"}));
    let requests = script.requests.lock().unwrap();
    assert_eq!(
        messages(&requests[0]),
        json!([{"role": "user", "content": [{"type": "text", "text": "a=q1 b=q12 x=q"}]}])
    );
}

#[tokio::test]
async fn parallel_team_merges_all() {
    let (engine, _) = engine("team", vec![]);
    let outcome = engine
        .invoke(request("fanout", json!({"x": "z"})))
        .await
        .unwrap();
    assert_eq!(outcome.output, json!({"one": "z", "two": "zz"}));
}

#[tokio::test]
async fn iterate_on_keeps_index_order() {
    let (engine, _) = engine("team", vec![]);
    let outcome = engine
        .invoke(request(
            "iterate",
            json!({"prefix": "p", "items": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}),
        ))
        .await
        .unwrap();
    assert_eq!(
        outcome.output,
        json!({"items": [
            {"upper": "A", "prefix": "p", "count": 3},
            {"upper": "B", "prefix": "p", "count": 3},
            {"upper": "C", "prefix": "p", "count": 3}
        ]})
    );
}

#[tokio::test]
async fn reflection_loops_until_approved() {
    let (engine, script) = engine(
        "team",
        vec![
            json_answer(json!({"approved": false, "feedback": ["more"]})),
            json_answer(json!({"approved": true, "feedback": ["more", "ok"]})),
        ],
    );
    let outcome = engine.invoke(request("reviewed", json!({}))).await.unwrap();
    assert_eq!(outcome.output, json!({"draft": "v2"}));
    let requests = script.requests.lock().unwrap();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        messages(&requests[1]),
        json!([{"role": "user", "content": [{"type": "text", "text": "Review v2"}]}])
    );
}

#[tokio::test]
async fn transform_agent() {
    let (engine, _) = engine("transform", vec![]);
    let outcome = engine
        .invoke(InvokeRequest {
            agent: None,
            input: json!({"docs": [{"title": "A"}, {"title": "B"}]}),
            case_label: "t".to_owned(),
            session: None,
        })
        .await
        .unwrap();
    assert_eq!(
        outcome.output,
        json!({"docs": [{"title": "A"}, {"title": "B"}], "total": 2, "titles": ["A", "B"], "first": "A!", "kind": "many"})
    );
    let error = engine
        .invoke(request("merge", json!({"nodocs": 1})))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), "schema");
}

#[tokio::test]
async fn concurrent_tools_and_uncaught_tool_errors() {
    let (engine, script) = engine(
        "basic",
        vec![tool_calls(&[
            ("c1", "add", json!({"a": 1, "b": 2})),
            ("c2", "failing", json!({})),
        ])],
    );
    let error = engine
        .invoke(request("parallel_tools", json!({"message": "go"})))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), "tool");
    assert_eq!(
        error.to_string(),
        "agent `parallel_tools`: tool `failing` failed"
    );
    assert_eq!(script.requests.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn unsupported_kinds_name_feature_and_file() {
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(dir.path().join("aigne.yaml"), "agents:\n  - fn.mjs\n").unwrap();
    fs_err::write(
        dir.path().join("fn.mjs"),
        "export default function fn() {}\n",
    )
    .unwrap();
    let project = Project::load(dir.path()).unwrap();
    let script = Arc::new(Script::default());
    let engine = Engine::new(
        Arc::new(project),
        Arc::new(script),
        EngineSettings::default(),
    );
    let error = engine
        .invoke(InvokeRequest {
            agent: None,
            input: json!({}),
            case_label: "c".to_owned(),
            session: None,
        })
        .await
        .unwrap_err();
    assert_eq!(error.kind(), "unsupported");
    assert!(error.is_configuration_error());
    let message = error.to_string();
    assert!(
        message.contains("type: js") && message.contains("fn.mjs"),
        "{message}"
    );
}
