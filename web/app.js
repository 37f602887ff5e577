// sdpp web UI: submits jobs to the native API (POST /v1/jobs), follows each job's Server-Sent Events with fetch()
// (so the API key header can be sent), shows progress and the live preview, and collects results in a gallery.
"use strict";

const $ = (id) => document.getElementById(id);
const jobs = new Map();  // id -> {li, status, controller}
let lastSeed = null;

// ---- API ------------------------------------------------------------------------------------------------------
function headers(extra = {}) {
  const key = localStorage.getItem("sdpp.apiKey") || "";
  return key ? { ...extra, Authorization: "Bearer " + key } : extra;
}

async function api(path, options = {}) {
  const res = await fetch(path, { ...options, headers: headers(options.headers || {}) });
  const text = await res.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = { error: { message: text } }; }
  if (!res.ok) {
    const e = (body && body.error) || {};
    const err = new Error(e.message || res.status + " " + res.statusText);
    err.field = e.field;
    err.status = res.status;
    throw err;
  }
  return body;
}

// Reads an SSE stream from a fetch() body, calling onEvent(name, data) per event until the stream ends.
async function followEvents(path, onEvent, signal) {
  const res = await fetch(path, { headers: headers({ Accept: "text/event-stream" }), signal });
  if (!res.ok) throw new Error("events: HTTP " + res.status);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let name = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) name = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      if (data) onEvent(name, JSON.parse(data));
    }
  }
}

async function imageUrl(path) {
  const res = await fetch(path, { headers: headers() });
  if (!res.ok) throw new Error("image: HTTP " + res.status);
  return URL.createObjectURL(await res.blob());
}

// ---- form ------------------------------------------------------------------------------------------------------
let models = [];

async function loadCatalog() {
  try {
    const ready = await fetch("/ready").then((r) => r.json());
    $("server-state").textContent = ready.ready ? "ready" : "loading models…";
    if (!ready.ready) { setTimeout(loadCatalog, 1000); return; }
    models = (await api("/v1/models")).data;
    $("model").replaceChildren(...models.map((m) => new Option(`${m.name} (${m.family})`, m.name)));
    const samplers = (await api("/v1/samplers")).data;
    for (const s of samplers) $("sampler").append(new Option(s.aliases[0] ? `${s.aliases[0]} (${s.name})` : s.name, s.name));
    applyModelDefaults();
  } catch (e) {
    $("server-state").textContent = "error: " + e.message;
  }
}

function applyModelDefaults() {
  const m = models.find((x) => x.name === $("model").value);
  if (!m) return;
  $("width").value = m.defaults.width;
  $("height").value = m.defaults.height;
  $("steps").value = m.defaults.steps;
  $("cfg").value = m.defaults.cfg_scale;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function requestBody() {
  const body = {
    prompt: $("prompt").value,
    negative_prompt: $("negative").value,
    model: $("model").value || undefined,
    sampler: $("sampler").value || undefined,
    width: Number($("width").value),
    height: Number($("height").value),
    steps: Number($("steps").value),
    cfg_scale: Number($("cfg").value),
    batch: Number($("batch").value),
    preview_every: Number($("preview-every").value),
  };
  const seed = $("seed").value.trim();
  if (seed !== "" && Number(seed) >= 0) body.seed = Number(seed);
  if (painter.source) {
    body.init_image = painter.source;
    body.strength = Number($("strength").value);
    if ($("use-mask").checked) body.mask = $("mask-canvas").toDataURL("image/png");
  }
  return body;
}

async function submit(event) {
  event.preventDefault();
  showError("");
  try {
    const job = await api("/v1/jobs", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(requestBody()),
    });
    track(job);
  } catch (e) {
    showError(e.field ? `${e.field}: ${e.message}` : e.message);
  }
}

// ---- jobs ------------------------------------------------------------------------------------------------------
function setStatus(text) { $("status").textContent = text; }

function updateCancelButton() {
  $("cancel").disabled = ![...jobs.values()].some((j) => j.status === "queued" || j.status === "running");
}

function track(job) {
  const li = document.createElement("li");
  li.className = "job";
  li.dataset.id = job.id;
  const label = document.createElement("span");
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.className = "cancel-job";
  cancel.textContent = "Cancel";
  cancel.onclick = () => cancelJob(job.id);
  li.append(label, cancel);
  $("jobs").prepend(li);
  const entry = { li, label, cancel, status: "queued", seed: job.seed, controller: new AbortController() };
  jobs.set(job.id, entry);
  const setJob = (status, text) => {
    entry.status = status;
    li.dataset.status = status;
    label.textContent = `${job.id.slice(0, 8)} · seed ${job.seed} · ${text}`;
    updateCancelButton();
  };
  setJob("queued", job.queue_position ? `queued, position ${job.queue_position}` : "queued");
  setStatus(`job ${job.id.slice(0, 8)} queued`);

  followEvents(`/v1/jobs/${job.id}/events`, (name, data) => {
    switch (name) {
      case "queued":
        setJob("queued", `queued, position ${data.queue_position}`);
        setStatus(`queued: position ${data.queue_position}`);
        break;
      case "started":
        setJob("running", "running");
        $("progress").value = 0;
        break;
      case "progress":
        setJob("running", `step ${data.step}/${data.total}`);
        $("progress").value = data.total ? data.step / data.total : 0;
        setStatus(`step ${data.step}/${data.total} · ${data.it_per_s.toFixed(2)} it/s · ETA ${data.eta_s.toFixed(1)}s`);
        break;
      case "preview":
        $("preview").src = data.image;
        $("preview").dataset.step = data.step;
        $("preview").hidden = false;
        break;
      case "completed":
        setJob("succeeded", "done");
        $("progress").value = 1;
        setStatus(`done · seed ${data.seed}`);
        lastSeed = data.seed;
        addToGallery(job.id, data);
        finish(job.id);
        break;
      case "failed":
        setJob("failed", "failed: " + data.error.message);
        setStatus("failed: " + data.error.message);
        finish(job.id);
        break;
      case "cancelled":
        setJob("cancelled", "cancelled");
        setStatus("cancelled");
        finish(job.id);
        break;
    }
  }, entry.controller.signal).catch((e) => {
    if (e.name !== "AbortError") setJob("failed", "stream lost: " + e.message);
  });
}

function finish(id) {
  const entry = jobs.get(id);
  entry.cancel.remove();
  updateCancelButton();
}

async function cancelJob(id) {
  try {
    await api(`/v1/jobs/${id}`, { method: "DELETE" });
  } catch (e) {
    showError(e.message);
  }
}

function cancelNewest() {
  const active = [...jobs.entries()].filter(([, j]) => j.status === "queued" || j.status === "running");
  if (active.length) cancelJob(active[active.length - 1][0]);
}

async function addToGallery(id, data) {
  for (const path of data.images) {
    const figure = document.createElement("figure");
    figure.className = "result";
    const img = document.createElement("img");
    img.alt = "generated image";
    img.title = "Click to reuse this seed";
    img.onclick = () => { $("seed").value = data.seed; };
    const caption = document.createElement("figcaption");
    caption.textContent = data.infotext;
    figure.append(img, caption);
    $("gallery").prepend(figure);
    try {
      img.src = await imageUrl(path);
    } catch (e) {
      caption.textContent = e.message;
    }
  }
}

// ---- img2img source and mask painter -----------------------------------------------------------------------------
const painter = { source: null, drawing: false };

function loadInitImage(file) {
  const reader = new FileReader();
  reader.onload = () => {
    const img = new Image();
    img.onload = () => {
      painter.source = reader.result;
      for (const c of [$("init-canvas"), $("mask-canvas")]) { c.width = img.naturalWidth; c.height = img.naturalHeight; }
      $("init-canvas").getContext("2d").drawImage(img, 0, 0);
      clearMask();
      $("width").value = Math.max(64, Math.floor(img.naturalWidth / 8) * 8);
      $("height").value = Math.max(64, Math.floor(img.naturalHeight / 8) * 8);
      $("painter").hidden = false;
    };
    img.onerror = () => showError("that file is not an image the browser can read");
    img.src = reader.result;
  };
  reader.readAsDataURL(file);
}

function clearMask() {
  const c = $("mask-canvas");
  const ctx = c.getContext("2d");
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, c.width, c.height);
}

function paint(event) {
  if (!painter.drawing) return;
  const c = $("mask-canvas");
  const rect = c.getBoundingClientRect();
  const scale = c.width / rect.width;
  const x = (event.clientX - rect.left) * scale, y = (event.clientY - rect.top) * scale;
  const ctx = c.getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.beginPath();
  ctx.arc(x, y, (Number($("brush").value) / 2) * scale, 0, Math.PI * 2);
  ctx.fill();
  $("use-mask").checked = true;
}

// ---- wiring ------------------------------------------------------------------------------------------------------
$("form").addEventListener("submit", submit);
$("cancel").addEventListener("click", cancelNewest);
$("model").addEventListener("change", applyModelDefaults);
$("reuse-seed").addEventListener("click", () => { if (lastSeed !== null) $("seed").value = lastSeed; });
$("random-seed").addEventListener("click", () => { $("seed").value = ""; });
$("strength").addEventListener("input", () => { $("strength-value").textContent = $("strength").value; });
$("init-file").addEventListener("change", (e) => { if (e.target.files[0]) loadInitImage(e.target.files[0]); });
$("remove-image").addEventListener("click", () => {
  painter.source = null;
  $("painter").hidden = true;
  $("init-file").value = "";
  $("use-mask").checked = false;
});
$("clear-mask").addEventListener("click", () => { clearMask(); $("use-mask").checked = false; });
$("mask-canvas").addEventListener("pointerdown", (e) => {
  painter.drawing = true;
  e.target.setPointerCapture(e.pointerId);
  paint(e);
});
$("mask-canvas").addEventListener("pointermove", paint);
$("mask-canvas").addEventListener("pointerup", () => { painter.drawing = false; });
$("api-key").value = localStorage.getItem("sdpp.apiKey") || "";
$("api-key").addEventListener("change", (e) => { localStorage.setItem("sdpp.apiKey", e.target.value); loadCatalog(); });
loadCatalog();
