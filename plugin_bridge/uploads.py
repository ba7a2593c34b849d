"""Reading job submissions: query parameters, the streamed body, and image validation.

The body goes straight to a file in the job's upload folder, a chunk at a time (never whole in
memory), while its SHA-256 is computed; every byte counts against the bridge's pending-upload
budget (`BridgeConfig.max_pending_bytes`) until the job starts. The file is then validated by
`decomposer.image_io.check_image`, one upload at a time, so concurrent uploads do not multiply the
decoding memory.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from decomposer.errors import ImageLoadError, ImageTooLargeError, InvalidOptionError
from decomposer.options import DecomposeOptions
from plugin_bridge.auth import drain_body
from plugin_bridge.config import DRAIN_BYTES, BridgeConfig
from plugin_bridge.errors import ApiError
from plugin_bridge.jobs import JobManager
from plugin_bridge.numbers import integer_parameter, parse_decimal, shorten

WRITE_CHUNK = 1024 * 1024  # bytes gathered before one write (and hash update) in a worker thread
LENGTH_DIGITS = 19  # Content-Length values longer than this are refused (over 9 EB)
LAYER_DIGITS = 4

# Query parameter name -> parser(raw text, config, completion modes) -> (DecomposeOptions field,
# value). Adding a parameter is one entry here plus its line in PROTOCOL.md.
ParamParser = Callable[[str, BridgeConfig, tuple[str, ...]], tuple[str, Any]]


def _layers(raw: str, config: BridgeConfig, _modes: tuple[str, ...]) -> tuple[str, Any]:
    if raw.isascii() and raw.lower() == "auto":
        return "layers", "auto"
    hint = f"use an integer 1-{config.max_layers} or 'auto'"
    return "layers", integer_parameter(
        raw, "layers", low=1, high=config.max_layers, max_digits=LAYER_DIGITS, hint=hint
    )


def _complete(raw: str, _config: BridgeConfig, modes: tuple[str, ...]) -> tuple[str, Any]:
    value = raw.lower() if raw.isascii() else raw
    if value not in modes:
        raise ApiError(
            400,
            "bad_parameter",
            f"complete={shorten(raw)!r} is not valid",
            f"use one of: {', '.join(modes)}",
        )
    return "completion", value


JOB_PARAMETERS: dict[str, ParamParser] = {"layers": _layers, "complete": _complete}


def parse_params(
    query: Any, config: BridgeConfig, completion_modes: tuple[str, ...]
) -> DecomposeOptions:
    """The job's DecomposeOptions from the query string (JOB_PARAMETERS; absent = defaults) and
    the server's pixel limit. Raises ApiError 400 bad_parameter naming the parameter."""
    fields: dict[str, Any] = {"max_pixels": config.max_pixels}
    for name, parse in JOB_PARAMETERS.items():
        raw = query.get(name)
        if raw is not None:
            field, value = parse(raw, config, completion_modes)
            fields[field] = value
    try:
        return DecomposeOptions(**fields)
    except InvalidOptionError as exc:
        raise ApiError(400, "bad_parameter", str(exc), "see PROTOCOL.md for valid values") from exc


def too_large_bytes(limit: int) -> ApiError:
    """413 for a body over the byte limit."""
    return ApiError(
        413,
        "too_large",
        f"upload is larger than the limit of {limit} bytes",
        "send a smaller file or restart the bridge with a larger --max-body-mb",
        limit={"bytes": limit},
    )


def pending_full(manager: JobManager, size: int | None) -> ApiError:
    """503 when this upload would pass the pending-upload budget (other uploads wait first)."""
    this = "this upload" if size is None else f"this upload ({size} bytes)"
    return ApiError(
        503,
        "queue_full",
        f"{manager.pending_bytes} bytes of uploads are already waiting; {this} would pass the "
        f"limit of {manager.max_pending_bytes} bytes",
        "retry in a few seconds, when queued jobs have started, or restart the bridge with a "
        "larger --max-pending-mb",
        headers={"Retry-After": "5"},
        limit={"pending_bytes": manager.max_pending_bytes},
    )


def declared_length(request: Request) -> int | None:
    """The request's Content-Length (None when chunked); ApiError 400 when malformed."""
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    value = parse_decimal(raw.strip(), LENGTH_DIGITS)
    if value is None:
        raise ApiError(
            400, "bad_parameter", f"Content-Length={shorten(raw)!r} is not valid", "send digits"
        )
    return value


@dataclass(frozen=True)
class ReceivedUpload:
    """An upload written to disk: `path`, its `size` in bytes and its `sha256` (hex)."""

    path: Path
    size: int
    sha256: str


def _write(fh: IO[bytes], hasher: Any, data: bytes) -> None:
    fh.write(data)
    hasher.update(data)


async def receive_upload(
    request: Request, folder: Path, manager: JobManager, max_bytes: int
) -> ReceivedUpload:
    """Stream the request body to `folder/upload`, counting it as pending upload bytes.

    Refuses with 413 over `max_bytes` (from Content-Length, or while reading) and 503 when the
    pending budget is exhausted; a refused body is read to the end and dropped (up to
    DRAIN_BYTES) so the client receives the error. On any error `folder` is removed and nothing
    stays counted; on success the caller owns `size` pending bytes (release or hand them to a job).
    """
    reserved = 0
    try:
        declared = declared_length(request)
        if declared is not None and declared > max_bytes:
            raise too_large_bytes(max_bytes)
        if declared is not None:
            if not manager.reserve_upload(declared):
                raise pending_full(manager, declared)
            reserved = declared
    except ApiError:
        shutil.rmtree(folder, ignore_errors=True)
        await drain_body(request.receive)
        raise

    path = folder / "upload"
    hasher = hashlib.sha256()
    total = 0
    refusal: ApiError | None = None
    buffer = bytearray()
    fh = await run_in_threadpool(open, path, "wb")
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if refusal is not None:
                if total > DRAIN_BYTES:
                    break
                continue
            if total > max_bytes:
                refusal = too_large_bytes(max_bytes)
                continue
            if total > reserved:
                step = max(total - reserved, WRITE_CHUNK)
                if not manager.reserve_upload(step):
                    refusal = pending_full(manager, declared)
                    continue
                reserved += step
            buffer += chunk
            if len(buffer) >= WRITE_CHUNK:
                await run_in_threadpool(_write, fh, hasher, bytes(buffer))
                buffer.clear()
        if refusal is not None:
            raise refusal
        if buffer:
            await run_in_threadpool(_write, fh, hasher, bytes(buffer))
        await run_in_threadpool(fh.close)
    except BaseException:
        fh.close()
        shutil.rmtree(folder, ignore_errors=True)
        manager.release_upload(reserved)
        raise
    manager.release_upload(reserved - total)
    return ReceivedUpload(path=path, size=total, sha256=hasher.hexdigest())


def validate_upload(path: Path, max_pixels: int) -> tuple[int, int]:
    """Decode the uploaded file once to validate it; returns (width, height).

    Raises ApiError 413 over `max_pixels` (from the header, before decoding) and 400 when the
    bytes are not a readable image. The pixels are dropped (`check_image` does not even build the
    RGBA copy): a queued job keeps only the file.
    """
    from decomposer.image_io import check_image

    try:
        return check_image(path, max_pixels=max_pixels)
    except ImageTooLargeError as exc:
        if exc.size is None:
            message = str(exc)
            hint = "save the image as PNG or downscale it"
        else:
            width, height = exc.size
            message = (
                f"image is {width}x{height} = {width * height} pixels, "
                f"over the limit of {max_pixels}"
            )
            hint = "downscale the image or restart the bridge with a larger --max-pixels"
        raise ApiError(413, "too_large", message, hint, limit={"pixels": max_pixels}) from exc
    except ImageLoadError as exc:
        raise ApiError(
            400, "bad_image", str(exc), "send a PNG, JPEG, WebP or PSD file as the raw body"
        ) from exc


__all__ = [
    "JOB_PARAMETERS",
    "ReceivedUpload",
    "parse_params",
    "receive_upload",
    "too_large_bytes",
    "validate_upload",
]
