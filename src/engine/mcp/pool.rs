//! [`McpPool`]: one connection per MCP server per run, shared by every case.

use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use super::connection::McpConnection;
use super::error::McpError;
use super::settings::McpSettings;
use super::spec::McpServerSpec;
use crate::process::SubprocessLog;

type Slot = Arc<OnceCell<Arc<McpConnection>>>;

/// Connects each server once (on first use) and shuts every one down at the end of the run.
#[derive(Debug, Default)]
pub struct McpPool {
    settings: McpSettings,
    log: SubprocessLog,
    slots: Mutex<Vec<(McpServerSpec, Slot)>>,
}

impl McpPool {
    /// An empty pool; started stdio servers are recorded in `log`.
    pub fn new(settings: McpSettings, log: SubprocessLog) -> Self {
        Self {
            settings,
            log,
            slots: Mutex::new(Vec::new()),
        }
    }

    /// The settings every connection uses.
    pub fn settings(&self) -> &McpSettings {
        &self.settings
    }

    /// The connection to `spec`, connecting on first use. Concurrent callers wait for the same
    /// handshake; a failed handshake is not cached, so the next caller tries again.
    pub async fn connect(&self, spec: &McpServerSpec) -> Result<Arc<McpConnection>, McpError> {
        let slot = self.slot(spec);
        slot.get_or_try_init(|| async {
            McpConnection::connect(spec, &self.settings, &self.log)
                .await
                .map(Arc::new)
        })
        .await
        .cloned()
    }

    fn slot(&self, spec: &McpServerSpec) -> Slot {
        let mut slots = match self.slots.lock() {
            Ok(slots) => slots,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some((_, slot)) = slots.iter().find(|(known, _)| known == spec) {
            return slot.clone();
        }
        let slot = Slot::default();
        slots.push((spec.clone(), slot.clone()));
        slot
    }

    fn connections(&self) -> Vec<Arc<McpConnection>> {
        let slots = match self.slots.lock() {
            Ok(slots) => slots,
            Err(poisoned) => poisoned.into_inner(),
        };
        slots
            .iter()
            .filter_map(|(_, slot)| slot.get().cloned())
            .collect()
    }

    /// The stdio servers this run started (`command arg…`), in the order they were first used.
    pub fn started_stdio_servers(&self) -> Vec<String> {
        self.connections()
            .iter()
            .filter(|connection| connection.is_stdio())
            .map(|connection| connection.label().to_owned())
            .collect()
    }

    /// Shuts every connection down, concurrently, and waits for their processes to end.
    pub async fn shutdown(&self) {
        let connections = self.connections();
        futures::future::join_all(connections.iter().map(|connection| connection.shutdown())).await;
    }
}
