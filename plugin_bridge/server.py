"""The bridge HTTP server: Starlette app (API v1, see PROTOCOL.md) served by uvicorn.

`create_app` builds the app; `serve` runs it in the foreground (the CLI); `background_server`
runs it in a thread on an already-bound socket (tests, benchmarks). The model side is
`plugin_bridge.runner`, request parsing `plugin_bridge.uploads`, replies `plugin_bridge.results`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
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
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from decomposer.writers import Format, file_formats, save
from plugin_bridge.auth import AccessGuard
from plugin_bridge.config import API_MAX, API_MIN, API_VERSION, BridgeConfig
from plugin_bridge.errors import ApiError
from plugin_bridge.jobs import Job, JobManager, Runner
from plugin_bridge.results import formats_json, index_map_preview, layer_png, manifest
from plugin_bridge.uploads import parse_params, read_body, store_upload

STATIC_DIR = Path(__file__).resolve().parent / "static"
SERVER_NAME = "illustrators-depth-bridge"
MAX_KEY_CHARS = 128


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
                "model": runner.model_name,
                "device": runner.device_name,
                "queue": manager.counts,
                "layers": {"min": 1, "max": config.max_layers, "default": 6},
                "completion": list(completion_modes),
                "formats": formats_json(),
                "limits": {
                    "max_body_bytes": config.max_body_bytes,
                    "max_pixels": config.max_pixels,
                    "result_ttl_s": config.result_ttl_s,
                },
            }
        )

    async def submit(request: Request) -> JSONResponse:
        manager = manager_of(request)
        # the body is read first (size-limited) so that any error reply reaches the client
        body = await read_body(request, config.max_body_bytes)
        params = parse_params(request.query_params, config, completion_modes)
        key = request.headers.get("idempotency-key")
        if key is not None and not (0 < len(key) <= MAX_KEY_CHARS and key.isprintable()):
            raise ApiError(
                400,
                "bad_parameter",
                "Idempotency-Key must be 1-128 printable characters",
                "use e.g. a UUID",
            )
        if not body:
            raise ApiError(400, "bad_image", "request body is empty", "send the image file bytes")
        digest = await run_in_threadpool(lambda: hashlib.sha256(body).hexdigest())
        fingerprint = f"{digest}:{json.dumps(params.key_fields(), sort_keys=True)}"
        job = manager.find_key(key, fingerprint) if key is not None else None
        created = False
        if job is None:
            source, size = await run_in_threadpool(
                store_upload, body, manager.upload_folder(), config.max_pixels
            )
            job, created = manager.submit(
                source, size, params, idempotency_key=key, fingerprint=fingerprint
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
            data = await run_in_threadpool(layer_png, layers[i].rgba)
            job.files[key] = data
        return Response(data, media_type="image/png")

    async def job_index_map(request: Request) -> Response:
        job = finished_job(request)
        data = job.files.get("index_map.png")
        if data is None:
            data = await run_in_threadpool(index_map_preview, job.result.index_map)
            job.files["index_map.png"] = data
        return Response(data, media_type="image/png")

    async def job_document(request: Request, fmt: Format) -> FileResponse:
        job = finished_job(request)
        async with job.file_lock:
            path = job.files.get(fmt.name)
            if path is None:
                target = manager_of(request).workdir / job.id / f"result{fmt.suffix}"
                path = await run_in_threadpool(save, job.result, target, fmt.name)
                job.files[fmt.name] = path
        return FileResponse(path, media_type=fmt.media_type, filename=f"{job.id}{fmt.suffix}")

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

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        manager = JobManager(
            runner,
            result_ttl_s=config.result_ttl_s,
            max_queued=config.max_queued,
            heartbeat_s=config.heartbeat_s,
            max_results=config.max_results,
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
    "RunningBridge",
    "background_server",
    "bind_socket",
    "create_app",
    "serve",
]
