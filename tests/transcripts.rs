//! Per-case transcripts (`<out-dir>/transcripts/<line>.json`) through the binary: the tree of
//! invocations, every model call in order, redaction, size caps, errored cases, `--transcripts
//! off`, and the node engine's transcript of the same project.

use std::path::Path;

use serde_json::{Value, json};

use crate::common::fake_openai::{FakeOpenAi, FakeToolCall, Reply};
use crate::common::{self, assert_valid};

pub(crate) const SECRET: &str = "sk-transcript-secret-0042";

/// `crew`: a team whose first member is a transform and whose second is an AI agent with a
/// transform skill (`lookup`), so a case runs team → transform, team → ai → (model, tool, model).
pub(crate) fn project(dir: &Path) {
    fs_err::write(
        dir.join("aigne.yaml"),
        "name: transcripts\nmodel: openai:gpt-4o-mini\nagents:\n  - crew.yaml\n  - writer.yaml\n",
    )
    .unwrap();
    fs_err::write(
        dir.join("crew.yaml"),
        "type: team\nname: crew\nskills:\n  - type: transform\n    name: prep\n    jsonata: '{\"message\": \"topic: \" & message}'\n  - writer.yaml\n",
    )
    .unwrap();
    fs_err::write(
        dir.join("writer.yaml"),
        "name: writer\ninstructions: Write about the topic.\ninput_key: message\nskills:\n  - type: transform\n    name: lookup\n    description: Looks a word up\n    input_schema:\n      type: object\n      properties:\n        word: {type: string}\n    jsonata: '{\"definition\": \"a word: \" & word}'\n",
    )
    .unwrap();
}

/// `aigne-ci run . crew --input prompts.jsonl` in `dir` against the fake.
fn run_in(dir: &Path, server: &FakeOpenAi) -> common::Run {
    common::Run::in_dir(dir).openai(server, SECRET).args([
        "run",
        ".",
        "crew",
        "--input",
        "prompts.jsonl",
    ])
}

/// [`run_in`] as a `Command` (kept for tests written against it; new tests use [`run_in`]).
#[allow(
    dead_code,
    reason = "the former entry point, kept for tests on other branches"
)]
fn command(dir: &Path, server: &FakeOpenAi) -> std::process::Command {
    run_in(dir, server).into_command()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&fs_err::read_to_string(path).unwrap()).unwrap()
}

fn records(out: &Path) -> Vec<Value> {
    common::records(out)
}

fn validator() -> jsonschema::Validator {
    common::schema("transcript.schema.json")
}

#[test]
fn native_transcripts_hold_the_invocation_tree_and_every_model_call() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let long = "x".repeat(40_000);
    fs_err::write(
        dir.path().join("prompts.jsonl"),
        format!(
            "{{\"id\": \"tool\", \"input\": \"apples\"}}\n{{\"id\": \"broken\", \"input\": \"pears\"}}\n{{\"id\": \"long\", \"input\": \"{long}\"}}\n"
        ),
    )
    .unwrap();
    let server = FakeOpenAi::start();
    server.set_handler(|request| {
        let messages = request.body["messages"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let text = serde_json::to_string(&messages).unwrap();
        if text.contains("pears") {
            return Reply::error(500, json!({"error": {"message": "the fake is down"}}));
        }
        if text.contains("apples") && !text.contains("a word: apple") {
            return Reply::tool_calls([FakeToolCall::new(
                "call_1",
                "lookup",
                json!({"word": "apple"}),
            )])
            .usage(11, 2);
        }
        // The model echoes the key: the transcript must not.
        Reply::text(&format!("done (key {SECRET})")).usage(13, 4)
    });
    run_in(dir.path(), &server)
        .args(["--retries", "1"])
        .expect_exit(1)
        .run();
    let out = dir.path().join("aigne-ci-output");
    let records = records(&out);
    let paths: Vec<&str> = records
        .iter()
        .map(|record| record["transcript"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        vec![
            "transcripts/1.json",
            "transcripts/2.json",
            "transcripts/3.json"
        ]
    );
    let validator = validator();

    // Case 1: crew → prep (transform), crew → writer (ai) → lookup (transform), two model calls.
    let transcript = read_json(&out.join(paths[0]));
    assert_valid(&validator, &transcript);
    assert_eq!(transcript["id"], "tool");
    assert_eq!(transcript["line"], 1);
    assert_eq!(transcript["engine"], "native");
    let tree: Vec<(String, String, Value)> = transcript["invocations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|invocation| {
            (
                invocation["agent"].as_str().unwrap().to_owned(),
                invocation["kind"].as_str().unwrap().to_owned(),
                invocation["parent"].clone(),
            )
        })
        .collect();
    assert_eq!(
        tree,
        vec![
            ("crew".to_owned(), "team".to_owned(), Value::Null),
            ("prep".to_owned(), "transform".to_owned(), json!(0)),
            ("writer".to_owned(), "ai".to_owned(), json!(0)),
            ("lookup".to_owned(), "transform".to_owned(), json!(2)),
        ]
    );
    let invocations = transcript["invocations"].as_array().unwrap();
    assert_eq!(
        invocations[1]["output"],
        json!({"message": "topic: apples"})
    );
    assert_eq!(invocations[3]["input"]["word"], "apple");
    assert_eq!(
        invocations[3]["output"],
        json!({"definition": "a word: apple"})
    );
    assert_eq!(
        invocations[0]["output"],
        json!({"message": "done (key ****)"})
    );
    let calls = transcript["model_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2);
    for call in calls {
        assert_eq!(call["invocation"], 2);
        assert_eq!(call["provider"], "openai");
        assert_eq!(call["model"], "gpt-4o-mini");
        assert_eq!(call["attempts"], 1);
        assert!(call["latency_ms"].is_u64());
    }
    // As sent: the system and user messages and the tool's definition; then the tool round.
    let first = &calls[0]["request"];
    assert_eq!(first["messages"][0]["role"], "system");
    assert_eq!(first["messages"][1]["content"][0]["text"], "topic: apples");
    assert_eq!(first["tools"][0]["name"], "lookup");
    assert_eq!(first["tools"][0]["description"], "Looks a word up");
    assert_eq!(
        calls[0]["response"]["tool_calls"][0],
        json!({"id": "call_1", "name": "lookup", "arguments": {"word": "apple"}})
    );
    assert_eq!(
        calls[0]["usage"],
        json!({"input_tokens": 11, "output_tokens": 2})
    );
    let second = calls[1]["request"]["messages"].as_array().unwrap();
    assert_eq!(second[2]["tool_calls"][0]["id"], "call_1");
    assert_eq!(second[3]["role"], "tool");
    assert!(
        second[3]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("a word: apple")
    );
    assert_eq!(calls[1]["response"]["text"], "done (key ****)");
    assert!(calls[0]["started_ms"].as_u64() <= calls[1]["started_ms"].as_u64());

    // Case 2: the model call failed after the HTTP retry; the error is in the transcript.
    let transcript = read_json(&out.join(paths[1]));
    assert_valid(&validator, &transcript);
    assert_eq!(records[1]["status"], "errored");
    let call = &transcript["model_calls"][0];
    assert_eq!(call["attempts"], 2, "{call:#}");
    assert!(
        call["error"].as_str().unwrap().contains("status 500"),
        "{call:#}"
    );
    assert!(call.get("response").is_none());
    let writer = &transcript["invocations"][2];
    assert_eq!(writer["agent"], "writer");
    assert!(
        writer["error"]
            .as_str()
            .unwrap()
            .contains("the fake is down")
    );

    // Case 3: the 40 007-byte message (`topic: ` + 40 000) is cut at the cap, with a note,
    // everywhere it appears.
    let text = fs_err::read_to_string(out.join(paths[2])).unwrap();
    assert!(!text.contains(&long));
    assert!(text.contains(&"x".repeat(16_384)));
    let transcript: Value = serde_json::from_str(&text).unwrap();
    assert_valid(&validator, &transcript);
    let sent = transcript["model_calls"][0]["request"]["messages"][1]["content"][0]["text"]
        .as_str()
        .unwrap();
    assert!(
        sent.ends_with("… [aigne-ci: cut at 16384 bytes, 23623 more bytes not kept]"),
        "{}",
        &sent[sent.len() - 100..]
    );

    // The key never reaches a transcript.
    for path in &paths {
        let text = fs_err::read_to_string(out.join(path)).unwrap();
        assert!(!text.contains(SECRET), "{path}");
    }
}

/// Hook agents are in the tree under the agent that declared them, each naming its slot:
/// `greet`'s `on_start` / `on_success` / `on_end`, `tooled`'s `on_skill_start` / `on_skill_end`
/// around its tool call (tests/fixtures/projects/hooks).
#[test]
fn hook_invocations_name_their_slot() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/projects/hooks");
    fs_err::write(
        dir.path().join("prompts.jsonl"),
        concat!(
            "{\"id\": \"greet\", \"agent\": \"greet\", \"input\": \"hello\"}\n",
            "{\"id\": \"tooled\", \"agent\": \"tooled\", \"input\": \"echo this\"}\n",
        ),
    )
    .unwrap();
    let server = FakeOpenAi::start();
    server.push_all([
        Reply::text("Hi there"),
        Reply::text("Looks fine"),
        Reply::tool_calls([FakeToolCall::new("c1", "echo", json!({"text": "ping"}))]),
        Reply::text("start noted"),
        Reply::text("end noted"),
        Reply::text("Echoed ping"),
    ]);
    common::Run::in_dir(dir.path())
        .openai(&server, SECRET)
        .args([
            "run",
            &fixture.display().to_string(),
            "--input",
            "prompts.jsonl",
        ])
        .args(["--concurrency", "1"])
        .expect_exit(0)
        .run();
    let out = dir.path().join("aigne-ci-output");
    let validator = validator();
    let tree = |line: usize| -> Vec<(String, Option<String>, Option<String>)> {
        let transcript = read_json(&out.join(format!("transcripts/{line}.json")));
        assert_valid(&validator, &transcript);
        let invocations = transcript["invocations"].as_array().unwrap().clone();
        invocations
            .iter()
            .map(|invocation| {
                let parent = invocation["parent"].as_u64().map(|parent| {
                    invocations[parent as usize]["agent"]
                        .as_str()
                        .unwrap()
                        .to_owned()
                });
                (
                    invocation["agent"].as_str().unwrap().to_owned(),
                    invocation["hook"].as_str().map(str::to_owned),
                    parent,
                )
            })
            .collect()
    };
    let hooks =
        |tree: &[(String, Option<String>, Option<String>)]| -> Vec<(String, String, String)> {
            tree.iter()
                .filter_map(|(agent, hook, parent)| {
                    Some((
                        agent.clone(),
                        hook.clone()?,
                        parent.clone().unwrap_or_default(),
                    ))
                })
                .collect()
        };
    let owned = |items: &[(&str, &str, &str)]| -> Vec<(String, String, String)> {
        items
            .iter()
            .map(|(a, b, c)| ((*a).to_owned(), (*b).to_owned(), (*c).to_owned()))
            .collect()
    };
    let greet = tree(1);
    assert_eq!(
        hooks(&greet),
        owned(&[
            ("start_hook", "on_start", "greet"),
            // `on_success` and `on_end` run together, the `priority: high` entry first.
            ("review_hook", "on_end", "greet"),
            ("success_hook", "on_success", "greet"),
        ]),
        "{greet:?}"
    );
    // The case's own agent is no hook.
    assert_eq!(greet[0], ("greet".to_owned(), None, None));
    let tooled = tree(2);
    assert_eq!(
        hooks(&tooled),
        owned(&[
            ("skill_start_hook", "on_skill_start", "tooled"),
            ("skill_end_hook", "on_skill_end", "tooled"),
        ]),
        "{tooled:?}"
    );
    // The tool call itself is no hook either, and runs between the two.
    let position = |name: &str| tooled.iter().position(|(agent, ..)| agent == name).unwrap();
    assert!(
        position("skill_start_hook") < position("echo"),
        "{tooled:?}"
    );
    assert!(position("echo") < position("skill_end_hook"), "{tooled:?}");
    assert_eq!(tooled[position("echo")].1, None);
}

#[test]
fn transcripts_off_writes_none() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    fs_err::write(dir.path().join("prompts.jsonl"), "\"plums\"\n").unwrap();
    let server = FakeOpenAi::start();
    server.set_default(Reply::text("ok"));
    run_in(dir.path(), &server)
        .args(["--transcripts", "off"])
        .expect_exit(0)
        .run();
    let out = dir.path().join("aigne-ci-output");
    assert!(!out.join("transcripts").exists());
    assert!(records(&out)[0].get("transcript").is_none());
}

#[test]
fn node_engine_transcripts_hold_the_runtimes_agent_events() {
    let Some(packages) = std::env::var_os("AIGNE_CI_TEST_NODE_ENGINE_DIR") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must set AIGNE_CI_TEST_NODE_ENGINE_DIR (the official runtime) for this test"
        );
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"skipped: AIGNE_CI_TEST_NODE_ENGINE_DIR is not set\n",
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    fs_err::write(dir.path().join("prompts.jsonl"), "\"apples\"\n").unwrap();
    let server = FakeOpenAi::start();
    server.set_handler(|request| {
        let text = request.body["messages"].to_string();
        if text.contains("a word: apple") {
            Reply::text(&format!("done (key {SECRET})")).usage(13, 4)
        } else {
            Reply::tool_calls([FakeToolCall::new(
                "call_1",
                "lookup",
                json!({"word": "apple"}),
            )])
            .usage(11, 2)
        }
    });
    run_in(dir.path(), &server)
        .args(["--engine", "node", "--node-engine-dir"])
        .arg(&packages)
        .expect_exit(0)
        .run();
    let out = dir.path().join("aigne-ci-output");
    let record = &records(&out)[0];
    let text = fs_err::read_to_string(out.join(record["transcript"].as_str().unwrap())).unwrap();
    assert!(!text.contains(SECRET));
    let transcript: Value = serde_json::from_str(&text).unwrap();
    assert_valid(&validator(), &transcript);
    assert_eq!(transcript["engine"], "node");
    let agents: Vec<(&str, &str)> = transcript["invocations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|invocation| {
            (
                invocation["agent"].as_str().unwrap(),
                invocation["kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(agents[0], ("crew", "TeamAgent"), "{agents:?}");
    assert!(agents.contains(&("writer", "AIAgent")), "{agents:?}");
    assert!(
        agents.iter().any(|(agent, _)| *agent == "lookup"),
        "{agents:?}"
    );
    let calls = transcript["model_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2, "{calls:#?}");
    let writer = transcript["invocations"]
        .as_array()
        .unwrap()
        .iter()
        .position(|invocation| invocation["agent"] == "writer")
        .unwrap();
    for call in calls {
        assert_eq!(call["invocation"], json!(writer));
        assert!(call["request"]["messages"].is_array(), "{call:#}");
    }
    assert!(calls[0]["request"]["tools"].to_string().contains("lookup"));
    assert_eq!(calls[1]["response"]["text"], "done (key ****)");
}
