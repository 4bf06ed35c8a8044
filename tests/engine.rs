//! The native engine against the fake OpenAI server: exact request bodies for message merging,
//! rendering, tools and tool results, response_format and schema conversion, team data flow,
//! iterate_on order and transform; and, when node and the official AIGNE install are present,
//! the same fixtures through the official runtime with equal request bodies and outputs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use aigne_ci::engine::{Engine, EngineSettings, InvokeRequest};
use aigne_ci::model::{ModelRegistry, ModelSettings};
use aigne_ci::project::Project;

use crate::common::fake_openai::{FakeOpenAi, FakeToolCall, Reply};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/projects")
        .join(name)
}

/// One case: agent, input, scripted replies.
struct Case {
    agent: &'static str,
    input: Value,
    replies: Vec<Reply>,
}

fn case(agent: &'static str, input: Value, replies: Vec<Reply>) -> Case {
    Case {
        agent,
        input,
        replies,
    }
}

fn engine_for(project: &str, server: &FakeOpenAi) -> Engine {
    let mut variables = BTreeMap::new();
    variables.insert("OPENAI_API_KEY".to_owned(), "sk-test".to_owned());
    variables.insert("OPENAI_BASE_URL".to_owned(), server.base_url());
    let settings = ModelSettings::from_variables(variables).without_retry_delays();
    let registry = ModelRegistry::new(settings).unwrap();
    let project = Project::load(&fixture(project)).unwrap();
    Engine::new(
        Arc::new(project),
        Arc::new(registry),
        EngineSettings::default(),
    )
}

/// Runs the cases with our engine; returns `{output}`/`{error}` per case and every body.
async fn run_ours(project: &str, cases: &[Case]) -> (Vec<Value>, Vec<Value>) {
    let server = FakeOpenAi::start();
    let engine = engine_for(project, &server);
    let mut outputs = Vec::new();
    for case in cases {
        server.push_all(case.replies.clone());
        let result = engine
            .invoke(InvokeRequest {
                agent: Some(case.agent.to_owned()),
                input: case.input.clone(),
                case_label: case.agent.to_owned(),
                session: None,
            })
            .await;
        outputs.push(match result {
            Ok(outcome) => json!({"output": outcome.output}),
            Err(error) => json!({"error": error.to_string()}),
        });
    }
    (outputs, server.bodies())
}

fn basic_cases() -> Vec<Case> {
    vec![
        case(
            "chat",
            json!({"message": "Hello", "topic": "rust", "effort": "low"}),
            vec![Reply::text("Hi there")],
        ),
        case(
            "multi_role",
            json!({"question": "What is up?", "who": "Bob"}),
            vec![Reply::text("ok")],
        ),
        case(
            "prompt_only",
            json!({"subject": "rain"}),
            vec![Reply::text("drops")],
        ),
        case(
            "structured",
            json!({"text": "great"}),
            vec![Reply::json(
                json!({"label": "positive", "score": 0.9, "tags": [{"name": "x"}], "note": "n"}),
            )],
        ),
        case(
            "with_tools",
            json!({"message": "add 1 and 2"}),
            vec![
                Reply::tool_calls([
                    FakeToolCall::new("call_1", "add", json!({"a": 1, "b": 2})),
                    FakeToolCall::new("call_2", "failing", json!({})),
                ]),
                Reply::text("The sum is 3"),
            ],
        ),
        case(
            "router",
            json!({"message": "route me"}),
            vec![Reply::tool_calls([FakeToolCall::new(
                "c1",
                "add",
                json!({"a": 5, "b": 6}),
            )])],
        ),
        case("defaults", json!({"name": "Ada"}), vec![Reply::text("Hi")]),
        case(
            "included",
            json!({"data": {"k": [1, "two"], "s": "a: b"}, "who": "me"}),
            vec![Reply::text("ok")],
        ),
    ]
}

fn team_cases() -> Vec<Case> {
    vec![
        case("pipeline", json!({"x": "q"}), vec![Reply::text("done")]),
        case("fanout", json!({"x": "z"}), vec![]),
        case(
            "iterate",
            json!({"prefix": "p", "items": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}),
            vec![],
        ),
        case(
            "reviewed",
            json!({}),
            vec![
                Reply::json(json!({"approved": false, "feedback": ["more"]})),
                Reply::json(json!({"approved": true, "feedback": ["more", "ok"]})),
            ],
        ),
    ]
}

#[tokio::test]
async fn basic_fixture_request_bodies() {
    let (outputs, bodies) = run_ours("basic", &basic_cases()).await;
    assert_eq!(
        outputs,
        vec![
            json!({"output": {"message": "Hi there"}}),
            json!({"output": {"message": "ok"}}),
            json!({"output": {"message": "drops"}}),
            json!({"output": {"label": "positive", "score": 0.9, "tags": [{"name": "x"}], "note": "n"}}),
            json!({"output": {"message": "The sum is 3"}}),
            json!({"output": {"sum": 11, "seen_message": "route me"}}),
            json!({"output": {"answer": "Hi", "greeting": "Hello", "name": "Ada", "alias": "Ada"}}),
            json!({"output": {"message": "ok"}}),
        ]
    );
    assert_eq!(bodies.len(), 9);
    // chat: system + user (input_key), global skill offered, getter resolved.
    assert_eq!(bodies[0]["model"], "gpt-4o-mini");
    assert_eq!(
        bodies[0]["messages"],
        json!([
            {"role": "system", "content": [{"type": "text", "text": "You are a helpful assistant. The topic is rust.\n"}]},
            {"role": "user", "content": [{"type": "text", "text": "Hello"}]}
        ])
    );
    assert_eq!(bodies[0]["temperature"], 0.2);
    assert_eq!(bodies[0]["reasoning_effort"], "low");
    assert_eq!(
        bodies[0]["tools"],
        json!([{"type": "function", "function": {"name": "global_skill", "description": "A global skill", "parameters": {}}}])
    );
    assert_eq!(bodies[0]["tool_choice"], "auto");
    // multi_role: systems merged, user + agent items merged into one user message.
    assert_eq!(
        bodies[1]["messages"],
        json!([
            {"role": "system", "content": [
                {"type": "text", "text": "System A for Bob"},
                {"type": "text", "text": "System B footer for Bob\n"}
            ]},
            {"role": "user", "content": [
                {"type": "text", "text": "User item: What is up?"},
                {"type": "text", "text": "Agent item {{ not_rendered }}"}
            ]}
        ])
    );
    // prompt_only: the system-only prompt becomes the user message.
    assert_eq!(
        bodies[2]["messages"],
        json!([{"role": "user", "content": [{"type": "text", "text": "Write a haiku about rain."}]}])
    );
    // structured: response_format with the converted schema.
    assert_eq!(bodies[3]["response_format"]["type"], "json_schema");
    assert_eq!(
        bodies[3]["response_format"]["json_schema"]["name"],
        "output"
    );
    assert_eq!(bodies[3]["response_format"]["json_schema"]["strict"], true);
    // with_tools: tool results as YAML, in the follow-up request.
    let follow_up = &bodies[5]["messages"];
    assert_eq!(follow_up[2]["role"], "assistant");
    assert_eq!(follow_up[2]["tool_calls"][0]["function"]["name"], "add");
    assert_eq!(follow_up[3]["role"], "tool");
    assert_eq!(follow_up[3]["tool_call_id"], "call_1");
    assert_eq!(
        follow_up[3]["content"],
        json!([{"type": "text", "text": "sum: 3\nseen_message: add 1 and 2\n"}])
    );
    assert_eq!(follow_up[4]["tool_call_id"], "call_2");
    assert_eq!(
        follow_up[4]["content"][0]["text"],
        "isError: true\nerror:\n  message: \"expect to return a record type such as {result: ...}, but got\n    (string): not an object\"\n"
    );
    // router: `required`.
    assert_eq!(bodies[6]["tool_choice"], "required");
    // defaults: per-agent model and options.
    assert_eq!(bodies[7]["model"], "gpt-4o");
    assert_eq!(bodies[7]["top_p"], 0.5);
    // included: filters.
    assert_eq!(
        bodies[8]["messages"][1]["content"][0]["text"],
        "k:\n  - 1\n  - two\ns: \"a: b\"\n--{\"k\":[1,\"two\"],\"s\":\"a: b\"}--{\"k\":[1,\"two\"],\"s\":\"a: b\"}--"
    );
}

#[tokio::test]
async fn team_fixture_data_flow() {
    let (outputs, bodies) = run_ours("team", &team_cases()).await;
    assert_eq!(
        outputs,
        vec![
            json!({"output": {"result": "done"}}),
            json!({"output": {"one": "z", "two": "zz"}}),
            json!({"output": {"items": [
                {"upper": "A", "prefix": "p", "count": 3},
                {"upper": "B", "prefix": "p", "count": 3},
                {"upper": "C", "prefix": "p", "count": 3}
            ]}}),
            json!({"output": {"draft": "v2"}}),
        ]
    );
    assert_eq!(
        bodies[0]["messages"],
        json!([{"role": "user", "content": [{"type": "text", "text": "a=q1 b=q12 x=q"}]}])
    );
    assert_eq!(
        bodies[2]["messages"],
        json!([{"role": "user", "content": [{"type": "text", "text": "Review v2"}]}])
    );
}

// --- conformance with the official runtime ---------------------------------------------------

fn reference_install() -> Option<PathBuf> {
    let dir = std::env::var_os("AIGNE_CI_REF_AIGNE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/ref-aigne"));
    let has_cli = dir
        .join("node_modules/@aigne/cli/dist/utils/load-aigne.js")
        .is_file();
    let has_node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    (has_cli && has_node).then_some(dir)
}

fn run_reference(reference: &Path, project: &str, cases: &[Case]) -> (Vec<Value>, Vec<Value>) {
    let server = FakeOpenAi::start();
    for case in cases {
        server.push_all(case.replies.clone());
    }
    let dir = tempfile::tempdir().unwrap();
    let cases_file = dir.path().join("cases.json");
    let listed: Vec<Value> = cases
        .iter()
        .map(|case| json!({"agent": case.agent, "input": case.input}))
        .collect();
    fs_err::write(&cases_file, serde_json::to_string(&listed).unwrap()).unwrap();
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/engine_reference.mjs");
    let ran = std::process::Command::new("node")
        .arg(&script)
        .arg(reference)
        .arg(fixture(project))
        .arg(&cases_file)
        .current_dir(dir.path())
        .env("OPENAI_BASE_URL", server.base_url())
        .env("OPENAI_API_KEY", "sk-test")
        .env_remove("MODEL")
        .env("HOME", dir.path())
        .output()
        .unwrap();
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let outputs = String::from_utf8(ran.stdout)
        .unwrap()
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    (outputs, server.bodies())
}

async fn assert_conformance(project: &str, cases: Vec<Case>) {
    let Some(reference) = reference_install() else {
        crate::common::skip("node or the official AIGNE install (AIGNE_CI_REF_AIGNE) is missing");
        return;
    };
    let (official_outputs, official_bodies) = run_reference(&reference, project, &cases);
    let (our_outputs, our_bodies) = run_ours(project, &cases).await;
    assert_eq!(
        our_bodies.len(),
        official_bodies.len(),
        "number of model calls"
    );
    for (index, (ours, official)) in our_bodies.iter().zip(&official_bodies).enumerate() {
        assert_eq!(ours, official, "request body {index}");
    }
    assert_eq!(our_outputs, official_outputs);
}

#[tokio::test]
async fn basic_fixture_matches_the_official_runtime() {
    assert_conformance("basic", basic_cases()).await;
}

#[tokio::test]
async fn team_fixture_matches_the_official_runtime() {
    assert_conformance("team", team_cases()).await;
}

/// `retry_on_error`: an agent runs again after a failed attempt (a tool that throws with
/// `catch_tools_error: false`; a transform whose output breaks its schema), with the same model
/// requests as AIGNE; a retried output carries `$meta.retries`, and an agent out of retries fails
/// with AIGNE's ` (after N retries)` (the schema message itself is zod's in AIGNE).
#[tokio::test]
async fn retry_on_error_matches_the_official_runtime() {
    let cases = vec![
        case(
            "flaky",
            json!({"message": "go"}),
            vec![
                Reply::tool_calls([FakeToolCall::new("c1", "failing", json!({}))]),
                Reply::text("done"),
            ],
        ),
        case("exhausted", json!({"review": "meh"}), Vec::new()),
    ];
    let (our_outputs, our_bodies) = run_ours("retry", &cases).await;
    assert_eq!(
        our_outputs[0],
        json!({"output": {"message": "done", "$meta": {"retries": 1}}})
    );
    let error = our_outputs[1]["error"].as_str().unwrap();
    assert!(error.ends_with(" (after 2 retries)"), "{error}");
    assert_eq!(our_bodies.len(), 2);
    let Some(reference) = reference_install() else {
        crate::common::skip("node or the official AIGNE install (AIGNE_CI_REF_AIGNE) is missing");
        return;
    };
    let (official_outputs, official_bodies) = run_reference(&reference, "retry", &cases);
    assert_eq!(our_bodies, official_bodies);
    assert_eq!(our_outputs[0], official_outputs[0]);
    let official_error = official_outputs[1]["error"].as_str().unwrap();
    assert!(
        official_error.ends_with(" (after 2 retries)"),
        "{official_error}"
    );
}

/// `input_file_key`: inline and local files join the user message after its text, a local one
/// read and sent inline with its type guessed from its name, as the official runtime sends them.
#[tokio::test]
async fn input_file_key_matches_the_official_runtime() {
    let note = fixture("files").join("note.txt");
    let note = note.to_str().unwrap();
    let cases = vec![
        case(
            "describe",
            json!({"message": "What is in these?", "files": [
                {"type": "file", "data": "aGVsbG8=", "mimeType": "text/plain", "filename": "hello.txt"},
                {"type": "local", "path": note}
            ]}),
            vec![Reply::text("Two notes")],
        ),
        case(
            "describe",
            json!({"message": "And this one?", "files": {"type": "local", "path": note, "filename": "renamed.md"}}),
            vec![Reply::text("A note")],
        ),
        case(
            "describe",
            json!({"message": "Nothing attached", "files": null}),
            vec![Reply::text("Nothing")],
        ),
    ];
    let (_, bodies) = run_ours("files", &cases).await;
    assert_eq!(
        bodies[0]["messages"][1]["content"],
        json!([
            {"type": "text", "text": "What is in these?"},
            {"type": "image_url", "image_url": {"url": "data:text/plain;base64,aGVsbG8="}},
            {"type": "image_url", "image_url": {"url": "data:text/plain;base64,YSBsb2NhbCBub3RlCg=="}}
        ])
    );
    assert_conformance("files", cases).await;
}
