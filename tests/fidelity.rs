//! Issue 16 corners checked against the official CLI itself (`aigne run`), where the corpus
//! harness (`tests/corpus.rs`, which calls `aigne.invoke`) cannot show them: how `aigne run DIR
//! WORDS...` names an agent of the `cli:` tree, in both engines. Needs node and the reference
//! install (`AIGNE_CI_REF_AIGNE`, also the node engine); without them it fails when `CI` is set.

use std::path::{Path, PathBuf};

use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use crate::common;
use crate::common::fake_openai::{FakeOpenAi, Reply};

fn corpus_cli() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/projects/corpus-cli")
}

fn reference_install() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("AIGNE_CI_REF_AIGNE")?);
    let has_node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    (has_node && dir.join("node_modules/@aigne/cli/dist/cli.js").is_file()).then_some(dir)
}

/// `aigne run PROJECT WORDS... --item_name lamp --target shelf`: the official CLI's own lookup
/// of a command path. Returns what it printed and the request bodies it sent.
fn official(reference: &Path, words: &[&str]) -> (String, Vec<Value>) {
    let server = FakeOpenAi::start();
    server.push(Reply::text("uploaded"));
    let home = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new("node");
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("OPENAI_") || key.starts_with("AIGNE_") || key == "MODEL" {
            command.env_remove(&key);
        }
    }
    let ran = command
        .arg(reference.join("node_modules/@aigne/cli/dist/cli.js"))
        .arg("run")
        .arg(corpus_cli())
        .args(words)
        .args(["--item_name", "lamp", "--target", "shelf"])
        .current_dir(home.path())
        .env("HOME", home.path())
        .env("OPENAI_BASE_URL", server.base_url())
        .env("OPENAI_API_KEY", "sk-fidelity")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        ran.status.success(),
        "aigne run {words:?}: {}",
        String::from_utf8_lossy(&ran.stderr)
    );
    (
        String::from_utf8_lossy(&ran.stdout).into_owned(),
        server.bodies(),
    )
}

/// `aigne-ci run PROJECT "WORDS" --engine ENGINE`: the agent named on the command line as a
/// `cli:` path. Returns the case's output and the request bodies.
fn ours(engine: &str, node_engine: &Path, words: &str) -> (Value, Vec<Value>) {
    let server = FakeOpenAi::start();
    server.push(Reply::text("uploaded"));
    let ran = common::Run::new()
        .openai(&server, "sk-fidelity")
        .arg("run")
        .arg(corpus_cli())
        .arg(words)
        .args([
            "--input-json",
            r#"{"item_name": "lamp", "target": "shelf"}"#,
        ])
        .args(["--engine", engine])
        .arg("--node-engine-dir")
        .arg(node_engine)
        .expect_exit(0)
        .run();
    let records = ran.results();
    assert_eq!(records.len(), 1, "{engine} {words}: one result");
    (records[0]["output"].clone(), server.bodies())
}

/// Issue 16 item 1: `aigne-ci run DIR "items up"` runs the agent `aigne run DIR items up` runs
/// (a renamed `url:` entry in a `cli:` group, by the group's name and the entry's alias), with
/// the same request, in both engines; the node engine used to answer "not found" because the
/// plan handed it the agent's own name, which is no command name of the tree.
#[test]
fn cli_paths_given_on_the_command_line_run_in_both_engines_as_aigne_run() {
    let Some(reference) = reference_install() else {
        common::skip("node or the official AIGNE install (AIGNE_CI_REF_AIGNE) is missing");
        return;
    };
    let node_engine = std::env::var_os("AIGNE_CI_TEST_NODE_ENGINE_DIR")
        .map_or_else(|| reference.clone(), PathBuf::from);
    for words in [["items", "up"], ["item", "upload-items"]] {
        let (printed, official_bodies) = official(&reference, &words);
        assert!(
            printed.contains("uploaded"),
            "aigne run {words:?}: {printed}"
        );
        assert_eq!(
            official_bodies.len(),
            1,
            "aigne run {words:?}: one model call"
        );
        for engine in ["native", "node"] {
            let (output, bodies) = ours(engine, &node_engine, &words.join(" "));
            assert_eq!(output, json!({"message": "uploaded"}), "{engine} {words:?}");
            assert_eq!(
                bodies, official_bodies,
                "{engine} {words:?}: request bodies"
            );
        }
    }
}
