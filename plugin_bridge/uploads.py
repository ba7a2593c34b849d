"""Reading job submissions: query parameters, the size-limited body, and image validation."""

from __future__ import annotations

import io
import shutil
import struct
import warnings
from pathlib import Path
from typing import Any

from PIL import Image
from starlette.requests import Request

from decomposer.errors import ImageLoadError
from decomposer.options import DecomposeOptions
from plugin_bridge.config import DRAIN_BYTES, BridgeConfig
from plugin_bridge.errors import ApiError


def parse_params(
    query: Any, config: BridgeConfig, completion_modes: tuple[str, ...]
) -> DecomposeOptions:
    """`layers` (1..max_layers or "auto", default 6) and `complete` from the query string."""
    raw_layers = query.get("layers", "6").strip().lower()
    if raw_layers == "auto":
        layers: int | str = "auto"
    elif raw_layers.isdigit() and 1 <= int(raw_layers) <= config.max_layers:
        layers = int(raw_layers)
    else:
        raise ApiError(
            400,
            "bad_parameter",
            f"layers={raw_layers!r} is not valid",
            f"use an integer 1-{config.max_layers} or 'auto'",
        )
    complete = query.get("complete", DecomposeOptions().completion).strip().lower()
    if complete not in completion_modes:
        raise ApiError(
            400,
            "bad_parameter",
            f"complete={complete!r} is not valid",
            f"use one of: {', '.join(completion_modes)}",
        )
    return DecomposeOptions(layers=layers, completion=complete, max_pixels=config.max_pixels)


def too_large_bytes(limit: int) -> ApiError:
    """413 for a body over the byte limit."""
    return ApiError(
        413,
        "too_large",
        f"upload is larger than the limit of {limit} bytes",
        "send a smaller file or restart the bridge with a larger --max-body-mb",
        limit={"bytes": limit},
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) anything over `limit` bytes.

    An oversized body is read and discarded (up to DRAIN_BYTES) before the 413 is sent: a server
    that answers and closes while the client is still sending makes most HTTP clients report
    "connection reset" instead of the 413 (a classic plugin complaint). Nothing over `limit` is
    kept in memory.
    """
    length = request.headers.get("content-length")
    declared_too_large = length is not None and length.isdigit() and int(length) > limit
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit or declared_too_large:
            chunks.clear()
            if total > DRAIN_BYTES:
                break
            continue
        chunks.append(chunk)
    if declared_too_large or total > limit:
        raise too_large_bytes(limit)
    return b"".join(chunks)


def store_upload(body: bytes, folder: Path, max_pixels: int) -> tuple[Path, tuple[int, int]]:
    """Write an uploaded image file to `folder/upload`, validate it, return (path, (width, height)).

    The file is fully decoded once by `decomposer.image_io.load_image` (every format it reads,
    PSD included; its messages then name "upload") and the pixels are dropped: queued jobs keep
    only the compressed file, and the worker decodes it again when the job runs.
    Raises ApiError 413 over `max_pixels` (checked from the header before decoding) and 400 when
    the bytes are not a readable image; `folder` is removed on error.
    """
    from decomposer.image_io import load_image

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "upload"
    try:
        path.write_bytes(body)
        rgba = load_image(path, max_pixels=max_pixels).rgba
        return path, (int(rgba.shape[1]), int(rgba.shape[0]))
    except Image.DecompressionBombError as exc:  # load_image lets Pillow's own limit escape
        shutil.rmtree(folder, ignore_errors=True)
        raise ApiError(
            413,
            "too_large",
            f"image is larger than the decoder allows ({exc})".splitlines()[0],
            "downscale the image",
            limit={"pixels": max_pixels},
        ) from exc
    except ImageLoadError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        size = header_size(body)
        if size is not None and size[0] * size[1] > max_pixels:
            width, height = size
            raise ApiError(
                413,
                "too_large",
                f"image is {width}x{height} = {width * height} pixels, "
                f"over the limit of {max_pixels}",
                "downscale the image or restart the bridge with a larger --max-pixels",
                limit={"pixels": max_pixels},
            ) from exc
        raise ApiError(
            400, "bad_image", str(exc), "send a PNG, JPEG, WebP or PSD file as the raw body"
        ) from exc
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def header_size(body: bytes) -> tuple[int, int] | None:
    """(width, height) from an image file's header without decoding pixels; None if unknown."""
    if body[:4] == b"8BPS" and len(body) >= 22:  # PSD/PSB header: height, width at 14..22
        height, width = struct.unpack(">II", body[14:22])
        return width, height
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(body)) as header:
                return header.size
    except Exception:  # includes Pillow's DecompressionBombError: size unknown here
        return None
