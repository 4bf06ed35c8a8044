// aigne-ci Node bridge: runs the JavaScript function agents of an AIGNE project for the native
// engine. Shipped inside the aigne-ci binary and written to the cache before `node` starts it.
//
// Protocol: one JSON object per line. aigne-ci → bridge on stdin, bridge → aigne-ci on stdout.
// User code's console output and `process.stdout.write` go to stderr so they cannot corrupt it.
// Started as `node bridge.mjs <max reply bytes>`: a reply (or `invoke` message) larger than that
// (`--max-tool-result`) is never written; its call fails with a `AigneCiTooLarge` error instead.
//
//   → {id, type: "load", handle, path}                       load a .js/.mjs file (default export)
//   → {id, type: "load_inline", handle, name, code, base_dir} compile an inline `process` body
//   → {id, type: "call", call_id, handle, input, context_id, user_context, agents}
//   → {id, type: "ping"}
//   ← {id, type: "result", ok: true, value, user_context?} | {id, type: "result", ok: false, error}
//   ← {id, type: "invoke", call, context_id, agent, input, user_context}   JS → engine
//   → {id, type: "invoke_result", ok, value?, error?, user_context?}        engine → JS

import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { format } from "node:util";

const writeProtocol = process.stdout.write.bind(process.stdout);
const writeLog = process.stderr.write.bind(process.stderr);
process.stdout.write = writeLog;
for (const method of ["log", "info", "debug", "warn", "error", "trace"]) {
  console[method] = (...args) => writeLog(`${format(...args)}\n`);
}

const MAX_LINE_BYTES = Number(process.argv[2]) > 0 ? Number(process.argv[2]) : Infinity;
// Error messages and stacks are cut to this many characters (a thrown 200 MB message too).
const ERROR_TEXT_CAP = 64 * 1024;

const AGENT_REF = Symbol.for("aigne-ci.agent-ref");
const agents = new Map(); // handle -> { fn, self, name }
const contexts = new Map(); // context_id -> { userContext, depth }
const pendingInvokes = new Map(); // id -> { resolve, reject }
let nextInvokeId = 1;

function tooLarge(what) {
  const error = new Error(
    `${what} is larger than the ${MAX_LINE_BYTES}-byte cap (\`--max-tool-result\`)`,
  );
  error.name = "AigneCiTooLarge";
  error.what = what;
  return error;
}

// Whether the JSON of `value` is surely longer than `limit`: a lower bound of its size, summed
// until it passes the limit, so that a huge result is refused without being serialised.
function surelyLargerThan(value, limit) {
  let size = 0;
  const stack = [value];
  const seen = new WeakSet();
  while (stack.length > 0) {
    const item = stack.pop();
    if (typeof item === "string") {
      size += item.length + 2;
    } else if (item !== null && typeof item === "object") {
      if (seen.has(item)) continue;
      seen.add(item);
      const keys = Array.isArray(item) ? null : Object.keys(item);
      size += 2 + (keys ? keys.reduce((sum, key) => sum + key.length + 4, 0) : item.length);
      if (size > limit) return true;
      if (keys) for (const key of keys) stack.push(item[key]);
      else for (const entry of item) stack.push(entry);
    } else {
      size += 1;
    }
    if (size > limit) return true;
  }
  return false;
}

function send(message) {
  const line = JSON.stringify(message, jsonReplacer);
  if (line.length > MAX_LINE_BYTES || Buffer.byteLength(line) > MAX_LINE_BYTES) {
    throw tooLarge(message.type === "invoke" ? `the input of \`${message.agent}\`` : "the reply");
  }
  writeProtocol(`${line}\n`);
}

function cut(text) {
  return typeof text === "string" && text.length > ERROR_TEXT_CAP
    ? `${text.slice(0, ERROR_TEXT_CAP)}… [aigne-ci: cut]`
    : text;
}

function jsonReplacer(_key, value) {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Error) return { message: value.message, name: value.name };
  if (value instanceof Map) return Object.fromEntries(value);
  if (value instanceof Set) return [...value];
  return value;
}

function errorInfo(error) {
  if (error instanceof Error) {
    return {
      message: cut(error.message),
      name: error.name,
      stack: cut(error.stack),
      ...(error.name === "AigneCiTooLarge" ? { what: error.what } : {}),
    };
  }
  let message;
  try {
    message = typeof error === "string" ? error : (JSON.stringify(error) ?? String(error));
  } catch {
    message = String(error);
  }
  return { message: cut(message) };
}

// Keeps only what JSON can carry (functions, symbols and class instances other than plain data
// are dropped), so a definition can cross to the engine.
function jsonSafe(value, depth = 0) {
  if (depth > 64) return undefined;
  if (value === null || ["string", "number", "boolean"].includes(typeof value)) return value;
  if (Array.isArray(value)) {
    return value.map((item) => jsonSafe(item, depth + 1)).filter((item) => item !== undefined);
  }
  if (typeof value === "object") {
    const prototype = Object.getPrototypeOf(value);
    if (prototype !== Object.prototype && prototype !== null) return undefined;
    const out = {};
    for (const [key, item] of Object.entries(value)) {
      const safe = jsonSafe(item, depth + 1);
      if (safe !== undefined) out[key] = safe;
    }
    return out;
  }
  return undefined;
}

function ownProperties(fn) {
  const out = {};
  for (const key of Object.keys(fn)) {
    const safe = jsonSafe(fn[key]);
    if (safe !== undefined) out[key] = safe;
  }
  return out;
}

function isAgentInstance(value) {
  return (
    value &&
    typeof value === "object" &&
    typeof value.name === "string" &&
    typeof value.invoke === "function" &&
    typeof value.process === "function"
  );
}

function plainSchema(schema) {
  if (!schema || typeof schema !== "object") return undefined;
  if (typeof schema.toJSONSchema === "function") {
    try {
      return jsonSafe(schema.toJSONSchema());
    } catch {
      return undefined;
    }
  }
  if (typeof schema.safeParse === "function") return undefined; // a zod schema we cannot convert
  return jsonSafe(schema);
}

function describeFunction(handle, fn, extra) {
  const definition = { ...ownProperties(fn), ...extra };
  delete definition.process;
  const name = fn.agent_name || fn.agentName || definition.name || fn.name || undefined;
  if (name) definition.name = name;
  agents.set(handle, { fn, self: agentSelf(definition), name });
  return { kind: "function", definition };
}

function agentSelf(definition) {
  return {
    name: definition.name,
    description: definition.description,
    inputSchema: definition.input_schema ?? definition.inputSchema,
    outputSchema: definition.output_schema ?? definition.outputSchema,
  };
}

async function load({ handle, path }) {
  const module = await import(pathToFileURL(path).href);
  const value = module.default;
  if (typeof value === "function") return describeFunction(handle, value, {});
  if (isAgentInstance(value)) {
    const definition = {
      name: value.name,
      description: value.description,
      input_schema: plainSchema(value.inputSchema),
      output_schema: plainSchema(value.outputSchema),
    };
    const className = value.constructor?.name;
    const process = value._process ?? value.process;
    agents.set(handle, { fn: process, self: value, name: value.name });
    return { kind: "agent", class_name: className, definition: jsonSafe(definition) };
  }
  if (value && typeof value === "object") {
    if (typeof value.process === "function") {
      const { process, ...rest } = value;
      return describeFunction(handle, process, { type: "function", ...jsonSafe(rest) });
    }
    return { kind: "definition", definition: jsonSafe(value) };
  }
  throw new Error(
    `the default export is ${value === undefined ? "missing" : typeof value}; expected a function, an agent or an agent definition object`,
  );
}

function loadInline({ handle, name, code }) {
  const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor;
  const fn = new AsyncFunction("input", "options", code);
  agents.set(handle, { fn, self: agentSelf({ name }), name });
  return { kind: "function", definition: { name } };
}

function agentRef(name) {
  return {
    [AGENT_REF]: name,
    name,
    toString: () => name,
  };
}

function agentName(agent) {
  if (typeof agent === "string") return agent;
  if (agent && typeof agent === "object") {
    if (agent[AGENT_REF]) return agent[AGENT_REF];
    if (typeof agent.name === "string") return agent.name;
  }
  return undefined;
}

function replaceContents(target, source) {
  if (!source || typeof source !== "object" || target === source) return;
  for (const key of Object.keys(target)) delete target[key];
  Object.assign(target, source);
}

function makePrompts() {
  return new Proxy(
    {},
    {
      get(_target, property) {
        if (typeof property === "symbol" || property === "then") return undefined;
        return () => {
          throw new Error(
            `options.prompts.${String(property)}() asks an interactive question, which aigne-ci never does in CI; pass the answer in the case input instead`,
          );
        };
      },
    },
  );
}

function makeOptions(callId, contextId, state, agentNames) {
  const context = {
    invoke: (agent, input, invokeOptions) =>
      invokeAgent(callId, contextId, state, agent, input, invokeOptions, options),
    get agents() {
      return new Proxy(
        agentNames.map((name) => agentRef(name)),
        {
          get(target, property, receiver) {
            const found = Reflect.get(target, property, receiver);
            if (found !== undefined || typeof property !== "string") return found;
            return agentRef(property);
          },
        },
      );
    },
    get userContext() {
      return state.userContext;
    },
    set userContext(value) {
      replaceContents(state.userContext, value ?? {});
    },
    newContext: () => context,
  };
  const options = { context, prompts: makePrompts() };
  return options;
}

async function invokeAgent(callId, contextId, state, agent, input, invokeOptions, options) {
  if (invokeOptions?.userContext) Object.assign(state.userContext, invokeOptions.userContext);
  if (typeof agent === "function") {
    return collectOutput(await agent.call(agentSelf({ name: agent.name }), input ?? {}, options));
  }
  const name = agentName(agent);
  if (!name) throw new Error("context.invoke: the agent must be a name, `context.agents[name]` or a function");
  const id = `js-${nextInvokeId++}`;
  const reply = await new Promise((resolve, reject) => {
    pendingInvokes.set(id, { resolve, reject });
    send({
      id,
      type: "invoke",
      call: callId,
      context_id: contextId,
      agent: name,
      input: input ?? {},
      user_context: state.userContext,
    });
  });
  replaceContents(state.userContext, reply.user_context);
  if (!reply.ok) {
    const error = new Error(reply.error?.message ?? `invoking \`${name}\` failed`);
    error.name = "AgentInvokeError";
    throw error;
  }
  return reply.value;
}

function mergeChunk(output, chunk) {
  if (!chunk || typeof chunk !== "object") return;
  if (chunk.delta && typeof chunk.delta === "object") {
    for (const [key, text] of Object.entries(chunk.delta.text ?? {})) {
      const joined = (output[key] || "") + (text || "");
      if (joined) output[key] = joined;
    }
    for (const [key, value] of Object.entries(chunk.delta.json ?? {})) {
      if (value !== undefined) output[key] = value;
    }
  } else {
    Object.assign(output, chunk);
  }
}

async function collectOutput(result) {
  // A result that is not a record fails as AIGNE's `processAgentOutput` fails it.
  if (result === undefined || result === null) throw notRecord(result);
  const name = agentName(result);
  if (result && typeof result === "object" && result[AGENT_REF]) {
    return { $transferAgentTo: { agent: name } };
  }
  if (isAgentInstance(result)) return { $transferAgentTo: { agent: result.name } };
  if (typeof result === "object" && typeof result[Symbol.asyncIterator] === "function") {
    const output = {};
    const iterator = result[Symbol.asyncIterator]();
    for (;;) {
      const step = await iterator.next();
      if (step.done) {
        if (step.value && typeof step.value === "object") Object.assign(output, step.value);
        break;
      }
      mergeChunk(output, step.value);
    }
    return output;
  }
  if (typeof result !== "object" || Array.isArray(result)) throw notRecord(result);
  return result;
}

function notRecord(result) {
  return new Error(
    `expect to return a record type such as {result: ...}, but got (${typeof result}): ${result}`,
  );
}

async function call({ call_id: callId, handle, input, context_id: contextId, user_context, agents: names }) {
  const agent = agents.get(handle);
  if (!agent) throw new Error(`no agent is loaded as handle ${handle}`);
  let state = contexts.get(contextId);
  if (state) {
    state.depth += 1;
  } else {
    state = { userContext: { ...(user_context ?? {}) }, depth: 1 };
    contexts.set(contextId, state);
  }
  try {
    const options = makeOptions(callId, contextId, state, names ?? []);
    const value = await collectOutput(await agent.fn.call(agent.self, input ?? {}, options));
    if (surelyLargerThan(value, MAX_LINE_BYTES)) throw tooLarge("the result");
    return { value, user_context: state.userContext };
  } finally {
    state.depth -= 1;
    if (state.depth === 0) contexts.delete(contextId);
  }
}

async function handle(message) {
  switch (message.type) {
    case "load":
      return { value: await load(message) };
    case "load_inline":
      return { value: loadInline(message) };
    case "call":
      return await call(message);
    case "ping":
      return { value: "pong" };
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
    writeLog(`aigne-ci bridge: unreadable request: ${error.message}\n`);
    return;
  }
  if (message.type === "invoke_result") {
    const pending = pendingInvokes.get(message.id);
    if (pending) {
      pendingInvokes.delete(message.id);
      pending.resolve(message);
    }
    return;
  }
  const fail = (error) => {
    try {
      send({ id: message.id, type: "result", ok: false, error: errorInfo(error) });
    } catch (unsendable) {
      // Even the error is over the cap: its name and the cap are all that goes back.
      const { name, message: text, what } = errorInfo(unsendable);
      const error = { name, message: text.slice(0, 256), what };
      writeProtocol(`${JSON.stringify({ id: message.id, type: "result", ok: false, error })}\n`);
    }
  };
  handle(message).then((reply) => {
    try {
      send({ id: message.id, type: "result", ok: true, ...reply });
    } catch (error) {
      fail(error);
    }
  }, fail);
});
lines.on("close", () => process.exit(0));
process.on("unhandledRejection", (error) => {
  writeLog(`aigne-ci bridge: unhandled rejection: ${errorInfo(error).stack ?? errorInfo(error).message}\n`);
});
