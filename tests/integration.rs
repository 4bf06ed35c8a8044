//! The one integration-test binary: runs the real `aigne-ci` binary against servers on loopback.

mod action;
mod batch;
mod cli;
mod comment;
mod common;
mod corpus;
mod engine;
mod fetch;
mod fidelity;
mod hostile;
mod inspect;
mod js;
mod layering;
mod mcp;
mod models;
mod plan;
mod processes;
mod providers;
mod report;
mod report_html;
mod run_e2e;
mod snapshots;
mod transcripts;
mod untrusted;
mod verdicts;
mod verdicts_e2e;
