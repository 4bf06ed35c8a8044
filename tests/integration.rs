//! The one integration-test binary: runs the real `aigne-ci` binary against servers on loopback.

mod batch;
mod cli;
mod common;
mod js;
mod models;
mod report;
