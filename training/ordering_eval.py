"""The pipeline's orderings as evaluation methods (`decompose-eval`).

Every method here runs the real pipeline core (`decomposer.pipeline.decompose_pixels`, regions
and grouping exactly as `decompose` does, completion off since only the visible layers are
scored) and reports two maps: the index map the regions were ordered by (each region's score on
its pixels) and the layers written (`training.evaluate.layer_index_map`).

* constant, luminance, area: the heuristic maps of `training.baselines`, each region ordered by
  its median of the map (ordering "median").
* net-median: the network's index map, each region ordered by its median (the paper's rule).
* graph: the learned orderer on the region graph (the default ordering).
* ceiling: each region ordered by its median true label (what any ordering of these regions
  can reach at best).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from decomposer.options import DecomposeOptions
from decomposer.ordering import ORDERINGS, GroupedMedians
from decomposer.pipeline import decompose_pixels
from decomposer.regions import segment_regions
from training.baselines import area_baseline, constant_baseline, luminance_baseline
from training.evaluate import MethodRun, Predictor, Sample, SampleMethod

IndexSource = Callable[[Sample], np.ndarray]
DEFAULT_EVAL_LAYERS = 16


def opaque(image: np.ndarray) -> np.ndarray:
    """RGB uint8 (H, W, 3) -> RGBA uint8 (H, W, 4) with alpha 255."""
    return np.dstack([image, np.full(image.shape[:2], 255, np.uint8)])


def eval_options(layers: int = DEFAULT_EVAL_LAYERS, **changes: Any) -> DecomposeOptions:
    """The default pipeline options with `layers` layers and completion off."""
    return DecomposeOptions(layers=layers, completion="none").replace(**changes)


def pipeline_method(
    ordering: str,
    options: DecomposeOptions,
    index_source: IndexSource | None = None,
    orderer: Any = None,
) -> SampleMethod:
    """A method running `decompose_pixels` with `ordering` (index map from `index_source`)."""
    opts = options.replace(ordering=ordering)
    entry = ORDERINGS[ordering]

    def run(sample: Sample) -> MethodRun:
        clock = time.perf_counter()
        index_map = index_source(sample) if index_source is not None else None
        index_s = getattr(index_source, "seconds", time.perf_counter() - clock)
        clock = time.perf_counter()
        dec = decompose_pixels(opaque(sample.image), index_map, opts, orderer=orderer)
        seconds = index_s + time.perf_counter() - clock
        if entry.own_index:
            ordered_by = dec.index_map
        else:  # the map each region was ordered by: its median, on its pixels
            regions = segment_regions(opaque(sample.image), opts.regions)
            medians = GroupedMedians(dec.index_map, regions.labels, regions.count).medians()
            ordered_by = medians.astype(np.float32)[regions.labels]
        return MethodRun(ordered_by, dec, seconds, float(dec.info["regions"]))

    return SampleMethod(run)


class CachedIndex:
    """An index source computed once per sample (shared by methods that use the same network)."""

    def __init__(self, predict: Callable[[np.ndarray], np.ndarray]) -> None:
        self.predict = predict
        self._key: str | None = None
        self._value: np.ndarray | None = None
        self.seconds = 0.0

    def __call__(self, sample: Sample) -> np.ndarray:
        if self._key != sample.name or self._value is None:
            clock = time.perf_counter()
            self._value = np.asarray(self.predict(sample.image), dtype=np.float32)
            self.seconds = time.perf_counter() - clock
            self._key = sample.name
        return self._value


def net_pixel_method(net_index: CachedIndex) -> SampleMethod:
    """The network's own per-pixel map (index view only)."""

    def run(sample: Sample) -> MethodRun:
        value = net_index(sample)
        return MethodRun(value, None, net_index.seconds)

    return SampleMethod(run)


def ordering_methods(
    *,
    options: DecomposeOptions,
    orderer: Any = None,
    net_predict: Callable[[np.ndarray], np.ndarray] | None = None,
    baselines: bool = True,
    graph_label: str = "graph",
) -> dict[str, SampleMethod]:
    """constant, luminance, area, net, net-median (when a network is given), graph, ceiling.

    orderer: the graph orderer (None = shipped). net_predict: RGB uint8 (H, W, 3) -> float32
    (H, W), needed by net-median and by an orderer that uses the network's feature.
    """
    from decomposer.orderer import load_orderer

    graph_orderer = orderer if orderer is not None else load_orderer()
    net = CachedIndex(net_predict) if net_predict is not None else None
    if graph_orderer.uses_net and net is None:
        raise ValueError("the orderer uses the network's feature: give a network")
    methods: dict[str, SampleMethod] = {}
    if baselines:
        for name, fn in (
            ("constant", constant_baseline),
            ("luminance", luminance_baseline),
            ("area", area_baseline),
        ):
            methods[name] = pipeline_method("median", options, _on_image(fn))
    if net is not None:
        methods["net"] = net_pixel_method(net)
        methods["net-median"] = pipeline_method("median", options, net)
    methods[graph_label] = pipeline_method(
        "graph", options, net if graph_orderer.uses_net else None, graph_orderer
    )
    if baselines:
        methods["ceiling"] = pipeline_method("median", options, _true_label)
    return methods


def _on_image(fn: Callable[[np.ndarray], np.ndarray]) -> IndexSource:
    return lambda sample: fn(sample.image)


def _true_label(sample: Sample) -> np.ndarray:
    return sample.label.astype(np.float32)


def build_methods(
    *,
    baseline: bool,
    model_spec: str | None = None,
    orderer_dir: str | Path | None = None,
    layers: int = DEFAULT_EVAL_LAYERS,
    device: str | None = None,
    tta: bool = False,
) -> tuple[dict[str, SampleMethod], str | None]:
    """The methods `decompose-eval` scores, and the network's label (None: no network used).

    The network (`model_spec`, None = the shipped one) is loaded when the baselines are asked
    for, when `model_spec` is given, or when the orderer uses the network's feature.
    """
    from decomposer.orderer import load_orderer
    from training.evaluate import model_predictor, resolve_model

    orderer = load_orderer(orderer_dir)
    net_predict, label = None, None
    if baseline or model_spec is not None or orderer.uses_net:
        label, net = resolve_model(model_spec)
        net_predict = model_predictor(net, device=device, tta=tta)
    methods = ordering_methods(
        options=eval_options(layers),
        orderer=orderer,
        net_predict=net_predict,
        baselines=baseline,
    )
    return methods, label


def vector_predictor(
    model_spec: str | None = None,
    orderer_dir: str | Path | None = None,
    device: str | None = None,
    tta: bool = False,
) -> tuple[Predictor | None, Any]:
    """(network predictor or None, orderer) for `decompose-eval --vector`, which decomposes with
    the default pipeline: the network runs only when the orderer uses its feature or a model is
    named explicitly."""
    from decomposer.orderer import load_orderer
    from training.evaluate import model_predictor, resolve_model

    orderer = load_orderer(orderer_dir)
    if model_spec is None and not orderer.uses_net:
        return None, orderer
    _, net = resolve_model(model_spec)
    return model_predictor(net, device=device, tta=tta), orderer
