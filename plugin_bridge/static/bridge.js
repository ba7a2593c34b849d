// Browser client for the Illustrator's Depth bridge, API v1 (see plugin_bridge/PROTOCOL.md).
// Plain ES module, no dependencies. Every call except health() sends the bearer token.

export const API_VERSION = 1;

/** Error carrying the bridge's JSON error body ({code, message, hint}) and the HTTP status. */
export class BridgeError extends Error {
  constructor(status, code, message, hint) {
    super(message);
    this.name = "BridgeError";
    this.status = status;
    this.code = code;
    this.hint = hint || "";
  }

  /** One line for the user: message plus hint. */
  toString() {
    return this.hint ? `${this.message} — ${this.hint}` : this.message;
  }
}

async function errorFrom(response) {
  let body = {};
  try {
    body = await response.json();
  } catch (_) {
    body = {};
  }
  const err = body.error && typeof body.error === "object" ? body.error : body;
  return new BridgeError(
    response.status,
    err.code || `http_${response.status}`,
    err.message || `The bridge answered HTTP ${response.status}.`,
    err.hint || "",
  );
}

/** Connection to one bridge: base URL like "http://127.0.0.1:47830" (no trailing slash). */
export class Bridge {
  constructor(baseUrl, token) {
    this.baseUrl = String(baseUrl || "").replace(/\/+$/, "");
    this.token = token || "";
  }

  headers(extra = {}) {
    const headers = { "X-Bridge-Api": String(API_VERSION), ...extra };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    return headers;
  }

  async request(path, options = {}) {
    let response;
    try {
      response = await fetch(this.baseUrl + path, {
        ...options,
        headers: this.headers(options.headers || {}),
      });
    } catch (cause) {
      const target = this.baseUrl || location.origin;
      const crossOrigin = new URL(target, location.href).origin !== location.origin;
      throw new BridgeError(
        0,
        "not_running",
        `Cannot reach the bridge at ${target}.`,
        crossOrigin
          ? `Start it with \`decompose-bridge --allow-origin ${location.origin}\`; inside Photopea also allow local-network access.`
          : "Start it with `decompose-bridge`.",
      );
    }
    if (!response.ok) throw await errorFrom(response);
    return response;
  }

  /** GET /v1/health (no token needed): {version, api, model, device, ...}. */
  async health() {
    const response = await this.request("/v1/health");
    return response.json();
  }

  /** POST /v1/jobs with the raw image bytes; layers is a number or "auto". Returns {id, queue_position}. */
  async submit(blob, layers, idempotencyKey) {
    const query = new URLSearchParams({ layers: String(layers) });
    const headers = { "Content-Type": blob.type || "application/octet-stream" };
    if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
    const response = await this.request(`/v1/jobs?${query}`, { method: "POST", body: blob, headers });
    const body = await response.json();
    return { ...body, id: body.id || body.job_id };
  }

  /** GET /v1/jobs/{id}: {state, stage, progress, ...}. */
  async status(id) {
    const response = await this.request(`/v1/jobs/${encodeURIComponent(id)}`);
    return response.json();
  }

  /** DELETE /v1/jobs/{id}. */
  async cancel(id) {
    await this.request(`/v1/jobs/${encodeURIComponent(id)}`, { method: "DELETE" });
  }

  /**
   * Follow a job until it ends, calling onUpdate({state, stage, progress}) on every change.
   * Reads the Server-Sent Events stream with fetch (EventSource cannot send the token);
   * falls back to polling GET /v1/jobs/{id} if the stream breaks. Resolves with the final status.
   */
  async follow(id, onUpdate, signal) {
    try {
      const final = await this.followEvents(id, onUpdate, signal);
      if (final) return final;
    } catch (err) {
      if (err instanceof BridgeError && err.status >= 400 && err.status !== 404) throw err;
      if (signal && signal.aborted) throw err;
    }
    return this.poll(id, onUpdate, signal);
  }

  async followEvents(id, onUpdate, signal) {
    const response = await this.request(`/v1/jobs/${encodeURIComponent(id)}/events`, {
      headers: { Accept: "text/event-stream" },
      signal,
    });
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let state = { state: "queued", stage: "", progress: 0 };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const event = parseEvent(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
        state = applyEvent(state, event);
        onUpdate(state);
        if (["finished", "failed", "cancelled"].includes(state.state)) {
          reader.cancel().catch(() => {});
          return state;
        }
      }
    }
    return null;
  }

  async poll(id, onUpdate, signal) {
    for (;;) {
      if (signal && signal.aborted) throw new BridgeError(0, "cancelled", "Stopped following the job.");
      const status = await this.status(id);
      onUpdate(status);
      if (["finished", "failed", "cancelled"].includes(status.state)) return status;
      await new Promise((resolve) => setTimeout(resolve, 400));
    }
  }

  /** GET /v1/jobs/{id}/result: the manifest (canvas, layers bottom -> top). */
  async result(id) {
    const response = await this.request(`/v1/jobs/${encodeURIComponent(id)}/result`);
    return response.json();
  }

  /** Any job file (e.g. "layers/0.png", "result.psd") as a Blob. */
  async file(id, name) {
    const response = await this.request(`/v1/jobs/${encodeURIComponent(id)}/${name}`);
    return response.blob();
  }
}

/** Parse one SSE block ("event: x\ndata: {...}") into {event, data}. */
export function parseEvent(block) {
  let event = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
  }
  let parsed = {};
  try {
    parsed = data.length ? JSON.parse(data.join("\n")) : {};
  } catch (_) {
    parsed = { text: data.join("\n") };
  }
  return { event, data: parsed };
}

/** Fold one event into the running {state, stage, progress} snapshot. */
export function applyEvent(state, { event, data }) {
  const next = { ...state, ...(data && typeof data === "object" ? data : {}) };
  if (["queued", "started", "finished", "failed", "cancelled"].includes(event)) {
    next.state = event === "started" ? "running" : event;
  } else if (event === "stage" || event === "progress") {
    next.state = "running";
    if (data.name && !data.stage) next.stage = data.name;
    if (typeof data.value === "number" && data.progress === undefined) next.progress = data.value;
  } else if (event === "heartbeat") {
    return state;
  }
  if (next.state === "finished") next.progress = 1;
  return next;
}
