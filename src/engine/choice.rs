//! `--engine auto|native|node`: which engine runs a set of agents, and why (logged, and written
//! to each result and `summary.json`).
//!
//! `auto` picks native when inspection finds every feature supported by it, and node otherwise,
//! naming the first unsupported features in the reason. [`super::route`] applies it per case, to
//! the agents each case reaches.

use serde::Serialize;

/// How many unsupported features the reason names before "and N more".
const NAMED_FEATURES: usize = 3;

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineRequest {
    /// Decide from the project's features.
    Auto,
    /// The Rust runtime.
    Native,
    /// The official packages in Node.
    Node,
}

/// An engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// The Rust runtime (with the Node bridge for JavaScript agents).
    Native,
    /// The official packages in Node.
    Node,
}

impl std::fmt::Display for EngineKind {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(match self {
            Self::Native => "native",
            Self::Node => "node",
        })
    }
}

/// A feature the native engine cannot run, where it is used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnsupportedFeature {
    /// The feature as inspect names it (`type: image`, `afs`, …).
    pub feature: String,
    /// The file (and agent) using it.
    pub location: String,
}

/// The engine chosen for a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EngineDecision {
    /// `--engine` as given.
    pub requested: EngineRequest,
    /// The engine that runs.
    pub engine: EngineKind,
    /// Why, in one sentence.
    pub reason: String,
}

/// Picks the engine. `unsupported` lists what the native engine cannot run in this project.
pub fn choose_engine(request: EngineRequest, unsupported: &[UnsupportedFeature]) -> EngineDecision {
    let (engine, reason) = match request {
        EngineRequest::Native => (EngineKind::Native, "`--engine native` was given".to_owned()),
        EngineRequest::Node => (EngineKind::Node, "`--engine node` was given".to_owned()),
        EngineRequest::Auto if unsupported.is_empty() => (
            EngineKind::Native,
            "the native engine supports every feature of the project".to_owned(),
        ),
        EngineRequest::Auto => {
            let mut named: Vec<String> = unsupported
                .iter()
                .take(NAMED_FEATURES)
                .map(|feature| format!("`{}` ({})", feature.feature, feature.location))
                .collect();
            if unsupported.len() > NAMED_FEATURES {
                named.push(format!("{} more", unsupported.len() - NAMED_FEATURES));
            }
            (
                EngineKind::Node,
                format!("the native engine does not support {}", join_list(&named)),
            )
        }
    };
    EngineDecision {
        requested: request,
        engine,
        reason,
    }
}

fn join_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feature(name: &str, location: &str) -> UnsupportedFeature {
        UnsupportedFeature {
            feature: name.to_owned(),
            location: location.to_owned(),
        }
    }

    #[test]
    fn auto_is_native_when_everything_is_supported() {
        let decision = choose_engine(EngineRequest::Auto, &[]);
        assert_eq!(decision.engine, EngineKind::Native);
        assert_eq!(
            decision.reason,
            "the native engine supports every feature of the project"
        );
    }

    #[test]
    fn auto_is_node_and_names_the_features() {
        let decision = choose_engine(
            EngineRequest::Auto,
            &[
                feature("type: image", "logo.yaml"),
                feature("afs", "chat.yaml"),
            ],
        );
        assert_eq!(decision.engine, EngineKind::Node);
        assert_eq!(
            decision.reason,
            "the native engine does not support `type: image` (logo.yaml) and `afs` (chat.yaml)"
        );
        let many: Vec<_> = (0..5)
            .map(|n| feature(&format!("f{n}"), "a.yaml"))
            .collect();
        assert_eq!(
            choose_engine(EngineRequest::Auto, &many).reason,
            "the native engine does not support `f0` (a.yaml), `f1` (a.yaml), `f2` (a.yaml) and 2 more"
        );
    }

    #[test]
    fn explicit_choices_win() {
        let unsupported = [feature("afs", "chat.yaml")];
        let decision = choose_engine(EngineRequest::Native, &unsupported);
        assert_eq!(decision.engine, EngineKind::Native);
        assert_eq!(
            serde_json::to_value(&decision).unwrap(),
            serde_json::json!({"requested": "native", "engine": "native",
                               "reason": "`--engine native` was given"})
        );
        assert_eq!(
            choose_engine(EngineRequest::Node, &[]).engine,
            EngineKind::Node
        );
    }
}
