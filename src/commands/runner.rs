//! The batch's [`CaseRunner`] over the run's engines ([`Engines`]): each case goes to the
//! engine its agent is routed to, and its result records which engine ran it and why.

use crate::batch::{Case, CaseExecution, CaseRunner, EngineInfo, ErrorInfo, Usage};
use crate::engine::choice::EngineKind;
use crate::engine::seam::{CaseError, CaseRequest, Engines};
use crate::project::Project;
use crate::transcript::TranscriptRecorder;

use std::sync::Arc;

/// Routes each case to its engine.
pub(crate) struct RoutedRunner {
    pub(crate) engines: Engines,
    pub(crate) default_agent: String,
    /// The project as the native loader reads it, for each agent's `output_key`.
    pub(crate) project: Arc<Project>,
    /// `--transcripts on`: each case records what ran.
    pub(crate) transcripts: bool,
}

impl RoutedRunner {
    fn agent<'a>(&'a self, case: &'a Case) -> &'a str {
        case.agent.as_deref().unwrap_or(&self.default_agent)
    }
}

#[async_trait::async_trait]
impl CaseRunner for RoutedRunner {
    async fn run(&self, case: &Case) -> CaseExecution {
        self.run_recorded(case, None).await
    }

    fn transcript_recorder(&self, case: &Case) -> Option<Arc<TranscriptRecorder>> {
        if !self.transcripts {
            return None;
        }
        let (engine, _) = self.engines.route(self.agent(case))?;
        Some(Arc::new(engine.transcript_recorder()))
    }

    async fn run_recorded(
        &self,
        case: &Case,
        transcript: Option<Arc<TranscriptRecorder>>,
    ) -> CaseExecution {
        let agent = self.agent(case);
        let route = self.engines.route(agent);
        // Text expectations read the agent's `output_key` on the native engine (the node engine
        // answers as the official CLI prints: `message`).
        let output_key = route
            .filter(|(engine, _)| engine.kind() == EngineKind::Native)
            .and_then(|_| self.project.agent(Some(agent)).ok())
            .and_then(|agent| agent.ai().and_then(|ai| ai.output_key.clone()));
        let request = CaseRequest {
            agent: agent.to_owned(),
            input: case.input.clone(),
            case_label: format!("{} (line {})", case.id, case.line),
            session: case.session.clone(),
            transcript,
        };
        let result = match route {
            Some((engine, _)) => engine.invoke(request).await,
            None => Err(CaseError::NotRouted(agent.to_owned())),
        };
        match result {
            Ok(outcome) => CaseExecution {
                output: Ok(outcome.output),
                usage: Usage {
                    input_tokens: outcome.usage.input_tokens,
                    output_tokens: outcome.usage.output_tokens,
                },
                model: outcome.model,
                attempts: outcome.model_calls,
                output_key,
            },
            Err(error) => {
                let mut execution =
                    CaseExecution::error(ErrorInfo::new(error.kind(), error.message()));
                execution.output_key = output_key;
                execution
            }
        }
    }

    fn engine(&self, case: &Case) -> Option<EngineInfo> {
        let (engine, reason) = self.engines.route(self.agent(case))?;
        Some(EngineInfo {
            engine: engine.kind().to_string(),
            reason: reason.to_owned(),
        })
    }
}
