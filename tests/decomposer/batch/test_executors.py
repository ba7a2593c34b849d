"""The threads executor and the executor registry."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from decomposer.batch.executors import EXECUTORS, ExecutorSettings, create_executor
from decomposer.batch.jobs import DONE, INTERRUPTED, Job, ModelSpec, RunOptions
from decomposer.errors import InvalidOptionError, ModelLoadError
from decomposer.options import DecomposeOptions


def test_every_ticket_comes_back_once_and_interrupt_stops_the_rest(
    tmp_path: Path, art: Callable[..., Path]
) -> None:
    how = DecomposeOptions(layers=2, ordering="median")  # the ordering that runs the network
    options = RunOptions(decompose=how, model=ModelSpec("random:tiny"))
    executor = create_executor("threads", ExecutorSettings(workers=2))
    assert executor.capacity() == 2
    description = executor.start(options)
    assert description.startswith("model random:tiny loaded in")
    assert description.endswith("2 threads")
    try:
        for ticket in range(2):
            source = art(tmp_path / f"{ticket}.png", ticket, size=(200, 150))
            executor.submit(ticket, Job(source, tmp_path / f"{ticket}.psd"))
        back: dict[int, str] = {}
        deadline = time.monotonic() + 120
        while len(back) < 2 and time.monotonic() < deadline:
            back.update((t, r.status) for t, r in executor.wait(0.1))
        assert back == {0: DONE, 1: DONE}
        assert executor.wait(0.01) == []
        executor.interrupt()
        executor.submit(7, Job(art(tmp_path / "late.png", 7), tmp_path / "late.psd"))
        ((ticket, result),) = executor.wait(30)
        assert (ticket, result.status) == (7, INTERRUPTED)
    finally:
        executor.close()
        executor.close()  # idempotent


def test_ray_workers_ask_for_a_gpu_each_when_the_device_is_cuda() -> None:
    from decomposer.batch.executors.ray_cluster import worker_resources

    assert worker_resources(None) == ({"num_cpus": 1}, None)
    assert worker_resources("cpu") == ({"num_cpus": 1}, "cpu")
    assert worker_resources("cuda:3") == ({"num_cpus": 1, "num_gpus": 1}, "cuda")


def test_registry_names_and_errors() -> None:
    assert set(EXECUTORS) == {"threads", "ray"}
    with pytest.raises(InvalidOptionError, match="unknown executor 'dask'"):
        create_executor("dask")
    median = DecomposeOptions(ordering="median")  # the ordering that loads the network
    with pytest.raises(ModelLoadError):
        create_executor("threads").start(
            RunOptions(decompose=median, model=ModelSpec("/no/such/model"))
        )
    # the default ordering never loads it
    executor = create_executor("threads")
    try:
        described = executor.start(RunOptions(model=ModelSpec("/no/such/model")))
        assert described.startswith("no network needed (--ordering graph)")
    finally:
        executor.close()
