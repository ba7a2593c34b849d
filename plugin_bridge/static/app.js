// The bridge web page: token, drop an image, decompose, show index map and layers, download.
import { Bridge, BridgeError } from "./bridge.js";
import { insidePhotopea, photopeaDocumentPng, openInPhotopea } from "./photopea.js";

const DEFAULT_BRIDGE = "http://127.0.0.1:47863";
const KEY_TOKEN = "illustrators-depth.token"; // + "@" + the bridge's origin: one token per bridge
const KEY_BRIDGE = "illustrators-depth.bridge";

const $ = (id) => document.getElementById(id);
const ui = {
  connection: $("connection"), bridgeUrl: $("bridge-url"), token: $("token"),
  saveToken: $("save-token"), forgetToken: $("forget-token"),
  drop: $("drop-zone"), file: $("file-input"), preview: $("input-preview"),
  fromPhotopea: $("from-photopea"), count: $("layer-count"), auto: $("layer-auto"),
  decompose: $("decompose"), cancel: $("cancel"), progress: $("progress"), status: $("status"),
  result: $("result-panel"), downloads: $("download-links"),
  toPhotopea: $("to-photopea"), indexMap: $("index-map"), total: $("layer-total"), layers: $("layers"),
};

let image = null; // Blob of the chosen illustration
let job = null; // {id, controller} of the job being followed
let objectUrls = []; // blob: URLs owned by the current result

/** True when the page comes from a loopback http origin (normally the bridge itself). */
function servedFromLoopback() {
  return location.protocol === "http:" && /^(127\.0\.0\.1|localhost|\[::1\])$/.test(location.hostname);
}

/** The bridge to talk to: the saved address (localStorage is per origin), else this page's origin. */
function defaultBridgeUrl() {
  const saved = localStorage.getItem(KEY_BRIDGE);
  if (saved) return saved;
  return servedFromLoopback() ? location.origin : DEFAULT_BRIDGE;
}

/** The storage key of the token for the bridge at `url` (tokens never go to another bridge). */
function tokenKey(url) {
  try {
    return `${KEY_TOKEN}@${new URL(url).origin}`;
  } catch (_) {
    return `${KEY_TOKEN}@${url}`;
  }
}

function savedToken() {
  return localStorage.getItem(tokenKey(ui.bridgeUrl.value.trim())) || "";
}

/**
 * `decompose-bridge` prints a link to this page with `#token=...` (a fragment: browsers never
 * send it to a server, so it is in no log). Keep the token for this page's own origin (the bridge
 * that served it), then remove it from the address bar and the history at once.
 */
function takeTokenFromAddress() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const token = fragment.get("token");
  if (token === null) return;
  fragment.delete("token");
  const rest = fragment.toString();
  history.replaceState(history.state, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
  if (!token.trim()) return;
  localStorage.setItem(tokenKey(location.origin), token.trim());
  localStorage.setItem(KEY_BRIDGE, location.origin);
}

/** Pages before per-bridge tokens kept one token for whatever bridge was set: move it over. */
function migrateOldToken() {
  const old = localStorage.getItem(KEY_TOKEN);
  if (old === null) return;
  const owner = localStorage.getItem(KEY_BRIDGE) || (servedFromLoopback() ? location.origin : DEFAULT_BRIDGE);
  if (!localStorage.getItem(tokenKey(owner))) localStorage.setItem(tokenKey(owner), old);
  localStorage.removeItem(KEY_TOKEN);
}

function bridge() {
  return new Bridge(ui.bridgeUrl.value.trim(), savedToken());
}

function newIdempotencyKey() {
  if (globalThis.crypto && crypto.randomUUID) return crypto.randomUUID();
  return `${Date.now().toString(16)}-${Math.random().toString(16).slice(2)}`;
}

function say(text, kind = "info") {
  ui.status.textContent = text;
  ui.status.dataset.kind = kind;
}

function sayError(err) {
  say(err instanceof BridgeError ? err.toString() : String(err.message || err), "error");
  if (err instanceof BridgeError && err.code === "auth") ui.connection.dataset.state = "auth";
}

async function connect() {
  ui.connection.dataset.state = "unknown";
  ui.connection.textContent = "connecting…";
  try {
    const health = await bridge().health();
    ui.connection.dataset.state = savedToken() ? "ok" : "auth";
    const loading = health.ready === false ? " (loading…)" : "";
    ui.connection.textContent = `bridge ${health.version} · model ${health.model}${loading} · ${health.device}`;
    if (health.layers) {
      ui.count.min = health.layers.min;
      ui.count.max = health.layers.max;
    }
    if (!savedToken()) say("Paste the bridge token to start (decompose-bridge --print-token), or open the link decompose-bridge prints.");
    else await checkToken();
  } catch (err) {
    ui.connection.dataset.state = "down";
    ui.connection.textContent = "bridge not reachable";
    sayError(err);
  }
  updateButtons();
}

/** Ask for a job that cannot exist: 404 proves the token is accepted, 401 that it is not. */
async function checkToken() {
  try {
    await bridge().status("0".repeat(32));
  } catch (err) {
    if (err instanceof BridgeError && err.code === "unknown_job") return;
    ui.connection.dataset.state = "auth";
    sayError(err);
  }
}

function updateButtons() {
  ui.decompose.disabled = !image || !!job || !savedToken();
  ui.count.disabled = ui.auto.checked;
}

function chooseImage(blob) {
  const type = (blob && blob.type) || "";
  if (!blob || (type !== "" && !type.startsWith("image/"))) {
    say(`${blob && blob.name ? blob.name : "That file"} is not an image.`, "error");
    return;
  }
  image = blob;
  if (ui.preview.src) URL.revokeObjectURL(ui.preview.src);
  ui.preview.src = URL.createObjectURL(blob);
  ui.preview.hidden = false;
  say(`${blob.name || "Image"} ready (${Math.round(blob.size / 1024)} KiB).`);
  updateButtons();
}

function clearResult() {
  objectUrls.forEach((url) => URL.revokeObjectURL(url));
  objectUrls = [];
  ui.layers.replaceChildren();
  ui.result.hidden = true;
}

function own(blob) {
  const url = URL.createObjectURL(blob);
  objectUrls.push(url);
  return url;
}

async function decompose() {
  const client = bridge();
  const layers = ui.auto.checked ? "auto" : String(ui.count.value);
  const controller = new AbortController();
  clearResult();
  ui.progress.hidden = false;
  ui.progress.value = 0;
  ui.cancel.hidden = false;
  job = { id: null, controller }; // busy from the click on: no second submit
  updateButtons();
  try {
    const submitted = await client.submit(image, layers, newIdempotencyKey());
    job.id = submitted.id;
    say(submitted.queue_position > 0 ? `Queued (${submitted.queue_position} ahead).` : "Starting…");
    const final = await client.follow(submitted.id, showProgress, controller.signal);
    if (final.state === "finished") await showResult(client, submitted.id);
    else if (final.state === "cancelled") say("Cancelled.");
    else {
      const error = final.error || {};
      throw new BridgeError(500, error.code || "failed", error.message || "The job failed.", error.hint);
    }
  } catch (err) {
    sayError(err);
  } finally {
    job = null;
    ui.cancel.hidden = true;
    ui.progress.hidden = true;
    updateButtons();
  }
}

function showProgress(status) {
  if (typeof status.progress === "number") ui.progress.value = status.progress;
  if (status.state === "queued") say(`Queued (${status.queue_position ?? 0} ahead).`);
  else if (status.state === "running") say(`Working: ${status.stage || "starting"}…`);
}

async function showResult(client, id) {
  const manifest = await client.result(id);
  const documents = manifest.documents || [];
  const [indexMap, ...files] = await Promise.all([
    client.file(id, "index_map.png"),
    ...documents.map((doc) => client.file(id, `result${doc.suffix}`)),
    ...manifest.layers.map((layer) => client.file(id, `layers/${layer.i}.png`)),
  ]);
  const blobs = files.slice(0, documents.length);
  const pngs = files.slice(documents.length);
  const base = (image.name || "illustration").replace(/\.[^.]+$/, "");
  ui.downloads.replaceChildren(...documents.map((doc, k) => downloadLink(doc, blobs[k], base, id)));
  const psd = blobs[documents.findIndex((doc) => doc.format === "psd")];
  ui.indexMap.src = own(indexMap);
  ui.total.textContent = String(manifest.layers.length);
  const { width, height } = manifest.canvas;
  const items = manifest.layers.map((layer, k) => layerItem(layer, pngs[k], width, height));
  ui.layers.replaceChildren(...items.reverse()); // top first, like an editor's layer panel
  ui.toPhotopea.hidden = !insidePhotopea();
  ui.toPhotopea.onclick = () => openInPhotopea(psd);
  ui.result.hidden = false;
  say(`Done: ${manifest.layers.length} layers.`, "ok");
}

/** " · 75 % of this layer was hidden and is filled in" (nothing when no part was hidden). */
export function hiddenNote(fraction) {
  const share = Number(fraction) || 0;
  if (share <= 0) return "";
  const percent = Math.round(100 * share);
  const shown = percent < 1 ? "less than 1" : percent >= 100 && share < 1 ? "over 99" : String(percent);
  return ` · ${shown} % of this layer was hidden and is filled in`;
}

/** "Download PSD" & co.: a link to the fetched document blob, named after the input. */
function downloadLink(doc, blob, base, jobId) {
  const link = document.createElement("a");
  link.id = `download-${doc.format}`;
  link.className = "button";
  link.textContent = `Download ${doc.title}`;
  link.title = doc.description;
  link.dataset.job = jobId;
  link.href = own(blob);
  link.download = `${base}${doc.suffix}`;
  return link;
}

/** One layer row: thumbnail placed at its offset on a checkerboard canvas-sized frame. */
function layerItem(layer, png, canvasWidth, canvasHeight) {
  const item = document.createElement("li");
  item.className = "layer";
  item.dataset.index = String(layer.i);
  const frame = document.createElement("div");
  frame.className = "thumb";
  frame.style.aspectRatio = `${canvasWidth} / ${canvasHeight}`;
  const img = document.createElement("img");
  img.src = own(png);
  img.alt = layer.name;
  const [x, y] = layer.offset;
  const [w, h] = layer.size;
  Object.assign(img.style, {
    left: `${(100 * x) / canvasWidth}%`, top: `${(100 * y) / canvasHeight}%`,
    width: `${(100 * w) / canvasWidth}%`, height: `${(100 * h) / canvasHeight}%`,
  });
  frame.append(img);
  const label = document.createElement("div");
  label.className = "layer-name";
  label.textContent = layer.name;
  const detail = document.createElement("div");
  detail.className = "layer-detail";
  detail.textContent = `${w}×${h} at (${x}, ${y})${hiddenNote(layer.invented_fraction)}`;
  item.append(frame, label, detail);
  return item;
}

function bind() {
  takeTokenFromAddress();
  migrateOldToken();
  ui.bridgeUrl.value = defaultBridgeUrl();
  ui.token.value = savedToken();
  ui.saveToken.onclick = () => {
    const token = ui.token.value.trim();
    const key = tokenKey(ui.bridgeUrl.value.trim());
    if (token) localStorage.setItem(key, token);
    else localStorage.removeItem(key);
    localStorage.setItem(KEY_BRIDGE, ui.bridgeUrl.value.trim());
    say(token ? "Token saved in this browser for this bridge." : "Token removed.");
    connect();
  };
  ui.forgetToken.onclick = () => {
    localStorage.removeItem(tokenKey(ui.bridgeUrl.value.trim()));
    ui.token.value = "";
    say("Token forgotten.");
    connect();
  };
  ui.bridgeUrl.onchange = () => {
    ui.token.value = savedToken(); // each bridge has its own token
    connect();
  };
  ui.file.onchange = () => ui.file.files[0] && chooseImage(ui.file.files[0]);
  ui.drop.ondragover = (event) => {
    event.preventDefault();
    ui.drop.classList.add("over");
  };
  ui.drop.ondragleave = () => ui.drop.classList.remove("over");
  ui.drop.ondrop = (event) => {
    event.preventDefault();
    ui.drop.classList.remove("over");
    const file = event.dataTransfer.files[0];
    if (file) chooseImage(file);
  };
  ui.auto.onchange = updateButtons;
  ui.decompose.onclick = decompose;
  ui.cancel.onclick = async () => {
    if (!job || !job.id) return;
    try {
      await bridge().cancel(job.id);
      say("Cancelling at the next stage…");
    } catch (err) {
      sayError(err);
    }
  };
  if (insidePhotopea()) {
    ui.fromPhotopea.hidden = false;
    ui.fromPhotopea.onclick = async () => {
      try {
        const png = await photopeaDocumentPng();
        chooseImage(new File([png], "photopea.png", { type: "image/png" }));
      } catch (err) {
        sayError(err);
      }
    };
  }
}

bind();
connect();
