//! One file per subcommand: each wires the stages for its command.

pub(crate) mod fetch;
pub(crate) mod inspect;
pub mod judge;
pub mod merge;
pub mod outputs;
pub mod run;
