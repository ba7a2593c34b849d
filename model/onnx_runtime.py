"""The layer-index network on onnxruntime (CPU), with no torch: same geometry as torch's path.

``OnnxLayerIndexModel(path).predict_index_map(image)`` does what
``model.inference.predict_index_map(net, image)`` does for the network the file was exported
from (``model.onnx_export``): fit the image into the working size with an antialiased bilinear
resize and edge replication, normalise, run, crop the padding, resize back (``model.geometry``).
The two agree within 1e-3 on the index map (tests/model/test_onnx_runtime.py).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .config import ModelConfig
from .errors import CheckpointError, MissingDependencyError
from .geometry import check_rgb_uint8, from_square, to_square

ONNX_FORMAT_NAME = "illustrators-depth/layer-index-net+onnx"  # ONNX metadata "format"
ONNX_FORMAT_VERSION = 1
LIGHT_INSTALL = "pip install illustrators-depth"


def _import_onnxruntime():
    try:
        import onnxruntime
    except ImportError as exc:
        raise MissingDependencyError(
            f"the ONNX runtime needs the onnxruntime package ({LIGHT_INSTALL} installs it)"
        ) from exc
    return onnxruntime


class OnnxLayerIndexModel:
    """An exported layer-index network, run by onnxruntime on the CPU.

    ``config``: the ModelConfig it was exported from (working size, mean/std, activation).
    ``source_sha256``: SHA-256 of the safetensors file it was exported from ("" if unknown).
    Safe to share between threads (onnxruntime sessions are).
    """

    runtime = "onnx"
    device = "cpu"

    def __init__(self, path: str | os.PathLike[str], *, threads: int | None = None) -> None:
        ort = _import_onnxruntime()
        self.path = Path(path)
        if not self.path.is_file():
            raise CheckpointError(f"{self.path}: ONNX model file not found")
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only; no initializer-removal chatter on stderr
        # Idle worker threads sleep instead of spinning: ~0.25 s less CPU for a one-image run
        # (measured 1.40 vs 1.66 s CPU for `decompose examples/house.png`), and no CPU stolen
        # from batch workers or other processes.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(
                str(self.path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own (pybind) error types
            first = " ".join(str(exc).split())[:200]
            raise CheckpointError(f"{self.path}: not a loadable ONNX model ({first})") from exc
        meta = self.session.get_modelmeta().custom_metadata_map
        if meta.get("format") != ONNX_FORMAT_NAME:
            raise CheckpointError(
                f"{self.path}: not an Illustrator's Depth model (ONNX metadata format is "
                f"{meta.get('format')!r}, expected {ONNX_FORMAT_NAME!r})"
            )
        try:
            if int(meta.get("format_version", "0")) > ONNX_FORMAT_VERSION:
                raise ValueError(f"format_version {meta['format_version']} is newer than supported")
            self.config = ModelConfig.from_dict(json.loads(meta["config"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{self.path}: invalid model config in ONNX ({exc})") from exc
        self.source_sha256 = meta.get("source_sha256", "")
        (inp,) = self.session.get_inputs()
        self._input = inp.name
        self._output = self.session.get_outputs()[0].name
        batch = inp.shape[0]
        self._fixed_batch = batch if isinstance(batch, int) else None
        size = self.config.working_size
        if list(inp.shape[1:]) != [3, size, size]:
            raise CheckpointError(
                f"{self.path}: input shape {inp.shape} does not match working size {size}"
            )

    def __repr__(self) -> str:
        return f"OnnxLayerIndexModel({str(self.path)!r}, preset={self.config.preset!r})"

    def forward(self, x: np.ndarray) -> np.ndarray:
        """float32 (B, 3, S, S) normalised -> float32 (B, S, S), higher = front."""
        if self._fixed_batch is not None and x.shape[0] != self._fixed_batch:
            return np.concatenate([self.forward(x[i : i + 1]) for i in range(x.shape[0])])
        y = self.session.run([self._output], {self._input: np.ascontiguousarray(x)})[0]
        return np.asarray(y[:, 0], dtype=np.float32)

    def predict_index_map(
        self,
        image: np.ndarray | Sequence[np.ndarray],
        *,
        tta: bool = False,
        batch_size: int = 4,
    ) -> np.ndarray | list[np.ndarray]:
        """Layer-index map(s): float32 (H, W) per RGB uint8 (H, W, 3) input, higher = front.

        A list in gives a list out (``batch_size`` at a time); ``tta`` averages with the
        horizontally flipped prediction. Deterministic.
        """
        single = isinstance(image, np.ndarray)
        images = [image] if single else list(image)
        if not images:
            return []
        images = [check_rgb_uint8(im) for im in images]
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        cfg = self.config
        mean = np.asarray(cfg.mean, np.float32).reshape(1, 3, 1, 1)
        std = np.asarray(cfg.std, np.float32).reshape(1, 3, 1, 1)
        outputs: list[np.ndarray] = []
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size]
            x = np.stack([to_square(im, cfg.working_size) for im in chunk])
            x = ((x - mean) / std).astype(np.float32, copy=False)
            preds = self.forward(x)
            if tta:
                flipped = self.forward(np.ascontiguousarray(x[..., ::-1]))[..., ::-1]
                preds = np.float32(0.5) * (preds + flipped)
            for im, pred in zip(chunk, preds, strict=True):
                outputs.append(from_square(pred, im.shape[0], im.shape[1]))
        return outputs[0] if single else outputs
