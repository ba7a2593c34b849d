// node --test for bridge_logic.js against a RUNNING bridge:
//   BRIDGE_URL=http://127.0.0.1:PORT BRIDGE_TOKEN=... node --test plugin_bridge/plugins/photoshop-uxp/test/bridge_logic.test.js
// tests/plugin_bridge/test_plugins_logic.py starts a real bridge and runs this file.
"use strict";

const assert = require("node:assert/strict");
const test = require("node:test");
const zlib = require("node:zlib");
const logic = require("../bridge_logic.js");

const URL_ = process.env.BRIDGE_URL;
const TOKEN = process.env.BRIDGE_TOKEN;
const skip = URL_ && TOKEN ? false : "set BRIDGE_URL and BRIDGE_TOKEN to a running decompose-bridge";

/** A small flat illustration, RGBA: sky, a ground band, a red square and a yellow disc in front. */
function illustration(width = 48, height = 36) {
  const px = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let c = [90, 160, 230];
      if (y >= 24) c = [60, 140, 60];
      if (x >= 10 && x < 26 && y >= 12 && y < 28) c = [200, 40, 40];
      if ((x - 32) ** 2 + (y - 14) ** 2 <= 36) c = [250, 210, 40];
      px.set([...c, 255], (y * width + x) * 4);
    }
  }
  return { width, height, px };
}

/** Decode an 8-bit RGBA PNG (all five filter types) into {width, height, px}. Test helper only. */
function decodePng(bytes) {
  const { width, height } = logic.pngSize(bytes);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  assert.equal(bytes[24], 8, "bit depth 8");
  assert.equal(bytes[25], 6, "colour type RGBA");
  const idat = [];
  for (let at = 8; at < bytes.length;) {
    const len = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    if (type === "IDAT") idat.push(bytes.subarray(at + 8, at + 8 + len));
    at += 12 + len;
  }
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = width * 4;
  const px = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    for (let i = 0; i < stride; i++) {
      const v = raw[y * (stride + 1) + 1 + i];
      const a = i >= 4 ? px[y * stride + i - 4] : 0;
      const b = y > 0 ? px[(y - 1) * stride + i] : 0;
      const c = i >= 4 && y > 0 ? px[(y - 1) * stride + i - 4] : 0;
      let pred = 0;
      if (filter === 1) pred = a;
      else if (filter === 2) pred = b;
      else if (filter === 3) pred = (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      px[y * stride + i] = (v + pred) & 0xff;
    }
  }
  return { width, height, px };
}

test("encodePng writes a PNG that zlib and our decoder read back exactly", () => {
  const { width, height, px } = illustration(300, 250); // > 65535 raw bytes: several stored blocks
  const decoded = decodePng(logic.encodePng(width, height, px));
  assert.deepEqual([decoded.width, decoded.height], [width, height]);
  assert.ok(Buffer.from(decoded.px).equals(Buffer.from(px)));
  const rgb = new Uint8Array(width * height * 3).fill(7);
  assert.equal(decodePng(logic.encodePng(width, height, rgb, 3)).px[3], 255);
  assert.throws(() => logic.encodePng(2, 2, new Uint8Array(3)), /expected 16 bytes/);
});

test("layerPlan orders layers bottom -> top and rejects layers outside the canvas", () => {
  const manifest = {
    canvas: { width: 10, height: 10 },
    layers: [
      { i: 1, name: "front", offset: [2, 2], size: [3, 3] },
      { i: 0, name: "back", offset: [0, 0], size: [10, 10] },
    ],
  };
  assert.deepEqual(logic.layerPlan(manifest).map((s) => s.name), ["back", "front"]);
  manifest.layers[0].size = [9, 3];
  assert.throws(() => logic.layerPlan(manifest), /outside the 10x10 canvas/);
});

test("health needs no token and reports API v1", { skip }, async () => {
  const health = await new logic.BridgeClient(URL_, "").health();
  assert.equal(health.api.version, logic.API_VERSION);
  assert.equal(typeof health.model, "string");
});

test("a wrong token is refused with 401 auth", { skip }, async () => {
  const client = new logic.BridgeClient(URL_, "0".repeat(64));
  await assert.rejects(client.status("0".repeat(32)), (err) => err.status === 401 && err.code === "auth");
});

test("a closed port gives a not_running error with a hint", async () => {
  const client = new logic.BridgeClient("http://127.0.0.1:9", "x");
  await assert.rejects(client.health(), (err) => err.code === "not_running" && /decompose-bridge/.test(err.hint));
});

test("decomposeDocument: layers recomposite exactly to the upload, PSD comes back", { skip }, async () => {
  const client = new logic.BridgeClient(URL_, TOKEN);
  const art = illustration();
  const updates = [];
  const result = await logic.decomposeDocument(client, logic.encodePng(art.width, art.height, art.px), {
    layers: 3, intervalMs: 100, onUpdate: (status) => updates.push(status.state),
  });
  assert.equal(updates.at(-1), "finished");
  assert.deepEqual([result.canvas.width, result.canvas.height], [art.width, art.height]);
  assert.ok(result.plan.length >= 1 && result.plan.length <= 3, `got ${result.plan.length} layers`);
  assert.deepEqual(result.plan.map((s) => s.position), result.plan.map((_, k) => k));
  assert.equal(String.fromCharCode(...result.psd.subarray(0, 4)), "8BPS");
  // Composite bottom -> top with straight-alpha "over" and compare with the upload.
  const canvas = new Float64Array(art.width * art.height * 4);
  for (const step of result.plan) {
    const layer = decodePng(await client.layerPng(result.jobId, step.position));
    assert.deepEqual([layer.width, layer.height], [step.width, step.height]);
    for (let y = 0; y < step.height; y++) {
      for (let x = 0; x < step.width; x++) {
        const s = (y * step.width + x) * 4;
        const d = ((step.y + y) * art.width + step.x + x) * 4;
        const a = layer.px[s + 3] / 255;
        const outA = a + canvas[d + 3] * (1 - a);
        for (let k = 0; k < 3; k++) {
          const mixed = layer.px[s + k] * a + canvas[d + k] * canvas[d + 3] * (1 - a);
          canvas[d + k] = outA > 0 ? mixed / outA : 0;
        }
        canvas[d + 3] = outA;
      }
    }
  }
  let worst = 0;
  for (let i = 0; i < art.px.length; i++) {
    const value = i % 4 === 3 ? canvas[i] * 255 : canvas[i];
    worst = Math.max(worst, Math.abs(Math.round(value) - art.px[i]));
  }
  assert.equal(worst, 0, "layers must recomposite exactly to the uploaded pixels");
});

test("cancelling an unknown job is a 404 unknown_job", { skip }, async () => {
  const client = new logic.BridgeClient(URL_, TOKEN);
  await assert.rejects(client.cancel("f".repeat(32)), (err) => err.status === 404 && err.code === "unknown_job");
});
