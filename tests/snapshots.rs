//! Snapshots (insta) of what a user reads: `--help` of each command, and the rendered
//! diagnostics (`error:` / `Caused by:` / `hint:`) of the main error kinds with their exit codes.
//!
//! A change to a flag or a message changes a file under `tests/snapshots/`; review the diff and
//! accept it with `INSTA_UPDATE=always cargo nextest run snapshots` (or `cargo insta review`).
//! Temp folders, loopback ports and measured durations are filtered to `[TEMP]`, `[PORT]` and
//! `[DURATION]`.

use std::path::Path;

use crate::common::fake_openai::FakeOpenAi;
use crate::common::{self, Ran};

/// Exit code, stdout and stderr as one text.
fn transcript(ran: &Ran) -> String {
    format!(
        "exit code: {:?}\n----- stdout -----\n{}----- stderr -----\n{}",
        ran.code,
        ran.stdout,
        without_progress(&ran.stderr)
    )
}

/// The progress lines ("3/5 cases done, …") are printed by the reporter as cases end, while an
/// interruption is announced by the signal handler: under load their order varies, so the
/// snapshots leave the progress lines out and `progress_lines` checks them on their own.
fn is_progress(line: &str) -> bool {
    line.strip_prefix("aigne-ci: ")
        .and_then(|rest| rest.split_once(" cases done, "))
        .is_some_and(|(count, _)| count.split_once('/').is_some())
}

fn without_progress(stderr: &str) -> String {
    stderr
        .split_inclusive('\n')
        .filter(|line| !is_progress(line))
        .collect()
}

/// The "done/total" counts of the progress lines, in the order printed.
fn progress_counts(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|line| is_progress(line))
        .filter_map(|line| line.strip_prefix("aigne-ci: ")?.split_once(' '))
        .map(|(count, _)| count.to_owned())
        .collect()
}

/// Runs the binary in `dir` with a fixed terminal width and snapshots its transcript.
fn snapshot(name: &str, dir: &Path, args: &[&str]) {
    let ran = common::Run::in_dir(dir)
        .env("COLUMNS", "100")
        .args(args)
        .run();
    assert_snapshot(name, &ran);
}

/// Snapshots the transcript of `ran`, with what changes from run to run filtered: its folder
/// (`[TEMP]`), loopback ports (`[PORT]`) and measured durations (`[DURATION]`; durations given
/// on the command line, as in "the total timeout of 1s", are kept).
fn assert_snapshot(name: &str, ran: &Ran) {
    let mut settings = insta::Settings::clone_current();
    let temp = ran.dir().to_string_lossy().into_owned();
    settings.add_filter(&regex_escape(&temp), "[TEMP]");
    if let Ok(real) = fs_err::canonicalize(ran.dir()) {
        settings.add_filter(&regex_escape(&real.to_string_lossy()), "[TEMP]");
    }
    settings.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]");
    settings.add_filter(
        r"\b(in|after|took|elapsed:?) \d+(\.\d+)?(ms|s|m)\b",
        "$1 [DURATION]",
    );
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| insta::assert_snapshot!(name, transcript(ran)));
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
    let port = common::server::free_port();
    let url = format!("http://127.0.0.1:{port}/project.tgz");
    snapshot(
        "fetch_error",
        dir.path(),
        &["fetch", &url, "--cache-dir", "cache", "--http-retries", "0"],
    );
}

/// A project whose one agent answers from the fake model.
fn chat_project(run: common::Run) -> common::Run {
    run.project(&[
        (
            "aigne.yaml",
            "name: snap\nchat_model:\n  provider: openai\n  name: gpt-4o-mini\nagents:\n  - chat.yaml\n",
        ),
        (
            "chat.yaml",
            "name: chat\ninstructions: You are terse.\ninput_key: message\n",
        ),
    ])
}

#[test]
fn diagnostic_total_timeout_during_the_cases_exits_4() {
    let server = FakeOpenAi::quick_then_slow();
    let ran = chat_project(common::Run::new())
        .inputs(&[r#""a""#, r#""b""#, r#""c""#])
        .openai(&server, "sk-snapshot-0001")
        .env("COLUMNS", "100")
        .args(["run", ".", "--concurrency", "1"])
        .args(["--total-timeout", "1s", "--grace-period", "100ms"])
        .expect_exit(4)
        .run();
    assert_snapshot("total_timeout_during_cases", &ran);
    assert_eq!(
        progress_counts(&ran.stderr),
        ["1/3", "2/3"],
        "{}",
        ran.stderr
    );
}

#[test]
fn diagnostic_total_timeout_before_the_first_case_exits_4() {
    let host = common::server::RawLoopback::silent();
    let url = format!("{}/project.tgz", host.url());
    let ran = common::Run::new()
        .inputs(&[r#""a""#])
        .env("COLUMNS", "100")
        .args(["run", "--url", &url, "--cache-dir", "cache"])
        .args(["--total-timeout", "500ms"])
        .expect_exit(4)
        .run();
    assert_snapshot("total_timeout_before_cases", &ran);
}

#[cfg(unix)]
#[test]
fn diagnostic_sigint_during_the_cases_exits_130() {
    let server = FakeOpenAi::quick_then_slow();
    let running = chat_project(common::Run::new())
        .inputs(&[r#""a""#, r#""b""#, r#""c""#])
        .openai(&server, "sk-snapshot-0001")
        .env("COLUMNS", "100")
        .args(["run", ".", "--concurrency", "1", "--grace-period", "100ms"])
        .expect_exit(130)
        .spawn();
    // The second case is waiting for its (slow) answer.
    common::wait_until("the second model request", || server.request_count() == 2);
    running.signal(nix::sys::signal::Signal::SIGINT);
    let ran = running.wait();
    assert_snapshot("sigint_during_cases", &ran);
    assert_eq!(
        progress_counts(&ran.stderr),
        ["1/3", "2/3"],
        "{}",
        ran.stderr
    );
}

/// Starts the run `start` builds for the URL of a tarball host that never answers, and sends
/// `signal` once the download is under way.
#[cfg(unix)]
fn interrupted_download(
    signal: nix::sys::signal::Signal,
    start: impl FnOnce(&str) -> common::Run,
) -> Ran {
    let host = common::server::RawLoopback::silent();
    let running = start(&format!("{}/project.tgz", host.url()))
        .env("COLUMNS", "100")
        .expect_exit(130)
        .spawn();
    host.wait_for_connections(1);
    running.signal(signal);
    running.wait()
}

#[cfg(unix)]
#[test]
fn diagnostic_sigterm_before_the_first_case_exits_130() {
    let ran = interrupted_download(nix::sys::signal::Signal::SIGTERM, |url| {
        common::Run::new()
            .inputs(&[r#""a""#])
            .args(["run", "--url", url, "--cache-dir", "cache"])
    });
    assert_snapshot("sigterm_before_cases", &ran);
}

#[cfg(unix)]
#[test]
fn diagnostic_sigint_during_fetch_exits_130() {
    let ran = interrupted_download(nix::sys::signal::Signal::SIGINT, |url| {
        common::Run::new().args(["fetch", url, "--cache-dir", "cache"])
    });
    assert_snapshot("sigint_during_fetch", &ran);
}
