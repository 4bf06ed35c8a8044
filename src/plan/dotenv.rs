//! The `.env` files of a run, read once: dotenv-flow precedence, as the AIGNE CLI loads them.
//!
//! Input: the [`Environment`] snapshot and the folders to read (the current folder, then the
//! project folder). Output: [`ProjectEnv`], the environment with every file's variables merged
//! under it, and where each added variable came from (for the trust check of
//! [`super::trust`] and the masks of the report). Nothing else in aigne-ci opens a `.env` file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::project::{FileAccess, LoadSettings};
use crate::settings::{Environment, is_secret_name};

/// A `.env` file could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read `{}`", path.display())]
pub struct DotEnvError {
    /// The file.
    pub path: PathBuf,
    #[source]
    pub source: dotenvy::Error,
}

impl From<DotEnvError> for crate::model::ModelError {
    fn from(error: DotEnvError) -> Self {
        Self::DotEnv {
            path: error.path,
            source: error.source,
        }
    }
}

/// The environment with the `.env` files merged under it.
#[derive(Debug, Clone, Default)]
pub struct ProjectEnv {
    /// Real environment > current-folder files > project-folder files.
    pub variables: BTreeMap<String, String>,
    /// Every variable a `.env` file added (the real environment did not set it), with the file
    /// it came from.
    pub origins: BTreeMap<String, PathBuf>,
    /// Every `.env` file read, in reading order.
    pub files: Vec<PathBuf>,
    /// The project folder (absolute).
    pub project_dir: PathBuf,
}

impl ProjectEnv {
    /// Reads the `.env*` files of the current folder and of `project_dir` (AIGNE's `run` command
    /// loads them from the agent folder), once. Each is read like every file a project names
    /// (`files`: `--max-file-size`, `--allow-read`, the cancel flag): a regular file within the
    /// cap that, symlinks followed, stays inside its folder.
    pub fn read(
        environment: &Environment,
        project_dir: &Path,
        files: &LoadSettings,
    ) -> Result<Self, DotEnvError> {
        let project_dir = environment.absolute(project_dir);
        let folders = [environment.current_dir.clone(), project_dir.clone()];
        let mut loaded = load_dotenv_flow(&environment.variables, &folders, files)?;
        loaded.project_dir = project_dir;
        Ok(loaded)
    }

    /// Only the real environment (no file read): what a run without a project folder sees.
    pub fn without_files(environment: &Environment) -> Self {
        Self {
            variables: environment.variables.clone(),
            origins: BTreeMap::new(),
            files: Vec::new(),
            project_dir: environment.current_dir.clone(),
        }
    }

    /// The values of secret-named variables (`*_API_KEY`, `*_TOKEN`, …) that the files add to
    /// the environment: the report masks them like the environment's own.
    pub fn secrets(&self) -> Vec<String> {
        self.origins
            .keys()
            .filter(|name| is_secret_name(name))
            .filter_map(|name| self.variables.get(name))
            .filter(|value| !value.trim().is_empty())
            .cloned()
            .collect()
    }

    /// A variable's value, when set and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.variables
            .get(name)
            .map(String::as_str)
            .filter(|value| !value.is_empty())
    }

    /// The `.env` file a variable came from (`None`: the real environment, or unset).
    pub fn origin(&self, name: &str) -> Option<&Path> {
        self.origins.get(name).map(PathBuf::as_path)
    }
}

/// dotenv-flow's files for one folder, lowest priority first: `.env.defaults`, `.env`,
/// `.env.local` (skipped when `NODE_ENV=test`), `.env.<NODE_ENV>`, `.env.<NODE_ENV>.local`.
fn dotenv_files(folder: &Path, node_env: Option<&str>) -> Vec<PathBuf> {
    let mut names = vec![".env.defaults".to_owned(), ".env".to_owned()];
    if node_env != Some("test") {
        names.push(".env.local".to_owned());
    }
    if let Some(node_env) = node_env {
        names.push(format!(".env.{node_env}"));
        names.push(format!(".env.{node_env}.local"));
    }
    names
        .into_iter()
        .map(|name| folder.join(name))
        // Present at all (a FIFO or a device named `.env` is an error, not skipped).
        .filter(|path| path.exists() && !path.is_dir())
        .collect()
}

/// The environment with each folder's `.env*` files merged under it (dotenv-flow `config` run
/// once per folder: a variable already set is never overridden, so the real environment wins,
/// then earlier folders).
pub fn load_dotenv_flow(
    environment: &BTreeMap<String, String>,
    folders: &[PathBuf],
    files_settings: &LoadSettings,
) -> Result<ProjectEnv, DotEnvError> {
    let mut variables = environment.clone();
    let mut origins = BTreeMap::new();
    let mut files = Vec::new();
    let mut seen = Vec::new();
    for folder in folders {
        if seen.contains(folder) {
            continue;
        }
        seen.push(folder.clone());
        let node_env = variables.get("NODE_ENV").cloned();
        let mut merged: BTreeMap<String, (String, PathBuf)> = BTreeMap::new();
        let paths = dotenv_files(folder, node_env.as_deref().filter(|env| !env.is_empty()));
        if paths.is_empty() {
            continue;
        }
        // Read like every file a project names: inside its folder once symlinks are followed,
        // a regular file within `--max-file-size` (a FIFO or `/dev/zero` named `.env` would
        // otherwise hold the run; a symlink would bring in a file from elsewhere).
        let access = FileAccess::new(folder, files_settings).map_err(|error| DotEnvError {
            path: folder.clone(),
            source: dotenvy::Error::Io(std::io::Error::other(error.to_string())),
        })?;
        for path in paths {
            let text = access
                .read_text_unlocated(&path)
                .map_err(|problem| DotEnvError {
                    path: path.clone(),
                    source: dotenvy::Error::Io(std::io::Error::other(problem.to_string())),
                })?;
            let iter = dotenvy::from_read_iter(std::io::Cursor::new(text));
            for item in iter {
                let (key, value) = item.map_err(|source| DotEnvError {
                    path: path.clone(),
                    source,
                })?;
                merged.insert(key, (value, path.clone()));
            }
            files.push(path);
        }
        for (key, (value, path)) in merged {
            if !variables.contains_key(&key) {
                variables.insert(key.clone(), value);
                origins.insert(key, path);
            }
        }
    }
    Ok(ProjectEnv {
        variables,
        origins,
        files,
        project_dir: folders.last().cloned().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        fs_err::write(path, text).unwrap();
    }

    #[test]
    fn dotenv_flow_precedence() {
        let cwd = tempfile::tempdir().unwrap();
        let project = tempfile::tempdir().unwrap();
        write(
            &cwd.path().join(".env"),
            "A=cwd-env\nB=cwd-env\nC=cwd-env\n",
        );
        write(&cwd.path().join(".env.local"), "B=cwd-local\n");
        write(
            &project.path().join(".env"),
            "C=project\nD=project\nE=project\n",
        );
        write(
            &project.path().join(".env.production"),
            "E=project-production\n",
        );
        let mut environment = BTreeMap::new();
        environment.insert("A".to_owned(), "real".to_owned());
        environment.insert("NODE_ENV".to_owned(), "production".to_owned());
        let loaded = load_dotenv_flow(
            &environment,
            &[cwd.path().to_path_buf(), project.path().to_path_buf()],
            &LoadSettings::default(),
        )
        .unwrap();
        let get = |key: &str| loaded.variables.get(key).map(String::as_str);
        assert_eq!(get("A"), Some("real"));
        assert_eq!(get("B"), Some("cwd-local"));
        assert_eq!(get("C"), Some("cwd-env"));
        assert_eq!(get("D"), Some("project"));
        assert_eq!(get("E"), Some("project-production"));
        // Where each added variable came from; the real environment's are not files'.
        assert_eq!(loaded.origin("A"), None);
        assert_eq!(
            loaded.origin("B"),
            Some(cwd.path().join(".env.local").as_path())
        );
        assert_eq!(loaded.origin("C"), Some(cwd.path().join(".env").as_path()));
        assert_eq!(
            loaded.origin("E"),
            Some(project.path().join(".env.production").as_path())
        );
        assert_eq!(loaded.files.len(), 4);
    }

    #[test]
    fn test_env_skips_local() {
        let cwd = tempfile::tempdir().unwrap();
        write(&cwd.path().join(".env"), "A=env\n");
        write(&cwd.path().join(".env.local"), "A=local\n");
        write(&cwd.path().join(".env.test.local"), "B=test-local\n");
        let mut environment = BTreeMap::new();
        environment.insert("NODE_ENV".to_owned(), "test".to_owned());
        let loaded = load_dotenv_flow(
            &environment,
            &[cwd.path().to_path_buf()],
            &LoadSettings::default(),
        )
        .unwrap();
        assert_eq!(loaded.variables.get("A").map(String::as_str), Some("env"));
        assert_eq!(
            loaded.variables.get("B").map(String::as_str),
            Some("test-local")
        );
    }

    #[test]
    fn secrets_are_the_files_own() {
        let project = tempfile::tempdir().unwrap();
        write(
            &project.path().join(".env"),
            "OPENAI_API_KEY=sk-project\nGITHUB_TOKEN=same\nMODEL=openai:x\n",
        );
        let mut environment = BTreeMap::new();
        environment.insert("GITHUB_TOKEN".to_owned(), "same".to_owned());
        let environment = Environment::from_variables(environment, project.path().to_path_buf());
        let loaded =
            ProjectEnv::read(&environment, project.path(), &LoadSettings::default()).unwrap();
        assert_eq!(loaded.secrets(), vec!["sk-project".to_owned()]);
    }
}
