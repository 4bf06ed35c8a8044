//! Loader tests on small projects written to temp folders and on the fixtures.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::*;

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let path = dir.join(name);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(path, text).unwrap();
    }
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/projects")
        .join(name)
}

#[test]
fn loads_the_basic_fixture() {
    let project = Project::load(&fixture("basic")).unwrap();
    assert_eq!(project.name.as_deref(), Some("basic"));
    let model = project.model.as_ref().unwrap();
    assert_eq!(model.model, Some(json!("openai:gpt-4o-mini")));
    assert_eq!(
        model.options.get("reasoningEffort"),
        Some(&json!({"$get": "effort"}))
    );
    assert_eq!(project.agent(None).unwrap().name, "chat");
    assert_eq!(project.skills[0].name, "global-skill");
    let multi = project.agent(Some("multi_role")).unwrap();
    let ai = multi.ai().unwrap();
    assert_eq!(ai.instructions.len(), 4);
    assert_eq!(ai.instructions[2].role, InstructionRole::Agent);
    assert!(ai.instructions[3].path.ends_with("prompts/system-b.md"));
    let structured = project.agent(Some("structured")).unwrap();
    // Schema files are inlined, nested ones too.
    assert_eq!(
        structured.output_schema.as_ref().unwrap()["properties"]["tags"]["items"]["required"],
        json!(["name"])
    );
    let defaults = project.agent(Some("defaults")).unwrap();
    let model = defaults.model.as_ref().unwrap();
    assert_eq!(model.model, Some(json!("openai/gpt-4o")));
    assert_eq!(
        model.options.get("temperature"),
        Some(&json!(0.2)),
        "null does not override"
    );
    assert_eq!(model.options.get("topP"), Some(&json!(0.5)));
    let error = project.agent(Some("nope")).unwrap_err();
    assert!(matches!(error, ProjectError::AgentNotFound { .. }));
    assert!(crate::hint::Hint::hint(&error).unwrap().contains("`chat`"));
}

#[test]
fn nulls_unknown_keys_aliases_and_nesting() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            (
                "aigne.yml",
                "name: p\nchat_model: null\nagents:\n  - a.yaml\nskills: null\nunknown_key: 1\ncli:\n  chat: a.yaml\n  agents:\n    - url: a.yaml\n      name: renamed\n      alias: [r]\n    - name: group\n      agents:\n        - b/c.yaml\nmcp_server:\n  agents: [a.yaml]\n",
            ),
            (
                "a.yaml",
                "name: a\ninstructions: hi\ninput_key: null\nauto_reorder_system_messages: true\nretry_on_error: true\ntools:\n  - b/c.yaml\n  - url: b/c.yaml\n    default_input:\n      x: 1\n  - type: team\n    name: inline\n    skills:\n      - b/c.yaml\n",
            ),
            (
                "b/c.yaml",
                "type: transform\nname: c\njsonata: '{\"y\": x}'\n",
            ),
        ],
    );
    let project = Project::load(&dir.path().join("aigne.yml")).unwrap();
    assert!(project.model.is_none());
    let a = &project.agents[0];
    assert!(a.ai().unwrap().input_key.is_none());
    assert_eq!(a.skills.len(), 3, "`tools` is an alias of `skills`");
    assert_eq!(a.skills[1].default_input.get("x"), Some(&json!(1)));
    assert_eq!(a.skills[2].name, "inline");
    assert_eq!(a.skills[2].skills[0].name, "c");
    assert!(a.extra.contains_key("autoReorderSystemMessages"));
    assert!(a.extra.contains_key("retryOnError"));
    // One shared instance for every top-level list.
    assert!(std::sync::Arc::ptr_eq(
        &project.agents[0],
        project.cli_chat.as_ref().unwrap()
    ));
    assert!(std::sync::Arc::ptr_eq(
        &project.agents[0],
        &project.mcp_server_agents[0]
    ));
    assert_eq!(project.cli_agents[0].name.as_deref(), Some("renamed"));
    assert_eq!(
        project.cli_agents[1].agents[0].agent.as_ref().unwrap().name,
        "c"
    );
    let features: Vec<String> = project
        .features()
        .iter()
        .map(|f| f.feature.to_string())
        .collect();
    assert!(
        features.contains(&"key retryOnError".to_owned()),
        "{features:?}"
    );
    assert!(features.contains(&"key autoReorderSystemMessages (no effect)".to_owned()));
}

#[test]
fn errors_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("aigne.yaml", "agents:\n  - a.yaml\n"),
            (
                "a.yaml",
                "name: a\ninstructions: hi\n\ninput_key:\n  nested: 1\n",
            ),
        ],
    );
    let error = Project::load(dir.path()).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "invalid `{}:4`: `inputKey`: expected a string, found a mapping",
            dir.path().join("a.yaml").display()
        )
    );

    write(dir.path(), &[("a.yaml", "name: a\ninstructions: [\n")]);
    let error = Project::load(dir.path()).unwrap_err();
    let ProjectError::Parse { location, .. } = &error else {
        panic!("{error:?}")
    };
    assert!(
        location.path.ends_with("a.yaml") && location.line.is_some(),
        "{error}"
    );

    write(
        dir.path(),
        &[(
            "a.yaml",
            "type: team\niterate_with_previous_output: true\nconcurrency: 2\n",
        )],
    );
    let error = Project::load(dir.path()).unwrap_err();
    assert!(error.to_string().contains("a.yaml:2"), "{error}");

    write(dir.path(), &[("a.yaml", "skills:\n  - missing.yaml\n")]);
    let error = Project::load(dir.path()).unwrap_err();
    assert!(error.to_string().contains("missing.yaml"), "{error}");

    let empty = tempfile::tempdir().unwrap();
    let error = Project::load(empty.path()).unwrap_err();
    assert!(matches!(error, ProjectError::NotFound { .. }));
}

#[test]
fn provider_and_name_without_model() {
    let parsed = ModelConfig::parse(&json!({"provider": "openai", "name": "gpt-4o"}), true)
        .unwrap()
        .unwrap();
    assert_eq!(parsed.model, Some(json!("openai:gpt-4o")));
    let parsed = ModelConfig::parse(&json!({"name": "gpt-4o", "temperature": 1}), true)
        .unwrap()
        .unwrap();
    assert_eq!(
        parsed.model, None,
        "(quirk) name alone does not select a model"
    );
    assert_eq!(parsed.options.get("name"), Some(&json!("gpt-4o")));
}

/// `cli:` entries are found by their command name and aliases (the entry's, else the agent's),
/// by a path through the groups (`items up`) and by a single name inside a group.
#[test]
fn cli_tree_names_and_aliases() {
    let project = Project::load(&fixture("corpus-cli")).unwrap();
    for name in [
        "items upload-items",
        "it up",
        "item/upload-all",
        "upload-items",
        "up",
    ] {
        assert_eq!(project.agent(Some(name)).unwrap().name, "upload", "{name}");
    }
    assert_eq!(
        project.agent(Some("items download")).unwrap().name,
        "download"
    );
    assert!(project.agent(Some("items nope")).is_err());
}
