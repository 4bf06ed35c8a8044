//! Every kind of child (the Node bridge running a JavaScript tool, the Node engine host, a stdio
//! MCP server; npm is in `js.rs`) runs in its own process group: a signal, a case timeout or
//! the end of the run leaves no process of that group behind, not even one the child started.
#![cfg(unix)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use pretty_assertions::assert_eq;
use serde_json::json;

use crate::common;
use crate::common::fake_openai::{FakeOpenAi, FakeToolCall, Reply};
use crate::mcp::{alive, gone_soon, test_server_binary};

/// A JavaScript function agent that starts a node child of its own (not detached: it stays in
/// the group), writes `<its pid> <the child's pid>` to `pids`, then returns, waits forever
/// (`hang: "async"`) or spins (`hang: "sync"`, so the host stops answering).
const SPAWNER: &str = r#"import { spawn } from "node:child_process";
import { renameSync, writeFileSync } from "node:fs";

export default async function spawner({ pids, hang }) {
  const child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 300000)"], { stdio: "ignore" });
  writeFileSync(`${pids}.tmp`, `${process.pid} ${child.pid}`);
  renameSync(`${pids}.tmp`, pids);
  if (hang === "async") await new Promise(() => {});
  if (hang === "sync") for (;;) {}
  return { started: child.pid };
}
"#;

fn spawner_project(dir: &Path) {
    fs_err::write(
        dir.join("aigne.yaml"),
        "model: openai:gpt-4o-mini\nagents:\n  - spawner.mjs\n",
    )
    .unwrap();
    fs_err::write(dir.join("spawner.mjs"), SPAWNER).unwrap();
}

/// `aigne-ci run . spawner` on `engine` with `hang`; pids go to `<dir>/pids`.
fn spawner_command(dir: &Path, engine: &str, hang: Option<&str>) -> Command {
    let pids = dir.join("pids");
    let input = json!({"pids": pids, "hang": hang}).to_string();
    let mut command = common::command(dir);
    command
        .env("OPENAI_API_KEY", "sk-test")
        .env("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
        .args(["run", ".", "spawner", "--input-json", &input])
        .args(["--engine", engine, "--grace-period", "100ms"]);
    if let Some(packages) = std::env::var_os("AIGNE_CI_TEST_NODE_ENGINE_DIR") {
        command.arg("--node-engine-dir").arg(packages);
    }
    command
}

/// The pids a child wrote to `path` (waits for the file, bounded).
fn wait_for_pids(path: &Path) -> Vec<u32> {
    for _ in 0..1200 {
        if let Ok(text) = fs_err::read_to_string(path) {
            return text
                .split_whitespace()
                .map(|pid| pid.parse().unwrap())
                .collect();
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("{} was never written", path.display());
}

/// Sends `signal` to the running binary and returns its exit code and stderr.
fn signal(child: std::process::Child, signal: &str) -> (Option<i32>, String) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn assert_all_gone(pids: &[u32], what: &str, stderr: &str) {
    for pid in pids {
        assert!(
            gone_soon(*pid),
            "{what}: process {pid} outlived the run\n{stderr}"
        );
    }
}

/// A signal while a JavaScript tool runs in the Node bridge: exit 130, and neither node nor the
/// process the tool started is left.
#[test]
fn a_signal_during_a_javascript_call_leaves_no_bridge_process_behind() {
    let dir = tempfile::tempdir().unwrap();
    spawner_project(dir.path());
    let child = spawner_command(dir.path(), "native", Some("async"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pids = wait_for_pids(&dir.path().join("pids"));
    assert!(pids.iter().all(|pid| alive(*pid)));
    let (code, stderr) = signal(child, "TERM");
    assert_eq!(code, Some(130), "{stderr}");
    assert_all_gone(&pids, "bridge", &stderr);
}

/// A run that ends normally ends the bridge with what its JavaScript left running, and a case
/// that timed out on a bridge that no longer answers (a synchronous loop) gets it killed with
/// its whole group.
#[test]
fn the_bridge_group_ends_with_the_run_and_with_a_timed_out_case() {
    let dir = tempfile::tempdir().unwrap();
    spawner_project(dir.path());
    let ran = common::run(&mut spawner_command(dir.path(), "native", None));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let pids = wait_for_pids(&dir.path().join("pids"));
    assert_all_gone(&pids, "a finished run", &ran.stderr);

    fs_err::remove_file(dir.path().join("pids")).unwrap();
    // The timeout covers node's start too: long enough for a loaded machine.
    let ran = common::run(spawner_command(dir.path(), "native", Some("sync")).args([
        "--timeout",
        "5s",
        "--retries",
        "0",
    ]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        dir.path().join("pids").exists(),
        "the case timed out before its JavaScript ran\n{}",
        ran.stderr
    );
    let pids = wait_for_pids(&dir.path().join("pids"));
    assert_all_gone(&pids, "a timed-out case", &ran.stderr);
}

/// A signal while the Node engine host runs a case: nothing of its group is left.
#[test]
fn a_signal_during_a_node_engine_case_leaves_no_host_process_behind() {
    if std::env::var_os("AIGNE_CI_TEST_NODE_ENGINE_DIR").is_none() {
        common::skip("the node engine needs AIGNE_CI_TEST_NODE_ENGINE_DIR");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    spawner_project(dir.path());
    let child = spawner_command(dir.path(), "node", Some("async"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pids = wait_for_pids(&dir.path().join("pids"));
    let (code, stderr) = signal(child, "INT");
    assert_eq!(code, Some(130), "{stderr}");
    assert_all_gone(&pids, "node engine", &stderr);
}

/// A signal while a stdio MCP server's tool hangs, after another tool made it start a child:
/// the server and its child are both gone.
#[test]
fn a_signal_during_an_mcp_call_leaves_no_server_process_behind() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    fs_err::write(
        dir.path().join("aigne.yaml"),
        "model: openai/gpt-4o-mini\nagents:\n  - chat.yaml\nskills:\n  - tools.yaml\n",
    )
    .unwrap();
    fs_err::write(
        dir.path().join("chat.yaml"),
        "name: chat\ninstructions: You use tools.\ninput_key: message\n",
    )
    .unwrap();
    fs_err::write(
        dir.path().join("tools.yaml"),
        format!(
            "type: mcp\ncommand: {}\nenv:\n  MCP_TEST_PID_FILE: {}\n",
            test_server_binary().display(),
            pid_file.display()
        ),
    )
    .unwrap();
    let server = FakeOpenAi::start();
    server.push(Reply::tool_calls([FakeToolCall::new(
        "call_1",
        "spawn_child",
        json!({}),
    )]));
    server.push(Reply::tool_calls([FakeToolCall::new(
        "call_2",
        "hang",
        json!({}),
    )]));
    server.set_default(Reply::text("unreachable"));
    let mut command = common::command(dir.path());
    command
        .env("OPENAI_BASE_URL", server.base_url())
        .env("OPENAI_API_KEY", "sk-test")
        .args([
            "run",
            ".",
            "--prompt",
            "start and wait",
            "--grace-period",
            "100ms",
        ]);
    let child = command.stderr(Stdio::piped()).spawn().unwrap();
    // The second model call carries the `spawn_child` result: the grandchild's pid.
    let mut grandchild = None;
    for _ in 0..400 {
        let bodies = server.bodies();
        if let Some(body) = bodies.get(1) {
            let text = body["messages"]
                .as_array()
                .unwrap()
                .iter()
                .find(|message| message["role"] == "tool")
                .and_then(|message| message["content"][0]["text"].as_str().map(str::to_owned))
                .unwrap();
            grandchild = text
                .lines()
                .find_map(|line| line.trim().strip_prefix("text: "))
                .map(|pid| pid.trim_matches(['\'', '"']).parse::<u32>().unwrap());
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let grandchild = grandchild.expect("the model saw the spawn_child result");
    let server_pid: u32 = fs_err::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(alive(server_pid) && alive(grandchild));
    let (code, stderr) = signal(child, "TERM");
    assert_eq!(code, Some(130), "{stderr}");
    assert_all_gone(&[server_pid, grandchild], "mcp server", &stderr);
}
