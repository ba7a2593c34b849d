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
    """Runs `decomposer.decompose` with one model loaded once (implements jobs.Runner)."""

    def __init__(self, model: str | None = None, device: str | None = None) -> None:
        self.model_name = model or "default"
        self.device = device
        self._spec = model
        self._model: Any = None
        self._device_name: str | None = None

    @property
    def loaded(self) -> bool:
        """True once the model is in memory."""
        return self._model is not None

    @property
    def device_name(self) -> str:
        """The device jobs run on ("auto" or the requested name until loaded; "cpu" on the
        ONNX runtime)."""
        return self._device_name or self.device or "auto"

    @property
    def completion_modes(self) -> tuple[str, ...]:
        """Completion methods `decompose` accepts."""
        from decomposer.completion import COMPLETION_MODES

        return tuple(COMPLETION_MODES)

    def load(self) -> None:
        """Load the model and warm it up on a tiny image, which also moves it to its device.

        Raises decomposer.errors.ModelLoadError with a one-line message (unknown model, missing
        weights, unavailable device).
        """
        import decomposer

        if self._model is not None:
            return
        model = decomposer.load_model(self._spec)
        try:
            decomposer.predict_index(WARM_UP_IMAGE, model=model, device=self.device)
        except ValueError as exc:  # e.g. "device 'cuda' requested but CUDA is not available"
            raise ModelLoadError(str(exc)) from exc
        self._device_name = decomposer.pipeline.model_device(model)
        self._model = model

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
