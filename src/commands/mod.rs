//! One file per subcommand: each wires the stages for its command.

pub mod merge;
pub mod outputs;
pub mod run;
