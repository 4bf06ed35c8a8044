//! Command-line surface: help, version, usage errors.

use crate::common;

#[test]
fn help_lists_subcommands() {
    let dir = tempfile::tempdir().unwrap();
    let ran = common::run(common::command(dir.path()).arg("--help"));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(ran.stdout.contains("fetch"), "{}", ran.stdout);
}

#[test]
fn unknown_flag_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let ran = common::run(common::command(dir.path()).args(["fetch", "--no-such-flag"]));
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(ran.stderr.contains("--no-such-flag"), "{}", ran.stderr);
}
