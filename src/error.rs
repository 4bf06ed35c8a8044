//! The top-level [`Error`]: one variant per stage, each mapped to an [`ExitStatus`].
//!
//! Stage errors carry their own context (url, path and line, agent, provider and status);
//! this enum only routes them to an exit status and a hint.

use crate::exit_status::ExitStatus;
use crate::hint::Hint;

/// Everything that stops aigne-ci before a run completes.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad flags or settings.
    #[error("{message}")]
    Usage {
        /// What is wrong, naming the flag or value.
        message: String,
        /// How to fix it.
        hint: Option<String>,
    },
    /// Stage 1.
    #[error(transparent)]
    Fetch(#[from] crate::fetch::FetchError),
    /// Stage 4.
    #[error(transparent)]
    Batch(#[from] crate::batch::BatchError),
    /// Stage 5.
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
    /// `--baseline` cannot be read.
    #[error(transparent)]
    Baseline(#[from] crate::report::BaselineError),
    /// Stage 2: the project does not load.
    #[error(transparent)]
    Project(#[from] crate::project::ProjectError),
    /// Stage 3b, when an invocation fails for the whole run (unsupported feature, no agent).
    #[error(transparent)]
    Invoke(#[from] crate::engine::InvokeError),
    /// Stage 3a, when a model cannot be set up (missing key, unsupported provider, cassette).
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    /// A project `.env` would send the runner's credentials to a host it chose.
    #[error(transparent)]
    ProjectEnv(#[from] crate::plan::trust::RedirectError),
    /// SIGINT/SIGTERM or `--total-timeout` stopped the run while it was still preparing
    /// (fetching, installing, starting the engine): no case had started.
    #[error("{}, before the first case (while {})", match .reason {
        crate::batch::StopReason::Interrupted => "interrupted".to_owned(),
        crate::batch::StopReason::TotalTimeout => format!(
            "the total timeout of {} ran out",
            .limit.map(humantime::format_duration).map(|limit| limit.to_string()).unwrap_or_default()
        ),
    }, .stage)]
    StoppedBeforeCases {
        reason: crate::batch::StopReason,
        /// What the run was doing: "reading the inputs", "fetching the project and starting the
        /// engine".
        stage: &'static str,
        /// `--total-timeout`.
        limit: Option<std::time::Duration>,
    },
    /// `aigne-ci comment` cannot write the comment.
    #[error(transparent)]
    Comment(#[from] crate::comment::CommentError),
    /// SIGINT/SIGTERM stopped `aigne-ci fetch`.
    #[error(transparent)]
    FetchInterrupted(#[from] FetchInterrupted),
}

/// `aigne-ci fetch` stopped by SIGINT/SIGTERM (exit 130; the staging folder is removed).
#[derive(Debug, thiserror::Error)]
#[error("interrupted while fetching the project: nothing was cached")]
pub struct FetchInterrupted;

/// The plan's errors keep their own variant here, so exit statuses and hints stay as they were.
impl From<crate::plan::PlanError> for Error {
    fn from(error: crate::plan::PlanError) -> Self {
        use crate::plan::PlanError;
        match error {
            PlanError::Usage { message, hint } => Self::Usage { message, hint },
            PlanError::Batch(error) => Self::Batch(error),
            PlanError::Model(error) => Self::Model(error),
            PlanError::ProjectEnv(error) => Self::ProjectEnv(error),
        }
    }
}

impl Error {
    /// A usage error with a message and an optional hint.
    pub fn usage(message: impl Into<String>, hint: Option<String>) -> Self {
        Self::Usage {
            message: message.into(),
            hint,
        }
    }

    /// The exit status this error ends the process with.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            Self::Usage { .. } => ExitStatus::Usage,
            Self::Fetch(error) if error.is_usage() => ExitStatus::Usage,
            Self::Fetch(_) => ExitStatus::Fetch,
            Self::Batch(_) => ExitStatus::Usage,
            Self::Report(_) => ExitStatus::Usage,
            Self::Baseline(_) => ExitStatus::Usage,
            Self::Model(_) => ExitStatus::Usage,
            Self::Project(_) => ExitStatus::Usage,
            Self::Invoke(_) => ExitStatus::Usage,
            Self::ProjectEnv(_) => ExitStatus::Usage,
            Self::Comment(_) => ExitStatus::Usage,
            Self::FetchInterrupted(_) => ExitStatus::Interrupted,
            Self::StoppedBeforeCases { reason, .. } => match reason {
                crate::batch::StopReason::Interrupted => ExitStatus::Interrupted,
                crate::batch::StopReason::TotalTimeout => ExitStatus::TotalTimeout,
            },
        }
    }

    /// The hint printed after the error chain.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Usage { hint, .. } => hint.clone(),
            Self::Fetch(error) => error.hint(),
            Self::Batch(error) => error.hint(),
            Self::Report(error) => error.hint(),
            Self::Baseline(error) => error.hint(),
            Self::Model(error) => error.hint(),
            Self::Project(error) => error.hint(),
            Self::Invoke(error) => error.hint(),
            Self::ProjectEnv(error) => error.hint(),
            Self::Comment(error) => error.hint(),
            Self::FetchInterrupted(_) => None,
            Self::StoppedBeforeCases { reason, .. } => match reason {
                crate::batch::StopReason::Interrupted => None,
                crate::batch::StopReason::TotalTimeout => Some(
                    "`--total-timeout` counts from the start of `aigne-ci run`, so it bounds the download and the engine start too; raise it, or warm the cache with `aigne-ci fetch` in an earlier step".to_owned(),
                ),
            },
        }
    }
}

impl From<crate::engine::seam::StartError> for Error {
    fn from(error: crate::engine::seam::StartError) -> Self {
        use crate::engine::seam::StartError;
        match error {
            StartError::Native(error) => error.into(),
            StartError::Model(error) => error.into(),
            StartError::Project(error) => error.into(),
            StartError::Node(error) => {
                let hint = error
                    .hint()
                    .unwrap_or_else(|| "install node and npm, or pass `--engine native`".to_owned());
                Error::usage(
                    format!("cannot start the node engine: {}", error_chain(&error)),
                    Some(hint),
                )
            }
            error @ StartError::Cassette { .. } => Error::usage(
                error.to_string(),
                Some(
                    "pass `--engine native` (with `--engine auto`, the project uses a feature only the node engine runs)"
                        .to_owned(),
                ),
            ),
        }
    }
}

pub use crate::text::error_chain;
