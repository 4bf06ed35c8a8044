//! STAGE 3b: run one agent on one input, natively (ai, team, transform) or through Node.
//!
//! Must not import `batch` or `report`.

pub mod choice;
pub mod js;
pub mod line_child;
pub mod node;
pub mod npm;
pub mod subprocess;
