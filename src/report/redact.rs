//! [`Redactor`]: masks secret values in everything the report writes. It lives in
//! [`crate::secret`] (a leaf), so the model stage's cassettes use the same masking.

pub use crate::secret::Redactor;
