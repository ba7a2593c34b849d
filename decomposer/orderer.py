"""The learned occlusion orderer: region pairs -> which one is on top -> one global order.

1. For every related region pair (adjacent, or one surrounds the other; `orderer_features`), a
   gradient-boosted tree model (LightGBM, shipped as its own text format) gives the probability
   that a lies above b, for both orientations; the pair margin is
   d_ab = clip((logit p(a over b) - logit p(b over a)) / 2, -clip, clip), antisymmetric.
2. A second tree model predicts each region's normalised rank u in [0, 1] (0 = back) from its
   unary features: a prior for regions the pairs say little about.
3. Global order by least squares on the pair margins with the unary prior (HodgeRank):
   minimise  sum_pairs w_ab (s_a - s_b - d_ab)^2 + lam * sum_i (s_i - scale * u_i)^2,
   a sparse symmetric positive definite system (graph Laplacian + lam * I). The scores s are
   continuous, higher = nearer the front; the pipeline broadcasts them to the regions' pixels.

The shipped model lives in `decomposer/data/orderer/` (`pair.txt`, `unary.txt`, `meta.json`);
`decompose-train fit-orderer` writes such a folder.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import coo_matrix, identity
from scipy.sparse.linalg import spsolve

from decomposer.errors import ModelLoadError
from decomposer.orderer_features import FEATURE_VERSION, OrdererInputs, feature_names

DEFAULT_ORDERER_DIR = Path(__file__).resolve().parent / "data" / "orderer"
FORMAT = "illustrators-depth-orderer"


@dataclass(frozen=True)
class SolverConfig:
    """Global least-squares order (module docstring, step 3).

    clip: bound on |d_ab| (logit units, > 0). lam: weight of the unary prior (>= 0; > 0 keeps the
    system definite for regions in no pair). scale: spread of the prior in margin units (s of the
    back-most region ~ 0, front-most ~ scale). weight: pair weight w_ab, "unit" (1 each) or
    "boundary" (1 + log1p of the shared boundary length in px). context: the weight factor of
    context pairs (regions that neither touch nor surround one another), >= 0.
    """

    clip: float = 4.0
    lam: float = 0.3
    scale: float = 8.0
    weight: str = "unit"
    context: float = 0.5

    def to_dict(self) -> dict[str, Any]:
        return {
            "clip": self.clip,
            "lam": self.lam,
            "scale": self.scale,
            "weight": self.weight,
            "context": self.context,
        }

    def pair_weights(self, shared: np.ndarray, related: np.ndarray | None) -> np.ndarray:
        """float64 (P,) w_ab from the shared boundary lengths and the related flags."""
        shared = np.asarray(shared, dtype=np.float64)
        w = 1.0 + np.log1p(shared) if self.weight == "boundary" else np.ones(len(shared))
        if related is not None:
            w = np.where(related, w, self.context * w)
        return w


def solve_order(
    count: int,
    pairs: np.ndarray,
    margins: np.ndarray,
    unary: np.ndarray | None,
    config: SolverConfig = SolverConfig(),
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Scores float64 (count,), higher = front, from pair margins and a unary prior.

    pairs: int (P, 2); margins: float (P,) the wanted s_a - s_b; unary: float (count,) prior
    rank in [0, 1] or None (prior 0); weights: float (P,) > 0 or None (1).
    """
    if count == 0:
        return np.zeros(0)
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    d = np.clip(np.asarray(margins, dtype=np.float64), -config.clip, config.clip)
    w = np.ones(len(pairs)) if weights is None else np.asarray(weights, dtype=np.float64)
    prior = np.zeros(count) if unary is None else np.asarray(unary, dtype=np.float64)
    lam = max(float(config.lam), 1e-6)
    a, b = pairs[:, 0], pairs[:, 1]
    rows = np.concatenate([a, b, a, b])
    cols = np.concatenate([a, b, b, a])
    vals = np.concatenate([w, w, -w, -w])
    lap = coo_matrix((vals, (rows, cols)), shape=(count, count)).tocsc()
    system = lap + lam * identity(count, format="csc")
    rhs = lam * config.scale * prior
    np.add.at(rhs, a, w * d)
    np.add.at(rhs, b, -w * d)
    scores = spsolve(system, rhs) if count > 1 else rhs / system.diagonal()
    return np.asarray(scores, dtype=np.float64).reshape(count)


class Orderer:
    """A trained orderer: pair model, unary model, solver settings (see the module docstring).

    meta: the folder's meta.json (format, feature version, feature names, `uses_net`, solver,
    training summary, validation numbers).
    """

    def __init__(
        self,
        pair_model: Any,
        unary_model: Any,
        meta: dict[str, Any],
        fingerprint: str | None = None,
    ) -> None:
        self.pair_model = pair_model
        self.unary_model = unary_model
        self.meta = meta
        self._fingerprint = fingerprint
        self.uses_net = bool(meta.get("uses_net", False))
        solver = meta.get("solver", {})
        self.solver = SolverConfig(**solver)
        self._lock = threading.Lock()

    @property
    def fingerprint(self) -> str:
        """Identifies the trained orderer (SHA-256 hex over its files; part of resume keys).
        Read from the files by `load`; for an orderer built in memory, from its models' text
        (computed on first use)."""
        if self._fingerprint is None:
            self._fingerprint = _digest(
                json.dumps(self.meta, sort_keys=True).encode(),
                self.pair_model.model_to_string().encode(),
                self.unary_model.model_to_string().encode(),
            )
        return self._fingerprint

    @classmethod
    def load(cls, folder: str | Path) -> Orderer:
        """Read `folder/{meta.json,pair.txt,unary.txt}`; raises ModelLoadError naming the file."""
        import lightgbm as lgb

        folder = Path(folder)
        meta_path = folder / "meta.json"
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelLoadError(f"{meta_path}: orderer metadata missing") from None
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"{meta_path}: unreadable orderer metadata ({exc})") from None
        if meta.get("format") != FORMAT:
            raise ModelLoadError(
                f"{meta_path}: not an orderer folder (format {meta.get('format')!r})"
            )
        if meta.get("feature_version") != FEATURE_VERSION:
            raise ModelLoadError(
                f"{meta_path}: trained on feature version {meta.get('feature_version')}, this code"
                f" computes version {FEATURE_VERSION}; retrain with decompose-train fit-orderer"
            )
        unary_names, pair_names = feature_names(bool(meta.get("uses_net", False)))
        if list(meta.get("unary_features", [])) != list(unary_names) or list(
            meta.get("pair_features", [])
        ) != list(pair_names):
            raise ModelLoadError(f"{meta_path}: feature list differs from this code's features")
        models, texts = [], [meta_path.read_bytes()]
        for name in ("pair.txt", "unary.txt"):
            path = folder / name
            try:
                texts.append(path.read_bytes())
                models.append(lgb.Booster(model_str=texts[-1].decode("utf-8")))
            except (OSError, ValueError, lgb.basic.LightGBMError) as exc:
                message = " ".join(str(exc).split())
                raise ModelLoadError(f"{path}: cannot load the orderer model ({message})") from None
        return cls(models[0], models[1], meta, fingerprint=_digest(*texts))

    def pair_margins(self, inputs: OrdererInputs) -> np.ndarray:
        """float64 (P,) antisymmetric margins d_ab (logit units, unclipped) for inputs.pairs."""
        if len(inputs.pairs) == 0:
            return np.zeros(0)
        both = np.concatenate([inputs.pair_ab, inputs.pair_ba])
        with self._lock:
            raw = np.asarray(self.pair_model.predict(both, raw_score=True, num_threads=1))
        n = len(inputs.pairs)
        return 0.5 * (raw[:n] - raw[n:])

    def unary_prior(self, inputs: OrdererInputs) -> np.ndarray:
        """float64 (R,) predicted normalised rank (0 = back, 1 = front)."""
        if len(inputs.unary) == 0:
            return np.zeros(0)
        with self._lock:
            pred = np.asarray(self.unary_model.predict(inputs.unary, num_threads=1))
        return np.clip(pred, 0.0, 1.0)

    def order(self, inputs: OrdererInputs) -> np.ndarray:
        """Scores float64 (R,), higher = nearer the front."""
        count = len(inputs.unary)
        margins = self.pair_margins(inputs)
        prior = self.unary_prior(inputs)
        weights = self.solver.pair_weights(inputs.shared, inputs.related)
        return solve_order(count, inputs.pairs, margins, prior, self.solver, weights)


def _digest(*parts: bytes) -> str:
    """SHA-256 hex over length-prefixed byte strings."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "little"))
        digest.update(part)
    return digest.hexdigest()


@lru_cache(maxsize=4)
def _load_cached(folder: str) -> Orderer:
    return Orderer.load(folder)


def load_orderer(folder: str | Path | None = None) -> Orderer:
    """The orderer in `folder` (None = the shipped one, `DEFAULT_ORDERER_DIR`).

    Loaded models are read-only and kept (by resolved path) for the life of the process, so a
    batch reads them once. Raises ModelLoadError.
    """
    path = Path(folder) if folder is not None else DEFAULT_ORDERER_DIR
    return _load_cached(str(path.resolve()))
