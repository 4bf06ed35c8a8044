//! The GitHub Action (`action.yml`): its inputs and outputs agree with the binary, its scripts are
//! hardened, and its composite steps work under a simulated runner (GitHub's runner cannot run
//! here): install from a fake release served on loopback with the sha256 verified, a tampered
//! asset refused, the tool cache reused, the source build as fallback, inputs arriving as
//! `AIGNE_CI_*` variables only, and the cache plan.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use aigne_ci::cli::RunArgs;
use aigne_ci::report::step_outputs::STEP_OUTPUTS;
use clap::{ArgAction, Args};
use pretty_assertions::assert_eq;
use serde::Deserialize;

/// Inputs of the action that are not flags of `aigne-ci run`.
const ACTION_ONLY_INPUTS: &[&str] = &[
    "version",
    "aigne-ci-path",
    "cache",
    "comment",
    "github-token",
];
/// Inputs that switch the run step to another subcommand: (input, variable `run.sh` reads).
const MODE_INPUTS: &[(&str, &str)] = &[("merge", "AIGNE_CI_MERGE")];
/// Inputs named differently from their flag: (input, long flag).
const INPUT_ALIASES: &[(&str, &str)] = &[("agent", "entry-agent")];
/// Outputs of the action that come from the action itself, not from the binary.
const ACTION_ONLY_OUTPUTS: &[(&str, &str)] = &[(
    "aigne-ci-path",
    "${{ steps.install.outputs.aigne-ci-path }}",
)];
/// The shell every `run:` step uses.
const HARDENED_SHELL: &str = "bash --noprofile --norc -p -euo pipefail {0}";

#[derive(Debug, Deserialize)]
struct Action {
    inputs: BTreeMap<String, Input>,
    outputs: BTreeMap<String, Output>,
    runs: Runs,
}

#[derive(Debug, Deserialize)]
struct Input {
    description: String,
    default: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Output {
    description: String,
    value: String,
}

#[derive(Debug, Deserialize)]
struct Runs {
    using: String,
    steps: Vec<Step>,
}

#[derive(Debug, Deserialize)]
struct Step {
    id: Option<String>,
    shell: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    run: Option<String>,
    uses: Option<String>,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn action() -> Action {
    let text = fs_err::read_to_string(root().join("action.yml")).unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

impl Action {
    fn step(&self, id: &str) -> &Step {
        self.runs
            .steps
            .iter()
            .find(|step| step.id.as_deref() == Some(id))
            .unwrap_or_else(|| panic!("action.yml has no step `{id}`"))
    }
}

/// A flag of `aigne-ci run` that reads an environment variable.
#[derive(Debug)]
struct Flag {
    long: String,
    env: String,
    switch: bool,
}

fn run_flags() -> Vec<Flag> {
    let command = RunArgs::augment_args(clap::Command::new("run"));
    command
        .get_arguments()
        .filter_map(|arg| {
            let env = arg.get_env()?.to_str()?.to_owned();
            Some(Flag {
                long: arg.get_long()?.to_owned(),
                env,
                switch: matches!(arg.get_action(), ArgAction::SetTrue),
            })
        })
        .collect()
}

fn input_expression(name: &str) -> String {
    format!("${{{{ inputs.{name} }}}}")
}

#[test]
fn every_input_is_a_run_flag_passed_as_its_env_var() {
    let action = action();
    let flags = run_flags();
    let run_env = &action.step("run").env;

    let mut mapped = BTreeSet::new();
    for (name, input) in &action.inputs {
        assert!(
            !input.description.is_empty(),
            "input `{name}` has no description"
        );
        let carriers: Vec<&String> = run_env
            .iter()
            .filter(|(_, value)| **value == input_expression(name))
            .map(|(key, _)| key)
            .collect();
        if let Some((_, variable)) = MODE_INPUTS.iter().find(|(input, _)| input == name) {
            assert_eq!(carriers, vec![&(*variable).to_owned()], "input `{name}`");
            continue;
        }
        if ACTION_ONLY_INPUTS.contains(&name.as_str()) {
            assert!(
                carriers.is_empty(),
                "action-only input `{name}` reaches the binary"
            );
            continue;
        }
        assert_eq!(
            carriers.len(),
            1,
            "input `{name}` must reach the run step as exactly one env var"
        );
        let variable = carriers[0];
        let flag = flags
            .iter()
            .find(|flag| &flag.env == variable)
            .unwrap_or_else(|| {
                panic!("`{variable}` (input `{name}`) is no flag of `aigne-ci run`")
            });
        let long = INPUT_ALIASES
            .iter()
            .find(|(input, _)| input == name)
            .map_or(name.as_str(), |(_, long)| long);
        assert_eq!(
            flag.long, long,
            "input `{name}` goes to `{variable}`, the variable of `--{}`",
            flag.long
        );
        // The binary's defaults are the only defaults; on/off flags say `false` explicitly.
        let expected_default = flag.switch.then(|| "false".to_owned());
        assert_eq!(input.default, expected_default, "default of input `{name}`");
        mapped.insert(variable.clone());
    }

    let missing: Vec<String> = flags
        .iter()
        .filter(|flag| !mapped.contains(&flag.env))
        .map(|flag| format!("--{} ({})", flag.long, flag.env))
        .collect();
    assert!(
        missing.is_empty(),
        "flags of `aigne-ci run` with no action input (add them to action.yml): {missing:?}"
    );

    let unexpected: Vec<&String> = run_env
        .keys()
        .filter(|key| {
            *key != "AIGNE_CI_BIN"
                && !mapped.contains(*key)
                && !MODE_INPUTS.iter().any(|(_, variable)| variable == key)
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "env of the run step not fed by an input: {unexpected:?}"
    );
}

#[test]
fn every_output_is_one_the_binary_writes() {
    let action = action();
    for (name, output) in &action.outputs {
        assert!(
            !output.description.is_empty(),
            "output `{name}` has no description"
        );
        if let Some((_, value)) = ACTION_ONLY_OUTPUTS.iter().find(|(n, _)| n == name) {
            assert_eq!(&output.value, value);
            continue;
        }
        assert!(
            STEP_OUTPUTS.contains(&name.as_str()),
            "output `{name}` is not written by aigne-ci ({STEP_OUTPUTS:?})"
        );
        assert_eq!(
            output.value,
            format!("${{{{ steps.run.outputs.{name} }}}}"),
            "output `{name}` must forward the binary's value"
        );
    }
    for name in STEP_OUTPUTS {
        assert!(
            action.outputs.contains_key(*name),
            "the binary writes `{name}` but action.yml does not forward it"
        );
    }
}

#[test]
fn switch_variables_of_run_script_are_the_switch_flags() {
    let script = fs_err::read_to_string(root().join("scripts/run.sh")).unwrap();
    let line = script
        .lines()
        .find_map(|line| line.strip_prefix("boolean_variables="))
        .expect("run.sh lists boolean_variables");
    let listed: BTreeSet<&str> = line.trim_matches('\'').split_whitespace().collect();
    let flags = run_flags();
    let switches: BTreeSet<&str> = flags
        .iter()
        .filter(|flag| flag.switch)
        .map(|flag| flag.env.as_str())
        .collect();
    assert_eq!(listed, switches);
}

/// `uses:` lines pinned to a full commit SHA with a version comment, e.g.
/// `uses: actions/cache/save@27d5…ae # v5.0.5`.
fn assert_pinned(path: &Path) {
    let text = fs_err::read_to_string(path).unwrap();
    let pinned = regex::Regex::new(r"^\s*(- )?uses: [\w.-]+/[\w./-]+@[0-9a-f]{40} # \S").unwrap();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start().trim_start_matches("- ");
        if !trimmed.starts_with("uses:") || trimmed.starts_with("uses: ./") {
            continue;
        }
        assert!(
            pinned.is_match(line),
            "{}:{}: `{}` is not pinned by commit SHA with a version comment",
            path.display(),
            index + 1,
            line.trim()
        );
    }
}

#[test]
fn action_scripts_are_hardened_and_actions_pinned() {
    let action = action();
    assert_eq!(action.runs.using, "composite");
    for step in &action.runs.steps {
        let id = step.id.as_deref().unwrap_or("?");
        if let Some(run) = &step.run {
            assert!(
                !run.contains("${{"),
                "step `{id}` interpolates an expression into its script"
            );
            assert_eq!(step.shell.as_deref(), Some(HARDENED_SHELL), "step `{id}`");
        } else {
            assert!(step.uses.is_some(), "step `{id}` neither runs nor uses");
        }
    }
    assert_pinned(&root().join("action.yml"));
}

/// The workflows of `.github/workflows` and the act scenarios of `.github/act` (run by
/// `tests/act/scenarios.sh`), with the files of each.
fn workflow_files() -> Vec<(&'static str, PathBuf)> {
    let mut files = Vec::new();
    for dir in [".github/workflows", ".github/act"] {
        for entry in fs_err::read_dir(root().join(dir)).unwrap() {
            files.push((dir, entry.unwrap().path()));
        }
    }
    files
}

#[test]
fn workflows_are_least_privilege_and_pinned() {
    let mut names = Vec::new();
    for (dir, path) in workflow_files() {
        names.push(format!(
            "{dir}/{}",
            path.file_name().unwrap().to_string_lossy()
        ));
        assert_pinned(&path);
        let workflow: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&fs_err::read_to_string(&path).unwrap()).unwrap();
        let permissions = &workflow["permissions"];
        assert!(
            permissions.as_mapping().is_some_and(|map| map.is_empty()),
            "{}: top-level `permissions: {{}}` (jobs ask for what they need)",
            path.display()
        );
        let text = fs_err::read_to_string(&path).unwrap();
        if text.contains("actions/checkout@") {
            assert_eq!(
                text.matches("actions/checkout@").count(),
                text.matches("persist-credentials: false").count(),
                "{}: every checkout sets `persist-credentials: false`",
                path.display()
            );
        }
    }
    for expected in [
        ".github/workflows/ci.yml",
        ".github/workflows/release.yml",
        ".github/workflows/self-test.yml",
        ".github/act/project-cache.yml",
        ".github/act/outputs-and-policy.yml",
        ".github/act/shards.yml",
        ".github/act/release-install.yml",
        ".github/act/comment.yml",
    ] {
        assert!(
            names.iter().any(|name| name == expected),
            "missing workflow {expected}"
        );
    }
}

/// The act scenarios reach nothing beyond loopback: every `uses:` of their workflows and of the
/// action they run is the action itself, the checkout act performs from the working tree, or the
/// action `tests/act/scenarios.sh` maps to its vendored copy with `--local-repository`.
#[test]
fn act_scenarios_use_only_local_or_vendored_actions() {
    let script = fs_err::read_to_string(root().join("tests/act/scenarios.sh")).unwrap();
    let mapped = regex::Regex::new(r"(?m)^cache_action=([\w./-]+)@([0-9a-f]{40})$").unwrap();
    let mapped = mapped
        .captures(&script)
        .expect("cache_action=<repo>@<sha> in scenarios.sh");
    let (mapped_repo, mapped_ref) = (&mapped[1], &mapped[2]);
    let mut files: Vec<PathBuf> = workflow_files()
        .into_iter()
        .filter(|(dir, _)| *dir == ".github/act")
        .map(|(_, path)| path)
        .collect();
    files.push(root().join("action.yml"));
    let mut uses_count = 0;
    for path in files {
        let text = fs_err::read_to_string(&path).unwrap();
        for line in text.lines() {
            let trimmed = line.trim_start().trim_start_matches("- ");
            let Some(uses) = trimmed.strip_prefix("uses: ") else {
                continue;
            };
            let uses = uses.split(" #").next().unwrap().trim();
            uses_count += 1;
            let vendored = uses.split_once('@').is_some_and(|(action, reference)| {
                reference == mapped_ref
                    && (action == mapped_repo || action.starts_with(&format!("{mapped_repo}/")))
            });
            assert!(
                uses == "./" || uses.starts_with("actions/checkout@") || vendored,
                "{}: `uses: {uses}` is neither local nor mapped to a vendored copy",
                path.display()
            );
        }
    }
    assert!(uses_count > 0, "no `uses:` found");
}

/// Runs the composite steps of action.yml the way the runner does: env evaluated from inputs and
/// earlier outputs, the script written to a file and run with the step's shell, outputs read back
/// from `$GITHUB_OUTPUT`.
#[cfg(unix)]
mod runner {
    use std::collections::BTreeMap;
    use std::os::unix::fs::PermissionsExt;
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::{Action, action, root};

    pub(super) const VERSION: &str = env!("CARGO_PKG_VERSION");

    pub(super) fn runner_os() -> &'static str {
        if cfg!(target_os = "macos") {
            "macOS"
        } else {
            "Linux"
        }
    }

    pub(super) fn runner_arch() -> &'static str {
        if cfg!(target_arch = "aarch64") {
            "ARM64"
        } else {
            "X64"
        }
    }

    /// The release target install.sh picks for this host.
    pub(super) fn target() -> String {
        let arch = if cfg!(target_arch = "aarch64") {
            "aarch64"
        } else {
            "x86_64"
        };
        if cfg!(target_os = "macos") {
            format!("{arch}-apple-darwin")
        } else {
            format!("{arch}-unknown-linux-musl")
        }
    }

    pub(super) struct StepRun {
        pub code: Option<i32>,
        pub log: String,
        pub outputs: BTreeMap<String, String>,
    }

    pub(super) struct Runner {
        pub dir: tempfile::TempDir,
        pub action: Action,
        pub inputs: BTreeMap<String, String>,
        pub env: BTreeMap<String, String>,
        /// Folders put first on PATH (fake tools).
        pub path: Vec<PathBuf>,
        /// The rest of PATH.
        pub system_path: Vec<PathBuf>,
        /// `${{ github.token }}`.
        pub github_token: String,
        outputs: BTreeMap<String, BTreeMap<String, String>>,
    }

    impl Runner {
        /// A runner whose action path is a copy of the repository's action files.
        pub(super) fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            for sub in ["temp", "tool-cache", "workspace", "action/scripts", "bin"] {
                fs_err::create_dir_all(dir.path().join(sub)).unwrap();
            }
            for file in [
                "action.yml",
                "Cargo.toml",
                "release-manifest.txt",
                "scripts/lib.sh",
                "scripts/install.sh",
                "scripts/run.sh",
                "scripts/cache-plan.sh",
                "scripts/comment.sh",
            ] {
                fs_err::copy(root().join(file), dir.path().join("action").join(file)).unwrap();
            }
            fs_err::write(dir.path().join("github_path"), "").unwrap();
            Self {
                path: vec![dir.path().join("bin")],
                system_path: vec![PathBuf::from("/usr/bin"), PathBuf::from("/bin")],
                github_token: "ghs_simulatedJobToken0123456789".to_owned(),
                dir,
                action: action(),
                inputs: BTreeMap::new(),
                env: BTreeMap::new(),
                outputs: BTreeMap::new(),
            }
        }

        pub(super) fn join(&self, path: &str) -> PathBuf {
            self.dir.path().join(path)
        }

        pub(super) fn input(&mut self, name: &str, value: &str) -> &mut Self {
            assert!(
                self.action.inputs.contains_key(name),
                "action.yml has no input `{name}`"
            );
            self.inputs.insert(name.to_owned(), value.to_owned());
            self
        }

        pub(super) fn manifest(&self) -> PathBuf {
            self.join("action/release-manifest.txt")
        }

        pub(super) fn github_path(&self) -> String {
            fs_err::read_to_string(self.join("github_path")).unwrap()
        }

        fn evaluate(&self, expression: &str) -> String {
            let inner = expression
                .strip_prefix("${{")
                .and_then(|rest| rest.strip_suffix("}}"))
                .map(str::trim);
            let Some(inner) = inner else {
                return expression.to_owned();
            };
            if let Some(name) = inner.strip_prefix("inputs.") {
                let input = &self.action.inputs[name];
                return match self.inputs.get(name) {
                    Some(value) => value.clone(),
                    // A default may be an expression (`${{ github.token }}`).
                    None => input
                        .default
                        .as_deref()
                        .map(|default| self.evaluate(default))
                        .unwrap_or_default(),
                };
            }
            if inner == "github.token" {
                return self.github_token.clone();
            }
            if let Some(rest) = inner.strip_prefix("steps.")
                && let Some((step, name)) = rest.split_once(".outputs.")
            {
                return self
                    .outputs
                    .get(step)
                    .and_then(|outputs| outputs.get(name))
                    .cloned()
                    .unwrap_or_default();
            }
            panic!("the simulated runner does not evaluate `{expression}`");
        }

        /// The action's outputs, as the runner resolves them after the steps ran.
        pub(super) fn action_outputs(&self) -> BTreeMap<String, String> {
            self.action
                .outputs
                .iter()
                .map(|(name, output)| (name.clone(), self.evaluate(&output.value)))
                .collect()
        }

        /// Runs one `run:` step of action.yml.
        pub(super) fn run_step(&mut self, id: &str) -> StepRun {
            let step = self.action.step(id);
            let script = step.run.as_ref().expect("a run step");
            let script_file = self.join(&format!("temp/step-{id}.sh"));
            fs_err::write(&script_file, script).unwrap();
            let output_file = self.join(&format!("temp/output-{id}"));
            fs_err::write(&output_file, "").unwrap();

            let shell = step.shell.as_ref().expect("a shell");
            let mut words = shell.split_whitespace().map(|word| {
                if word == "{0}" {
                    script_file.to_string_lossy().into_owned()
                } else {
                    word.to_owned()
                }
            });
            let mut command = Command::new(words.next().unwrap());
            command.args(words);
            command.env_clear();
            let path: Vec<String> = self
                .path
                .iter()
                .chain(&self.system_path)
                .map(|dir| dir.to_string_lossy().into_owned())
                .collect();
            let dir = self.dir.path();
            command
                .env("PATH", path.join(":"))
                .env("HOME", dir)
                .env("LC_ALL", "C")
                .env("RUNNER_OS", runner_os())
                .env("RUNNER_ARCH", runner_arch())
                .env("RUNNER_TEMP", dir.join("temp"))
                .env("RUNNER_TOOL_CACHE", dir.join("tool-cache"))
                .env("GITHUB_ACTIONS", "true")
                .env("GITHUB_WORKSPACE", dir.join("workspace"))
                .env("GITHUB_ACTION_PATH", dir.join("action"))
                .env("GITHUB_EVENT_NAME", "push")
                .env("GITHUB_OUTPUT", &output_file)
                .env("GITHUB_PATH", dir.join("github_path"))
                .env("AIGNE_CI_TEST_NO_RETRY_DELAY", "1");
            for (key, value) in &self.env {
                command.env(key, value);
            }
            for (key, value) in &step.env {
                command.env(key, self.evaluate(value));
            }
            command.current_dir(dir.join("workspace"));
            let output = command.output().unwrap();
            let outputs = parse_outputs(&fs_err::read_to_string(&output_file).unwrap());
            self.outputs.insert(id.to_owned(), outputs.clone());
            StepRun {
                code: output.status.code(),
                log: format!(
                    "{}{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                ),
                outputs,
            }
        }
    }

    /// Reads a `$GITHUB_OUTPUT` file: `name=value` lines and `name<<DELIMITER` blocks.
    pub(super) fn parse_outputs(text: &str) -> BTreeMap<String, String> {
        let mut outputs = BTreeMap::new();
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            if let Some((name, delimiter)) = line.split_once("<<") {
                let value: Vec<&str> = lines.by_ref().take_while(|l| *l != delimiter).collect();
                outputs.insert(name.to_owned(), value.join("\n"));
            } else if let Some((name, value)) = line.split_once('=') {
                outputs.insert(name.to_owned(), value.to_owned());
            }
        }
        outputs
    }

    pub(super) fn write_executable(path: &Path, text: &str) {
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(path, text).unwrap();
        fs_err::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// A stand-in for the aigne-ci binary: answers `--version`; for `run` it records its argv and
    /// `AIGNE_CI_*` environment to `$FAKE_AIGNE_CI_LOG`, writes two step outputs and exits
    /// `$FAKE_AIGNE_CI_EXIT`.
    pub(super) fn fake_binary(version: &str) -> String {
        format!(
            r#"#!/bin/sh
if [ "$1" = --version ]; then echo "aigne-ci {version}"; exit 0; fi
{{
  printf 'argv:'; printf ' [%s]' "$@"; echo
  env | grep '^AIGNE_CI_' | grep -v '^AIGNE_CI_TEST_' | LC_ALL=C sort
}} > "$FAKE_AIGNE_CI_LOG"
echo "total=3" >> "$GITHUB_OUTPUT"
echo "conclusion=failure" >> "$GITHUB_OUTPUT"
exit "${{FAKE_AIGNE_CI_EXIT:-0}}"
"#
        )
    }

    /// A fake release host (on the shared [`crate::common::server::Loopback`] bootstrap): serves
    /// `<root>/<path>` and records each request; the first `fail_first` requests get 503.
    pub(super) struct ReleaseServer {
        pub url: String,
        server: crate::common::server::Loopback,
    }

    impl ReleaseServer {
        pub(super) fn start(files: PathBuf, fail_first: usize) -> Self {
            use axum::extract::{Path as UrlPath, State};
            use axum::http::StatusCode;

            #[derive(Clone)]
            struct Shared {
                files: PathBuf,
                fail_first: Arc<AtomicUsize>,
            }

            async fn serve(
                State(shared): State<Shared>,
                UrlPath(path): UrlPath<String>,
            ) -> Result<Vec<u8>, StatusCode> {
                if shared
                    .fail_first
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
                {
                    return Err(StatusCode::SERVICE_UNAVAILABLE);
                }
                if path.contains("..") {
                    return Err(StatusCode::BAD_REQUEST);
                }
                fs_err::read(shared.files.join(&path)).map_err(|_| StatusCode::NOT_FOUND)
            }

            let shared = Shared {
                files,
                fail_first: Arc::new(AtomicUsize::new(fail_first)),
            };
            let app = axum::Router::new()
                .route("/{*path}", axum::routing::get(serve))
                .with_state(shared);
            let server = crate::common::server::Loopback::serve(app);
            Self {
                url: server.url(),
                server,
            }
        }

        /// The paths requested (without the leading `/`), in arrival order.
        pub(super) fn requests(&self) -> Vec<String> {
            self.server
                .requests()
                .into_iter()
                .map(|request| request.path.trim_start_matches('/').to_owned())
                .collect()
        }
    }

    /// Packs a fake binary as a release with scripts/package.sh into `<runner>/release/v<version>/`
    /// and records it in the runner's copy of the manifest with scripts/update-manifest.sh.
    /// Returns the archive path.
    pub(super) fn publish_release(runner: &Runner) -> PathBuf {
        publish_release_for(runner, &target())
    }

    /// [`publish_release`] for another target (`.zip` for Windows ones).
    pub(super) fn publish_release_for(runner: &Runner, target: &str) -> PathBuf {
        let release = runner.join(&format!("release/v{VERSION}"));
        let binary = runner.join("temp/built/aigne-ci");
        write_executable(&binary, &fake_binary(VERSION));
        let packed = Command::new("bash")
            .arg(root().join("scripts/package.sh"))
            .args([target, VERSION])
            .arg(&binary)
            .arg(&release)
            .output()
            .unwrap();
        assert!(
            packed.status.success(),
            "{}",
            String::from_utf8_lossy(&packed.stderr)
        );
        let recorded = Command::new("bash")
            .arg(root().join("scripts/update-manifest.sh"))
            .arg(VERSION)
            .arg(&release)
            .arg(runner.manifest())
            .output()
            .unwrap();
        assert!(
            recorded.status.success(),
            "{}",
            String::from_utf8_lossy(&recorded.stderr)
        );
        let extension = if target.contains("windows") {
            "zip"
        } else {
            "tar.gz"
        };
        release.join(format!("aigne-ci-{VERSION}-{target}.{extension}"))
    }
}

#[cfg(unix)]
mod simulated {
    use std::process::Command;

    use pretty_assertions::assert_eq;
    use sha2::{Digest, Sha256};

    use super::root;
    use super::runner::*;

    fn sha256_hex(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    #[test]
    fn install_downloads_verifies_and_then_reuses_the_tool_cache() {
        let mut runner = Runner::new();
        let archive = publish_release(&runner);
        let asset = archive.file_name().unwrap().to_string_lossy().into_owned();
        let manifest = fs_err::read_to_string(runner.manifest()).unwrap();
        let digest = sha256_hex(&fs_err::read(&archive).unwrap());
        assert!(
            manifest.ends_with(&format!("{digest}  {asset}\n")),
            "{manifest}"
        );
        assert!(archive.with_extension("gz.sha256").exists());

        // The first request fails with 503: the script retries.
        let server = ReleaseServer::start(runner.join("release"), 1);
        runner.env.insert(
            "AIGNE_CI_RELEASE_BASE_URL".to_owned(),
            format!("{}/", server.url),
        );
        let first = runner.run_step("install");
        assert_eq!(first.code, Some(0), "{}", first.log);
        let tool_dir = runner.join(&format!(
            "tool-cache/aigne-ci/{VERSION}/{}",
            runner_arch().to_lowercase()
        ));
        let installed = tool_dir.join("aigne-ci");
        assert_eq!(
            first.outputs.get("aigne-ci-path").map(String::as_str),
            Some(installed.to_str().unwrap())
        );
        assert_eq!(first.outputs["source"], "download");
        assert_eq!(first.outputs["version"], VERSION);
        assert!(first.log.contains("attempt 1 of 5"), "{}", first.log);
        assert!(
            first.log.contains(&format!("sha256 {digest} verified")),
            "{}",
            first.log
        );
        assert_eq!(runner.github_path(), format!("{}\n", tool_dir.display()));
        assert!(tool_dir.with_extension("complete").exists());
        let path = format!("v{VERSION}/{asset}");
        assert_eq!(server.requests(), [path.clone(), path.clone()]);
        let version = Command::new(&installed).arg("--version").output().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&version.stdout),
            format!("aigne-ci {VERSION}\n")
        );

        // A second job on the same runner: the tool cache, no request.
        let second = runner.run_step("install");
        assert_eq!(second.code, Some(0), "{}", second.log);
        assert_eq!(second.outputs["source"], "tool-cache");
        assert_eq!(second.outputs["aigne-ci-path"], installed.to_str().unwrap());
        assert_eq!(server.requests().len(), 2);
    }

    /// The Windows path of install.sh (zip archive, `aigne-ci.exe`), run by bash as on a Windows
    /// runner (where Git Bash is the `bash` of `shell:`); without `cygpath` paths stay as they are.
    #[test]
    fn install_unpacks_the_windows_zip() {
        let mut runner = Runner::new();
        let archive = publish_release_for(&runner, "x86_64-pc-windows-msvc");
        let listing = Command::new("unzip")
            .arg("-l")
            .arg(&archive)
            .output()
            .unwrap();
        let listing = String::from_utf8_lossy(&listing.stdout);
        assert!(
            listing.contains(&format!(
                "aigne-ci-{VERSION}-x86_64-pc-windows-msvc/aigne-ci.exe"
            )),
            "{listing}"
        );
        let server = ReleaseServer::start(runner.join("release"), 0);
        runner
            .env
            .insert("AIGNE_CI_RELEASE_BASE_URL".to_owned(), server.url.clone());
        runner
            .env
            .insert("RUNNER_OS".to_owned(), "Windows".to_owned());
        runner
            .env
            .insert("RUNNER_ARCH".to_owned(), "X64".to_owned());
        let step = runner.run_step("install");
        assert_eq!(step.code, Some(0), "{}", step.log);
        assert_eq!(step.outputs["source"], "download");
        assert_eq!(
            step.outputs["aigne-ci-path"],
            runner
                .join(&format!("tool-cache/aigne-ci/{VERSION}/x64/aigne-ci.exe"))
                .to_str()
                .unwrap()
        );
        assert_eq!(
            server.requests(),
            [format!(
                "v{VERSION}/aigne-ci-{VERSION}-x86_64-pc-windows-msvc.zip"
            )]
        );
    }

    /// macOS runners have `shasum`, not `sha256sum`: the same install with only the tools a
    /// macOS image has.
    #[test]
    fn install_verifies_with_shasum_when_sha256sum_is_missing() {
        let mut runner = Runner::new();
        publish_release(&runner);
        let tools = runner.join("macos-like-bin");
        fs_err::create_dir(&tools).unwrap();
        for tool in [
            "bash", "env", "grep", "cut", "awk", "tr", "mktemp", "mkdir", "rm", "cp", "mv",
            "chmod", "tar", "gzip", "curl", "dirname", "basename", "cat", "sleep", "shasum",
        ] {
            let found = ["/usr/bin", "/bin"]
                .iter()
                .map(|dir| std::path::Path::new(dir).join(tool))
                .find(|path| path.exists())
                .unwrap_or_else(|| panic!("`{tool}` is not installed"));
            fs_err::os::unix::fs::symlink(found, tools.join(tool)).unwrap();
        }
        runner.system_path = vec![tools];
        let server = ReleaseServer::start(runner.join("release"), 0);
        runner
            .env
            .insert("AIGNE_CI_RELEASE_BASE_URL".to_owned(), server.url.clone());
        let step = runner.run_step("install");
        assert_eq!(step.code, Some(0), "{}", step.log);
        assert_eq!(step.outputs["source"], "download");
        assert!(step.log.contains("verified"), "{}", step.log);
    }

    #[test]
    fn install_refuses_a_tampered_asset() {
        let mut runner = Runner::new();
        let archive = publish_release(&runner);
        // The asset on the server changes after the manifest recorded it.
        let mut bytes = fs_err::read(&archive).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs_err::write(&archive, &bytes).unwrap();

        let server = ReleaseServer::start(runner.join("release"), 0);
        runner
            .env
            .insert("AIGNE_CI_RELEASE_BASE_URL".to_owned(), server.url.clone());
        let step = runner.run_step("install");
        assert_eq!(step.code, Some(1), "{}", step.log);
        let expected = fs_err::read_to_string(runner.manifest()).unwrap();
        let expected = expected.lines().last().unwrap().split(' ').next().unwrap();
        assert!(
            step.log.contains(&format!(
                "sha256 mismatch for `{}`",
                archive.file_name().unwrap().to_string_lossy()
            )) && step.log.contains(&format!("expected {expected}"))
                && step.log.contains(&format!("got {}", sha256_hex(&bytes))),
            "{}",
            step.log
        );
        assert!(
            step.log.contains("::error title=aigne-ci::"),
            "{}",
            step.log
        );
        assert!(step.outputs.is_empty(), "{:?}", step.outputs);
        assert_eq!(runner.github_path(), "");
        assert!(
            !runner.join("tool-cache/aigne-ci").join(VERSION).exists(),
            "nothing installed"
        );
        assert_eq!(server.requests().len(), 1, "a mismatch is not retried");
    }

    #[test]
    fn install_refuses_plain_http_off_loopback() {
        let mut runner = Runner::new();
        publish_release(&runner);
        runner.env.insert(
            "AIGNE_CI_RELEASE_BASE_URL".to_owned(),
            "http://releases.example.invalid".to_owned(),
        );
        let step = runner.run_step("install");
        assert_eq!(step.code, Some(1), "{}", step.log);
        assert!(
            step.log
                .contains("only https (or http on loopback) is allowed"),
            "{}",
            step.log
        );
    }

    #[test]
    fn install_builds_from_the_action_source_when_no_asset_is_listed() {
        let mut runner = Runner::new();
        // The fake cargo records its arguments and "builds" into `--root`.
        let log = runner.join("temp/cargo.log");
        let cargo = format!(
            r#"#!/bin/sh
echo "$@" > '{log}'
echo "lto=$CARGO_PROFILE_RELEASE_LTO target=$CARGO_TARGET_DIR" >> '{log}'
while [ $# -gt 0 ]; do [ "$1" = --root ] && root=$2; shift; done
mkdir -p "$root/bin"
cat > "$root/bin/aigne-ci" <<'BIN'
{binary}
BIN
chmod +x "$root/bin/aigne-ci"
"#,
            log = log.display(),
            binary = fake_binary(VERSION)
        );
        write_executable(&runner.join("bin/cargo"), &cargo);
        let step = runner.run_step("install");
        assert_eq!(step.code, Some(0), "{}", step.log);
        assert_eq!(step.outputs["source"], "build");
        let build_root = runner.join("temp/aigne-ci-build");
        assert_eq!(
            step.outputs["aigne-ci-path"],
            build_root.join("bin/aigne-ci").to_str().unwrap()
        );
        assert_eq!(
            fs_err::read_to_string(&log).unwrap(),
            format!(
                "install --locked --path {} --root {} --bin aigne-ci\nlto=off target={}\n",
                runner.join("action").display(),
                build_root.display(),
                build_root.join("target").display()
            )
        );
        assert!(
            step.log
                .contains("::warning title=aigne-ci::no release asset"),
            "{}",
            step.log
        );
    }

    #[test]
    fn install_without_asset_or_cargo_says_what_to_do() {
        let mut runner = Runner::new();
        let step = runner.run_step("install");
        assert_eq!(step.code, Some(1), "{}", step.log);
        assert!(
            step.log.contains("no `cargo` to build it") && step.log.contains("aigne-ci-path"),
            "{}",
            step.log
        );
    }

    #[test]
    fn install_of_another_version_needs_its_asset() {
        let mut runner = Runner::new();
        runner.input("version", "v9.9.9");
        let step = runner.run_step("install");
        assert_eq!(step.code, Some(1), "{}", step.log);
        assert!(
            step.log.contains("aigne-ci 9.9.9 has no release asset for"),
            "{}",
            step.log
        );
    }

    #[test]
    fn aigne_ci_path_skips_the_install() {
        let mut runner = Runner::new();
        let binary = runner.join("preinstalled/aigne-ci");
        // The real binary, given as the folder that holds it.
        fs_err::create_dir_all(binary.parent().unwrap()).unwrap();
        fs_err::copy(crate::common::binary(), &binary).unwrap();
        runner.input("aigne-ci-path", binary.parent().unwrap().to_str().unwrap());
        let step = runner.run_step("install");
        assert_eq!(step.code, Some(0), "{}", step.log);
        assert_eq!(step.outputs["source"], "path");
        assert_eq!(step.outputs["version"], VERSION);
        assert_eq!(step.outputs["aigne-ci-path"], binary.to_str().unwrap());
        assert_eq!(
            runner.github_path(),
            format!("{}\n", binary.parent().unwrap().display())
        );
    }

    /// A `BASH_ENV` (e.g. written to `$GITHUB_ENV` by an earlier step) is never sourced, and
    /// exported functions are refused rather than imported.
    #[test]
    fn steps_ignore_bash_env_and_refuse_exported_functions() {
        let mut runner = Runner::new();
        let binary = runner.join("preinstalled/aigne-ci");
        write_executable(&binary, &fake_binary(VERSION));
        let marker = runner.join("bash-env-ran");
        let bash_env = runner.join("bash-env.sh");
        fs_err::write(&bash_env, format!("touch '{}'\n", marker.display())).unwrap();
        runner
            .env
            .insert("BASH_ENV".to_owned(), bash_env.display().to_string());
        runner.input("aigne-ci-path", binary.to_str().unwrap());
        let step = runner.run_step("install");
        assert_eq!(step.code, Some(0), "{}", step.log);
        assert!(!marker.exists(), "BASH_ENV was sourced");

        runner.env.insert(
            "BASH_FUNC_grep%%".to_owned(),
            "() {  echo hijacked; }".to_owned(),
        );
        let step = runner.run_step("install");
        assert_eq!(step.code, Some(1), "{}", step.log);
        assert!(step.log.contains("exported bash functions"), "{}", step.log);
        assert!(step.outputs.is_empty());
    }

    #[test]
    fn run_step_passes_inputs_only_as_env_and_keeps_the_exit_status() {
        let mut runner = Runner::new();
        let binary = runner.join("preinstalled/aigne-ci");
        write_executable(&binary, &fake_binary(VERSION));
        let log = runner.join("temp/run.log");
        runner
            .env
            .insert("FAKE_AIGNE_CI_LOG".to_owned(), log.display().to_string());
        runner
            .env
            .insert("FAKE_AIGNE_CI_EXIT".to_owned(), "1".to_owned());
        // Text that would run commands if it were ever pasted into a script.
        let hostile = r#"hi $(touch pwned) `touch pwned2` "; exit 7; ${HOME}"#;
        runner
            .input("aigne-ci-path", binary.to_str().unwrap())
            .input("url", "https://projects.example.invalid/hello.tgz")
            .input("agent", "chat")
            .input("prompt", hostile)
            .input("refresh", "true")
            .input("deny-exec", "TRUE")
            .input("token", "s3cret-token")
            .input("concurrency", "")
            .input("shard", "2/4")
            .input("min-pass-rate", "0.8");
        assert_eq!(runner.run_step("install").code, Some(0));
        let step = runner.run_step("run");
        assert_eq!(step.code, Some(1), "{}", step.log);
        assert_eq!(step.outputs["total"], "3");
        let outputs = runner.action_outputs();
        assert_eq!(outputs["total"], "3");
        assert_eq!(outputs["conclusion"], "failure");
        assert_eq!(outputs["passed"], "", "not written by the fake binary");
        assert_eq!(outputs["aigne-ci-path"], binary.to_str().unwrap());
        assert!(
            step.log.contains("::add-mask::s3cret-token"),
            "{}",
            step.log
        );
        assert!(!runner.join("workspace/pwned").exists());
        assert!(!runner.join("workspace/pwned2").exists());
        assert_eq!(
            fs_err::read_to_string(&log).unwrap(),
            format!(
                "argv: [run]\n\
                 AIGNE_CI_DENY_EXEC=TRUE\n\
                 AIGNE_CI_ENTRY_AGENT=chat\n\
                 AIGNE_CI_MIN_PASS_RATE=0.8\n\
                 AIGNE_CI_PROMPT={hostile}\n\
                 AIGNE_CI_REFRESH=true\n\
                 AIGNE_CI_SHARD=2/4\n\
                 AIGNE_CI_TOKEN=s3cret-token\n\
                 AIGNE_CI_URL=https://projects.example.invalid/hello.tgz\n"
            ),
            "empty inputs and `false` switches are unset; the rest arrive verbatim"
        );
    }

    #[test]
    fn run_step_merges_the_listed_shard_results() {
        let mut runner = Runner::new();
        let binary = runner.join("preinstalled/aigne-ci");
        write_executable(&binary, &fake_binary(VERSION));
        let log = runner.join("temp/run.log");
        runner
            .env
            .insert("FAKE_AIGNE_CI_LOG".to_owned(), log.display().to_string());
        for shard in ["shard-2", "shard-1", "shard-10"] {
            fs_err::create_dir_all(runner.join("workspace").join(shard)).unwrap();
        }
        runner
            .input("aigne-ci-path", binary.to_str().unwrap())
            .input("merge", "shard-*\n  late/results.jsonl $(touch pwned)")
            .input("out-dir", "merged")
            .input("fail-on", "never");
        assert_eq!(runner.run_step("install").code, Some(0));
        let step = runner.run_step("run");
        assert_eq!(step.code, Some(0), "{}", step.log);
        assert!(!runner.join("workspace/pwned").exists());
        assert_eq!(
            fs_err::read_to_string(&log).unwrap(),
            "argv: [merge] [--] [shard-1] [shard-10] [shard-2] [late/results.jsonl] [$(touch] [pwned)]\n\
             AIGNE_CI_FAIL_ON=never\n\
             AIGNE_CI_OUT_DIR=merged\n"
        );

        runner.input("merge", "nothing-*");
        let step = runner.run_step("run");
        assert_eq!(step.code, Some(1), "{}", step.log);
        assert!(
            step.log.contains("merge: no results match `nothing-*`"),
            "{}",
            step.log
        );
    }

    /// `comment: true` after a `merge` run with the real binary: the run step's `report-file`
    /// output names the report.html it wrote, and the comment step creates the pull request's
    /// comment with the job's `github.token`, then edits it on a rerun; `false` does nothing and
    /// anything else is refused.
    #[test]
    fn comment_step_upserts_the_comment_and_report_file_is_an_output() {
        use crate::common::fake_github::{Behaviour, FakeGithub};

        let mut runner = Runner::new();
        let binary = runner.join("preinstalled/aigne-ci");
        fs_err::create_dir_all(binary.parent().unwrap()).unwrap();
        fs_err::copy(crate::common::binary(), &binary).unwrap();
        // A shard's results (4 cases, 2 not passing) to merge: no model needed.
        crate::comment::out_dir(&runner.join("workspace"));
        let github = FakeGithub::start(Behaviour::default(), Vec::new());
        let event = runner.join("event.json");
        fs_err::write(
            &event,
            r#"{"pull_request": {"number": 7, "head": {"repo": {"full_name": "octo/repo"}}, "base": {"repo": {"full_name": "octo/repo"}}}}"#,
        )
        .unwrap();
        for (key, value) in [
            ("GITHUB_EVENT_NAME", "pull_request"),
            ("GITHUB_EVENT_PATH", event.to_str().unwrap()),
            ("GITHUB_REPOSITORY", "octo/repo"),
            ("GITHUB_API_URL", github.api_url.as_str()),
            ("GITHUB_WORKFLOW", "CI"),
            ("GITHUB_JOB", "eval"),
        ] {
            runner.env.insert(key.to_owned(), value.to_owned());
        }
        runner
            .input("aigne-ci-path", binary.to_str().unwrap())
            .input("merge", "out")
            .input("out-dir", "merged")
            .input("comment", "true");
        assert_eq!(runner.run_step("install").code, Some(0));
        let step = runner.run_step("run");
        assert_eq!(
            step.code,
            Some(1),
            "the merged run fails its policy: {}",
            step.log
        );
        let outputs = runner.action_outputs();
        let report = runner.join("workspace/merged/report.html");
        assert_eq!(outputs["report-file"], report.to_str().unwrap());
        assert!(report.is_file());
        assert_eq!(
            outputs["summary-file"],
            runner
                .join("workspace/merged/summary.json")
                .to_str()
                .unwrap()
        );

        let step = runner.run_step("comment");
        assert_eq!(step.code, Some(0), "{}", step.log);
        let seen = github.seen();
        let methods: Vec<&str> = seen.iter().map(|seen| seen.method.as_str()).collect();
        assert_eq!(methods, ["GET", "POST"], "{}", step.log);
        assert_eq!(
            seen[1].authorization.as_deref(),
            Some("Bearer ghs_simulatedJobToken0123456789"),
            "the default token is the job's `github.token`"
        );
        let body = seen[1].body["body"].as_str().unwrap();
        assert!(
            body.starts_with("<!-- aigne-ci:comment workflow=CI job=eval -->")
                && body.contains("aigne-ci: 2 of 4 passed"),
            "{body}"
        );
        assert!(
            !step.log.contains("ghs_simulatedJobToken0123456789")
                || step
                    .log
                    .lines()
                    .filter(|line| line.contains("ghs_simulatedJobToken0123456789"))
                    .all(|line| line.starts_with("::add-mask::")),
            "{}",
            step.log
        );

        // A rerun edits the same comment.
        let step = runner.run_step("comment");
        assert_eq!(step.code, Some(0), "{}", step.log);
        let methods: Vec<String> = github.seen()[2..]
            .iter()
            .map(|seen| seen.method.clone())
            .collect();
        assert_eq!(methods, ["GET", "PATCH"], "{}", step.log);
        assert_eq!(github.comments().len(), 1);

        // `false` does nothing; anything but `true`/`false` is refused.
        runner.input("comment", "false");
        let step = runner.run_step("comment");
        assert_eq!(step.code, Some(0), "{}", step.log);
        runner.input("comment", "yes");
        let step = runner.run_step("comment");
        assert_eq!(step.code, Some(1), "{}", step.log);
        assert!(
            step.log.contains("expected `true` or `false`"),
            "{}",
            step.log
        );
        assert_eq!(github.seen().len(), 4, "no request without `comment: true`");
    }

    #[test]
    fn run_step_rejects_a_switch_that_is_not_a_boolean() {
        let mut runner = Runner::new();
        let binary = runner.join("preinstalled/aigne-ci");
        write_executable(&binary, &fake_binary(VERSION));
        runner
            .input("aigne-ci-path", binary.to_str().unwrap())
            .input("offline", "yes please");
        assert_eq!(runner.run_step("install").code, Some(0));
        let step = runner.run_step("run");
        assert_eq!(step.code, Some(1), "{}", step.log);
        assert!(
            step.log.contains("expected `true` or `false`"),
            "{}",
            step.log
        );
    }

    fn plan(runner: &mut Runner) -> super::runner::StepRun {
        let step = runner.run_step("cache-plan");
        assert_eq!(step.code, Some(0), "{}", step.log);
        step
    }

    #[test]
    fn cache_plan_keys_and_cache_poisoning_defaults() {
        let url = "https://projects.example.invalid/hello.tgz";
        let pinned = "AB".repeat(32);
        let mut runner = Runner::new();
        runner.input("url", url).input("sha256", &pinned);
        let step = plan(&mut runner);
        let project = &sha256_hex(format!("{url}\n\n").as_bytes())[..16];
        let prefix = format!("aigne-ci-v1-{}-{}-{project}-", runner_os(), runner_arch());
        assert_eq!(step.outputs["restore-prefix"], prefix);
        assert_eq!(step.outputs["key"], format!("{prefix}{}", "ab".repeat(32)));
        assert_eq!(
            step.outputs["path"],
            runner.join("workspace/.aigne-cache").to_str().unwrap()
        );
        assert_eq!(step.outputs["restore"], "true");
        assert_eq!(step.outputs["save"], "true");

        // Another subdir of the same archive is another project.
        runner.input("subdir", "agents/b");
        let other = plan(&mut runner);
        assert_ne!(other.outputs["restore-prefix"], prefix);

        for event in ["pull_request_target", "workflow_run"] {
            runner
                .env
                .insert("GITHUB_EVENT_NAME".to_owned(), event.to_owned());
            let step = plan(&mut runner);
            assert_eq!(step.outputs["restore"], "true", "{event}");
            assert_eq!(step.outputs["save"], "false", "{event}");
            assert!(step.log.contains("::notice"), "{}", step.log);
        }
        runner.input("cache", "true");
        assert_eq!(plan(&mut runner).outputs["save"], "true");

        runner.env.remove("GITHUB_EVENT_NAME");
        runner.input("cache", "restore-only");
        let step = plan(&mut runner);
        assert_eq!(
            (
                step.outputs["restore"].as_str(),
                step.outputs["save"].as_str()
            ),
            ("true", "false")
        );
        runner.input("cache", "false");
        let step = plan(&mut runner);
        assert_eq!(
            (
                step.outputs["restore"].as_str(),
                step.outputs["save"].as_str()
            ),
            ("false", "false")
        );

        runner.input("cache", "sometimes");
        assert_eq!(runner.run_step("cache-plan").code, Some(1));
    }

    #[test]
    fn cache_plan_skips_projects_in_the_workspace_and_honours_cache_dir() {
        let mut runner = Runner::new();
        runner
            .input("url", "examples/hello")
            .input("cache-dir", "/tmp/elsewhere");
        let step = plan(&mut runner);
        assert_eq!(step.outputs["restore"], "false");
        assert_eq!(step.outputs["save"], "false");
        assert_eq!(step.outputs["path"], "/tmp/elsewhere");
        assert!(step.outputs["key"].ends_with("-unpinned"));
    }

    #[test]
    fn update_manifest_replaces_only_its_version() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("release-manifest.txt");
        fs_err::write(
            &manifest,
            format!(
                "# comment\n{}  aigne-ci-0.0.9-x86_64-apple-darwin.tar.gz\n{}  aigne-ci-0.1.0-x86_64-pc-windows-msvc.zip\n",
                "1".repeat(64),
                "2".repeat(64)
            ),
        )
        .unwrap();
        let dist = dir.path().join("dist");
        fs_err::create_dir(&dist).unwrap();
        fs_err::write(
            dist.join("aigne-ci-0.1.0-x86_64-unknown-linux-musl.tar.gz"),
            "linux",
        )
        .unwrap();
        fs_err::write(
            dist.join("aigne-ci-0.1.0-x86_64-pc-windows-msvc.zip"),
            "windows",
        )
        .unwrap();
        fs_err::write(
            dist.join("aigne-ci-0.2.0-x86_64-pc-windows-msvc.zip"),
            "other",
        )
        .unwrap();
        let updated = Command::new("bash")
            .arg(root().join("scripts/update-manifest.sh"))
            .args(["v0.1.0", dist.to_str().unwrap(), manifest.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(updated.status.success(), "{updated:?}");
        assert_eq!(
            String::from_utf8_lossy(&updated.stdout),
            "aigne-ci: release-manifest: 2 archives of 0.1.0 recorded\n"
        );
        assert_eq!(
            fs_err::read_to_string(&manifest).unwrap(),
            format!(
                "# comment\n{}  aigne-ci-0.0.9-x86_64-apple-darwin.tar.gz\n{}  aigne-ci-0.1.0-x86_64-pc-windows-msvc.zip\n{}  aigne-ci-0.1.0-x86_64-unknown-linux-musl.tar.gz\n",
                "1".repeat(64),
                sha256_hex(b"windows"),
                sha256_hex(b"linux"),
            )
        );
    }
}
