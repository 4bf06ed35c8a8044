// Runs ChatModelInputs through the official AIGNE OpenAI-compatible models, for the conformance
// test in tests/models.rs. Usage: node openai_reference.cjs REF_DIR CASES_JSON BASE_URL
// Each case: {"provider": "openai"|"deepseek"|..., "model": "...", "input": ChatModelInput}.
// Prints one JSON line per case: {"output": ...} or {"error": "..."}.
const path = require("node:path");
const fs = require("node:fs");
const { createRequire } = require("node:module");

const [refDir, casesFile, baseURL] = process.argv.slice(2);
const requireRef = createRequire(path.join(path.resolve(refDir), "package.json"));
const classes = {
  openai: () => requireRef("@aigne/openai").OpenAIChatModel,
  deepseek: () => requireRef("@aigne/deepseek").DeepSeekChatModel,
  xai: () => requireRef("@aigne/xai").XAIChatModel,
  poe: () => requireRef("@aigne/poe").PoeChatModel,
  ollama: () => requireRef("@aigne/ollama").OllamaChatModel,
  openrouter: () => requireRef("@aigne/open-router").OpenRouterChatModel,
  doubao: () => requireRef("@aigne/doubao").DoubaoChatModel,
};

async function main() {
  const cases = JSON.parse(fs.readFileSync(casesFile, "utf8"));
  for (const item of cases) {
    const ChatModel = classes[item.provider]();
    const model = new ChatModel({
      apiKey: "sk-conformance",
      baseURL,
      model: item.model,
      modelOptions: item.modelOptions,
      retryOnError: false,
    });
    try {
      const output = await model.invoke(item.input);
      process.stdout.write(`${JSON.stringify({ output })}\n`);
    } catch (error) {
      process.stdout.write(`${JSON.stringify({ error: String(error && error.message) })}\n`);
    }
  }
}

main().catch((error) => {
  process.stderr.write(`${error && error.stack}\n`);
  process.exit(1);
});
