//! STAGE 2: a project folder → a typed project (`aigne.yaml` and agent files).
//!
//! Pure: no network, no tokio. Must not import `fetch`, `model`, `engine`, `batch` or `report`.
