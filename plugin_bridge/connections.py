"""Connection limits uvicorn lacks: request-head and body timeouts, and a connection cap.

uvicorn's h11 protocol closes idle keep-alive connections (`timeout_keep_alive`) but has no limit
on how long a client may take to send its request head (a "slow-loris" client sending a header
byte every few seconds holds its connection for ever, as does one that connects and sends
nothing), nor on a stalled request body, nor on the number of open connections. `guarded_h11`
makes a subclass of uvicorn's `H11Protocol` (passed as `uvicorn.Config(http=...)`, uvicorn's own
extension point) that adds, per `ConnectionLimits`:

- head timeout: the request line and headers must be complete within `header_timeout_s` of the
  connection opening or of the previous response ending; a client that sent part of a head gets
  `408 request_timeout` (JSON), one that sent nothing is simply closed;
- body timeout: a request body that receives no byte for `body_timeout_s` is cut off (unless the
  server itself paused reading);
- connection cap: above `max_connections`, the connection that has been waiting longest for a
  request head is closed to make room (only if none waits, the new one is refused), so slow or
  idle clients cannot lock real ones (and `/v1/health`) out;
- requests h11 cannot parse (malformed request line, Content-Length, ...) get the bridge's JSON
  error body (`400 bad_request`) instead of uvicorn's plain text.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from plugin_bridge.config import API_VERSION


@dataclass(frozen=True)
class ConnectionLimits:
    """Seconds for a request head, seconds a body may stall, open connections at most."""

    header_timeout_s: float
    body_timeout_s: float
    max_connections: int


def _json_error(code: str, message: str, hint: str) -> bytes:
    return json.dumps({"code": code, "message": message, "hint": hint}).encode("utf-8")


def _timeout_response(seconds: float) -> bytes:
    body = _json_error(
        "request_timeout",
        f"the request headers did not arrive within {seconds:g} s",
        "send the whole request head at once",
    )
    head = (
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        f"x-bridge-api: {API_VERSION}\r\ncontent-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class _GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol plus the limits above (`limits` is set by `guarded_h11`)."""

    limits: ConnectionLimits
    # connections waiting for a request head, oldest first (one dict per server: its class's)
    waiting: dict[_GuardedH11Protocol, None]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._guard_timer: asyncio.TimerHandle | None = None
        self.waiting_head_since: float | None = None  # monotonic time; None while not waiting

    # phases --------------------------------------------------------------------------------

    def _arm(self, delay: float, callback: Any) -> None:
        if self._guard_timer is not None:
            self._guard_timer.cancel()
        self._guard_timer = self.loop.call_later(delay, callback)

    def _disarm(self) -> None:
        if self._guard_timer is not None:
            self._guard_timer.cancel()
            self._guard_timer = None

    def _wait_for_head(self) -> None:
        self.waiting_head_since = time.monotonic()
        self.waiting.pop(self, None)
        self.waiting[self] = None
        self._arm(self.limits.header_timeout_s, self._head_timed_out)

    def _stop_waiting(self) -> None:
        self.waiting_head_since = None
        self.waiting.pop(self, None)

    def _follow_state(self) -> None:
        """After h11 consumed data: keep, move or drop the timer to match the request's phase."""
        if self.transport.is_closing():
            self._disarm()
            return
        state = self.conn.their_state
        if state is h11.IDLE:
            if self.waiting_head_since is None:
                self._wait_for_head()
            return  # the head timer keeps running while bytes trickle in
        self._stop_waiting()
        if state is h11.SEND_BODY:
            self._arm(self.limits.body_timeout_s, self._body_timed_out)
        else:
            self._disarm()

    # timers --------------------------------------------------------------------------------

    def _head_timed_out(self) -> None:
        self._guard_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        self._stop_waiting()
        partial, _ = self.conn.trailing_data
        if partial and self.conn.our_state is h11.IDLE:
            self.transport.write(_timeout_response(self.limits.header_timeout_s))
        self.transport.close()

    def _body_timed_out(self) -> None:
        self._guard_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.SEND_BODY:
            return
        if self.flow is not None and self.flow.read_paused:  # we are the slow side: wait more
            self._arm(self.limits.body_timeout_s, self._body_timed_out)
            return
        self.transport.close()

    # uvicorn protocol hooks ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            oldest = next(iter(self.waiting), None)  # O(1): the dict keeps waiting order
            if oldest is None:
                transport.close()
                return
            oldest._stop_waiting()
            oldest._disarm()
            oldest.transport.close()
        self._wait_for_head()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._follow_state()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._stop_waiting()
        self._follow_state()

    def send_400_response(self, msg: str) -> None:
        """uvicorn's reply to a request h11 cannot parse (e.g. a malformed Content-Length),
        as the bridge's usual JSON error instead of plain text."""
        body = _json_error(
            "bad_request",
            "malformed HTTP request (request line or a header such as Content-Length)",
            "send a well-formed HTTP/1.1 request; see PROTOCOL.md",
        )
        headers = [
            (b"content-type", b"application/json"),
            (b"x-bridge-api", str(API_VERSION).encode("ascii")),
            (b"content-length", str(len(body)).encode("ascii")),
            (b"connection", b"close"),
        ]
        try:
            head = h11.Response(status_code=400, headers=headers, reason=b"Bad Request")
            self.transport.write(self.conn.send(head))
            self.transport.write(self.conn.send(h11.Data(data=body)))
            self.transport.write(self.conn.send(h11.EndOfMessage()))
        except h11.LocalProtocolError:  # h11 cannot send in its current state: just close
            pass
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._stop_waiting()
        super().connection_lost(exc)


def guarded_h11(limits: ConnectionLimits) -> type[H11Protocol]:
    """An `H11Protocol` subclass enforcing `limits`, for `uvicorn.Config(http=...)`."""
    return type("GuardedH11Protocol", (_GuardedH11Protocol,), {"limits": limits, "waiting": {}})


__all__ = ["ConnectionLimits", "guarded_h11"]
