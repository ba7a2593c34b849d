"""Public pipeline: image -> layer-index map -> flat-colour regions -> ordered, completed layers.

`decompose_pixels` is the pure core (arrays in, Decomposition out); `decompose`, `predict_index`
and `load_model` add image loading and the network at the edges.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from decomposer.completion import CompletionConfig, build_layers, region_flat_colours
from decomposer.errors import Cancelled, InvalidOptionError, ModelLoadError
from decomposer.grouping import AUTO_CRITERION, group_regions
from decomposer.image_io import DEFAULT_MAX_PIXELS, LoadedImage, flatten_alpha, load_image
from decomposer.options import DecomposeOptions, resolve_options
from decomposer.ordering import ORDERINGS, GroupedMedians, weighted_union_medians
from decomposer.regions import segment_regions
from decomposer.types import Decomposition, Layer, RegionMap

STAGES = ("load", "predict", "regions", "order", "group", "complete", "done")
# fraction of the whole job reached when each stage starts (with / without the network)
_START_WITH_MODEL = {"load": 0.0, "predict": 0.05, "regions": 0.6, "order": 0.75, "group": 0.8,
                     "complete": 0.82, "done": 1.0}  # fmt: skip
_START_NO_MODEL = {"load": 0.0, "predict": 0.1, "regions": 0.1, "order": 0.5, "group": 0.6,
                   "complete": 0.65, "done": 1.0}  # fmt: skip

ImageInput = str | Path | Image.Image | np.ndarray | LoadedImage
Progress = Callable[[str, float], None]


def layer_names(count: int) -> list[str]:
    """Display names bottom -> top: "Layer 1 (back)", "Layer 2", ..., "Layer N (front)"."""
    names = [f"Layer {k}" for k in range(1, count + 1)]
    if count >= 1:
        names[0] += " (back)"
    if count >= 2:
        names[-1] += " (front)"
    return names


def check_model(name_or_path: str | Path | None = None) -> None:
    """Raise ModelLoadError (the model package's one-line message) if the spec names no model;
    nothing is loaded (no torch import), so a typo is reported even when the network is not run."""
    import model as model_pkg

    try:
        model_pkg.resolve(name_or_path)
    except model_pkg.ModelError as exc:
        raise ModelLoadError(" ".join(str(exc).split())) from exc


def load_model(name_or_path: str | Path | None = None, *, runtime: str = "auto") -> Any:
    """The layer-index network, in eval mode, resolved by `model.load`.

    None or "default": the embedded default model; a `save_pretrained` folder, `.onnx` or
    Apple `.pt` file; "random:PRESET" for an untrained network (tests, benchmarks; warns).
    runtime: "auto" (torch if installed, else onnxruntime), "torch" or "onnx".
    Raises ModelLoadError with the model package's one-line, actionable message.
    """
    import model as model_pkg

    try:
        return model_pkg.load(name_or_path, runtime=runtime)
    except model_pkg.ModelError as exc:
        raise ModelLoadError(" ".join(str(exc).split())) from exc


class LazyModel:
    """A model spec that is loaded on first use, once (thread-safe).

    Pass it as `model=` to `decompose` / `predict_index`: the network is loaded only when an
    index map has to be predicted (not when one is given, nor for an ordering that does not
    need it), and then shared by every later call. `get()` returns the network, raising
    ModelLoadError (every call, if loading failed).
    """

    def __init__(self, spec: str | Path | None = None, *, runtime: str = "auto") -> None:
        import threading

        self.spec = spec
        self.runtime = runtime
        self._lock = threading.Lock()
        self._net: Any = None

    @property
    def loaded(self) -> bool:
        """True once the network is in memory."""
        return self._net is not None

    def get(self) -> Any:
        """The network (loaded now if it was not yet)."""
        with self._lock:
            if self._net is None:
                self._net = load_model(self.spec, runtime=self.runtime)
            return self._net


def model_device(net: Any) -> str:
    """The device a loaded network runs on ("cpu", "cuda:0", ...), for either runtime."""
    import model as model_pkg

    return model_pkg.device_of(net)


def predict_index(
    image: ImageInput,
    *,
    model: Any = None,
    device: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """Predicted layer index: float32 (H, W) at the image's resolution, higher = nearer the front.

    image: path, PIL image, uint8 array (H, W, 3|4) or LoadedImage. model: a loaded network
    (either runtime), a LazyModel, a model spec for `load_model`, or None for the embedded default.
    max_pixels: inputs over width * height are refused (ImageTooLargeError, from the header).
    Transparent images are predicted over white.
    """
    loaded = load_image(image, max_pixels=max_pixels)
    return _predict_loaded(loaded, _resolve_model(model), device)


def _predict_loaded(loaded: LoadedImage, net: Any, device: str | None) -> np.ndarray:
    """The network's index map for an image that is already loaded and checked."""
    import model as model_pkg

    rgb = flatten_alpha(loaded.rgba)
    try:
        index = model_pkg.predict_index_map(net, rgb, device=device)
    except model_pkg.ModelError as exc:
        raise ModelLoadError(" ".join(str(exc).split())) from exc
    return np.asarray(index, dtype=np.float32)


def _resolve_model(model: Any) -> Any:
    if model is None or isinstance(model, str | Path):
        return load_model(model)
    if isinstance(model, LazyModel):
        return model.get()
    return model


def decompose(
    image: ImageInput,
    options: DecomposeOptions | None = None,
    *,
    model: Any = None,
    index_map: np.ndarray | None = None,
    device: str | None = None,
    progress: Progress | None = None,
    orderer: Any = None,
    **overrides: Any,
) -> Decomposition:
    """Decompose an image into ordered layers (bottom -> top).

    image: path, PIL image, uint8 array (H, W, 3|4) or LoadedImage.
    options: how to decompose (`DecomposeOptions`; default: its defaults). Keyword `overrides`
        name its fields (layers, ordering, completion, continuation, tau, regions, max_pixels,
        svg_size), so
        `decompose("art.png", layers=6)` works.
    model: a network, a LazyModel (loaded only if an index map must be predicted), a model
        spec for `load_model`, or None for the embedded default; loaded and run only when the
        ordering needs the network's index map (`decomposer.ordering.ORDERINGS[...].needs_index`).
    index_map: float (H, W), higher = front; when given, no network is used.
    orderer: the graph orderer (`decomposer.orderer.Orderer`), None = the shipped one.
    progress: called as progress(stage, fraction) at each stage boundary; raising
        decomposer.errors.Cancelled from it aborts.
    Raises ImageLoadError, InvalidOptionError, ModelLoadError, Cancelled.
    """
    opts = resolve_options(options, overrides)
    run_net = index_map is None and ORDERINGS[opts.ordering].needs_index(orderer)
    report = _Reporter(progress, _START_WITH_MODEL if run_net else _START_NO_MODEL)
    report("load")
    loaded = load_image(image, max_pixels=opts.max_pixels, svg_size=opts.svg_size)
    report("predict")
    if run_net:
        index_map = _predict_loaded(loaded, _resolve_model(model), device)
    result = decompose_pixels(loaded.rgba, index_map, opts, progress=report, orderer=orderer)
    result.info["warnings"] = list(loaded.warnings) + result.info["warnings"]
    result.info["source"] = str(loaded.path) if loaded.path is not None else None
    report("done")
    result.info["timings"] = {**report.timings, **result.info["timings"]}
    return result


def decompose_pixels(
    rgba: np.ndarray,
    index_map: np.ndarray | None,
    options: DecomposeOptions | None = None,
    *,
    progress: Callable[[str], None] | None = None,
    orderer: Any = None,
    **overrides: Any,
) -> Decomposition:
    """Pure core: uint8 (H, W, 4) pixels (+ float (H, W) index map) -> Decomposition.

    index_map: the network's layer index (higher = front), or None when the ordering does not
        need it (`decomposer.ordering.ORDERINGS[...].needs_index`).
    options / overrides: as for `decompose` (`max_pixels` and `svg_size` are not used here).
    orderer: the graph orderer, None = the shipped one.
    `progress(stage)` is called when the "regions", "order", "group" and "complete" stages start.
    The result's index map is float32 (H, W), higher = front: the network's map for "median",
    each region's orderer score on its pixels for "graph" (transparent pixels: the lowest score).
    """
    opts = resolve_options(options, overrides)
    layers, completion, tau = opts.layers, opts.completion, opts.tau
    rgba = np.ascontiguousarray(rgba, dtype=np.uint8)
    height, width = rgba.shape[:2]
    ordering = ORDERINGS[opts.ordering]
    if index_map is not None:
        index_map = _check_index_map(index_map, (height, width))
    elif ordering.needs_index(orderer):
        raise InvalidOptionError(
            f"ordering {opts.ordering!r} needs the network's index map; pass index_map or a model"
        )
    step = progress or (lambda stage: None)
    timings: dict[str, float] = {}
    warnings: list[str] = []

    clock = time.perf_counter()
    step("regions")
    found = segment_regions(rgba, opts.regions)
    timings["regions"] = time.perf_counter() - clock

    clock = time.perf_counter()
    step("order")
    try:
        medians = np.asarray(ordering.scores(found, index_map, orderer), dtype=np.float64)
    except ValueError as exc:
        raise InvalidOptionError(str(exc)) from exc
    # the index map is the region scores on their pixels: layer indices come from the scores
    # and areas alone (exact); the network's map needs its pixel histograms
    own_index = ordering.own_index or index_map is None
    if own_index:
        index_map = _broadcast_scores(medians, found.labels)
    index_stats = None if own_index else GroupedMedians(index_map, found.labels, found.count)
    timings["order"] = time.perf_counter() - clock

    clock = time.perf_counter()
    step("group")
    grouping = group_regions(medians, found.areas, found.median_rgb, layers, tau)
    owner = np.full(found.count + 1, -1, np.int32)
    owner[:-1] = grouping.layer_of_region
    owner_map = owner[found.labels]  # label -1 -> owner[-1] == -1
    n_layers = grouping.n_layers
    if layers != "auto" and n_layers < int(layers):
        warnings.append(
            f"the image has only {found.count} flat-colour region(s); produced {n_layers} "
            f"layer(s) instead of {int(layers)}"
        )
    timings["group"] = time.perf_counter() - clock

    clock = time.perf_counter()
    step("complete")
    region_map = RegionMap(
        labels=found.labels,
        colours=region_flat_colours(found.labels, rgba, found.count, found.median_rgb),
        layer_of_region=grouping.layer_of_region,
    )
    built = build_layers(
        owner_map,
        rgba,
        n_layers,
        CompletionConfig(mode=completion, continuation=opts.continuation),
        region_map,
    )
    if index_stats is None:
        layer_index = weighted_union_medians(
            medians, found.areas, grouping.layer_of_region, n_layers
        )
    else:
        layer_index = index_stats.union_medians(grouping.layer_of_region, n_layers)
    del index_stats
    names = layer_names(n_layers)
    out_layers = [
        Layer(
            name=names[k],
            rgba=pixels.rgba,
            offset=pixels.offset,
            invented_fraction=pixels.invented_fraction,
            index=float(layer_index[k]),
        )
        for k, pixels in enumerate(built)
    ]
    timings["complete"] = time.perf_counter() - clock

    info: dict[str, Any] = {
        "layers_requested": layers,
        "layers": n_layers,
        "regions": found.count,
        "tau_runs": grouping.n_runs,
        "tau_links_cut": grouping.links_cut,
        "tau": tau,
        "ordering": opts.ordering,
        "completion": completion,
        "continuation": opts.continuation,
        "has_alpha": bool((rgba[..., 3] != 255).any()),
        "invented_fraction": [layer.invented_fraction for layer in out_layers],
        "timings": timings,
        "warnings": warnings,
    }
    if layers == "auto":
        info["layers_criterion"] = AUTO_CRITERION
    return Decomposition(
        layers=out_layers,
        index_map=index_map,
        canvas_size=(width, height),
        source_rgba=rgba,
        info=info,
        regions=region_map,
    )


def _broadcast_scores(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """float32 (H, W): each pixel takes its region's score; transparent pixels the lowest one."""
    lowest = float(scores.min()) if scores.size else 0.0
    table = np.append(scores, lowest).astype(np.float32)  # label -1 -> table[-1]
    return table[labels]


def _check_index_map(index_map: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    array = np.asarray(index_map)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.shape != shape:
        size = f"{array.shape[1]}x{array.shape[0]}" if array.ndim == 2 else str(array.shape)
        raise InvalidOptionError(
            f"index map is {size} but the image is {shape[1]}x{shape[0]}; they must match"
        )
    if not np.issubdtype(array.dtype, np.number):
        raise InvalidOptionError(f"index map must be numeric, got {array.dtype}")
    array = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(array).all():
        raise InvalidOptionError("index map contains NaN or infinite values")
    return array


class _Reporter:
    """Calls the user's progress callback at stage starts and records stage durations (s)."""

    def __init__(self, callback: Progress | None, starts: dict[str, float]) -> None:
        self.callback = callback
        self.starts = starts
        self.timings: dict[str, float] = {}
        self._stage: str | None = None
        self._since = time.perf_counter()

    def __call__(self, stage: str) -> None:
        now = time.perf_counter()
        if self._stage in ("load", "predict"):
            self.timings[self._stage] = now - self._since
        self._stage, self._since = stage, now
        if self.callback is not None:
            self.callback(stage, self.starts[stage])


__all__ = [
    "STAGES",
    "Cancelled",
    "LazyModel",
    "decompose",
    "decompose_pixels",
    "layer_names",
    "check_model",
    "load_model",
    "model_device",
    "predict_index",
]
