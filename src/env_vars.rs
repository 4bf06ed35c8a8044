//! Every environment variable aigne-ci reads, declared once.
//!
//! Flags read their `AIGNE_CI_*` variable through clap (`env = EnvVars::…`), so the precedence
//! is flag > environment > default. Everything else (provider keys, GitHub runner files) is read
//! once into [`crate::settings::Environment`] with envy. No other module calls `std::env::var`.

/// Namespace for the names of environment variables.
pub struct EnvVars;

impl EnvVars {
    // --- flags (one per flag, `AIGNE_CI_<FLAG>`) ---
    pub const AIGNE_CI_URL: &'static str = "AIGNE_CI_URL";
    pub const AIGNE_CI_ENTRY_AGENT: &'static str = "AIGNE_CI_ENTRY_AGENT";
    pub const AIGNE_CI_INPUT: &'static str = "AIGNE_CI_INPUT";
    pub const AIGNE_CI_PROMPT: &'static str = "AIGNE_CI_PROMPT";
    pub const AIGNE_CI_INPUT_JSON: &'static str = "AIGNE_CI_INPUT_JSON";
    pub const AIGNE_CI_ON_INVALID_INPUT: &'static str = "AIGNE_CI_ON_INVALID_INPUT";
    pub const AIGNE_CI_CACHE_DIR: &'static str = "AIGNE_CI_CACHE_DIR";
    pub const AIGNE_CI_SHA256: &'static str = "AIGNE_CI_SHA256";
    pub const AIGNE_CI_OFFLINE: &'static str = "AIGNE_CI_OFFLINE";
    pub const AIGNE_CI_REFRESH: &'static str = "AIGNE_CI_REFRESH";
    pub const AIGNE_CI_SUBDIR: &'static str = "AIGNE_CI_SUBDIR";
    pub const AIGNE_CI_TOKEN: &'static str = "AIGNE_CI_TOKEN";
    pub const AIGNE_CI_MAX_UNPACKED_BYTES: &'static str = "AIGNE_CI_MAX_UNPACKED_BYTES";
    pub const AIGNE_CI_MAX_ENTRIES: &'static str = "AIGNE_CI_MAX_ENTRIES";
    pub const AIGNE_CI_CONNECT_TIMEOUT: &'static str = "AIGNE_CI_CONNECT_TIMEOUT";
    pub const AIGNE_CI_READ_TIMEOUT: &'static str = "AIGNE_CI_READ_TIMEOUT";
    pub const AIGNE_CI_HTTP_RETRIES: &'static str = "AIGNE_CI_HTTP_RETRIES";
    pub const AIGNE_CI_MODEL: &'static str = "AIGNE_CI_MODEL";
    pub const AIGNE_CI_TEMPERATURE: &'static str = "AIGNE_CI_TEMPERATURE";
    pub const AIGNE_CI_TOP_P: &'static str = "AIGNE_CI_TOP_P";
    pub const AIGNE_CI_PRESENCE_PENALTY: &'static str = "AIGNE_CI_PRESENCE_PENALTY";
    pub const AIGNE_CI_FREQUENCY_PENALTY: &'static str = "AIGNE_CI_FREQUENCY_PENALTY";
    pub const AIGNE_CI_REASONING_EFFORT: &'static str = "AIGNE_CI_REASONING_EFFORT";
    pub const AIGNE_CI_CONCURRENCY: &'static str = "AIGNE_CI_CONCURRENCY";
    pub const AIGNE_CI_TIMEOUT: &'static str = "AIGNE_CI_TIMEOUT";
    pub const AIGNE_CI_TOTAL_TIMEOUT: &'static str = "AIGNE_CI_TOTAL_TIMEOUT";
    pub const AIGNE_CI_RETRIES: &'static str = "AIGNE_CI_RETRIES";
    pub const AIGNE_CI_MAX_RESPONSE_SIZE: &'static str = "AIGNE_CI_MAX_RESPONSE_SIZE";
    pub const AIGNE_CI_SHARD: &'static str = "AIGNE_CI_SHARD";
    pub const AIGNE_CI_GRACE_PERIOD: &'static str = "AIGNE_CI_GRACE_PERIOD";
    pub const AIGNE_CI_FAIL_ON: &'static str = "AIGNE_CI_FAIL_ON";
    pub const AIGNE_CI_MIN_PASS_RATE: &'static str = "AIGNE_CI_MIN_PASS_RATE";
    pub const AIGNE_CI_REPEAT: &'static str = "AIGNE_CI_REPEAT";
    pub const AIGNE_CI_REPEAT_MIN_PASS: &'static str = "AIGNE_CI_REPEAT_MIN_PASS";
    pub const AIGNE_CI_BASELINE: &'static str = "AIGNE_CI_BASELINE";
    pub const AIGNE_CI_JUDGE_MODEL: &'static str = "AIGNE_CI_JUDGE_MODEL";
    pub const AIGNE_CI_OUT_DIR: &'static str = "AIGNE_CI_OUT_DIR";
    pub const AIGNE_CI_OUTPUT: &'static str = "AIGNE_CI_OUTPUT";
    pub const AIGNE_CI_SUMMARY: &'static str = "AIGNE_CI_SUMMARY";
    pub const AIGNE_CI_JUNIT: &'static str = "AIGNE_CI_JUNIT";
    pub const AIGNE_CI_TRANSCRIPTS: &'static str = "AIGNE_CI_TRANSCRIPTS";
    pub const AIGNE_CI_REPORT: &'static str = "AIGNE_CI_REPORT";
    pub const AIGNE_CI_ENGINE: &'static str = "AIGNE_CI_ENGINE";
    pub const AIGNE_CI_RECORD: &'static str = "AIGNE_CI_RECORD";
    pub const AIGNE_CI_REPLAY: &'static str = "AIGNE_CI_REPLAY";
    pub const AIGNE_CI_GITHUB: &'static str = "AIGNE_CI_GITHUB";
    pub const AIGNE_CI_MAX_TOOL_TURNS: &'static str = "AIGNE_CI_MAX_TOOL_TURNS";
    pub const AIGNE_CI_DENY_EXEC: &'static str = "AIGNE_CI_DENY_EXEC";
    pub const AIGNE_CI_MAX_REFLECTION_ROUNDS: &'static str = "AIGNE_CI_MAX_REFLECTION_ROUNDS";
    pub const AIGNE_CI_MAX_TEAM_ITERATIONS: &'static str = "AIGNE_CI_MAX_TEAM_ITERATIONS";
    pub const AIGNE_CI_MAX_FILE_SIZE: &'static str = "AIGNE_CI_MAX_FILE_SIZE";
    pub const AIGNE_CI_MAX_INPUTS_SIZE: &'static str = "AIGNE_CI_MAX_INPUTS_SIZE";
    pub const AIGNE_CI_MAX_TOOL_RESULT: &'static str = "AIGNE_CI_MAX_TOOL_RESULT";
    pub const AIGNE_CI_ALLOW_READ: &'static str = "AIGNE_CI_ALLOW_READ";
    pub const AIGNE_CI_ALLOW_INSTALL_SCRIPTS: &'static str = "AIGNE_CI_ALLOW_INSTALL_SCRIPTS";
    pub const AIGNE_CI_NODE_ENGINE_VERSION: &'static str = "AIGNE_CI_NODE_ENGINE_VERSION";
    pub const AIGNE_CI_NODE_ENGINE_DIR: &'static str = "AIGNE_CI_NODE_ENGINE_DIR";
    pub const AIGNE_CI_TRUST_PROJECT_ENV: &'static str = "AIGNE_CI_TRUST_PROJECT_ENV";
    pub const AIGNE_CI_ALLOW_INSECURE_REDIRECT: &'static str = "AIGNE_CI_ALLOW_INSECURE_REDIRECT";
    pub const AIGNE_CI_DRY_RUN: &'static str = "AIGNE_CI_DRY_RUN";
    pub const AIGNE_CI_GITHUB_TOKEN: &'static str = "AIGNE_CI_GITHUB_TOKEN";

    // --- test knobs ---
    /// Set to any value to make every retry back-off zero (tests only).
    pub const AIGNE_CI_TEST_NO_RETRY_DELAY: &'static str = "AIGNE_CI_TEST_NO_RETRY_DELAY";
    /// Prefix of `AIGNE_CI_TEST_BASE_URL_<PROVIDER>` (e.g. `…_DEEPSEEK`): points a provider whose
    /// base URL AIGNE hard-codes at a fake server (tests only: read by debug builds only, so a
    /// release build has no such redirect).
    pub const AIGNE_CI_TEST_BASE_URL_PREFIX: &'static str = "AIGNE_CI_TEST_BASE_URL_";
    /// A PEM certificate every HTTP client trusts besides the built-in roots, so tests can serve
    /// https on loopback (read by debug builds only: a release build trusts no extra root).
    pub const AIGNE_CI_TEST_ROOT_CERT: &'static str = "AIGNE_CI_TEST_ROOT_CERT";

    // --- AIGNE / model selection (read as AIGNE reads them) ---
    pub const MODEL: &'static str = "MODEL";
    /// MCP request timeout in milliseconds (AIGNE's `MCPAgent`), before [`Self::TIMEOUT`].
    pub const MCP_TIMEOUT: &'static str = "MCP_TIMEOUT";
    /// Fallback MCP request timeout in milliseconds (AIGNE's `MCPAgent`).
    pub const TIMEOUT: &'static str = "TIMEOUT";

    // --- native providers: Anthropic, Gemini, Bedrock, AIGNE Hub (read as AIGNE and the SDKs do) ---
    pub const ANTHROPIC_API_KEY: &'static str = "ANTHROPIC_API_KEY";
    pub const CLAUDE_API_KEY: &'static str = "CLAUDE_API_KEY";
    /// Read by `@anthropic-ai/sdk`, so the official runtime honours it too.
    pub const ANTHROPIC_BASE_URL: &'static str = "ANTHROPIC_BASE_URL";
    pub const GEMINI_API_KEY: &'static str = "GEMINI_API_KEY";
    pub const GOOGLE_API_KEY: &'static str = "GOOGLE_API_KEY";
    /// Read by `@google/genai`, so the official runtime honours it too.
    pub const GOOGLE_GEMINI_BASE_URL: &'static str = "GOOGLE_GEMINI_BASE_URL";
    pub const AWS_ACCESS_KEY_ID: &'static str = "AWS_ACCESS_KEY_ID";
    pub const AWS_SECRET_ACCESS_KEY: &'static str = "AWS_SECRET_ACCESS_KEY";
    /// Temporary credentials (OIDC in CI); AIGNE itself does not pass it on.
    pub const AWS_SESSION_TOKEN: &'static str = "AWS_SESSION_TOKEN";
    pub const AWS_REGION: &'static str = "AWS_REGION";
    /// Endpoint overrides the AWS SDKs read (service-specific first).
    pub const AWS_ENDPOINT_URL_BEDROCK_RUNTIME: &'static str = "AWS_ENDPOINT_URL_BEDROCK_RUNTIME";
    pub const AWS_ENDPOINT_URL: &'static str = "AWS_ENDPOINT_URL";
    pub const AIGNE_HUB_API_KEY: &'static str = "AIGNE_HUB_API_KEY";
    pub const AIGNE_HUB_API_URL: &'static str = "AIGNE_HUB_API_URL";
    /// Names this machine in the hub's `x-aigne-hub-client-did` header.
    pub const HOSTNAME: &'static str = "HOSTNAME";

    // --- runner environment ---
    pub const GITHUB_ACTIONS: &'static str = "GITHUB_ACTIONS";
    pub const GITHUB_WORKSPACE: &'static str = "GITHUB_WORKSPACE";
    pub const GITHUB_OUTPUT: &'static str = "GITHUB_OUTPUT";
    pub const GITHUB_STEP_SUMMARY: &'static str = "GITHUB_STEP_SUMMARY";
    pub const GITHUB_TOKEN: &'static str = "GITHUB_TOKEN";
    /// `aigne-ci comment`: the event, the repository, the API and the run to link to.
    pub const GITHUB_EVENT_NAME: &'static str = "GITHUB_EVENT_NAME";
    pub const GITHUB_EVENT_PATH: &'static str = "GITHUB_EVENT_PATH";
    pub const GITHUB_REPOSITORY: &'static str = "GITHUB_REPOSITORY";
    pub const GITHUB_API_URL: &'static str = "GITHUB_API_URL";
    pub const GITHUB_SERVER_URL: &'static str = "GITHUB_SERVER_URL";
    pub const GITHUB_RUN_ID: &'static str = "GITHUB_RUN_ID";
    pub const GITHUB_RUN_ATTEMPT: &'static str = "GITHUB_RUN_ATTEMPT";
    pub const GITHUB_WORKFLOW: &'static str = "GITHUB_WORKFLOW";
    pub const GITHUB_JOB: &'static str = "GITHUB_JOB";
    pub const CI: &'static str = "CI";

    // --- inherited by stdio MCP servers (the MCP SDK's `getDefaultEnvironment`) ---
    /// The only variables a stdio MCP server inherits, besides its own `env`.
    pub const MCP_INHERITED: &'static [&'static str] =
        &["HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER"];

    // --- proxies (either case, upper case wins) ---
    pub const HTTP_PROXY: &'static str = "HTTP_PROXY";
    pub const HTTPS_PROXY: &'static str = "HTTPS_PROXY";
    pub const ALL_PROXY: &'static str = "ALL_PROXY";
    pub const NO_PROXY: &'static str = "NO_PROXY";
}
