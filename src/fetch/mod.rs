//! STAGE 1: a project source (URL, local folder or `aigne.yaml`) → a verified, extracted
//! project folder in the cache.
//!
//! Must not import `project`, `model`, `engine`, `batch` or `report`.

mod error;

pub use error::FetchError;
