"""The bridge HTTP server: Starlette app (API v1, see PROTOCOL.md) served by uvicorn.

`create_app` builds the app; `serve` runs it in the foreground (the CLI); `background_server`
runs it in a thread on an already-bound socket (tests, benchmarks). The model side is
`plugin_bridge.runner`, request parsing `plugin_bridge.uploads`, replies `plugin_bridge.results`,
results on disk `plugin_bridge.storage`, connection limits `plugin_bridge.connections`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from decomposer.writers import Format, file_formats
from plugin_bridge.auth import AccessGuard, drain_body
from plugin_bridge.config import API_MAX, API_MIN, API_VERSION, BridgeConfig
from plugin_bridge.connections import ConnectionLimits, guarded_h11
from plugin_bridge.errors import ApiError
from plugin_bridge.jobs import Job, JobManager, Runner
from plugin_bridge.numbers import integer_parameter, parse_decimal, shorten
from plugin_bridge.results import formats_json, manifest
from plugin_bridge.uploads import parse_params, receive_upload, validate_upload
from plugin_bridge.workdir import remove_stale_work_folders

STATIC_DIR = Path(__file__).resolve().parent / "static"
SERVER_NAME = "illustrators-depth-bridge"
MAX_KEY_CHARS = 128
EVENT_ID_DIGITS = 18
LAYER_INDEX_DIGITS = 6
RANGE_DIGITS = 18
MAX_RANGES = 16
_RANGE_SPEC = re.compile(r"([0-9]*)-([0-9]*)")


def server_version() -> str:
    """Installed version of the illustrators-depth distribution."""
    try:
        return metadata.version("illustrators-depth")
    except metadata.PackageNotFoundError:
        return "0+unknown"


# app ---------------------------------------------------------------------------------------------


def create_app(
    config: BridgeConfig, *, token: str, runner: Runner, static_dir: Path | None = STATIC_DIR
) -> Starlette:
    """The bridge as an ASGI app: routes, JSON errors, static page, wrapped in AccessGuard."""
    completion_modes: tuple[str, ...] = runner.completion_modes
    version = server_version()

    def manager_of(request: Request) -> JobManager:
        return request.app.state.manager

    def finished_job(request: Request) -> Job:
        """The finished job a result request names (and note the download)."""
        manager = manager_of(request)
        job = manager.get(request.path_params["job_id"])
        if job.state != "finished":
            raise ApiError(
                409,
                "not_ready",
                f"job {job.id} is {job.state}, it has no result",
                "wait for the 'finished' event or poll the job status",
                state=job.state,
            )
        manager.fetched(job)
        return job

    async def health(request: Request) -> JSONResponse:
        manager = manager_of(request)
        return JSONResponse(
            {
                "name": SERVER_NAME,
                "version": version,
                "api": {"version": API_VERSION, "min": API_MIN, "max": API_MAX},
                "ready": runner.loaded,
                "model": runner.model_name,
                "device": runner.device_name,
                "queue": manager.counts,
                "started_at": manager.started_at,
                "layers": {"min": 1, "max": config.max_layers, "default": 6},
                "completion": list(completion_modes),
                "formats": formats_json(),
                "limits": {
                    "max_body_bytes": config.max_body_bytes,
                    "max_pixels": config.max_pixels,
                    "result_ttl_s": config.result_ttl_s,
                    "fetched_grace_s": config.fetched_grace_s,
                    "max_pending_bytes": config.max_pending_bytes,
                    "max_queued": config.max_queued,
                    "header_timeout_s": config.header_timeout_s,
                    "body_timeout_s": config.body_timeout_s,
                    "keep_alive_s": config.keep_alive_s,
                    "max_connections": config.max_connections,
                },
            }
        )

    async def submit(request: Request) -> Response:
        manager = manager_of(request)
        try:
            params = parse_params(request.query_params, config, completion_modes)
            key = request.headers.get("idempotency-key")
            if key is not None and not (
                0 < len(key) <= MAX_KEY_CHARS and key.isascii() and key.isprintable()
            ):
                raise ApiError(
                    400,
                    "bad_parameter",
                    "Idempotency-Key must be 1-128 printable ASCII characters",
                    "use e.g. a UUID",
                )
        except ApiError:
            await drain_body(request.receive)  # so the client, still sending, reads the error
            raise
        folder = manager.upload_folder()
        try:
            upload = await receive_upload(request, folder, manager, config.max_body_bytes)
        except ClientDisconnect:  # the client gave up mid-upload: nothing to answer
            return Response(status_code=400)
        job = None
        try:
            if upload.size == 0:
                raise ApiError(
                    400, "bad_image", "request body is empty", "send the image file bytes"
                )
            fingerprint = f"{upload.sha256}:{json.dumps(params.key_fields(), sort_keys=True)}"
            job = manager.find_key(key, fingerprint) if key is not None else None
            created = False
            if job is None:
                async with validation_slot:  # one decode at a time: bounded memory
                    size = await run_in_threadpool(validate_upload, upload.path, config.max_pixels)
                job, created = manager.submit(
                    upload.path,
                    size,
                    params,
                    idempotency_key=key,
                    fingerprint=fingerprint,
                    upload_bytes=upload.size,
                )
            else:
                manager.release_upload(upload.size)
                shutil.rmtree(folder, ignore_errors=True)
        except BaseException:
            if job is None:  # submit() releases and removes on its own errors; these are ours
                manager.release_upload(upload.size)
                shutil.rmtree(folder, ignore_errors=True)
            raise
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
        after = 0
        raw_after = request.query_params.get("after")
        if raw_after is not None:
            after = event_id(raw_after, "after")
        raw_last = request.headers.get("last-event-id", "").strip()
        if raw_last:  # an empty Last-Event-ID means none (SSE)
            after = event_id(raw_last, "Last-Event-ID")

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
        raw = request.path_params["i"]
        i = parse_decimal(raw, LAYER_INDEX_DIGITS)
        if i is None:
            raise ApiError(
                400,
                "bad_parameter",
                f"layer number {shorten(raw)!r} is not valid",
                "layer numbers are the `i` values in the result manifest (0 = bottom)",
            )
        job = finished_job(request)
        layers = job.result.layers
        if not 0 <= i < len(layers):
            raise ApiError(
                404,
                "unknown_layer",
                f"job {job.id} has layers 0-{len(layers) - 1}, not {i}",
                "layer numbers are listed in the result manifest",
            )
        return file_reply(request, layers[i].png, "image/png")

    async def job_index_map(request: Request) -> Response:
        job = finished_job(request)
        return file_reply(request, job.result.index_map_png, "image/png")

    async def job_document(request: Request, fmt: Format) -> Response:
        job = finished_job(request)
        async with job.file_lock:
            path = job.files.get(fmt.name)
            if path is None:
                target = job.result.folder / f"result{fmt.suffix}"
                path = await run_in_threadpool(job.result.save, target, fmt.name)
                job.files[fmt.name] = path
        return file_reply(request, path, fmt.media_type, filename=f"{job.id}{fmt.suffix}")

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
        Route("/v1/jobs/{job_id}/layers/{i}.png", job_layer, methods=["GET"]),
        Route("/v1/jobs/{job_id}/index_map.png", job_index_map, methods=["GET"]),
    ]
    routes += [  # one download per file format of the registry: result.psd, result.ora, ...
        Route(
            f"/v1/jobs/{{job_id}}/result{fmt.suffix}",
            partial(job_document, fmt=fmt),
            methods=["GET"],
        )
        for fmt in file_formats()
    ]
    if static_dir is not None and static_dir.is_dir():
        routes.append(Mount("/", StaticFiles(directory=static_dir, html=True)))

    validation_slot = asyncio.Semaphore(1)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await run_in_threadpool(remove_stale_work_folders, config.work_root)
        manager = JobManager(
            runner,
            result_ttl_s=config.result_ttl_s,
            max_queued=config.max_queued,
            heartbeat_s=config.heartbeat_s,
            fetched_grace_s=config.fetched_grace_s,
            max_pending_bytes=config.max_pending_bytes,
            work_root=config.work_root,
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


def event_id(text: str, name: str) -> int:
    """An SSE event id from `after` / `Last-Event-ID`: 0..10^18-1, ASCII digits (400 otherwise)."""
    return integer_parameter(
        text,
        name,
        low=0,
        high=10**EVENT_ID_DIGITS - 1,
        max_digits=EVENT_ID_DIGITS,
        hint="use the `id:` of the last event received (an integer)",
    )


def check_range(header: str, size: int) -> None:
    """Validate a `Range` header strictly before Starlette serves it (400/416 as JSON).

    Accepted: `bytes=START-END`, `bytes=START-`, `bytes=-SUFFIX`, comma-separated, ASCII digits.
    """
    units, sep, specs = header.partition("=")
    parts = [part.strip() for part in specs.split(",")]
    bad = ApiError(
        400,
        "bad_parameter",
        f"Range={shorten(header)!r} is not valid",
        "use e.g. `Range: bytes=0-1023`, or send no Range header",
    )
    if not sep or units.strip().lower() != "bytes" or not 0 < len(parts) <= MAX_RANGES:
        raise bad
    for part in parts:
        match = _RANGE_SPEC.fullmatch(part)
        if match is None or not (match[1] or match[2]):
            raise bad
        first = parse_decimal(match[1], RANGE_DIGITS) if match[1] else None
        last = parse_decimal(match[2], RANGE_DIGITS) if match[2] else None
        if (match[1] and first is None) or (match[2] and last is None):
            raise bad
        if first is not None and last is not None and last < first:
            raise bad
        start = first if first is not None else size - (last or 0)
        if not 0 <= start < size:
            raise ApiError(
                416,
                "range_not_satisfiable",
                f"Range={shorten(header)!r} is outside the file ({size} bytes)",
                "ask for bytes inside the file",
                headers={"Content-Range": f"bytes */{size}"},
            )


def file_reply(
    request: Request, path: Path, media_type: str, filename: str | None = None
) -> FileResponse:
    """A file download; a `Range` header is checked strictly first."""
    range_header = request.headers.get("range")
    if range_header is not None:
        check_range(range_header, path.stat().st_size)
    return FileResponse(path, media_type=media_type, filename=filename)


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


def _uvicorn_server(app: Starlette, config: BridgeConfig, log_level: str) -> uvicorn.Server:
    """uvicorn with the bridge's connection limits (see plugin_bridge.connections)."""
    limits = ConnectionLimits(
        header_timeout_s=config.header_timeout_s,
        body_timeout_s=config.body_timeout_s,
        max_connections=config.max_connections,
    )
    return uvicorn.Server(
        uvicorn.Config(
            app,
            http=guarded_h11(limits),
            log_level=log_level,
            lifespan="on",
            timeout_graceful_shutdown=2,
            timeout_keep_alive=config.keep_alive_s,  # type: ignore[arg-type]  # float is fine
            # a backstop on concurrent requests; the connection cap (eviction) comes first
            limit_concurrency=config.max_connections + 1,
            access_log=log_level in ("info", "debug"),
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
    _uvicorn_server(app, config, log_level).run(sockets=[sock])


@dataclass(frozen=True)
class RunningBridge:
    """A bridge running in a background thread: where it listens and how to authenticate."""

    url: str
    port: int
    token: str
    config: BridgeConfig
    app: Any = None

    @property
    def manager(self) -> JobManager:
        """The server's job manager (for tests and benchmarks that inspect it)."""
        return self.app.state.manager

    @property
    def workdir(self) -> Path:
        """The server's private work folder."""
        return self.manager.workdir

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
    server = _uvicorn_server(app, config, "warning")
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
        yield RunningBridge(
            url=f"http://{host}:{port}", port=port, token=token, config=config, app=app
        )
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


__all__ = [
    "RunningBridge",
    "background_server",
    "bind_socket",
    "create_app",
    "serve",
]
