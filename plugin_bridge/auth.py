"""Access control for the bridge: bearer token file, Host check, CORS allow-list, API version.

`AccessGuard` is a pure ASGI middleware that applies, in order: Host check (403), CORS preflight
(204/403), API-version check (426), bearer token (401). See PROTOCOL.md "Checks".
"""

from __future__ import annotations

import hmac
import os
import secrets
import stat
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from starlette.responses import Response

from plugin_bridge.config import (
    API_MAX,
    API_MIN,
    API_VERSION,
    DRAIN_BYTES,
    LOOPBACK_HOSTS,
    BridgeConfig,
)
from plugin_bridge.errors import ApiError
from plugin_bridge.numbers import parse_decimal, shorten

TOKEN_BYTES = 32  # 256 bits
MIN_TOKEN_CHARS = 32
ALLOWED_METHODS = "GET, POST, DELETE, OPTIONS"
ALLOWED_HEADERS = "Authorization, Content-Type, Idempotency-Key, X-Bridge-Api, Last-Event-ID"
EXPOSED_HEADERS = "X-Bridge-Api, Location, Content-Disposition"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class TokenFileError(Exception):
    """The token file cannot be created or is unsafe/invalid; message names the file."""


def load_or_create_token(path: Path) -> str:
    """Return the token stored in `path`, creating the file (mode 0600, 256-bit hex) if missing.

    Raises TokenFileError when the file is readable by group/others, too short or unreadable.
    """
    path = Path(path).expanduser()
    if not path.exists():
        _create_token_file(path)
    return read_token_file(path)


def read_token_file(path: Path) -> str:
    """Read and validate an existing token file (0600 on POSIX, at least 32 printable chars)."""
    try:
        if os.name == "posix":
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode & 0o077:
                raise TokenFileError(
                    f"{path}: token file is readable by other users (mode {mode:o}); "
                    f"run `chmod 600 {path}`"
                )
        token = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise TokenFileError(f"{path}: cannot read token file ({exc})") from exc
    if len(token) < MIN_TOKEN_CHARS or not token.isprintable() or " " in token:
        raise TokenFileError(
            f"{path}: token must be at least {MIN_TOKEN_CHARS} printable characters without spaces"
        )
    return token


def _create_token_file(path: Path) -> None:
    """Write a fresh token atomically: private temp file, fsync, then link into place."""
    token = secrets.token_hex(TOKEN_BYTES)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(token + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)  # fails if another process created the file meanwhile
            except FileExistsError:
                pass
            except OSError:
                os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as exc:
        raise TokenFileError(f"{path}: cannot create token file ({exc})") from exc


def tokens_match(expected: str, presented: str) -> bool:
    """Constant-time comparison of two tokens."""
    return hmac.compare_digest(expected.encode("utf-8"), presented.encode("utf-8"))


def bearer_token(authorization: str | None) -> str | None:
    """The token from an `Authorization: Bearer <token>` header value, or None."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def host_allowed(host_header: str | None, port: int) -> bool:
    """True when `Host` names a loopback host on our port (127.0.0.1, localhost, [::1])."""
    if not host_header:
        return False
    host = host_header.strip().lower()
    if host.startswith("["):
        name, sep, rest = host[1:].partition("]")
        if not sep:
            return False
        port_part = rest[1:] if rest.startswith(":") else None
        if rest and port_part is None:
            return False
    else:
        name, sep, port_part = host.partition(":")
        if not sep:
            port_part = None
    if name not in LOOPBACK_HOSTS:
        return False
    if port_part is None:
        return port == 80
    return parse_decimal(port_part, 5) == port


def origin_allowed(origin: str, config: BridgeConfig) -> bool:
    """True for the server's own origins and exact allow-list entries (no wildcards)."""
    return origin in config.allowed_origins or origin in config.own_origins


def check_api_version(header: str | None) -> None:
    """Raise 426 when the client's `X-Bridge-Api` is an integer outside [API_MIN, API_MAX], and
    400 bad_parameter when it is not an integer (ASCII digits) at all."""
    if header is None:
        return
    value = header.strip()
    number = parse_decimal(value, 9)
    if number is None:
        raise ApiError(
            400,
            "bad_parameter",
            f"X-Bridge-Api={shorten(value)!r} is not valid",
            f"send the API version as an integer (X-Bridge-Api: {API_VERSION}) or leave it out",
        )
    if API_MIN <= number <= API_MAX:
        return
    raise ApiError(
        426,
        "incompatible_version",
        f"client speaks bridge API {number}, this server speaks {API_MIN}..{API_MAX}",
        "update decompose-bridge (pip install -U illustrators-depth)"
        if number > API_MAX
        else "update the plugin to a version made for this bridge",
        min=API_MIN,
        max=API_MAX,
    )


async def drain_body(receive: Receive, limit: int = DRAIN_BYTES) -> None:
    """Read and drop the request body (up to `limit` bytes) so an early error reply reaches a
    client that is still sending, instead of a connection reset."""
    total = 0
    while total <= limit:
        message = await receive()
        if message["type"] != "http.request":
            return
        total += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


def _is_public(method: str, path: str) -> bool:
    """Requests that need no token: health and the static web page (everything outside /v1/)."""
    if path == "/v1/health" and method in ("GET", "HEAD"):
        return True
    return not path.startswith("/v1/") and path != "/v1"


class AccessGuard:
    """ASGI middleware: Host check, CORS, API version and bearer token, in that order."""

    def __init__(self, app: ASGIApp, config: BridgeConfig, token: str) -> None:
        self.app = app
        self.config = config
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        method = scope["method"]
        path = scope["path"]
        version_header = {"X-Bridge-Api": str(API_VERSION)}

        if not self.config.allow_remote and not host_allowed(headers.get("host"), self.config.port):
            error = ApiError(
                403,
                "forbidden_host",
                f"Host {shorten(headers.get('host', ''))!r} is not this bridge's loopback address",
                f"connect to http://127.0.0.1:{self.config.port}",
            )
            await drain_body(receive)
            await error.response(version_header)(scope, receive, send)
            return

        origin = headers.get("origin")
        cors = origin is not None and origin_allowed(origin, self.config)
        cors_headers = dict(version_header)
        if cors:
            cors_headers.update(
                {
                    "Access-Control-Allow-Origin": origin,
                    "Vary": "Origin",
                    "Access-Control-Expose-Headers": EXPOSED_HEADERS,
                }
            )

        if (
            method == "OPTIONS"
            and origin is not None
            and "access-control-request-method" in headers
        ):
            await self._preflight(origin, cors, headers, scope, receive, send)
            return

        try:
            if path != "/v1/health":
                check_api_version(headers.get("x-bridge-api"))
            if not _is_public(method, path):
                presented = bearer_token(headers.get("authorization"))
                if presented is None or not tokens_match(self.token, presented):
                    raise ApiError(
                        401,
                        "auth",
                        "missing or wrong bridge token" if presented else "bridge token required",
                        "send `Authorization: Bearer <token>`; `decompose-bridge --print-token` shows it",
                    )
        except ApiError as error:
            extra = {"WWW-Authenticate": "Bearer"} if error.status == 401 else {}
            await drain_body(receive)
            await error.response({**cors_headers, **extra})(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = list(message.get("headers", []))
                present = {k.lower() for k, _ in raw}
                for name, value in cors_headers.items():
                    key = name.lower().encode("latin-1")
                    if key not in present:
                        raw.append((key, value.encode("latin-1")))
                message["headers"] = raw
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _preflight(
        self,
        origin: str,
        allowed: bool,
        headers: dict[str, str],
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        """Answer a CORS preflight: 204 with echoed origin if allow-listed, else 403."""
        if not allowed:
            error = ApiError(
                403,
                "cors_forbidden",
                f"origin {origin!r} is not allowed to call this bridge",
                f"restart the bridge with --allow-origin {origin}",
            )
            await error.response({"X-Bridge-Api": str(API_VERSION)})(scope, receive, send)
            return
        response_headers = {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": ALLOWED_METHODS,
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Max-Age": "600",
            "Vary": "Origin",
            "X-Bridge-Api": str(API_VERSION),
        }
        if headers.get("access-control-request-private-network", "").lower() == "true":
            response_headers["Access-Control-Allow-Private-Network"] = "true"
        await Response(status_code=204, headers=response_headers)(scope, receive, send)
