// What the gateway's error codes mean to the page (README: Errors). The page decides by `code`,
// never by the words of `detail`, which are for people and may change; a failure names its
// culprit (the sandbox, the LLM, GitHub, the chat store) rather than blaming the sandbox for all.

const TITLES = {
  chat_busy: "This chat is busy",
  conflict: "Something else was running",
  payload_too_large: "Too large",
  disk_quota_exceeded: "This chat's disk space is full",
  chat_not_found: "This chat no longer exists",
  run_not_found: "That run is not in this chat",
  run_interrupted: "The run was cut off",
  file_not_found: "File not found",
  variable_not_found: "Variable not found",
  invalid_input: "That could not be used",
  invalid_path: "That path is not allowed",
  invalid_request: "The request was not understood",
  import_not_allowed: "Import not allowed",
  internal_error: "The server failed",
  sandbox_unavailable: "The sandbox could not be started",
  sandbox_error: "The sandbox failed",
  sandbox_timeout: "The sandbox did not answer in time",
  llm_not_configured: "No LLM is configured",
  llm_unavailable: "The LLM is not answering",
  llm_error: "The LLM refused the request",
  github_unavailable: "GitHub did not answer",
  store_unavailable: "The chat store is unavailable",
};

// Nobody is signed in here: the sign-in screen is the answer, not an error message.
const SIGNED_OUT = new Set(["not_signed_in", "session_expired"]);

// Failures of the LLM alone: code sent with "Run code" still runs.
const LLM_FAILURES = new Set(["llm_not_configured", "llm_unavailable", "llm_error"]);

export function errorTitle(code, status) {
  if (code && TITLES[code]) return TITLES[code];
  if (status === 0) return "No connection";
  return "Something went wrong";
}

export function isSignedOut(code) {
  return SIGNED_OUT.has(code);
}

export function isLlmFailure(code) {
  return LLM_FAILURES.has(code);
}
