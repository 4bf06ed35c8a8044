//! [`ModelError`]: everything a model call can fail with, naming provider, model and status.

/// A failed model call.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {}

impl crate::hint::Hint for ModelError {}
