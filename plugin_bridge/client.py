"""Python client for the decompose bridge (API v1, see PROTOCOL.md). Standard library only.

Made to run inside editors' bundled Pythons (Krita, GIMP 3): it imports nothing outside the
stdlib and may be copied next to a plugin as a single file. Calls block; run them off the UI
thread.

    client = BridgeClient("http://127.0.0.1:47863", token=read_token(path))
    job = client.submit(Path("art.png").read_bytes(), layers=6)
    client.wait(job.id, on_event=print)
    manifest = client.result(job.id)
    psd_bytes = client.psd(job.id)
"""

from __future__ import annotations

import http.client
import json
import os
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

API_VERSION = 1
DEFAULT_URL = "http://127.0.0.1:47863"
TERMINAL_STATES = ("finished", "failed", "cancelled")
USER_AGENT = f"illustrators-depth-client/1 (api={API_VERSION})"


class BridgeError(Exception):
    """The bridge answered with an error: HTTP status, `code`, one-line `message`, `hint`."""

    def __init__(
        self, status: int, code: str, message: str, hint: str = "", body: dict | None = None
    ) -> None:
        super().__init__(f"{message} ({hint})" if hint else message)
        self.status = status
        self.code = code
        self.message = message
        self.hint = hint
        self.body = body or {}


class BridgeConnectionError(BridgeError):
    """The bridge could not be reached (not running, wrong port, connection dropped)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(
            0,
            "not_running",
            f"cannot reach the bridge at {url}: {reason}",
            "start it with `decompose-bridge` and check the port",
        )


@dataclass(frozen=True)
class Submitted:
    """Reply to a submit: job id, its place in the queue (0 = next), and whether it is new."""

    id: str
    queue_position: int
    created: bool


@dataclass(frozen=True)
class BridgeEvent:
    """One Server-Sent Event: `type` (queued, started, stage, progress, finished, failed,
    cancelled, heartbeat), `data` (decoded JSON) and `seq` (0 when the event had no id)."""

    type: str
    data: dict[str, Any]
    seq: int


def read_token(path: str | os.PathLike[str]) -> str:
    """The token stored in a bridge token file (surrounding whitespace removed)."""
    return Path(path).expanduser().read_text(encoding="ascii").strip()


class BridgeClient:
    """Blocking client for one bridge. `timeout_s` applies to each request (not to waits)."""

    def __init__(
        self, url: str = DEFAULT_URL, token: str | None = None, *, timeout_s: float = 60.0
    ) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s
        self._formats: list[dict[str, str]] | None = None
        # Loopback traffic must never go through an HTTP proxy from the environment.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    # low level ---------------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> Any:
        """Open a request; returns the open response. Errors become BridgeError."""
        all_headers = {"X-Bridge-Api": str(API_VERSION), "User-Agent": USER_AGENT}
        if self.token:
            all_headers["Authorization"] = f"Bearer {self.token}"
        if body is not None:
            all_headers["Content-Type"] = "application/octet-stream"
        all_headers.update(headers or {})
        request = urllib.request.Request(
            self.url + path, data=body, headers=all_headers, method=method
        )
        try:
            return self._opener.open(request, timeout=timeout_s or self.timeout_s)
        except urllib.error.HTTPError as exc:
            raise _error_from_response(exc.code, exc.read()) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            raise BridgeConnectionError(self.url, str(reason) or type(exc).__name__) from None

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        with self._request(method, path, **kwargs) as response:
            return json.loads(response.read())

    def _bytes(self, path: str) -> bytes:
        with self._request("GET", path) as response:
            return response.read()

    # API ---------------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """GET /v1/health: version, api range, ready, model, device, queue, limits."""
        return self._json("GET", "/v1/health")

    def submit(
        self,
        image: bytes | str | os.PathLike[str],
        *,
        layers: int | str = 6,
        complete: str | None = None,
        idempotency_key: str | None = None,
    ) -> Submitted:
        """Upload an image (file bytes or a path) and queue a decomposition."""
        data = image if isinstance(image, bytes) else Path(image).read_bytes()
        query = {"layers": str(layers)}
        if complete is not None:
            query["complete"] = complete
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        with self._request(
            "POST", f"/v1/jobs?{urllib.parse.urlencode(query)}", body=data, headers=headers
        ) as response:
            reply = json.loads(response.read())
            return Submitted(
                id=reply["id"],
                queue_position=int(reply["queue_position"]),
                created=response.status == 202,
            )

    def status(self, job_id: str) -> dict[str, Any]:
        """GET /v1/jobs/{id}: state, stage, progress, queue_position, error, ..."""
        return self._json("GET", f"/v1/jobs/{_quote(job_id)}")

    def cancel(self, job_id: str) -> dict[str, Any]:
        """DELETE /v1/jobs/{id}; returns the status after the cancel request."""
        return self._json("DELETE", f"/v1/jobs/{_quote(job_id)}")

    def events(
        self, job_id: str, *, after: int = 0, timeout_s: float = 60.0
    ) -> Iterator[BridgeEvent]:
        """Stream a job's events (SSE) until the server closes the stream after a terminal one.

        `timeout_s` bounds the wait for any single event (heartbeats arrive every ~10 s).
        Closing the iterator early closes the connection; the job is not affected.
        """
        headers = {"Accept": "text/event-stream"}
        if after:
            headers["Last-Event-ID"] = str(after)
        response = self._request(
            "GET", f"/v1/jobs/{_quote(job_id)}/events", headers=headers, timeout_s=timeout_s
        )
        try:
            yield from _parse_sse(response)
        finally:
            response.close()

    def wait(
        self,
        job_id: str,
        *,
        timeout_s: float | None = None,
        on_event: Callable[[BridgeEvent], None] | None = None,
        use_events: bool = True,
        poll_interval_s: float = 0.5,
        unreachable_s: float = 60.0,
    ) -> dict[str, Any]:
        """Block until the job is finished, failed or cancelled; returns its final status.

        Follows the event stream or, with `use_events=False`, polls the status every
        `poll_interval_s`. Dropped connections, an unreachable bridge and `503` replies are
        retried (the stream resumes after the last event id, so `on_event` sees every event once),
        with a growing pause up to 5 s, until `timeout_s` (TimeoutError) or, without a timeout,
        until the bridge has been unreachable for `unreachable_s` (BridgeConnectionError).
        Other errors (e.g. `404 unknown_job` after a bridge restart) are raised at once.
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        last_seq = 0
        failing_since: float | None = None
        pause = poll_interval_s
        while True:
            try:
                if use_events:
                    for event in self.events(job_id, after=last_seq):
                        if event.seq and event.seq <= last_seq:
                            continue
                        last_seq = max(last_seq, event.seq)
                        if on_event is not None:
                            on_event(event)
                        if event.type in TERMINAL_STATES:
                            break
                        if deadline is not None and time.monotonic() > deadline:
                            break
                status = self.status(job_id)
            except (BridgeError, OSError, http.client.HTTPException, ValueError) as exc:
                if isinstance(exc, BridgeError) and not _retryable(exc):
                    raise
                now = time.monotonic()
                failing_since = now if failing_since is None else failing_since
                if deadline is not None and now > deadline:
                    raise TimeoutError(
                        f"job {job_id}: the bridge did not answer for {now - failing_since:.0f} s "
                        f"before the timeout of {timeout_s} s ({exc})"
                    ) from exc
                if deadline is None and now - failing_since > unreachable_s:
                    raise
                time.sleep(pause if deadline is None else max(0.0, min(pause, deadline - now)))
                pause = min(pause * 2, 5.0)
                continue
            failing_since, pause = None, poll_interval_s
            if status["state"] in TERMINAL_STATES:
                return status
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {status['state']} after {timeout_s} s")
            if not use_events:
                remaining = poll_interval_s if deadline is None else deadline - time.monotonic()
                time.sleep(max(0.0, min(poll_interval_s, remaining)))

    def result(self, job_id: str) -> dict[str, Any]:
        """GET /v1/jobs/{id}/result: the manifest (canvas, layers bottom -> top)."""
        return self._json("GET", f"/v1/jobs/{_quote(job_id)}/result")

    def layer_png(self, job_id: str, i: int) -> bytes:
        """PNG bytes of layer `i` (0 = bottom), cropped to its bbox; place it at its offset."""
        return self._bytes(f"/v1/jobs/{_quote(job_id)}/layers/{int(i)}.png")

    def index_map_png(self, job_id: str) -> bytes:
        """Grayscale preview PNG of the predicted index map (white = front)."""
        return self._bytes(f"/v1/jobs/{_quote(job_id)}/index_map.png")

    def formats(self) -> list[dict[str, str]]:
        """The document formats the bridge serves (`format`, `title`, `suffix`, `media_type`,
        `description`), from its health reply; asked once per client."""
        if self._formats is None:
            self._formats = list(self.health().get("formats", []))
        return self._formats

    def document(self, job_id: str, format: str) -> bytes:
        """The whole layered document in `format` (a name from `formats()`, e.g. "psd")."""
        for entry in self.formats():
            if entry["format"] == format:
                return self._bytes(f"/v1/jobs/{_quote(job_id)}/result{entry['suffix']}")
        names = ", ".join(entry["format"] for entry in self.formats())
        raise ValueError(f"the bridge serves no {format!r} documents (it serves {names})")

    def psd(self, job_id: str) -> bytes:
        """The layered PSD file."""
        return self.document(job_id, "psd")

    def ora(self, job_id: str) -> bytes:
        """The layered OpenRaster file."""
        return self.document(job_id, "ora")

    def svg(self, job_id: str) -> bytes:
        """The layered SVG file (one Inkscape layer group per layer)."""
        return self.document(job_id, "svg")

    def download(self, job_id: str, path: str | os.PathLike[str]) -> Path:
        """Save the result in the format its suffix names (.psd, .ora, .svg, ...) atomically;
        returns the path. The suffixes are the ones the bridge lists in `formats()`."""
        target = Path(path)
        suffix = target.suffix.lower()
        by_suffix = {entry["suffix"]: entry["format"] for entry in self.formats()}
        if suffix not in by_suffix:
            choices = " or ".join(sorted(by_suffix))
            raise ValueError(f"{target}: choose a file name ending in {choices}")
        data = self.document(job_id, by_suffix[suffix])
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target


def _retryable(error: BridgeError) -> bool:
    """Errors `wait` retries: the bridge unreachable, or busy (503)."""
    return isinstance(error, BridgeConnectionError) or error.status == 503


def _quote(job_id: str) -> str:
    return urllib.parse.quote(job_id, safe="")


def _error_from_response(status: int, raw: bytes) -> BridgeError:
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict) or "code" not in body:
        text = raw.decode("utf-8", "replace").strip().splitlines()
        return BridgeError(status, "http_error", f"HTTP {status}: {text[0] if text else ''}")
    return BridgeError(
        status, str(body["code"]), str(body.get("message", "")), str(body.get("hint", "")), body
    )


def _parse_sse(stream: Any) -> Iterator[BridgeEvent]:
    """Decode a text/event-stream into events (only the fields the bridge uses)."""
    kind, data_lines, seq = "message", [], 0
    for raw in stream:
        line = raw.decode("utf-8").rstrip("\r\n")
        if not line:
            if data_lines:
                yield BridgeEvent(kind, json.loads("\n".join(data_lines)), seq)
            kind, data_lines, seq = "message", [], 0
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            kind = value
        elif field == "data":
            data_lines.append(value)
        elif field == "id" and value.isdigit():
            seq = int(value)
