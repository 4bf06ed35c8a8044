//! STAGE 3b: run one agent on one input, natively (ai, team, transform) or through Node.
//!
//! Must not import `batch` or `report`.

pub mod js;
pub mod line_child;
pub mod subprocess;
