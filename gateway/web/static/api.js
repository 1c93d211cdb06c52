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
const UNREACHABLE = "the server cannot be reached; check that the gateway is running";

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

/** One JSON request (the admin page's API, admin-api.js, is built on it too). */
export async function call(method, path, { json, signal, quiet401 = false } = {}) {
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
    throw new ApiError(0, UNREACHABLE);
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
  /** A new chat; `image` names one of `images()` (none: the default image). */
  createChat: (image) => call("POST", "/create_chat", image ? { json: { image } } : {}),
  images: () => call("GET", "/images"),
  deleteChat: (chatId) => call("DELETE", `/chat/${enc(chatId)}`),
  deleteAllChats: () => call("DELETE", "/chats/all"),
  /** The chat with `active_run_id`, the run going on in it now (or null). */
  chat: (chatId) => call("GET", `/chat/${enc(chatId)}`),
  /** Stop the chat's run: it ends `interrupted`, its stream with the `run_stopped` error. */
  stop: (chatId) => call("POST", `/chat/${enc(chatId)}/stop`),
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

// How a run's stream that dropped is picked up again: a try after each of these pauses, counted
// afresh whenever an event comes.
const RECONNECT_DELAYS_MS = [500, 1000, 2000, 4000, 8000];
const FINAL_EVENTS = new Set(["done", "error"]);
// The page's own code for a run it could not follow to its end (the gateway's are in errors.js).
const CONNECTION_LOST = "connection_lost";

/**
 * Start a run: `{query}` for the AI data scientist, or `{code}` to run directly. Its Server-Sent
 * Events are read as `followRun` reads them. The request itself is never sent twice: its errors
 * (the chat busy, no connection) are thrown as they are.
 */
export async function streamQuery(chatId, body, onEvent, signal) {
  const response = await openStream(`/query/${enc(chatId)}?stream=true`, signal, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  await readRun(chatId, null, response, onEvent, signal);
}

/**
 * Follow a run of the chat, from its first event: `onEvent(name, data)` for step_started, code,
 * output, file, answer, and last done (with the reply, or the run's history record when its
 * events expired: `from_history`) or error (`status`, `detail`, `code`). Resolves after the last.
 * A connection that drops is opened again with Last-Event-ID, so no event comes twice; aborting
 * `signal` only stops reading (the run goes on: POST /chat/{id}/stop stops it).
 */
export async function followRun(chatId, runId, onEvent, signal) {
  await readRun(chatId, runId, null, onEvent, signal);
}

async function readRun(chatId, runId, response, onEvent, signal) {
  let lastId = null;
  let tries = 0;
  for (;;) {
    try {
      if (!response) {
        // A POST whose stream dropped before its first event: the chat names its run.
        runId ??= (await api.chat(chatId)).active_run_id;
        if (!runId) throw lost();
        const headers = lastId ? { "last-event-id": lastId } : {};
        response = await openStream(`/chat/${enc(chatId)}/runs/${enc(runId)}/events`, signal, { headers });
      }
      for await (const event of serverSentEvents(response)) {
        if (event.id && lastId && !isAfter(event.id, lastId)) continue;
        lastId = event.id || lastId;
        runId ??= event.data.run_id || null;
        tries = 0;
        onEvent(event.name, event.data);
        if (FINAL_EVENTS.has(event.name)) return;
      }
    } catch (e) {
      if (!droppedConnection(e)) throw e;
    }
    if (tries === RECONNECT_DELAYS_MS.length) throw lost();
    await pause(RECONNECT_DELAYS_MS[tries++], signal);
    response = null;
  }
}

async function openStream(path, signal, { method = "GET", headers = {}, body } = {}) {
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: { accept: "text/event-stream", ...headers },
      body,
      credentials: "same-origin",
      signal,
    });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, UNREACHABLE);
  }
  if (!response.ok) throw await errorFrom(response);
  return response;
}

/** No connection, or a gateway restarting behind a proxy: worth another try. (A stream that
 * ends without its last event is one too, but that is no error.) */
function droppedConnection(e) {
  return e instanceof ApiError && e.code !== CONNECTION_LOST && (e.status === 0 || e.status >= 502);
}

function lost() {
  const detail = "the connection to the run was lost; it may still be going: open the chat again to follow it";
  return new ApiError(0, detail, CONNECTION_LOST);
}

function pause(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(resolve, ms);
    const abort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", abort, { once: true });
  });
}

/** Whether stream id `id` ("<ms>-<n>") comes after `last`: a gateway that ignored Last-Event-ID
 * must not show an event twice. */
function isAfter(id, last) {
  const [ms, n] = id.split("-").map(Number);
  const [lastMs, lastN] = last.split("-").map(Number);
  return ms > lastMs || (ms === lastMs && n > lastN);
}

async function* serverSentEvents(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      let chunk;
      try {
        chunk = await reader.read();
      } catch (e) {
        if (e.name === "AbortError") throw e;
        throw new ApiError(0, "the connection closed");
      }
      const { value, done } = chunk;
      if (done) return;
      buffer += value.replace(/\r\n/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = parseEvent(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        if (event) yield event;
      }
    }
  } finally {
    // Read to its last event, or given up: the connection is closed either way.
    reader.cancel().catch(() => {});
  }
}

/** One event's block; comments (`:` keep-alives) and blocks without data are none. */
function parseEvent(block) {
  let name = "message";
  let id = null;
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) name = line.slice(6).trim();
    else if (line.startsWith("id:")) id = line.slice(3).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  if (!data.length) return null;
  try {
    return { name, id, data: JSON.parse(data.join("\n")) };
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
