//! STAGE 5: results.jsonl, summary.json, JUnit, GitHub step outputs and the human summary.

pub mod step_outputs;
