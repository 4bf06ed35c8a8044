//! `aigne-ci inspect`: agents, models, features and native support, as JSON on stdout.

use std::path::Path;

use serde_json::Value;

use crate::common;

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/projects")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn lists_agents_models_and_features() {
    let dir = tempfile::tempdir().unwrap();
    let ran = common::Run::in_dir(dir.path())
        .args(["inspect", &fixture("basic")])
        .env("OPENAI_API_KEY", "sk-test")
        .expect_exit(0)
        .run();
    let report: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(report["format_version"], 1);
    assert_eq!(report["project"]["name"], "basic");
    let agents = report["agents"].as_array().unwrap();
    assert_eq!(agents[0]["name"], "chat");
    assert_eq!(agents[0]["type"], "ai");
    assert_eq!(agents[0]["input_key"], "message");
    assert_eq!(agents[0]["model"]["provider"], "openai");
    assert_eq!(agents[0]["model"]["name"], "gpt-4o-mini");
    let defaults = agents.iter().find(|a| a["name"] == "defaults").unwrap();
    assert_eq!(defaults["model"]["name"], "gpt-4o");
    let structured = agents.iter().find(|a| a["name"] == "structured").unwrap();
    assert_eq!(
        structured["output_schema"]["required"],
        serde_json::json!(["label", "score", "note"])
    );
    let global = agents.iter().find(|a| a["name"] == "global-skill").unwrap();
    assert_eq!(global["lists"], serde_json::json!(["skills"]));
    // `memory_chat` has an AFS: AIGNE offers it as `afs_*` tools, which the native engine lacks.
    assert_eq!(report["native"]["supported"], false);
    let features = report["features"].as_array().unwrap();
    assert!(
        features
            .iter()
            .any(|f| f["feature"] == "tool_choice: router" && f["supported"] == true)
    );
    assert!(features.iter().any(|f| f["feature"] == "afs: history"
        && f["agent"] == "memory_chat"
        && f["supported"] == false));
}

#[test]
fn unsupported_features_are_named_with_their_file() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("p");
    fs_err::create_dir_all(&project).unwrap();
    fs_err::write(
        project.join("aigne.yaml"),
        "model: openai:gpt-4o\nagents:\n  - chat.yaml\n  - tool.mjs\nskills:\n  - fs.yaml\n",
    )
    .unwrap();
    fs_err::write(
        project.join("chat.yaml"),
        "instructions: hi\nafs:\n  modules:\n    - history\nhooks:\n  on_start: tool.mjs\n",
    )
    .unwrap();
    fs_err::write(
        project.join("tool.mjs"),
        "export default function tool() {}\n",
    )
    .unwrap();
    fs_err::write(
        project.join("fs.yaml"),
        "type: mcp\ncommand: npx\nargs: [\"-y\", \"@modelcontextprotocol/server-filesystem\"]\n",
    )
    .unwrap();
    let ran = common::Run::in_dir(dir.path())
        .args(["inspect", "p"])
        .expect_exit(0)
        .run();
    let report: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(report["native"]["supported"], false);
    let unsupported: Vec<&str> = report["native"]["unsupported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        unsupported
            .iter()
            .any(|u| u.starts_with("afs: history (agent `AIAgent`") && u.contains("chat.yaml")),
        "{unsupported:?}"
    );
    // JS files run through the Node bridge, MCP servers through rmcp, hooks natively: all are
    // supported.
    assert!(
        !unsupported.iter().any(|u| u.starts_with("type: js")
            || u.starts_with("type: mcp")
            || u.starts_with("hooks")),
        "{unsupported:?}"
    );
    let features = report["features"].as_array().unwrap();
    for (kind, file) in [("type: js", "tool.mjs"), ("type: mcp", "fs.yaml")] {
        let entry = features
            .iter()
            .find(|f| f["feature"] == kind)
            .unwrap_or_else(|| panic!("no `{kind}` in {features:?}"));
        assert_eq!(entry["supported"], true, "{entry}");
        assert!(entry["file"].as_str().unwrap().ends_with(file), "{entry}");
    }
}

#[test]
fn a_project_that_does_not_load_exits_2_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(dir.path().join("aigne.yaml"), "agents:\n  - a.yaml\n").unwrap();
    fs_err::write(
        dir.path().join("a.yaml"),
        "name: a\ntool_choice: sometimes\n",
    )
    .unwrap();
    let ran = common::Run::in_dir(dir.path())
        .args(["inspect", "."])
        .expect_exit(2)
        .run();
    assert!(ran.stderr.contains("a.yaml:2"), "{}", ran.stderr);
    assert!(ran.stderr.contains("toolChoice"), "{}", ran.stderr);
    assert!(ran.stdout.is_empty());

    let empty = tempfile::tempdir().unwrap();
    let ran = common::Run::in_dir(empty.path())
        .args(["inspect", "."])
        .expect_exit(2)
        .run();
    assert!(ran.stderr.contains("aigne.yaml"), "{}", ran.stderr);
}
