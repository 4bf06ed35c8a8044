//! STAGE 4: many cases, concurrently, with timeouts and expectations.
//!
//! Must not import `report`.
