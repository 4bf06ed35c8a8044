use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

use super::*;

fn sh(script: &str, dir: &Path) -> ChildSpec {
    let mut env = BTreeMap::new();
    env.insert("PATH".to_owned(), "/usr/bin:/bin".to_owned());
    env.insert("ONLY".to_owned(), "this".to_owned());
    ChildSpec {
        purpose: "test".to_owned(),
        program: PathBuf::from("/bin/sh"),
        args: vec!["-c".to_owned(), script.to_owned()],
        env,
        working_dir: dir.to_path_buf(),
        stdin: true,
        stdout: true,
    }
}

/// Whether a process runs (a zombie counts as gone).
fn alive(pid: u32) -> bool {
    match fs_err::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

async fn gone_soon(pid: u32) -> bool {
    for _ in 0..200 {
        if !alive(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

/// Starts `script` (which must print the pid of a background child first) and returns the child
/// with the pids of the leader and of that background process.
async fn started(script: &str, dir: &Path) -> (Child, u32, u32) {
    let log = SubprocessLog::default();
    let mut child = spawn(&sh(script, dir), &log).unwrap();
    let leader = child.id().unwrap();
    let stdout = child.take_stdout().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let background: u32 = lines.next_line().await.unwrap().unwrap().parse().unwrap();
    assert!(alive(leader) && alive(background));
    let records = log.records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].pid, Some(leader));
    (child, leader, background)
}

#[tokio::test]
async fn env_and_working_dir_are_exactly_the_given_ones_and_stderr_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let child = spawn(
        &sh("env | sort >&2; pwd >&2; exit 3", dir.path()),
        &SubprocessLog::default(),
    )
    .unwrap();
    let mut child = child;
    let status = child.wait().await.unwrap();
    assert_eq!(status.code(), Some(3));
    let exited = child.shutdown(Duration::from_secs(1)).await;
    assert_eq!(exited.describe(), " with status 3");
    let lines: Vec<&str> = exited.stderr.lines().collect();
    assert!(lines.contains(&"ONLY=this"), "{lines:?}");
    assert!(
        !lines.iter().any(|line| line.starts_with("HOME=")),
        "{lines:?}"
    );
    let cwd = fs_err::canonicalize(dir.path()).unwrap();
    assert_eq!(lines.last().copied(), Some(cwd.to_str().unwrap()));
}

#[tokio::test]
async fn a_child_that_stops_on_stdin_eof_is_not_signalled() {
    let dir = tempfile::tempdir().unwrap();
    // Reads stdin to its end, then exits 0; a signal would show as no exit code.
    let (child, leader, background) =
        started("sleep 300 & echo $!; cat >/dev/null; exit 0", dir.path()).await;
    let exited = child.shutdown(Duration::from_secs(30)).await;
    assert_eq!(exited.status.and_then(|status| status.code()), Some(0));
    assert!(gone_soon(leader).await);
    // What it left in its group is killed with it.
    assert!(
        gone_soon(background).await,
        "{background} outlived the shutdown"
    );
}

#[tokio::test]
async fn a_child_that_ignores_eof_gets_sigterm_then_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let (child, leader, background) = started(
        "trap 'echo got TERM >&2' TERM; sleep 300 & echo $!; while :; do sleep 0.05; done",
        dir.path(),
    )
    .await;
    let exited = child.shutdown(Duration::from_millis(200)).await;
    // SIGTERM was trapped, so SIGKILL ended it.
    assert_eq!(exited.status.and_then(|status| status.code()), None);
    assert!(exited.stderr.contains("got TERM"), "{}", exited.stderr);
    assert!(gone_soon(leader).await);
    assert!(gone_soon(background).await);
}

#[tokio::test]
async fn a_dropped_child_takes_its_group_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let (child, leader, background) = started("sleep 300 & echo $!; wait", dir.path()).await;
    drop(child);
    assert!(gone_soon(leader).await, "{leader} outlived its handle");
    assert!(
        gone_soon(background).await,
        "{background} outlived its handle"
    );
}

#[tokio::test]
async fn stderr_is_bounded_and_keeps_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn(
        &sh(
            "head -c 100000 /dev/zero | tr '\\0' a >&2; echo; echo last words >&2",
            dir.path(),
        ),
        &SubprocessLog::default(),
    )
    .unwrap();
    child.wait().await.unwrap();
    let exited = child.shutdown(Duration::ZERO).await;
    assert!(exited.stderr.len() <= STDERR_TAIL_BYTES);
    assert!(
        exited.stderr.ends_with("last words\n"),
        "{:?}",
        &exited.stderr[8000..]
    );
}

#[test]
fn tail_cuts_on_character_boundaries() {
    let mut tail = String::new();
    push_tail(&mut tail, &"a".repeat(STDERR_TAIL_BYTES));
    push_tail(&mut tail, "éz");
    assert!(tail.len() <= STDERR_TAIL_BYTES);
    assert!(tail.ends_with("éz"));
}

#[test]
fn last_lines_are_the_end() {
    let tail = StderrTail::default();
    tail.push("a\nb\nc\n");
    assert_eq!(tail.last_lines(2), "b\nc");
    assert_eq!(tail.last_lines(9), "a\nb\nc");
}
