// Runs the cases of a corpus project (tests/fixtures/projects/corpus-*) through the official AIGNE
// CLI loader and runtime, for the corpus conformance test in tests/corpus.rs.
// Usage: node corpus_reference.mjs REF_DIR PROJECT_DIR CASES_JSON
// (OPENAI_BASE_URL / OPENAI_API_KEY point the models at the fake server.)
// Each case: {"id": "...", "agent": "name", "input": {...}}. An agent is found as `aigne run DIR
// NAME...` finds it: the agents, skills, `cli.chat` and `mcp_server` agents by name or alias, then
// the `cli:` tree by command name (the entry's `name`, else the agent's) or alias (the entry's,
// else the agent's); a name with spaces walks the tree's groups (`component push`).
// Prints one JSON line per case: {"output": ...} or {"error": "..."}; a project that fails to load
// gives its load error for every case.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [refDir, projectDir, casesFile] = process.argv.slice(2);
const cliDir = path.join(path.resolve(refDir), "node_modules/@aigne/cli/dist");
const { loadAIGNE } = await import(pathToFileURL(path.join(cliDir, "utils/load-aigne.js")).href);
const cases = JSON.parse(fs.readFileSync(casesFile, "utf8"));

const commandMatches = (entry, word) =>
  (entry.name || entry.agent?.name) === word ||
  (entry.alias || entry.agent?.alias || []).includes(word);

function findCli(entries, words) {
  const [word, ...rest] = words;
  const entry = (entries ?? []).find((item) => commandMatches(item, word));
  if (!entry) return undefined;
  return rest.length ? findCli(entry.agents, rest) : entry.agent;
}

function find(aigne, name) {
  const top = [aigne.agents, aigne.skills, aigne.cli?.chat, aigne.mcpServer?.agents]
    .flat(2)
    .filter(Boolean);
  return (
    top.find((agent) => agent.name === name || agent.alias?.includes(name)) ??
    findCli(aigne.cli?.agents, name.split(/[\s/]+/).filter(Boolean))
  );
}

// Each case gets a freshly loaded project, as each `aigne run` does (an agent's `memory` would
// otherwise carry one case's turns into the next); after it, a GET to `corpus-case-end` tells the
// fake server where the case's requests end.
const endOfCase = () =>
  fetch(`${process.env.OPENAI_BASE_URL}/corpus-case-end`).then(
    (response) => response.arrayBuffer(),
    () => undefined,
  );
for (const item of cases) {
  let aigne;
  try {
    aigne = await loadAIGNE({ path: path.resolve(projectDir) });
    const agent = find(aigne, item.agent);
    if (!agent) throw new Error(`agent ${item.agent} not found`);
    const output = await aigne.invoke(agent, item.input);
    process.stdout.write(`${JSON.stringify({ output })}\n`);
  } catch (error) {
    process.stdout.write(`${JSON.stringify({ error: String(error?.message) })}\n`);
  }
  await aigne?.shutdown?.().catch(() => undefined);
  await endOfCase();
}
process.exit(0);
