// Runs agents of a project through the official AIGNE CLI loader and runtime, for the engine
// conformance test in tests/engine.rs.
// Usage: node engine_reference.mjs REF_DIR PROJECT_DIR CASES_JSON
// (OPENAI_BASE_URL / OPENAI_API_KEY point the models at the fake server.)
// Each case: {"agent": "name", "input": {...}, "session"?: "id"}.
// Prints one JSON line per case: {"output": ...} or {"error": "..."}.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [refDir, projectDir, casesFile] = process.argv.slice(2);
const cliDir = path.join(path.resolve(refDir), "node_modules/@aigne/cli/dist");
const { loadAIGNE } = await import(pathToFileURL(path.join(cliDir, "utils/load-aigne.js")).href);
const cases = JSON.parse(fs.readFileSync(casesFile, "utf8"));
const aigne = await loadAIGNE({ path: path.resolve(projectDir) });
const find = (name) => {
  const all = [...aigne.agents, ...aigne.skills];
  return all.find((agent) => agent.name === name);
};
for (const item of cases) {
  try {
    const agent = find(item.agent);
    if (!agent) throw new Error(`agent ${item.agent} not found`);
    const options = item.session ? { userContext: { sessionId: item.session } } : {};
    const output = await aigne.invoke(agent, item.input, options);
    process.stdout.write(`${JSON.stringify({ output })}\n`);
  } catch (error) {
    process.stdout.write(`${JSON.stringify({ error: String(error && error.message) })}\n`);
  }
}
process.exit(0);
