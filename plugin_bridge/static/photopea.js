// Talking to Photopea when this page runs as a Photopea plugin (inside its panel iframe).
// Photopea's plugin API: post a script string or a file ArrayBuffer to window.parent; Photopea
// answers with ArrayBuffers (from saveToOE) and the string "done" when a script finished.

const PHOTOPEA_ORIGIN = /^https:\/\/(www\.)?photopea\.com$/;

/**
 * True when the page is framed by Photopea. Chromium names the parent (ancestorOrigins); other
 * browsers may hide it (no referrer from https to http), so a framed page with an unknown parent
 * also counts: the Photopea buttons then only work if the parent really is Photopea.
 */
export function insidePhotopea() {
  if (window.parent === window) return false;
  const referrer = document.referrer ? new URL(document.referrer).origin : "";
  const ancestor = (location.ancestorOrigins && location.ancestorOrigins[0]) || referrer;
  return ancestor === "" || PHOTOPEA_ORIGIN.test(ancestor);
}

/** Run a Photopea script; resolve with the ArrayBuffers it sent back before "done". */
function runScript(script, timeoutMs = 60000) {
  return new Promise((resolve, reject) => {
    const buffers = [];
    const timer = setTimeout(() => {
      window.removeEventListener("message", onMessage);
      reject(new Error("Photopea did not answer in time."));
    }, timeoutMs);
    function onMessage(event) {
      if (!PHOTOPEA_ORIGIN.test(event.origin)) return;
      if (event.data instanceof ArrayBuffer) buffers.push(event.data);
      else if (event.data === "done") {
        clearTimeout(timer);
        window.removeEventListener("message", onMessage);
        resolve(buffers);
      }
    }
    window.addEventListener("message", onMessage);
    window.parent.postMessage(script, "*");
  });
}

/** The active Photopea document, flattened, as PNG bytes (ArrayBuffer). */
export async function photopeaDocumentPng() {
  const buffers = await runScript('app.activeDocument.saveToOE("png");');
  if (!buffers.length) throw new Error("Photopea has no open document to send.");
  return buffers[0];
}

/** Open a layered PSD (Blob) as a new Photopea document. */
export async function openInPhotopea(psdBlob) {
  const bytes = await psdBlob.arrayBuffer();
  window.parent.postMessage(bytes, "*");
}
