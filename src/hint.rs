//! [`Hint`]: what a stage error can suggest to the user. A leaf module.

/// An error that can suggest a fix, printed as `hint: …` after the error chain.
pub trait Hint {
    /// The suggestion, if there is one.
    fn hint(&self) -> Option<String> {
        None
    }
}
