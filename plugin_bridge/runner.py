"""The model side of the bridge: `decomposer.decompose` with one model loaded once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from decomposer.errors import DecomposerError, ImageLoadError, InvalidOptionError, ModelLoadError
from decomposer.options import DecomposeOptions
from plugin_bridge.errors import ApiError
from plugin_bridge.jobs import ProgressCallback

WARM_UP_IMAGE = np.full((16, 16, 3), 128, dtype=np.uint8)


class DecomposeRunner:
    """Runs `decomposer.decompose` with one model loaded once (implements jobs.Runner).

    The network is loaded only when it is needed: at `load()` when a device was asked for (so
    a missing GPU is reported at start-up) or `warm_network` is set, else on the first job whose
    ordering runs it (the default "graph" ordering never does). The shipped orderer is read at
    `load()`.
    """

    def __init__(
        self, model: str | None = None, device: str | None = None, *, warm_network: bool = False
    ) -> None:
        self.model_name = model or "default"
        self.device = device
        self.warm_network = warm_network
        self._spec = model
        self._model: Any = None
        self._device_name: str | None = None

    @property
    def loaded(self) -> bool:
        """True once the bridge is ready for jobs (spec checked, orderer read)."""
        return self._model is not None

    @property
    def network_loaded(self) -> bool:
        """True once the network itself is in memory."""
        return self._model is not None and self._model.loaded

    @property
    def device_name(self) -> str:
        """The device the network runs on ("auto" or the requested name until it is loaded;
        "cpu" on the ONNX runtime)."""
        if self._device_name is None and self.network_loaded:
            import decomposer

            self._device_name = decomposer.pipeline.model_device(self._model.get())
        return self._device_name or self.device or "auto"

    @property
    def completion_modes(self) -> tuple[str, ...]:
        """Completion methods `decompose` accepts."""
        from decomposer.completion import COMPLETION_MODES

        return tuple(COMPLETION_MODES)

    def load(self) -> None:
        """Check the model spec, read the shipped orderer, and (with a device or
        `warm_network`) load the network and warm it up on a tiny image.

        Raises decomposer.errors.ModelLoadError with a one-line message (unknown model, missing
        weights, unavailable device) or DecomposerError (unreadable orderer).
        """
        import decomposer
        from decomposer.orderer import load_orderer

        if self._model is not None:
            return
        decomposer.pipeline.check_model(self._spec)
        load_orderer()
        lazy = decomposer.LazyModel(self._spec)
        if self.device is not None or self.warm_network:
            try:
                decomposer.predict_index(WARM_UP_IMAGE, model=lazy, device=self.device)
            except ValueError as exc:  # e.g. "device 'cuda' requested but CUDA is not available"
                raise ModelLoadError(str(exc)) from exc
        self._model = lazy

    def run(
        self,
        source: Path,
        size: tuple[int, int],
        params: DecomposeOptions,
        progress: ProgressCallback,
    ) -> Any:
        """Decompose one validated image file under the job's own pixel limit (`params`
        carries the bridge's --max-pixels); returns a Decomposition."""
        import decomposer

        return decomposer.decompose(
            source,
            params,
            model=self._model,
            device=self.device,
            progress=progress,
        )

    def error_of(self, exc: BaseException) -> ApiError | None:
        """Client-facing error for decomposer failures; None means an internal bug."""
        if isinstance(exc, ImageLoadError):
            return ApiError(400, "bad_image", str(exc), "check the image file")
        if isinstance(exc, InvalidOptionError):
            return ApiError(400, "bad_parameter", str(exc), "see PROTOCOL.md for valid values")
        if isinstance(exc, DecomposerError):
            return ApiError(500, "decompose_failed", str(exc), "")
        return None
