//! The one integration-test binary: runs the real `aigne-ci` binary against servers on loopback.

mod action;
mod batch;
mod cli;
mod common;
mod engine;
mod fetch;
mod js;
mod mcp;
mod models;
mod report;
mod providers;
