// Editor-independent half of the Photoshop UXP plugin (CommonJS, no dependencies).
// Talks to decompose-bridge API v1 with fetch (UXP and Node 18+ both have it), encodes the
// flattened document as PNG, and turns a result manifest into layers ordered bottom -> top.
// See plugin_bridge/PROTOCOL.md for the contract.
"use strict";

const API_VERSION = 1;
const DEFAULT_URL = "http://127.0.0.1:47863";
const TERMINAL = ["finished", "failed", "cancelled"];

/** An error answered by the bridge ({code, message, hint}) or a connection failure (code "not_running"). */
class BridgeError extends Error {
  constructor(status, code, message, hint) {
    super(message);
    this.name = "BridgeError";
    this.status = status;
    this.code = code;
    this.hint = hint || "";
  }
}

/** Minimal API v1 client. fetchImpl defaults to the global fetch. */
class BridgeClient {
  constructor(baseUrl = DEFAULT_URL, token = "", fetchImpl = globalThis.fetch) {
    this.baseUrl = String(baseUrl).replace(/\/+$/, "");
    this.token = token;
    this.fetch = fetchImpl;
  }

  async request(path, { method = "GET", body, headers = {} } = {}) {
    const all = { "X-Bridge-Api": String(API_VERSION), ...headers };
    if (this.token) all.Authorization = `Bearer ${this.token}`;
    let response;
    try {
      response = await this.fetch(this.baseUrl + path, { method, body, headers: all });
    } catch (cause) {
      throw new BridgeError(0, "not_running", `Cannot reach the bridge at ${this.baseUrl}.`,
        "Start it with `decompose-bridge` and check the address in the panel and in manifest.json.");
    }
    if (!response.ok) {
      let error = {};
      try {
        error = await response.json();
      } catch (_) {
        error = {};
      }
      throw new BridgeError(response.status, error.code || `http_${response.status}`,
        error.message || `The bridge answered HTTP ${response.status}.`, error.hint);
    }
    return response;
  }

  async json(path, options) {
    return (await this.request(path, options)).json();
  }

  async bytes(path) {
    return new Uint8Array(await (await this.request(path)).arrayBuffer());
  }

  health() {
    return this.json("/v1/health");
  }

  /** Upload image bytes; layers: integer or "auto". Resolves {id, queue_position, state}. */
  submit(imageBytes, { layers = 6, idempotencyKey } = {}) {
    const headers = { "Content-Type": "application/octet-stream" };
    if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
    const query = `layers=${encodeURIComponent(String(layers))}`;
    return this.json(`/v1/jobs?${query}`, { method: "POST", body: imageBytes, headers });
  }

  status(id) {
    return this.json(`/v1/jobs/${id}`);
  }

  cancel(id) {
    return this.json(`/v1/jobs/${id}`, { method: "DELETE" });
  }

  /** Poll the job until it is finished, failed or cancelled; onUpdate(status) on every poll. */
  async wait(id, { onUpdate, intervalMs = 500 } = {}) {
    for (;;) {
      const status = await this.status(id);
      if (onUpdate) onUpdate(status);
      if (TERMINAL.includes(status.state)) return status;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }

  result(id) {
    return this.json(`/v1/jobs/${id}/result`);
  }

  layerPng(id, index) {
    return this.bytes(`/v1/jobs/${id}/layers/${index}.png`);
  }

  psd(id) {
    return this.bytes(`/v1/jobs/${id}/result.psd`);
  }
}

/**
 * The manifest's layers as placement steps, bottom -> top:
 * [{position, name, x, y, width, height, inventedFraction}], checked to lie inside the canvas.
 */
function layerPlan(manifest) {
  const { width, height } = manifest.canvas;
  const layers = [...manifest.layers].sort((a, b) => a.i - b.i);
  return layers.map((layer, position) => {
    if (layer.i !== position) throw new Error(`bridge result skips layer ${position}`);
    const [x, y] = layer.offset;
    const [w, h] = layer.size;
    if (x < 0 || y < 0 || w <= 0 || h <= 0 || x + w > width || y + h > height) {
      throw new Error(`bridge result: layer ${position} lies outside the ${width}x${height} canvas`);
    }
    return { position, name: layer.name || `Layer ${position + 1}`, x, y, width: w, height: h,
      inventedFraction: layer.invented_fraction || 0 };
  });
}

/** Name of the group the plugin creates, e.g. "Illustrator's Depth (6 layers)". */
function groupName(plan) {
  return `Illustrator's Depth (${plan.length} layers)`;
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes) {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function adler32(bytes) {
  let a = 1;
  let b = 0;
  for (let i = 0; i < bytes.length; i += 5552) {
    const end = Math.min(i + 5552, bytes.length);
    for (let j = i; j < end; j++) {
      a += bytes[j];
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

/** zlib stream made of uncompressed ("stored") deflate blocks: no compressor needed in UXP. */
function zlibStored(raw) {
  const blocks = Math.max(1, Math.ceil(raw.length / 65535));
  const out = new Uint8Array(2 + raw.length + blocks * 5 + 4);
  out[0] = 0x78;
  out[1] = 0x01;
  let at = 2;
  for (let b = 0; b < blocks; b++) {
    const start = b * 65535;
    const len = Math.min(65535, raw.length - start);
    out[at++] = b === blocks - 1 ? 1 : 0;
    out[at++] = len & 0xff;
    out[at++] = len >>> 8;
    out[at++] = ~len & 0xff;
    out[at++] = (~len >>> 8) & 0xff;
    out.set(raw.subarray(start, start + len), at);
    at += len;
  }
  new DataView(out.buffer).setUint32(at, adler32(raw));
  return out;
}

function pngChunk(type, data) {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/**
 * Encode 8-bit pixels (rows top -> bottom) as a PNG. components: 4 (RGBA) or 3 (RGB, made opaque).
 * Returns a Uint8Array. Uncompressed: the bridge is local, speed beats size.
 */
function encodePng(width, height, pixels, components = 4) {
  if (components !== 3 && components !== 4) throw new Error("components must be 3 or 4");
  if (pixels.length !== width * height * components) {
    throw new Error(`expected ${width * height * components} bytes for ${width}x${height}, got ${pixels.length}`);
  }
  const stride = width * 4;
  const raw = new Uint8Array((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (stride + 1) + 1; // filter byte 0 (none) precedes each row
    for (let x = 0; x < width; x++) {
      const from = (y * width + x) * components;
      const to = row + x * 4;
      raw[to] = pixels[from];
      raw[to + 1] = pixels[from + 1];
      raw[to + 2] = pixels[from + 2];
      raw[to + 3] = components === 4 ? pixels[from + 3] : 255;
    }
  }
  const header = new Uint8Array(13);
  const view = new DataView(header.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  header.set([8, 6, 0, 0, 0], 8);
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk("IHDR", header),
    pngChunk("IDAT", zlibStored(raw)),
    pngChunk("IEND", new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** {width, height} from a PNG's IHDR. */
function pngSize(bytes) {
  const signature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (bytes.length < 24 || signature.some((v, i) => bytes[i] !== v)) throw new Error("not a PNG");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

/**
 * Upload a flattened document (PNG bytes), wait, and fetch what Photoshop needs:
 * {jobId, canvas, plan (bottom -> top), psd (Uint8Array)}. Throws BridgeError on failure.
 */
async function decomposeDocument(client, pngBytes, { layers = 6, onUpdate, intervalMs } = {}) {
  const submitted = await client.submit(pngBytes, { layers });
  const final = await client.wait(submitted.id, { onUpdate, intervalMs });
  if (final.state !== "finished") {
    const error = final.error || {};
    throw new BridgeError(0, error.code || final.state, error.message || `The job was ${final.state}.`, error.hint);
  }
  const manifest = await client.result(submitted.id);
  return { jobId: submitted.id, canvas: manifest.canvas, plan: layerPlan(manifest), psd: await client.psd(submitted.id) };
}

module.exports = {
  API_VERSION, DEFAULT_URL, BridgeError, BridgeClient, layerPlan, groupName, encodePng, pngSize,
  crc32, decomposeDocument,
};
