// cinegen studio: Create, Gallery, Video, Storyboards. Plain DOM, hash routes, no build step.
import { api, ApiError, download, forgetMedia, getKey, mediaUrl, setKey, takeKeyFromUrl, watchVideo } from "./api.js";
import { pathPad, planOverlay } from "./plan.js";

const $ = (sel, root = document) => root.querySelector(sel);
const main = $("#main");
let config = null;
let boardTimer = null;
let pad = null; // the Create page's path pad
const jobs = new Map(); // video id -> latest video object, for the Create page's queue
const watching = new Set(); // video ids whose progress is being followed

const CAMERAS = ["static", "pan_left", "pan_right", "zoom_in", "zoom_out"];
const TRANSITIONS = ["cut", "dissolve"];
const EDITORIAL_FPS = [24, 25, 30];

// ---------------------------------------------------------------------------- small helpers
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, v);
  }
  for (const c of children.flat(Infinity)) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

function flash(message, kind = "error") {
  const el = $("#flash");
  el.textContent = message;
  el.className = kind;
  el.hidden = false;
  clearTimeout(flash.t);
  if (kind !== "error") flash.t = setTimeout(() => { el.hidden = true; }, 4000);
}

function clearFlash() { $("#flash").hidden = true; }

function showError(target, err) {
  const msg = err instanceof ApiError ? err.message : `Something went wrong in the page: ${err && err.message ? err.message : err}`;
  if (target) {
    target.textContent = msg;
    target.hidden = false;
  } else {
    flash(msg);
  }
  if (err instanceof ApiError && err.status === 401) openKeyDialog();
}

function field(label, input, hint) {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  return h("div", { class: "field" }, h("label", { for: id, text: label }), input,
    hint ? h("small", { class: "muted", text: hint }) : null);
}

function select(name, options, value) {
  return h("select", { name }, options.map((o) => {
    const [v, label] = Array.isArray(o) ? o : [o, String(o).replace("_", " ")];
    return h("option", { value: v, selected: String(v) === String(value) }, label);
  }));
}

function progressBar(pct, label) {
  return h("div", { class: "progress", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100",
    "aria-valuenow": String(pct), "aria-label": label },
  h("span", { style: `width:${pct}%` }), h("b", { text: `${pct}%` }));
}

function statusBadge(status) {
  return h("span", { class: `badge ${status}`, text: status.replace("_", " ") });
}

function when(ts) { return ts ? new Date(ts * 1000).toLocaleString() : "—"; }

function checkImage(file) {
  if (!file) return "Choose an image to start from.";
  const types = (config && config.image_types) || ["image/png", "image/jpeg", "image/webp"];
  const max = (config && config.max_upload_bytes) || 8 * 1024 * 1024;
  if (!types.includes(file.type)) return `${file.name} is not a PNG, JPEG or WebP image.`;
  if (file.size > max) return `${file.name} is ${(file.size / 1048576).toFixed(1)} MB; the limit is ${Math.floor(max / 1048576)} MB.`;
  return "";
}

/** The start image cropped to the video's aspect and scaled to its size (the API wants an exact fit). */
async function fitImage(file, size) {
  const [w, hh] = size.split("x").map(Number);
  const bmp = await createImageBitmap(file);
  const scale = Math.max(w / bmp.width, hh / bmp.height);
  const sw = w / scale;
  const sh = hh / scale;
  const canvas = document.createElement("canvas");
  canvas.width = w;
  canvas.height = hh;
  canvas.getContext("2d").drawImage(bmp, (bmp.width - sw) / 2, (bmp.height - sh) / 2, sw, sh, 0, 0, w, hh);
  return await new Promise((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error("encode"))), "image/png"));
}

async function videoEl(id, attrs = {}) {
  const v = h("video", { controls: true, playsinline: true, preload: "auto", ...attrs });
  try {
    const base = `/v1/videos/${encodeURIComponent(id)}/content`;
    const poster = await mediaUrl(`${base}?variant=thumbnail`).catch(() => null);
    if (poster) v.poster = poster;
    v.src = await mediaUrl(`${base}?variant=video`);
  } catch (e) {
    return h("p", { class: "error", text: `Could not load the video: ${e.message}` });
  }
  return v;
}

// ---------------------------------------------------------------------------- key dialog
function openKeyDialog(message) {
  const dlg = $("#key-dialog");
  $("#key-input").value = getKey();
  const err = $("#key-error");
  err.hidden = !message;
  err.textContent = message || "";
  if (!dlg.open) dlg.showModal();
  $("#key-input").focus();
}

function setupKeyDialog() {
  $("#key-button").addEventListener("click", () => openKeyDialog());
  $("#key-cancel").addEventListener("click", () => $("#key-dialog").close());
  $("#key-forget").addEventListener("click", () => { setKey(""); $("#key-input").value = ""; flash("Key forgotten.", "info"); });
  $("#key-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const key = $("#key-input").value.trim();
    setKey(key);
    try {
      await api("/v1/videos?limit=1");
      $("#key-dialog").close();
      flash("Key saved.", "info");
      route();
    } catch (e) {
      const err = $("#key-error");
      err.textContent = e.message;
      err.hidden = false;
    }
  });
}

// ---------------------------------------------------------------------------- Create
function jobCard(v) {
  const card = h("article", { class: "job", "data-video": v.id });
  fillJobCard(card, v);
  return card;
}

async function fillJobCard(card, v) {
  const done = v.status === "completed";
  const pct = done ? 100 : v.progress || 0;
  card.replaceChildren(...[
    h("div", { class: "job-head" }, statusBadge(v.status), h("span", { class: "muted", text: `${v.seconds} s · ${v.size}${v.mode ? ` · ${v.mode}` : ""}` })),
    h("p", { class: "prompt", text: v.prompt || "" }),
    progressBar(pct, `Progress of ${v.prompt || v.id}`),
    v.error ? h("p", { class: "error", text: `Failed: ${v.error.message || v.error.code}` }) : null,
    h("div", { class: "row" },
      v.status === "queued" || v.status === "in_progress"
        ? h("button", { type: "button", class: "quiet", onclick: () => cancelJob(v.id, card) }, "Cancel") : null,
      done ? h("a", { href: `#video/${v.id}`, class: "button quiet" }, "Open") : null),
  ].filter(Boolean));
  if (done && !card.querySelector("video")) {
    const el = await videoEl(v.id, { muted: true, autoplay: true, loop: true, "aria-label": `Video: ${v.prompt || v.id}` });
    card.insertBefore(el, card.children[2]);
    if (el.play) el.play().catch(() => {});
  }
}

async function cancelJob(id, card) {
  try {
    const v = await api(`/v1/videos/${encodeURIComponent(id)}/cancel`, { method: "POST" });
    jobs.set(id, v);
    fillJobCard(card, v);
  } catch (e) { showError(null, e); }
}

function follow(v) {
  jobs.set(v.id, v);
  const update = (nv) => {
    jobs.set(nv.id, nv);
    const card = document.querySelector(`.job[data-video="${nv.id}"]`);
    if (card) fillJobCard(card, nv);
  };
  if ((v.status === "queued" || v.status === "in_progress") && !watching.has(v.id)) {
    watching.add(v.id); // one watcher per job; it updates whichever card shows the job
    watchVideo(v.id, update).catch((e) => showError(null, e)).finally(() => watching.delete(v.id));
  }
}

async function viewCreate() {
  const sizes = config.sizes;
  let models = [];
  try { models = (await api("/v1/models")).data; } catch (e) { showError(null, e); }
  const form = h("form", { id: "create-form", class: "panel", novalidate: true },
    h("h1", { text: "Create a video" }),
    field("Prompt", h("textarea", { name: "prompt", rows: "3", required: true, maxlength: String(config.max_prompt_chars),
      placeholder: "a red ball bounces on the grass at sunset" })),
    h("div", { class: "grid4" },
      field("Mode", select("mode", [["text", "text to video"], ["image", "image to video"], ["extend", "extend a video"],
        ["loop", "make a loop"], ["edit", "edit a video"]], "text")),
      field("Seconds", h("input", { name: "seconds", type: "number", min: String(config.min_seconds), max: String(config.max_seconds),
        step: "1", value: String(Math.min(2, config.max_seconds)), required: true })),
      field("Size", select("size", sizes.map((s) => [s, s]), config.default_size)),
      field("Seed", h("input", { name: "seed", type: "number", min: "0", step: "1", placeholder: "random" })),
    ),
    h("div", { class: "grid4", id: "model-fields", hidden: !models.length },
      field("Model", select("model", models.map((m) => [m.id, `${m.id} (${m.family})`]), models.length ? models[0].id : "")),
      field("Quality", select("quality", [], ""))),
    h("div", { class: "field", id: "image-field", hidden: true },
      h("label", { for: "image-input", text: "Start image (PNG, JPEG or WebP)" }),
      h("input", { id: "image-input", name: "image", type: "file", accept: "image/png,image/jpeg,image/webp" })),
    h("div", { class: "field", id: "source-field", hidden: true },
      h("label", { for: "source-input", text: "Source video" }),
      h("select", { id: "source-input", name: "source" })),
    h("details", { id: "path-details" },
      h("summary", { text: "Draw a path (optional)" }),
      h("p", { class: "muted", text: "Drag on the pad: the first object in the prompt follows this path over the clip. Without one, the model's planner places and moves the objects as the prompt says." }),
      h("div", { id: "path-pad-slot" }),
      h("div", { class: "row" }, h("button", { type: "button", id: "path-clear", class: "quiet" }, "Clear path"),
        h("span", { id: "path-status", class: "muted", text: "No path: the planner decides." }))),
    h("details", {},
      h("summary", { text: "More settings" }),
      h("div", { class: "grid4" },
        field("Steps", h("input", { name: "steps", type: "number", min: "1", max: "200", placeholder: "default" })),
        field("Guidance", h("input", { name: "guidance", type: "number", min: "0", max: "30", step: "0.5", placeholder: "default" })),
        field("FPS", h("input", { name: "fps", type: "number", min: "1", max: String(config.max_fps), placeholder: String(config.default_fps) })),
        field("Negative prompt", h("input", { name: "negative_prompt", type: "text", placeholder: "blurry" })),
      )),
    h("p", { class: "error", id: "create-error", role: "alert", hidden: true }),
    h("div", { class: "row" }, h("button", { type: "submit", class: "primary" }, "Generate")),
  );
  const queue = h("section", { class: "panel", "aria-labelledby": "queue-title" },
    h("h2", { id: "queue-title", text: "Jobs" }),
    h("div", { id: "queue", class: "queue" }));
  main.replaceChildren(h("div", { class: "two" }, form, queue));

  const modeSel = form.elements.mode;
  const onMode = async () => {
    const m = modeSel.value;
    $("#image-field").hidden = m !== "image";
    $("#source-field").hidden = !["extend", "loop", "edit"].includes(m);
    if (!$("#source-field").hidden && !$("#source-input").options.length) {
      try {
        const list = await api("/v1/videos?limit=50");
        const done = list.data.filter((v) => v.status === "completed");
        $("#source-input").replaceChildren(...(done.length ? done.map((v) => h("option", { value: v.id }, `${(v.prompt || v.id).slice(0, 60)} (${v.seconds} s)`))
          : [h("option", { value: "" }, "No finished videos yet")]));
      } catch (e) { showError($("#create-error"), e); }
    }
  };
  modeSel.addEventListener("change", onMode);
  // the picked model decides the modes, sizes and qualities on offer (GET /v1/models)
  const onModel = () => {
    const m = models.find((x) => x.id === form.elements.model.value);
    if (!m) return;
    form.elements.quality.replaceChildren(...m.qualities.map((q) => h("option", { value: q },
      q === m.default_quality ? `${q} (default)` : q)));
    form.elements.quality.value = m.default_quality;
    for (const o of modeSel.options) o.disabled = !m.modes.includes(o.value);
    if (modeSel.selectedOptions[0].disabled) { modeSel.value = "text"; onMode(); }
    const size = form.elements.size;
    const keep = m.sizes.includes(size.value) ? size.value : (m.sizes.includes(config.default_size) ? config.default_size : m.sizes[0]);
    size.replaceChildren(...m.sizes.map((x) => h("option", { value: x }, x)));
    size.value = keep;
  };
  if (models.length) { form.elements.model.addEventListener("change", () => { onModel(); makePad(); }); onModel(); }
  const makePad = () => {
    pad = pathPad(form.elements.size.value, () => {
      $("#path-status").textContent = pad.path() ? "Path drawn: the first object follows it." : "No path: the planner decides.";
    });
    $("#path-pad-slot").replaceChildren(pad.el);
  };
  makePad();
  form.elements.size.addEventListener("change", makePad);
  $("#path-clear").addEventListener("click", () => pad.clear());
  const pre = sessionStorage.getItem("cinegen.preset");
  if (pre) {
    sessionStorage.removeItem("cinegen.preset");
    const p = JSON.parse(pre);
    form.elements.prompt.value = p.prompt || "";
    if (p.mode) { modeSel.value = p.mode; await onMode(); if (p.source) $("#source-input").value = p.source; }
  }
  form.addEventListener("submit", submitCreate);

  // the queue: this session's jobs, then anything still running for this key
  try {
    const list = await api("/v1/videos?limit=20");
    for (const v of list.data) if (v.status === "queued" || v.status === "in_progress") jobs.set(v.id, v);
  } catch (e) { showError($("#create-error"), e); }
  const q = $("#queue");
  const items = [...jobs.values()].sort((a, b) => b.created_at - a.created_at);
  q.replaceChildren(...(items.length ? items.map(jobCard) : [h("p", { class: "muted", id: "queue-empty", text: "No jobs yet. Submitted videos appear here with live progress." })]));
  for (const v of items) follow(v);
}

async function submitCreate(ev) {
  ev.preventDefault();
  const form = ev.currentTarget;
  const err = $("#create-error");
  err.hidden = true;
  const f = form.elements;
  const prompt = f.prompt.value.trim();
  const mode = f.mode.value;
  if (!prompt) { err.textContent = "Write a prompt first: what should the video show?"; err.hidden = false; f.prompt.focus(); return; }
  const seconds = Number(f.seconds.value);
  if (!Number.isInteger(seconds) || seconds < config.min_seconds || seconds > config.max_seconds) {
    err.textContent = `Seconds must be a whole number from ${config.min_seconds} to ${config.max_seconds}.`; err.hidden = false; f.seconds.focus(); return;
  }
  const body = { prompt, seconds: String(seconds), size: f.size.value };
  for (const k of ["seed", "steps", "fps"]) if (f[k].value !== "") body[k] = Number(f[k].value);
  if (f.guidance.value !== "") body.guidance = Number(f.guidance.value);
  if (f.negative_prompt.value.trim()) body.negative_prompt = f.negative_prompt.value.trim();
  if (pad && pad.path()) body.path = pad.path();
  if (f.model.value) body.model = f.model.value;
  if (f.quality.value) body.quality = f.quality.value;
  let opts;
  if (mode === "image") {
    const file = f.image.files[0];
    const problem = checkImage(file);
    if (problem) { err.textContent = problem; err.hidden = false; f.image.focus(); return; }
    let fitted;
    try {
      fitted = await fitImage(file, body.size);
    } catch {
      err.textContent = `${file.name} could not be read as an image; is it damaged?`; err.hidden = false; return;
    }
    const fd = new FormData();
    for (const [k, v] of Object.entries(body)) fd.append(k, String(v));
    fd.append("mode", "image");
    fd.append("input_reference", fitted, file.name.replace(/\.[^.]+$/, "") + ".png");
    opts = { method: "POST", form: fd };
  } else {
    if (mode !== "text") {
      const src = $("#source-input").value;
      if (!src) { err.textContent = "Pick a finished video to start from."; err.hidden = false; return; }
      body.mode = mode;
      body.video_ids = [src];
    }
    opts = { method: "POST", json: body };
  }
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const v = await api("/v1/videos", opts);
    const empty = $("#queue-empty");
    if (empty) empty.remove();
    $("#queue").prepend(jobCard(v));
    follow(v);
    flash("Queued. Progress shows in Jobs.", "info");
  } catch (e) {
    showError(err, e);
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------------------- Gallery
async function galleryCard(v) {
  const link = h("a", { class: "thumb", href: `#video/${v.id}`, "aria-label": `${v.prompt || v.id} (${v.status})` });
  const card = h("article", { class: "card" }, link,
    h("div", { class: "card-body" }, statusBadge(v.status), h("p", { class: "prompt", text: v.prompt || "" }),
      h("small", { class: "muted", text: `${v.seconds} s · ${v.size} · ${when(v.created_at)}` })));
  if (v.status !== "completed") {
    link.append(h("span", { class: "placeholder", text: v.status === "failed" ? "failed" : `${v.progress || 0}%` }));
    return card;
  }
  try {
    const thumb = await mediaUrl(`/v1/videos/${v.id}/content?variant=thumbnail`);
    link.style.backgroundImage = `url(${thumb})`;
    const [w, hgt] = v.size.split("x").map(Number);
    link.style.aspectRatio = `${w} / ${hgt}`;
    // hover-scrub: the spritesheet holds up to 8 frames in a row
    let sprite = null;
    let tiles = 1;
    const load = async () => {
      if (sprite) return;
      sprite = await mediaUrl(`/v1/videos/${v.id}/content?variant=spritesheet`);
      const img = new Image();
      img.src = sprite;
      await img.decode().catch(() => {});
      tiles = Math.max(1, Math.round(img.naturalWidth / w));
    };
    const show = (frac) => {
      if (!sprite) return;
      const i = Math.min(tiles - 1, Math.max(0, Math.floor(frac * tiles)));
      link.style.backgroundImage = `url(${sprite})`;
      link.style.backgroundSize = `${tiles * 100}% 100%`;
      link.style.backgroundPosition = `${tiles > 1 ? (i / (tiles - 1)) * 100 : 0}% 0`;
    };
    const reset = () => { link.style.backgroundImage = `url(${thumb})`; link.style.backgroundSize = "cover"; link.style.backgroundPosition = "center"; };
    link.addEventListener("pointerenter", () => load().catch(() => {}));
    link.addEventListener("pointermove", (e) => { const r = link.getBoundingClientRect(); show((e.clientX - r.left) / r.width); });
    link.addEventListener("pointerleave", reset);
    let kf = 0;
    link.addEventListener("keydown", async (e) => { // keyboard scrub: arrow keys step through frames
      if (e.key !== "ArrowRight" && e.key !== "ArrowLeft") return;
      e.preventDefault();
      await load().catch(() => {});
      kf = Math.min(tiles - 1, Math.max(0, kf + (e.key === "ArrowRight" ? 1 : -1)));
      show((kf + 0.5) / tiles);
    });
    link.addEventListener("blur", reset);
  } catch {
    link.append(h("span", { class: "placeholder", text: "no preview" }));
  }
  return card;
}

async function viewGallery() {
  const grid = h("div", { class: "gallery", id: "gallery" });
  const more = h("button", { type: "button", class: "quiet", hidden: true }, "Load more");
  const err = h("p", { class: "error", role: "alert", hidden: true });
  main.replaceChildren(h("section", { class: "panel" }, h("h1", { text: "Gallery" }),
    h("p", { class: "muted", text: "Hover (or focus and press ← →) to scrub. Open a video to play, download, remix or extend it." }),
    err, grid, more));
  let after = null;
  const page = async () => {
    try {
      const list = await api(`/v1/videos?limit=24${after ? `&after=${encodeURIComponent(after)}` : ""}`);
      if (!list.data.length && !after) grid.append(h("p", { class: "muted", text: "No videos yet. Make one on the Create page." }));
      for (const v of list.data) grid.append(await galleryCard(v));
      after = list.last_id;
      more.hidden = !list.has_more;
    } catch (e) { showError(err, e); }
  };
  more.addEventListener("click", page);
  await page();
}

// ---------------------------------------------------------------------------- one video
async function viewVideo(id) {
  const err = h("p", { class: "error", role: "alert", hidden: true });
  let v;
  try {
    v = await api(`/v1/videos/${encodeURIComponent(id)}`);
  } catch (e) {
    main.replaceChildren(h("section", { class: "panel" }, h("h1", { text: "Video" }), err));
    showError(err, e);
    return;
  }
  const ccText = v.status === "completed" ? "Checking…" : "Available once the video is finished";
  const rows = [["Status", v.status], ["Mode", v.mode || "text"], ["Seconds", v.seconds], ["Size", v.size], ["FPS", v.fps ?? "—"],
    ["Seed", v.seed ?? "—"], ["Negative prompt", v.negative_prompt || "—"], ["Created", when(v.created_at)], ["Expires", when(v.expires_at)],
    ["Remixed from", v.remixed_from_video_id || "—"], ["Content credentials", ccText], ["ID", v.id]];
  const remix = h("form", { class: "inline-form" },
    field("Remix with a new prompt", h("input", { name: "prompt", type: "text", value: v.prompt || "", required: true })),
    h("button", { type: "submit", class: "primary" }, "Remix"));
  remix.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.hidden = true;
    const prompt = remix.elements.prompt.value.trim();
    if (!prompt) { err.textContent = "Write the new prompt for the remix."; err.hidden = false; return; }
    try {
      const nv = await api(`/v1/videos/${encodeURIComponent(id)}/remix`, { method: "POST", json: { prompt } });
      jobs.set(nv.id, nv);
      location.hash = "#create";
    } catch (e) { showError(err, e); }
  });
  const extend = async () => {
    err.hidden = true;
    try {
      const nv = await api("/v1/videos", { method: "POST", json: { prompt: v.prompt || "continue", seconds: v.seconds, size: v.size, mode: "extend", video_ids: [id] } });
      jobs.set(nv.id, nv);
      location.hash = "#create";
    } catch (e) { showError(err, e); }
  };
  const del = async () => {
    if (!confirm("Delete this video and its files?")) return;
    try {
      await api(`/v1/videos/${encodeURIComponent(id)}`, { method: "DELETE" });
      forgetMedia(`/v1/videos/${id}/`);
      location.hash = "#gallery";
    } catch (e) { showError(err, e); }
  };
  const done = v.status === "completed";
  if (done) {
    api(`/v1/studio/videos/${encodeURIComponent(id)}/credentials`).then((cc) => {
      const text = {
        trusted: `Signed and trusted${cc.signer ? ` (${cc.signer})` : ""}`,
        valid: `Signed and intact; signer${cc.signer ? ` ${cc.signer}` : ""} is not in this server's trust list`,
        none: "None: this video carries no content credentials",
        invalid: `Invalid: ${(cc.errors || []).join("; ") || "the manifest does not match the file"}`,
      }[cc.state] || cc.message || cc.state;
      const dd = document.querySelector("[data-cc]");
      if (dd) { dd.textContent = text; dd.dataset.cc = cc.state; }
    }).catch((e) => { const dd = document.querySelector("[data-cc]"); if (dd) dd.textContent = `Could not check: ${e.message}`; });
  }
  main.replaceChildren(h("section", { class: "panel video-page" },
    h("h1", { text: v.prompt || v.id }),
    err,
    h("div", { class: "two" },
      h("div", {}, done ? await videoEl(id, { "aria-label": `Video: ${v.prompt || id}` }) : progressBar(v.progress || 0, "Progress"),
        h("div", { class: "row" },
          done ? h("button", { type: "button", class: "primary", onclick: () => download(`/v1/videos/${id}/content?variant=video`, `${id}.mp4`).catch((e) => showError(err, e)) }, "Download MP4") : null,
          done ? h("button", { type: "button", onclick: extend }, "Extend") : null,
          h("button", { type: "button", class: "quiet danger", onclick: del }, "Delete"))),
      h("div", {},
        h("dl", { class: "settings" }, rows.map(([k, val]) => [h("dt", { text: k }),
          h("dd", { text: String(val), "data-cc": k === "Content credentials" ? "pending" : null })])),
        done ? remix : null,
        h("div", { id: "plan-slot" }))),
  ));
  if (done) showPlan(v);
}

async function showPlan(v) {
  if (!v.has_plan) return; // rendered without a plan: nothing to show (and no 404 to log)
  let plan;
  try {
    plan = await api(`/v1/videos/${encodeURIComponent(v.id)}/plan`);
  } catch { return; } // rendered without a plan (404) or not yours: nothing to show
  const thumb = await mediaUrl(`/v1/videos/${v.id}/content?variant=thumbnail`).catch(() => null);
  const [w, hgt] = v.size.split("x").map(Number);
  const slot = $("#plan-slot");
  if (slot) slot.replaceChildren(h("h2", { text: "Shot plan" }), await planOverlay(plan, thumb, w, hgt),
    h("p", { class: "muted", text: plan.objects.map((o) => o.phrase).join(" · ") }));
}

// ---------------------------------------------------------------------------- Storyboards
async function viewBoards() {
  const err = h("p", { class: "error", role: "alert", hidden: true });
  const list = h("ul", { class: "boards" });
  const create = async () => {
    try {
      const wide = config.sizes.find((x) => { const [w, hh] = x.split("x").map(Number); return w > hh; }) || config.default_size;
      const [width, height] = wide.split("x").map(Number);
      const b = await api("/v1/storyboards", { method: "POST", json: { title: "Untitled storyboard", width, height, shots: [] } });
      location.hash = `#board/${b.id}`;
    } catch (e) { showError(err, e); }
  };
  main.replaceChildren(h("section", { class: "panel" }, h("h1", { text: "Storyboards" }),
    h("p", { class: "muted", text: "A storyboard is a sequence of shots sharing a style line, a seed and characters. Generate the shots, preview the reel, then export it to your editor." }),
    h("div", { class: "row" }, h("button", { type: "button", class: "primary", onclick: create }, "New storyboard")),
    err, list));
  try {
    const boards = await api("/v1/storyboards");
    list.replaceChildren(...(boards.data.length ? boards.data.map((b) => h("li", {},
      h("a", { href: `#board/${b.id}` }, b.title), h("span", { class: "muted", text: ` · ${b.shots} shot${b.shots === 1 ? "" : "s"} · ${when(b.updated_at)}` })))
      : [h("li", { class: "muted", text: "No storyboards yet." })]));
  } catch (e) { showError(err, e); }
}

function characterLine(c) {
  // the textarea's form of a character; the server parses it back (studio/storyboard.py Character)
  const text = c.description ? `${c.name}: ${c.description}` : c.name;
  return c.character_id ? `${text} @${c.character_id}` : text;
}

function readBoard(form, board) {
  // the page's current edit of the board: what PUT sends
  const f = form.elements;
  const [width, height] = f.size.value.split("x").map(Number);
  const characters = f.characters.value.split("\n").map((l) => l.trim()).filter(Boolean);
  const shots = [...form.querySelectorAll(".shot")].map((row) => {
    const id = row.dataset.shot;
    const old = board.shots.find((s) => s.id === id) || {};
    return {
      id,
      prompt: row.querySelector("[name=prompt]").value,
      image: old.image || null,
      seconds: Number(row.querySelector("[name=seconds]").value),
      camera: row.querySelector("[name=camera]").value,
      transition: row.querySelector("[name=transition]").value,
      transition_seconds: old.transition_seconds || 0.5,
      seed: old.seed ?? null,
    };
  });
  const seed = f.seed.value === "" ? 0 : Number(f.seed.value);
  return { title: f.title.value, style: f.style.value, seed, characters, fps: Number(f.fps.value), width, height,
    negative_prompt: board.negative_prompt || "", model: f.model ? f.model.value : (board.model || ""),
    quality: f.quality ? f.quality.value : (board.quality || ""), shots };
}

function shotRow(board, s, i, n, handlers) {
  const camera = select("camera", CAMERAS, s.camera);
  const transition = select("transition", TRANSITIONS, s.transition);
  if (i === 0) { transition.disabled = true; transition.title = "The first shot opens the reel"; }
  const running = s.status === "queued" || s.status === "in_progress";
  const row = h("li", { class: "shot", "data-shot": s.id },
    h("div", { class: "shot-num", text: String(i + 1), "aria-hidden": "true" }),
    h("div", { class: "shot-media", "data-media": s.id },
      s.status === "completed" ? h("span", { class: "muted", text: "loading…" }) : h("span", { class: "placeholder", text: s.has_image ? "image" : "no video yet" })),
    h("div", { class: "shot-fields" },
      field(`Shot ${i + 1} prompt`, h("textarea", { name: "prompt", rows: "2", text: s.prompt })),
      h("div", { class: "grid4" },
        field("Seconds", h("input", { name: "seconds", type: "number", min: "0", step: "0.25", value: String(s.seconds) })),
        field("Camera", camera),
        field("Transition in", transition),
        field("Start image", h("input", { name: "image", type: "file", accept: "image/png,image/jpeg,image/webp", "aria-label": `Start image for shot ${i + 1}` }))),
      h("div", { class: "shot-status" }, statusBadge(s.status),
        running || s.status === "completed" ? progressBar(s.progress, `Shot ${i + 1} progress`) : null,
        s.has_image ? h("small", { class: "muted", text: `image: ${s.image}` }) : null,
        s.error ? h("small", { class: "error", text: s.error }) : null)),
    h("div", { class: "shot-actions" },
      h("button", { type: "button", class: "quiet", disabled: i === 0, "aria-label": `Move shot ${i + 1} up`, onclick: () => handlers.move(s.id, -1) }, "↑"),
      h("button", { type: "button", class: "quiet", disabled: i === n - 1, "aria-label": `Move shot ${i + 1} down`, onclick: () => handlers.move(s.id, 1) }, "↓"),
      h("button", { type: "button", disabled: running, onclick: () => handlers.regenerate(s.id) }, s.status === "draft" ? "Generate" : "Regenerate"),
      h("button", { type: "button", class: "quiet danger", "aria-label": `Remove shot ${i + 1}`, onclick: () => handlers.remove(s.id) }, "Remove")));
  row.querySelector("[name=image]").addEventListener("change", (ev) => handlers.upload(s.id, ev.target));
  return row;
}

async function viewBoard(id) {
  clearInterval(boardTimer);
  let board;
  const err = h("p", { class: "error", id: "board-error", role: "alert", hidden: true });
  try {
    board = await api(`/v1/storyboards/${encodeURIComponent(id)}`);
  } catch (e) {
    main.replaceChildren(h("section", { class: "panel" }, h("h1", { text: "Storyboard" }), err));
    showError(err, e);
    return;
  }
  let models = [];
  try { models = (await api("/v1/models")).data; } catch (e) { showError(err, e); }
  const sizes = config.sizes.includes(`${board.width}x${board.height}`) ? config.sizes : [...config.sizes, `${board.width}x${board.height}`];
  const form = h("form", { class: "panel board", id: "board-form", novalidate: true },
    h("p", {}, h("a", { href: "#boards" }, "← All storyboards")),
    field("Title", h("input", { name: "title", type: "text", value: board.title, required: true })),
    h("div", { class: "grid4" },
      field("Style line (added to every shot)", h("input", { name: "style", type: "text", value: board.style, placeholder: "soft studio light, 35mm" })),
      field("Seed (shared)", h("input", { name: "seed", type: "number", min: "0", step: "1", value: String(board.seed) })),
      field("Size", select("size", sizes.map((s) => [s, s]), `${board.width}x${board.height}`)),
      field("FPS", select("fps", EDITORIAL_FPS.map((x) => [x, String(x)]), board.fps))),
    models.length > 1 || (models[0] && models[0].qualities.length > 1) ? h("div", { class: "grid4" },
      field("Model (every shot)", select("model", models.map((m) => [m.id, `${m.id} (${m.family})`]), board.model || models[0].id)),
      field("Quality", select("quality", [["", "model default"], ...[...new Set(models.flatMap((m) => m.qualities))].map((q) => [q, q])], board.quality || ""))) : null,
    field("Characters (one per line, “Name: description”; end a line with “@char_…” to use an API character’s images)",
      h("textarea", { name: "characters", rows: "2", text: board.characters.map(characterLine).join("\n") })),
    h("h2", {}, "Shots ", h("small", { class: "muted", id: "runtime", text: `${board.shots.length} shots · ${board.running_seconds} s` })),
    h("ol", { class: "shots", id: "shots" }),
    h("div", { class: "row" }, h("button", { type: "button", id: "add-shot", onclick: () => addShot() }, "Add shot")),
    err,
    h("div", { class: "row actions" },
      h("button", { type: "submit", id: "save-board" }, "Save"),
      h("button", { type: "button", class: "primary", id: "generate-all", onclick: () => generate(null) }, "Generate all shots"),
      h("button", { type: "button", id: "preview-reel", onclick: () => preview() }, "Preview reel"),
      h("button", { type: "button", id: "export-board", onclick: () => exportBoard() }, "Export"),
      h("button", { type: "button", class: "quiet danger", onclick: () => removeBoard() }, "Delete storyboard")),
    h("section", { id: "reel", class: "reel", hidden: true, "aria-label": "Reel preview" }),
    h("section", { id: "exports", class: "exports", hidden: !board.exports.length, "aria-labelledby": "exports-title" },
      h("h2", { id: "exports-title", text: "Exports" }), h("ul", { id: "export-list" })),
  );
  main.replaceChildren(form);

  const loadMedia = (s) => {
    const slot = document.querySelector(`[data-media="${s.id}"]`);
    if (!slot || slot.dataset.video === s.video_id) return;
    slot.dataset.video = s.video_id;
    // a silent preview without controls: it plays while pointed at or focused
    videoEl(s.video_id, { muted: true, loop: true, controls: false, tabindex: "0", "aria-label": `Shot ${s.id} video (plays on focus)` }).then((el) => {
      const play = () => { if (el.play) el.play().catch(() => {}); };
      const stop = () => { if (el.pause) el.pause(); };
      el.addEventListener("pointerenter", play);
      el.addEventListener("focus", play);
      el.addEventListener("pointerleave", stop);
      el.addEventListener("blur", stop);
      slot.replaceChildren(el);
    });
  };
  const render = (b) => { // the whole editor, from the server's board (after a save or an action)
    board = b;
    const list = $("#shots");
    list.replaceChildren(...b.shots.map((s, i) => shotRow(b, s, i, b.shots.length, handlers)));
    if (!b.shots.length) list.append(h("li", { class: "muted", text: "No shots yet. Add one." }));
    $("#runtime").textContent = `${b.shots.length} shots · ${b.running_seconds} s`;
    for (const s of b.shots) if (s.status === "completed" && s.video_id) loadMedia(s);
    renderExports(b.exports);
  };
  const update = (b) => { // statuses only, in place, so edits in progress are never overwritten
    board = { ...b, shots: b.shots };
    for (const s of b.shots) {
      const row = document.querySelector(`.shot[data-shot="${s.id}"]`);
      if (!row) continue;
      const i = b.shots.indexOf(s);
      const running = s.status === "queued" || s.status === "in_progress";
      row.querySelector(".shot-status").replaceChildren(statusBadge(s.status),
        running || s.status === "completed" ? progressBar(s.progress, `Shot ${i + 1} progress`) : "",
        s.has_image ? h("small", { class: "muted", text: `image: ${s.image}` }) : "",
        s.error ? h("small", { class: "error", text: s.error }) : "");
      const regen = [...row.querySelectorAll(".shot-actions button")].find((x) => /Generate|Regenerate/.test(x.textContent));
      if (regen) { regen.disabled = running; regen.textContent = s.status === "draft" ? "Generate" : "Regenerate"; }
      if (s.status === "completed" && s.video_id) loadMedia(s);
    }
  };
  const renderExports = (files) => {
    const ul = $("#export-list");
    if (!files || !files.length) return;
    $("#exports").hidden = false;
    const names = { reel: "Reel (MP4)", otio: "OpenTimelineIO (.otio) — Resolve", fcp7: "FCP7 XML (.xml) — Premiere, Resolve",
      edl: "CMX3600 EDL (.edl) — Avid", sheet_pdf: "Storyboard sheet (PDF)", sheet_png: "Storyboard sheet (PNG)",
      bundle: "Bundle (.zip): shots, reel, sheet and timelines with relative paths" };
    ul.replaceChildren(...files.map((f) => h("li", {}, h("button", { type: "button", class: "link", "data-export": f.kind,
      onclick: () => download(`${f.url}?t=${Date.now()}`, f.name).catch((e) => showError(err, e)) }, `${names[f.kind] || f.name}`),
    h("span", { class: "muted", text: ` ${f.name} · ${(f.bytes / 1024).toFixed(1)} KB` }))));
  };

  const save = async () => {
    err.hidden = true;
    const body = readBoard(form, board);
    const bad = body.shots.findIndex((s) => !(s.seconds > 0));
    if (bad >= 0) throw new ApiError(`Shot ${bad + 1} is ${body.shots[bad].seconds || 0} seconds long; a shot must last more than 0 seconds.`, 422);
    const blank = body.shots.findIndex((s) => !s.prompt.trim() && !s.image);
    if (blank >= 0) throw new ApiError(`Shot ${blank + 1} needs a prompt (or a start image).`, 422);
    if (!body.title.trim()) throw new ApiError("Give the storyboard a title.", 422);
    const b = await api(`/v1/storyboards/${encodeURIComponent(id)}`, { method: "PUT", json: body });
    board = b;
    return b;
  };
  const rerender = (b) => { const a = document.activeElement; if (a && a.closest && a.closest(".shot")) a.blur(); render(b); };
  const guarded = async (fn, doneMsg) => {
    try { const r = await fn(); if (doneMsg) flash(doneMsg, "info"); return r; } catch (e) { showError(err, e); return null; }
  };
  const handlers = {
    move: (sid, d) => guarded(async () => {
      const body = readBoard(form, board);
      const i = body.shots.findIndex((s) => s.id === sid);
      const j = i + d;
      [body.shots[i], body.shots[j]] = [body.shots[j], body.shots[i]];
      rerender(await api(`/v1/storyboards/${encodeURIComponent(id)}`, { method: "PUT", json: body }));
      const btn = document.querySelector(`.shot[data-shot="${sid}"] button[aria-label^="Move shot ${j + 1} ${d < 0 ? "up" : "down"}"]`);
      (btn && !btn.disabled ? btn : document.querySelector(`.shot[data-shot="${sid}"] textarea`)).focus();
    }),
    remove: (sid) => guarded(async () => {
      const body = readBoard(form, board);
      body.shots = body.shots.filter((s) => s.id !== sid);
      rerender(await api(`/v1/storyboards/${encodeURIComponent(id)}`, { method: "PUT", json: body }));
    }),
    regenerate: (sid) => generate([sid]),
    upload: (sid, input) => guarded(async () => {
      const file = input.files[0];
      const problem = checkImage(file);
      if (problem) { input.value = ""; throw new ApiError(problem, 415); }
      rerender(await save());
      const fd = new FormData();
      fd.append("file", file, file.name);
      rerender(await api(`/v1/storyboards/${encodeURIComponent(id)}/shots/${encodeURIComponent(sid)}/image`, { method: "POST", form: fd }));
    }, "Image attached: the shot will start from it."),
  };
  const addShot = () => guarded(async () => {
    const body = readBoard(form, board);
    const used = new Set(body.shots.map((s) => s.id));
    let n = body.shots.length + 1;
    while (used.has(`s${n}`)) n += 1;
    body.shots.push({ id: `s${n}`, prompt: "", image: null, seconds: 2, camera: "static", transition: "cut" });
    // a new shot has no prompt yet: keep it in the page until it has one
    const row = shotRow(board, { id: `s${n}`, prompt: "", seconds: 2, camera: "static", transition: "cut", status: "draft", progress: 0 },
      body.shots.length - 1, body.shots.length, handlers);
    const list = $("#shots");
    const empty = list.querySelector("li.muted");
    if (empty) empty.remove();
    list.append(row);
    row.querySelector("textarea").focus();
  });
  const generate = (ids) => guarded(async () => {
    const body = readBoard(form, board);
    if (!body.shots.length) throw new ApiError("This storyboard has no shots yet. Add a shot with a prompt, then generate.", 422);
    const empty = body.shots.findIndex((s) => !s.prompt.trim() && !s.image);
    if (empty >= 0) throw new ApiError(`Shot ${empty + 1} needs a prompt (or a start image) before it can be generated.`, 422);
    await save();
    const b = await api(`/v1/storyboards/${encodeURIComponent(id)}/generate`, { method: "POST", json: ids ? { shot_ids: ids } : {} });
    rerender(b);
    poll();
  }, ids ? "Shot queued." : "All shots queued.");
  const exportBoard = () => guarded(async () => {
    const body = readBoard(form, board);
    if (!body.shots.length) throw new ApiError("This storyboard has no shots to export. Add and generate shots first.", 422);
    await save();
    const fresh = await api(`/v1/storyboards/${encodeURIComponent(id)}`);
    update(fresh);
    const waiting = fresh.shots.map((s, i) => [s, i]).filter(([s]) => s.status !== "completed");
    if (waiting.length) {
      const desc = waiting.map(([s, i]) => `shot ${i + 1} (${s.status.replace("_", " ")})`).join(", ");
      throw new ApiError(`Not exported: ${desc} not finished. Generate every shot and wait for it to complete, then export again. Nothing was changed.`, 409);
    }
    const r = await api(`/v1/storyboards/${encodeURIComponent(id)}/export`, { method: "POST" });
    rerender(r.storyboard);
    $("#exports-title").scrollIntoView({ block: "nearest" });
    $("#export-list button").focus();
  }, "Exported: reel, timelines and sheet are ready to download.");
  const removeBoard = () => guarded(async () => {
    if (!confirm("Delete this storyboard? Its videos stay in the gallery.")) return;
    await api(`/v1/storyboards/${encodeURIComponent(id)}`, { method: "DELETE" });
    location.hash = "#boards";
  });
  const preview = () => guarded(async () => {
    const shots = board.shots.filter((s) => s.status === "completed" && s.video_id);
    if (!shots.length) throw new ApiError("No finished shots to preview yet. Generate the shots first.", 409);
    const reel = $("#reel");
    reel.hidden = false;
    const caption = h("p", { class: "muted", "aria-live": "polite" });
    const video = h("video", { controls: true, playsinline: true, muted: true, autoplay: true, "aria-label": "Reel preview", id: "reel-video" });
    reel.replaceChildren(h("h2", { text: "Reel preview" }), video, caption);
    let i = 0;
    const play = async () => {
      const s = shots[i];
      caption.textContent = `Shot ${board.shots.indexOf(s) + 1} of ${board.shots.length}: ${s.prompt}`;
      video.src = await mediaUrl(`/v1/videos/${encodeURIComponent(s.video_id)}/content?variant=video`);
      video.dataset.shot = s.id;
      video.play().catch(() => {});
    };
    video.addEventListener("ended", () => { i += 1; if (i < shots.length) play(); else caption.textContent = "End of reel."; });
    if (shots.length < board.shots.length) flash(`Previewing ${shots.length} of ${board.shots.length} shots; the rest are not finished.`, "info");
    await play();
  });
  const poll = () => {
    clearInterval(boardTimer);
    boardTimer = setInterval(async () => {
      if (!document.body.contains(form)) { clearInterval(boardTimer); return; }
      try {
        const b = await api(`/v1/storyboards/${encodeURIComponent(id)}`);
        update(b);
        if (!b.shots.some((s) => s.status === "queued" || s.status === "in_progress")) clearInterval(boardTimer);
      } catch (e) {
        if (e.status === 429) return; // over the key's request rate: try again on the next tick
        clearInterval(boardTimer);
        showError(err, e);
      }
    }, 1000);
  };
  form.addEventListener("submit", (ev) => { ev.preventDefault(); guarded(async () => rerender(await save()), "Saved."); });
  render(board);
  if (board.shots.some((s) => s.status === "queued" || s.status === "in_progress")) poll();
}

// ---------------------------------------------------------------------------- routing
async function route() {
  clearInterval(boardTimer);
  clearFlash();
  if (takeKeyFromUrl()) { const d = $("#key-dialog"); if (d.open) d.close(); }
  const hash = location.hash.replace(/^#/, "") || "create";
  const [name, arg] = hash.split("/");
  for (const a of document.querySelectorAll("[data-nav]")) {
    const on = a.dataset.nav === name || (name === "board" && a.dataset.nav === "boards") || (name === "video" && a.dataset.nav === "gallery");
    if (on) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  if (config && config.auth && !getKey()) {
    main.replaceChildren(h("section", { class: "panel" }, h("h1", { text: "Welcome to cinegen studio" }),
      h("p", { text: "This server needs an API key. Create one on the server with `cinegen keys create NAME`, then enter it." }),
      h("button", { type: "button", class: "primary", onclick: () => openKeyDialog() }, "Enter API key")));
    openKeyDialog();
    return;
  }
  try {
    if (name === "gallery") await viewGallery();
    else if (name === "video" && arg) await viewVideo(decodeURIComponent(arg));
    else if (name === "boards") await viewBoards();
    else if (name === "board" && arg) await viewBoard(decodeURIComponent(arg));
    else await viewCreate();
  } catch (e) {
    showError(null, e);
  }
  main.dataset.view = name;
}

async function start() {
  takeKeyFromUrl();
  setupKeyDialog();
  try {
    config = await api("/v1/studio/config");
  } catch (e) {
    main.replaceChildren(h("p", { class: "error", role: "alert", text: e.message }));
    return;
  }
  $("#key-button").hidden = !config.auth;
  window.addEventListener("hashchange", route);
  window.addEventListener("unhandledrejection", (ev) => { ev.preventDefault(); showError(null, ev.reason); });
  await route();
  document.body.dataset.ready = "1";
}

start();
