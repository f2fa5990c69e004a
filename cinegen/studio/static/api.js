// The studio's one door to the server: the public video API plus /v1/storyboards.
// Every failure becomes an ApiError with a sentence a person can act on; never a stack trace.

const KEY = "cinegen.apiKey";

export class ApiError extends Error {
  constructor(message, status = 0, code = "") {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function getKey() {
  try { return localStorage.getItem(KEY) || ""; } catch { return ""; }
}

export function setKey(key) {
  try {
    if (key) localStorage.setItem(KEY, key); else localStorage.removeItem(KEY);
  } catch { /* private mode: the key lives for this page only */ }
}

/** A `#key=...` in the address (printed by the server) is stored, then removed from the address. */
export function takeKeyFromUrl() {
  const m = location.hash.match(/(?:^#|&)key=([^&]+)/);
  if (!m) return false;
  setKey(decodeURIComponent(m[1]));
  history.replaceState(null, "", location.pathname + location.search + "#create");
  return true;
}

function authHeaders() {
  const key = getKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

const FRIENDLY = {
  401: "Your API key was not accepted",
  404: "Not found",
  409: "Not possible right now",
  413: "That file is too large",
  415: "That file type is not supported",
  429: "Too many requests or jobs for this key right now",
};

async function toError(resp) {
  let message = "";
  let code = "";
  try {
    const body = await resp.json();
    if (body && body.error && body.error.message) { message = body.error.message; code = body.error.code || ""; }
    else if (body && typeof body.detail === "string") message = body.detail;
  } catch { /* not JSON: fall through */ }
  const lead = FRIENDLY[resp.status];
  if (resp.status >= 500) {
    message = `The server hit a problem (${resp.status}). Try again; if it keeps happening, check the server's log.`;
  } else if (!message) {
    message = lead ? `${lead}.` : `The server answered ${resp.status}.`;
  } else if (resp.status === 401) {
    message = `${lead}: ${message}. Set your key with the "API key" button.`;
  } else if (resp.status === 429) {
    message = `${lead}: ${message}. Wait for a job to finish and try again.`;
  }
  return new ApiError(message, resp.status, code);
}

/** fetch with the key; `json` or `form` body; returns the parsed JSON (or the Response when raw). */
export async function api(path, { method = "GET", json, form, raw = false, signal } = {}) {
  const init = { method, headers: authHeaders(), signal };
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (form !== undefined) {
    init.body = form;
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (e) {
    if (e && e.name === "AbortError") throw e;
    throw new ApiError("Cannot reach the cinegen server. Is `cinegen serve` still running?", 0, "network");
  }
  if (!resp.ok) throw await toError(resp);
  if (raw) return resp;
  try {
    return await resp.json();
  } catch {
    throw new ApiError("The server sent an answer the studio could not read.", resp.status, "bad_json");
  }
}

// Media need the key too, so they are fetched as blobs and shown through object URLs (cached).
const blobs = new Map();

export async function mediaUrl(path) {
  if (blobs.has(path)) return blobs.get(path);
  const pending = api(path, { raw: true }).then(async (r) => URL.createObjectURL(await r.blob()));
  blobs.set(path, pending);
  try {
    return await pending;
  } catch (e) {
    blobs.delete(path);
    throw e;
  }
}

export function forgetMedia(prefix) {
  for (const k of [...blobs.keys()]) if (k.startsWith(prefix)) blobs.delete(k);
}

/** Save a server file to the person's disk under `name`. */
export async function download(path, name) {
  const url = await mediaUrl(path);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
}

/**
 * Follow one video's progress until it finishes: server-sent events when the browser can, else
 * polling. `onUpdate(video)` gets each new state; resolves with the final video object.
 */
export function watchVideo(id, onUpdate) {
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (v) => { if (!done) { done = true; resolve(v); } };
    const poll = async () => {
      while (!done) {
        try {
          const v = await api(`/v1/videos/${encodeURIComponent(id)}`);
          onUpdate(v);
          if (v.status === "completed" || v.status === "failed") return finish(v);
        } catch (e) {
          if (e.status === 404 || e.status === 401) { done = true; return reject(e); }
        }
        await new Promise((r) => setTimeout(r, 700));
      }
    };
    if (!("EventSource" in window)) { poll(); return; }
    const key = getKey();
    const es = new EventSource(`/v1/videos/${encodeURIComponent(id)}/events${key ? `?key=${encodeURIComponent(key)}` : ""}`);
    const handle = (ev) => {
      let v;
      try { v = JSON.parse(ev.data); } catch { return; }
      onUpdate(v);
      if (v.status === "completed" || v.status === "failed") { es.close(); finish(v); }
    };
    es.addEventListener("video.progress", handle);
    es.addEventListener("video.completed", handle);
    es.addEventListener("video.failed", handle);
    es.addEventListener("video.deleted", () => { es.close(); done = true; reject(new ApiError("The video was deleted.", 404)); });
    es.onerror = () => { es.close(); if (!done) poll(); };
  });
}
