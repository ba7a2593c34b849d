// Photoshop glue for the Illustrator's Depth panel (UXP, manifest v5).
// Reads the flattened document with the Imaging API, sends it to decompose-bridge (bridge_logic.js),
// opens the layered PSD it returns and duplicates its layers, bottom -> top, into a new group of the
// original document.
"use strict";

const { app, core, imaging } = require("photoshop");
const { storage } = require("uxp");
const { BridgeClient, DEFAULT_URL, decomposeDocument, encodePng, groupName } = require("./bridge_logic.js");

const KEY_URL = "illustrators-depth.url";
const KEY_TOKEN = "illustrators-depth.token";
let running = null; // {client, jobId}

function $(id) {
  return document.getElementById(id);
}

function say(text) {
  $("message").textContent = text;
}

/** The active document flattened to an 8-bit RGBA PNG (must run inside executeAsModal). */
async function flattenedPng(doc) {
  // No layerID: the document composite. 3 components when the document has no transparency.
  const { imageData } = await imaging.getPixels({ documentID: doc.id, componentSize: 8, colorSpace: "RGB" });
  try {
    const pixels = await imageData.getData();
    return encodePng(imageData.width, imageData.height, pixels, imageData.components);
  } finally {
    imageData.dispose();
  }
}

/** Open the result PSD and duplicate its layers into `target`, in plan order, then group them. */
async function placeLayers(target, jobId, plan, psd) {
  const folder = await storage.localFileSystem.getTemporaryFolder();
  const file = await folder.createFile(`illustrators-depth-${jobId}.psd`, { overwrite: true });
  await file.write(psd.buffer.slice(psd.byteOffset, psd.byteOffset + psd.byteLength), { format: storage.formats.binary });
  const opened = await app.open(file);
  const placed = [];
  try {
    const sources = opened.layers; // top first
    for (const step of plan) { // bottom first: every duplicate lands above the previous one
      const source = sources.find((layer) => layer.name === step.name) || sources[sources.length - 1 - step.position];
      placed.push(await source.duplicate(target));
    }
  } finally {
    await opened.closeWithoutSaving();
  }
  app.activeDocument = target;
  await target.createLayerGroup({ name: groupName(plan), fromLayers: placed });
}

async function run() {
  const doc = app.activeDocument;
  if (!doc) {
    say("Open a document first.");
    return;
  }
  const url = $("url").value.trim() || DEFAULT_URL;
  const token = $("token").value.trim();
  localStorage.setItem(KEY_URL, url);
  localStorage.setItem(KEY_TOKEN, token);
  const client = new BridgeClient(url, token);
  const layers = $("auto").checked ? "auto" : Number($("layers").value);
  $("run").disabled = true;
  $("cancel").disabled = false;
  try {
    say("Reading the document…");
    const png = await core.executeAsModal(() => flattenedPng(doc), { commandName: "Read document" });
    say("Decomposing…");
    const result = await decomposeDocument(client, png, {
      layers,
      onUpdate: (status) => {
        running = { client, jobId: status.id };
        $("progress").value = status.progress || 0;
        say(status.state === "queued" ? `Queued (${status.queue_position} ahead)…` : `Working: ${status.stage || "starting"}…`);
      },
    });
    await core.executeAsModal(() => placeLayers(doc, result.jobId, result.plan, result.psd),
      { commandName: "Illustrator's Depth layers" });
    $("progress").value = 1;
    say(`Added ${result.plan.length} layers.`);
  } catch (error) {
    say(error.hint ? `${error.message} ${error.hint}` : String(error.message || error));
  } finally {
    running = null;
    $("run").disabled = false;
    $("cancel").disabled = true;
  }
}

async function cancel() {
  if (!running) return;
  try {
    await running.client.cancel(running.jobId);
    say("Cancelling at the next stage…");
  } catch (error) {
    say(String(error.message || error));
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("url").value = localStorage.getItem(KEY_URL) || DEFAULT_URL;
  $("token").value = localStorage.getItem(KEY_TOKEN) || "";
  $("run").addEventListener("click", run);
  $("cancel").addEventListener("click", cancel);
});
