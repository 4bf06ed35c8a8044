//! Which engine runs each case, and why: `--engine auto` decides per case from the agents that
//! case reaches (its agent, their skills, hooks and reviewers, the global skills an AI agent is
//! offered), so a project that also lists an image agent or a hooks agent sends only the cases
//! that reach it to the node engine.
//!
//! Pure: a [`Project`] and the root agent of each case in, a [`Routes`] table out. The run
//! starts an engine only when some case is routed to it.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use crate::project::{AgentDef, FeatureUse, Project};

use super::choice::{EngineKind, EngineRequest, UnsupportedFeature, choose_engine};
use super::support;

/// The engine of one root agent, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    /// The engine.
    pub engine: EngineKind,
    /// Why, in one sentence.
    pub reason: String,
}

/// The cases' root agents and their engines.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Routes {
    /// By agent name as cases give it (the default agent's name for cases naming none).
    pub agents: BTreeMap<String, Route>,
}

impl Routes {
    /// The route of a case running `agent`.
    pub fn of(&self, agent: &str) -> Option<&Route> {
        self.agents.get(agent)
    }

    /// Whether any case runs on `engine`.
    pub fn uses(&self, engine: EngineKind) -> bool {
        self.agents.values().any(|route| route.engine == engine)
    }

    /// The root agents routed to `engine`.
    pub fn agents_on(&self, engine: EngineKind) -> Vec<&str> {
        self.agents
            .iter()
            .filter(|(_, route)| route.engine == engine)
            .map(|(name, _)| name.as_str())
            .collect()
    }
}

/// The agents a case running `name` starts from: that agent, or — for a name only a JavaScript
/// file's default export can carry — every JavaScript file.
pub fn case_roots(project: &Project, name: &str) -> Vec<Arc<AgentDef>> {
    match project.agent(Some(name)) {
        Ok(agent) => vec![agent.clone()],
        Err(_) => project.javascript_files().into_iter().cloned().collect(),
    }
}

/// What the native engine cannot run among the agents reachable from `roots` (and the project
/// file itself).
pub fn unsupported_reached(project: &Project, roots: &[Arc<AgentDef>]) -> Vec<FeatureUse> {
    let reachable = support::reachable_agents(project, roots);
    support::unsupported_features(project)
        .into_iter()
        .filter(|used| {
            used.agent.is_empty() || reachable.iter().any(|agent| agent.name == used.agent)
        })
        .collect()
}

/// Routes each root agent (`agents`: distinct names, as cases give them).
pub fn route_cases(request: EngineRequest, project: &Project, agents: &[String]) -> Routes {
    let mut routes = Routes::default();
    for name in agents {
        if routes.agents.contains_key(name) {
            continue;
        }
        let roots = case_roots(project, name);
        let unsupported: Vec<UnsupportedFeature> = unsupported_reached(project, &roots)
            .into_iter()
            .map(|used| UnsupportedFeature {
                feature: used.feature.to_string(),
                location: format!("agent `{}` at `{}`", used.agent, used.location),
            })
            .collect();
        let decision = choose_engine(request, &unsupported);
        let reason = match (request, decision.engine) {
            (EngineRequest::Auto, EngineKind::Native) => {
                format!("the native engine supports every feature agent `{name}` reaches")
            }
            _ => decision.reason,
        };
        routes.agents.insert(
            name.clone(),
            Route {
                engine: decision.engine,
                reason,
            },
        );
    }
    routes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_routes_each_case_by_what_it_reaches() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| fs_err::write(dir.path().join(name), text).unwrap();
        write(
            "aigne.yaml",
            "agents:\n  - chat.yaml\n  - logo.yaml\n  - team.yaml\n",
        );
        write("chat.yaml", "name: chat\ninstructions: hi\n");
        write("logo.yaml", "type: image\nname: logo\ninstructions: draw\n");
        write(
            "team.yaml",
            "type: team\nname: team\nskills:\n  - logo.yaml\n",
        );
        let project = Project::load(dir.path()).unwrap();
        let names = ["chat", "logo", "team", "chat"].map(str::to_owned);
        let routes = route_cases(EngineRequest::Auto, &project, &names);
        assert_eq!(routes.agents.len(), 3);
        assert_eq!(routes.of("chat").unwrap().engine, EngineKind::Native);
        assert_eq!(
            routes.of("chat").unwrap().reason,
            "the native engine supports every feature agent `chat` reaches"
        );
        assert_eq!(routes.of("logo").unwrap().engine, EngineKind::Node);
        assert!(
            routes
                .of("team")
                .unwrap()
                .reason
                .starts_with("the native engine does not support `type: image` (agent `logo`"),
            "{:?}",
            routes.of("team")
        );
        assert!(routes.uses(EngineKind::Native) && routes.uses(EngineKind::Node));
        assert_eq!(routes.agents_on(EngineKind::Node), vec!["logo", "team"]);

        let forced = route_cases(EngineRequest::Native, &project, &names);
        assert!(!forced.uses(EngineKind::Node));
        assert_eq!(
            forced.of("logo").unwrap().reason,
            "`--engine native` was given"
        );
    }
}
