// aigne-ci Node engine host: runs a project with the official AIGNE packages (`@aigne/cli`,
// `@aigne/core`), loaded once, invoked once per case. Shipped inside the aigne-ci binary.
//
// Started as `node host.mjs <aigne-cli package folder> [max reply bytes]`. Protocol: JSON lines,
// requests on stdin, replies on stdout; anything the project prints goes to stderr. A reply larger
// than the cap (`--max-tool-result`) is never written: an `AigneCiTooLarge` error goes instead.
//
//   → {id, type: "load", path, model?, model_options?, ceilings?: {reflection, iterations}}
//   ← {id, type: "result", ok: true, value: {agents: [{name, description, input_schema?}], default_agent}}
//   → {id, type: "invoke", agent, input, user_context?, transcript?}
//   ← {id, type: "result", ok: true, value: {output, usage: {input_tokens, output_tokens}}, transcript?}
//   ← {id, type: "result", ok: false, error: {message, name, stack}, transcript?}
//
// With `transcript: true`, the reply carries the case's agent events as the runtime emits them
// on its context (`agentStarted` / `agentSucceed` / `agentFailed`): one entry per invocation,
// chat models included, `{id, parent, agent, tag, started, ended, input, output?, error?}`
// (ids are the runtime's context ids; strings are cut at TEXT_CAP bytes with a note).

import { createInterface } from "node:readline";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { format } from "node:util";

const writeProtocol = process.stdout.write.bind(process.stdout);
const writeLog = process.stderr.write.bind(process.stderr);
process.stdout.write = writeLog;
for (const method of ["log", "info", "debug", "warn", "error", "trace"]) {
  console[method] = (...args) => writeLog(`${format(...args)}\n`);
}

const cliDir = process.argv[2];
const MAX_LINE_BYTES = Number(process.argv[3]) > 0 ? Number(process.argv[3]) : Infinity;
// Error messages and stacks are cut to this many characters.
const ERROR_TEXT_CAP = 64 * 1024;
if (!cliDir) {
  writeLog("usage: node host.mjs <@aigne/cli package folder>\n");
  process.exit(2);
}

let aigne;
let loading;
let allAgents = [];
const inFlight = new Set();

function send(message) {
  const line = JSON.stringify(message);
  if (line.length > MAX_LINE_BYTES || Buffer.byteLength(line) > MAX_LINE_BYTES) {
    const error = new Error(
      `the reply is larger than the ${MAX_LINE_BYTES}-byte cap (\`--max-tool-result\`)`,
    );
    error.name = "AigneCiTooLarge";
    throw error;
  }
  writeProtocol(`${line}\n`);
}

function cut(text) {
  return typeof text === "string" && text.length > ERROR_TEXT_CAP
    ? `${text.slice(0, ERROR_TEXT_CAP)}… [aigne-ci: cut]`
    : text;
}

function errorInfo(error) {
  if (error instanceof Error) {
    return { message: cut(error.message), name: error.name, stack: cut(error.stack) };
  }
  return { message: cut(typeof error === "string" ? error : String(error)) };
}

// Sends an error reply; when it is over the cap with the transcript, without it; when still
// over, just its name.
function sendError(id, error, extra) {
  try {
    send({ id, type: "result", ok: false, error: errorInfo(error), ...extra });
    return;
  } catch {}
  try {
    send({ id, type: "result", ok: false, error: errorInfo(error) });
  } catch (unsendable) {
    const { name, message } = errorInfo(unsendable);
    writeProtocol(`${JSON.stringify({ id, type: "result", ok: false, error: { name, message } })}\n`);
  }
}

function jsonSchemaOf(agent) {
  try {
    const schema = agent.inputSchema;
    if (schema && typeof schema.toJSONSchema === "function") return schema.toJSONSchema();
  } catch {}
  return undefined;
}

// The CLI asks on the terminal when no provider key is set (connect to AIGNE Hub?); stdin is
// our protocol pipe and CI has no keyboard, so that question is an error instead.
async function refusePrompt(question) {
  const message = [question]
    .flat()
    .map((item) => item?.message)
    .filter(Boolean)
    .join("; ");
  throw new Error(
    `the official runtime would ask \`${message}\` and aigne-ci never prompts: set the provider's API key (e.g. OPENAI_API_KEY) or pass --model`,
  );
}

// aigne-ci's loop ceilings (`--max-reflection-rounds`, `--max-team-iterations`), applied to every
// team agent the runtime loaded: a reflection stops after the ceiling with aigne-ci's error, an
// `iterate_on` over more items than the ceiling fails before any item runs.
function applyCeilings(roots, { reflection: maxRounds, iterations: maxItems }) {
  const seen = new Set();
  const queue = [...roots];
  while (queue.length > 0) {
    const agent = queue.pop();
    if (!agent || typeof agent !== "object" || seen.has(agent)) continue;
    seen.add(agent);
    for (const skill of agent.skills ?? []) queue.push(skill);
    for (const entry of agent.agents ?? []) queue.push(entry?.agent ?? entry);
    if (agent.agent) queue.push(agent.agent);
    const reflection = agent.reflection;
    if (reflection && typeof reflection === "object") {
      queue.push(reflection.reviewer);
      if (maxRounds > 0 && reflection.maxIterations > maxRounds) {
        const asked = reflection.maxIterations;
        reflection.maxIterations = maxRounds;
        reflection.returnLastOnMaxIterations = false;
        reflection.customErrorMessage = `agent \`${agent.name}\`: the reflection was not approved after ${maxRounds} rounds (\`max_iterations: ${asked}\`); stopped at the ceiling of ${maxRounds} (\`--max-reflection-rounds\`)`;
      }
    }
    if (agent.iterateOn && maxItems > 0 && typeof agent._processIterator === "function") {
      const original = agent._processIterator.bind(agent);
      agent._processIterator = async function* (key, input, options) {
        const items = input?.[key];
        const count = Array.isArray(items) ? items.length : 1;
        if (count > maxItems) {
          throw new Error(
            `agent \`${agent.name}\`: \`iterate_on: ${key}\` has ${count} items; stopped at the ceiling of ${maxItems} (\`--max-team-iterations\`)`,
          );
        }
        yield* original(key, input, options);
      };
    }
  }
}

async function load({ path, model, model_options: modelOptions, ceilings }) {
  const { loadAIGNE } = await import(pathToFileURL(join(cliDir, "dist/utils/load-aigne.js")).href);
  aigne = await loadAIGNE({
    path,
    modelOptions: { ...(modelOptions ?? {}), model, inquirerPromptFn: refusePrompt },
    imageModelOptions: { inquirerPromptFn: refusePrompt },
  });
  const seen = new Set();
  allAgents = [aigne.agents, aigne.skills, aigne.cli?.chat, aigne.mcpServer?.agents]
    .flat(2)
    .filter((agent) => agent && !seen.has(agent) && seen.add(agent));
  if (ceilings) applyCeilings([...allAgents, ...(aigne.cli?.agents ?? [])], ceilings);
  return {
    agents: allAgents.map((agent) => ({
      name: agent.name,
      description: agent.description,
      input_schema: jsonSchemaOf(agent),
    })),
    default_agent: aigne.agents[0]?.name ?? null,
  };
}

// A `cli:` entry's command name and aliases, as the official CLI names its commands.
function cliMatches(entry, word) {
  const name = entry.name || entry.agent?.name;
  const aliases = entry.alias || entry.agent?.alias || [];
  return name === word || aliases.includes(word);
}

// An agent of the `cli:` tree: a path of command names (`component push`, or `component/push`)
// walks the groups; a single name is also found inside groups, depth first, in file order.
function findCliAgent(name) {
  const words = name.split(/[\s/]+/).filter(Boolean);
  const anywhere = (entries, word) => {
    for (const entry of entries ?? []) {
      if (entry.agent && cliMatches(entry, word)) return entry.agent;
      const found = anywhere(entry.agents, word);
      if (found) return found;
    }
    return undefined;
  };
  if (words.length === 1) return anywhere(aigne.cli?.agents, words[0]);
  let entries = aigne.cli?.agents ?? [];
  for (const group of words.slice(0, -1)) {
    entries = entries.find((entry) => cliMatches(entry, group))?.agents ?? [];
  }
  return entries.find((entry) => cliMatches(entry, words[words.length - 1]))?.agent;
}

// An agent of the `cli:` tree by its own name or alias (as the native engine finds it, and as
// aigne-ci's plan names the agent a `cli:` path given on the command line resolves to).
function findCliAgentByOwnName(entries, name) {
  for (const entry of entries ?? []) {
    const agent = entry.agent;
    if (agent && (agent.name === name || agent.alias?.includes?.(name))) return agent;
    const found = findCliAgentByOwnName(entry.agents, name);
    if (found) return found;
  }
  return undefined;
}

function findAgent(name) {
  const agent =
    allAgents.find((a) => a.name === name || a.alias?.includes?.(name)) ??
    findCliAgent(name) ??
    findCliAgentByOwnName(aigne.cli?.agents, name);
  if (!agent) throw new Error(`agent \`${name}\` not found in the project`);
  return agent;
}

// Same cap and note as the Rust side (src/transcript.rs `cap_text`), applied here too so that a
// large message does not travel whole over the pipe.
const TEXT_CAP = 16 * 1024;

function capValue(value, depth = 0) {
  if (typeof value === "string") {
    const bytes = Buffer.byteLength(value);
    if (bytes <= TEXT_CAP) return value;
    const kept = Buffer.from(value).subarray(0, TEXT_CAP).toString("utf8").replace(/\uFFFD$/, "");
    const keptBytes = Buffer.byteLength(kept);
    return `${kept}… [aigne-ci: cut at ${TEXT_CAP} bytes, ${bytes - keptBytes} more bytes not kept]`;
  }
  if (value === null || typeof value !== "object") return value;
  if (depth > 32) return "[aigne-ci: nested too deep]";
  if (Array.isArray(value)) return value.map((item) => capValue(item, depth + 1));
  if (typeof value.toJSON === "function") return capValue(value.toJSON(), depth + 1);
  const result = {};
  for (const [key, item] of Object.entries(value)) {
    if (typeof item === "function" || typeof item === "symbol" || item === undefined) continue;
    if (item && typeof item === "object" && typeof item.invoke === "function") continue; // an agent
    result[key] = capValue(item, depth + 1);
  }
  return result;
}

function snapshot(value) {
  try {
    return JSON.parse(JSON.stringify(capValue(value)));
  } catch (error) {
    return `[aigne-ci: not serialisable: ${error?.message ?? error}]`;
  }
}

// Records the agent events of one case's context tree. Only events whose parent context belongs
// to the tree are kept, so cases running at once never mix.
function recordEvents(context) {
  const known = new Set([context.id]);
  const entries = new Map();
  const order = [];
  const started = ({ contextId, parentContextId, timestamp, agent, input }) => {
    if (!known.has(parentContextId) && !known.has(contextId)) return;
    known.add(contextId);
    const entry = {
      id: contextId,
      parent: parentContextId === context.id ? null : parentContextId,
      agent: agent?.name ?? "",
      tag: agent?.tag ?? "",
      started: timestamp,
      input: snapshot(input),
    };
    entries.set(contextId, entry);
    order.push(entry);
  };
  const succeed = ({ contextId, timestamp, output }) => {
    const entry = entries.get(contextId);
    if (!entry) return;
    entry.ended = timestamp;
    entry.output = snapshot(output);
  };
  const failed = ({ contextId, timestamp, error }) => {
    const entry = entries.get(contextId);
    if (!entry) return;
    entry.ended = timestamp;
    entry.error = snapshot(error instanceof Error ? error.message : String(error));
  };
  context.on("agentStarted", started);
  context.on("agentSucceed", succeed);
  context.on("agentFailed", failed);
  return {
    events: () => order,
    stop: () => {
      context.off("agentStarted", started);
      context.off("agentSucceed", succeed);
      context.off("agentFailed", failed);
    },
  };
}

async function invoke({ agent: name, input, user_context: userContext, transcript }, reply) {
  await loading;
  if (!aigne) throw new Error("the project is not loaded");
  const agent = findAgent(name);
  const context = aigne.newContext();
  if (userContext && typeof userContext === "object") Object.assign(context.userContext, userContext);
  const recorder = transcript ? recordEvents(context) : null;
  try {
    const output = await context.invoke(agent, input ?? {});
    const usage = context.usage ?? {};
    return {
      output,
      usage: { input_tokens: usage.inputTokens ?? 0, output_tokens: usage.outputTokens ?? 0 },
    };
  } finally {
    if (recorder) {
      recorder.stop();
      reply.transcript = recorder.events();
    }
  }
}

async function handle(message, reply) {
  switch (message.type) {
    case "load":
      loading = load(message);
      return await loading;
    case "invoke":
      return await invoke(message, reply);
    case "ping":
      return "pong";
    default:
      throw new Error(`unknown request type \`${message.type}\``);
  }
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on("line", (line) => {
  if (!line.trim()) return;
  let message;
  try {
    message = JSON.parse(line);
  } catch (error) {
    writeLog(`aigne-ci host: unreadable request: ${error.message}\n`);
    return;
  }
  // What the handler adds to its reply besides the value (the transcript).
  const extra = {};
  const done = handle(message, extra).then(
    (value) => {
      try {
        send({ id: message.id, type: "result", ok: true, value, ...extra });
      } catch (error) {
        sendError(message.id, error, extra);
      }
    },
    (error) => sendError(message.id, error, extra),
  );
  inFlight.add(done);
  done.finally(() => inFlight.delete(done));
});
lines.on("close", async () => {
  try {
    await Promise.allSettled([...inFlight]);
    await aigne?.shutdown?.();
  } finally {
    process.exit(0);
  }
});
process.on("unhandledRejection", (error) => {
  writeLog(`aigne-ci host: unhandled rejection: ${errorInfo(error).stack ?? errorInfo(error).message}\n`);
});
