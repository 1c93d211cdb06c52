// The gateway's HTTP API as the page uses it. Every error becomes an ApiError carrying the
// status, the server's machine-readable `code` (README: Errors), which the page decides by, and
// its `detail` text, which the page shows where the action happened.

export class ApiError extends Error {
  /** `code` is null when no answer came (status 0) or the answer was not the gateway's JSON. */
  constructor(status, detail, code = null) {
    super(detail);
    this.status = status;
    this.detail = detail;
    this.code = code;
  }
}

let onUnauthorized = () => {};

/** Called when any request answers 401: the session ended, the page goes back to sign-in. */
export function setUnauthorizedHandler(handler) {
  onUnauthorized = handler;
}

const enc = encodeURIComponent;

function detailText(body, status) {
  const detail = body && body.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    // FastAPI's validation errors: a list of {loc, msg}.
    return detail.map((d) => (d && d.msg) || JSON.stringify(d)).join("; ");
  }
  return `the server answered ${status}`;
}

function codeOf(body) {
  return body && typeof body.code === "string" ? body.code : null;
}

async function errorFrom(response, { quiet401 = false } = {}) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON (a proxy's error page): the status says enough.
  }
  const error = new ApiError(response.status, detailText(body, response.status), codeOf(body));
  if (response.status === 401 && !quiet401) onUnauthorized(error);
  return error;
}

async function call(method, path, { json, signal, quiet401 = false } = {}) {
  const init = { method, headers: { accept: "application/json" }, signal, credentials: "same-origin" };
  if (json !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, "the server cannot be reached; check that the gateway is running");
  }
  if (!response.ok) throw await errorFrom(response, { quiet401 });
  return response.status === 204 ? null : response.json();
}

export const api = {
  config: () => call("GET", "/auth/config"),
  me: () => call("GET", "/me", { quiet401: true }),
  loginLocal: (token) => call("GET", `/login/local?token=${enc(token)}`, { quiet401: true }),
  logout: () => call("POST", "/logout"),
  chats: () => call("GET", "/chats"),
  createChat: () => call("POST", "/create_chat"),
  deleteChat: (chatId) => call("DELETE", `/chat/${enc(chatId)}`),
  deleteAllChats: () => call("DELETE", "/chats/all"),
  messages: (chatId) => call("GET", `/chat/${enc(chatId)}/messages`),
  variables: (chatId) => call("GET", `/variables/${enc(chatId)}`),
  variable: (chatId, name, offset = 0, limit = 100) =>
    call("GET", `/variable/${enc(chatId)}/${enc(name)}?offset=${offset}&limit=${limit}`),
  files: (chatId) => call("GET", `/files/${enc(chatId)}`),
  restart: (chatId) => call("POST", `/restart/${enc(chatId)}`),
  /** `file` as listed: its `href` is the exact name, percent-encoded by the server. */
  deleteFile: (chatId, file) => call("DELETE", listedFileUrl(chatId, file)),
};

/** The chat's workspace as one zip. */
export function archiveUrl(chatId) {
  return `/files/${enc(chatId)}/archive`;
}

/** The chat taken away: `kind` is "ipynb" (a notebook), "py" (a script) or "md" (a report). */
export function exportUrl(chatId, kind) {
  return `/chat/${enc(chatId)}/export.${kind}`;
}

export function fileUrl(chatId, path) {
  return `/file/${enc(chatId)}/${path.split("/").map(enc).join("/")}`;
}

/** A listed file's URL from its `href`: the exact name, percent-encoded by the server (a name
 * that is not UTF-8 has no other way to be asked for; its `path` only shows it). */
export function listedFileUrl(chatId, file) {
  return `/file/${enc(chatId)}/${file.href}`;
}

export function variableCsvUrl(chatId, name) {
  return `/variable/${enc(chatId)}/${enc(name)}?format=csv`;
}

/**
 * Send a query (`{query}` for the AI data scientist, or `{code}` to run directly), reading its
 * Server-Sent Events as they come: `onEvent(name, data)` for step_started, code, output, file,
 * answer, done and error (with `status`, `detail` and `code`). Aborting `signal` closes the stream, which makes the gateway interrupt
 * the code that is running.
 */
export async function streamQuery(chatId, body, onEvent, signal) {
  let response;
  try {
    response = await fetch(`/query/${enc(chatId)}?stream=true`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify(body),
      credentials: "same-origin",
      signal,
    });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, "the server cannot be reached; check that the gateway is running");
  }
  if (!response.ok) throw await errorFrom(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value.replace(/\r\n/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = parseEvent(block);
      if (event) onEvent(event.name, event.data);
    }
  }
}

function parseEvent(block) {
  let name = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) name = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  if (!data.length) return null;
  try {
    return { name, data: JSON.parse(data.join("\n")) };
  } catch {
    return null;
  }
}

/**
 * Upload one file of any kind (multipart field `file` of POST /upload) with XMLHttpRequest, whose
 * upload progress events fetch lacks. `onProgress(fraction)` while the bytes go up; resolves with
 * the server's result for the file (kind "dataset" or "file"), rejects with its error.
 */
export function uploadFile(chatId, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/upload/${enc(chatId)}`);
    xhr.responseType = "json";
    xhr.setRequestHeader("accept", "application/json");
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    });
    xhr.upload.addEventListener("load", () => onProgress(1));
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve(xhr.response.files[0]);
        return;
      }
      const error = new ApiError(xhr.status, detailText(xhr.response, xhr.status), codeOf(xhr.response));
      if (xhr.status === 401) onUnauthorized(error);
      reject(error);
    });
    xhr.addEventListener("error", () =>
      reject(new ApiError(0, "the upload did not reach the server (connection closed)")),
    );
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
}
