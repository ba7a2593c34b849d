"""The bridge server against real HTTP on 127.0.0.1: access checks, jobs, results, limits."""

from __future__ import annotations

import http.client
import io
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from psd_tools import PSDImage

from decomposer.composite import composite_layers
from decomposer.types import Layer
from plugin_bridge.client import BridgeClient, BridgeError
from plugin_bridge.server import RunningBridge

PHOTOPEA = "https://www.photopea.com"


def raw(
    bridge: RunningBridge,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    token: bool = True,
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request with full control over headers; returns (status, headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", bridge.port, timeout=60)
    all_headers = {"Authorization": f"Bearer {bridge.token}"} if token else {}
    all_headers.update(headers or {})
    try:
        conn.request(method, path, body=body, headers=all_headers)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def rgba_of(png: bytes) -> np.ndarray:
    """Decode PNG bytes to uint8 (H, W, 4)."""
    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("RGBA"))


def run_job(client: BridgeClient, png: bytes, **options: Any) -> tuple[str, dict[str, Any]]:
    """Submit and wait; returns (job id, final status)."""
    job = client.submit(png, **options)
    return job.id, client.wait(job.id, timeout_s=120)


def recomposite_from_bridge(client: BridgeClient, job_id: str) -> np.ndarray:
    """Fetch the manifest and every layer PNG, composite them bottom -> top."""
    manifest = client.result(job_id)
    layers = []
    for entry in manifest["layers"]:
        rgba = rgba_of(client.layer_png(job_id, entry["i"]))
        assert [rgba.shape[1], rgba.shape[0]] == entry["size"]
        layers.append(Layer(entry["name"], rgba, tuple(entry["offset"])))
    canvas = (manifest["canvas"]["width"], manifest["canvas"]["height"])
    return composite_layers(layers, canvas)


# access -----------------------------------------------------------------------------------------


def test_health_is_public_and_describes_the_server(bridge: RunningBridge) -> None:
    status, headers, body = raw(bridge, "GET", "/v1/health", token=False)
    assert status == 200
    health = json.loads(body)
    assert health["api"] == {"version": 1, "min": 1, "max": 1}
    assert health["ready"] is True
    assert health["model"] == "random:tiny"
    assert health["device"] == "cpu"
    assert health["limits"]["max_pixels"] == bridge.config.max_pixels
    assert "nearest" in health["completion"]
    assert headers["x-bridge-api"] == "1"


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-token", "Basic abc", "Bearer ", "bearer"]
)
@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/v1/jobs/0123"), ("POST", "/v1/jobs"), ("DELETE", "/v1/jobs/1")]
)
def test_requests_without_the_right_token_get_401(
    bridge: RunningBridge, authorization: str | None, method: str, path: str
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    status, response_headers, body = raw(
        bridge, method, path, headers=headers, body=b"x", token=False
    )
    assert status == 401
    assert json.loads(body)["code"] == "auth"
    assert response_headers["www-authenticate"] == "Bearer"


def test_token_differing_in_one_character_is_refused(bridge: RunningBridge) -> None:
    almost = bridge.token[:-1] + ("0" if bridge.token[-1] != "0" else "1")
    status, _, _ = raw(
        bridge, "GET", "/v1/jobs/x", headers={"Authorization": f"Bearer {almost}"}, token=False
    )
    assert status == 401


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "evil.example:{port}",
        "127.0.0.1:1",
        "127.0.0.2:{port}",
        "localhost",
        "0.0.0.0:{port}",
    ],
)
def test_foreign_host_header_is_403_even_for_health(bridge: RunningBridge, host: str) -> None:
    status, _, body = raw(
        bridge, "GET", "/v1/health", headers={"Host": host.format(port=bridge.port)}
    )
    assert status == 403
    assert json.loads(body)["code"] == "forbidden_host"


@pytest.mark.parametrize(
    "host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}", "[::1]:{port}"]
)
def test_loopback_host_headers_are_accepted(bridge: RunningBridge, host: str) -> None:
    status, _, _ = raw(bridge, "GET", "/v1/health", headers={"Host": host.format(port=bridge.port)})
    assert status == 200


def preflight(bridge: RunningBridge, origin: str, **extra: str) -> tuple[int, dict[str, str]]:
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, idempotency-key",
        **extra,
    }
    status, response_headers, _ = raw(bridge, "OPTIONS", "/v1/jobs", headers=headers, token=False)
    return status, response_headers


def test_cors_preflight_only_for_allow_listed_origins(start_bridge: Any) -> None:
    bridge = start_bridge(allowed_origins=(PHOTOPEA,))
    status, headers = preflight(
        bridge, PHOTOPEA, **{"Access-Control-Request-Private-Network": "true"}
    )
    assert status == 204
    assert headers["access-control-allow-origin"] == PHOTOPEA
    assert "POST" in headers["access-control-allow-methods"]
    assert "authorization" in headers["access-control-allow-headers"].lower()
    assert headers["access-control-allow-private-network"] == "true"
    assert headers["vary"] == "Origin"
    assert "access-control-allow-credentials" not in headers

    for origin in ("https://evil.example", "https://www.photopea.com.evil.example", "null"):
        status, headers = preflight(bridge, origin)
        assert status == 403
        assert not any(name.startswith("access-control-") for name in headers)


def test_actual_requests_get_cors_headers_only_for_allowed_origins(start_bridge: Any) -> None:
    bridge = start_bridge(allowed_origins=(PHOTOPEA,))
    _, headers, _ = raw(bridge, "GET", "/v1/health", headers={"Origin": PHOTOPEA})
    assert headers["access-control-allow-origin"] == PHOTOPEA
    # a 401 must still be readable by the allowed page, so it can ask for the token
    status, headers, _ = raw(bridge, "GET", "/v1/jobs/x", headers={"Origin": PHOTOPEA}, token=False)
    assert status == 401 and headers["access-control-allow-origin"] == PHOTOPEA
    _, headers, _ = raw(bridge, "GET", "/v1/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in headers


def test_default_server_allows_no_foreign_origin_but_its_own(bridge: RunningBridge) -> None:
    assert preflight(bridge, PHOTOPEA)[0] == 403
    own = f"http://127.0.0.1:{bridge.port}"
    status, headers = preflight(bridge, own)
    assert status == 204 and headers["access-control-allow-origin"] == own


@pytest.mark.parametrize("version", ["2", "0", "0002"])
def test_api_version_mismatch_is_426_with_a_hint(bridge: RunningBridge, version: str) -> None:
    status, _, body = raw(bridge, "GET", "/v1/jobs/x", headers={"X-Bridge-Api": version})
    error = json.loads(body)
    assert status == 426
    assert error["code"] == "incompatible_version"
    assert (error["min"], error["max"]) == (1, 1)
    assert error["hint"]


@pytest.mark.parametrize("version", ["abc", "1.0", "+1", "1_0", "9" * 5000])
def test_malformed_api_version_is_400(bridge: RunningBridge, version: str) -> None:
    status, _, body = raw(bridge, "GET", "/v1/jobs/x", headers={"X-Bridge-Api": version})
    error = json.loads(body)
    assert (status, error["code"]) == (400, "bad_parameter")
    assert "X-Bridge-Api" in error["message"] and len(error["message"]) < 120


def test_matching_api_version_is_accepted(bridge: RunningBridge) -> None:
    status, _, body = raw(bridge, "GET", "/v1/jobs/nope", headers={"X-Bridge-Api": "1"})
    assert status == 404 and json.loads(body)["code"] == "unknown_job"


# jobs -------------------------------------------------------------------------------------------


def test_upload_events_result_layers_and_psd_recomposite_exactly(
    bridge_client: BridgeClient, illustration_png: Any, tmp_path: Path
) -> None:
    png = illustration_png(64, 48, seed=1)
    source = rgba_of(png)
    job = bridge_client.submit(png, layers=4)
    assert job.created and job.queue_position >= 0

    events = list(bridge_client.events(job.id, timeout_s=120))
    kinds = [event.type for event in events]
    assert kinds[0] == "queued" and kinds[-1] == "finished"
    assert "started" in kinds and "stage" in kinds
    assert kinds.index("started") < kinds.index("stage")
    seqs = [event.seq for event in events if event.type != "heartbeat"]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    progress = [e.data["progress"] for e in events if e.type in ("stage", "progress")]
    assert progress == sorted(progress) and all(0 <= p < 1 for p in progress)

    status = bridge_client.status(job.id)
    assert status["state"] == "finished" and status["progress"] == 1.0
    assert status["expires_at"] > status["finished_at"] >= status["started_at"]
    assert status["image"] == {"width": 64, "height": 48}

    manifest = bridge_client.result(job.id)
    assert manifest["canvas"] == {"width": 64, "height": 48}
    assert manifest["layer_count"] == len(manifest["layers"]) >= 1
    assert events[-1].data["layer_count"] == manifest["layer_count"]
    for i, entry in enumerate(manifest["layers"]):
        left, top, right, bottom = entry["bbox"]
        assert entry["i"] == i and [left, top] == entry["offset"]
        assert [right - left, bottom - top] == entry["size"]
        assert 0.0 <= entry["invented_fraction"] <= 1.0
    assert np.array_equal(recomposite_from_bridge(bridge_client, job.id), source)

    psd_path = tmp_path / "result.psd"
    psd_path.write_bytes(bridge_client.psd(job.id))
    psd = PSDImage.open(psd_path)
    pixel_layers = [layer for layer in psd.descendants() if layer.kind == "pixel"]
    psd_layers = [
        Layer(layer.name, np.asarray(layer.topil().convert("RGBA")), (layer.left, layer.top))
        for layer in pixel_layers
        if layer.visible
    ]
    assert np.array_equal(composite_layers(psd_layers, (64, 48)), source)

    index_map = Image.open(io.BytesIO(bridge_client.index_map_png(job.id)))
    assert index_map.mode == "L" and index_map.size == (64, 48)


def test_ora_download_is_an_openraster_zip(
    bridge_client: BridgeClient, illustration_png: Any
) -> None:
    import zipfile

    job_id, status = run_job(bridge_client, illustration_png(40, 30, seed=2), layers=3)
    assert status["state"] == "finished"
    archive = zipfile.ZipFile(io.BytesIO(bridge_client.ora(job_id)))
    assert archive.read("mimetype") == b"image/openraster"
    assert "stack.xml" in archive.namelist()


def test_auto_layer_count_is_accepted(bridge_client: BridgeClient, illustration_png: Any) -> None:
    job_id, status = run_job(bridge_client, illustration_png(48, 32, seed=3), layers="auto")
    assert status["state"] == "finished" and status["params"]["layers"] == "auto"
    assert bridge_client.result(job_id)["layer_count"] >= 1


@pytest.mark.parametrize("query", ["layers=0", "layers=65", "layers=many", "complete=magic"])
def test_bad_parameters_are_400(bridge: RunningBridge, illustration_png: Any, query: str) -> None:
    status, _, body = raw(bridge, "POST", f"/v1/jobs?{query}", body=illustration_png())
    error = json.loads(body)
    assert status == 400 and error["code"] == "bad_parameter"
    assert query.split("=")[0] in error["message"]


@pytest.mark.parametrize(
    "body", [b"this is not an image", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"", b"GIF89a"]
)
def test_corrupt_or_empty_upload_is_400(bridge: RunningBridge, body: bytes) -> None:
    status, _, response = raw(bridge, "POST", "/v1/jobs", body=body)
    error = json.loads(response)
    assert status == 400 and error["code"] == "bad_image"
    assert error["message"] and "\n" not in error["message"]


def test_truncated_png_is_400(bridge: RunningBridge, illustration_png: Any) -> None:
    png = illustration_png(64, 48, seed=4)
    status, _, response = raw(bridge, "POST", "/v1/jobs", body=png[: len(png) // 2])
    assert status == 400 and json.loads(response)["code"] == "bad_image"


def noisy_png(width: int, height: int) -> bytes:
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def test_body_over_the_byte_limit_is_413_with_the_limit(start_bridge: Any) -> None:
    bridge = start_bridge(max_body_bytes=4096)
    body = noisy_png(64, 64)
    assert len(body) > 4096
    status, _, response = raw(bridge, "POST", "/v1/jobs", body=body)
    error = json.loads(response)
    assert status == 413 and error["code"] == "too_large"
    assert error["limit"] == {"bytes": 4096} and "4096" in error["message"]


def test_chunked_body_over_the_byte_limit_is_413(start_bridge: Any) -> None:
    bridge = start_bridge(max_body_bytes=4096)
    conn = http.client.HTTPConnection("127.0.0.1", bridge.port, timeout=30)
    chunks = iter([b"\x00" * 1024] * 8)
    conn.request(
        "POST",
        "/v1/jobs",
        body=chunks,
        headers={"Authorization": f"Bearer {bridge.token}"},
        encode_chunked=True,
    )
    response = conn.getresponse()
    assert response.status == 413
    assert json.loads(response.read())["limit"] == {"bytes": 4096}
    conn.close()


def test_image_over_the_pixel_limit_is_413_with_the_limit(
    start_bridge: Any, illustration_png: Any
) -> None:
    bridge = start_bridge(max_pixels=1000)
    status, _, response = raw(bridge, "POST", "/v1/jobs", body=illustration_png(64, 48))
    error = json.loads(response)
    assert status == 413 and error["limit"] == {"pixels": 1000}
    assert "64x48" in error["message"]


def test_unknown_job_and_layer_are_404(
    bridge: RunningBridge, bridge_client: BridgeClient, illustration_png: Any
) -> None:
    for path in ("/v1/jobs/deadbeef", "/v1/jobs/deadbeef/result", "/v1/jobs/deadbeef/events"):
        status, _, body = raw(bridge, "GET", path)
        assert status == 404 and json.loads(body)["code"] == "unknown_job"
    job_id, _ = run_job(bridge_client, illustration_png(32, 32, seed=5), layers=2)
    count = bridge_client.result(job_id)["layer_count"]
    status, _, body = raw(bridge, "GET", f"/v1/jobs/{job_id}/layers/{count}.png")
    assert status == 404 and json.loads(body)["code"] == "unknown_layer"


def test_idempotency_key_makes_retries_return_the_same_job(
    bridge: RunningBridge, illustration_png: Any
) -> None:
    png = illustration_png(32, 24, seed=6)
    key = {"Idempotency-Key": "retry-test-1"}
    first_status, _, first = raw(bridge, "POST", "/v1/jobs?layers=2", body=png, headers=key)
    again_status, _, again = raw(bridge, "POST", "/v1/jobs?layers=2", body=png, headers=key)
    assert (first_status, again_status) == (202, 200)
    assert json.loads(first)["id"] == json.loads(again)["id"]
    other = illustration_png(32, 24, seed=7)
    status, _, body = raw(bridge, "POST", "/v1/jobs?layers=2", body=other, headers=key)
    assert status == 409 and json.loads(body)["code"] == "idempotency_conflict"
    status, _, body = raw(bridge, "POST", "/v1/jobs?layers=3", body=png, headers=key)
    assert status == 409


def test_cancel_queued_job_drops_it(bridge_client: BridgeClient, illustration_png: Any) -> None:
    jobs = [bridge_client.submit(illustration_png(64, 48, seed=10 + i)) for i in range(4)]
    last = jobs[-1]
    reply = bridge_client.cancel(last.id)
    assert reply["cancel_requested"] is True
    final = bridge_client.wait(last.id, timeout_s=120)
    assert final["state"] == "cancelled"
    kinds = [event.type for event in bridge_client.events(last.id)]
    assert kinds[-1] == "cancelled" and "finished" not in kinds
    with pytest.raises(BridgeError) as error:
        bridge_client.result(last.id)
    assert error.value.status == 409 and error.value.body["state"] == "cancelled"
    # the others still finish, and DELETE on a terminal job changes nothing
    for job in jobs[:-1]:
        assert bridge_client.wait(job.id, timeout_s=120)["state"] == "finished"
    assert bridge_client.cancel(jobs[0].id)["state"] == "finished"


def test_cancel_running_job_stops_it(bridge_client: BridgeClient, illustration_png: Any) -> None:
    outcomes = []
    for attempt in range(5):
        job = bridge_client.submit(illustration_png(400, 300, seed=20 + attempt))
        for event in bridge_client.events(job.id, timeout_s=120):
            if event.type == "started":
                reply = bridge_client.cancel(job.id)
                assert reply["cancel_requested"] is True
                break
        final = bridge_client.wait(job.id, timeout_s=120)
        outcomes.append(final["state"])
        if final["state"] == "cancelled":
            break
    assert "cancelled" in outcomes and set(outcomes) <= {"cancelled", "finished"}
    # the worker survives a cancelled job
    job_id, status = run_job(bridge_client, illustration_png(32, 32, seed=30), layers=2)
    assert status["state"] == "finished"


def test_sixteen_concurrent_clients_all_get_their_own_correct_result(
    bridge: RunningBridge, illustration_png: Any
) -> None:
    n = 16
    images = [illustration_png(48, 40, seed=100 + i) for i in range(n)]

    def one_client(i: int) -> tuple[str, int, list[int], bool]:
        client = bridge.client(timeout_s=120)
        job = client.submit(images[i], layers=3)
        positions = [job.queue_position]
        if i % 2:  # via events: every "queued" event carries the current position
            queued: list[int] = []

            def on_event(event: Any) -> None:
                if event.type == "queued":
                    queued.append(event.data["queue_position"])

            status = client.wait(job.id, timeout_s=300, on_event=on_event)
            assert queued[0] == job.queue_position
            positions.extend(queued[1:])
        else:
            while True:  # via polling, watching the queue position
                status = client.status(job.id)
                if status["queue_position"] is not None:
                    positions.append(status["queue_position"])
                if status["state"] in ("finished", "failed", "cancelled"):
                    break
                time.sleep(0.05)
        assert status["state"] == "finished", status
        exact = np.array_equal(recomposite_from_bridge(client, job.id), rgba_of(images[i]))
        return job.id, job.queue_position, positions, exact

    with ThreadPoolExecutor(max_workers=n) as pool:
        results = list(pool.map(one_client, range(n)))

    ids = [r[0] for r in results]
    assert len(set(ids)) == n
    assert all(r[3] for r in results), "every client recomposites its own upload exactly"
    for _, first, positions, _ in results:
        assert 0 <= first < n
        assert positions == sorted(positions, reverse=True), "queue positions never increase"
    assert max(r[1] for r in results) >= 1, "with 16 simultaneous clients some had to queue"


def test_client_that_disconnects_mid_job_does_not_break_the_server(
    bridge: RunningBridge, bridge_client: BridgeClient, illustration_png: Any
) -> None:
    job = bridge_client.submit(illustration_png(64, 48, seed=40))
    # open the SSE stream with a raw socket, read the first event, then vanish
    sock = socket.create_connection(("127.0.0.1", bridge.port), timeout=30)
    request = (
        f"GET /v1/jobs/{job.id}/events HTTP/1.1\r\nHost: 127.0.0.1:{bridge.port}\r\n"
        f"Authorization: Bearer {bridge.token}\r\n\r\n"
    )
    sock.sendall(request.encode())
    assert b"event: queued" in sock.recv(4096) or b"event: queued" in sock.recv(4096)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()  # RST, not a polite FIN

    # a second client abandons an upload half-way
    half = socket.create_connection(("127.0.0.1", bridge.port), timeout=30)
    half.sendall(
        (
            f"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1:{bridge.port}\r\n"
            f"Authorization: Bearer {bridge.token}\r\nContent-Length: 100000\r\n\r\n"
        ).encode()
        + b"\x89PNG" * 100
    )
    half.close()

    final = bridge_client.wait(job.id, timeout_s=120)
    assert final["state"] == "finished"
    again = list(bridge_client.events(job.id))
    assert again[-1].type == "finished"
    assert bridge_client.health()["ready"] is True
    _, status = run_job(bridge_client, illustration_png(32, 32, seed=41), layers=2)
    assert status["state"] == "finished"


def test_events_resume_after_last_event_id(
    bridge_client: BridgeClient, illustration_png: Any
) -> None:
    job_id, _ = run_job(bridge_client, illustration_png(32, 32, seed=50), layers=2)
    everything = list(bridge_client.events(job_id))
    tail = list(bridge_client.events(job_id, after=everything[1].seq))
    assert [e.seq for e in tail] == [e.seq for e in everything[2:]]


def test_results_expire_after_the_ttl(start_bridge: Any, illustration_png: Any) -> None:
    bridge = start_bridge(result_ttl_s=0.5)
    client = bridge.client()
    job_id, status = run_job(client, illustration_png(32, 32, seed=60), layers=2)
    assert status["state"] == "finished" and status["expires_at"] - status["finished_at"] == 0.5
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            client.status(job_id)
        except BridgeError as error:
            assert error.status == 404 and error.code == "unknown_job"
            break
        time.sleep(0.1)
    else:
        pytest.fail("job was not forgotten after its TTL")


def test_heartbeats_keep_an_idle_stream_alive(start_bridge: Any, illustration_png: Any) -> None:
    bridge = start_bridge(heartbeat_s=0.01)
    client = bridge.client()
    # the worker is busy with the first jobs, so the last one's stream idles while it waits
    ids = [client.submit(illustration_png(200, 150, seed=70 + i)).id for i in range(4)]
    seen = []
    for event in client.events(ids[-1], timeout_s=120):
        seen.append(event)
        if event.type == "heartbeat":
            break
    heartbeat = seen[-1]
    assert heartbeat.type == "heartbeat" and heartbeat.seq == 0
    assert heartbeat.data["id"] == ids[-1] and heartbeat.data["time"] > 0
    for job_id in ids:
        client.cancel(job_id)


def test_static_page_is_served_without_token(start_bridge: Any, tmp_path: Path) -> None:
    static = tmp_path / "static"
    static.mkdir()
    (static / "index.html").write_text("<!doctype html><title>bridge</title>")
    (static / "app.js").write_text("console.log('hi')")
    bridge = start_bridge(static_dir=static)
    status, headers, body = raw(bridge, "GET", "/", token=False)
    assert status == 200 and b"<title>bridge</title>" in body
    assert headers["content-type"].startswith("text/html")
    status, _, _ = raw(bridge, "GET", "/app.js", token=False)
    assert status == 200
    status, _, body = raw(bridge, "GET", "/v1/no-such-endpoint")
    assert status == 404 and json.loads(body)["code"] == "not_found"


def test_server_keeps_serving_status_while_a_job_runs(
    bridge_client: BridgeClient, illustration_png: Any
) -> None:
    job = bridge_client.submit(illustration_png(400, 300, seed=80))
    timings = []
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            start = time.perf_counter()
            bridge_client.health()
            timings.append(time.perf_counter() - start)
            time.sleep(0.01)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        assert bridge_client.wait(job.id, timeout_s=120)["state"] == "finished"
    finally:
        done.set()
        poller.join()
    assert timings and max(timings) < 2.0, "the event loop is never blocked by model work"


def test_full_queue_is_503_and_nothing_is_lost(start_bridge: Any, illustration_png: Any) -> None:
    bridge = start_bridge(max_queued=1)
    client = bridge.client()
    accepted, refused = [], []
    for seed in range(4):
        try:
            accepted.append(client.submit(illustration_png(400, 300, seed=90 + seed)).id)
        except BridgeError as error:
            refused.append(error)
    assert len(accepted) == 2, "one running + one queued"
    assert [(e.status, e.code) for e in refused] == [(503, "queue_full")] * 2
    for job_id in accepted:
        assert client.wait(job_id, timeout_s=120)["state"] == "finished"
