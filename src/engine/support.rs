//! Which [`Feature`]s the native engine runs. `inspect` reports this table; `--engine auto`
//! picks the native engine only when every feature a project uses is supported; and
//! [`super::Engine`] refuses unsupported features at run time with the same names.

use std::collections::HashSet;
use std::sync::Arc;

use crate::project::{AgentDef, AgentKind, Feature, FeatureUse, Location, Project};

use super::mcp::McpServerSpec;

/// Whether the native engine runs `feature` as AIGNE does.
pub fn is_supported(feature: &Feature) -> bool {
    match feature {
        // `mcp` runs through rmcp, `function` and JS files through the Node bridge.
        Feature::AgentType(kind) => matches!(
            kind.as_str(),
            "ai" | "team" | "transform" | "mcp" | "function" | "js"
        ),
        // AIGNE offers an AFS as eight `afs_*` tools with its own system prompt, and a `history`
        // module extracts session facts with background model calls: requests the native engine
        // cannot make identical, so any AFS stays with the node engine.
        Feature::Afs(_) => false,
        // Hooks run natively (`hooks.rs`).
        Feature::Hooks => true,
        Feature::StructuredStreamMode => false,
        // jsonata-rs raises T1003 where jsonata-js drops the pair (an undefined key); the
        // engine marks such pairs and drops them from the result (`transform.rs`), which an
        // expression listing the object's keys before that could see.
        Feature::JsonataPathKey => true,
        Feature::JsonataPathKeyListed => false,
        Feature::TemplateSyntax(construct) => super::template::supports(construct),
        Feature::SchemaConstruct(construct) => crate::zod::supports(construct),
        Feature::JsonataConstruct(construct) => super::transform::supports(construct),
        // `retryOnError` runs natively; the others change nothing a CI run can see.
        Feature::PassthroughKey(_) => true,
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
        | Feature::InputFileKey
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
            "legacy memory is kept per session and agent instance in memory (DefaultMemory's retrieval of the 10 latest turns; a case without a session is a session of its own); nothing is persisted",
        ),
        Feature::Session => Some("history compaction and memory extraction are not run"),
        Feature::Afs(_) => Some(
            "node engine only: AIGNE offers an AFS to the model as `afs_*` tools with its own prompt, and a `history` module makes extra model calls to extract facts; the native engine does not make these requests, so `--engine auto` runs the cases that reach this agent in the node engine (`--engine native` refuses them)",
        ),
        Feature::AgentType(kind) if kind == "image" => Some(
            "node engine only: image generation runs in the official runtime; `--engine auto` runs the cases that reach this agent in the node engine",
        ),
        Feature::TaskTitle => Some("UI only; ignored"),
        Feature::Hooks => Some(
            "hook agents see the hooked agent (and skill) as `{name}` and an error as `{message}`; `on_handoff` never fires (no transfers)",
        ),
        Feature::AgentType(kind) if kind == "mcp" => Some(
            "the server's tools become skills; its prompts and resources are not used (AIGNE exposes them only programmatically)",
        ),
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

/// Something the native engine would start as a subprocess for an agent: a stdio MCP server,
/// or Node.js for a JavaScript agent.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecUse {
    /// The agent.
    pub agent: String,
    /// Where it is defined.
    pub location: Location,
    /// What it starts, for messages (`the stdio MCP server `npx …``, `Node.js (JavaScript agent)`).
    pub what: String,
    /// Whether it is Node.js for a JavaScript agent (else an MCP server).
    pub node: bool,
}

/// Every agent reachable from `roots`: their skills, hooks and reviewers, and the project's
/// global skills once an AI agent is reached (AIGNE offers those to every AI agent); each once,
/// in walk order.
pub fn reachable_agents(project: &Project, roots: &[Arc<AgentDef>]) -> Vec<Arc<AgentDef>> {
    let mut seen: HashSet<*const AgentDef> = HashSet::new();
    let mut out = Vec::new();
    for root in roots {
        walk(root, &mut seen, &mut out);
    }
    if out
        .iter()
        .any(|agent| matches!(agent.kind, AgentKind::Ai(_)))
    {
        for skill in &project.skills {
            walk(skill, &mut seen, &mut out);
        }
    }
    out
}

/// The agents of `reachable` (from [`reachable_agents`]) that would start a subprocess in the
/// native engine. `--deny-exec` refuses a run for which this is not empty.
pub fn exec_uses(reachable: &[Arc<AgentDef>]) -> Vec<ExecUse> {
    reachable
        .iter()
        .filter_map(|agent| {
            let what = match &agent.kind {
                AgentKind::Mcp { server } => McpServerSpec::from_agent_keys(server)
                    .ok()
                    .filter(McpServerSpec::is_stdio)
                    .map(|spec| format!("the stdio MCP server `{}`", spec.label())),
                AgentKind::Function { .. } => {
                    Some("Node.js (inline `type: function` agent)".to_owned())
                }
                AgentKind::JsFile => Some("Node.js (JavaScript agent)".to_owned()),
                _ => None,
            }?;
            Some(ExecUse {
                agent: agent.name.clone(),
                location: agent.location(),
                node: matches!(agent.kind, AgentKind::Function { .. } | AgentKind::JsFile),
                what,
            })
        })
        .collect()
}

/// `--engine native`: the error that stops the run before any case when the project itself, or
/// an agent of `reachable`, uses a feature the native engine lacks (the first, by file order).
pub fn unsupported_error(
    project: &Project,
    reachable: &[Arc<AgentDef>],
) -> Option<super::InvokeError> {
    let used = unsupported_features(project).into_iter().find(|used| {
        used.agent.is_empty() || reachable.iter().any(|agent| agent.name == used.agent)
    })?;
    Some(super::InvokeError::Unsupported {
        agent: used.agent,
        feature: used.feature.to_string(),
        location: used.location,
    })
}

/// `--deny-exec`: the error that stops the run before any case when `uses` is not empty.
pub fn deny_exec_error(uses: &[ExecUse]) -> Option<super::InvokeError> {
    let (first, rest) = uses.split_first()?;
    Some(super::InvokeError::DenyExec {
        first: Box::new(first.clone()),
        more: rest.iter().map(|other| other.agent.clone()).collect(),
    })
}

fn walk(agent: &Arc<AgentDef>, seen: &mut HashSet<*const AgentDef>, out: &mut Vec<Arc<AgentDef>>) {
    if !seen.insert(Arc::as_ptr(agent)) {
        return;
    }
    out.push(agent.clone());
    for child in agent.children() {
        walk(child, seen, out);
    }
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
        assert!(!is_supported(&Feature::Afs("history".to_owned())));
        assert!(!is_supported(&Feature::Afs("history,local-fs".to_owned())));
        // An unsupported feature's note says where it runs instead, not how it would run natively.
        let afs = note(&Feature::Afs("system-fs".to_owned())).unwrap();
        assert!(afs.starts_with("node engine only"), "{afs}");
        assert!(afs.contains("--engine auto"), "{afs}");
        assert!(is_supported(&Feature::PassthroughKey(
            "retryOnError".to_owned()
        )));
        assert!(is_supported(&Feature::PassthroughKey(
            "disableEvents".to_owned()
        )));
    }

    #[test]
    fn exec_uses_follow_what_the_run_reaches() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| fs_err::write(dir.path().join(name), text).unwrap();
        write(
            "aigne.yaml",
            "agents:\n  - chat.yaml\n  - team.yaml\n  - upper.yaml\nskills:\n  - remote.yaml\n  - local.yaml\n",
        );
        write("chat.yaml", "name: chat\ninstructions: hi\n");
        write(
            "team.yaml",
            "type: team\nname: team\nskills:\n  - tool.js\n",
        );
        write(
            "tool.js",
            "export default async function tool() { return {}; }\n",
        );
        write("upper.yaml", "type: transform\nname: upper\njsonata: '$'\n");
        write("remote.yaml", "type: mcp\nurl: http://127.0.0.1:1/sse\n");
        write(
            "local.yaml",
            "type: mcp\ncommand: server\nargs: [--stdio]\n",
        );
        let project = Project::load(dir.path()).unwrap();
        let uses = |name: &str| {
            exec_uses(&reachable_agents(
                &project,
                &[project.agent(Some(name)).unwrap().clone()],
            ))
            .into_iter()
            .map(|used| (used.agent, used.what))
            .collect::<Vec<_>>()
        };
        // An AI agent is offered the global skills: only the stdio one starts a process.
        assert_eq!(
            uses("chat"),
            vec![(
                "MCPAgent".to_owned(),
                "the stdio MCP server `server --stdio`".to_owned()
            )]
        );
        // A team is not offered global skills, but its JS member needs Node.js.
        assert_eq!(
            uses("team"),
            vec![("tool".to_owned(), "Node.js (JavaScript agent)".to_owned())]
        );
        assert_eq!(uses("upper"), Vec::new());
        assert!(deny_exec_error(&[]).is_none());
    }
}
