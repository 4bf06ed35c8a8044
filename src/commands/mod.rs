//! One file per subcommand: each wires the stages for its command.

pub(crate) mod comment;
pub(crate) mod fetch;
pub(crate) mod inspect;
pub(crate) mod judge;
pub(crate) mod merge;
mod prepare;
pub(crate) mod run;
mod runner;
mod signals;
