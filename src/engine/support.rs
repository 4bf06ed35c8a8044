//! Which [`Feature`]s the native engine runs. `inspect` reports this table; `--engine auto`
//! picks the native engine only when every feature a project uses is supported; and
//! [`super::Engine`] refuses unsupported features at run time with the same names.

use crate::project::{Feature, FeatureUse, Project};

/// Whether the native engine runs `feature` as AIGNE does.
pub fn is_supported(feature: &Feature) -> bool {
    match feature {
        // `mcp` runs through rmcp, `function` and JS files through the Node bridge.
        Feature::AgentType(kind) => matches!(
            kind.as_str(),
            "ai" | "team" | "transform" | "mcp" | "function" | "js"
        ),
        Feature::Afs(modules) => modules == "history",
        Feature::Hooks | Feature::StructuredStreamMode | Feature::InputFileKey => false,
        Feature::PassthroughKey(key) => key != "retryOnError",
        Feature::Instructions
        | Feature::TemplateInclude
        | Feature::InputSchema
        | Feature::OutputSchema
        | Feature::DefaultInput
        | Feature::IncludeInputInOutput
        | Feature::Skills
        | Feature::GlobalSkills
        | Feature::Memory
        | Feature::Session
        | Feature::ToolChoice(_)
        | Feature::ToolCallsConcurrency
        | Feature::CatchToolsErrorOff
        | Feature::OutputFileKey
        | Feature::KeepTextInToolUses
        | Feature::TeamMode(_)
        | Feature::IterateOn
        | Feature::IterateWithPreviousOutput
        | Feature::IncludeAllStepsOutput
        | Feature::Reflection
        | Feature::PerAgentModel
        | Feature::ModelGetter
        | Feature::ImageModel
        | Feature::TaskTitle
        | Feature::IgnoredKey(_) => true,
    }
}

/// A note on how a supported feature is run, where it differs in detail.
pub fn note(feature: &Feature) -> Option<&'static str> {
    match feature {
        Feature::Memory => Some(
            "legacy memory is kept per session in memory (DefaultMemory's retrieval of the 10 latest turns); nothing is persisted",
        ),
        Feature::Session => Some("history compaction and memory extraction are not run"),
        Feature::Afs(_) => Some("the history module is kept per session in memory"),
        Feature::TaskTitle => Some("UI only; ignored"),
        Feature::KeepTextInToolUses => Some("streaming only; no effect on the final output"),
        Feature::IgnoredKey(_) => Some("no effect in AIGNE either"),
        Feature::TeamMode(mode) if mode == "parallel" => {
            Some("outputs merge in completion order, as AIGNE's interleaved deltas do")
        }
        _ => None,
    }
}

/// Every use of a feature the native engine does not run.
pub fn unsupported_features(project: &Project) -> Vec<FeatureUse> {
    project
        .features()
        .into_iter()
        .filter(|feature| !is_supported(&feature.feature))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        assert!(is_supported(&Feature::AgentType("team".to_owned())));
        assert!(is_supported(&Feature::AgentType("mcp".to_owned())));
        assert!(is_supported(&Feature::AgentType("js".to_owned())));
        assert!(!is_supported(&Feature::AgentType("image".to_owned())));
        assert!(is_supported(&Feature::Afs("history".to_owned())));
        assert!(!is_supported(&Feature::Afs("history,local-fs".to_owned())));
        assert!(!is_supported(&Feature::PassthroughKey(
            "retryOnError".to_owned()
        )));
        assert!(is_supported(&Feature::PassthroughKey(
            "disableEvents".to_owned()
        )));
    }
}
