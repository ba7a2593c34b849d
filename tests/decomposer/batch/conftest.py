"""Fixtures for the batch tests: small flat-colour illustrations, and one real Ray cluster
(a head node with 2 CPUs and a second node with 1 CPU, on 127.0.0.1) shared by the session."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[3]


def draw_art(path: Path, seed: int, size: tuple[int, int] = (80, 60)) -> Path:
    """A flat-colour illustration (random rectangles, distinct per seed) saved at `path`."""
    rng = np.random.default_rng(seed)
    w, h = size
    pixels = np.zeros((h, w, 3), np.uint8)
    pixels[...] = rng.integers(0, 256, 3)
    for _ in range(6):
        x0, y0 = rng.integers(0, w - 8), rng.integers(0, h - 8)
        x1, y1 = x0 + rng.integers(6, w // 2), y0 + rng.integers(6, h // 2)
        pixels[y0:y1, x0:x1] = rng.integers(0, 256, 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture
def art() -> Callable[..., Path]:
    """`art(path, seed, size=(80, 60))`: write a flat-colour illustration, return its path."""
    return draw_art


@dataclass(frozen=True)
class RayCluster:
    """A running test cluster: `address` to join, `env` for driver processes."""

    address: str
    env: dict[str, str]


# Drivers and nodes of the test cluster talk over loopback only (Ray's single-machine switch),
# send no usage statistics, and import this checkout.
RAY_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "PYTHONPATH": str(ROOT),
}


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    """A real two-node Ray cluster on 127.0.0.1 (3 CPUs), shut down after the session."""
    previous = {name: os.environ.get(name) for name in RAY_ENV}
    os.environ.update(RAY_ENV)  # read when ray is imported, by this process and the nodes
    cluster_utils = pytest.importorskip("ray.cluster_utils")
    small = {"object_store_memory": 80 * 1024**2}
    cluster = cluster_utils.Cluster(
        initialize_head=True,
        connect=False,
        head_node_args={"num_cpus": 2, "include_dashboard": False, **small},
    )
    try:
        cluster.add_node(num_cpus=1, **small)
        cluster.wait_for_nodes()
        yield RayCluster(cluster.address, {**os.environ, **RAY_ENV})
    finally:
        cluster.shutdown()
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
