"""Every number a client sends is parsed strictly: property-based tests (hypothesis) against the
real bridge on 127.0.0.1, over each numeric query parameter, header and path segment.

For any text, the server answers what the protocol says (never 500, never a traceback): valid
values work, malformed ones get `400 bad_parameter` with the usual JSON body. "Valid" means ASCII
digits only, with a bounded number of them (Python's `int()` accepts "١", "²" via isdigit,
"+1", "1_0", " 1", and refuses strings over 4300 digits: none of that may leak through).
"""

from __future__ import annotations

import http.client
import json
import re
import urllib.parse
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from plugin_bridge.server import RunningBridge

SETTINGS = settings(
    max_examples=60,
    database=None,  # no .hypothesis/ folder in the checkout
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
TRICKY = [
    "",
    "0",
    "1",
    "2",
    "6",
    "64",
    "65",
    "007",
    "+1",
    "-1",
    " 1",
    "1 ",
    "1_0",
    "0x1",
    "1e3",
    "1.0",
    "\u00b2",  # superscript two: str.isdigit() is True, int() refuses
    "\u0663",  # Arabic-Indic three: int() accepts it
    "\uff11",  # fullwidth one
    "\u0661\u0662",
    "auto",
    "AUTO",
    "Auto ",
    "\u212aauto",
    "9" * 4301,
    "1" * 5000,
    "%",
    "%%32",
    "1/2",
    "nan",
]

numbers_as_text = st.one_of(
    st.sampled_from(TRICKY),
    st.integers(min_value=0, max_value=10**30).map(str),
    st.builds(lambda digit, n: digit * n, st.sampled_from("0123456789"), st.integers(4000, 6000)),
    st.text(alphabet="0123456789", min_size=10, max_size=6000),
    st.text(alphabet=st.characters(categories=("Nd", "No")), min_size=1, max_size=6),
    st.text(max_size=12),
    st.text(alphabet="0123456789 +-_.xe", max_size=25),
)

ASCII_DIGITS = re.compile(r"[0-9]+")


def ascii_number(text: str, max_digits: int) -> int | None:
    """The oracle: the value of 1..max_digits ASCII digits, else None."""
    if 0 < len(text) <= max_digits and ASCII_DIGITS.fullmatch(text):
        return int(text)
    return None


def header_bytes(text: str) -> bytes | None:
    """`text` as an HTTP header value (UTF-8), or None if HTTP cannot carry it."""
    raw = text.encode("utf-8")
    if any((b < 0x20 and b != 0x09) or b == 0x7F for b in raw):
        return None
    return raw


def as_server_sees(raw: bytes) -> str:
    """What the server reads for a header sent as `raw`: surrounding spaces/tabs dropped,
    bytes decoded as latin-1 (as Starlette does)."""
    return raw.strip(b" \t").decode("latin-1")


def send(
    bridge: RunningBridge,
    method: str,
    target: str,
    *,
    headers: dict[str, bytes] | None = None,
    body: bytes | None = None,
    host: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", bridge.port, timeout=60)
    try:
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host or f"127.0.0.1:{bridge.port}".encode("ascii"))
        conn.putheader("Authorization", f"Bearer {bridge.token}")
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def assert_json_error(status: int, body: bytes, code: str, name: str | None = None) -> None:
    error = json.loads(body)
    assert error["code"] == code, (status, error)
    assert isinstance(error["message"], str) and isinstance(error["hint"], str)
    assert "\n" not in error["message"] and len(error["message"]) < 200
    if name is not None:
        assert name in error["message"]


@pytest.fixture(scope="module")
def finished_job(bridge: RunningBridge, illustration_png: Any) -> tuple[str, int]:
    """(id, layer count) of a finished job on the shared bridge."""
    client = bridge.client()
    job = client.submit(illustration_png(40, 30, seed=400), layers=3)
    assert client.wait(job.id, timeout_s=120)["state"] == "finished"
    return job.id, client.result(job.id)["layer_count"]


@pytest.fixture(scope="module")
def tiny_png(illustration_png: Any) -> bytes:
    return illustration_png(12, 10, seed=401)


@SETTINGS
@given(value=numbers_as_text)
@example(value="5")
@example(value="auto")
def test_layers_query_parameter(bridge: RunningBridge, tiny_png: bytes, value: str) -> None:
    number = ascii_number(value, 4)
    valid = (value.isascii() and value.lower() == "auto") or (
        number is not None and 1 <= number <= 64
    )
    query = urllib.parse.urlencode({"layers": value}, quote_via=urllib.parse.quote)
    key = f"layers-{number if number is not None else 'auto'}".encode()  # repeats: same job
    status, _, body = send(
        bridge, "POST", f"/v1/jobs?{query}", body=tiny_png, headers={"Idempotency-Key": key}
    )
    if valid:
        assert status in (200, 202), body
        job_id = json.loads(body)["id"]
        send(bridge, "DELETE", f"/v1/jobs/{job_id}")
    else:
        assert status == 400
        assert_json_error(status, body, "bad_parameter", "layers")


@SETTINGS
@given(value=numbers_as_text)
@example(value="3")
def test_after_query_parameter(
    bridge: RunningBridge, finished_job: tuple[str, int], value: str
) -> None:
    job_id, _ = finished_job
    query = urllib.parse.urlencode({"after": value}, quote_via=urllib.parse.quote)
    status, _, body = send(bridge, "GET", f"/v1/jobs/{job_id}/events?{query}")
    number = ascii_number(value, 18)
    if number is not None:
        assert status == 200
        ids = [int(line[4:]) for line in body.decode().splitlines() if line.startswith("id: ")]
        assert all(seq > number for seq in ids) and b"event: finished" in body or ids == []
    else:
        assert status == 400
        assert_json_error(status, body, "bad_parameter", "after")


@SETTINGS
@given(value=numbers_as_text)
@example(value="2")
@example(value="")
def test_last_event_id_header(
    bridge: RunningBridge, finished_job: tuple[str, int], value: str
) -> None:
    raw = header_bytes(value)
    if raw is None:
        return
    job_id, _ = finished_job
    status, _, body = send(
        bridge, "GET", f"/v1/jobs/{job_id}/events", headers={"Last-Event-ID": raw}
    )
    seen = as_server_sees(raw)
    if seen == "" or ascii_number(seen, 18) is not None:
        assert status == 200
    else:
        assert status == 400
        assert_json_error(status, body, "bad_parameter", "Last-Event-ID")


@SETTINGS
@given(value=numbers_as_text)
@example(value="1")
@example(value="2")
def test_bridge_api_version_header(
    bridge: RunningBridge, finished_job: tuple[str, int], value: str
) -> None:
    raw = header_bytes(value)
    if raw is None:
        return
    job_id, _ = finished_job
    status, _, body = send(bridge, "GET", f"/v1/jobs/{job_id}", headers={"X-Bridge-Api": raw})
    number = ascii_number(as_server_sees(raw), 9)
    if number == 1:
        assert status == 200
    elif number is not None:
        assert status == 426
        assert_json_error(status, body, "incompatible_version")
    else:
        assert status == 400
        assert_json_error(status, body, "bad_parameter", "X-Bridge-Api")
    # health never checks the version, so a client can always find out what the server speaks
    status, _, _ = send(bridge, "GET", "/v1/health", headers={"X-Bridge-Api": raw})
    assert status == 200


@SETTINGS
@given(value=numbers_as_text)
@example(value="0")
@example(value="99")
def test_layer_number_in_the_path(
    bridge: RunningBridge, finished_job: tuple[str, int], value: str
) -> None:
    job_id, count = finished_job
    segment = urllib.parse.quote(value, safe="")
    status, headers, body = send(bridge, "GET", f"/v1/jobs/{job_id}/layers/{segment}.png")
    number = ascii_number(value, 6)
    if "/" in value or value == "":
        assert status == 404
        assert_json_error(status, body, "not_found")
    elif number is not None and number < count:
        assert status == 200 and headers["content-type"] == "image/png"
    elif number is not None:
        assert status == 404
        assert_json_error(status, body, "unknown_layer")
    else:
        assert status == 400
        assert_json_error(status, body, "bad_parameter", "layer number")


@SETTINGS
@given(value=numbers_as_text)
def test_port_in_the_host_header(bridge: RunningBridge, value: str) -> None:
    raw = header_bytes(value)
    if raw is None:
        return
    host = b"127.0.0.1:" + raw
    status, _, body = send(bridge, "GET", "/v1/health", host=host)
    seen = as_server_sees(host).lower()
    if ascii_number(seen.partition(":")[2], 5) == bridge.port:
        assert status == 200
    else:
        assert status == 403
        assert_json_error(status, body, "forbidden_host")


range_values = st.one_of(
    numbers_as_text.map(lambda v: f"bytes={v}-"),
    numbers_as_text.map(lambda v: f"bytes=-{v}"),
    st.tuples(numbers_as_text, numbers_as_text).map(lambda p: f"bytes={p[0]}-{p[1]}"),
    numbers_as_text,
)


@SETTINGS
@given(value=range_values)
@example(value="bytes=0-9")
@example(value="bytes=-5")
@example(value="bytes=999999999-")
def test_range_header_on_downloads(
    bridge: RunningBridge, finished_job: tuple[str, int], value: str
) -> None:
    raw = header_bytes(value)
    if raw is None:
        return
    job_id, _ = finished_job
    status, headers, body = send(
        bridge, "GET", f"/v1/jobs/{job_id}/index_map.png", headers={"Range": raw}
    )
    assert status in (206, 400, 416), (status, body[:200])
    if status == 206:
        assert headers["content-range"].startswith("bytes ")
    else:
        assert_json_error(
            status, body, "bad_parameter" if status == 400 else "range_not_satisfiable"
        )


@SETTINGS
@given(value=numbers_as_text)
@example(value="\u00b2")
@example(value="9" * 5000)
def test_content_length_header(bridge: RunningBridge, value: str) -> None:
    """A malformed Content-Length is refused by the HTTP layer, still with the JSON body."""
    raw = header_bytes(value)
    if raw is None or ASCII_DIGITS.fullmatch(as_server_sees(raw)):
        return  # digits are a framing promise (the server waits for that body); others send one
    import socket

    with socket.create_connection(("127.0.0.1", bridge.port), timeout=30) as sock:
        sock.sendall(
            b"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n"
            b"Connection: close\r\nContent-Length: %s\r\n\r\n"
            % (bridge.port, bridge.token.encode(), raw)
        )
        reply = b""
        while True:
            data = sock.recv(65536)
            if not data:
                break
            reply += data
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert_json_error(400, body, "bad_request")
