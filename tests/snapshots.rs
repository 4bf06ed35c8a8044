//! Snapshots (insta) of what a user reads: `--help` of each command, and the rendered
//! diagnostics (`error:` / `Caused by:` / `hint:`) of the main error kinds with their exit codes.
//!
//! A change to a flag or a message changes a file under `tests/snapshots/`; review the diff and
//! accept it with `INSTA_UPDATE=always cargo nextest run snapshots` (or `cargo insta review`).
//! Temp folders and loopback ports are filtered to `[TEMP]` and `[PORT]`.

use std::path::Path;

use crate::common::{self, Ran};

/// Exit code, stdout and stderr as one text.
fn transcript(ran: &Ran) -> String {
    format!(
        "exit code: {:?}\n----- stdout -----\n{}----- stderr -----\n{}",
        ran.code, ran.stdout, ran.stderr
    )
}

/// Runs the binary in `dir` with a fixed terminal width and snapshots its transcript.
fn snapshot(name: &str, dir: &Path, args: &[&str]) {
    let ran = common::run(common::command(dir).env("COLUMNS", "100").args(args));
    let mut settings = insta::Settings::clone_current();
    let temp = dir.to_string_lossy().into_owned();
    settings.add_filter(&regex_escape(&temp), "[TEMP]");
    if let Ok(real) = fs_err::canonicalize(dir) {
        settings.add_filter(&regex_escape(&real.to_string_lossy()), "[TEMP]");
    }
    settings.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]");
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| insta::assert_snapshot!(name, transcript(&ran)));
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|character| {
            let special = "\\.+*?()|[]{}^$#&-~".contains(character);
            special.then_some('\\').into_iter().chain([character])
        })
        .collect()
}

#[test]
fn help_of_each_command() {
    let dir = tempfile::tempdir().unwrap();
    snapshot("help", dir.path(), &["--help"]);
    for command in ["run", "fetch", "inspect", "merge", "comment"] {
        snapshot(&format!("help_{command}"), dir.path(), &[command, "--help"]);
    }
}

#[test]
fn diagnostic_usage_error_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    snapshot(
        "usage_error",
        dir.path(),
        &["run", ".", "--prompt", "hi", "--shard", "0/4"],
    );
}

#[test]
fn diagnostic_project_that_does_not_load_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(dir.path().join("aigne.yaml"), "agents:\n  - chat.yaml\n").unwrap();
    fs_err::write(
        dir.path().join("chat.yaml"),
        "name: chat\ninstructions: [unclosed\n",
    )
    .unwrap();
    snapshot(
        "project_load_error",
        dir.path(),
        &["run", ".", "--prompt", "hi"],
    );
}

#[test]
fn diagnostic_missing_source_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    snapshot(
        "missing_source",
        dir.path(),
        &["run", "nothere", "--prompt", "hi"],
    );
}

#[test]
fn diagnostic_fetch_error_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/project.tgz");
    snapshot(
        "fetch_error",
        dir.path(),
        &["fetch", &url, "--cache-dir", "cache", "--http-retries", "0"],
    );
}
