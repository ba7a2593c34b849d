"""Editor-independent half of the Krita and GIMP plug-ins (stdlib only, no editor imports).

It sends a flattened document to the bridge through a `plugin_bridge.client.BridgeClient`
(bundled next to this file as `bridge_client.py` inside the editors), waits for the job and turns
the result manifest into an ordered list of layers, **bottom -> top**, each with its PNG bytes and
its place on the canvas. The editor glue only has to create one paint layer per entry.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

GROUP_PREFIX = "Illustrator's Depth"


class BridgeLike(Protocol):
    """The part of `plugin_bridge.client.BridgeClient` the plug-ins use."""

    def submit(self, image: bytes, *, layers: int | str = 6) -> Any: ...
    def wait(self, job_id: str, on_event: Callable[..., None] | None = None) -> Any: ...
    def result(self, job_id: str) -> dict: ...
    def layer_png(self, job_id: str, index: int) -> bytes: ...


class ResultError(ValueError):
    """The bridge's manifest or job outcome cannot be turned into layers (message for the user)."""


@dataclass(frozen=True)
class LayerPixels:
    """One layer to create in the editor.

    position: 0 = bottom (back). x, y: canvas pixels of the PNG's top-left corner.
    png: 8-bit RGBA PNG, straight alpha, width x height pixels.
    invented_fraction: share in [0, 1] of opaque pixels hidden in the input (amodal completion).
    """

    position: int
    name: str
    x: int
    y: int
    width: int
    height: int
    png: bytes
    invented_fraction: float = 0.0


@dataclass(frozen=True)
class LayerStack:
    """A decomposition ready for an editor: canvas size (px) and layers bottom -> top."""

    job_id: str
    canvas_width: int
    canvas_height: int
    layers: tuple[LayerPixels, ...]

    @property
    def group_name(self) -> str:
        """Name of the layer group the plug-ins create, e.g. "Illustrator's Depth (6 layers)"."""
        return f"{GROUP_PREFIX} ({len(self.layers)} layers)"

    def top_down(self) -> tuple[LayerPixels, ...]:
        """Layers front first, the order of an editor's layer panel."""
        return tuple(reversed(self.layers))


def layer_places(manifest: dict) -> list[tuple[int, str, int, int, int, int, float]]:
    """(position, name, x, y, width, height, invented_fraction) per manifest layer, bottom -> top.

    Checks what an editor relies on: positions 0..n-1 without gaps and every layer inside the canvas.
    """
    try:
        width = int(manifest["canvas"]["width"])
        height = int(manifest["canvas"]["height"])
        entries = sorted(manifest["layers"], key=lambda layer: int(layer["i"]))
        places = []
        for position, layer in enumerate(entries):
            if int(layer["i"]) != position:
                raise ResultError(f"bridge result skips layer {position}")
            x, y = (int(v) for v in layer["offset"])
            w, h = (int(v) for v in layer["size"])
            if x < 0 or y < 0 or w <= 0 or h <= 0 or x + w > width or y + h > height:
                raise ResultError(
                    f"bridge result: layer {position} lies outside the {width}x{height} canvas"
                )
            name = str(layer.get("name") or f"Layer {position + 1}")
            places.append((position, name, x, y, w, h, float(layer.get("invented_fraction", 0.0))))
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, ResultError):
            raise
        raise ResultError(f"bridge result is not a v1 manifest ({error!r})") from error
    return places


def stack_from_result(client: BridgeLike, job_id: str, manifest: dict | None = None) -> LayerStack:
    """Fetch a finished job's manifest (unless given) and every layer PNG; layers bottom -> top."""
    manifest = manifest if manifest is not None else client.result(job_id)
    layers = []
    for position, name, x, y, w, h, invented in layer_places(manifest):
        png = client.layer_png(job_id, position)
        if png_size(png) != (w, h):
            raise ResultError(f"bridge result: layer {position} PNG is not {w}x{h}")
        layers.append(LayerPixels(position, name, x, y, w, h, png, invented))
    canvas = manifest["canvas"]
    return LayerStack(job_id, int(canvas["width"]), int(canvas["height"]), tuple(layers))


def decompose_document(
    client: BridgeLike,
    image: bytes,
    *,
    layers: int | str = 6,
    on_event: Callable[..., None] | None = None,
) -> LayerStack:
    """Upload `image` (PNG/JPEG/... bytes), wait for the job, return its layers bottom -> top.

    on_event: passed to the client's `wait` (progress for the editor's progress bar). Raises
    ResultError when the job failed or was cancelled; the client's errors pass through.
    """
    submitted = client.submit(image, layers=layers)
    job_id = submitted.id
    final = client.wait(job_id, on_event=on_event)
    state = _field(final, "state")
    if state != "finished":
        error = _field(final, "error") or {}
        message = error.get("message") if isinstance(error, dict) else None
        raise ResultError(message or f"bridge job {job_id} ended as {state}")
    return stack_from_result(client, job_id)


def _field(obj: Any, name: str) -> Any:
    """Read `name` from a dict or an object (the client may return either)."""
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk; ResultError if the bytes are not a PNG."""
    if len(png) < 24 or png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ResultError("bridge sent a layer that is not a PNG")
    return struct.unpack(">II", png[16:24])


def encode_png(width: int, height: int, pixels: bytes, channel_order: str = "RGBA") -> bytes:
    """Encode 8-bit 4-channel pixels (rows top -> bottom, no padding) as an RGBA PNG.

    channel_order: "RGBA", or "BGRA" for Krita's `Document.pixelData` (Qt ARGB32 in memory).
    """
    if channel_order not in ("RGBA", "BGRA"):
        raise ValueError(f"channel_order must be RGBA or BGRA, not {channel_order!r}")
    stride = width * 4
    if width <= 0 or height <= 0 or len(pixels) != stride * height:
        raise ValueError(
            f"expected {stride * height} bytes for {width}x{height} RGBA, got {len(pixels)}"
        )
    data = bytearray(pixels)
    if channel_order == "BGRA":
        data[0::4], data[2::4] = data[2::4], data[0::4]
    raw = b"".join(
        b"\x00" + bytes(data[row * stride : (row + 1) * stride]) for row in range(height)
    )

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )
