"""Size limits on a real bridge: the pixel limit end to end, decompression bombs, streamed uploads
and the cap on pending upload bytes."""

from __future__ import annotations

import io
import json
import socket
import struct
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

from plugin_bridge.client import BridgeError
from plugin_bridge.server import RunningBridge

MIB = 1024 * 1024


def flat_grey_png(width: int, height: int, rows_per_block: int = 1000) -> bytes:
    """A valid, fully decodable all-black 8-bit grey PNG of any size, made in ~1 s even for
    30000x30000 (a real decompression bomb: 0.9 MB that decodes to 900 MB).

    One block of rows is deflated once and repeated: a full flush makes each copy independent.
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    row = bytes(width + 1)  # filter byte 0 + black pixels
    block_rows = min(rows_per_block, height)
    block = row * block_rows
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    segment = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    copies, rest = divmod(height, block_rows)
    adler = 1
    for _ in range(copies):
        adler = zlib.adler32(block, adler)
    adler = zlib.adler32(row * rest, adler)
    last = zlib.compressobj(9, zlib.DEFLATED, -15)
    tail = last.compress(row * rest) + last.flush(zlib.Z_FINISH)
    stream = b"\x78\xda" + segment * copies + tail + struct.pack(">I", adler)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", stream) + chunk(b"IEND", b"")
    )


def stored_png(width: int, height: int) -> bytes:
    """An uncompressed (stored) flat-colour RGB PNG: about 3 * width * height bytes."""
    image = Image.new("RGB", (width, height), (210, 225, 240))
    ImageDraw.Draw(image).rectangle((width // 4, height // 4, width // 2, height // 2), (200, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=0)
    return buffer.getvalue()


def test_bomb_fixture_is_a_real_png() -> None:
    for width, height in ((300, 300), (301, 2999), (5, 1)):
        with Image.open(io.BytesIO(flat_grey_png(width, height, rows_per_block=7))) as image:
            image.load()
            assert image.size == (width, height) and image.getextrema() == (0, 0)


def post(
    bridge: RunningBridge, body: bytes, query: str = "layers=2", timeout: float = 120
) -> tuple[int, dict[str, str], dict[str, Any]]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", bridge.port, timeout=timeout)
    try:
        conn.request(
            "POST",
            f"/v1/jobs?{query}",
            body=body,
            headers={"Authorization": f"Bearer {bridge.token}"},
        )
        response = conn.getresponse()
        return (
            response.status,
            {k.lower(): v for k, v in response.getheaders()},
            json.loads(response.read()),
        )
    finally:
        conn.close()


# defect 6: decompression bombs ------------------------------------------------------------------


@pytest.fixture(scope="module")
def bomb_30000() -> bytes:
    return flat_grey_png(30_000, 30_000)


def test_decompression_bomb_is_413_from_its_header(bridge: RunningBridge, bomb_30000) -> None:
    assert len(bomb_30000) < MIB
    status, _, error = post(bridge, bomb_30000)
    assert (status, error["code"]) == (413, "too_large")
    assert error["message"] == (
        "image is 30000x30000 = 900000000 pixels, over the limit of 100000000"
    )
    assert error["limit"] == {"pixels": 100_000_000}
    assert "--max-pixels" in error["hint"] and "downscale" in error["hint"]
    assert bridge.client().health()["ready"] is True


def test_decompression_bomb_over_a_raised_limit_is_413_with_that_limit(
    start_bridge: Any, bomb_30000
) -> None:
    bridge = start_bridge(max_pixels=150_000_000)
    status, _, error = post(bridge, bomb_30000)
    assert (status, error["code"], error["limit"]) == (413, "too_large", {"pixels": 150_000_000})
    assert "900000000 pixels, over the limit of 150000000" in error["message"]


# defect 2: --max-pixels above 100 M works end to end --------------------------------------------


def test_image_over_100m_pixels_finishes_under_a_raised_limit(start_bridge: Any) -> None:
    """10001 x 10000 = 100,010,000 pixels with --max-pixels 150000000: upload validation, the
    job (decode, prediction, layers) and the downloads all honour the one limit."""
    bridge = start_bridge(max_pixels=150_000_000, max_body_bytes=64 * MIB)
    image = Image.new("RGB", (10_001, 10_000), (200, 220, 240))
    draw = ImageDraw.Draw(image)
    draw.rectangle((1000, 1000, 6000, 7000), fill=(200, 30, 30))
    draw.ellipse((4000, 3000, 9000, 9000), fill=(30, 120, 30))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1)
    del image, draw
    client = bridge.client(timeout_s=600)
    job = client.submit(buffer.getvalue(), layers=3)
    del buffer
    final = client.wait(job.id, timeout_s=1200)
    assert final["state"] == "finished", final["error"]
    assert final["image"] == {"width": 10_001, "height": 10_000}
    manifest = client.result(job.id)
    assert manifest["canvas"] == {"width": 10_001, "height": 10_000}
    assert manifest["layer_count"] == 3
    for entry in manifest["layers"]:
        png = client.layer_png(job.id, entry["i"])
        assert png[12:16] == b"IHDR" and list(struct.unpack(">II", png[16:24])) == entry["size"]
    # and over that raised limit, still refused from the header
    status, _, error = post(bridge, flat_grey_png(12_500, 12_001))
    assert (status, error["limit"]) == (413, {"pixels": 150_000_000})


# defect 4: streamed uploads, capped pending bytes -----------------------------------------------


def start_upload(bridge: RunningBridge, body: bytes, sent: int) -> socket.socket:
    """Open a raw upload that declares the whole `body` but sends only its first `sent` bytes."""
    sock = socket.create_connection(("127.0.0.1", bridge.port), timeout=60)
    head = (
        f"POST /v1/jobs?layers=2 HTTP/1.1\r\nHost: 127.0.0.1:{bridge.port}\r\n"
        f"Authorization: Bearer {bridge.token}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    sock.sendall(head.encode("ascii") + body[:sent])
    return sock


def finish_upload(sock: socket.socket, body: bytes, sent: int) -> tuple[int, dict[str, Any]]:
    """Send the rest of an upload begun by `start_upload`; returns (status, JSON reply)."""
    sock.sendall(body[sent:])
    reply = b""
    while b"\r\n\r\n" not in reply:
        reply += sock.recv(65536)
    head, _, rest = reply.partition(b"\r\n\r\n")
    length = int(
        next(
            line.split(b":")[1]
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
    )
    while len(rest) < length:
        rest += sock.recv(65536)
    sock.close()
    return int(head.split()[1]), json.loads(rest[:length])


def upload_files(workdir: Path) -> list[Path]:
    return sorted((workdir / "uploads").glob("*/upload"))


def test_uploads_are_streamed_to_the_work_folder_while_they_arrive(start_bridge: Any) -> None:
    bridge = start_bridge(max_body_bytes=16 * MIB)
    body = stored_png(1200, 1000)  # 3.6 MB
    half = len(body) // 2
    sock = start_upload(bridge, body, half)
    deadline = time.monotonic() + 30
    while not any(f.stat().st_size >= MIB for f in upload_files(bridge.workdir)):
        assert time.monotonic() < deadline, "the first half never reached the disk"
        time.sleep(0.05)
    status, reply = finish_upload(sock, body, half)
    assert status == 202, reply
    assert bridge.client().wait(reply["id"], timeout_s=300)["state"] == "finished"


def test_pending_upload_bytes_are_capped_with_a_clear_503(start_bridge: Any) -> None:
    bridge = start_bridge(max_body_bytes=4 * MIB, max_pending_bytes=5 * MIB)
    health = bridge.client().health()
    assert health["limits"]["max_pending_bytes"] == 5 * MIB
    first = stored_png(1000, 1000)  # 3 MB each
    second = stored_png(1000, 999)
    sock = start_upload(bridge, first, 1000)  # 3 MB declared and counted, almost nothing sent

    status, headers, error = post(bridge, second)
    assert (status, error["code"]) == (503, "queue_full")
    assert error["limit"] == {"pending_bytes": 5 * MIB}
    assert "bytes of uploads are already waiting" in error["message"] and error["hint"]
    assert headers["retry-after"] == "5"

    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", bridge.port, timeout=60)
    chunks = iter([second[k : k + 256 * 1024] for k in range(0, len(second), 256 * 1024)])
    conn.request(
        "POST",
        "/v1/jobs",
        body=chunks,
        headers={"Authorization": f"Bearer {bridge.token}"},
        encode_chunked=True,
    )
    response = conn.getresponse()
    assert response.status == 503 and json.loads(response.read())["code"] == "queue_full"
    conn.close()

    status, reply = finish_upload(sock, first, 1000)
    assert status == 202, reply
    deadline = time.monotonic() + 120
    while True:  # once the first job has left the queue, its bytes are no longer pending
        try:
            second_job = bridge.client().submit(second, layers=2)
            break
        except BridgeError as error:
            assert error.code == "queue_full" and time.monotonic() < deadline
            time.sleep(0.2)
    for job_id in (reply["id"], second_job.id):
        assert bridge.client().wait(job_id, timeout_s=300)["state"] == "finished"
    assert bridge.manager.pending_bytes == 0
    assert upload_files(bridge.workdir) == []
