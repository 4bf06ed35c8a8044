//! The hostile-project corpus (issue 13): a project and its inputs are untrusted. Each test runs
//! the real binary under a generous kill-guard (a hang fails the test instead of holding the
//! suite) and, where a limit is being enforced against an endless source, measures the child's
//! peak resident memory (`VmHWM`) and requires it under 64 MB.

#![cfg(unix)]

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common;
use crate::common::fake_openai::{FakeOpenAi, FakeToolCall, Reply};

/// Far above any honest run of these tests; reaching it means the binary hung.
const KILL_GUARD: Duration = Duration::from_secs(60);
/// The memory bound while a limit is being enforced.
const MAX_PEAK_RSS_KB: u64 = 64 * 1024;

/// What a guarded run produced.
struct Guarded {
    code: Option<i32>,
    stderr: String,
    /// The highest `VmHWM` seen, in KiB.
    peak_rss_kb: u64,
}

/// Runs `command`, polling its peak RSS, killing it (and failing) after [`KILL_GUARD`]; `during`
/// runs once the child is up (to send signals).
fn guarded(command: &mut Command, during: impl FnOnce(&mut Child)) -> Guarded {
    command.stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = command.spawn().expect("the binary starts");
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stderr.read_to_end(&mut text);
        String::from_utf8_lossy(&text).into_owned()
    });
    during(&mut child);
    let started = Instant::now();
    let mut peak_rss_kb = 0;
    let status = loop {
        peak_rss_kb = peak_rss_kb.max(vm_hwm_kb(child.id()).unwrap_or(0));
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > KILL_GUARD {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "aigne-ci was still running after {KILL_GUARD:?}: {}",
                reader.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Guarded {
        code: status.code(),
        stderr: reader.join().unwrap(),
        peak_rss_kb,
    }
}

fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = fs_err::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn signal(child: &Child, signal: nix::sys::signal::Signal) {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::kill(pid, signal).unwrap();
}

/// Waits until the child has its signal handlers (it reads its inputs right after installing
/// them): its main thread has been scheduled for a while.
fn settle() {
    std::thread::sleep(Duration::from_millis(1500));
}

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        fs_err::create_dir_all(parent).unwrap();
    }
    fs_err::write(path, text).unwrap();
}

fn mkfifo(path: &Path) {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::S_IRWXU).unwrap();
}

/// A project whose `chat` agent has `instructions` as given.
fn project_with_instructions(dir: &Path, instructions: &str) {
    write(
        &dir.join("aigne.yaml"),
        "name: hostile\nchat_model: openai:gpt-4o-mini\nagents:\n  - chat.yaml\n",
    );
    write(
        &dir.join("chat.yaml"),
        &format!("name: chat\ninput_key: message\ninstructions:\n{instructions}"),
    );
}

fn run_command(dir: &Path, server: Option<&FakeOpenAi>) -> Command {
    let mut command = common::command(dir);
    command.env("OPENAI_API_KEY", "sk-hostile-0001");
    if let Some(server) = server {
        command.env("OPENAI_BASE_URL", server.base_url());
    } else {
        // Nothing listens there: a test that reaches the model fails visibly.
        command.env("OPENAI_BASE_URL", "http://127.0.0.1:9/v1");
    }
    command.args(["run", ".", "--timeout", "2s", "--total-timeout", "3s"]);
    command
}

// --- item 1: every read is bounded and interruptible ---

#[test]
fn a_device_named_by_a_project_is_a_load_error_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    // Opened on purpose with `--allow-read /dev`, so the device itself is what is refused.
    project_with_instructions(dir.path(), "  - role: system\n    url: /dev/zero\n");
    let ran = guarded(
        run_command(dir.path(), None).args(["--prompt", "hi", "--allow-read", "/dev"]),
        |_| {},
    );
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("`/dev/zero` (named at `")
            && ran
                .stderr
                .contains("chat.yaml:5`) is a character device, not a regular file"),
        "{}",
        ran.stderr
    );
    assert!(ran.peak_rss_kb < MAX_PEAK_RSS_KB, "{} KiB", ran.peak_rss_kb);

    // The same through an include.
    project_with_instructions(
        dir.path(),
        "  - role: system\n    content: |\n      a\n      {% include \"/dev/zero\" %}\n",
    );
    let ran = guarded(
        run_command(dir.path(), None).args(["--prompt", "hi", "--allow-read", "/dev"]),
        |_| {},
    );
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(ran.stderr.contains("/dev/zero"), "{}", ran.stderr);
    assert!(ran.stderr.contains("character device"), "{}", ran.stderr);
}

#[test]
fn fifos_and_sockets_named_by_a_project_are_load_errors() {
    let dir = tempfile::tempdir().unwrap();
    // An agent file that is a FIFO (no writer: a blocking open would never return).
    write(
        &dir.path().join("aigne.yaml"),
        "name: hostile\nchat_model: openai:gpt-4o-mini\nagents:\n  - chat.yaml\n  - fifo.yaml\n",
    );
    write(
        &dir.path().join("chat.yaml"),
        "name: chat\ninstructions: hi\n",
    );
    mkfifo(&dir.path().join("fifo.yaml"));
    let ran = guarded(
        run_command(dir.path(), None).args(["--prompt", "hi"]),
        |_| {},
    );
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("fifo.yaml` (named at `")
            && ran
                .stderr
                .contains("aigne.yaml:5`) is a FIFO, not a regular file"),
        "{}",
        ran.stderr
    );

    // A schema file that is a socket.
    fs_err::remove_file(dir.path().join("fifo.yaml")).unwrap();
    write(
        &dir.path().join("aigne.yaml"),
        "name: hostile\nchat_model: openai:gpt-4o-mini\nagents:\n  - chat.yaml\n",
    );
    write(
        &dir.path().join("chat.yaml"),
        "name: chat\ninstructions: hi\ninput_schema: schema.json\n",
    );
    let _listener = std::os::unix::net::UnixListener::bind(dir.path().join("schema.json")).unwrap();
    let ran = guarded(
        run_command(dir.path(), None).args(["--prompt", "hi"]),
        |_| {},
    );
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("schema.json` (named at `")
            && ran.stderr.contains("chat.yaml:3`) is a socket"),
        "{}",
        ran.stderr
    );

    // A `.env` that is a FIFO.
    write(
        &dir.path().join("chat.yaml"),
        "name: chat\ninstructions: hi\n",
    );
    mkfifo(&dir.path().join(".env"));
    let ran = guarded(
        run_command(dir.path(), None).args(["--prompt", "hi"]),
        |_| {},
    );
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(ran.stderr.contains(".env"), "{}", ran.stderr);
    assert!(ran.stderr.contains("FIFO"), "{}", ran.stderr);
}

#[test]
fn a_project_file_over_the_size_cap_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    project_with_instructions(dir.path(), "  - role: system\n    url: big.md\n");
    write(&dir.path().join("big.md"), &"x".repeat(4096));
    let ran = guarded(
        run_command(dir.path(), None).args(["--prompt", "hi", "--max-file-size", "1KiB"]),
        |_| {},
    );
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("is larger than the 1 KiB cap (`--max-file-size`)"),
        "{}",
        ran.stderr
    );
}

#[test]
fn an_endless_inputs_file_stops_at_the_total_timeout_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    project_with_instructions(dir.path(), "  - role: system\n    content: hi\n");
    // With a cap it cannot reach in time: the total timeout stops the read.
    let ran = guarded(
        run_command(dir.path(), None).args([
            "--input",
            "/dev/zero",
            "--max-inputs-size",
            "1000GiB",
        ]),
        |_| {},
    );
    assert_eq!(ran.code, Some(4), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("while reading the inputs"),
        "{}",
        ran.stderr
    );
    assert!(ran.peak_rss_kb < MAX_PEAK_RSS_KB, "{} KiB", ran.peak_rss_kb);
    // With the default cap (32 MiB): refused as soon as the read gets there.
    let ran = guarded(
        run_command(dir.path(), None).args(["--input", "/dev/zero"]),
        |_| {},
    );
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("larger than the 32 MiB cap (`--max-inputs-size`)"),
        "{}",
        ran.stderr
    );
    assert!(ran.peak_rss_kb < MAX_PEAK_RSS_KB, "{} KiB", ran.peak_rss_kb);
}

#[test]
fn inputs_that_never_end_yield_to_the_timeout_and_to_signals() {
    let dir = tempfile::tempdir().unwrap();
    project_with_instructions(dir.path(), "  - role: system\n    content: hi\n");
    // A FIFO that never gets a writer: the total timeout (exit 4).
    mkfifo(&dir.path().join("inputs.jsonl"));
    let ran = guarded(
        run_command(dir.path(), None).args(["--input", "inputs.jsonl"]),
        |_| {},
    );
    assert_eq!(ran.code, Some(4), "{}", ran.stderr);

    // The same FIFO, no total timeout, SIGINT: exit 130.
    let mut command = common::command(dir.path());
    command.args(["run", ".", "--input", "inputs.jsonl"]);
    let ran = guarded(&mut command, |child| {
        settle();
        signal(child, nix::sys::signal::Signal::SIGINT);
    });
    assert_eq!(ran.code, Some(130), "{}", ran.stderr);

    // Stdin that stays open and silent, SIGTERM: exit 130.
    let mut command = common::command(dir.path());
    command
        .args(["run", ".", "--input", "-"])
        .stdin(Stdio::piped());
    let ran = guarded(&mut command, |child| {
        settle();
        signal(child, nix::sys::signal::Signal::SIGTERM);
    });
    assert_eq!(ran.code, Some(130), "{}", ran.stderr);
    assert!(ran.stderr.contains("interrupted"), "{}", ran.stderr);
}

#[test]
fn an_endless_stdin_of_valid_lines_stops_at_the_inputs_cap_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    project_with_instructions(dir.path(), "  - role: system\n    content: hi\n");
    let mut command = run_command(dir.path(), None);
    command
        .args(["--input", "-", "--max-inputs-size", "8MiB"])
        .stdin(Stdio::piped());
    let ran = guarded(&mut command, |child| {
        // `yes '"hi"'`: valid cases without end, faster than the total timeout can stop them.
        let mut stdin = child.stdin.take().unwrap();
        std::thread::spawn(move || {
            let chunk = "\"hi\"\n".repeat(16 * 1024);
            while std::io::Write::write_all(&mut stdin, chunk.as_bytes()).is_ok() {}
        });
    });
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("larger than the 8 MiB cap (`--max-inputs-size`)"),
        "{}",
        ran.stderr
    );
    assert!(ran.peak_rss_kb < MAX_PEAK_RSS_KB, "{} KiB", ran.peak_rss_kb);
}

#[test]
fn malformed_inputs_are_listed_a_screenful_at_a_time_and_bad_utf8_names_its_line() {
    let dir = tempfile::tempdir().unwrap();
    project_with_instructions(dir.path(), "  - role: system\n    content: hi\n");
    let mut text = String::from("\"fine\"\n");
    for _ in 0..100_000 {
        text.push_str("{not json\n");
    }
    write(&dir.path().join("inputs.jsonl"), &text);
    let ran = guarded(
        run_command(dir.path(), None).args(["--input", "inputs.jsonl"]),
        |_| {},
    );
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("100000 malformed entries"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("and 99980 more"), "{}", ran.stderr);
    assert!(ran.stderr.lines().count() < 40, "{}", ran.stderr);

    let mut bytes = b"\"one\"\n\"two\"\n\"bad \xff byte\"\n".to_vec();
    bytes.extend_from_slice(b"\"four\"\n");
    fs_err::write(dir.path().join("inputs.jsonl"), bytes).unwrap();
    let ran = guarded(
        run_command(dir.path(), None).args(["--input", "inputs.jsonl"]),
        |_| {},
    );
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("inputs.jsonl:3: invalid UTF-8 (column 6)"),
        "{}",
        ran.stderr
    );
}

#[test]
fn a_million_malformed_lines_are_counted_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    project_with_instructions(dir.path(), "  - role: system\n    content: hi\n");
    // Malformed JSON and invalid UTF-8, interleaved: the parser and the line reader each keep
    // only what is listed, and count the rest.
    let mut bytes = Vec::new();
    for _ in 0..250_000 {
        bytes.extend_from_slice(b"{not json\n\"bad \xff\"\n");
    }
    fs_err::write(dir.path().join("inputs.jsonl"), bytes).unwrap();
    // No total timeout: a loaded machine may take seconds over half a million lines.
    let mut command = common::command(dir.path());
    command
        .env("OPENAI_API_KEY", "sk-hostile-0001")
        .env("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
        .args(["run", ".", "--input", "inputs.jsonl"]);
    let ran = guarded(&mut command, |_| {});
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("500000 malformed entries")
            && ran.stderr.contains("inputs.jsonl:1: invalid JSON")
            && ran
                .stderr
                .contains("inputs.jsonl:2: invalid UTF-8 (column 6)")
            && ran.stderr.contains("and 499980 more"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.lines().count() < 40, "{}", ran.stderr);
    assert!(ran.peak_rss_kb < MAX_PEAK_RSS_KB, "{} KiB", ran.peak_rss_kb);
}

/// A loopback host (the shared [`common::server::RawLoopback`]) that answers every request with a
/// 200 event stream that never ends: `head`, then `piece` again and again until the client hangs
/// up.
fn endless_stream_server(head: String, piece: String) -> common::server::RawLoopback {
    use std::io::Write;
    common::server::RawLoopback::serve(move |mut connection| {
        // The request (small) is read once; its content does not matter.
        let mut request = [0u8; 64 * 1024];
        let _ = connection.read(&mut request);
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n{head}"
        );
        if connection.write_all(answer.as_bytes()).is_err() {
            return;
        }
        while connection.write_all(piece.as_bytes()).is_ok() {}
    })
}

#[test]
fn an_endless_model_answer_stops_at_the_response_cap_in_bounded_memory() {
    let text = "x".repeat(64 * 1024);
    let openai = |delta: &str| {
        format!(
            "data: {}\n\n",
            json!({"choices": [{"index": 0, "delta": {"content": delta}}]})
        )
    };
    let anthropic = format!(
        "event: content_block_delta\ndata: {}\n\n",
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}})
    );
    let gemini = format!(
        "data: {}\n\n",
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}}]})
    );
    // Per provider wire: endless valid events, and one endless line. (model, base URL variable,
    // path after the origin, head, piece, --max-response-size)
    let cases = [
        (
            "openai:gpt-4o-mini",
            "OPENAI_BASE_URL",
            "/v1",
            String::new(),
            openai(&text),
            None,
        ),
        (
            "openai:gpt-4o-mini",
            "OPENAI_BASE_URL",
            "/v1",
            "data: {\"choices\":[{\"delta\":{\"content\":\"".to_owned(),
            text.clone(),
            None,
        ),
        (
            "anthropic:claude-3-5-haiku-20241022",
            "ANTHROPIC_BASE_URL",
            "",
            String::new(),
            anthropic,
            None,
        ),
        (
            "google:gemini-2.0-flash",
            "GOOGLE_GEMINI_BASE_URL",
            "/v1beta",
            String::new(),
            gemini.clone(),
            None,
        ),
        (
            "google:gemini-2.0-flash",
            "GOOGLE_GEMINI_BASE_URL",
            "/v1beta",
            "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"".to_owned(),
            text.clone(),
            None,
        ),
        // The flag sets the cap.
        (
            "google:gemini-2.0-flash",
            "GOOGLE_GEMINI_BASE_URL",
            "/v1beta",
            String::new(),
            gemini,
            Some("1MiB"),
        ),
    ];
    for (model, variable, path, head, piece, flag) in cases {
        let label = format!("{model} {:?} {flag:?}", head.get(..20));
        let host = endless_stream_server(head, piece);
        let origin = host.url();
        let dir = tempfile::tempdir().unwrap();
        project_with_instructions(dir.path(), "  - role: system\n    content: hi\n");
        let mut command = common::command(dir.path());
        command
            .env("OPENAI_API_KEY", "sk-hostile-0001")
            .env("ANTHROPIC_API_KEY", "sk-hostile-0002")
            .env("GEMINI_API_KEY", "sk-hostile-0003")
            .env(variable, format!("{origin}{path}"))
            .args([
                "run",
                ".",
                "--prompt",
                "go",
                "--model",
                model,
                "--retries",
                "0",
            ]);
        if let Some(size) = flag {
            command.args(["--max-response-size", size]);
        }
        let ran = guarded(&mut command, |_| {});
        assert!(
            ran.peak_rss_kb < MAX_PEAK_RSS_KB,
            "{label}: {} KiB",
            ran.peak_rss_kb
        );
        assert_eq!(ran.code, Some(1), "{label}: {}", ran.stderr);
        let results =
            fs_err::read_to_string(dir.path().join("aigne-ci-output/results.jsonl")).unwrap();
        let record: Value = serde_json::from_str(results.lines().next().unwrap()).unwrap();
        assert_eq!(record["status"], "errored", "{label}: {record}");
        let message = record["error"]["message"].as_str().unwrap();
        let cap = if flag.is_some() { "1 MiB" } else { "16 MiB" };
        assert!(
            message.contains(&format!("at `{origin}"))
                && message.ends_with(&format!(
                    "sent an answer larger than the {cap} cap (`--max-response-size`)"
                )),
            "{label}: {message}"
        );
    }
}

/// Whether `node` is on PATH (the JavaScript tests need it; under `CI` they fail without it).
fn node_on_path() -> bool {
    let found = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !found {
        common::skip("`node` is not on PATH");
    }
    found
}

#[test]
fn a_javascript_tool_returning_200_mb_is_a_case_error_in_bounded_memory() {
    if !node_on_path() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("aigne.yaml"),
        "name: hostile\nchat_model: openai:gpt-4o-mini\nagents:\n  - chat.yaml\n",
    );
    write(
        &dir.path().join("chat.yaml"),
        "name: chat\ninstructions: Use the tool.\ninput_key: message\nskills:\n  - huge.mjs\n",
    );
    write(
        &dir.path().join("huge.mjs"),
        "export default async function huge() {\n  return { text: 'x'.repeat(200 * 1000 * 1000) };\n}\nhuge.description = 'returns 200 MB';\n",
    );
    let server = FakeOpenAi::start();
    server.set_handler(|request| {
        let answered = request.body["messages"]
            .as_array()
            .is_some_and(|messages| messages.iter().any(|message| message["role"] == "tool"));
        if answered {
            Reply::text("the tool answered")
        } else {
            Reply::tool_calls([FakeToolCall::new("call_1", "huge", json!({}))])
        }
    });
    let mut command = common::command(dir.path());
    command
        .env("OPENAI_API_KEY", "sk-hostile-0001")
        .env("OPENAI_BASE_URL", server.base_url())
        .args(["run", ".", "--prompt", "go", "--timeout", "50s"]);
    let ran = guarded(&mut command, |_| {});
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    let results = fs_err::read_to_string(dir.path().join("aigne-ci-output/results.jsonl")).unwrap();
    let record: Value = serde_json::from_str(results.lines().next().unwrap()).unwrap();
    assert_eq!(record["status"], "errored", "{record}");
    let message = record["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("tool `huge`")
            && message.contains("the JavaScript agent `huge` returned too much: the result is larger than the 16 MiB cap (`--max-tool-result`)"),
        "{message}"
    );
    // The model never saw the tool's answer: the limit fails the case.
    assert_eq!(server.requests().len(), 1);
    assert!(
        ran.peak_rss_kb < MAX_PEAK_RSS_KB,
        "peak RSS {} KiB",
        ran.peak_rss_kb
    );
}

#[test]
fn a_javascript_agent_writing_a_huge_line_past_the_bridge_is_cut_off() {
    if !node_on_path() {
        return;
    }
    // The agent writes a forged 64 MB reply straight to the protocol pipe (fd 1), bypassing the
    // bridge's own check: aigne-ci drops it unread and the call still answers.
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("aigne.yaml"),
        "name: hostile\nagents:\n  - forge.mjs\n",
    );
    write(
        &dir.path().join("forge.mjs"),
        r"import { writeSync } from 'node:fs';
// fd 1 is non-blocking: write all of it, waiting out EAGAIN.
function put(text) {
  let bytes = Buffer.from(text);
  while (bytes.length > 0) {
    try {
      bytes = bytes.subarray(writeSync(1, bytes));
    } catch (error) {
      if (error.code !== 'EAGAIN') throw error;
    }
  }
}
export default async function forge() {
  const chunk = 'y'.repeat(1 << 20);
  for (let i = 0; i < 64; i++) put(chunk);
  put('\n');
  return { text: 'small' };
}
",
    );
    let mut command = common::command(dir.path());
    command.args([
        "run",
        ".",
        "--prompt",
        "go",
        "--max-tool-result",
        "1MiB",
        "--timeout",
        "50s",
    ]);
    let ran = guarded(&mut command, |_| {});
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let results = fs_err::read_to_string(dir.path().join("aigne-ci-output/results.jsonl")).unwrap();
    let record: Value = serde_json::from_str(results.lines().next().unwrap()).unwrap();
    assert_eq!(record["output"]["text"], "small", "{record}");
    assert!(
        ran.peak_rss_kb < MAX_PEAK_RSS_KB,
        "peak RSS {} KiB",
        ran.peak_rss_kb
    );
}

/// The official runtime's packages (`AIGNE_CI_TEST_NODE_ENGINE_DIR`); under `CI` a test that
/// needs them fails without them.
fn node_engine_dir() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("AIGNE_CI_TEST_NODE_ENGINE_DIR").map(std::path::PathBuf::from);
    if dir.is_none() {
        common::skip("AIGNE_CI_TEST_NODE_ENGINE_DIR (the official runtime) is not set");
    }
    dir.filter(|_| node_on_path())
}

#[test]
fn a_200_mb_case_reply_under_the_node_engine_is_a_case_error_in_bounded_memory() {
    let Some(packages) = node_engine_dir() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("aigne.yaml"),
        "name: hostile\nchat_model: openai:gpt-4o-mini\nagents:\n  - huge.mjs\n",
    );
    write(
        &dir.path().join("huge.mjs"),
        "export default async function huge() {\n  return { text: 'x'.repeat(200 * 1000 * 1000) };\n}\n",
    );
    let mut command = common::command(dir.path());
    command
        .env("OPENAI_API_KEY", "sk-hostile-0001")
        .env("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
        .args(["run", ".", "--prompt", "go", "--timeout", "50s"])
        .args(["--engine", "node", "--node-engine-dir"])
        .arg(&packages);
    let ran = guarded(&mut command, |_| {});
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    let results = fs_err::read_to_string(dir.path().join("aigne-ci-output/results.jsonl")).unwrap();
    let record: Value = serde_json::from_str(results.lines().next().unwrap()).unwrap();
    assert_eq!(record["status"], "errored", "{record}");
    let message = record["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(
            "agent `huge`: the reply is larger than the 16 MiB cap (`--max-tool-result`)"
        ),
        "{message}"
    );
    assert!(
        ran.peak_rss_kb < MAX_PEAK_RSS_KB,
        "peak RSS {} KiB",
        ran.peak_rss_kb
    );
}

/// A stdio MCP server in JavaScript that writes its answers as the TypeScript SDK does (the id
/// last): `huge` answers with 200 MB of text.
const HUGE_MCP_SERVER: &str = r#"import { createInterface } from "node:readline";
import { writeSync } from "node:fs";
function put(text) {
  let bytes = Buffer.from(text);
  while (bytes.length > 0) {
    try {
      bytes = bytes.subarray(writeSync(1, bytes));
    } catch (error) {
      if (error.code !== "EAGAIN") throw error;
    }
  }
}
const reply = (id, result) => put(JSON.stringify({ result, jsonrpc: "2.0", id }) + "\n");
createInterface({ input: process.stdin }).on("line", (line) => {
  const message = JSON.parse(line);
  if (message.method === "initialize") {
    reply(message.id, {
      protocolVersion: message.params.protocolVersion,
      capabilities: { tools: {} },
      serverInfo: { name: "huge", version: "1.0.0" },
    });
  } else if (message.method === "tools/list") {
    reply(message.id, {
      tools: [{ name: "huge", description: "200 MB", inputSchema: { type: "object", properties: {} } }],
    });
  } else if (message.method === "tools/call") {
    put(`{"result":{"content":[{"type":"text","text":"`);
    const chunk = "z".repeat(1 << 20);
    for (let i = 0; i < 200; i++) put(chunk);
    put(`"}]},"jsonrpc":"2.0","id":${JSON.stringify(message.id)}}\n`);
  }
});
"#;

#[test]
fn an_mcp_tool_answering_200_mb_is_a_case_error_in_bounded_memory() {
    if !node_on_path() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("aigne.yaml"),
        "name: hostile\nchat_model: openai:gpt-4o-mini\nagents:\n  - chat.yaml\n",
    );
    write(
        &dir.path().join("chat.yaml"),
        "name: chat\ninstructions: Use the tool.\ninput_key: message\nskills:\n  - tools.yaml\n",
    );
    write(
        &dir.path().join("tools.yaml"),
        "type: mcp\ncommand: node\nargs: [server.mjs]\n",
    );
    write(&dir.path().join("server.mjs"), HUGE_MCP_SERVER);
    let server = FakeOpenAi::start();
    server.set_handler(|request| {
        let answered = request.body["messages"]
            .as_array()
            .is_some_and(|messages| messages.iter().any(|message| message["role"] == "tool"));
        if answered {
            Reply::text("the tool answered")
        } else {
            Reply::tool_calls([FakeToolCall::new("call_1", "huge", json!({}))])
        }
    });
    let mut command = common::command(dir.path());
    command
        .env("OPENAI_API_KEY", "sk-hostile-0001")
        .env("OPENAI_BASE_URL", server.base_url())
        .env("MCP_TIMEOUT", "50000")
        .args(["run", ".", "--prompt", "go", "--timeout", "55s"]);
    let ran = guarded(&mut command, |_| {});
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    let results = fs_err::read_to_string(dir.path().join("aigne-ci-output/results.jsonl")).unwrap();
    let record: Value = serde_json::from_str(results.lines().next().unwrap()).unwrap();
    assert_eq!(record["status"], "errored", "{record}");
    let error = record["error"].to_string();
    assert!(
        error.contains("answered tool `huge` with more than the 16 MiB cap (`--max-tool-result`)"),
        "{error}"
    );
    assert_eq!(server.requests().len(), 1);
    assert!(
        ran.peak_rss_kb < MAX_PEAK_RSS_KB,
        "peak RSS {} KiB",
        ran.peak_rss_kb
    );
}

/// An oversized stdio answer that does not say which request it answers (its `id` is neither
/// among its first nor its last bytes) still fails the waiting call at once, not at the MCP
/// timeout.
#[test]
fn an_oversized_mcp_answer_without_a_readable_id_fails_the_call_at_once() {
    if !node_on_path() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("aigne.yaml"),
        "name: hostile\nchat_model: openai:gpt-4o-mini\nagents:\n  - chat.yaml\n",
    );
    write(
        &dir.path().join("chat.yaml"),
        "name: chat\ninstructions: Use the tool.\ninput_key: message\nskills:\n  - tools.yaml\n",
    );
    write(
        &dir.path().join("tools.yaml"),
        "type: mcp\ncommand: node\nargs: [server.mjs]\n",
    );
    let hidden_id = HUGE_MCP_SERVER
        .replace(
            "put(`{\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"`);",
            "put(`{\"jsonrpc\":\"2.0\",\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"`);",
        )
        .replace(
            "put(`\"}]},\"jsonrpc\":\"2.0\",\"id\":${JSON.stringify(message.id)}}\\n`);",
            "put(`\"}]},\"id\":${JSON.stringify(message.id)},\"_meta\":{}}\\n`);",
        )
        .replace("i < 200", "i < 4");
    assert_ne!(hidden_id, HUGE_MCP_SERVER);
    assert!(hidden_id.contains("\"_meta\":{}}") && hidden_id.contains("i < 4"));
    write(&dir.path().join("server.mjs"), &hidden_id);
    let server = FakeOpenAi::start();
    server.set_handler(|request| {
        let answered = request.body["messages"]
            .as_array()
            .is_some_and(|messages| messages.iter().any(|message| message["role"] == "tool"));
        if answered {
            Reply::text("the tool answered")
        } else {
            Reply::tool_calls([FakeToolCall::new("call_1", "huge", json!({}))])
        }
    });
    let mut command = common::command(dir.path());
    command
        .env("OPENAI_API_KEY", "sk-hostile-0001")
        .env("OPENAI_BASE_URL", server.base_url())
        // Were the call left waiting, the MCP timeout would end it with another error.
        .env("MCP_TIMEOUT", "50000")
        .args(["run", ".", "--prompt", "go", "--timeout", "55s"])
        .args(["--max-tool-result", "1MiB"]);
    let ran = guarded(&mut command, |_| {});
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    let results = fs_err::read_to_string(dir.path().join("aigne-ci-output/results.jsonl")).unwrap();
    let record: Value = serde_json::from_str(results.lines().next().unwrap()).unwrap();
    assert_eq!(record["status"], "errored", "{record}");
    let error = record["error"].to_string();
    assert!(
        error.contains("answered tool `huge` with more than the 1 MiB cap (`--max-tool-result`)"),
        "{error}"
    );
    assert_eq!(server.requests().len(), 1);
}

// --- item 2: files stay inside the project ---

#[test]
fn references_that_escape_the_project_are_load_errors() {
    let outer = tempfile::tempdir().unwrap();
    let dir = outer.path().join("project");
    fs_err::create_dir_all(&dir).unwrap();
    write(&outer.path().join("shared/secret.md"), "OUTSIDE-SECRET");
    let absolute = outer.path().join("shared/secret.md");
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "a ../ include",
            "  - role: system\n    content: \"{% include '../shared/secret.md' %}\"\n".to_owned(),
            "chat.yaml:5",
        ),
        (
            "an absolute instructions url",
            format!("  - role: system\n    url: {}\n", absolute.display()),
            "chat.yaml:5",
        ),
        (
            "a symlinked prompt",
            "  - role: system\n    url: prompts/link.md\n".to_owned(),
            "chat.yaml:5",
        ),
    ];
    fs_err::create_dir_all(dir.join("prompts")).unwrap();
    fs_err::os::unix::fs::symlink(&absolute, dir.join("prompts/link.md")).unwrap();
    for (what, instructions, at) in cases {
        project_with_instructions(&dir, &instructions);
        let ran = guarded(run_command(&dir, None).args(["--prompt", "hi"]), |_| {});
        assert_eq!(ran.code, Some(2), "{what}: {}", ran.stderr);
        assert!(
            ran.stderr.contains(&format!("{at}`)"))
                && ran.stderr.contains("outside the project folder")
                && ran.stderr.contains("secret.md"),
            "{what}: {}",
            ran.stderr
        );
        assert!(!ran.stderr.contains("OUTSIDE-SECRET"), "{what}");
    }

    // An agent file outside, by `../`.
    write(
        &dir.join("aigne.yaml"),
        "name: hostile\nchat_model: openai:gpt-4o-mini\nagents:\n  - ../shared/agent.yaml\n",
    );
    write(
        &outer.path().join("shared/agent.yaml"),
        "name: outside\ninstructions: x\n",
    );
    let ran = guarded(run_command(&dir, None).args(["--prompt", "hi"]), |_| {});
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("aigne.yaml:4`) resolves to")
            && ran.stderr.contains("outside the project folder"),
        "{}",
        ran.stderr
    );
}

#[test]
fn allow_read_opens_one_more_folder_on_purpose() {
    let outer = tempfile::tempdir().unwrap();
    let dir = outer.path().join("project");
    fs_err::create_dir_all(&dir).unwrap();
    write(&outer.path().join("shared/style.md"), "SHARED-STYLE-GUIDE");
    project_with_instructions(
        &dir,
        "  - role: system\n    content: \"{% include '../shared/style.md' %}\"\n",
    );
    let server = FakeOpenAi::start();
    server.set_default(Reply::text("ok"));
    let shared = outer.path().join("shared");
    let ran = guarded(
        run_command(&dir, Some(&server)).args([
            "--prompt",
            "hi",
            "--allow-read",
            shared.to_str().unwrap(),
        ]),
        |_| {},
    );
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert!(
        requests[0].body.to_string().contains("SHARED-STYLE-GUIDE"),
        "{}",
        requests[0].body
    );
}

#[test]
fn a_symlinked_dotenv_pointing_outside_the_project_is_a_load_error() {
    let outside = tempfile::tempdir().unwrap();
    write(
        &outside.path().join("stolen.env"),
        "OPENAI_API_KEY=sk-from-outside-0001\n",
    );
    let dir = tempfile::tempdir().unwrap();
    project_with_instructions(dir.path(), "  Be terse.\n");
    fs_err::os::unix::fs::symlink(outside.path().join("stolen.env"), dir.path().join(".env"))
        .unwrap();
    let mut command = common::command(dir.path());
    command
        .env("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
        .args(["run", ".", "--prompt", "go"]);
    let ran = guarded(&mut command, |_| {});
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("/.env`") && ran.stderr.contains("outside the project folder"),
        "{}",
        ran.stderr
    );
}

#[test]
fn a_dotenv_is_read_with_the_runs_max_file_size() {
    let dir = tempfile::tempdir().unwrap();
    project_with_instructions(dir.path(), "  Be terse.\n");
    // 4 KiB of valid lines: under the default cap, over the run's.
    let lines: String = (0..128)
        .map(|index| format!("PADDING_{index:04}=xxxxxxxxxxxxxxx\n"))
        .collect();
    write(&dir.path().join(".env"), &lines);
    let mut command = run_command(dir.path(), None);
    command.args(["--prompt", "go", "--max-file-size", "1KiB"]);
    let ran = guarded(&mut command, |_| {});
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("/.env`") && ran.stderr.contains("larger than the 1 KiB cap"),
        "{}",
        ran.stderr
    );
}

/// A value no known-credential pattern matches: only the `.env` masks can hide it.
const DOTENV_SECRET: &str = "zq7-Hostile-Dotenv-Value-31337";

#[test]
fn dotenv_secrets_are_masked_in_errors_printed_before_the_first_case() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join(".env"),
        &format!("MY_SERVICE_TOKEN={DOTENV_SECRET}\n"),
    );
    // The load error names the missing agent file, whose name is the secret.
    write(
        &dir.path().join("aigne.yaml"),
        &format!(
            "name: hostile\nchat_model: openai:gpt-4o-mini\nagents:\n  - {DOTENV_SECRET}.yaml\n"
        ),
    );
    let mut command = run_command(dir.path(), None);
    command
        .env("GITHUB_ACTIONS", "true")
        .args(["--prompt", "go"]);
    let ran = guarded(&mut command, |_| {});
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    let lines: Vec<&str> = ran.stderr.lines().collect();
    let mask = lines
        .iter()
        .position(|line| *line == format!("::add-mask::{DOTENV_SECRET}"))
        .unwrap_or_else(|| panic!("no ::add-mask:: for the .env secret:\n{}", ran.stderr));
    let error = lines
        .iter()
        .position(|line| line.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error:\n{}", ran.stderr));
    assert!(mask < error, "{}", ran.stderr);
    for line in &lines[mask + 1..] {
        assert!(!line.contains(DOTENV_SECRET), "{}", ran.stderr);
    }
    assert!(ran.stderr.contains("****.yaml"), "{}", ran.stderr);
}

// --- item 8: every loop a project configures has a ceiling ---

/// A team whose reviewer never approves, asking for a billion rounds.
fn runaway_team(dir: &Path) {
    write(
        &dir.join("aigne.yaml"),
        "name: runaway\nchat_model: openai:gpt-4o-mini\nagents:\n  - team.yaml\n",
    );
    write(
        &dir.join("team.yaml"),
        "type: team\nname: runaway\nskills:\n  - writer.yaml\nreflection:\n  reviewer: reviewer.yaml\n  is_approved: approved\n  max_iterations: 1000000000\n",
    );
    write(
        &dir.join("writer.yaml"),
        "name: writer\ninstructions: Write a draft.\ninput_key: message\n",
    );
    write(
        &dir.join("reviewer.yaml"),
        "name: reviewer\ninstructions: Review it.\noutput_schema:\n  type: object\n  properties:\n    approved:\n      type: boolean\n  required: [approved]\n",
    );
}

fn never_approving_server() -> FakeOpenAi {
    let server = FakeOpenAi::start();
    server.set_handler(|request| {
        if request.body.get("response_format").is_some() {
            Reply::json(json!({"approved": false}))
        } else {
            Reply::text("draft")
        }
    });
    server
}

#[test]
fn a_runaway_reflection_stops_at_the_ceiling_naming_the_agent() {
    let dir = tempfile::tempdir().unwrap();
    runaway_team(dir.path());
    let server = never_approving_server();
    let mut command = common::command(dir.path());
    command
        .env("OPENAI_API_KEY", "sk-hostile-0001")
        .env("OPENAI_BASE_URL", server.base_url())
        .args([
            "run",
            ".",
            "--prompt",
            "go",
            "--max-reflection-rounds",
            "3",
            "--timeout",
            "50s",
        ]);
    let ran = guarded(&mut command, |_| {});
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    // Writer and reviewer once per round.
    assert_eq!(server.requests().len(), 6);
    let results = fs_err::read_to_string(dir.path().join("aigne-ci-output/results.jsonl")).unwrap();
    let record: Value = serde_json::from_str(results.lines().next().unwrap()).unwrap();
    assert_eq!(record["status"], "errored");
    let message = record["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("agent `runaway`")
            && message.contains("ceiling of 3 (`--max-reflection-rounds`)")
            && message.contains("max_iterations: 1000000000"),
        "{message}"
    );
}

#[test]
fn a_team_iterating_over_too_many_items_is_refused_before_any_call() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("aigne.yaml"),
        "name: items\nchat_model: openai:gpt-4o-mini\nagents:\n  - team.yaml\n",
    );
    write(
        &dir.path().join("team.yaml"),
        "type: team\nname: fan_out\niterate_on: items\nskills:\n  - writer.yaml\n",
    );
    write(
        &dir.path().join("writer.yaml"),
        "name: writer\ninstructions: Say {{ name }}.\n",
    );
    let server = never_approving_server();
    let items: Vec<Value> = (0..50).map(|index| json!({"name": index})).collect();
    let mut command = common::command(dir.path());
    command
        .env("OPENAI_API_KEY", "sk-hostile-0001")
        .env("OPENAI_BASE_URL", server.base_url())
        .args(["run", ".", "--max-team-iterations", "10", "--input-json"])
        .arg(json!({ "items": items }).to_string());
    let ran = guarded(&mut command, |_| {});
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(server.requests().is_empty());
    let results = fs_err::read_to_string(dir.path().join("aigne-ci-output/results.jsonl")).unwrap();
    assert!(
        results.contains("agent `fan_out`: `iterate_on: items` has 50 items; stopped at the ceiling of 10 (`--max-team-iterations`)"),
        "{results}"
    );
}

#[test]
fn the_loop_ceilings_hold_under_the_node_engine_too() {
    let Some(packages) = node_engine_dir() else {
        return;
    };
    // Reflection: the official runtime stops at the ceiling with aigne-ci's error.
    let dir = tempfile::tempdir().unwrap();
    runaway_team(dir.path());
    let server = never_approving_server();
    let mut command = common::command(dir.path());
    command
        .env("OPENAI_API_KEY", "sk-hostile-0001")
        .env("OPENAI_BASE_URL", server.base_url())
        .args(["run", ".", "--prompt", "go", "--max-reflection-rounds", "3"])
        .args(["--timeout", "50s", "--engine", "node", "--node-engine-dir"])
        .arg(&packages);
    let ran = guarded(&mut command, |_| {});
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert_eq!(server.requests().len(), 6);
    let results = fs_err::read_to_string(dir.path().join("aigne-ci-output/results.jsonl")).unwrap();
    assert!(
        results.contains("agent `runaway`")
            && results.contains("ceiling of 3 (`--max-reflection-rounds`)")
            && results.contains("max_iterations: 1000000000"),
        "{results}"
    );

    // `iterate_on`: more items than the ceiling fail before any model call.
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("aigne.yaml"),
        "name: items\nchat_model: openai:gpt-4o-mini\nagents:\n  - team.yaml\n",
    );
    write(
        &dir.path().join("team.yaml"),
        "type: team\nname: fan_out\niterate_on: items\nskills:\n  - writer.yaml\n",
    );
    write(
        &dir.path().join("writer.yaml"),
        "name: writer\ninstructions: Say {{ name }}.\n",
    );
    let server = never_approving_server();
    let items: Vec<Value> = (0..50).map(|index| json!({"name": index})).collect();
    let mut command = common::command(dir.path());
    command
        .env("OPENAI_API_KEY", "sk-hostile-0001")
        .env("OPENAI_BASE_URL", server.base_url())
        .args([
            "run",
            ".",
            "--max-team-iterations",
            "10",
            "--timeout",
            "50s",
        ])
        .args(["--engine", "node", "--node-engine-dir"])
        .arg(&packages)
        .arg("--input-json")
        .arg(json!({ "items": items }).to_string());
    let ran = guarded(&mut command, |_| {});
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(server.requests().is_empty());
    let results = fs_err::read_to_string(dir.path().join("aigne-ci-output/results.jsonl")).unwrap();
    assert!(
        results.contains("agent `fan_out`: `iterate_on: items` has 50 items; stopped at the ceiling of 10 (`--max-team-iterations`)"),
        "{results}"
    );
}
