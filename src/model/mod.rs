//! STAGE 3a: chat models behind one trait, [`ChatModel`].
//!
//! Input: [`types::ChatRequest`] built by the engine. Output: [`types::ChatResponse`].
//! Must not import `engine`, `batch` or `report`.

pub mod types;

mod error;

pub use error::ModelError;

use async_trait::async_trait;

use types::{ChatRequest, ChatResponse};

/// A chat model of one provider, bound to one model name.
#[async_trait]
pub trait ChatModel: Send + Sync {
    /// Provider id (`openai`, `anthropic`, …).
    fn provider(&self) -> &str;
    /// Model name sent to the provider.
    fn model(&self) -> &str;
    /// One call (the provider streams; the answer is assembled here), with the common
    /// behaviour of AIGNE's `ChatModel` around it: tool-name sanitising and mapping back,
    /// argument and structured-output validation, retries.
    async fn complete(&self, request: ChatRequest) -> Result<ChatResponse, ModelError>;
}
