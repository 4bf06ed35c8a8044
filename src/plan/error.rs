//! What is wrong with the flags, the environment or the project's `.env` files, found while the
//! plan is resolved. The top-level `crate::error::Error` wraps it; the plan never names that
//! type, so the stages and the top error module form no circle.

use crate::batch::BatchError;
use crate::model::ModelError;

use super::trust::RedirectError;

/// A setting the plan refuses, before anything is fetched or started.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// A flag, or a combination of flags, that cannot work.
    #[error("{message}")]
    Usage {
        /// What is wrong, naming the flag or value.
        message: String,
        /// How to fix it.
        hint: Option<String>,
    },
    /// A batch setting out of range (`--concurrency 0`, `--repeat-min-pass` above `--repeat`).
    #[error(transparent)]
    Batch(#[from] BatchError),
    /// A model setting out of range, or a `.env` file that cannot be read.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A project `.env` would send the runner's credentials to a host it chose.
    #[error(transparent)]
    ProjectEnv(#[from] RedirectError),
}

impl PlanError {
    /// A usage error with a message and an optional hint.
    pub(crate) fn usage(message: impl Into<String>, hint: Option<String>) -> Self {
        Self::Usage {
            message: message.into(),
            hint,
        }
    }
}
