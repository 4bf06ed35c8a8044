// Runs the cases of a corpus project (tests/fixtures/projects/corpus-*) through the official AIGNE
// CLI loader and runtime, for the corpus conformance test in tests/corpus.rs.
// Usage: node corpus_reference.mjs REF_DIR PROJECT_DIR CASES_JSON
// (OPENAI_BASE_URL / OPENAI_API_KEY point the models at the fake server.)
// Each case: {"id": "...", "agent": "name", "input": {...}}. An agent is found as `aigne run DIR
// NAME...` finds it: the agents, skills, `cli.chat` and `mcp_server` agents by name or alias, then
// the `cli:` tree by command name (the entry's `name`, else the agent's) or alias (the entry's,
// else the agent's); a name with spaces walks the tree's groups (`component push`).
// Prints one JSON line per case: {"output": ...} or {"error": "..."}.
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

let aigne;
try {
  aigne = await loadAIGNE({ path: path.resolve(projectDir) });
} catch (error) {
  for (const _ of cases) {
    process.stdout.write(`${JSON.stringify({ error: String(error?.message) })}\n`);
  }
  process.exit(0);
}
for (const item of cases) {
  try {
    const agent = find(aigne, item.agent);
    if (!agent) throw new Error(`agent ${item.agent} not found`);
    const output = await aigne.invoke(agent, item.input);
    process.stdout.write(`${JSON.stringify({ output })}\n`);
  } catch (error) {
    process.stdout.write(`${JSON.stringify({ error: String(error?.message) })}\n`);
  }
}
process.exit(0);
