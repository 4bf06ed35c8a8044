//! Command-line surface: help, version, usage errors.

use crate::common;

#[test]
fn help_lists_subcommands() {
    let dir = tempfile::tempdir().unwrap();
    let ran = common::Run::in_dir(dir.path())
        .arg("--help")
        .expect_exit(0)
        .run();
    assert!(ran.stdout.contains("fetch"), "{}", ran.stdout);
}

#[test]
fn unknown_flag_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let ran = common::Run::in_dir(dir.path())
        .args(["fetch", "--no-such-flag"])
        .expect_exit(2)
        .run();
    assert!(ran.stderr.contains("--no-such-flag"), "{}", ran.stderr);
}
