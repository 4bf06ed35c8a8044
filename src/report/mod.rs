//! STAGE 5: results.jsonl, summary.json, JUnit, GitHub step outputs and the human summary.
//! Also the terminal side of earlier stages' reporter traits.

pub mod step_outputs;

mod fetch_progress;

pub use fetch_progress::FetchProgress;
