//! STAGE 4: many cases, concurrently, with timeouts and expectations.
//!
//! Input: an inputs source ([`inputs`]) and a [`CaseRunner`] (the engine, behind a trait so
//! this stage does not depend on how agents run). Output: one [`CaseOutcome`] per case, handed
//! to a [`Reporter`] as it ends, and the [`BatchOutcome`] totals. A failed case is data, never an
//! error; [`BatchError`] is only for what stops the whole batch.
//!
//! Must not import `report`; never prints.

pub mod assertion;
pub mod case;
pub mod error;
pub mod execute;
pub mod inputs;
pub mod outcome;
pub mod policy;
pub mod shard;

pub use case::{Case, InvalidCase};
pub use error::BatchError;
pub use execute::{BatchSettings, StopSignal, execute};
pub use inputs::{Inputs, InputsSource, read_inputs};
pub use outcome::{
    BatchOutcome, CaseExecution, CaseOutcome, CaseStatus, Counts, EngineInfo, ErrorInfo,
    StopReason, Usage,
};
pub use policy::{FailOn, Policy, Verdict};
pub use shard::Shard;

use std::sync::Arc;

use crate::transcript::TranscriptRecorder;

/// Runs one case: the seam between the batch and the engine.
#[async_trait::async_trait]
pub trait CaseRunner: Send + Sync {
    /// Runs the case's agent (its `agent`, else the run's) on its input, as a turn of its
    /// `session` when it has one. Never fails: errors are part of the [`CaseExecution`].
    async fn run(&self, case: &Case) -> CaseExecution;

    /// Which engine runs the case and why (`engine`, `engine_reason` in its result), known
    /// before it runs so a case that times out or is stopped records it too. `None`: the
    /// runner does not say.
    fn engine(&self, _case: &Case) -> Option<EngineInfo> {
        None
    }

    /// A recorder for one case's transcript (`None`: transcripts are off, or this runner
    /// records none). The batch makes it before the case starts, so that what a case recorded
    /// before a timeout or a stop is kept.
    fn transcript_recorder(&self, _case: &Case) -> Option<Arc<TranscriptRecorder>> {
        None
    }

    /// [`CaseRunner::run`], recording into `transcript` (from
    /// [`CaseRunner::transcript_recorder`]).
    async fn run_recorded(
        &self,
        case: &Case,
        transcript: Option<Arc<TranscriptRecorder>>,
    ) -> CaseExecution {
        let _ = transcript;
        self.run(case).await
    }
}

/// Receives what the batch produces; the batch's only way to emit anything. All calls come from
/// one task, one at a time.
pub trait Reporter {
    /// Before the first case, with the number of cases (skipped ones included).
    fn on_start(&mut self, _cases: usize) {}

    /// A case ended (or was skipped). An error stops the batch.
    fn on_case(&mut self, outcome: &CaseOutcome) -> std::io::Result<()>;

    /// A stop was asked; `in_flight` cases get the grace period.
    fn on_stopping(&mut self, _reason: StopReason, _in_flight: usize) {}
}
