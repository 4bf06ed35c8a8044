//! [`ProjectError`]: every variant names the file (and the line when the YAML parser or the
//! key search knows it).

use std::fmt;
use std::path::PathBuf;

/// A place in a project file: `path:line:column`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file.
    pub path: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
}

impl Location {
    /// A location without a line.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            line: None,
            column: None,
        }
    }

    /// A location at a line.
    pub fn line(path: impl Into<PathBuf>, line: Option<usize>) -> Self {
        Self {
            path: path.into(),
            line,
            column: None,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(formatter, ":{line}")?;
            if let Some(column) = self.column {
                write!(formatter, ":{column}")?;
            }
        }
        Ok(())
    }
}

/// Stage 2 failed: the project does not load.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    /// No `aigne.yaml`/`aigne.yml` at the given path.
    #[error("`aigne.yaml` not found in `{}`", path.display())]
    NotFound {
        /// Where we looked.
        path: PathBuf,
    },
    /// A file could not be read.
    #[error("cannot read `{}`", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file the project names cannot be used: outside the project, not a regular file, over
    /// the size cap, not UTF-8, or unreadable.
    #[error("`{}`{} {problem}", target.display(), named_at(reference.as_ref()))]
    File {
        /// The file as the project names it.
        target: PathBuf,
        /// Where it is named (the referring file and line); `None` for `aigne.yaml` itself.
        reference: Option<Location>,
        /// What is wrong with it (its message is part of this one, so it is no `source`).
        problem: Box<super::files::FileProblem>,
    },
    /// A file is not valid YAML (or JSON).
    #[error("cannot parse `{location}`: {message}")]
    Parse {
        /// File, line and column from the parser.
        location: Location,
        /// The parser's message.
        message: String,
    },
    /// A file parses but does not have the shape AIGNE expects.
    #[error("invalid `{location}`: {message}")]
    Invalid {
        /// File and line of the offending key.
        location: Location,
        /// What is wrong.
        message: String,
    },
    /// An agent file with an extension AIGNE cannot load.
    #[error("unsupported agent file type `{}` (expected `.yaml`, `.yml`, `.js`, `.mjs`, `.ts` or `.mts`)", path.display())]
    UnsupportedFileType {
        /// The file.
        path: PathBuf,
    },
    /// Agent references nest deeper than the loader allows (usually a reference cycle).
    #[error(
        "agent references nest deeper than {limit} levels at `{location}` (a reference cycle?)"
    )]
    TooDeep {
        /// Where the last reference was.
        location: Location,
        /// The limit.
        limit: usize,
    },
    /// No agent with this name.
    #[error("agent `{name}` not found in the project")]
    AgentNotFound {
        /// The name asked for.
        name: String,
        /// The names there are.
        available: Vec<String>,
    },
    /// The project lists no agents and none was named.
    #[error("the project at `{}` lists no agents", path.display())]
    NoAgents {
        /// `aigne.yaml`.
        path: PathBuf,
    },
}

fn named_at(reference: Option<&Location>) -> String {
    reference.map_or_else(String::new, |reference| {
        format!(" (named at `{reference}`)")
    })
}

impl crate::hint::Hint for ProjectError {
    fn hint(&self) -> Option<String> {
        match self {
            Self::NotFound { .. } => Some(
                "pass the folder that holds `aigne.yaml`, or the path of the file itself (`--subdir` picks a folder inside an archive)".to_owned(),
            ),
            Self::AgentNotFound { available, .. } if !available.is_empty() => Some(format!(
                "available agents: {}",
                available
                    .iter()
                    .map(|name| format!("`{name}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Self::File { problem, .. } => match problem.as_ref() {
                super::files::FileProblem::Outside { .. } => Some(
                    "a project reads only files inside its folder; pass `--allow-read DIR` to open one more folder on purpose".to_owned(),
                ),
                super::files::FileProblem::TooLarge { .. } => {
                    Some("raise `--max-file-size` if the file is meant to be this large".to_owned())
                }
                super::files::FileProblem::NotRegular { .. } => Some(
                    "a project may name only regular files (no devices, FIFOs or sockets)".to_owned(),
                ),
                _ => None,
            },
            Self::NoAgents { .. } => Some("add agent files under `agents:` in `aigne.yaml`, or name the agent to run".to_owned()),
            _ => None,
        }
    }
}
