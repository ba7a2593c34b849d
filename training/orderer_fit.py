"""Train the region-graph orderer (`decomposer.orderer`) from labelled datasets.

Per sample (`DIR/rgb/NAME.png` + `DIR/label/NAME.png`): the pipeline's own regions and features
(`decomposer.regions`, `decomposer.orderer_features`), each region's true median label, and a
(region, label, pixels) table for exact metrics. Features are cached per sample as .npz
(`--cache`), keyed by the feature version, the region settings and the network's weights.

Learning (LightGBM, deterministic, fixed seed):
* pair model: binary "a above b" on both orientations of every related pair whose true medians
  differ; early stopping on the validation split's log-loss;
* unary model: L2 regression of each region's normalised true rank in [0, 1];
* solver settings (`decomposer.orderer.SolverConfig`) picked on the validation split by the
  exact Order-FG of the layers (`SOLVER_GRID`).

Validation numbers are exact over all pixel pairs (`exact_metrics`), per source and overall, on
the index map (region scores) and on the layers (the pipeline's grouping into `layers` layers,
each pixel taking its layer's median score), next to the ceiling (true medians on the same
regions).
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import multiprocessing
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from decomposer.atomic import atomic_dir, atomic_path
from decomposer.grouping import DEFAULT_TAU, group_regions
from decomposer.orderer import FORMAT, Orderer, SolverConfig, solve_order
from decomposer.orderer_features import FEATURE_VERSION, feature_names, orderer_inputs
from decomposer.ordering import grouped_median, weighted_union_medians
from decomposer.regions import RegionConfig, segment_regions
from training.datasets import DatasetError, load_pair, read_records

SOLVER_GRID: dict[str, tuple[Any, ...]] = {
    "clip": (0.25, 0.5, 1.0, 2.0),
    "lam": (0.1, 0.3),
    "scale": (8.0,),
    "weight": ("unit",),
    "context": (0.25, 0.5, 1.0),
}  # r1's wider grid (clip 4, lam 1, scale 16) never won and spread only 0.013 Order-FG
MAX_CONTEXT_PAIRS = 200  # per training image (a deterministic random subset)
CACHE_VERSION = 2  # 2: the regions changed (speck wait limit); caches of 1 hold the old regions


@dataclass(frozen=True)
class FitConfig:
    """Settings of `fit_orderer`.

    seed: LightGBM seed. threads: LightGBM threads. pair_trees / unary_trees: maximum boosting
    rounds (early stopping on validation, patience `patience`). leaves, learning_rate,
    min_child: tree settings. pair_weight: "unit" or "area" (each pair weighted by
    sqrt(area_a * area_b), normalised per image to mean 1). layers / tau: grouping for the
    layers metrics. tune_solver: grid-search `SOLVER_GRID` on validation (else `solver`).
    """

    seed: int = 0
    threads: int = 1
    pair_trees: int = 600
    unary_trees: int = 400
    patience: int = 50
    leaves: int = 127
    learning_rate: float = 0.1
    min_child: int = 40
    pair_weight: str = "unit"
    layers: int = 16
    tau: float = DEFAULT_TAU
    tune_solver: bool = True
    solver: SolverConfig = field(default_factory=SolverConfig)


@dataclass(frozen=True)
class RegionSample:
    """One image's orderer training data (arrays as in `decomposer.orderer_features`).

    median: float64 (R,) true median label per region. areas: int64 (R,). colours: uint8 (R, 3).
    table: int64 (K, 3) rows (region, label, pixels).
    """

    name: str
    source: str
    split: str
    unary: np.ndarray
    pairs: np.ndarray
    pair_ab: np.ndarray
    pair_ba: np.ndarray
    shared: np.ndarray
    related: np.ndarray
    median: np.ndarray
    areas: np.ndarray
    colours: np.ndarray
    table: np.ndarray


_ARRAYS = (
    "unary",
    "pairs",
    "pair_ab",
    "pair_ba",
    "shared",
    "related",
    "median",
    "areas",
    "colours",
    "table",
)


def region_table(regions_labels: np.ndarray, label: np.ndarray, count: int) -> np.ndarray:
    """int64 (K, 3) rows (region, label, pixels) over the pixels with a region (label >= 0)."""
    valid = regions_labels >= 0
    r = regions_labels[valid].astype(np.int64)
    g = label[valid].astype(np.int64)
    top = int(g.max()) + 1 if g.size else 1
    code, counts = np.unique(r * top + g, return_counts=True)
    rr, gg = np.divmod(code, top)
    return np.stack([rr, gg, counts], axis=1).astype(np.int64)


def extract_sample(
    image: np.ndarray,
    label: np.ndarray,
    regions_config: RegionConfig,
    net_index: np.ndarray | None = None,
    *,
    name: str = "",
    source: str = "",
    split: str = "",
) -> RegionSample:
    """Regions, features and targets of one RGB uint8 (H, W, 3) image and its label (H, W)."""
    rgba = np.dstack([image, np.full(image.shape[:2], 255, np.uint8)])
    regions = segment_regions(rgba, regions_config)
    inputs = orderer_inputs(regions, net_index=net_index)
    median = grouped_median(label.astype(np.float32), regions.labels, regions.count)
    return RegionSample(
        name=name,
        source=source,
        split=split,
        unary=inputs.unary,
        pairs=inputs.pairs,
        pair_ab=inputs.pair_ab,
        pair_ba=inputs.pair_ba,
        shared=inputs.shared,
        related=inputs.related,
        median=median,
        areas=regions.areas,
        colours=regions.median_rgb,
        table=region_table(regions.labels, label, regions.count),
    )


# ---------------------------------------------------------------------------------------------
# exact metrics over all pixel pairs, from a (region, label, pixels) table


def _lower_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    k = (cum[-1] - 1) // 2  # 0-based index of the lower median pixel
    return float(values[order][np.searchsorted(cum, k, side="right")])


def _normalised(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    med = _lower_median(values, weights)
    scale = max(float((weights * np.abs(values - med)).sum() / weights.sum()), 1e-6)
    return (values - med) / scale


def exact_metrics(table: np.ndarray, values: np.ndarray) -> dict[str, float]:
    """The metrics of `training.metrics` over all pixel pairs instead of sampled ones.

    table: int (K, 3) (region, label, pixels); values: float (R,) predicted index per region.
    Returns order, order_strict, order_fg, si_mae (NaN when undefined).
    """
    r, g, c = table[:, 0], table[:, 1].astype(np.float64), table[:, 2].astype(np.float64)
    p = np.asarray(values, dtype=np.float64)[r]
    out = {}
    dp = p[:, None] - p[None, :]
    dg = g[:, None] - g[None, :]
    cc = c[:, None] * c[None, :]
    untied = dg != 0
    prod = dp * np.sign(dg)
    den = (cc * untied).sum()
    out["order"] = float((cc * (untied & (prod >= 0))).sum() / den) if den else float("nan")
    out["order_strict"] = float((cc * (untied & (prod > 0))).sum() / den) if den else float("nan")
    fg = (g[:, None] > 0) & (g[None, :] > 0) & untied
    den_fg = (cc * fg).sum()
    out["order_fg"] = float((cc * (fg & (prod > 0))).sum() / den_fg) if den_fg else float("nan")
    out["si_mae"] = float((c * np.abs(_normalised(p, c) - _normalised(g, c))).sum() / c.sum())
    return out


def layer_values(
    scores: np.ndarray, areas: np.ndarray, colours: np.ndarray, layers: int, tau: float
) -> np.ndarray:
    """float64 (R,): each region's layer's index, as the pipeline computes it (regions grouped
    by `decomposer.grouping.group_regions`, a layer's index = the area-weighted lower/upper-mean
    median of its regions' scores)."""
    grouping = group_regions(scores, areas, colours, layers, tau)
    index = weighted_union_medians(scores, areas, grouping.layer_of_region, grouping.n_layers)
    return index[grouping.layer_of_region] if len(scores) else np.zeros(0)


# ---------------------------------------------------------------------------------------------
# data loading with a per-sample cache


@dataclass(frozen=True)
class _Job:
    root: str
    name: str
    source: str
    split: str
    cache: str | None
    regions: dict[str, Any]
    net_spec: str | None


def _file_stamp(root: Path, name: str) -> list[int]:
    stamp = []
    for sub in ("rgb", "label"):
        st = (root / sub / f"{name}.png").stat()
        stamp += [st.st_size, st.st_mtime_ns]
    return stamp


_NET_CACHE: dict[str, Any] = {}


def _net(spec: str) -> Any:
    if spec not in _NET_CACHE:
        from training.evaluate import resolve_model

        _NET_CACHE[spec] = resolve_model(None if spec == "default" else spec)[1]
    return _NET_CACHE[spec]


def _run_job(job: _Job) -> RegionSample:
    root = Path(job.root)
    stamp = _file_stamp(root, job.name)
    path = Path(job.cache) / f"{job.name}.npz" if job.cache else None
    if path is not None and path.is_file():
        try:
            with np.load(path) as data:
                if data["stamp"].tolist() == stamp:
                    return RegionSample(
                        job.name, job.source, job.split, **{k: data[k] for k in _ARRAYS}
                    )
        except (OSError, ValueError, KeyError):
            pass
    image, label = load_pair(root, job.name)
    net_index = None
    if job.net_spec is not None:
        from model import predict_index_map

        net_index = predict_index_map(_net(job.net_spec), image, device="cpu")
    sample = extract_sample(
        image,
        label,
        RegionConfig(**job.regions),
        net_index,
        name=job.name,
        source=job.source,
        split=job.split,
    )
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, tmp.open("wb") as f:
            np.savez(f, stamp=np.asarray(stamp), **{k: getattr(sample, k) for k in _ARRAYS})
    return sample


def cache_folder(
    cache: Path, root: Path, regions: RegionConfig, net_fingerprint: str | None
) -> Path:
    """Cache subfolder of one dataset for one feature configuration."""
    key = json.dumps(
        {
            "cache": CACHE_VERSION,
            "features": FEATURE_VERSION,
            "regions": asdict(regions),
            "net": net_fingerprint,
            "root": str(root.resolve()),
        },
        sort_keys=True,
    )
    return cache / hashlib.sha256(key.encode()).hexdigest()[:16]


def net_fingerprint(spec: str | None) -> str | None:
    """``model.fingerprint`` of the network feature's weights ("default" = the shipped model;
    None: no network feature)."""
    if spec is None:
        return None
    import model

    try:
        return model.fingerprint(None if spec == "default" else spec)
    except model.ModelError as exc:
        raise DatasetError(" ".join(str(exc).split())) from exc


def load_samples(
    data_dirs: Iterable[str | Path],
    *,
    splits: tuple[str, ...] = ("train", "val"),
    regions: RegionConfig | None = None,
    cache: str | Path | None = None,
    net_spec: str | None = None,
    workers: int = 1,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[RegionSample]:
    """Samples of the given splits of every dataset folder (in folder, then name order).

    regions: the segmentation settings (None = the default `RegionConfig()`).
    net_spec: None (no network feature), "default" (the shipped network) or a model folder.
    limit: at most this many samples per split and folder, evenly spaced in name order (names
        start with the source, so every source keeps its share).
    """
    regions = regions if regions is not None else RegionConfig()
    fingerprint = net_fingerprint(net_spec)
    jobs = []
    for d in data_dirs:
        root = Path(d)
        folder = cache_folder(Path(cache), root, regions, fingerprint) if cache else None
        for split in splits:
            records = read_records(root, split)
            if limit is not None and len(records) > limit:
                pick = np.unique(np.linspace(0, len(records) - 1, max(limit, 0)).round())
                records = [records[int(i)] for i in pick]
            for rec in records:
                jobs.append(
                    _Job(
                        str(root),
                        rec.name,
                        rec.source or root.name,
                        split,
                        str(folder) if folder else None,
                        asdict(regions),
                        net_spec,
                    )
                )
    if not jobs:
        raise DatasetError("no samples in the given datasets and splits")
    out: list[RegionSample] = []
    if workers > 1:
        ctx = multiprocessing.get_context("spawn" if net_spec else "fork")
        with ctx.Pool(workers) as pool:
            for sample in pool.imap(_run_job, jobs, chunksize=8):
                out.append(sample)
                if progress is not None:
                    progress(len(out), len(jobs))
    else:
        for job in jobs:
            out.append(_run_job(job))
            if progress is not None:
                progress(len(out), len(jobs))
    return out


# ---------------------------------------------------------------------------------------------
# training


def pair_matrix(
    samples: list[RegionSample], weight_mode: str = "unit"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X float32 (2M, F), y float32 (2M,), w float32 (2M,)) of both orientations of the M
    pairs whose true medians differ."""
    xs, ys, ws = [], [], []
    for s in samples:
        if len(s.pairs) == 0:
            continue
        ma, mb = s.median[s.pairs[:, 0]], s.median[s.pairs[:, 1]]
        keep = np.isfinite(ma) & np.isfinite(mb) & (ma != mb)
        context = np.flatnonzero(keep & ~s.related)
        if len(context) > MAX_CONTEXT_PAIRS:
            seed = int.from_bytes(hashlib.sha256(s.name.encode()).digest()[:4], "little")
            drop = np.random.default_rng(seed).permutation(context)[MAX_CONTEXT_PAIRS:]
            keep[drop] = False
        if not keep.any():
            continue
        above = (ma > mb)[keep].astype(np.float32)
        if weight_mode == "area":
            a = s.areas[s.pairs[keep, 0]].astype(np.float64)
            b = s.areas[s.pairs[keep, 1]].astype(np.float64)
            w = np.sqrt(a * b)
            w = w / w.mean()
        elif weight_mode == "unit":
            w = np.ones(int(keep.sum()))
        else:
            raise ValueError(f"unknown pair weight {weight_mode!r} (unit, area)")
        xs += [s.pair_ab[keep], s.pair_ba[keep]]
        ys += [above, 1.0 - above]
        ws += [w, w]
    if not xs:
        raise DatasetError("no region pair with different labels to learn from")
    return (
        np.concatenate(xs).astype(np.float32),
        np.concatenate(ys).astype(np.float32),
        np.concatenate(ws).astype(np.float32),
    )


def unary_targets(median: np.ndarray) -> np.ndarray:
    """float64 (R,) normalised dense rank of the true medians in [0, 1] (0.5 when all equal)."""
    finite = np.where(np.isfinite(median), median, np.nanmin(median) if median.size else 0.0)
    uniq, rank = np.unique(finite, return_inverse=True)
    if len(uniq) <= 1:
        return np.full(len(median), 0.5)
    return rank.ravel() / (len(uniq) - 1)


def unary_matrix(samples: list[RegionSample]) -> tuple[np.ndarray, np.ndarray]:
    """(X float32 (N, U), y float32 (N,)) over every region of every sample."""
    xs = [s.unary for s in samples if len(s.unary)]
    ys = [unary_targets(s.median) for s in samples if len(s.unary)]
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.float32)


def _lgb_params(config: FitConfig, objective: str) -> dict[str, Any]:
    return {
        "objective": objective,
        "num_leaves": config.leaves,
        "learning_rate": config.learning_rate,
        "min_data_in_leaf": config.min_child,
        "feature_fraction": 0.9,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 1.0,
        "seed": config.seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": config.threads,
        "verbose": -1,
    }


def _train_booster(
    params: dict[str, Any],
    train: tuple[np.ndarray, ...],
    val: tuple[np.ndarray, ...] | None,
    rounds: int,
    patience: int,
    names: tuple[str, ...],
) -> Any:
    import lightgbm as lgb

    weight = train[2] if len(train) > 2 else None
    dtrain = lgb.Dataset(train[0], train[1], weight=weight, feature_name=list(names))
    valid_sets, callbacks = [], []
    if val is not None and len(val[0]):
        vweight = val[2] if len(val) > 2 else None
        valid_sets = [lgb.Dataset(val[0], val[1], weight=vweight, reference=dtrain)]
        callbacks = [lgb.early_stopping(patience, verbose=False)]
    booster = lgb.train(
        params, dtrain, num_boost_round=rounds, valid_sets=valid_sets, callbacks=callbacks
    )
    if valid_sets and booster.best_iteration > 0:
        booster = lgb.Booster(
            model_str=booster.model_to_string(num_iteration=booster.best_iteration)
        )
    return booster


@dataclass
class _Predicted:
    sample: RegionSample
    margins: np.ndarray
    prior: np.ndarray


def score_samples(
    predicted: list[_Predicted], solver: SolverConfig, layers: int, tau: float
) -> list[dict[str, dict[str, float]]]:
    """Per sample: {"index": metrics, "layers": metrics} of the solved order."""
    out = []
    for p in predicted:
        s = p.sample
        weights = solver.pair_weights(s.shared, s.related)
        scores = solve_order(len(s.median), s.pairs, p.margins, p.prior, solver, weights)
        out.append(_views(s, scores, layers, tau))
    return out


def _views(
    s: RegionSample, scores: np.ndarray, layers: int, tau: float
) -> dict[str, dict[str, float]]:
    return {
        "index": exact_metrics(s.table, scores),
        "layers": exact_metrics(s.table, layer_values(scores, s.areas, s.colours, layers, tau)),
    }


def mean_views(
    rows: list[dict[str, dict[str, float]]],
) -> dict[str, dict[str, float]]:
    """Mean (NaN-ignoring) of each view's metrics over samples."""
    out: dict[str, dict[str, float]] = {}
    if not rows:
        return out
    for view in rows[0]:
        out[view] = {}
        for metric in rows[0][view]:
            vals = np.array([r[view][metric] for r in rows], dtype=np.float64)
            finite = vals[np.isfinite(vals)]
            out[view][metric] = float(finite.mean()) if finite.size else float("nan")
    return out


def grouped_summary(
    samples: list[RegionSample], rows: list[dict[str, dict[str, float]]]
) -> dict[str, Any]:
    """{"all": mean views, "by_source": {source: mean views}}."""
    by: dict[str, list[dict[str, dict[str, float]]]] = {}
    for s, r in zip(samples, rows, strict=True):
        by.setdefault(s.source, []).append(r)
    return {
        "all": mean_views(rows),
        "by_source": {k: mean_views(v) for k, v in sorted(by.items())},
    }


def fit_orderer(
    train: list[RegionSample],
    val: list[RegionSample],
    config: FitConfig = FitConfig(),
    *,
    uses_net: bool = False,
    log: Callable[[str], None] = lambda line: None,
) -> tuple[Orderer, dict[str, Any]]:
    """Train the pair and unary models, choose the solver on `val`; returns (orderer, report)."""
    import lightgbm as lgb

    if not train:
        raise DatasetError("no training samples")
    unary_names, pair_names = feature_names(uses_net)
    clock = time.perf_counter()
    px, py, pw = pair_matrix(train, config.pair_weight)
    vpair = pair_matrix(val, config.pair_weight) if val else None
    log(f"pairs: {len(px) // 2} train, {len(vpair[0]) // 2 if vpair else 0} val (x2 orientations)")
    pair_model = _train_booster(
        _lgb_params(config, "binary"),
        (px, py, pw),
        vpair,
        config.pair_trees,
        config.patience,
        pair_names,
    )
    del px, py, pw
    log(f"pair model: {pair_model.num_trees()} trees ({time.perf_counter() - clock:.1f} s)")
    clock = time.perf_counter()
    ux, uy = unary_matrix(train)
    vunary = unary_matrix(val) if val else None
    unary_model = _train_booster(
        _lgb_params(config, "regression"),
        (ux, uy),
        vunary,
        config.unary_trees,
        config.patience,
        unary_names,
    )
    log(f"unary model: {unary_model.num_trees()} trees ({time.perf_counter() - clock:.1f} s)")

    meta: dict[str, Any] = {
        "format": FORMAT,
        "version": 1,
        "feature_version": FEATURE_VERSION,
        "uses_net": uses_net,
        "unary_features": list(unary_names),
        "pair_features": list(pair_names),
        "solver": config.solver.to_dict(),
        "lightgbm": lgb.__version__,
    }
    orderer = Orderer(pair_model, unary_model, meta)
    report: dict[str, Any] = {
        "pair_trees": pair_model.num_trees(),
        "unary_trees": unary_model.num_trees(),
    }
    if val:
        predicted = []
        for s in val:
            inputs = _as_inputs(s)
            predicted.append(
                _Predicted(s, orderer.pair_margins(inputs), orderer.unary_prior(inputs))
            )
        solver = config.solver
        if config.tune_solver:
            solver, grid = _tune_solver(predicted, config, log)
            report["solver_grid"] = grid
        meta["solver"] = solver.to_dict()
        orderer = Orderer(pair_model, unary_model, meta)
        rows = score_samples(predicted, solver, config.layers, config.tau)
        ceiling = [_views(s, s.median, config.layers, config.tau) for s in val]
        report["validation"] = grouped_summary(val, rows)
        report["ceiling"] = grouped_summary(val, ceiling)
        report["regions_per_image"] = float(np.mean([len(s.median) for s in val]))
        report["pair_importance"] = _importance(pair_model, pair_names)
        report["unary_importance"] = _importance(unary_model, unary_names)
    return orderer, report


def _importance(booster: Any, names: tuple[str, ...]) -> dict[str, float]:
    gain = np.asarray(booster.feature_importance(importance_type="gain"), dtype=np.float64)
    total = gain.sum() or 1.0
    order = np.argsort(-gain)
    return {names[i]: round(float(gain[i] / total), 4) for i in order if gain[i] > 0}


def _tune_solver(
    predicted: list[_Predicted], config: FitConfig, log: Callable[[str], None]
) -> tuple[SolverConfig, list[dict[str, Any]]]:
    """Grid search of SOLVER_GRID by the mean exact Order-FG of the layers on validation."""
    best, best_key, grid = config.solver, -np.inf, []
    keys = list(SOLVER_GRID)
    for values in itertools.product(*(SOLVER_GRID[k] for k in keys)):
        params = dict(zip(keys, values, strict=True))
        solver = SolverConfig(**params)
        summary = mean_views(score_samples(predicted, solver, config.layers, config.tau))
        key = summary["layers"]["order_fg"]
        grid.append(
            {**params, "layers_order_fg": key, "index_order_fg": summary["index"]["order_fg"]}
        )
        if key > best_key:
            best, best_key = solver, key
    log(f"solver: {best.to_dict()} (validation layers Order-FG {best_key:.4f})")
    return best, grid


def _as_inputs(s: RegionSample) -> Any:
    """A minimal `OrdererInputs`-like view of a cached sample (what Orderer's methods read)."""
    from decomposer.orderer_features import OrdererInputs

    return OrdererInputs(
        graph=None,  # type: ignore[arg-type]
        unary=s.unary,
        pairs=s.pairs,
        pair_ab=s.pair_ab,
        pair_ba=s.pair_ba,
        shared=s.shared,
        unary_names=(),
        pair_names=(),
        related=s.related,
    )


def save_orderer(orderer: Orderer, folder: str | Path, extra_meta: dict[str, Any]) -> Path:
    """Write `folder/{pair.txt,unary.txt,meta.json}` atomically (the folder is replaced whole)."""
    meta = {**orderer.meta, **extra_meta}
    with atomic_dir(folder) as tmp:
        (tmp / "pair.txt").write_text(orderer.pair_model.model_to_string(), encoding="utf-8")
        (tmp / "unary.txt").write_text(orderer.unary_model.model_to_string(), encoding="utf-8")
        (tmp / "meta.json").write_text(json.dumps(_clean(meta), indent=1) + "\n", encoding="utf-8")
    return Path(folder)


def _clean(x: Any) -> Any:
    if isinstance(x, float) and not np.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    if isinstance(x, np.floating | np.integer):
        return _clean(x.item())
    return x


def data_summary(samples: list[RegionSample], data_dirs: list[str]) -> dict[str, Any]:
    """Counts of samples, regions and pairs per source and split (for meta.json)."""
    counts: dict[str, dict[str, int]] = {}
    for s in samples:
        entry = counts.setdefault(s.source, {"train": 0, "val": 0})
        entry[s.split] = entry.get(s.split, 0) + 1
    return {
        "data": [str(Path(d).resolve()) for d in data_dirs],
        "samples": {k: counts[k] for k in sorted(counts)},
        "regions": int(sum(len(s.median) for s in samples)),
        "pairs": int(sum(len(s.pairs) for s in samples)),
    }


def write_report_csv(path: Path, report: dict[str, Any]) -> None:
    """One row per (group, view, metric) of the validation report (for RUNS logs)."""
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["method", "group", "view", "metric", "value"])
        for method in ("validation", "ceiling"):
            summary = report.get(method, {})
            groups = {"all": summary.get("all", {}), **summary.get("by_source", {})}
            for group, views in groups.items():
                for view, metrics in views.items():
                    for metric, value in metrics.items():
                        writer.writerow([method, group, view, metric, f"{value:.4f}"])
