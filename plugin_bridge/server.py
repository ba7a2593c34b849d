"""The bridge HTTP server: Starlette app (API v1, see PROTOCOL.md) served by uvicorn.

`create_app` builds the app; `serve` runs it in the foreground (the CLI); `background_server`
runs it in a thread on an already-bound socket (tests, benchmarks).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import socket
import struct
import tempfile
import threading
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import uvicorn
from PIL import Image
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from decomposer.errors import DecomposerError, ImageLoadError, InvalidOptionError
from plugin_bridge.auth import AccessGuard
from plugin_bridge.config import API_MAX, API_MIN, API_VERSION, BridgeConfig
from plugin_bridge.errors import ApiError
from plugin_bridge.jobs import Job, JobManager, JobParams, ProgressCallback, Runner

STATIC_DIR = Path(__file__).resolve().parent / "static"
SERVER_NAME = "illustrators-depth-bridge"
MAX_KEY_CHARS = 128
FILE_TYPES = {"psd": "image/vnd.adobe.photoshop", "ora": "image/openraster"}


def server_version() -> str:
    """Installed version of the illustrators-depth distribution."""
    try:
        return metadata.version("illustrators-depth")
    except metadata.PackageNotFoundError:
        return "0+unknown"


class DecomposeRunner:
    """Runs `decomposer.decompose` with one model loaded once (implements jobs.Runner)."""

    def __init__(self, model: str | None = None, device: str | None = None) -> None:
        self.model_name = model or "default"
        self.device = device
        self._spec = model
        self._model: Any = None

    @property
    def loaded(self) -> bool:
        """True once the model is in memory."""
        return self._model is not None

    @property
    def device_name(self) -> str:
        """The torch device jobs run on."""
        from model.inference import select_device

        return str(select_device(self.device))

    @property
    def completion_modes(self) -> tuple[str, ...]:
        """Completion methods `decompose` accepts."""
        from decomposer.completion import COMPLETION_MODES

        return tuple(COMPLETION_MODES)

    def load(self) -> None:
        """Load the model (raises decomposer.errors.ModelLoadError with a one-line message)."""
        import decomposer

        if self._model is None:
            self._model = decomposer.load_model(self._spec)

    def run(self, image: np.ndarray, params: JobParams, progress: ProgressCallback) -> Any:
        """Decompose one RGBA image; returns a Decomposition."""
        import decomposer

        return decomposer.decompose(
            image,
            layers=params.layers,
            model=self._model,
            completion=params.complete,
            device=self.device,
            progress=progress,
            max_pixels=max(image.shape[0] * image.shape[1], 1),  # validated at upload
        )

    def error_of(self, exc: BaseException) -> ApiError | None:
        """Client-facing error for decomposer failures; None means an internal bug."""
        if isinstance(exc, ImageLoadError):
            return ApiError(400, "bad_image", str(exc), "check the image file")
        if isinstance(exc, InvalidOptionError):
            return ApiError(400, "bad_parameter", str(exc), "see PROTOCOL.md for valid values")
        if isinstance(exc, DecomposerError):
            return ApiError(500, "decompose_failed", str(exc), "")
        return None


# request parsing ---------------------------------------------------------------------------------


def parse_params(query: Any, config: BridgeConfig, completion_modes: tuple[str, ...]) -> JobParams:
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
    complete = query.get("complete", "nearest").strip().lower()
    if complete not in completion_modes:
        raise ApiError(
            400,
            "bad_parameter",
            f"complete={complete!r} is not valid",
            f"use one of: {', '.join(completion_modes)}",
        )
    return JobParams(layers=layers, complete=complete)


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
    """The request body, refusing (413) anything over `limit` bytes before or while reading."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise too_large_bytes(limit)
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise too_large_bytes(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def decode_upload(body: bytes, max_pixels: int) -> np.ndarray:
    """Validate and decode an uploaded image file: uint8 (H, W, 4).

    Raises ApiError 413 when the image has more than `max_pixels` (checked by
    `decomposer.image_io.load_image` from the header, before decoding) and 400 when it is not a
    readable image. The bytes go through a private temp file named "upload" so that every format
    `load_image` reads (PSD included) is accepted and its messages name "upload".
    """
    from decomposer.image_io import load_image

    with tempfile.TemporaryDirectory(prefix="decompose-bridge-upload-") as folder:
        path = Path(folder) / "upload"
        path.write_bytes(body)
        try:
            return load_image(path, max_pixels=max_pixels).rgba
        except Image.DecompressionBombError as exc:  # load_image lets Pillow's own limit escape
            raise ApiError(
                413,
                "too_large",
                f"image is larger than the decoder allows ({exc})".splitlines()[0],
                "downscale the image",
                limit={"pixels": max_pixels},
            ) from exc
        except ImageLoadError as exc:
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


def png_bytes(array: np.ndarray, mode: str) -> bytes:
    """Encode a uint8 array as PNG (mode "RGBA" or "L")."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array), mode).save(buffer, "PNG", compress_level=3)
    return buffer.getvalue()


def index_map_preview(index_map: np.ndarray) -> bytes:
    """8-bit grayscale PNG of an index map, normalised to its own range (white = front)."""
    values = np.nan_to_num(np.asarray(index_map, dtype=np.float64))
    low, high = float(values.min()), float(values.max())
    scaled = (values - low) / (high - low) if high > low else np.zeros_like(values)
    return png_bytes(np.round(scaled * 255).astype(np.uint8), "L")


def json_safe(value: Any, depth: int = 0) -> Any:
    """Keep the JSON-representable part of free-form metadata (numpy scalars become numbers)."""
    if depth > 6:
        return None
    if isinstance(value, dict):
        return {str(k): json_safe(v, depth + 1) for k, v in value.items() if json_safe_ok(v)}
    if isinstance(value, (list, tuple)):
        return [json_safe(v, depth + 1) for v in value if json_safe_ok(v)]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def json_safe_ok(value: Any) -> bool:
    """True for values `json_safe` keeps (arrays and arbitrary objects are dropped)."""
    return value is None or isinstance(
        value, (str, int, float, bool, dict, list, tuple, np.generic)
    )


def manifest(job: Job) -> dict[str, Any]:
    """The result manifest of a finished job (PROTOCOL.md, GET /v1/jobs/{id}/result)."""
    dec = job.result
    links = job.links()
    width, height = dec.canvas_size
    layers = []
    for i, layer in enumerate(dec.layers):
        h, w = layer.rgba.shape[:2]
        layers.append(
            {
                "i": i,
                "name": layer.name,
                "bbox": list(layer.bbox),
                "offset": [int(layer.offset[0]), int(layer.offset[1])],
                "size": [int(w), int(h)],
                "invented_fraction": float(layer.invented_fraction),
                "predicted_index": float(layer.index),
                "png": f"{links['self']}/layers/{i}.png",
            }
        )
    return {
        "id": job.id,
        "canvas": {"width": int(width), "height": int(height)},
        "layer_count": len(layers),
        "layers": layers,
        "psd": links["psd"],
        "ora": links["ora"],
        "index_map": links["index_map"],
        "info": json_safe(dec.info),
    }


# app ---------------------------------------------------------------------------------------------


def create_app(
    config: BridgeConfig, *, token: str, runner: Runner, static_dir: Path | None = STATIC_DIR
) -> Starlette:
    """The bridge as an ASGI app: routes, JSON errors, static page, wrapped in AccessGuard."""
    completion_modes: tuple[str, ...] = getattr(runner, "completion_modes", ("nearest",))
    version = server_version()

    def manager_of(request: Request) -> JobManager:
        return request.app.state.manager

    def finished_job(request: Request) -> Job:
        job = manager_of(request).get(request.path_params["job_id"])
        if job.state != "finished":
            raise ApiError(
                409,
                "not_ready",
                f"job {job.id} is {job.state}, it has no result",
                "wait for the 'finished' event or poll the job status",
                state=job.state,
            )
        return job

    async def health(request: Request) -> JSONResponse:
        manager = manager_of(request)
        return JSONResponse(
            {
                "name": SERVER_NAME,
                "version": version,
                "api": {"version": API_VERSION, "min": API_MIN, "max": API_MAX},
                "ready": runner.loaded,
                "model": getattr(runner, "model_name", "unknown"),
                "device": getattr(runner, "device_name", "unknown"),
                "queue": manager.counts,
                "layers": {"min": 1, "max": config.max_layers, "default": 6},
                "completion": list(completion_modes),
                "limits": {
                    "max_body_bytes": config.max_body_bytes,
                    "max_pixels": config.max_pixels,
                    "result_ttl_s": config.result_ttl_s,
                },
            }
        )

    async def submit(request: Request) -> JSONResponse:
        manager = manager_of(request)
        params = parse_params(request.query_params, config, completion_modes)
        key = request.headers.get("idempotency-key")
        if key is not None and not (0 < len(key) <= MAX_KEY_CHARS and key.isprintable()):
            raise ApiError(
                400,
                "bad_parameter",
                "Idempotency-Key must be 1-128 printable characters",
                "use e.g. a UUID",
            )
        body = await read_body(request, config.max_body_bytes)
        if not body:
            raise ApiError(400, "bad_image", "request body is empty", "send the image file bytes")
        digest = hashlib.sha256(body).hexdigest()
        fingerprint = f"{digest}:{params.layers}:{params.complete}"
        job = manager.find_key(key, fingerprint) if key is not None else None
        created = False
        if job is None:
            rgba = await run_in_threadpool(decode_upload, body, config.max_pixels)
            job, created = manager.submit(
                rgba, params, idempotency_key=key, fingerprint=fingerprint
            )
        return JSONResponse(
            {
                "id": job.id,
                "state": job.state,
                "queue_position": job.queue_position if job.state == "queued" else 0,
                "links": job.links(),
            },
            status_code=202 if created else 200,
            headers={"Location": job.links()["self"]},
        )

    async def job_status(request: Request) -> JSONResponse:
        return JSONResponse(manager_of(request).get(request.path_params["job_id"]).status())

    async def job_cancel(request: Request) -> JSONResponse:
        manager = manager_of(request)
        job = manager.get(request.path_params["job_id"])
        manager.cancel(job)
        return JSONResponse(job.status())

    async def job_events(request: Request) -> StreamingResponse:
        manager = manager_of(request)
        job = manager.get(request.path_params["job_id"])
        raw_after = request.headers.get("last-event-id") or request.query_params.get("after", "0")
        after = int(raw_after) if raw_after.strip().isdigit() else 0

        async def stream() -> AsyncIterator[bytes]:
            async for event in manager.events(job, after):
                yield event.sse()

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def job_result(request: Request) -> JSONResponse:
        return JSONResponse(manifest(finished_job(request)))

    async def job_layer(request: Request) -> Response:
        job = finished_job(request)
        i = request.path_params["i"]
        layers = job.result.layers
        if not 0 <= i < len(layers):
            raise ApiError(
                404,
                "unknown_layer",
                f"job {job.id} has layers 0-{len(layers) - 1}, not {i}",
                "layer numbers are listed in the result manifest",
            )
        key = f"layer-{i}.png"
        data = job.files.get(key)
        if data is None:
            data = await run_in_threadpool(png_bytes, layers[i].rgba, "RGBA")
            job.files[key] = data
        return Response(data, media_type="image/png")

    async def job_index_map(request: Request) -> Response:
        job = finished_job(request)
        data = job.files.get("index_map.png")
        if data is None:
            data = await run_in_threadpool(index_map_preview, job.result.index_map)
            job.files["index_map.png"] = data
        return Response(data, media_type="image/png")

    async def job_document(request: Request, kind: str) -> FileResponse:
        job = finished_job(request)
        async with job.file_lock:
            path = job.files.get(kind)
            if path is None:
                target = manager_of(request).workdir / job.id / f"result.{kind}"
                path = await run_in_threadpool(job.result.save, target)
                job.files[kind] = path
        return FileResponse(path, media_type=FILE_TYPES[kind], filename=f"{job.id}.{kind}")

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return exc.response()

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            return ApiError(
                404, "not_found", f"no endpoint {request.url.path}", "see PROTOCOL.md"
            ).response()
        if exc.status_code == 405:
            return ApiError(
                405,
                "method_not_allowed",
                f"{request.method} is not allowed on {request.url.path}",
                "see PROTOCOL.md",
            ).response()
        return ApiError(exc.status_code, "http_error", str(exc.detail), "").response()

    async def internal_error(request: Request, exc: Exception) -> Response:
        message = f"{type(exc).__name__}: {exc}".splitlines()[0]
        return ApiError(500, "internal", message, "this is a bug; please report it").response()

    routes: list[Route | Mount] = [
        Route("/v1/health", health, methods=["GET"]),
        Route("/v1/jobs", submit, methods=["POST"]),
        Route("/v1/jobs/{job_id}", job_status, methods=["GET"]),
        Route("/v1/jobs/{job_id}", job_cancel, methods=["DELETE"]),
        Route("/v1/jobs/{job_id}/events", job_events, methods=["GET"]),
        Route("/v1/jobs/{job_id}/result", job_result, methods=["GET"]),
        Route("/v1/jobs/{job_id}/layers/{i:int}.png", job_layer, methods=["GET"]),
        Route("/v1/jobs/{job_id}/index_map.png", job_index_map, methods=["GET"]),
        Route("/v1/jobs/{job_id}/result.psd", partial(job_document, kind="psd"), methods=["GET"]),
        Route("/v1/jobs/{job_id}/result.ora", partial(job_document, kind="ora"), methods=["GET"]),
    ]
    if static_dir is not None and static_dir.is_dir():
        routes.append(Mount("/", StaticFiles(directory=static_dir, html=True)))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        manager = JobManager(
            runner,
            result_ttl_s=config.result_ttl_s,
            max_queued=config.max_queued,
            heartbeat_s=config.heartbeat_s,
        )
        app.state.manager = manager
        manager.start()
        try:
            yield
        finally:
            await manager.close()

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            ApiError: api_error,
            HTTPException: http_error,
            Exception: internal_error,
        },
    )
    app.add_middleware(AccessGuard, config=config, token=token)
    return app


# running -----------------------------------------------------------------------------------------


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket (port 0 = any free port); raises OSError if the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _uvicorn_server(app: Starlette, log_level: str) -> uvicorn.Server:
    return uvicorn.Server(
        uvicorn.Config(
            app,
            log_level=log_level,
            lifespan="on",
            timeout_graceful_shutdown=2,
            access_log=log_level == "debug",
        )
    )


def serve(
    config: BridgeConfig,
    *,
    token: str,
    runner: Runner,
    sock: socket.socket,
    log_level: str = "warning",
) -> None:
    """Run the bridge in the foreground on an already-bound socket until interrupted."""
    app = create_app(config, token=token, runner=runner)
    _uvicorn_server(app, log_level).run(sockets=[sock])


@dataclass(frozen=True)
class RunningBridge:
    """A bridge running in a background thread: where it listens and how to authenticate."""

    url: str
    port: int
    token: str
    config: BridgeConfig

    def client(self, **options: Any) -> Any:
        """A `plugin_bridge.client.BridgeClient` for this server, authenticated."""
        from plugin_bridge.client import BridgeClient

        return BridgeClient(self.url, token=self.token, **options)


@contextlib.contextmanager
def background_server(
    config: BridgeConfig,
    *,
    token: str,
    runner: Runner,
    static_dir: Path | None = STATIC_DIR,
    start_timeout_s: float = 30.0,
) -> Iterator[RunningBridge]:
    """Run the bridge in a thread on 127.0.0.1 (config.port 0 = a free port); stop on exit."""
    sock = bind_socket(config.host, config.port)
    port = sock.getsockname()[1]
    if port != config.port:
        config = replace(config, port=port)
    app = create_app(config, token=token, runner=runner, static_dir=static_dir)
    server = _uvicorn_server(app, "warning")
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="bridge-server", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError("bridge server did not start")
        time.sleep(0.01)
    host = f"[{config.host}]" if ":" in config.host else config.host
    try:
        yield RunningBridge(url=f"http://{host}:{port}", port=port, token=token, config=config)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


__all__ = [
    "DecomposeRunner",
    "RunningBridge",
    "background_server",
    "bind_socket",
    "create_app",
    "serve",
]
