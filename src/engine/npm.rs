//! npm installs: the official AIGNE packages for `--engine node`, and a project's own
//! `package.json` dependencies before its JavaScript runs.
//!
//! Installs run with install scripts off (unless the caller allows them), no audit, no fund
//! messages, into a temp folder renamed into place, under a lock so parallel jobs sharing a
//! cache install once.
//!
//! A project's own dependencies are our addition (the official runtime installs nothing), so
//! they never break a project: the callers warn about a failed install and go on. Nothing but
//! `node_modules` is written into the project folder (`npm install` runs with
//! `--no-package-lock`; the lock and the incomplete-install marker live in the cache), since a
//! source folder may be read-only or a git checkout.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::process::{self, ChildSpec, SubprocessLog, find_program};

/// Most bytes of npm's stderr kept in an error.
const STDERR_EXCERPT_BYTES: usize = 4000;

/// Why an npm install failed.
#[derive(Debug, thiserror::Error)]
pub enum NpmError {
    /// `--deny-exec` forbids running npm.
    #[error("refusing to run `npm install` in `{dir}` because `--deny-exec` is set")]
    Denied {
        /// Where it would have run.
        dir: PathBuf,
    },
    /// No npm on `PATH`.
    #[error("`npm` was not found on PATH; it is needed to install `{what}`")]
    NpmMissing {
        /// What was to be installed.
        what: String,
    },
    /// Reading `package.json`, creating folders, locking or renaming failed.
    #[error("cannot prepare the npm install in `{path}`")]
    Io {
        /// The path.
        path: PathBuf,
        /// The io error.
        #[source]
        source: std::io::Error,
    },
    /// `package.json` is not JSON.
    #[error("`{path}` is not valid JSON: {message}")]
    PackageJson {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// npm ran and failed.
    #[error("`npm install` of `{what}` failed{status}:\n{stderr}")]
    Failed {
        /// What was being installed.
        what: String,
        /// The folder npm ran in.
        dir: PathBuf,
        /// `" with status N"`.
        status: String,
        /// The end of npm's stderr.
        stderr: String,
    },
    /// `package.json` names dependencies by a monorepo protocol npm cannot install.
    #[error(
        "`{path}` depends on {} through a monorepo protocol npm cannot install",
        names.iter().map(|(name, spec)| format!("`{name}@{spec}`")).collect::<Vec<_>>().join(", ")
    )]
    MonorepoProtocol {
        /// The `package.json`.
        path: PathBuf,
        /// `(name, version spec)` of each such dependency.
        names: Vec<(String, String)>,
    },
}

impl NpmError {
    /// How to fix it: the real cause, as far as it can be told.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::NpmMissing { .. } => Some(
                "install npm (it comes with Node.js), or commit `node_modules` with the project"
                    .to_owned(),
            ),
            Self::MonorepoProtocol { .. } => Some(
                "`workspace:` (and `catalog:`) versions belong to a pnpm/yarn monorepo: the \
                 package was copied out of its monorepo. Install its dependencies with the \
                 monorepo's package manager before the run, or replace those versions with \
                 published ones"
                    .to_owned(),
            ),
            Self::Failed { dir, stderr, .. }
                if ["EACCES", "EROFS", "EPERM"]
                    .iter()
                    .any(|code| stderr.contains(code)) =>
            {
                Some(format!(
                    "npm cannot write into `{}` (a read-only folder, or one owned by another \
                     user): install the dependencies before the run (or restore \
                     `node_modules`), or run from a writable copy of the project",
                    dir.display()
                ))
            }
            Self::Failed { stderr, .. } if stderr.contains("EUNSUPPORTEDPROTOCOL") => Some(
                "a dependency uses a version protocol npm does not know (a pnpm/yarn monorepo's): \
                 install the dependencies with that package manager before the run"
                    .to_owned(),
            ),
            Self::Failed { .. } => Some(
                "with `--offline`, npm can only use packages already in its cache; install \
                 scripts run only with `--allow-install-scripts`"
                    .to_owned(),
            ),
            _ => None,
        }
    }
}

/// Version protocols of pnpm/yarn monorepos that npm rejects (`EUNSUPPORTEDPROTOCOL`).
const MONOREPO_PROTOCOLS: [&str; 2] = ["workspace:", "catalog:"];

/// How npm runs.
#[derive(Debug, Clone)]
pub struct NpmSettings {
    /// The complete environment npm gets (its `PATH` is where npm is looked up).
    pub env: BTreeMap<String, String>,
    /// `--deny-exec`.
    pub deny_exec: bool,
    /// `--allow-install-scripts` (project dependencies only).
    pub allow_install_scripts: bool,
    /// `--offline`: npm uses only its own cache (`--offline`) and never the registry.
    pub offline: bool,
    /// Where a project install keeps its lock and its incomplete-install marker (a cache
    /// folder, never the project).
    pub state_dir: PathBuf,
}

/// The lock and the incomplete-install marker of one project folder, in the state folder,
/// named after the folder's absolute path.
struct StateFiles {
    lock: PathBuf,
    /// Present while npm installs: a run killed half-way leaves it behind, and the next run
    /// installs again instead of trusting a partial `node_modules`.
    incomplete: PathBuf,
}

impl StateFiles {
    fn new(state_dir: &Path, project_dir: &Path) -> Self {
        use sha2::Digest as _;
        let absolute = std::path::absolute(project_dir).unwrap_or_else(|_| project_dir.into());
        let digest = sha2::Sha256::digest(absolute.as_os_str().as_encoded_bytes());
        let key = hex::encode(&digest[..12]);
        Self {
            lock: state_dir.join(format!("{key}.lock")),
            incomplete: state_dir.join(format!("{key}.incomplete")),
        }
    }

    /// Whether a project folder's dependencies are in place: `node_modules` exists and no
    /// install of ours was cut short in it.
    fn dependencies_present(&self, project_dir: &Path) -> bool {
        project_dir.join("node_modules").is_dir() && !self.incomplete.exists()
    }
}

/// Runs `npm ci` (with a `package-lock.json`) or `npm install` for a project whose
/// `package.json` has `dependencies` and which has no `node_modules` yet, once per project
/// folder (a cache entry): later runs find `node_modules` and do nothing; parallel runs wait on
/// one lock and install once. Install scripts stay off unless allowed; `--offline` keeps npm off
/// the registry. Returns whether it installed.
pub async fn install_project_dependencies(
    project_dir: &Path,
    settings: &NpmSettings,
    log: &SubprocessLog,
) -> Result<bool, NpmError> {
    let manifest = project_dir.join("package.json");
    let state = StateFiles::new(&settings.state_dir, project_dir);
    if !manifest.is_file() || state.dependencies_present(project_dir) {
        return Ok(false);
    }
    let text = fs_err::read_to_string(&manifest).map_err(|source| NpmError::Io {
        path: manifest.clone(),
        source,
    })?;
    let package: Value = serde_json::from_str(&text).map_err(|error| NpmError::PackageJson {
        path: manifest.clone(),
        message: error.to_string(),
    })?;
    let Some(dependencies) = package
        .get("dependencies")
        .and_then(Value::as_object)
        .filter(|dependencies| !dependencies.is_empty())
    else {
        return Ok(false);
    };
    let monorepo: Vec<(String, String)> = dependencies
        .iter()
        .filter_map(|(name, spec)| {
            let spec = spec.as_str()?;
            MONOREPO_PROTOCOLS
                .iter()
                .any(|protocol| spec.starts_with(protocol))
                .then(|| (name.clone(), spec.to_owned()))
        })
        .collect();
    if !monorepo.is_empty() {
        return Err(NpmError::MonorepoProtocol {
            path: manifest,
            names: monorepo,
        });
    }
    fs_err::create_dir_all(&settings.state_dir).map_err(|source| NpmError::Io {
        path: settings.state_dir.clone(),
        source,
    })?;
    let _lock = lock(&state.lock).await?;
    if state.dependencies_present(project_dir) {
        return Ok(false);
    }
    fs_err::write(&state.incomplete, b"").map_err(|source| NpmError::Io {
        path: state.incomplete.clone(),
        source,
    })?;
    let lockfile = project_dir.join("package-lock.json").is_file();
    let mut args = vec![if lockfile { "ci" } else { "install" }.to_owned()];
    args.extend(common_args(settings.allow_install_scripts));
    if !lockfile {
        // No `package-lock.json` written into the project.
        args.push("--no-package-lock".to_owned());
    }
    if settings.offline {
        args.push("--offline".to_owned());
    }
    run_npm(
        &args,
        project_dir,
        settings,
        log,
        &format!("the dependencies of `{}`", manifest.display()),
    )
    .await?;
    fs_err::remove_file(&state.incomplete).map_err(|source| NpmError::Io {
        path: state.incomplete.clone(),
        source,
    })?;
    // Waiting runs hold the unlinked file's lock, find `node_modules` and return; new runs
    // find it before they lock.
    let _ = fs_err::remove_file(&state.lock);
    Ok(true)
}

/// Installs `package@version` into `target` (`target/node_modules/…`) unless it is already
/// there. Install scripts stay off. Returns whether it installed.
pub async fn install_package(
    package: &str,
    version: &str,
    target: &Path,
    settings: &NpmSettings,
    log: &SubprocessLog,
) -> Result<bool, NpmError> {
    let marker = target
        .join("node_modules")
        .join(package)
        .join("package.json");
    if marker.is_file() {
        return Ok(false);
    }
    let parent = target.parent().unwrap_or(target);
    fs_err::create_dir_all(parent).map_err(|source| NpmError::Io {
        path: parent.to_path_buf(),
        source,
    })?;
    let lock_path = target.with_extension("lock");
    let _lock = lock(&lock_path).await?;
    if marker.is_file() {
        return Ok(false);
    }
    let staging = tempfile::Builder::new()
        .prefix(".install-")
        .tempdir_in(parent)
        .map_err(|source| NpmError::Io {
            path: parent.to_path_buf(),
            source,
        })?;
    let manifest = serde_json::json!({
        "name": "aigne-ci-node-engine",
        "private": true,
        "dependencies": { package: version },
    });
    let manifest_path = staging.path().join("package.json");
    fs_err::write(&manifest_path, manifest.to_string()).map_err(|source| NpmError::Io {
        path: manifest_path.clone(),
        source,
    })?;
    let mut args = vec!["install".to_owned()];
    args.extend(common_args(false));
    run_npm(
        &args,
        staging.path(),
        settings,
        log,
        &format!("{package}@{version}"),
    )
    .await?;
    if target.exists() {
        fs_err::remove_dir_all(target).map_err(|source| NpmError::Io {
            path: target.to_path_buf(),
            source,
        })?;
    }
    let staged = staging.keep();
    fs_err::rename(&staged, target).map_err(|source| NpmError::Io {
        path: target.to_path_buf(),
        source,
    })?;
    Ok(true)
}

fn common_args(allow_install_scripts: bool) -> Vec<String> {
    let mut args = vec![
        "--no-audit".to_owned(),
        "--no-fund".to_owned(),
        "--omit=dev".to_owned(),
        "--loglevel=error".to_owned(),
        "--no-update-notifier".to_owned(),
    ];
    if !allow_install_scripts {
        args.push("--ignore-scripts".to_owned());
    }
    args
}

async fn run_npm(
    args: &[String],
    dir: &Path,
    settings: &NpmSettings,
    log: &SubprocessLog,
    what: &str,
) -> Result<(), NpmError> {
    if settings.deny_exec {
        return Err(NpmError::Denied {
            dir: dir.to_path_buf(),
        });
    }
    let program = find_program("npm", &settings.env, dir).ok_or_else(|| NpmError::NpmMissing {
        what: what.to_owned(),
    })?;
    let spec = ChildSpec {
        purpose: "npm-install".to_owned(),
        program: program.clone(),
        args: args.to_vec(),
        env: settings.env.clone(),
        working_dir: dir.to_path_buf(),
        stdin: false,
        stdout: false,
    };
    // Its own process group, killed whole when this future is dropped (a signal or the total
    // timeout before the first case): npm's own children must not outlive the run.
    let mut child = process::spawn(&spec, log).map_err(|source| NpmError::Io {
        path: program.clone(),
        source,
    })?;
    let waited = child.wait().await;
    // npm has exited: whatever it left in its group goes now, and its stderr is read to the end.
    let exited = child.shutdown(std::time::Duration::ZERO).await;
    let status = waited.map_err(|source| NpmError::Io {
        path: program,
        source,
    })?;
    if status.success() {
        return Ok(());
    }
    let stderr = &exited.stderr;
    let start = stderr.len().saturating_sub(STDERR_EXCERPT_BYTES);
    let start = (start..stderr.len())
        .find(|index| stderr.is_char_boundary(*index))
        .unwrap_or(stderr.len());
    Err(NpmError::Failed {
        what: what.to_owned(),
        dir: dir.to_path_buf(),
        status: exited.describe(),
        stderr: stderr[start..].trim().to_owned(),
    })
}

/// An exclusive lock on `path`, taken off the async threads; released on drop.
async fn lock(path: &Path) -> Result<std::fs::File, NpmError> {
    let path = path.to_path_buf();
    let error_path = path.clone();
    let locked = tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
        // Never through a symlink, nor blocking on a FIFO planted in the cache.
        let file = crate::output_file::open_lock_file(&path)?;
        file.lock()?;
        Ok(file)
    })
    .await
    .map_err(|error| NpmError::Io {
        path: error_path.clone(),
        source: std::io::Error::other(error.to_string()),
    })?;
    locked.map_err(|source| NpmError::Io {
        path: error_path,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> NpmSettings {
        NpmSettings {
            env: BTreeMap::new(),
            deny_exec: false,
            allow_install_scripts: false,
            offline: false,
            state_dir: std::env::temp_dir().join("aigne-ci-npm-unit-test-state"),
        }
    }

    #[tokio::test]
    async fn projects_without_dependencies_or_with_node_modules_are_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let log = SubprocessLog::default();
        assert!(
            !install_project_dependencies(dir.path(), &settings(), &log)
                .await
                .unwrap()
        );
        fs_err::write(dir.path().join("package.json"), r#"{"dependencies": {}}"#).unwrap();
        assert!(
            !install_project_dependencies(dir.path(), &settings(), &log)
                .await
                .unwrap()
        );
        fs_err::write(
            dir.path().join("package.json"),
            r#"{"dependencies": {"left-pad": "1"}}"#,
        )
        .unwrap();
        fs_err::create_dir(dir.path().join("node_modules")).unwrap();
        assert!(
            !install_project_dependencies(dir.path(), &settings(), &log)
                .await
                .unwrap()
        );
        assert!(log.records().is_empty());
    }

    #[tokio::test]
    async fn missing_npm_and_deny_exec_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let log = SubprocessLog::default();
        fs_err::write(
            dir.path().join("package.json"),
            r#"{"dependencies": {"left-pad": "1"}}"#,
        )
        .unwrap();
        let error = install_project_dependencies(dir.path(), &settings(), &log)
            .await
            .unwrap_err();
        assert!(
            error.to_string().starts_with(
                "`npm` was not found on PATH; it is needed to install `the dependencies of `"
            ),
            "{error}"
        );
        let mut denied = settings();
        denied.deny_exec = true;
        let error = install_project_dependencies(dir.path(), &denied, &log)
            .await
            .unwrap_err();
        assert!(matches!(error, NpmError::Denied { .. }), "{error}");
    }
}
